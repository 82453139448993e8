"""ModulatedStyleConv: StyleGAN2's synthesis convolution, modulated conv -> noise -> bias -> lReLU * sqrt(2).

Karras et al., "Analyzing and Improving the Image Quality of StyleGAN" (CVPR
2020), Fig. 2c (the revised style block). Layout as mmagic's
`ModulatedStyleConv` (open-mmlab/mmagic `stylegan2_modules.py`: `conv`
(`ModulatedConv2d`), `noise_injector`, `activate` = fused bias + LeakyReLU(0.2)
times sqrt(2)); our layers.

Example:
    >>> block = ModulatedStyleConv(64, upsample=True)
    >>> y = block([keras.random.normal((2, 8, 8, 32)), keras.random.normal((2, 512))])   # (2, 16, 16, 64)
    >>> ModulatedStyleConv(512, noise_mode="random")
"""

import keras
from keras import ops

from keras_sr.layers.equalized_dense import fused_leaky_relu
from keras_sr.layers.modulated_conv import ModulatedConv2D
from keras_sr.layers.noise_injection import NoiseInjection

__all__ = ["ModulatedStyleConv"]


@keras.saving.register_keras_serializable(package="keras_sr")
class ModulatedStyleConv(keras.layers.Layer):
    """Inputs `[x, style]` -> `fused_lrelu(noise(modconv(x, style)) + bias)`.

    Args:
        filters, kernel_size, upsample, demodulate, blur_kernel: of the `ModulatedConv2D`.
        noise_mode: "fixed" (stored noise map) or "random" (`NoiseInjection`).
        noise_seed: seed of the noise map.
        style_index: see `ModulatedConv2D` (a `(N, L, S)` style input).
    """

    def __init__(self, filters, kernel_size=3, upsample=False, demodulate=True, blur_kernel=(1, 3, 3, 1),
                 noise_mode="fixed", noise_seed=None, style_index=None, **kwargs):
        super().__init__(**kwargs)
        self.style_index = None if style_index is None else int(style_index)
        self.filters = int(filters)
        self.kernel_size = int(kernel_size)
        self.upsample = bool(upsample)
        self.demodulate = bool(demodulate)
        self.blur_kernel = tuple(float(t) for t in blur_kernel)
        self.noise_mode = noise_mode
        self.noise_seed = noise_seed
        self.conv = ModulatedConv2D(self.filters, self.kernel_size, demodulate=self.demodulate,
                                    upsample=self.upsample, blur_kernel=self.blur_kernel,
                                    style_index=self.style_index, dtype=self.dtype_policy, name="conv")
        self.noise = NoiseInjection(noise_mode, seed=noise_seed, dtype=self.dtype_policy, name="noise")

    def build(self, input_shape):
        self.conv.build(input_shape)
        out_shape = self.conv.compute_output_shape(input_shape)
        self.noise.build(out_shape)
        self.bias = self.add_weight(shape=(self.filters,), name="bias", initializer="zeros")

    def call(self, inputs):
        x = self.noise(self.conv(inputs))
        return fused_leaky_relu(x + ops.cast(self.bias, self.compute_dtype))

    def compute_output_shape(self, input_shape):
        return self.conv.compute_output_shape(input_shape)

    def get_config(self):
        config = super().get_config()
        config.update({"style_index": self.style_index, "filters": self.filters, "kernel_size": self.kernel_size, "upsample": self.upsample,
                       "demodulate": self.demodulate, "blur_kernel": list(self.blur_kernel),
                       "noise_mode": self.noise_mode, "noise_seed": self.noise_seed})
        return config
