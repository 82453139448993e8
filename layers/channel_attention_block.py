"""Channel attention block (CAB) of HAT's hybrid attention block.

Chen, Wang, Zhou, Qiao, Dong, "Activating More Pixels in Image Super-Resolution Transformer", CVPR 2023
(https://arxiv.org/abs/2205.04437), Fig. 4 and the official `CAB` (XPixelGroup/HAT
`hat/archs/hat_arch.py`): conv 3x3 (C -> C / compress_ratio) -> GELU (exact) -> conv 3x3 (-> C) ->
RCAN's channel attention with `C // squeeze_factor` hidden units (`keras_sr.layers.ChannelAttention`).
HAT uses compress_ratio 3 and squeeze_factor 30 (HAT-S: 24 and 24).

Example:
    >>> cab = ChannelAttentionBlock(compress_ratio=3, squeeze_factor=30)
    >>> cab(keras.random.normal((1, 16, 16, 180))).shape       # (1, 16, 16, 180)
"""

import keras
from keras import ops

from keras_sr.layers.channel_attention import ChannelAttention

__all__ = ["ChannelAttentionBlock"]


@keras.saving.register_keras_serializable(package="keras_sr")
class ChannelAttentionBlock(keras.layers.Layer):
    """`CA(conv(GELU(conv(x))))`, the convolutional branch of HAT's hybrid attention block (no skip).

    Args:
        compress_ratio: the middle conv has `C // compress_ratio` channels (3).
        squeeze_factor: channel attention reduction (30).
        kernel_initializer: of the convs and the attention maps.

    Example:
        >>> cab = ChannelAttentionBlock(compress_ratio=2, squeeze_factor=4)
        >>> cab(keras.random.normal((1, 8, 8, 16))).shape   # (1, 8, 8, 16)
    """

    def __init__(self, compress_ratio=3, squeeze_factor=30, kernel_initializer="glorot_uniform", **kwargs):
        super().__init__(**kwargs)
        self.compress_ratio = int(compress_ratio)
        self.squeeze_factor = int(squeeze_factor)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)

    def build(self, input_shape):
        channels = input_shape[-1]
        if channels is None or channels // self.compress_ratio < 1:
            raise ValueError(f"ChannelAttentionBlock: channels ({channels}) must be known and >= compress_ratio "
                             f"({self.compress_ratio}).")
        common = dict(padding="same", kernel_initializer=self.kernel_initializer, dtype=self.dtype_policy)
        hidden = channels // self.compress_ratio
        self.conv1 = keras.layers.Conv2D(hidden, 3, name="conv1", **common)
        self.conv2 = keras.layers.Conv2D(channels, 3, name="conv2", **common)
        self.attention = ChannelAttention(self.squeeze_factor, kernel_initializer=self.kernel_initializer,
                                          dtype=self.dtype_policy, name="attention")
        self.conv1.build(input_shape)
        self.conv2.build(tuple(input_shape[:-1]) + (hidden,))
        self.attention.build(input_shape)

    def call(self, inputs):
        return self.attention(self.conv2(ops.gelu(self.conv1(inputs), approximate=False)))

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update({"compress_ratio": self.compress_ratio, "squeeze_factor": self.squeeze_factor,
                       "kernel_initializer": keras.initializers.serialize(self.kernel_initializer)})
        return config
