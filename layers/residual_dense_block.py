"""Residual dense blocks: RDN's RDB and ESRGAN's residual-in-residual dense block.

* Zhang et al., "Residual Dense Network for Image Super-Resolution", CVPR 2018
  (https://arxiv.org/abs/1802.08797); official code EDSR-PyTorch
  `src/model/rdn.py`.
* Wang et al., "ESRGAN: Enhanced Super-Resolution Generative Adversarial
  Networks", ECCV Workshops 2018 (https://arxiv.org/abs/1809.00219); official
  code xinntao/ESRGAN `RRDBNet_arch.py` (`ResidualDenseBlock_5C`, `RRDB`).
* Rakotonirina, Rasoanaivo, "ESRGAN+: Further Improving Enhanced
  Super-Resolution Generative Adversarial Network", ICASSP 2020
  (https://arxiv.org/abs/2001.08073); official code ncarraz/ESRGANplus
  (`block.py` `ResidualDenseBlock_5C` with `conv1x1`): `plus=True`.
"""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="keras_sr")
class ResidualDenseBlock(keras.layers.Layer):
    """Densely connected convolutions, feature fusion and a local residual.

    Layer `c` (0-based) maps the concatenation of the input and the `c`
    previous outputs (`G0 + c * G` channels) to `growth_rate` (G) channels, then
    the activation. A fusion convolution maps all `G0 + C * G` channels back to
    the input's `G0`, and the block returns `x + residual_scale * fusion`.

    * RDN (Zhang et al. 2018): `num_layers=C`, `growth_rate=G`, ReLU,
      1x1 local feature fusion, `residual_scale=1`.
    * ESRGAN dense block (Wang et al. 2018): `num_layers=4`, `growth_rate=32`,
      LeakyReLU(0.2), 3x3 fusion (the 5th conv), `residual_scale=0.2`
      (`ResidualDenseBlock.esrgan()` gives these settings).

    Args:
        growth_rate: channels G added by each dense layer.
        num_layers: number C of densely connected conv + activation layers.
        kernel_size: size of the dense convolutions (3).
        fusion_kernel_size: size of the fusion convolution (1 in RDN, 3 in ESRGAN).
        activation: "relu" or "leaky_relu" (Keras' leaky_relu has slope 0.2) or
            any Keras activation name.
        residual_scale: factor on the fused features before the local residual.
        plus: ESRGAN+'s extra residual paths (4 dense layers only): a bias-free
            1x1 conv of the input (G0 -> G) is added to the 2nd dense output,
            and the 2nd dense output to the 4th (layer `skip_conv`).
        kernel_initializer, bias_initializer: for every convolution.

    Example:
        >>> block = ResidualDenseBlock(growth_rate=64, num_layers=8)
        >>> y = block(keras.random.normal((1, 16, 16, 64)))
        >>> y.shape  # (1, 16, 16, 64)
    """

    def __init__(
        self,
        growth_rate=64,
        num_layers=8,
        kernel_size=3,
        fusion_kernel_size=1,
        activation="relu",
        residual_scale=1.0,
        plus=False,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        **kwargs,
    ):
        super().__init__(**kwargs)
        if int(growth_rate) < 1 or int(num_layers) < 1:
            raise ValueError(f"growth_rate and num_layers must be >= 1, got {growth_rate} and {num_layers}.")
        if plus and int(num_layers) != 4:
            raise ValueError(f"plus (ESRGAN+) needs num_layers=4, got {num_layers}.")
        self.plus = bool(plus)
        self.growth_rate = int(growth_rate)
        self.num_layers = int(num_layers)
        self.kernel_size = int(kernel_size)
        self.fusion_kernel_size = int(fusion_kernel_size)
        self.activation = keras.activations.get(activation)
        self.residual_scale = float(residual_scale)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)

    @classmethod
    def esrgan(cls, growth_rate=32, **kwargs):
        """The 5-convolution dense block of ESRGAN (4 dense + 3x3 fusion, LeakyReLU 0.2, x0.2)."""
        settings = dict(num_layers=4, fusion_kernel_size=3, activation="leaky_relu", residual_scale=0.2)
        settings.update(kwargs)
        return cls(growth_rate=growth_rate, **settings)

    def build(self, input_shape):
        channels = input_shape[-1]
        if channels is None:
            raise ValueError("ResidualDenseBlock needs a known channel dimension.")
        common = dict(
            padding="same",
            kernel_initializer=self.kernel_initializer,
            bias_initializer=self.bias_initializer,
            dtype=self.dtype_policy,
        )
        self.dense_convs = []
        shape = list(input_shape)
        for index in range(self.num_layers):
            conv = keras.layers.Conv2D(
                self.growth_rate, self.kernel_size, activation=self.activation, name=f"dense_conv_{index}", **common
            )
            conv.build(tuple(shape))
            self.dense_convs.append(conv)
            shape[-1] += self.growth_rate
        self.fusion_conv = keras.layers.Conv2D(channels, self.fusion_kernel_size, name="fusion_conv", **common)
        self.fusion_conv.build(tuple(shape))
        self.skip_conv = None
        if self.plus:
            self.skip_conv = keras.layers.Conv2D(self.growth_rate, 1, use_bias=False, name="skip_conv",
                                                 kernel_initializer=self.kernel_initializer, dtype=self.dtype_policy)
            self.skip_conv.build(tuple(input_shape))

    def call(self, inputs):
        features, second = inputs, None
        for index, conv in enumerate(self.dense_convs):
            out = conv(features)
            if self.plus and index == 1:
                out = second = out + self.skip_conv(inputs)
            elif self.plus and index == 3:
                out = out + second
            features = ops.concatenate([features, out], axis=-1)
        fused = self.fusion_conv(features)
        if self.residual_scale != 1.0:
            fused = fused * self.residual_scale
        return inputs + fused

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "growth_rate": self.growth_rate,
                "num_layers": self.num_layers,
                "kernel_size": self.kernel_size,
                "fusion_kernel_size": self.fusion_kernel_size,
                "activation": keras.activations.serialize(self.activation),
                "residual_scale": self.residual_scale,
                "plus": self.plus,
                "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
                "bias_initializer": keras.initializers.serialize(self.bias_initializer),
            }
        )
        return config


