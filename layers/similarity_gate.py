"""SimilarityGate: texture maps weighted by their match confidence, `T * sigmoid(a * up(S) + b)`.

SRNTT's weighted variant (Zhang et al., CVPR 2019, Sec. 3.2; official
`SRNTT/model.py` with `weights` and `concat=True`: variables `small/a`,
`small/b`, ... initialized to 1 and 0, the similarity map bicubic-upsampled
to each level) multiplies every swapped texture map by a learned sigmoid of
the matching similarity. E2ENT (Xie et al., ECCV 2020) uses the same gate to
let the reconstruction loss reach the matching features (the similarity is
differentiable with respect to them, `PatchSwap`).

Call with `[textures, similarity]`: `(B, h, w, C)` and `(B, h / scale, w / scale, 1)`.

Example:
    >>> gate = SimilarityGate(scale=2)
    >>> t2 = gate([t2, similarity])           # same shape as t2
    >>> gate.count_params()                   # 2 (a and b)
"""

import keras
from keras import ops

from keras_sr.layers.texture_transformer import bicubic_upsample

__all__ = ["SimilarityGate"]


@keras.saving.register_keras_serializable(package="keras_sr")
class SimilarityGate(keras.layers.Layer):
    """`textures * sigmoid(a * bicubic_up(similarity, scale) + b)` with learned scalars `a` (1) and `b` (0)."""

    def __init__(self, scale=1, **kwargs):
        super().__init__(**kwargs)
        self.scale = int(scale)

    def build(self, input_shape):
        self.a = self.add_weight(name="a", shape=(), initializer=keras.initializers.Constant(1.0))
        self.b = self.add_weight(name="b", shape=(), initializer=keras.initializers.Constant(0.0))

    def call(self, inputs):
        textures, similarity = inputs
        similarity = bicubic_upsample(ops.cast(similarity, textures.dtype), self.scale)
        a, b = ops.cast(self.a, textures.dtype), ops.cast(self.b, textures.dtype)
        return textures * ops.sigmoid(a * similarity + b)

    def compute_output_shape(self, input_shape):
        return input_shape[0]

    def get_config(self):
        config = super().get_config()
        config.update({"scale": self.scale})
        return config
