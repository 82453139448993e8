"""Residual channel attention block (RCAB) and residual group (RG) of RCAN.

Zhang et al., "Image Super-Resolution Using Very Deep Residual Channel
Attention Networks", ECCV 2018 (https://arxiv.org/abs/1807.02758). The layout
follows the official code (EDSR-PyTorch `src/model/rcan.py`).
"""

import keras

from keras_sr.layers.channel_attention import ChannelAttention


def _serialize_initializers(layer):
    return {
        "kernel_initializer": keras.initializers.serialize(layer.kernel_initializer),
        "bias_initializer": keras.initializers.serialize(layer.bias_initializer),
    }


@keras.saving.register_keras_serializable(package="keras_sr")
class ResidualChannelAttentionBlock(keras.layers.Layer):
    """RCAB: `x + residual_scale * CA(conv(relu(conv(x))))`.

    Output channels equal input channels. RCAN uses `residual_scale=1` (the
    official code ignores its `res_scale` option inside RCAB).

    Args:
        kernel_size: size of the two convolutions (3).
        reduction: channel attention reduction ratio (16).
        residual_scale: factor on the residual branch (1.0).
        kernel_initializer, bias_initializer: for every convolution and the
            channel attention maps.

    Example:
        >>> block = ResidualChannelAttentionBlock(reduction=16)
        >>> y = block(keras.random.normal((1, 12, 12, 64)))
        >>> y.shape  # (1, 12, 12, 64)
    """

    def __init__(
        self,
        kernel_size=3,
        reduction=16,
        residual_scale=1.0,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.kernel_size = int(kernel_size)
        self.reduction = int(reduction)
        self.residual_scale = float(residual_scale)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)

    def build(self, input_shape):
        channels = input_shape[-1]
        if channels is None:
            raise ValueError("ResidualChannelAttentionBlock needs a known channel dimension.")
        common = dict(
            kernel_size=self.kernel_size,
            padding="same",
            kernel_initializer=self.kernel_initializer,
            bias_initializer=self.bias_initializer,
            dtype=self.dtype_policy,
        )
        self.conv1 = keras.layers.Conv2D(channels, activation="relu", name="conv1", **common)
        self.conv2 = keras.layers.Conv2D(channels, name="conv2", **common)
        self.attention = ChannelAttention(
            self.reduction,
            kernel_initializer=self.kernel_initializer,
            bias_initializer=self.bias_initializer,
            dtype=self.dtype_policy,
            name="attention",
        )
        self.conv1.build(input_shape)
        self.conv2.build(input_shape)
        self.attention.build(input_shape)

    def call(self, inputs):
        residual = self.attention(self.conv2(self.conv1(inputs)))
        if self.residual_scale != 1.0:
            residual = residual * self.residual_scale
        return inputs + residual

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update(
            {"kernel_size": self.kernel_size, "reduction": self.reduction, "residual_scale": self.residual_scale}
        )
        config.update(_serialize_initializers(self))
        return config


@keras.saving.register_keras_serializable(package="keras_sr")
class ResidualGroup(keras.layers.Layer):
    """RCAN residual group: `x + conv(RCAB_n(...RCAB_1(x)))` (short skip).

    Args:
        num_blocks: number of RCABs in the group (RCAN: 20).
        kernel_size: convolution size (3).
        reduction: channel attention reduction ratio (16).
        residual_scale: factor on each RCAB's residual branch (1.0).
        kernel_initializer, bias_initializer: for every convolution.

    Example:
        >>> group = ResidualGroup(num_blocks=20, reduction=16)
        >>> y = group(keras.random.normal((1, 12, 12, 64)))
        >>> y.shape  # (1, 12, 12, 64)
    """

    def __init__(
        self,
        num_blocks=20,
        kernel_size=3,
        reduction=16,
        residual_scale=1.0,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        **kwargs,
    ):
        super().__init__(**kwargs)
        if int(num_blocks) < 1:
            raise ValueError(f"num_blocks must be >= 1, got {num_blocks}.")
        self.num_blocks = int(num_blocks)
        self.kernel_size = int(kernel_size)
        self.reduction = int(reduction)
        self.residual_scale = float(residual_scale)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)

    def build(self, input_shape):
        channels = input_shape[-1]
        if channels is None:
            raise ValueError("ResidualGroup needs a known channel dimension.")
        self.blocks = [
            ResidualChannelAttentionBlock(
                kernel_size=self.kernel_size,
                reduction=self.reduction,
                residual_scale=self.residual_scale,
                kernel_initializer=self.kernel_initializer,
                bias_initializer=self.bias_initializer,
                dtype=self.dtype_policy,
                name=f"rcab_{index}",
            )
            for index in range(self.num_blocks)
        ]
        self.conv = keras.layers.Conv2D(
            channels,
            self.kernel_size,
            padding="same",
            kernel_initializer=self.kernel_initializer,
            bias_initializer=self.bias_initializer,
            dtype=self.dtype_policy,
            name="conv",
        )
        for block in self.blocks:
            block.build(input_shape)
        self.conv.build(input_shape)

    def call(self, inputs):
        x = inputs
        for block in self.blocks:
            x = block(x)
        return inputs + self.conv(x)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "num_blocks": self.num_blocks,
                "kernel_size": self.kernel_size,
                "reduction": self.reduction,
                "residual_scale": self.residual_scale,
            }
        )
        config.update(_serialize_initializers(self))
        return config
