"""Overlapping cross-attention block (OCAB) of HAT.

Chen et al., "Activating More Pixels in Image Super-Resolution Transformer", CVPR 2023
(https://arxiv.org/abs/2205.04437), Sec. 3.2.3 and the official `OCAB` (XPixelGroup/HAT
`hat/archs/hat_arch.py`). Queries come from the non-overlapping `M x M` windows, keys and values
from overlapping `Mo x Mo` windows, `Mo = M + int(overlap_ratio * M)`, taken with stride M around
each query window (the official `nn.Unfold(Mo, stride=M, padding=(Mo - M) / 2)` of the k/v maps,
zero padded): for HAT's M = 16 and ratio 0.5, 24 x 24 key windows. The relative-position bias table
has `(M + Mo - 1)^2 x heads` entries. Then `proj`, the residual, and `x + MLP(LayerNorm(x))`.

Here the overlapping windows are built from reshapes, slices and concatenation (no gather, no
unfold), so dynamic H and W work on every backend; this needs `Mo - M` even and at most M
(overlap ratio in (0, 1]); the official unfold produces a different window count for odd `Mo - M`.

Example:
    >>> block = OverlappingCrossAttentionBlock(num_heads=6, window_size=16, overlap_ratio=0.5)
    >>> block(keras.random.normal((1, 32, 48, 180))).shape     # (1, 32, 48, 180)
"""

import numpy as np

import keras
from keras import ops

from keras_sr.layers.swin_transformer_block import LAYER_NORM_EPSILON
from keras_sr.layers.window_attention import lookup_bias, multi_head_attention, window_partition, window_reverse

__all__ = ["OverlappingCrossAttentionBlock", "overlapping_windows", "overlapping_relative_position_index",
           "overlapping_window_size"]


def overlapping_window_size(window_size, overlap_ratio):
    """`Mo = M + int(overlap_ratio * M)` (24 for HAT's 16 and 0.5), as the official code."""
    return int(window_size) + int(overlap_ratio * window_size)


def overlapping_relative_position_index(window_size, overlap_size):
    """`(M*M, Mo*Mo)` int32 index into the `(M + Mo - 1)^2` table, as the official `calculate_rpi_oca`."""
    m, mo = int(window_size), int(overlap_size)
    ori = np.stack(np.meshgrid(np.arange(m), np.arange(m), indexing="ij")).reshape(2, -1)
    ext = np.stack(np.meshgrid(np.arange(mo), np.arange(mo), indexing="ij")).reshape(2, -1)
    relative = ext[:, None, :] - ori[:, :, None] + (m - mo + 1)  # (2, M*M, Mo*Mo)
    return (relative[0] * (m + mo - 1) + relative[1]).astype("int32")


def overlapping_windows(x, window_size, overlap_size):
    """`(B, H, W, C) -> (B * H/M * W/M, Mo*Mo, C)`: the `Mo x Mo` windows, stride M, zero padded by `(Mo - M) / 2`.

    Window (i, j) covers rows `i*M - p ... i*M - p + Mo - 1` (same for columns), tokens row-major,
    windows in the order of `window_partition`.
    """
    m, mo = int(window_size), int(overlap_size)
    extra = mo - m
    p = extra // 2
    c = x.shape[-1]
    # Pad so that each side is (n + 1) * M: window i = block i plus the first `extra` rows of block i + 1.
    x = ops.pad(x, [[0, 0], [p, m - p], [p, m - p], [0, 0]])
    shape = ops.shape(x)
    blocks_h, width = shape[1] // m, shape[2]
    x = ops.reshape(x, (-1, blocks_h, m, width, c))
    x = ops.concatenate([x[:, :-1], x[:, 1:, :extra]], axis=2)  # (B, nH, Mo, W + M, C)
    blocks_w = width // m
    x = ops.reshape(x, (-1, blocks_h - 1, mo, blocks_w, m, c))
    x = ops.concatenate([x[:, :, :, :-1], x[:, :, :, 1:, :extra]], axis=4)  # (B, nH, Mo, nW, Mo, C)
    x = ops.transpose(x, (0, 1, 3, 2, 4, 5))
    return ops.reshape(x, (-1, mo * mo, c))


