"""Window multi-head self-attention with a relative-position bias (Swin Transformer, SwinIR, HAT).

Liu et al., "Swin Transformer: Hierarchical Vision Transformer using Shifted Windows", ICCV 2021
(https://arxiv.org/abs/2103.14030); Liang et al., "SwinIR: Image Restoration Using Swin
Transformer", ICCVW 2021 (https://arxiv.org/abs/2108.10257). Layout as the official code
(JingyunLiang/SwinIR `models/network_swinir.py: WindowAttention`): one `qkv` linear map (bias),
`softmax(q k^T / sqrt(d) + B + mask) v` per head, then the `proj` linear map. `B` is read from a
learned table of `(2M - 1)^2 x heads` entries by the relative offset of two tokens in an `M x M`
window (`relative_position_index`, a constant here, a buffer in the official code).

The module-level functions work on channels-last feature maps `(B, H, W, C)` whose H and W are
multiples of the window (the models pad their input, as the official code does):
`window_partition` / `window_reverse`, `shifted_window_mask` (the -100 mask of the shifted windows,
computed with `keras.ops` from the actual padded size, so dynamic H and W work on TensorFlow, JAX
and PyTorch) and `shifted_window_attention` (cyclic shift, attention per window, shift back).

Mixed precision: the attention logits, bias, mask and softmax are computed in float32.

Example:
    >>> attention = WindowAttention(num_heads=6, window_size=8)
    >>> windows = keras.random.normal((4, 64, 60))             # (windows, tokens, channels)
    >>> attention(windows).shape                                # (4, 64, 60)
"""

import numpy as np

import keras
from keras import ops

__all__ = ["WindowAttention", "window_partition", "window_reverse", "shifted_window_mask",
           "shifted_window_attention", "relative_position_index", "cyclic_shift", "MASK_VALUE"]

# The official code fills the attention logits of token pairs from different regions with -100.
MASK_VALUE = -100.0


def relative_position_index(window_size):
    """`(M*M, M*M)` int32: row-major offset `(dy + M - 1) * (2M - 1) + dx + M - 1` of token j seen from token i."""
    m = int(window_size)
    coords = np.stack(np.meshgrid(np.arange(m), np.arange(m), indexing="ij")).reshape(2, -1)  # (2, M*M)
    relative = coords[:, :, None] - coords[:, None, :] + (m - 1)  # (2, M*M, M*M), offsets from 0
    return (relative[0] * (2 * m - 1) + relative[1]).astype("int32")


