"""Hybrid attention block (HAB) of HAT: (shifted) window attention plus a scaled channel-attention branch.

Chen et al., "Activating More Pixels in Image Super-Resolution Transformer", CVPR 2023
(https://arxiv.org/abs/2205.04437), Fig. 4 and the official `HAB` (XPixelGroup/HAT
`hat/archs/hat_arch.py`):

    y = LayerNorm(x)
    x = x + W-MSA / SW-MSA(y) + conv_scale * CAB(y)      # conv_scale 0.01
    x = x + MLP(LayerNorm(x))

As `SwinTransformerBlock` otherwise (LayerNorm epsilon 1e-5, exact GELU, the shifted-window mask
computed from the actual padded size). HAT computes one mask for all blocks; here each shifted block
computes the same mask.

Example:
    >>> block = HybridAttentionBlock(num_heads=6, window_size=16, shift_size=8)
    >>> block(keras.random.normal((1, 32, 32, 180))).shape     # (1, 32, 32, 180)
"""

import keras
from keras import ops

from keras_sr.layers.channel_attention_block import ChannelAttentionBlock
from keras_sr.layers.swin_transformer_block import LAYER_NORM_EPSILON
from keras_sr.layers.window_attention import WindowAttention, shifted_window_attention

__all__ = ["HybridAttentionBlock"]


@keras.saving.register_keras_serializable(package="keras_sr")
class HybridAttentionBlock(keras.layers.Layer):
    """Window attention and a channel attention block in parallel, then an MLP; `(B, H, W, C)` in and out.

    Args:
        num_heads: attention heads.
        window_size: M (16 in HAT); H and W must be multiples of it.
        shift_size: 0, or M // 2 in every second block.
        compress_ratio, squeeze_factor: of the channel attention block (3, 30; HAT-S 24, 24).
        conv_scale: weight of the channel attention branch (0.01).
        mlp_ratio: MLP width over C (2).
        qkv_bias: bias in the qkv map.
        kernel_initializer: of the linear maps (truncated normal, std 0.02).
        conv_initializer: of the convs.

    Example:
        >>> block = HybridAttentionBlock(num_heads=2, window_size=4, shift_size=2, compress_ratio=2, squeeze_factor=4)
        >>> block(keras.random.normal((1, 8, 8, 16))).shape   # (1, 8, 8, 16)
    """

    def __init__(self, num_heads, window_size, shift_size=0, compress_ratio=3, squeeze_factor=30, conv_scale=0.01,
                 mlp_ratio=2.0, qkv_bias=True, kernel_initializer=None, conv_initializer="glorot_uniform", **kwargs):
        super().__init__(**kwargs)
        if not 0 <= int(shift_size) < int(window_size):
            raise ValueError(f"HybridAttentionBlock: shift_size must be in [0, window_size), got {shift_size}.")
        self.num_heads = int(num_heads)
        self.window_size = int(window_size)
        self.shift_size = int(shift_size)
        self.compress_ratio = int(compress_ratio)
        self.squeeze_factor = int(squeeze_factor)
        self.conv_scale = float(conv_scale)
        self.mlp_ratio = float(mlp_ratio)
        self.qkv_bias = bool(qkv_bias)
        self.kernel_initializer = keras.initializers.get(
            kernel_initializer or keras.initializers.TruncatedNormal(stddev=0.02))
        self.conv_initializer = keras.initializers.get(conv_initializer)

    def build(self, input_shape):
        channels = input_shape[-1]
        if channels is None:
            raise ValueError("HybridAttentionBlock needs a known channel dimension.")
        common = dict(dtype=self.dtype_policy)
        hidden = int(channels * self.mlp_ratio)
        self.norm1 = keras.layers.LayerNormalization(epsilon=LAYER_NORM_EPSILON, name="norm1", **common)
        self.attn = WindowAttention(self.num_heads, self.window_size, qkv_bias=self.qkv_bias,
                                    kernel_initializer=self.kernel_initializer, name="attn", **common)
        self.conv_block = ChannelAttentionBlock(self.compress_ratio, self.squeeze_factor,
                                                kernel_initializer=self.conv_initializer, name="conv_block", **common)
        self.norm2 = keras.layers.LayerNormalization(epsilon=LAYER_NORM_EPSILON, name="norm2", **common)
        self.fc1 = keras.layers.Dense(hidden, kernel_initializer=self.kernel_initializer, name="fc1", **common)
        self.fc2 = keras.layers.Dense(channels, kernel_initializer=self.kernel_initializer, name="fc2", **common)
        self.norm1.build(input_shape)
        self.attn.build((None, self.window_size * self.window_size, channels))
        self.conv_block.build(input_shape)
        self.norm2.build(input_shape)
        self.fc1.build(input_shape)
        self.fc2.build(tuple(input_shape[:-1]) + (hidden,))

    def call(self, inputs):
        y = self.norm1(inputs)
        attended = shifted_window_attention(y, self.attn, self.window_size, self.shift_size)
        x = inputs + attended + self.conv_block(y) * self.conv_scale
        return x + self.fc2(ops.gelu(self.fc1(self.norm2(x)), approximate=False))

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update({
            "num_heads": self.num_heads,
            "window_size": self.window_size,
            "shift_size": self.shift_size,
            "compress_ratio": self.compress_ratio,
            "squeeze_factor": self.squeeze_factor,
            "conv_scale": self.conv_scale,
            "mlp_ratio": self.mlp_ratio,
            "qkv_bias": self.qkv_bias,
            "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
            "conv_initializer": keras.initializers.serialize(self.conv_initializer),
        })
        return config
