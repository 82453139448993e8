"""BilinearUpsampling: integer-factor bilinear upsampling in `keras.ops`, dynamic sizes allowed.

The same values as PyTorch's `F.interpolate(x, scale_factor=r, mode="bilinear",
align_corners=False)` and `tf.image.resize(..., "bilinear")` (half-pixel
centres, edge pixels replicated), used for the bilinear base image that
C2-Matching's restoration network adds to its output (Jiang et al., CVPR
2021, `RestorationNet`). `keras.layers.UpSampling2D(interpolation="bilinear")`
cannot trace with unknown image sizes in TensorFlow graphs; this layer can.
For each of the `r` output phases the result is a fixed 2-tap blend of a pixel
and its (edge-clamped) neighbour, so it is written with shifts only.

Example:
    >>> up = BilinearUpsampling(4)
    >>> y = up(keras.ops.ones((1, 6, 7, 3)))                  # (1, 24, 28, 3)
    >>> bilinear_upsample(x, 2)                                 # the functional form
"""

import keras
from keras import ops

__all__ = ["BilinearUpsampling", "bilinear_upsample"]


def _upsample_axis(x, factor, axis):
    length = ops.shape(x)[axis]
    first = ops.take(x, ops.convert_to_tensor([0]), axis=axis)
    last = ops.take(x, ops.convert_to_tensor([0]) + length - 1, axis=axis)
    head = ops.take(x, ops.arange(length - 1), axis=axis)
    tail = ops.take(x, ops.arange(1, length), axis=axis)
    previous = ops.concatenate([first, head], axis=axis)
    following = ops.concatenate([tail, last], axis=axis)
    phases = []
    for p in range(factor):
        offset = (p + 0.5) / factor - 0.5  # source position relative to the pixel, in (-0.5, 0.5)
        if offset < 0:
            phases.append(-offset * previous + (1.0 + offset) * x)
        else:
            phases.append((1.0 - offset) * x + offset * following)
    y = ops.stack(phases, axis=axis + 1)
    shape = [ops.shape(y)[i] for i in range(len(y.shape))]
    new_shape = shape[:axis] + [shape[axis] * factor] + shape[axis + 2:]
    return ops.reshape(y, new_shape)


def bilinear_upsample(x, factor):
    """Upsample `(B, H, W, C)` by an integer `factor` with half-pixel bilinear interpolation."""
    factor = int(factor)
    if factor == 1:
        return x
    return _upsample_axis(_upsample_axis(x, factor, 1), factor, 2)


@keras.saving.register_keras_serializable(package="keras_sr")
class BilinearUpsampling(keras.layers.Layer):
    """`(B, H, W, C) -> (B, H * factor, W * factor, C)`, bilinear (align_corners=False), no weights.

    Args:
        factor: integer upsampling factor (>= 1).
    """

    def __init__(self, factor, **kwargs):
        super().__init__(**kwargs)
        if int(factor) != factor or int(factor) < 1:
            raise ValueError(f"BilinearUpsampling factor must be a positive integer, got {factor!r}.")
        self.factor = int(factor)

    def call(self, inputs):
        return bilinear_upsample(inputs, self.factor)

    def compute_output_shape(self, input_shape):
        n, h, w, c = input_shape
        return (n, None if h is None else h * self.factor, None if w is None else w * self.factor, c)

    def get_config(self):
        config = super().get_config()
        config.update({"factor": self.factor})
        return config