@keras.saving.register_keras_serializable(package="keras_sr")
class OverlappingCrossAttentionBlock(keras.layers.Layer):
    """Window queries attend to overlapping key/value windows; `(B, H, W, C)` in and out (H, W multiples of M).

    Args:
        num_heads: attention heads.
        window_size: M (16 in HAT).
        overlap_ratio: `Mo = M + int(ratio * M)` (0.5).
        mlp_ratio: MLP width over C (2).
        qkv_bias: bias in the qkv map.
        kernel_initializer: of the linear maps and the bias table (truncated normal, std 0.02).

    Example:
        >>> block = OverlappingCrossAttentionBlock(num_heads=2, window_size=4, overlap_ratio=0.5)
        >>> block(keras.random.normal((1, 8, 12, 16))).shape   # (1, 8, 12, 16)
    """

    def __init__(self, num_heads, window_size, overlap_ratio=0.5, mlp_ratio=2.0, qkv_bias=True,
                 kernel_initializer=None, **kwargs):
        super().__init__(**kwargs)
        self.num_heads = int(num_heads)
        self.window_size = int(window_size)
        self.overlap_ratio = float(overlap_ratio)
        self.overlap_size = overlapping_window_size(self.window_size, self.overlap_ratio)
        extra = self.overlap_size - self.window_size
        if extra <= 0 or extra > self.window_size or extra % 2:
            raise ValueError(f"OverlappingCrossAttentionBlock: the overlapping window ({self.overlap_size}) must exceed "
                             f"the window ({self.window_size}) by an even amount of at most the window "
                             f"(overlap_ratio {overlap_ratio}).")
        self.mlp_ratio = float(mlp_ratio)
        self.qkv_bias = bool(qkv_bias)
        self.kernel_initializer = keras.initializers.get(
            kernel_initializer or keras.initializers.TruncatedNormal(stddev=0.02))
        self.index = overlapping_relative_position_index(self.window_size, self.overlap_size)

    def build(self, input_shape):
        channels = input_shape[-1]
        if channels is None or channels % self.num_heads:
            raise ValueError(f"OverlappingCrossAttentionBlock: channels ({channels}) must be a known multiple of "
                             f"num_heads ({self.num_heads}).")
        common = dict(dtype=self.dtype_policy)
        hidden = int(channels * self.mlp_ratio)
        self.norm1 = keras.layers.LayerNormalization(epsilon=LAYER_NORM_EPSILON, name="norm1", **common)
        self.qkv = keras.layers.Dense(3 * channels, use_bias=self.qkv_bias, kernel_initializer=self.kernel_initializer,
                                      name="qkv", **common)
        self.relative_position_bias_table = self.add_weight(
            name="relative_position_bias_table", shape=((self.window_size + self.overlap_size - 1) ** 2, self.num_heads),
            initializer=self.kernel_initializer)
        self.proj = keras.layers.Dense(channels, kernel_initializer=self.kernel_initializer, name="proj", **common)
        self.norm2 = keras.layers.LayerNormalization(epsilon=LAYER_NORM_EPSILON, name="norm2", **common)
        self.fc1 = keras.layers.Dense(hidden, kernel_initializer=self.kernel_initializer, name="fc1", **common)
        self.fc2 = keras.layers.Dense(channels, kernel_initializer=self.kernel_initializer, name="fc2", **common)
        for layer in (self.norm1, self.qkv, self.proj, self.norm2, self.fc1):
            layer.build(input_shape)
        self.fc2.build(tuple(input_shape[:-1]) + (hidden,))

    def call(self, inputs):
        channels = inputs.shape[-1]
        shape = ops.shape(inputs)
        h, w = shape[1], shape[2]
        qkv = self.qkv(self.norm1(inputs))
        q = window_partition(qkv[..., :channels], self.window_size)
        kv = overlapping_windows(qkv[..., channels:], self.window_size, self.overlap_size)
        bias = lookup_bias(self.relative_position_bias_table, self.index)
        attended = multi_head_attention(q, kv[..., :channels], kv[..., channels:], self.num_heads, bias)
        x = inputs + self.proj(window_reverse(attended, self.window_size, h, w))
        return x + self.fc2(ops.gelu(self.fc1(self.norm2(x)), approximate=False))

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update({
            "num_heads": self.num_heads,
            "window_size": self.window_size,
            "overlap_ratio": self.overlap_ratio,
            "mlp_ratio": self.mlp_ratio,
            "qkv_bias": self.qkv_bias,
            "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
        })
        return config
