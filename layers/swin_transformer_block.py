"""Swin Transformer block on channels-last feature maps (SwinIR's STL).

Liu et al., "Swin Transformer", ICCV 2021 (https://arxiv.org/abs/2103.14030); Liang et al.,
"SwinIR: Image Restoration Using Swin Transformer", ICCVW 2021 (https://arxiv.org/abs/2108.10257).
As the official `SwinTransformerBlock` (JingyunLiang/SwinIR `models/network_swinir.py`):

    x = x + W-MSA / SW-MSA(LayerNorm(x))        # windows of M x M, cyclic shift by `shift_size`
    x = x + MLP(LayerNorm(x))                   # Linear(C, rC) -> GELU (exact, erf) -> Linear(rC, C)

LayerNorm epsilon 1e-5 (PyTorch's default; Keras' is 1e-3). The input is `(B, H, W, C)` with H and
W multiples of the window (the models pad to that, as the official `check_image_size`); the
shifted-window mask is computed from the actual size inside `call`. The official block also shrinks
the window and drops the shift when its *training* size is not larger than the window; keras-sr has
no training size in the architecture and always uses `window_size` and `shift_size` as given.
Dropout and stochastic depth (drop_path 0.1 in the official code, "no impact on SR results") are
not implemented: the official models are evaluated without them.

Example:
    >>> block = SwinTransformerBlock(num_heads=6, window_size=8, shift_size=4, mlp_ratio=2.0)
    >>> block(keras.random.normal((1, 16, 24, 60))).shape      # (1, 16, 24, 60)
"""

import keras
from keras import ops

from keras_sr.layers.window_attention import WindowAttention, shifted_window_attention

__all__ = ["SwinTransformerBlock", "LAYER_NORM_EPSILON"]

LAYER_NORM_EPSILON = 1e-5  # torch.nn.LayerNorm's default, used by the official models


@keras.saving.register_keras_serializable(package="keras_sr")
class SwinTransformerBlock(keras.layers.Layer):
    """(Shifted) window attention and MLP, each with LayerNorm before it and a residual around it.

    Args:
        num_heads: attention heads.
        window_size: M (8 in SwinIR's SR models).
        shift_size: cyclic shift (0, or M // 2 in every second block).
        mlp_ratio: hidden width of the MLP over C (2 in SwinIR's SR models).
        qkv_bias: bias in the attention's qkv map.
        kernel_initializer: of the linear maps (truncated normal, std 0.02, as the official init).

    Example:
        >>> block = SwinTransformerBlock(num_heads=2, window_size=4, shift_size=2)
        >>> block(keras.random.normal((2, 8, 8, 16))).shape   # (2, 8, 8, 16)
    """

    def __init__(self, num_heads, window_size, shift_size=0, mlp_ratio=2.0, qkv_bias=True, kernel_initializer=None,
                 **kwargs):
        super().__init__(**kwargs)
        if not 0 <= int(shift_size) < int(window_size):
            raise ValueError(f"SwinTransformerBlock: shift_size must be in [0, window_size), got {shift_size} "
                             f"for window {window_size}.")
        self.num_heads = int(num_heads)
        self.window_size = int(window_size)
        self.shift_size = int(shift_size)
        self.mlp_ratio = float(mlp_ratio)
        self.qkv_bias = bool(qkv_bias)
        self.kernel_initializer = keras.initializers.get(
            kernel_initializer or keras.initializers.TruncatedNormal(stddev=0.02))

    def build(self, input_shape):
        channels = input_shape[-1]
        if channels is None:
            raise ValueError("SwinTransformerBlock needs a known channel dimension.")
        common = dict(dtype=self.dtype_policy)
        self.norm1 = keras.layers.LayerNormalization(epsilon=LAYER_NORM_EPSILON, name="norm1", **common)
        self.attn = WindowAttention(self.num_heads, self.window_size, qkv_bias=self.qkv_bias,
                                    kernel_initializer=self.kernel_initializer, name="attn", **common)
        self.norm2 = keras.layers.LayerNormalization(epsilon=LAYER_NORM_EPSILON, name="norm2", **common)
        self.fc1 = keras.layers.Dense(int(channels * self.mlp_ratio), kernel_initializer=self.kernel_initializer,
                                      name="fc1", **common)
        self.fc2 = keras.layers.Dense(channels, kernel_initializer=self.kernel_initializer, name="fc2", **common)
        self.norm1.build(input_shape)
        self.attn.build((None, self.window_size * self.window_size, channels))
        self.norm2.build(input_shape)
        self.fc1.build(input_shape)
        self.fc2.build(tuple(input_shape[:-1]) + (int(channels * self.mlp_ratio),))

    def call(self, inputs):
        x = inputs + shifted_window_attention(self.norm1(inputs), self.attn, self.window_size, self.shift_size)
        return x + self.fc2(ops.gelu(self.fc1(self.norm2(x)), approximate=False))

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update({
            "num_heads": self.num_heads,
            "window_size": self.window_size,
            "shift_size": self.shift_size,
            "mlp_ratio": self.mlp_ratio,
            "qkv_bias": self.qkv_bias,
            "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
        })
        return config
