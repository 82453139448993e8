"""Residual hybrid attention group (RHAG) of HAT.

Chen et al., "Activating More Pixels in Image Super-Resolution Transformer", CVPR 2023
(https://arxiv.org/abs/2205.04437), Fig. 4 and the official `RHAG` (XPixelGroup/HAT
`hat/archs/hat_arch.py`): `x + conv3x3(OCAB(HAB_n(...HAB_1(x))))`, the hybrid attention blocks
alternating regular and shifted (M // 2) windows.

Example:
    >>> group = ResidualHybridAttentionGroup(depth=6, num_heads=6, window_size=16)
    >>> group(keras.random.normal((1, 32, 32, 180))).shape     # (1, 32, 32, 180)
"""

import keras

from keras_sr.layers.hybrid_attention_block import HybridAttentionBlock
from keras_sr.layers.overlapping_cross_attention import OverlappingCrossAttentionBlock

__all__ = ["ResidualHybridAttentionGroup"]


@keras.saving.register_keras_serializable(package="keras_sr")
class ResidualHybridAttentionGroup(keras.layers.Layer):
    """`depth` HABs, one OCAB, a 3x3 conv and a skip around them; `(B, H, W, C)` in and out.

    Args:
        depth: hybrid attention blocks (6).
        num_heads: attention heads (6).
        window_size: M (16); H and W must be multiples of it.
        compress_ratio, squeeze_factor, conv_scale: of the HABs' channel attention branch (3, 30, 0.01).
        overlap_ratio: of the OCAB (0.5).
        mlp_ratio: MLP width over C in HABs and the OCAB (2).
        qkv_bias: bias in the qkv maps.
        kernel_initializer: of the linear maps (truncated normal, std 0.02).
        conv_initializer: of the convs.

    Example:
        >>> group = ResidualHybridAttentionGroup(depth=2, num_heads=2, window_size=4, compress_ratio=2, squeeze_factor=4)
        >>> group(keras.random.normal((1, 8, 8, 16))).shape   # (1, 8, 8, 16)
    """

    def __init__(self, depth, num_heads, window_size, compress_ratio=3, squeeze_factor=30, conv_scale=0.01,
                 overlap_ratio=0.5, mlp_ratio=2.0, qkv_bias=True, kernel_initializer=None,
                 conv_initializer="glorot_uniform", **kwargs):
        super().__init__(**kwargs)
        if int(depth) < 1:
            raise ValueError(f"ResidualHybridAttentionGroup: depth must be >= 1, got {depth}.")
        self.depth = int(depth)
        self.num_heads = int(num_heads)
        self.window_size = int(window_size)
        self.compress_ratio = int(compress_ratio)
        self.squeeze_factor = int(squeeze_factor)
        self.conv_scale = float(conv_scale)
        self.overlap_ratio = float(overlap_ratio)
        self.mlp_ratio = float(mlp_ratio)
        self.qkv_bias = bool(qkv_bias)
        self.kernel_initializer = keras.initializers.get(
            kernel_initializer or keras.initializers.TruncatedNormal(stddev=0.02))
        self.conv_initializer = keras.initializers.get(conv_initializer)

    def build(self, input_shape):
        channels = input_shape[-1]
        if channels is None:
            raise ValueError("ResidualHybridAttentionGroup needs a known channel dimension.")
        common = dict(mlp_ratio=self.mlp_ratio, qkv_bias=self.qkv_bias, kernel_initializer=self.kernel_initializer,
                      dtype=self.dtype_policy)
        self.blocks = [
            HybridAttentionBlock(self.num_heads, self.window_size, shift_size=0 if i % 2 == 0 else self.window_size // 2,
                                 compress_ratio=self.compress_ratio, squeeze_factor=self.squeeze_factor,
                                 conv_scale=self.conv_scale, conv_initializer=self.conv_initializer,
                                 name=f"blocks_{i}", **common)
            for i in range(self.depth)
        ]
        self.overlap_attn = OverlappingCrossAttentionBlock(self.num_heads, self.window_size, self.overlap_ratio,
                                                           name="overlap_attn", **common)
        self.conv = keras.layers.Conv2D(channels, 3, padding="same", kernel_initializer=self.conv_initializer,
                                        dtype=self.dtype_policy, name="conv")
        for layer in (*self.blocks, self.overlap_attn, self.conv):
            layer.build(input_shape)

    def call(self, inputs):
        x = inputs
        for block in self.blocks:
            x = block(x)
        return inputs + self.conv(self.overlap_attn(x))

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update({
            "depth": self.depth,
            "num_heads": self.num_heads,
            "window_size": self.window_size,
            "compress_ratio": self.compress_ratio,
            "squeeze_factor": self.squeeze_factor,
            "conv_scale": self.conv_scale,
            "overlap_ratio": self.overlap_ratio,
            "mlp_ratio": self.mlp_ratio,
            "qkv_bias": self.qkv_bias,
            "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
            "conv_initializer": keras.initializers.serialize(self.conv_initializer),
        })
        return config
