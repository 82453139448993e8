"""ReferenceAttention: attention-weighted aggregation of the textures transferred from K references.

CIMR-SR (Yan, Zhu, Li, Chen, Cheng, "Towards Content-independent
Multi-Reference Super-Resolution: Adaptive Pattern Matching and Feature
Aggregation", ECCV 2020) transfers a texture map from every reference of its
pool and merges them with attention weights derived from how well each
reference matched. No official code was released; this layer is built from
the paper's description, and the form of the weights is our choice (marked):

* weights: `softmax over k of (temperature * S_k)`, `S_k` the per-position
  match similarity (cosine) of reference `k` (`PatchSwap`), upsampled by
  nearest-neighbour repetition to the texture level; **choice** (the paper
  describes attention over references from matching confidence, not this
  exact form);
* hierarchy (the paper's coarse-to-fine pattern matching): the logit of
  reference `k` at position `p` is `t * S_k(p) + g * mean_p S_k`, a
  position-level term plus a reference-level one (how well the reference
  matches the image as a whole); **choice** of this form;
* `t` and `g`: learned scalars, initialized to 10 and 10 (**choice**): at 10 a
  cosine gap of 0.1 gives the better reference e times the weight.

Call with `[textures, similarity, batch_like]`: textures `(B * K, h, w, C)`
(row `b * K + k`), similarity `(B * K, h / s, w / s, 1)` (`s` an integer
factor), and any tensor `(B, ...)` whose batch size is `B`. Returns
`(B, h, w, C)`.

Example:
    >>> agg = ReferenceAttention(scale=4)
    >>> t1 = agg([t1_per_reference, similarity_per_reference, lr])     # (B, 4h, 4w, C1)
    >>> agg.count_params()                                            # 2 (t and g)
"""

import keras
from keras import ops

__all__ = ["ReferenceAttention"]


@keras.saving.register_keras_serializable(package="keras_sr")
class ReferenceAttention(keras.layers.Layer):
    """`sum_k softmax_k(t * S_k(p) + g * mean(S_k)) * T_k` over the K references of each item.

    Args:
        scale: texture size / similarity size (1, 2 or 4).
        initial_temperature: start value of `t` (10).
        initial_global_weight: start value of `g` (10; 0 with `trainable` off removes the global term).
    """

    def __init__(self, scale=1, initial_temperature=10.0, initial_global_weight=10.0, **kwargs):
        super().__init__(**kwargs)
        self.scale = int(scale)
        self.initial_temperature = float(initial_temperature)
        self.initial_global_weight = float(initial_global_weight)

    def build(self, input_shape):
        self.temperature = self.add_weight(name="temperature", shape=(),
                                           initializer=keras.initializers.Constant(self.initial_temperature))
        self.global_weight = self.add_weight(name="global_weight", shape=(),
                                             initializer=keras.initializers.Constant(self.initial_global_weight))

    def call(self, inputs):
        textures, similarity, batch_like = inputs
        batch = ops.shape(batch_like)[0]
        t_shape = ops.shape(textures)
        s = self.scale
        similarity = ops.cast(similarity, textures.dtype)
        overall = ops.mean(similarity, axis=(1, 2, 3), keepdims=True)  # (B*K, 1, 1, 1): the reference level
        if s > 1:
            similarity = ops.repeat(ops.repeat(similarity, s, axis=1), s, axis=2)
        logits = (similarity * ops.cast(self.temperature, textures.dtype)
                  + overall * ops.cast(self.global_weight, textures.dtype))
        logits = ops.reshape(logits, (batch, -1, t_shape[1], t_shape[2], 1))
        weights = ops.softmax(logits, axis=1)
        textures = ops.reshape(textures, (batch, -1, t_shape[1], t_shape[2], textures.shape[-1]))
        return ops.sum(weights * textures, axis=1)

    def compute_output_shape(self, input_shape):
        textures, _, batch_like = input_shape
        return (batch_like[0],) + tuple(textures[1:])

    def get_config(self):
        config = super().get_config()
        config.update({"scale": self.scale, "initial_temperature": self.initial_temperature,
                       "initial_global_weight": self.initial_global_weight})
        return config
