"""ModulatedConv2D: StyleGAN2's weight (de)modulated convolution, with the optional x2 transposed-conv upsampling.

Karras et al., "Analyzing and Improving the Image Quality of StyleGAN" (CVPR
2020), Sec. 2.2, Eq. 1-3: a per-sample style `s = A(w) + style_bias` (`A` an
equalized-LR affine, bias initialised to 1) scales the input channels of the
shared kernel, `w'_ijk = s_i * w_ijk`; demodulation divides every output
channel by `sqrt(sum_ik w'_ijk^2 + eps)`. Layout and constants as mmagic's
`ModulatedConv2d` (open-mmlab/mmagic
`mmagic/models/editors/stylegan2/stylegan2_modules.py`, read for the layout:
weight N(0, 1) scaled by `1 / sqrt(in * k * k)`, eps 1e-8; upsampling = a
stride-2 transposed convolution without padding followed by `Blur([1,3,3,1]
* 4, pad=(1, 1))`).

Computed here in the equivalent "non-fused" form the official code uses in
training (`fused_modconv=False`): the *activations* are scaled by `s`, one
ordinary (or transposed) convolution with the shared kernel runs for the whole
batch, and the output is scaled by the demodulation coefficients
`d_j = rsqrt(sum_i s_i^2 * sum_k w_ijk^2 + eps)`; so no grouped convolution is
needed on any backend. The tests compare it with a numpy oracle of the per-sample
modulated weights (tests/test_glean.py).

Example:
    >>> conv = ModulatedConv2D(64, 3, upsample=True)
    >>> y = conv([keras.random.normal((2, 8, 8, 32)), keras.random.normal((2, 512))])   # (2, 16, 16, 64)
    >>> ModulatedConv2D(3, 1, demodulate=False)                                         # a to-RGB conv
"""

import math

import keras
from keras import ops

from keras_sr.layers.blur import make_kernel, upfirdn2d
from keras_sr.layers.equalized_dense import EqualizedDense

__all__ = ["ModulatedConv2D"]


@keras.saving.register_keras_serializable(package="keras_sr")
class ModulatedConv2D(keras.layers.Layer):
    """Inputs `[x (N, H, W, C_in), style (N, S)]` -> `(N, H', W', filters)`.

    Args:
        filters: output channels.
        kernel_size: odd kernel size (3, or 1 for to-RGB).
        demodulate: divide by the output channels' norms (False in to-RGB).
        upsample: x2 by a transposed convolution + blur (output 2H x 2W).
        blur_kernel: FIR taps of the blur (1, 3, 3, 1).
        style_bias: added to the affine's output (0).
        eps: demodulation epsilon (1e-8).
        style_index: when set, `style` is `(N, L, S)` (one code per layer, GLEAN's W+ latents) and code
            `style_index` is used.
    """

    def __init__(self, filters, kernel_size=3, demodulate=True, upsample=False, blur_kernel=(1, 3, 3, 1),
                 style_bias=0.0, eps=1e-8, style_index=None, **kwargs):
        super().__init__(**kwargs)
        self.filters = int(filters)
        self.kernel_size = int(kernel_size)
        if self.kernel_size < 1 or self.kernel_size % 2 == 0:
            raise ValueError(f"ModulatedConv2D kernel_size must be odd, got {kernel_size}.")
        self.demodulate = bool(demodulate)
        self.upsample = bool(upsample)
        self.blur_kernel = tuple(float(t) for t in blur_kernel)
        self.style_bias = float(style_bias)
        self.eps = float(eps)
        self.style_index = None if style_index is None else int(style_index)
        self.modulation = None
        if self.upsample:
            p = (len(self.blur_kernel) - 2) - (self.kernel_size - 1)
            self.blur_pad = ((p + 1) // 2 + 1, p // 2 + 1)
            self._blur = make_kernel(self.blur_kernel) * 4.0

    def build(self, input_shape):
        x_shape, style_shape = input_shape
        self.in_channels = int(x_shape[-1])
        k = self.kernel_size
        self.kernel = self.add_weight(shape=(k, k, self.in_channels, self.filters), name="kernel",
                                      initializer=keras.initializers.RandomNormal(stddev=1.0))
        self.modulation = EqualizedDense(self.in_channels, bias_init=1.0, dtype=self.dtype_policy, name="modulation")
        self.modulation.build((style_shape[0], style_shape[-1]))
        self.scale = 1.0 / math.sqrt(self.in_channels * k * k)

    def call(self, inputs):
        x, style = inputs
        dtype = self.compute_dtype
        if self.style_index is not None:
            style = style[:, self.style_index]
        s = self.modulation(style) + self.style_bias                      # (N, C_in)
        weight = ops.cast(self.kernel, "float32") * self.scale            # (k, k, C_in, C_out)
        x = x * ops.cast(s[:, None, None, :], dtype)
        kernel = ops.cast(weight, dtype)
        if self.upsample:
            # keras conv_transpose kernel: (k, k, out, in); PyTorch's conv_transpose2d semantics (no flip)
            x = ops.conv_transpose(x, ops.transpose(kernel, (0, 1, 3, 2)), strides=2, padding="valid")
            x = upfirdn2d(x, self._blur, pad=self.blur_pad)
        else:
            x = ops.conv(x, kernel, strides=1, padding="same")
        if self.demodulate:
            s32 = ops.cast(s, "float32")
            energy = ops.matmul(s32 * s32, ops.sum(weight * weight, axis=(0, 1)))   # (N, C_out)
            d = ops.rsqrt(energy + self.eps)
            x = x * ops.cast(d[:, None, None, :], dtype)
        return x

    def compute_output_shape(self, input_shape):
        x_shape = input_shape[0]
        h, w = x_shape[1], x_shape[2]
        if self.upsample:
            h = None if h is None else 2 * h
            w = None if w is None else 2 * w
        return (x_shape[0], h, w, self.filters)

    def get_config(self):
        config = super().get_config()
        config.update({"filters": self.filters, "kernel_size": self.kernel_size, "demodulate": self.demodulate,
                       "upsample": self.upsample, "blur_kernel": list(self.blur_kernel),
                       "style_bias": self.style_bias, "eps": self.eps,
                       "style_index": self.style_index})
        return config
