"""Residual Swin Transformer Block (RSTB), SwinIR's residual group.

Liang et al., "SwinIR: Image Restoration Using Swin Transformer", ICCVW 2021
(https://arxiv.org/abs/2108.10257), Fig. 2 and the official `RSTB` (JingyunLiang/SwinIR
`models/network_swinir.py`): `x + conv(STL_n(...STL_1(x)))`, the Swin Transformer layers alternating
regular (shift 0) and shifted (shift M // 2) windows. The conv at the end is one 3x3 conv
(`resi_connection="1conv"`, the SR models) or the parameter-saving `"3conv"` stack of the real-world
models (3x3 to C/4, LeakyReLU 0.2, 1x1, LeakyReLU 0.2, 3x3 back to C).

Example:
    >>> group = ResidualSwinTransformerBlock(depth=6, num_heads=6, window_size=8)
    >>> group(keras.random.normal((1, 16, 16, 60))).shape      # (1, 16, 16, 60)
"""

import keras

from keras_sr.layers.swin_transformer_block import SwinTransformerBlock

__all__ = ["ResidualSwinTransformerBlock", "residual_connection_convs"]


def residual_connection_convs(kind, channels, kernel_initializer, dtype, prefix="conv"):
    """The conv(s) closing a residual group: `"1conv"` (one 3x3) or `"3conv"` (3x3 C/4, 1x1, 3x3 C; LeakyReLU 0.2)."""
    conv = dict(padding="same", kernel_initializer=kernel_initializer, dtype=dtype)
    if kind == "1conv":
        return [keras.layers.Conv2D(channels, 3, name=prefix, **conv)]
    if kind == "3conv":
        lrelu = dict(negative_slope=0.2, dtype=dtype)
        return [keras.layers.Conv2D(channels // 4, 3, name=f"{prefix}_0", **conv),
                keras.layers.LeakyReLU(name=f"{prefix}_relu_0", **lrelu),
                keras.layers.Conv2D(channels // 4, 1, name=f"{prefix}_2", **conv),
                keras.layers.LeakyReLU(name=f"{prefix}_relu_1", **lrelu),
                keras.layers.Conv2D(channels, 3, name=f"{prefix}_4", **conv)]
    raise ValueError(f"resi_connection must be '1conv' or '3conv', got {kind!r}.")


@keras.saving.register_keras_serializable(package="keras_sr")
class ResidualSwinTransformerBlock(keras.layers.Layer):
    """`depth` Swin Transformer layers, a conv, and a skip around them; `(B, H, W, C)` in and out.

    Args:
        depth: Swin Transformer layers (6 in SwinIR).
        num_heads: attention heads (6).
        window_size: M (8); H and W of the input must be multiples of it.
        mlp_ratio: MLP width over C (2).
        qkv_bias: bias in the qkv maps.
        resi_connection: `"1conv"` or `"3conv"`.
        kernel_initializer: of the linear maps (truncated normal, std 0.02).
        conv_initializer: of the convs.

    Example:
        >>> group = ResidualSwinTransformerBlock(depth=2, num_heads=2, window_size=4)
        >>> group(keras.random.normal((1, 8, 12, 16))).shape   # (1, 8, 12, 16)
    """

    def __init__(self, depth, num_heads, window_size, mlp_ratio=2.0, qkv_bias=True, resi_connection="1conv",
                 kernel_initializer=None, conv_initializer="glorot_uniform", **kwargs):
        super().__init__(**kwargs)
        if int(depth) < 1:
            raise ValueError(f"ResidualSwinTransformerBlock: depth must be >= 1, got {depth}.")
        if resi_connection not in ("1conv", "3conv"):
            raise ValueError(f"resi_connection must be '1conv' or '3conv', got {resi_connection!r}.")
        self.depth = int(depth)
        self.num_heads = int(num_heads)
        self.window_size = int(window_size)
        self.mlp_ratio = float(mlp_ratio)
        self.qkv_bias = bool(qkv_bias)
        self.resi_connection = resi_connection
        self.kernel_initializer = keras.initializers.get(
            kernel_initializer or keras.initializers.TruncatedNormal(stddev=0.02))
        self.conv_initializer = keras.initializers.get(conv_initializer)

    def build(self, input_shape):
        channels = input_shape[-1]
        if channels is None:
            raise ValueError("ResidualSwinTransformerBlock needs a known channel dimension.")
        self.blocks = [
            SwinTransformerBlock(self.num_heads, self.window_size, shift_size=0 if i % 2 == 0 else self.window_size // 2,
                                 mlp_ratio=self.mlp_ratio, qkv_bias=self.qkv_bias,
                                 kernel_initializer=self.kernel_initializer, dtype=self.dtype_policy, name=f"blocks_{i}")
            for i in range(self.depth)
        ]
        self.convs = residual_connection_convs(self.resi_connection, channels, self.conv_initializer, self.dtype_policy)
        for block in self.blocks:
            block.build(input_shape)
        shape = tuple(input_shape)
        for layer in self.convs:
            layer.build(shape)
            shape = layer.compute_output_shape(shape)

    def call(self, inputs):
        x = inputs
        for block in self.blocks:
            x = block(x)
        for layer in self.convs:
            x = layer(x)
        return inputs + x

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update({
            "depth": self.depth,
            "num_heads": self.num_heads,
            "window_size": self.window_size,
            "mlp_ratio": self.mlp_ratio,
            "qkv_bias": self.qkv_bias,
            "resi_connection": self.resi_connection,
            "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
            "conv_initializer": keras.initializers.serialize(self.conv_initializer),
        })
        return config
