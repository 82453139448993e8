"""SwinIR: image super-resolution with residual Swin Transformer blocks.

Liang, Cao, Sun, Zhang, Van Gool, Timofte, "SwinIR: Image Restoration Using Swin Transformer",
ICCVW 2021 (https://arxiv.org/abs/2108.10257). Layout as the official code (JingyunLiang/SwinIR
`models/network_swinir.py`, also spandrel's copy):

    reflect-pad to a multiple of the window -> (x / 255 - DIV2K mean) -> conv 3x3 (C) -> LayerNorm
    -> RSTB x K -> LayerNorm -> conv 3x3, + the first conv's output (long skip)
    -> upsampler -> + mean, * 255 -> crop to scale * (H, W)

Upsamplers: `"pixelshuffle"` (classical SR: conv 3x3 to 64 + LeakyReLU with slope 0.01, PyTorch's
default and what the official `nn.LeakyReLU(inplace=True)` uses, then EDSR's conv + pixel-shuffle
steps, conv 3x3 to RGB) and `"pixelshuffledirect"` (lightweight SR: one conv 3x3 to `3 * s^2`
channels and one pixel shuffle). Inputs and outputs are RGB in [0, 255] (the official models take
[0, 1], `img_range=1`).

Variants (the official test configurations, `main_test_swinir.py`):

| variant | embed | RSTB x STL | heads | window | mlp | upsampler | x2 / x3 / x4 parameters |
|---|---|---|---|---|---|---|---|
| classical | 180 | 6 x 6 | 6 | 8 | 2 | pixelshuffle | 11,752,487 / 11,937,127 / 11,900,199 |
| lightweight | 60 | 4 x 6 | 6 | 8 | 2 | pixelshuffledirect | 910,152 / 918,267 / 929,628 |

Counts are the official models' `parameters()` (counted on spandrel's copy). The paper's
lightweight 878K (x2) / 897K (x4) leave out the 32,400 relative-position bias entries
(24 blocks x 225 x 6 heads). What the paper leaves open or keras-sr chooses: dropout and stochastic
depth (0.1 in the official training) are not implemented; the official blocks shrink the window
when their training `img_size` is not larger than it, keras-sr always uses `window_size`.

Example:
    >>> from keras_sr import models
    >>> model = models.build("swinir", scale=4, variant="lightweight")    # 929,628 parameters
    >>> sr = model(keras.ops.ones((1, 20, 30, 3)) * 128.0)               # (1, 80, 120, 3)
"""

import keras

from keras_sr.layers.depth_to_space import DepthToSpace
from keras_sr.layers.mean_shift import DIV2K_RGB_MEAN, MeanShift
from keras_sr.layers.residual_swin_transformer_block import ResidualSwinTransformerBlock, residual_connection_convs
from keras_sr.layers.subpixel_upsampling import SubPixelUpsampling, upsampling_steps
from keras_sr.layers.swin_transformer_block import LAYER_NORM_EPSILON
from keras_sr.layers.window_padding import CropToScaledSize, PadToMultiple
from keras_sr.models import register

__all__ = ["swinir", "VARIANTS", "UPSAMPLERS", "normalize_input", "reconstruct"]

VARIANTS = {
    "classical": dict(embed_dim=180, depths=(6,) * 6, num_heads=(6,) * 6, window_size=8, mlp_ratio=2.0,
                      upsampler="pixelshuffle"),
    "lightweight": dict(embed_dim=60, depths=(6,) * 4, num_heads=(6,) * 4, window_size=8, mlp_ratio=2.0,
                        upsampler="pixelshuffledirect"),
}
UPSAMPLERS = ("pixelshuffle", "pixelshuffledirect")
NUM_FEAT = 64  # channels of the classical upsampler (the official `num_feat`)


def normalize_input(inputs, window_size, channels, rgb_mean=DIV2K_RGB_MEAN):
    """Reflect-pad to the window, then `x / 255 - mean` (zero mean for one channel, as the official code)."""
    x = PadToMultiple(window_size, name="pad")(inputs)
    x = keras.layers.Rescaling(1.0 / 255.0, name="to_unit_range")(x)
    return MeanShift(_mean(channels, rgb_mean), (1.0,) * channels, sign=-1, rgb_range=1.0, name="sub_mean")(x)