@keras.saving.register_keras_serializable(package="keras_sr")
class ResidualInResidualDenseBlock(keras.layers.Layer):
    """ESRGAN's RRDB: `x + residual_scale * RDB_3(RDB_2(RDB_1(x)))`.

    Each RDB is the ESRGAN dense block (`ResidualDenseBlock.esrgan`: 4 dense
    convs of `growth_rate` channels with LeakyReLU(0.2), a 3x3 fusion conv,
    local residual scaled by `residual_scale`).

    Args:
        growth_rate: channels per dense conv (gc = 32).
        num_dense_blocks: dense blocks in the RRDB (3).
        residual_scale: factor on both the inner and the outer residuals (0.2).
        plus: ESRGAN+ dense blocks (`ResidualDenseBlock(plus=True)`).
        kernel_initializer, bias_initializer: for every convolution.

    Example:
        >>> block = ResidualInResidualDenseBlock(growth_rate=32)
        >>> y = block(keras.random.normal((1, 16, 16, 64)))
        >>> y.shape  # (1, 16, 16, 64)
    """

    def __init__(
        self,
        growth_rate=32,
        num_dense_blocks=3,
        residual_scale=0.2,
        plus=False,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        **kwargs,
    ):
        super().__init__(**kwargs)
        if int(num_dense_blocks) < 1:
            raise ValueError(f"num_dense_blocks must be >= 1, got {num_dense_blocks}.")
        self.plus = bool(plus)
        self.growth_rate = int(growth_rate)
        self.num_dense_blocks = int(num_dense_blocks)
        self.residual_scale = float(residual_scale)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)

    def build(self, input_shape):
        self.dense_blocks = [
            ResidualDenseBlock.esrgan(
                growth_rate=self.growth_rate,
                residual_scale=self.residual_scale,
                plus=self.plus,
                kernel_initializer=self.kernel_initializer,
                bias_initializer=self.bias_initializer,
                dtype=self.dtype_policy,
                name=f"dense_block_{index}",
            )
            for index in range(self.num_dense_blocks)
        ]
        for block in self.dense_blocks:
            block.build(input_shape)

    def call(self, inputs):
        x = inputs
        for block in self.dense_blocks:
            x = block(x)
        if self.residual_scale != 1.0:
            x = x * self.residual_scale
        return inputs + x

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "growth_rate": self.growth_rate,
                "num_dense_blocks": self.num_dense_blocks,
                "residual_scale": self.residual_scale,
                "plus": self.plus,
                "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
                "bias_initializer": keras.initializers.serialize(self.bias_initializer),
            }
        )
        return config
