"""HAT: Hybrid Attention Transformer for image super-resolution.

Chen, Wang, Zhou, Qiao, Dong, "Activating More Pixels in Image Super-Resolution Transformer", CVPR 2023
(https://arxiv.org/abs/2205.04437). Layout as the official code (XPixelGroup/HAT
`hat/archs/hat_arch.py`, also spandrel's copy): SwinIR's frame (reflect padding to the window, DIV2K
mean, conv 3x3, LayerNorm, groups, LayerNorm, conv 3x3 + long skip, the classical pixel-shuffle
upsampler with LeakyReLU 0.01) with residual hybrid attention groups (RHAG: hybrid attention blocks
= window attention + 0.01 x channel attention block, then an overlapping cross-attention block).
Inputs and outputs are RGB in [0, 255] (the official models take [0, 1]).

Variants (the official option files, `options/test/HAT*_SRx4*.yml`):

| variant | embed | groups x blocks | heads | window | compress / squeeze | mlp | x4 parameters |
|---|---|---|---|---|---|---|---|
| hat | 180 | 6 x 6 | 6 | 16 | 3 / 30 | 2 | 20,772,507 |
| hat_s | 144 | 6 x 6 | 6 | 16 | 24 / 24 | 2 | 9,621,183 |
| hat_l | 180 | 12 x 6 | 6 | 16 | 3 / 30 | 2 | 40,846,575 |

(official models' `parameters()`, counted on spandrel's copy; overlap ratio 0.5, so 24x24 key
windows). Dropout and stochastic depth are not implemented (evaluation does not use them).

Example:
    >>> from keras_sr import models
    >>> model = models.build("hat", scale=4, variant="hat_s")            # 9,621,183 parameters
    >>> sr = model(keras.ops.ones((1, 20, 30, 3)) * 128.0)               # (1, 80, 120, 3)
"""

import keras

from keras_sr.layers.residual_hybrid_attention_group import ResidualHybridAttentionGroup
from keras_sr.layers.subpixel_upsampling import upsampling_steps
from keras_sr.layers.swin_transformer_block import LAYER_NORM_EPSILON
from keras_sr.models import register
from keras_sr.models.swinir import normalize_input, reconstruct

__all__ = ["hat", "VARIANTS"]

VARIANTS = {
    "hat": dict(embed_dim=180, depths=(6,) * 6, num_heads=(6,) * 6, window_size=16, compress_ratio=3,
                squeeze_factor=30, mlp_ratio=2.0),
    "hat_s": dict(embed_dim=144, depths=(6,) * 6, num_heads=(6,) * 6, window_size=16, compress_ratio=24,
                  squeeze_factor=24, mlp_ratio=2.0),
    "hat_l": dict(embed_dim=180, depths=(6,) * 12, num_heads=(6,) * 12, window_size=16, compress_ratio=3,
                  squeeze_factor=30, mlp_ratio=2.0),
}


@register("hat")
def hat(
    scale=4,
    variant="hat",
    embed_dim=None,
    depths=None,
    num_heads=None,
    window_size=None,
    compress_ratio=None,
    squeeze_factor=None,
    mlp_ratio=None,
    conv_scale=0.01,
    overlap_ratio=0.5,
    num_feat=64,
    channels=3,
    qkv_bias=True,
    kernel_initializer=None,
    conv_initializer="glorot_uniform",
    name=None,
):
    """Build HAT as a functional `keras.Model` taking `(None, None, channels)` images in [0, 255].

    Args:
        scale: 2, 3, 4 or 8.
        variant: `"hat"`, `"hat_s"` or `"hat_l"`; the next seven arguments override it when given.
        embed_dim: feature channels C.
        depths: hybrid attention blocks per group (one entry per RHAG).
        num_heads: attention heads per group.
        window_size: M (inputs are padded to a multiple of it).
        compress_ratio, squeeze_factor: of the channel attention blocks.
        mlp_ratio: MLP width over C.
        conv_scale: weight of the channel attention branch (0.01).
        overlap_ratio: OCAB key windows are `M + int(ratio * M)` wide (0.5).
        num_feat: channels of the upsampler (64).
        channels: image channels (3 RGB; 1 uses a zero mean as the official code).
        qkv_bias: bias in the qkv maps.
        kernel_initializer: of the linear maps (truncated normal, std 0.02).
        conv_initializer: of the convolutions.
        name: model name (default `<variant>_x<scale>`).
    """
    if variant not in VARIANTS:
        raise ValueError(f"HAT variant must be one of {sorted(VARIANTS)}, got {variant!r}.")
    config = dict(VARIANTS[variant])
    config.update({k: v for k, v in dict(embed_dim=embed_dim, depths=depths, num_heads=num_heads,
                                         window_size=window_size, compress_ratio=compress_ratio,
                                         squeeze_factor=squeeze_factor, mlp_ratio=mlp_ratio).items() if v is not None})
    depths, heads = tuple(int(d) for d in config["depths"]), tuple(int(h) for h in config["num_heads"])
    if len(depths) != len(heads) or not depths:
        raise ValueError(f"depths {depths} and num_heads {heads} must be non-empty and of the same length.")
    upsampling_steps(scale)  # raises for unsupported scales
    scale, channels, embed, window = int(scale), int(channels), int(config["embed_dim"]), int(config["window_size"])
    conv = dict(padding="same", kernel_initializer=conv_initializer)

    inputs = keras.Input((None, None, channels), name="lr")
    x = normalize_input(inputs, window, channels)
    shallow = keras.layers.Conv2D(embed, 3, name="conv_first", **conv)(x)
    x = keras.layers.LayerNormalization(epsilon=LAYER_NORM_EPSILON, name="patch_embed_norm")(shallow)
    for index, (depth, head) in enumerate(zip(depths, heads)):
        x = ResidualHybridAttentionGroup(depth, head, window, compress_ratio=config["compress_ratio"],
                                         squeeze_factor=config["squeeze_factor"], conv_scale=conv_scale,
                                         overlap_ratio=overlap_ratio, mlp_ratio=config["mlp_ratio"], qkv_bias=qkv_bias,
                                         kernel_initializer=kernel_initializer, conv_initializer=conv_initializer,
                                         name=f"layers_{index}")(x)
    x = keras.layers.LayerNormalization(epsilon=LAYER_NORM_EPSILON, name="norm")(x)
    x = keras.layers.Conv2D(embed, 3, name="conv_after_body", **conv)(x)
    x = keras.layers.Add(name="long_skip")([x, shallow])
    outputs = reconstruct(x, inputs, scale, channels, "pixelshuffle", num_feat=num_feat, conv_initializer=conv_initializer)
    return keras.Model(inputs, outputs, name=name or f"{variant}_x{scale}")