def reconstruct(x, inputs, scale, channels, upsampler, num_feat=NUM_FEAT, conv_initializer="glorot_uniform",
                rgb_mean=DIV2K_RGB_MEAN):
    """The official upsamplers, then `(x + mean) * 255` and the crop of the padding (float32 under mixed precision)."""
    conv = dict(padding="same", kernel_initializer=conv_initializer)
    if upsampler == "pixelshuffle":
        x = keras.layers.Conv2D(num_feat, 3, name="conv_before_upsample", **conv)(x)
        x = keras.layers.LeakyReLU(negative_slope=0.01, name="conv_before_upsample_lrelu")(x)
        x = SubPixelUpsampling(scale, num_feat, kernel_initializer=conv_initializer, name="upsample")(x)
        x = keras.layers.Conv2D(channels, 3, name="conv_last", dtype="float32", **conv)(x)
    elif upsampler == "pixelshuffledirect":
        x = keras.layers.Conv2D(channels * scale * scale, 3, name="upsample", dtype="float32", **conv)(x)
        x = DepthToSpace(scale, name="pixel_shuffle", dtype="float32")(x)
    else:
        raise ValueError(f"upsampler must be one of {UPSAMPLERS}, got {upsampler!r}.")
    x = MeanShift(_mean(channels, rgb_mean), (1.0,) * channels, sign=1, rgb_range=1.0, name="add_mean",
                  dtype="float32")(x)
    x = keras.layers.Rescaling(255.0, name="to_pixel_range", dtype="float32")(x)
    return CropToScaledSize(scale, name="crop", dtype="float32")([x, inputs])


def _mean(channels, rgb_mean):
    return tuple(rgb_mean) if channels == 3 else (0.0,) * channels


def _resolve(variant, overrides):
    if variant not in VARIANTS:
        raise ValueError(f"SwinIR variant must be one of {sorted(VARIANTS)}, got {variant!r}.")
    config = dict(VARIANTS[variant])
    config.update({k: v for k, v in overrides.items() if v is not None})
    depths, heads = tuple(int(d) for d in config["depths"]), tuple(int(h) for h in config["num_heads"])
    if len(depths) != len(heads) or not depths:
        raise ValueError(f"depths {depths} and num_heads {heads} must be non-empty and of the same length.")
    config.update(depths=depths, num_heads=heads)
    return config


@register("swinir")
def swinir(
    scale=4,
    variant="classical",
    embed_dim=None,
    depths=None,
    num_heads=None,
    window_size=None,
    mlp_ratio=None,
    upsampler=None,
    resi_connection="1conv",
    channels=3,
    qkv_bias=True,
    kernel_initializer=None,
    conv_initializer="glorot_uniform",
    name=None,
):
    """Build SwinIR as a functional `keras.Model` taking `(None, None, channels)` images in [0, 255].

    Args:
        scale: 2, 3, 4 or 8 (`pixelshuffledirect`: any integer >= 2).
        variant: `"classical"` or `"lightweight"`; the next six arguments override it when given.
        embed_dim: feature channels C.
        depths: Swin Transformer layers per RSTB (one entry per RSTB).
        num_heads: attention heads per RSTB.
        window_size: attention window M (inputs are padded to a multiple of it).
        mlp_ratio: MLP width over C.
        upsampler: `"pixelshuffle"` or `"pixelshuffledirect"`.
        resi_connection: `"1conv"` or `"3conv"` (the conv at the end of each RSTB and of the body).
        channels: image channels (3 RGB; 1 uses a zero mean as the official code).
        qkv_bias: bias in the attention qkv maps.
        kernel_initializer: of the linear maps (truncated normal, std 0.02, as the official init).
        conv_initializer: of the convolutions.
        name: model name (default `swinir_<variant>_x<scale>`).
    """
    config = _resolve(variant, dict(embed_dim=embed_dim, depths=depths, num_heads=num_heads, window_size=window_size,
                                    mlp_ratio=mlp_ratio, upsampler=upsampler))
    scale, channels, embed = int(scale), int(channels), int(config["embed_dim"])
    if config["upsampler"] not in UPSAMPLERS:
        raise ValueError(f"upsampler must be one of {UPSAMPLERS}, got {config['upsampler']!r}.")
    if config["upsampler"] == "pixelshuffle":
        upsampling_steps(scale)  # raises for unsupported scales
    elif scale < 2:
        raise ValueError(f"SwinIR needs scale >= 2, got {scale}.")
    window = int(config["window_size"])
    conv = dict(padding="same", kernel_initializer=conv_initializer)

    inputs = keras.Input((None, None, channels), name="lr")
    x = normalize_input(inputs, window, channels)
    shallow = keras.layers.Conv2D(embed, 3, name="conv_first", **conv)(x)
    x = keras.layers.LayerNormalization(epsilon=LAYER_NORM_EPSILON, name="patch_embed_norm")(shallow)
    for index, (depth, heads) in enumerate(zip(config["depths"], config["num_heads"])):
        x = ResidualSwinTransformerBlock(depth, heads, window, mlp_ratio=config["mlp_ratio"], qkv_bias=qkv_bias,
                                         resi_connection=resi_connection, kernel_initializer=kernel_initializer,
                                         conv_initializer=conv_initializer, name=f"layers_{index}")(x)
    x = keras.layers.LayerNormalization(epsilon=LAYER_NORM_EPSILON, name="norm")(x)
    for layer in residual_connection_convs(resi_connection, embed, conv_initializer, None, prefix="conv_after_body"):
        x = layer(x)
    x = keras.layers.Add(name="long_skip")([x, shallow])
    outputs = reconstruct(x, inputs, scale, channels, config["upsampler"], conv_initializer=conv_initializer)
    return keras.Model(inputs, outputs, name=name or f"swinir_{variant}_x{scale}")
