"""NoiseLevelEmbedding: the sinusoidal embedding of SR3's continuous noise level gamma (no weights).

Saharia et al., "Image Super-Resolution via Iterative Refinement" (SR3, 2021),
Sec. 2.4: the denoiser is conditioned on the noise level gamma itself (not a
step index), so the inference schedule can differ from training's. The paper
does not give the embedding; keras-sr uses the Transformer sinusoid of
`scale * gamma` (Vaswani et al. 2017), as WaveGrad (Chen et al. 2021, which
SR3 follows for the continuous noise level) embeds its noise level with a
scale of 5000 (a marked choice): `[sin(scale * g * f_k), cos(scale * g * f_k)]`,
`f_k = 10000 ** (-k / (dim / 2))`.

Example:
    >>> emb = NoiseLevelEmbedding(128)
    >>> e = emb(keras.ops.convert_to_tensor([[0.5], [0.99]]))     # (2, 128)
    >>> NoiseLevelEmbedding(64, scale=1000.0)
"""

import math

import keras
from keras import ops

__all__ = ["NoiseLevelEmbedding"]


@keras.saving.register_keras_serializable(package="keras_sr")
class NoiseLevelEmbedding(keras.layers.Layer):
    """(N, 1) noise levels -> (N, dim) sinusoidal features.

    Args:
        dim: even embedding size.
        scale: multiplier of gamma before the sinusoids (5000, WaveGrad's).
    """

    def __init__(self, dim, scale=5000.0, **kwargs):
        super().__init__(**kwargs)
        if int(dim) % 2:
            raise ValueError(f"NoiseLevelEmbedding dim must be even, got {dim}.")
        self.dim = int(dim)
        self.scale = float(scale)

    def call(self, inputs):
        half = self.dim // 2
        freqs = ops.exp(-math.log(10000.0) * ops.arange(half, dtype="float32") / half)
        g = ops.reshape(ops.cast(inputs, "float32"), (-1, 1)) * self.scale
        angles = g * freqs[None, :]
        return ops.cast(ops.concatenate([ops.sin(angles), ops.cos(angles)], axis=-1), self.compute_dtype)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.dim)

    def get_config(self):
        config = super().get_config()
        config.update({"dim": self.dim, "scale": self.scale})
        return config
