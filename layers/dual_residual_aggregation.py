"""DualResidualAggregation: MASA-SR's dual residual aggregation module (DRAM), LR and x2 reference features fused.

Lu, Li, Jiang, Tai, Jia, "MASA-SR: Matching Acceleration and Spatial
Adaptation for Reference-Based Image Super-Resolution", CVPR 2021
(https://arxiv.org/abs/2106.02299), Sec. 3.3, and the official `DRAM`
(github.com/dvlab-research/MASA-SR, `models/archs/MASA_arch.py`). For LR
features `x` (h x w) and reference features `r` (2h x 2w):

    a = relu(up_a(relu(down_a(r)) - x)) + r            # reference branch
    b = relu(up_b((x - relu(down_b(r))) + x))          # LR branch
    out = relu(conv3x3(concat(a, b)))                   # 2h x 2w

`down` is a 3x3 stride-2 conv with padding 1 and `up` PyTorch's
`ConvTranspose2d(3, stride=2, padding=1, output_padding=1)`; both are written
with explicit padding/cropping here (a Keras "same" stride-2 conv pads
asymmetrically, which would shift the grid by one pixel against the official
network).

Example:
    >>> dram = DualResidualAggregation(64)
    >>> fused = dram([lr_features, reference_x2])        # (B, 2h, 2w, 64)
"""

import keras
from keras import ops

from keras_sr.layers.spatial_adaptation import masa_conv_initializer

__all__ = ["DualResidualAggregation"]


@keras.saving.register_keras_serializable(package="keras_sr")
class DualResidualAggregation(keras.layers.Layer):
    """`[x (h, w), ref (2h, 2w)] -> (2h, 2w)` features (MASA-SR's DRAM).

    Args:
        filters: channels of both inputs and the output (64 in MASA-SR).
        kernel_initializer: of every conv (default: MASA-SR's normal init).

    Example:
        >>> dram = DualResidualAggregation(8)
        >>> dram([keras.random.normal((1, 4, 5, 8)), keras.random.normal((1, 8, 10, 8))]).shape   # (1, 8, 10, 8)
    """

    def __init__(self, filters, kernel_initializer=None, **kwargs):
        super().__init__(**kwargs)
        self.filters = int(filters)
        self.kernel_initializer = keras.initializers.get(kernel_initializer or masa_conv_initializer(3, self.filters))
        common = dict(kernel_initializer=self.kernel_initializer, dtype=self.dtype_policy)
        f = self.filters
        self.conv_down_a = keras.layers.Conv2D(f, 3, strides=2, name="conv_down_a", **common)
        self.conv_up_a = keras.layers.Conv2DTranspose(f, 3, strides=2, name="conv_up_a", **common)
        self.conv_down_b = keras.layers.Conv2D(f, 3, strides=2, name="conv_down_b", **common)
        self.conv_up_b = keras.layers.Conv2DTranspose(f, 3, strides=2, name="conv_up_b", **common)
        self.conv_cat = keras.layers.Conv2D(f, 3, padding="same", name="conv_cat", **common)

    def build(self, input_shape):
        lr, ref = input_shape
        if lr[-1] != self.filters or ref[-1] != self.filters:
            raise ValueError(f"DualResidualAggregation({self.filters}) needs {self.filters} channels, got "
                             f"{lr[-1]}, {ref[-1]}.")
        feat = (None, None, None, self.filters)
        for layer in (self.conv_down_a, self.conv_up_a, self.conv_down_b, self.conv_up_b):
            layer.build(feat)
        self.conv_cat.build((None, None, None, 2 * self.filters))

    @staticmethod
    def _down(conv, x):
        return conv(ops.pad(x, [[0, 0], [1, 1], [1, 1], [0, 0]]))  # PyTorch's symmetric padding 1

    @staticmethod
    def _up(conv, x):
        return conv(x)[:, 1:, 1:, :]  # ConvTranspose2d(padding=1, output_padding=1): drop the first row/column

    def call(self, inputs):
        lr, ref = inputs
        res_a = ops.relu(self._down(self.conv_down_a, ref)) - lr
        out_a = ops.relu(self._up(self.conv_up_a, res_a)) + ref
        res_b = lr - ops.relu(self._down(self.conv_down_b, ref))
        out_b = ops.relu(self._up(self.conv_up_b, res_b + lr))
        return ops.relu(self.conv_cat(ops.concatenate([out_a, out_b], axis=-1)))

    def compute_output_shape(self, input_shape):
        return input_shape[1]

    def get_config(self):
        config = super().get_config()
        config.update({"filters": self.filters,
                       "kernel_initializer": keras.initializers.serialize(self.kernel_initializer)})
        return config
