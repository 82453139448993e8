"""RepeatPerReference: repeat each batch item once per reference, to match references one by one.

CIMR-SR (Yan et al., "Towards Content-independent Multi-Reference
Super-Resolution: Adaptive Pattern Matching and Feature Aggregation", ECCV
2020) matches the input against every reference separately and aggregates
the K transferred feature maps afterwards. With the references folded into
the batch (`FoldReferences`: row `b * K + k`), the input's features are
repeated the same way, so row `b * K + k` pairs item `b` with reference `k`.

Call with `[x, refs]`: `x` `(B, ...)` and the reference stack `refs`
`(B, K, ...)` (only its `K` is read). Returns `(B * K, ...)`.

Example:
    >>> q = RepeatPerReference()([query, refs])        # (B * K, h, w, C)
    >>> RepeatPerReference()([keras.ops.ones((2, 4, 4, 1)), keras.ops.ones((2, 3, 8, 8, 3))]).shape
    (6, 4, 4, 1)
"""

import keras
from keras import ops

__all__ = ["RepeatPerReference"]


@keras.saving.register_keras_serializable(package="keras_sr")
class RepeatPerReference(keras.layers.Layer):
    """`[x (B, ...), refs (B, K, ...)] -> x repeated K times per item, (B * K, ...)` (no weights)."""

    def call(self, inputs):
        x, refs = inputs
        return ops.repeat(x, ops.shape(refs)[1], axis=0)

    def compute_output_shape(self, input_shape):
        x, refs = input_shape
        batch = None if x[0] is None or refs[1] is None else x[0] * refs[1]
        return (batch,) + tuple(x[1:])
