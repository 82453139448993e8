"""EqualizedDense: a dense layer with the equalized learning rate of ProGAN / StyleGAN (and StyleGAN2's fused bias-lReLU).

Karras et al., "Progressive Growing of GANs" (ICLR 2018), Sec. 4.1: weights
are stored as N(0, 1 / lr_mul) and scaled at run time by
`gain / sqrt(fan_in) * lr_mul` (the bias by `lr_mul`), so every layer learns
at the same speed under Adam; StyleGAN's mapping network uses `lr_mul = 0.01`.
`activation="fused_lrelu"` is StyleGAN2's fused bias + LeakyReLU(0.2) scaled
by sqrt(2). Layout as mmagic's `EqualLinearActModule` (open-mmlab/mmagic
`mmagic/models/editors/stylegan1/stylegan1_modules.py`: weight without bias,
a separate bias initialised to `bias_init`); written from that description.

Example:
    >>> layer = EqualizedDense(512, lr_mul=0.01, activation="fused_lrelu")     # one mapping-network layer
    >>> modulation = EqualizedDense(256, bias_init=1.0)                           # a style affine
    >>> y = layer(keras.random.normal((2, 512)))                                   # (2, 512)
"""

import math

import keras
from keras import ops

__all__ = ["EqualizedDense", "fused_leaky_relu"]

SQRT2 = math.sqrt(2.0)


def fused_leaky_relu(x, negative_slope=0.2, scale=SQRT2):
    """StyleGAN2's activation after the bias: `leaky_relu(x, 0.2) * sqrt(2)`."""
    return ops.leaky_relu(x, negative_slope) * scale


@keras.saving.register_keras_serializable(package="keras_sr")
class EqualizedDense(keras.layers.Layer):
    """`x @ (W * gain / sqrt(fan_in) * lr_mul) + b * lr_mul`, then the activation.

    Args:
        units: output features.
        use_bias: add the bias.
        bias_init: the bias's initial value (1.0 for StyleGAN2's style affines).
        lr_mul: learning-rate multiplier (0.01 in the mapping network).
        gain: weight gain (1.0 in StyleGAN2).
        activation: None or "fused_lrelu".
    """

    def __init__(self, units, use_bias=True, bias_init=0.0, lr_mul=1.0, gain=1.0, activation=None, **kwargs):
        super().__init__(**kwargs)
        if activation not in (None, "fused_lrelu"):
            raise ValueError(f"EqualizedDense activation must be None or 'fused_lrelu', got {activation!r}.")
        self.units = int(units)
        self.use_bias = bool(use_bias)
        self.bias_init = float(bias_init)
        self.lr_mul = float(lr_mul)
        self.gain = float(gain)
        self.activation = activation

    def build(self, input_shape):
        fan_in = int(input_shape[-1])
        self.kernel = self.add_weight(shape=(fan_in, self.units), name="kernel",
                                      initializer=keras.initializers.RandomNormal(stddev=1.0 / self.lr_mul))
        self.bias = self.add_weight(shape=(self.units,), name="bias",
                                    initializer=keras.initializers.Constant(self.bias_init)) if self.use_bias else None
        self.scale = self.gain / math.sqrt(fan_in) * self.lr_mul

    def call(self, inputs):
        x = ops.matmul(inputs, ops.cast(self.kernel, self.compute_dtype) * self.scale)
        if self.bias is not None:
            x = x + ops.cast(self.bias, self.compute_dtype) * self.lr_mul
        if self.activation == "fused_lrelu":
            x = fused_leaky_relu(x)
        return x

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.units,)

    def get_config(self):
        config = super().get_config()
        config.update({"units": self.units, "use_bias": self.use_bias, "bias_init": self.bias_init,
                       "lr_mul": self.lr_mul, "gain": self.gain, "activation": self.activation})
        return config
