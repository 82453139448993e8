"""FiLMResidualBlock: SR3's U-Net residual block, conditioned on the noise-level embedding by a feature-wise affine.

Saharia et al., "Image Super-Resolution via Iterative Refinement" (SR3, 2021),
Sec. 4 / App. A: the DDPM U-Net (Ho et al. 2020) with BigGAN-style residual
blocks and skip connections rescaled by 1/sqrt(2). No official code exists;
written from the papers: GroupNorm -> swish -> conv3x3, then the FiLM affine of
the embedding `h * (1 + scale) + shift` (Perez et al. 2018; `Dense(2 *
filters)`), GroupNorm -> swish -> dropout -> conv3x3; a 1x1 conv on the skip
when the channels change; `(h + skip) / sqrt(2)`. Marked choices (the paper
leaves them open): FiLM with scale and shift (DDPM adds a shift only), the
1/sqrt(2) on every residual sum, GroupNorm groups `min(groups, channels)`.

Example:
    >>> block = FiLMResidualBlock(128, dropout=0.2)
    >>> y = block([keras.random.normal((2, 16, 16, 64)), keras.random.normal((2, 512))])   # (2, 16, 16, 128)
    >>> FiLMResidualBlock(64, groups=8)
"""

import math

import keras
from keras import ops

__all__ = ["FiLMResidualBlock"]


def _groups(channels, groups):
    g = min(int(groups), int(channels))
    while channels % g:
        g -= 1
    return g


@keras.saving.register_keras_serializable(package="keras_sr")
class FiLMResidualBlock(keras.layers.Layer):
    """Inputs `[x (N, H, W, C), embedding (N, E)]` -> `(N, H, W, filters)`.

    Args:
        filters: output channels.
        dropout: dropout rate before the second conv (training only).
        groups: GroupNorm groups (32; fewer when the channels are fewer).
        skip_rescale: divide the residual sum by sqrt(2).
    """

    def __init__(self, filters, dropout=0.0, groups=32, skip_rescale=True, **kwargs):
        super().__init__(**kwargs)
        self.filters = int(filters)
        self.dropout = float(dropout)
        self.groups = int(groups)
        self.skip_rescale = bool(skip_rescale)

    def build(self, input_shape):
        x_shape, e_shape = input_shape
        cin = int(x_shape[-1])
        common = dict(dtype=self.dtype_policy)
        self.norm1 = keras.layers.GroupNormalization(_groups(cin, self.groups), epsilon=1e-5, name="norm1", **common)
        self.conv1 = keras.layers.Conv2D(self.filters, 3, padding="same", name="conv1", **common)
        self.film = keras.layers.Dense(2 * self.filters, name="film", **common)
        self.norm2 = keras.layers.GroupNormalization(_groups(self.filters, self.groups), epsilon=1e-5, name="norm2",
                                                     **common)
        self.drop = keras.layers.Dropout(self.dropout, name="dropout", **common)
        self.conv2 = keras.layers.Conv2D(self.filters, 3, padding="same", name="conv2", **common)
        self.norm1.build(x_shape)
        self.conv1.build(x_shape)
        self.film.build(e_shape)
        h_shape = tuple(x_shape[:-1]) + (self.filters,)
        self.norm2.build(h_shape)
        self.conv2.build(h_shape)
        self.skip = None
        if cin != self.filters:
            self.skip = keras.layers.Conv2D(self.filters, 1, name="skip", **common)
            self.skip.build(x_shape)

    def call(self, inputs, training=False):
        x, emb = inputs
        h = self.conv1(ops.silu(self.norm1(x)))
        film = self.film(ops.silu(emb))
        scale, shift = film[:, None, None, :self.filters], film[:, None, None, self.filters:]
        h = h * (1.0 + scale) + shift
        h = self.conv2(self.drop(ops.silu(self.norm2(h)), training=training))
        skip = x if self.skip is None else self.skip(x)
        out = h + skip
        return out * (1.0 / math.sqrt(2.0)) if self.skip_rescale else out

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[0][:-1]) + (self.filters,)

    def get_config(self):
        config = super().get_config()
        config.update({"filters": self.filters, "dropout": self.dropout, "groups": self.groups,
                       "skip_rescale": self.skip_rescale})
        return config
