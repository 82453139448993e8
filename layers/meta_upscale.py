"""MetaUpscale: Meta-SR's meta-upscale module, per-position filters predicted from (1/scale, offset).

Hu, Mu, Zhang, Wang, Zheng, Sun, "Meta-SR: A Magnification-Arbitrary Network
for Super-Resolution", CVPR 2019 (https://arxiv.org/abs/1903.00875), Sec. 3.
Output pixel `(i, j)` of an `s`-times image is projected onto LR pixel
`(floor(i / s), floor(j / s))`; the weight-prediction network (Linear(3, 256)
-> ReLU -> Linear(256, k*k*C*out), the official `Pos2Weight`) maps
`(1/s, i/s - floor(i/s), j/s - floor(j/s))` (the official `input_matrix_wpn`
order) to a `k x k x C -> out` filter with no bias, which is applied to the
LR feature's 3 x 3 neighbourhood at the projected pixel (`F.unfold` order,
channel-major).

Query form (so that Meta-SR shares LIIF's `(lr, coord, cell)` interface): a query at pixel-centre
`coord` with `cell = 2 / H_out` is output row `i = (coord + 1) / cell - 1/2` of an `H_out`-row image, and
`i / s = i * h / H_out` with `h` the LR rows. The official code takes the requested `s` and makes
`int(s * h)` rows; here `s = H_out / h`, the ratio of the sizes actually produced, which is the same
whenever `s * h` is an integer (every integer scale, and x1.5/x2.5 on even sizes).

Example:
    >>> meta = MetaUpscale(out_channels=3)
    >>> feat, coord, cell = keras.ops.ones((1, 8, 8, 64)), keras.ops.zeros((1, 5, 2)), keras.ops.ones((1, 5, 2)) / 8
    >>> rgb = meta([feat, coord, cell])                    # (1, 5, 3)
"""

import keras
from keras import ops

from keras_sr.layers.coordinate_sampling import gather_pixels, unfold_3x3

__all__ = ["MetaUpscale", "meta_positions"]


def meta_positions(coord, cell, h, w):
    """`(lr_row, lr_col, position)` of queries: the projected LR pixel (int32) and `(1/s, dy, dx)` `(B, Q, 3)`."""
    coord = ops.cast(coord, "float32")
    cell = ops.cast(cell, "float32")
    h_f, w_f = ops.cast(h, "float32"), ops.cast(w, "float32")
    out_h = ops.round(2.0 / cell[..., 0])
    out_w = ops.round(2.0 / cell[..., 1])
    i = ops.round((coord[..., 0] + 1.0) * 0.5 * out_h - 0.5)
    j = ops.round((coord[..., 1] + 1.0) * 0.5 * out_w - 0.5)
    # i * h / H_out: integer numerator and denominator, so exact multiples land exactly on integers.
    u = i * h_f / out_h
    v = j * w_f / out_w
    row, col = ops.floor(u), ops.floor(v)
    position = ops.stack([h_f / out_h, u - row, v - col], axis=-1)
    row = ops.cast(ops.clip(row, 0.0, h_f - 1.0), "int32")
    col = ops.cast(ops.clip(col, 0.0, w_f - 1.0), "int32")
    return row, col, position


@keras.saving.register_keras_serializable(package="keras_sr")
class MetaUpscale(keras.layers.Layer):
    """`[features (B, h, w, C), coord (B, Q, 2), cell (B, Q, 2)] -> (B, Q, out_channels)`, Meta-SR's upscale.

    Args:
        out_channels: output channels (3).
        hidden_units: width of the weight-prediction hidden layer (256 in Meta-SR).
        kernel_size: 3 (the official module unfolds 3 x 3 neighbourhoods; other sizes are not supported).
        kernel_initializer: for the two Dense layers (default: PyTorch's nn.Linear init, as the official code).
    """

    def __init__(self, out_channels=3, hidden_units=256, kernel_size=3, kernel_initializer=None, **kwargs):
        super().__init__(**kwargs)
        if int(kernel_size) != 3:
            raise ValueError(f"MetaUpscale supports kernel_size 3 (as Meta-SR), got {kernel_size!r}.")
        self.out_channels = int(out_channels)
        self.hidden_units = int(hidden_units)
        self.kernel_size = 3
        if kernel_initializer is None:
            kernel_initializer = keras.initializers.VarianceScaling(1.0 / 3.0, "fan_in", "uniform")
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.hidden = keras.layers.Dense(self.hidden_units, activation="relu", name="pos2weight_0",
                                         kernel_initializer=self.kernel_initializer, dtype=self.dtype_policy)
        self.weights_head = None

    def build(self, input_shape):
        feat_shape = input_shape[0]
        if feat_shape[-1] is None:
            raise ValueError("MetaUpscale needs the feature channels known.")
        self.channels = int(feat_shape[-1])
        self.hidden.build((None, None, 3))
        self.weights_head = keras.layers.Dense(9 * self.channels * self.out_channels, name="pos2weight_1",
                                               kernel_initializer=self.kernel_initializer, dtype=self.dtype_policy)
        self.weights_head.build((None, None, self.hidden_units))

    def call(self, inputs):
        feat, coord, cell = inputs
        shape = ops.shape(feat)
        row, col, position = meta_positions(coord, cell, shape[1], shape[2])
        patches = gather_pixels(unfold_3x3(feat), row, col)  # (B, Q, 9 C)
        filters = self.weights_head(self.hidden(ops.cast(position, self.compute_dtype)))
        q_shape = ops.shape(filters)
        filters = ops.reshape(filters, (q_shape[0], q_shape[1], 9 * self.channels, self.out_channels))
        return ops.einsum("bqk,bqko->bqo", ops.cast(patches, self.compute_dtype), filters)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[1][:-1]) + (self.out_channels,)

    def get_config(self):
        config = super().get_config()
        config.update({
            "out_channels": self.out_channels,
            "hidden_units": self.hidden_units,
            "kernel_size": self.kernel_size,
            "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
        })
        return config
