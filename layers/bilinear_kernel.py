"""BilinearKernel: initializer that makes a transposed convolution a bilinear upsampler.

LapSRN (Lai et al., "Deep Laplacian Pyramid Networks for Fast and Accurate
Super-Resolution", CVPR 2017, https://arxiv.org/abs/1704.03915) starts the
4x4 stride-2 image-upsampling transposed convolution of every pyramid level
at the bilinear filter (official `bilinear_u.m`, the FCN/MatConvNet rule:
`factor = ceil(k / 2)`, centre `(k - 1) / 2` for even `k` (0-based), tap
`1 - |i - centre| / factor`). For several channels the filter sits on the
diagonal (channel c -> channel c), so each channel is upsampled on its own;
with one channel this equals the official initialization.

Example:
    >>> init = BilinearKernel()
    >>> kernel = init((4, 4, 1, 1))                  # Conv2DTranspose kernel (kh, kw, out, in)
    >>> keras.ops.convert_to_numpy(kernel)[:, 0, 0, 0]  # 0.0625 * [1, 3, 3, 1]
"""

import numpy as np

import keras

__all__ = ["BilinearKernel", "bilinear_filter"]


def bilinear_filter(size):
    """`(size, size)` bilinear interpolation filter (MatConvNet's `bilinear_u`)."""
    size = int(size)
    factor = (size + 1) // 2
    centre = factor - 1 if size % 2 == 1 else factor - 0.5
    taps = 1.0 - np.abs(np.arange(size) - centre) / factor
    return np.outer(taps, taps)


@keras.saving.register_keras_serializable(package="keras_sr")
class BilinearKernel(keras.initializers.Initializer):
    """Bilinear filter on the channel diagonal of a `(kh, kw, out, in)` kernel, zeros elsewhere."""

    def __call__(self, shape, dtype=None):
        kh, kw, out_channels, in_channels = shape
        if kh != kw:
            raise ValueError(f"BilinearKernel needs a square kernel, got {kh}x{kw}.")
        if out_channels != in_channels:
            raise ValueError(f"BilinearKernel maps each channel to itself; got {in_channels} -> {out_channels}.")
        kernel = np.zeros(shape, np.float32)
        taps = bilinear_filter(kh)
        for channel in range(out_channels):
            kernel[:, :, channel, channel] = taps
        return keras.ops.convert_to_tensor(kernel, dtype=dtype or keras.config.floatx())

    def get_config(self):
        return {}
