"""SpatialSelfAttention: the DDPM / SR3 U-Net's self-attention over all pixels of a feature map, with a residual.

Ho et al., "Denoising Diffusion Probabilistic Models" (NeurIPS 2020), App. B
(attention at the 16x16 resolution), used by SR3 (Saharia et al. 2021):
GroupNorm -> 1x1 q, k, v -> softmax(q k^T / sqrt(C)) v over the H*W positions ->
1x1 output projection -> `(x + out) / sqrt(2)` (SR3's 1/sqrt(2) skip rescaling;
a marked choice, as in `FiLMResidualBlock`). Memory grows as (H*W)^2: use it at
low resolutions.

Example:
    >>> attn = SpatialSelfAttention(groups=32)
    >>> y = attn(keras.random.normal((2, 16, 16, 256)))     # same shape
    >>> SpatialSelfAttention(num_heads=4)
"""

import math

import keras
from keras import ops

from keras_sr.layers.film_residual_block import _groups

__all__ = ["SpatialSelfAttention"]


@keras.saving.register_keras_serializable(package="keras_sr")
class SpatialSelfAttention(keras.layers.Layer):
    """(N, H, W, C) -> (N, H, W, C).

    Args:
        num_heads: attention heads (1, as DDPM); C must be divisible by it.
        groups: GroupNorm groups (32, fewer when C is smaller).
        skip_rescale: divide the residual sum by sqrt(2).
    """

    def __init__(self, num_heads=1, groups=32, skip_rescale=True, **kwargs):
        super().__init__(**kwargs)
        self.num_heads = int(num_heads)
        self.groups = int(groups)
        self.skip_rescale = bool(skip_rescale)

    def build(self, input_shape):
        c = int(input_shape[-1])
        if c % self.num_heads:
            raise ValueError(f"SpatialSelfAttention: {c} channels are not divisible by {self.num_heads} heads.")
        self.norm = keras.layers.GroupNormalization(_groups(c, self.groups), epsilon=1e-5, name="norm",
                                                    dtype=self.dtype_policy)
        self.qkv = keras.layers.Conv2D(3 * c, 1, use_bias=False, name="qkv", dtype=self.dtype_policy)
        self.proj = keras.layers.Conv2D(c, 1, name="proj", dtype=self.dtype_policy)
        self.norm.build(input_shape)
        self.qkv.build(input_shape)
        self.proj.build(input_shape)

    def call(self, inputs):
        shape = ops.shape(inputs)
        n, h, w, c = shape[0], shape[1], shape[2], inputs.shape[-1]
        heads, d = self.num_heads, inputs.shape[-1] // self.num_heads
        qkv = ops.reshape(self.qkv(self.norm(inputs)), (n, h * w, 3, heads, d))
        q, k, v = qkv[:, :, 0], qkv[:, :, 1], qkv[:, :, 2]                 # (N, L, heads, d)
        q, k, v = (ops.transpose(t, (0, 2, 1, 3)) for t in (q, k, v))      # (N, heads, L, d)
        logits = ops.matmul(ops.cast(q, "float32"), ops.transpose(ops.cast(k, "float32"), (0, 1, 3, 2)))
        weights = ops.softmax(logits / math.sqrt(d), axis=-1)
        out = ops.matmul(weights, ops.cast(v, "float32"))                  # (N, heads, L, d)
        out = ops.reshape(ops.transpose(out, (0, 2, 1, 3)), (n, h, w, c))
        out = inputs + self.proj(ops.cast(out, inputs.dtype))
        return out * (1.0 / math.sqrt(2.0)) if self.skip_rescale else out

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update({"num_heads": self.num_heads, "groups": self.groups, "skip_rescale": self.skip_rescale})
        return config
