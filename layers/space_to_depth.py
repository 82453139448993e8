"""SpaceToDepth: pixel unshuffle, the exact inverse of `DepthToSpace` (no weights).

Shi et al., "Real-Time Single Image and Video Super-Resolution Using an
Efficient Sub-Pixel Convolutional Neural Network", CVPR 2016
(https://arxiv.org/abs/1609.05158) define the periodic shuffle; BasicSR's
RRDBNet (Wang et al., ESRGAN, https://arxiv.org/abs/1809.00219) runs its x4
trunk at x2 and x1 by pixel-unshuffling the input by 2 or 4 first. Channel
order is TensorFlow's "DCR", so `depth_to_space(space_to_depth(x, r), r) == x`
with `keras_sr.layers.subpixel_upsampling.depth_to_space`.

Example:
    >>> unshuffle = SpaceToDepth(block_size=2)
    >>> y = unshuffle(keras.ops.ones((1, 8, 8, 3)))     # (1, 4, 4, 12)
    >>> SpaceToDepth.from_config(unshuffle.get_config()).block_size  # 2
"""

import keras
from keras import ops

__all__ = ["SpaceToDepth", "space_to_depth"]


def space_to_depth(x, block_size):
    """`(N, H*r, W*r, C) -> (N, H, W, C*r*r)` in DCR order, with dynamic `H`/`W` (reshape/transpose only)."""
    r = int(block_size)
    channels = x.shape[-1]
    if channels is None:
        raise ValueError("space_to_depth needs a known channel dimension.")
    shape = ops.shape(x)
    h, w = shape[1] // r, shape[2] // r
    x = ops.reshape(x, (-1, h, r, w, r, channels))
    x = ops.transpose(x, (0, 1, 3, 2, 4, 5))
    return ops.reshape(x, (-1, h, w, r * r * channels))


@keras.saving.register_keras_serializable(package="keras_sr")
class SpaceToDepth(keras.layers.Layer):
    """`(N, H*r, W*r, C) -> (N, H, W, C*r*r)`, no weights; height and width must be multiples of r.

    Args:
        block_size: the downscaling factor r (an integer >= 2).
    """

    def __init__(self, block_size, **kwargs):
        super().__init__(**kwargs)
        if int(block_size) != block_size or int(block_size) < 2:
            raise ValueError(f"SpaceToDepth block_size must be an integer >= 2, got {block_size!r}.")
        self.block_size = int(block_size)

    def call(self, inputs):
        return space_to_depth(inputs, self.block_size)

    def compute_output_shape(self, input_shape):
        r = self.block_size
        n, h, w, c = input_shape
        for size in (h, w):
            if size is not None and size % r:
                raise ValueError(f"SpaceToDepth({r}) needs height and width divisible by {r}, got {h}x{w}.")
        return (n, None if h is None else h // r, None if w is None else w // r, None if c is None else c * r * r)

    def get_config(self):
        config = super().get_config()
        config.update({"block_size": self.block_size})
        return config
