"""DepthToSpace: pixel shuffle, the periodic shuffle of ESPCN, as a layer (no weights).

Shi et al., "Real-Time Single Image and Video Super-Resolution Using an
Efficient Sub-Pixel Convolutional Neural Network", CVPR 2016
(https://arxiv.org/abs/1609.05158). Used wherever a model needs the bare
shuffle after its own convolution: ESPCN (one conv to `C * r^2` channels and a
single `r x r` shuffle, also at x4), SRResNet and WDSR.
`keras_sr.layers.SubPixelUpsampling` is the conv + shuffle stack of EDSR.
Channel order is TensorFlow's "DCR"
(`keras_sr.layers.subpixel_upsampling.depth_to_space`), the exact inverse of
`keras_sr.layers.SpaceToDepth`; identical to PyTorch's `PixelShuffle` when
the output has one channel.

Example:
    >>> shuffle = DepthToSpace(block_size=3)
    >>> y = shuffle(keras.ops.ones((1, 8, 8, 9)))     # (1, 24, 24, 1)
    >>> DepthToSpace.from_config(shuffle.get_config()).block_size  # 3
"""

import keras

from keras_sr.layers.subpixel_upsampling import depth_to_space

__all__ = ["DepthToSpace"]


@keras.saving.register_keras_serializable(package="keras_sr")
class DepthToSpace(keras.layers.Layer):
    """`(N, H, W, C * r * r) -> (N, H * r, W * r, C)`, no weights.

    Args:
        block_size: the upscaling factor r (an integer >= 2).
    """

    def __init__(self, block_size, **kwargs):
        super().__init__(**kwargs)
        if int(block_size) != block_size or int(block_size) < 2:
            raise ValueError(f"DepthToSpace block_size must be an integer >= 2, got {block_size!r}.")
        self.block_size = int(block_size)

    def call(self, inputs):
        return depth_to_space(inputs, self.block_size)

    def compute_output_shape(self, input_shape):
        r = self.block_size
        n, h, w, c = input_shape
        if c is None or c % (r * r):
            raise ValueError(f"DepthToSpace({r}) needs a known channel count divisible by {r * r}, got {c}.")
        return (n, None if h is None else h * r, None if w is None else w * r, c // (r * r))

    def get_config(self):
        config = super().get_config()
        config.update({"block_size": self.block_size})
        return config
