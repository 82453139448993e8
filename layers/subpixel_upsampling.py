"""Sub-pixel convolution upsampling (ESPCN, Shi et al. 2016; the EDSR/RCAN upsampler).

`SubPixelUpsampling(scale, filters)` is a stack of `conv 3x3 (filters * r^2) ->
depth_to_space(r)` steps: one x2 step for scale 2, one x3 step for scale 3, two
x2 steps for scale 4 and three for scale 8, exactly as EDSR's `Upsampler`
(Lim et al., "Enhanced Deep Residual Networks for Single Image
Super-Resolution", CVPRW 2017).

Channel order: `depth_to_space` here is TensorFlow's `tf.nn.depth_to_space`
("DCR": input channel `(i * r + j) * C + c` goes to output pixel offset
`(i, j)`, channel `c`), which is also `keras.ops.depth_to_space`. PyTorch's
`nn.PixelShuffle` uses "CRD" order (`c * r * r + i * r + j`); to port PyTorch
weights, permute the output channels of the conv before each shuffle with
`pytorch_to_dcr_permutation(filters, r)`.

Example:
    >>> up = SubPixelUpsampling(scale=4, filters=64)
    >>> y = up(keras.random.normal((1, 12, 12, 64)))   # (1, 48, 48, 64)
    >>> depth_to_space(keras.ops.ones((1, 2, 2, 12)), 2).shape  # (1, 4, 4, 3)
"""

import numpy as np

import keras
from keras import ops

__all__ = ["SubPixelUpsampling", "depth_to_space", "depth_to_space_reference", "pytorch_to_dcr_permutation", "upsampling_steps"]


def depth_to_space(x, block_size):
    """`(N, H, W, C*r*r) -> (N, H*r, W*r, C)` in TensorFlow's DCR channel order.

    Uses `keras.ops.depth_to_space` (the backend's fused op, e.g.
    `tf.nn.depth_to_space`) when this Keras has it, else the same
    rearrangement with `keras.ops.reshape`/`transpose`
    (`depth_to_space_reference`); both run on every backend and with dynamic
    `H`/`W` (TensorFlow graphs, SavedModel, TFLite).
    """
    r = int(block_size)
    channels = x.shape[-1]
    if channels is None or channels % (r * r):
        raise ValueError(f"depth_to_space: channels ({channels}) must be a known multiple of {r * r}.")
    if hasattr(ops, "depth_to_space"):
        return ops.depth_to_space(x, r)
    return depth_to_space_reference(x, r)


def depth_to_space_reference(x, block_size):
    """`depth_to_space` written with `keras.ops.reshape`/`transpose` (6-D); the definition of the DCR order."""
    r = int(block_size)
    channels = x.shape[-1]
    out_channels = channels // (r * r)
    shape = ops.shape(x)
    h, w = shape[1], shape[2]
    x = ops.reshape(x, (-1, h, w, r, r, out_channels))
    x = ops.transpose(x, (0, 1, 3, 2, 4, 5))
    return ops.reshape(x, (-1, h * r, w * r, out_channels))


def pytorch_to_dcr_permutation(out_channels, block_size):
    """Index array `p` with `dcr_weight[..., k] = torch_weight[..., p[k]]` for the conv before a shuffle."""
    r = int(block_size)
    k = np.arange(out_channels * r * r)
    offset, c = np.divmod(k, out_channels)  # DCR: k = offset * C + c
    return c * r * r + offset  # CRD: c * r * r + offset


def upsampling_steps(scale):
    """Shuffle factors for a scale: 2 -> [2], 3 -> [3], 4 -> [2, 2], 8 -> [2, 2, 2]."""
    scale = int(scale)
    if scale == 3:
        return [3]
    if scale >= 2 and scale & (scale - 1) == 0:
        return [2] * int(np.log2(scale))
    raise ValueError(f"SubPixelUpsampling supports scales 2, 3, 4 and 8 (powers of two), got {scale}.")


@keras.saving.register_keras_serializable(package="keras_sr")
class SubPixelUpsampling(keras.layers.Layer):
    """`conv(filters * r^2) -> depth_to_space(r)` per step; output has `filters` channels.

    Args:
        scale: 2, 3, 4 or 8 (x4 = two x2 steps, x8 = three).
        filters: channels in and out.
        kernel_size: conv kernel size (3 in EDSR).
        kernel_initializer, bias_initializer: for the convs.
    """

    def __init__(self, scale, filters, kernel_size=3, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", **kwargs):
        super().__init__(**kwargs)
        self.scale = int(scale)
        self.filters = int(filters)
        self.kernel_size = int(kernel_size)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)
        self.steps = upsampling_steps(self.scale)
        self.convs = [
            keras.layers.Conv2D(self.filters * r * r, self.kernel_size, padding="same",
                                kernel_initializer=self.kernel_initializer, bias_initializer=self.bias_initializer,
                                dtype=self.dtype_policy, name=f"conv_{i}")
            for i, r in enumerate(self.steps)
        ]

    def build(self, input_shape):
        shape = tuple(input_shape)
        for conv, r in zip(self.convs, self.steps):
            if not conv.built:
                conv.build(shape)
            shape = (shape[0], None if shape[1] is None else shape[1] * r,
                     None if shape[2] is None else shape[2] * r, self.filters)

    def call(self, inputs):
        x = inputs
        for conv, r in zip(self.convs, self.steps):
            x = depth_to_space(conv(x), r)
        return x

    def compute_output_shape(self, input_shape):
        n, h, w = input_shape[0], input_shape[1], input_shape[2]
        return (n, None if h is None else h * self.scale, None if w is None else w * self.scale, self.filters)

    def get_config(self):
        config = super().get_config()
        config.update({
            "scale": self.scale,
            "filters": self.filters,
            "kernel_size": self.kernel_size,
            "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
            "bias_initializer": keras.initializers.serialize(self.bias_initializer),
        })
        return config