def window_partition(x, window_size):
    """`(B, H, W, C) -> (B * H/M * W/M, M*M, C)`, windows in row-major order per image."""
    m = int(window_size)
    shape = ops.shape(x)
    h, w, c = shape[1], shape[2], x.shape[-1]
    x = ops.reshape(x, (-1, h // m, m, w // m, m, c))
    x = ops.transpose(x, (0, 1, 3, 2, 4, 5))
    return ops.reshape(x, (-1, m * m, c))


def window_reverse(windows, window_size, height, width):
    """Inverse of `window_partition`: `(B * H/M * W/M, M*M, C) -> (B, H, W, C)`."""
    m = int(window_size)
    c = windows.shape[-1]
    x = ops.reshape(windows, (-1, height // m, width // m, m, m, c))
    x = ops.transpose(x, (0, 1, 3, 2, 4, 5))
    return ops.reshape(x, (-1, height, width, c))


def shifted_window_mask(height, width, window_size, shift_size):
    """`(H/M * W/M, M*M, M*M)` float32: 0 within a region, -100 across the regions that the cyclic shift joins.

    Regions as the official `calculate_mask`: rows `[0, H-M)`, `[H-M, H-s)`, `[H-s, H)`, the same for
    columns. `height`/`width` may be dynamic (tensors); they must be multiples of the window.
    """
    m, s = int(window_size), int(shift_size)

    def regions(n):
        index = ops.arange(n, dtype="int32")
        return ops.cast(index >= n - m, "int32") + ops.cast(index >= n - s, "int32")

    # expand_dims / reshape rather than `x[None]`-style indexing: TFLite has no StridedSlice with new axes.
    ids = ops.expand_dims(regions(height), 1) * 3 + ops.expand_dims(regions(width), 0)  # (H, W)
    ids = window_partition(ops.cast(ops.expand_dims(ops.expand_dims(ids, 0), -1), "float32"), m)  # (nW, M*M, 1)
    different = ops.not_equal(ids, ops.transpose(ids, (0, 2, 1)))
    return ops.where(different, MASK_VALUE, 0.0)


def shifted_window_attention(x, attention, window_size, shift_size):
    """Attention within (cyclically shifted) windows of `x` `(B, H, W, C)`; returns `(B, H, W, C)`.

    `attention` is a `WindowAttention` (or any callable `(windows, attention_mask) -> windows`).
    """
    m, s = int(window_size), int(shift_size)
    shape = ops.shape(x)
    h, w = shape[1], shape[2]
    if s > 0:
        x = cyclic_shift(x, s)
        mask = shifted_window_mask(h, w, m, s)
    else:
        mask = None
    windows = attention(window_partition(x, m), attention_mask=mask)
    x = window_reverse(windows, m, h, w)
    if s > 0:
        x = cyclic_shift(x, -s)
    return x


def cyclic_shift(x, shift):
    """`roll(x, (-shift, -shift), axis=(1, 2))` from slices and concatenation (TFLite has no `Roll` op)."""
    n = int(shift)  # a negative shift rolls forward: x[:, n:] is then the last |n| rows
    x = ops.concatenate([x[:, n:], x[:, :n]], axis=1)
    return ops.concatenate([x[:, :, n:], x[:, :, :n]], axis=2)


def multi_head_attention(q, k, v, num_heads, bias, attention_mask=None):
    """`softmax(q k^T / sqrt(d) + bias [+ mask]) v` for `(N, Tq, C)` queries and `(N, Tk, C)` keys/values.

    `bias`: `(heads, Tq, Tk)`; `attention_mask`: `(nW, Tq, Tk)` added per window of each image
    (windows are image-major, as `window_partition` orders them). Logits and softmax in float32.
    """
    channels = q.shape[-1]
    d = channels // num_heads
    tq, tk = ops.shape(q)[1], ops.shape(k)[1]

    def heads(t, n):
        return ops.transpose(ops.reshape(t, (-1, n, num_heads, d)), (0, 2, 1, 3))  # (N, heads, T, d)

    q, k, v = heads(q * (d ** -0.5), tq), heads(k, tk), heads(v, tk)
    logits = ops.cast(ops.matmul(q, ops.transpose(k, (0, 1, 3, 2))), "float32") + ops.expand_dims(bias, 0)
    if attention_mask is not None:
        num_windows = ops.shape(attention_mask)[0]
        mask = ops.cast(attention_mask, "float32")  # a layer call casts it to the compute dtype
        logits = ops.reshape(logits, (-1, num_windows, num_heads, tq, tk)) + ops.expand_dims(ops.expand_dims(mask, 0), 2)
        logits = ops.reshape(logits, (-1, num_heads, tq, tk))
    weights = ops.cast(ops.softmax(logits, axis=-1), v.dtype)
    out = ops.transpose(ops.matmul(weights, v), (0, 2, 1, 3))  # (N, Tq, heads, d)
    return ops.reshape(out, (-1, tq, channels))


def lookup_bias(table, index):
    """`(heads, Tq, Tk)` float32 bias from a `(entries, heads)` table and a `(Tq, Tk)` numpy index."""
    bias = ops.take(ops.cast(table, "float32"), ops.convert_to_tensor(index.reshape(-1)), axis=0)
    return ops.transpose(ops.reshape(bias, (index.shape[0], index.shape[1], -1)), (2, 0, 1))


@keras.saving.register_keras_serializable(package="keras_sr")
class WindowAttention(keras.layers.Layer):
    """Multi-head self-attention within each `M x M` window, with the learned relative-position bias.

    Input `(num_windows * B, M*M, C)` (from `window_partition`), output the same shape.
    `call(windows, attention_mask=None)`: an optional `(num_windows, M*M, M*M)` additive mask
    (`shifted_window_mask`). Weights: `qkv` (C -> 3C), `proj` (C -> C) and
    `relative_position_bias_table` `((2M-1)^2, heads)`, as the official module.

    Args:
        num_heads: attention heads (C must be a multiple).
        window_size: M.
        qkv_bias: bias in the qkv map (True).
        kernel_initializer: of the two linear maps (truncated normal, std 0.02, as the official init).
        table_initializer: of the bias table (truncated normal, std 0.02).

    Example:
        >>> attention = WindowAttention(num_heads=2, window_size=4)
        >>> attention(keras.random.normal((3, 16, 8))).shape   # (3, 16, 8)
    """

    def __init__(self, num_heads, window_size, qkv_bias=True, kernel_initializer=None, table_initializer=None,
                 **kwargs):
        super().__init__(**kwargs)
        if int(num_heads) < 1 or int(window_size) < 1:
            raise ValueError(f"WindowAttention: num_heads and window_size must be >= 1, got {num_heads}, {window_size}.")
        self.num_heads = int(num_heads)
        self.window_size = int(window_size)
        self.qkv_bias = bool(qkv_bias)
        self.kernel_initializer = keras.initializers.get(kernel_initializer or _trunc_normal())
        self.table_initializer = keras.initializers.get(table_initializer or _trunc_normal())
        self.index = relative_position_index(self.window_size)

    def build(self, input_shape):
        channels = input_shape[-1]
        if channels is None or channels % self.num_heads:
            raise ValueError(f"WindowAttention: channels ({channels}) must be a known multiple of "
                             f"num_heads ({self.num_heads}).")
        m = self.window_size
        self.relative_position_bias_table = self.add_weight(
            name="relative_position_bias_table", shape=((2 * m - 1) ** 2, self.num_heads),
            initializer=self.table_initializer)
        self.qkv = keras.layers.Dense(3 * channels, use_bias=self.qkv_bias, kernel_initializer=self.kernel_initializer,
                                      dtype=self.dtype_policy, name="qkv")
        self.proj = keras.layers.Dense(channels, kernel_initializer=self.kernel_initializer, dtype=self.dtype_policy,
                                       name="proj")
        self.qkv.build(input_shape)
        self.proj.build(input_shape)

    def call(self, inputs, attention_mask=None):
        channels = inputs.shape[-1]
        qkv = self.qkv(inputs)
        q, k, v = qkv[..., :channels], qkv[..., channels:2 * channels], qkv[..., 2 * channels:]
        bias = lookup_bias(self.relative_position_bias_table, self.index)
        return self.proj(multi_head_attention(q, k, v, self.num_heads, bias, attention_mask))

    def compute_output_shape(self, input_shape, attention_mask=None):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update({
            "num_heads": self.num_heads,
            "window_size": self.window_size,
            "qkv_bias": self.qkv_bias,
            "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
            "table_initializer": keras.initializers.serialize(self.table_initializer),
        })
        return config


def _trunc_normal():
    return keras.initializers.TruncatedNormal(stddev=0.02)
