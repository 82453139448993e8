"""EqualizedConv2D: the equalized-LR convolution of StyleGAN2's discriminator, optionally blur + stride-2 downsampling.

Karras et al., "Progressive Growing of GANs" (ICLR 2018) Sec. 4.1 (weights
N(0, 1) scaled by `1 / sqrt(fan_in)` at run time) and "Analyzing and Improving
the Image Quality of StyleGAN" (CVPR 2020), App. B (the residual
discriminator filters with `[1, 3, 3, 1]` before every stride-2 convolution).
Layout as mmagic's `ConvDownLayer` (open-mmlab/mmagic `stylegan2_modules.py`:
`Blur` with pad `((p + 1) // 2, p // 2)`, `p = 2 + (k - 1)`, conv stride 2
without padding; otherwise stride 1, padding k // 2; the fused bias + LeakyReLU
* sqrt(2) after it); our layer.

Example:
    >>> conv = EqualizedConv2D(128, 3, downsample=True)         # (N, 32, 32, C) -> (N, 16, 16, 128)
    >>> skip = EqualizedConv2D(128, 1, downsample=True, use_bias=False, activation=None)
    >>> y = conv(keras.random.normal((1, 32, 32, 64)))
"""

import math

import keras
from keras import ops

from keras_sr.layers.blur import make_kernel, upfirdn2d
from keras_sr.layers.equalized_dense import fused_leaky_relu

__all__ = ["EqualizedConv2D"]


@keras.saving.register_keras_serializable(package="keras_sr")
class EqualizedConv2D(keras.layers.Layer):
    """`act(conv(blur(x)) * 1/sqrt(fan_in) + b)`.

    Args:
        filters, kernel_size: of the convolution.
        downsample: blur then stride-2 convolution without padding (output H/2).
        use_bias: add a bias (the fused activation's bias).
        activation: "fused_lrelu" (StyleGAN2) or None.
        blur_kernel: FIR taps (1, 3, 3, 1).
    """

    def __init__(self, filters, kernel_size=3, downsample=False, use_bias=True, activation="fused_lrelu",
                 blur_kernel=(1, 3, 3, 1), **kwargs):
        super().__init__(**kwargs)
        if activation not in (None, "fused_lrelu"):
            raise ValueError(f"EqualizedConv2D activation must be None or 'fused_lrelu', got {activation!r}.")
        self.filters = int(filters)
        self.kernel_size = int(kernel_size)
        self.downsample = bool(downsample)
        self.use_bias = bool(use_bias)
        self.activation = activation
        self.blur_kernel = tuple(float(t) for t in blur_kernel)
        if self.downsample:
            p = (len(self.blur_kernel) - 2) + (self.kernel_size - 1)
            self.blur_pad = ((p + 1) // 2, p // 2)
            self._blur = make_kernel(self.blur_kernel)

    def build(self, input_shape):
        fan_in = int(input_shape[-1]) * self.kernel_size ** 2
        k = self.kernel_size
        self.kernel = self.add_weight(shape=(k, k, int(input_shape[-1]), self.filters), name="kernel",
                                      initializer=keras.initializers.RandomNormal(stddev=1.0))
        self.bias = self.add_weight(shape=(self.filters,), name="bias", initializer="zeros") if self.use_bias else None
        self.scale = 1.0 / math.sqrt(fan_in)

    def call(self, inputs):
        kernel = ops.cast(self.kernel, self.compute_dtype) * self.scale
        x = inputs
        if self.downsample:
            x = upfirdn2d(x, self._blur, pad=self.blur_pad)
            x = ops.conv(x, kernel, strides=2, padding="valid")
        else:
            pad = self.kernel_size // 2
            if pad:
                x = ops.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
            x = ops.conv(x, kernel, strides=1, padding="valid")
        if self.bias is not None:
            x = x + ops.cast(self.bias, self.compute_dtype)
        if self.activation == "fused_lrelu":
            x = fused_leaky_relu(x)
        return x

    def compute_output_shape(self, input_shape):
        h, w = input_shape[1], input_shape[2]
        if self.downsample:
            h = None if h is None else h // 2
            w = None if w is None else w // 2
        return (input_shape[0], h, w, self.filters)

    def get_config(self):
        config = super().get_config()
        config.update({"filters": self.filters, "kernel_size": self.kernel_size, "downsample": self.downsample,
                       "use_bias": self.use_bias, "activation": self.activation,
                       "blur_kernel": list(self.blur_kernel)})
        return config
