"""FoldReferences: a stack of K references `(B, K, H, W, C)` as a batch of `B * K` images.

Multi-reference SR models (SRNTT's pooled matching, Zhang et al. CVPR 2019;
CIMR-SR, Yan et al. ECCV 2020) take `K` references per LR image as one 5-D
input `refs` `(B, K, H, W, C)` (`keras_sr.models.refsr_inputs`). The feature
extractors are 2-D networks, so the stack is folded into the batch first:
row `b * K + k` is reference `k` of item `b` (row-major, as `reshape`).
`K` may be unknown until run time.

Example:
    >>> folded = FoldReferences()(refs)                      # (B * K, H, W, C)
    >>> FoldReferences()(keras.ops.ones((2, 3, 8, 8, 3))).shape
    (6, 8, 8, 3)
"""

import keras
from keras import ops

__all__ = ["FoldReferences"]


@keras.saving.register_keras_serializable(package="keras_sr")
class FoldReferences(keras.layers.Layer):
    """`(B, K, H, W, C) -> (B * K, H, W, C)` (no weights)."""

    def call(self, inputs):
        shape = ops.shape(inputs)
        return ops.reshape(inputs, (-1, shape[2], shape[3], inputs.shape[-1]))

    def compute_output_shape(self, input_shape):
        b, k = input_shape[0], input_shape[1]
        batch = None if b is None or k is None else b * k
        return (batch, input_shape[2], input_shape[3], input_shape[4])
