"""BilinearResize: bilinear resizing to a fixed size or to another tensor's size, dynamic sizes allowed.

PyTorch's `F.interpolate(x, size=..., mode="bilinear", align_corners=False)`
(no antialiasing; also `tf.image.resize(..., "bilinear", antialias=False)`):
output pixel `i` samples the source at `(i + 0.5) * in / out - 0.5`, clamped
at 0, blending its two neighbours (the upper one clamped to the last pixel).
RefVAE (Liu, Siu, Wang, CVPRW 2021; official `model.py` `VAE_v3_8x`) resizes
the reference features to a fixed 16x16 grid before its fully connected
encoder, and the decoded latent grid back to the size of the LR features:
`BilinearResize((16, 16))(x)` and `BilinearResize()([x, like])`. Written with
gathers on the actual shapes, so TensorFlow graphs with unknown sizes trace.

Example:
    >>> BilinearResize((16, 16))(keras.ops.ones((1, 32, 24, 8))).shape              # (1, 16, 16, 8)
    >>> BilinearResize()([keras.ops.ones((1, 16, 16, 8)), keras.ops.ones((1, 6, 7, 3))]).shape   # (1, 6, 7, 8)
"""

import keras
from keras import ops

__all__ = ["BilinearResize", "bilinear_resize"]


def _resize_axis(x, out_length, axis):
    in_length = ops.shape(x)[axis]
    scale = ops.cast(in_length, "float32") / ops.cast(out_length, "float32")
    source = (ops.cast(ops.arange(out_length), "float32") + 0.5) * scale - 0.5
    source = ops.maximum(source, 0.0)
    low = ops.floor(source)
    weight = ops.cast(source - low, x.dtype)
    low = ops.cast(low, "int32")
    high = ops.minimum(low + 1, in_length - 1)
    shape = [1, 1, 1, 1]
    shape[axis] = -1
    weight = ops.reshape(weight, shape)
    return ops.take(x, low, axis=axis) * (1.0 - weight) + ops.take(x, high, axis=axis) * weight


def bilinear_resize(x, height, width):
    """Resize `(B, H, W, C)` to `(B, height, width, C)` (half-pixel bilinear, no antialiasing)."""
    return _resize_axis(_resize_axis(x, height, 1), width, 2)


@keras.saving.register_keras_serializable(package="keras_sr")
class BilinearResize(keras.layers.Layer):
    """`x -> x` resized to `size`, or `[x, like] -> x` resized to `like`'s height and width (no weights).

    Args:
        size: `(height, width)`, or None to take the size of the second input.
    """

    def __init__(self, size=None, **kwargs):
        super().__init__(**kwargs)
        if size is not None:
            size = tuple(int(s) for s in size)
            if len(size) != 2 or min(size) < 1:
                raise ValueError(f"BilinearResize: size must be (height, width) of positive integers, got {size}.")
        self.size = size

    def call(self, inputs):
        if self.size is None:
            if not isinstance(inputs, (list, tuple)) or len(inputs) != 2:
                raise ValueError("BilinearResize(size=None) takes [x, like]: the tensor and one of the target size.")
            x, like = inputs
            return bilinear_resize(x, ops.shape(like)[1], ops.shape(like)[2])
        return bilinear_resize(inputs, *self.size)

    def compute_output_shape(self, input_shape):
        if self.size is None:
            x, like = input_shape
            return (x[0], like[1], like[2], x[3])
        return (input_shape[0], *self.size, input_shape[3])

    def get_config(self):
        config = super().get_config()
        config.update({"size": None if self.size is None else list(self.size)})
        return config
