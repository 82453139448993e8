"""BicubicResize: MATLAB-faithful bicubic resizing as a serializable Keras layer.

Wraps `keras_sr.imresize.imresize_ops` (MATLAB's `imresize(x, scale,
'bicubic')` with antialiasing and mirrored borders; float, no rounding), so a
bicubic baseline or a bicubic-upsampled input (SRCNN, VDSR) can live inside a
functional model that loads with `safe_mode=True`.

Example:
    >>> up = BicubicResize(scale=4)
    >>> y = up(keras.ops.ones((1, 12, 12, 3)) * 100.0)   # (1, 48, 48, 3), all 100
    >>> BicubicResize.from_config(up.get_config()).scale  # 4.0
"""

import math

import keras

from keras_sr.imresize import imresize_ops

__all__ = ["BicubicResize", "pytorch_bicubic_upsample"]

PYTORCH_CUBIC_A = -0.75  # PyTorch's (and OpenCV's) cubic convolution coefficient; MATLAB's is -0.5


def _cubic(d, a=PYTORCH_CUBIC_A):
    d = abs(d)
    if d <= 1:
        return (a + 2) * d ** 3 - (a + 3) * d ** 2 + 1
    if d < 2:
        return a * d ** 3 - 5 * a * d ** 2 + 8 * a * d - 4 * a
    return 0.0


def _upsample_axis(x, factor, axis):
    """PyTorch's bicubic x`factor` along `axis` (1 or 2) of an NHWC tensor."""
    from keras import ops

    n = ops.shape(x)[axis]

    def take(start, stop):
        return x[:, start:stop] if axis == 1 else x[:, :, start:stop]

    first, last = take(0, 1), take(n - 1, n)
    padded = ops.concatenate([first, first, x, last, last], axis=axis)  # clamped borders, 2 each side
    phases = []
    for r in range(factor):
        src = (r + 0.5) / factor - 0.5  # source position of output q * factor + r, minus q
        base = math.floor(src)
        t = src - base
        phase = None
        for k in range(4):  # taps base - 1 ... base + 2
            start = base - 1 + k + 2
            term = _cubic(k - 1 - t) * (padded[:, start:start + n] if axis == 1 else padded[:, :, start:start + n])
            phase = term if phase is None else phase + term
        phases.append(phase)
    stacked = ops.stack(phases, axis=axis + 1)  # (..., n, factor, ...)
    shape = ops.shape(x)
    new_shape = (shape[0], shape[1] * factor, shape[2], shape[3]) if axis == 1 else \
        (shape[0], shape[1], shape[2] * factor, shape[3])
    return ops.reshape(stacked, new_shape)


def pytorch_bicubic_upsample(x, factor):
    """`F.interpolate(x, scale_factor=factor, mode="bicubic", align_corners=False)` on NHWC, `keras.ops`.

    PyTorch's rule: cubic convolution with a = -0.75, source position `(o + 0.5) / factor - 0.5`, taps
    clamped to the border (no antialiasing; an integer `factor` >= 1). TTSR's official code upsamples
    features and its soft-attention map this way; `keras_sr.imresize.imresize_ops` is MATLAB's rule
    (a = -0.5, mirrored borders).

    Example:
        >>> y = pytorch_bicubic_upsample(keras.ops.ones((1, 4, 5, 2)), 2)   # (1, 8, 10, 2), all ones
    """
    factor = int(factor)
    if factor < 1:
        raise ValueError(f"pytorch_bicubic_upsample needs an integer factor >= 1, got {factor!r}.")
    if factor == 1:
        return x
    return _upsample_axis(_upsample_axis(x, factor, 1), factor, 2)


@keras.saving.register_keras_serializable(package="keras_sr")
class BicubicResize(keras.layers.Layer):
    """Resize NHWC images by `scale` with MATLAB's bicubic rule (or PyTorch's, for converted models).

    Args:
        scale: resize factor (4 enlarges four times, 0.25 shrinks).
        antialias: widen the kernel when shrinking (MATLAB's default).
        method: "matlab" (keras-sr's protocol) or "pytorch" (`F.interpolate(mode="bicubic",
            align_corners=False)`, `pytorch_bicubic_upsample`: integer enlargement only), for networks
            converted from PyTorch checkpoints whose official skip connection is PyTorch's bicubic.
    """

    def __init__(self, scale, antialias=True, method="matlab", **kwargs):
        super().__init__(**kwargs)
        if scale is None or float(scale) <= 0:
            raise ValueError(f"BicubicResize scale must be positive, got {scale!r}.")
        if method not in ("matlab", "pytorch"):
            raise ValueError(f"BicubicResize method must be 'matlab' or 'pytorch', got {method!r}.")
        if method == "pytorch" and (float(scale) != int(float(scale)) or float(scale) < 1):
            raise ValueError(f"BicubicResize method='pytorch' needs an integer scale >= 1, got {scale!r}.")
        self.scale = float(scale)
        self.antialias = bool(antialias)
        self.method = method

    def call(self, inputs):
        if self.method == "pytorch":
            return pytorch_bicubic_upsample(inputs, int(self.scale))
        return imresize_ops(inputs, self.scale, antialias=self.antialias)

    def compute_output_shape(self, input_shape):
        def size(n):
            return None if n is None else int(math.ceil(self.scale * n))

        return (input_shape[0], size(input_shape[1]), size(input_shape[2]), input_shape[3])

    def get_config(self):
        config = super().get_config()
        config.update({"scale": self.scale, "antialias": self.antialias})
        if self.method != "matlab":  # keeps the configs of existing models unchanged
            config["method"] = self.method
        return config
