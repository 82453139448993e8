"""WDSR: wide-activation super-resolution networks (WDSR-A and WDSR-B).

Yu, Fan, Yang, Xu, Wang, Wang, Huang, "Wide Activation for Efficient and
Accurate Image Super-Resolution", arXiv 2018 (https://arxiv.org/abs/1808.08718).
Layout of the official code (JiahuiYu/wdsr_ntire2018 `wdsr_a.py`, `wdsr_b.py`),
every convolution weight-normalized:

    x = (rgb - 255 * mean) / 127.5
    body: conv 3x3 -> N wide-activation blocks -> conv 3x3 to 3 * s^2 -> pixel shuffle s
    skip: conv 5x5 to 3 * s^2 -> pixel shuffle s
    out = (body + skip) * 127.5 + 255 * mean

Defaults are the official baseline: 16 blocks, 32 filters; WDSR-A expands to
128 inside each block (`--n_feats 32 --block_feats 128`, 1,190,100 parameters
at x2 as in the official README), WDSR-B expands x6 and uses the hard-coded
linear low-rank ratio 0.8 of `wdsr_b.py`. Inputs and outputs are RGB in [0, 255].

Example:
    >>> from keras_sr import models
    >>> model = models.build("wdsr", scale=2, variant="a")     # 1,190,100 params
    >>> sr = model(keras.ops.ones((1, 24, 24, 3)) * 128.0)     # (1, 48, 48, 3)
"""

import keras

from keras_sr.layers.depth_to_space import DepthToSpace
from keras_sr.layers.mean_shift import DIV2K_RGB_MEAN
from keras_sr.layers.weight_normalization import WeightNormalization
from keras_sr.layers.wide_activation import WideActivationBlockA, WideActivationBlockB
from keras_sr.models import register

__all__ = ["wdsr", "wdsr_config", "VARIANTS"]

VARIANTS = {
    "a": {"num_blocks": 16, "filters": 32, "expansion": 4.0},
    "b": {"num_blocks": 16, "filters": 32, "expansion": 6.0},
}
SCALES = (2, 3, 4, 8)


def wdsr_config(scale=2, variant="a", num_blocks=None, filters=None, expansion=None):
    """The resolved builder config: variant defaults with explicit overrides applied."""
    variant = str(variant).lower()
    if variant not in VARIANTS:
        raise ValueError(f"Unknown WDSR variant {variant!r}; choose from {', '.join(VARIANTS)}.")
    if int(scale) not in SCALES:
        raise ValueError(f"WDSR supports scales {SCALES}, got {scale!r}.")
    config = {"scale": int(scale), "variant": variant, **VARIANTS[variant]}
    for key, value in (("num_blocks", num_blocks), ("filters", filters), ("expansion", expansion)):
        if value is not None:
            config[key] = value
    config["num_blocks"], config["filters"] = int(config["num_blocks"]), int(config["filters"])
    config["expansion"] = float(config["expansion"])
    return config


def _weight_norm_conv(filters, kernel_size, name, kernel_initializer, dtype=None):
    conv = keras.layers.Conv2D(
        filters, kernel_size, padding="same", kernel_initializer=kernel_initializer, dtype=dtype, name=name
    )
    return WeightNormalization(conv, dtype=dtype, name=f"weight_norm_{name}")


@register("wdsr")
def wdsr(
    scale=2,
    variant="a",
    num_blocks=None,
    filters=None,
    expansion=None,
    low_rank_ratio=0.8,
    residual_scale=1.0,
    rgb_mean=DIV2K_RGB_MEAN,
    kernel_initializer="glorot_uniform",
    name=None,
):
    """Build WDSR-A or WDSR-B as a functional `keras.Model` taking `(None, None, 3)` RGB in [0, 255].

    Args:
        scale: 2, 3, 4 or 8 (one pixel shuffle by the whole factor, as the official code).
        variant: "a" (3x3 -> ReLU -> 3x3 blocks) or "b" (1x1 -> ReLU -> 1x1 low-rank -> 3x3 blocks).
        num_blocks: residual blocks (16).
        filters: channels between blocks (`n_feats`, 32).
        expansion: width multiplier inside blocks (A: 4, i.e. `block_feats` 128; B: 6).
        low_rank_ratio: WDSR-B low-rank channels as a fraction of `filters` (0.8).
        residual_scale: `res_scale` on every block's residual (1.0).
        rgb_mean: dataset RGB mean in [0, 1] (DIV2K's).
        kernel_initializer: for every convolution (the direction `v`; `g` starts at `||v||`).
        name: model name (default `wdsr_<variant>_x<scale>`).
    """
    config = wdsr_config(scale, variant, num_blocks, filters, expansion)
    s, f = config["scale"], config["filters"]
    mean = [255.0 * float(m) for m in rgb_mean]
    inputs = keras.Input((None, None, 3), name="lr")
    x = keras.layers.Rescaling(1.0 / 127.5, offset=[-m / 127.5 for m in mean], name="normalize")(inputs)
    skip = _weight_norm_conv(3 * s * s, 5, "skip_conv", kernel_initializer)(x)
    skip = DepthToSpace(s, name="skip_shuffle")(skip)
    x = _weight_norm_conv(f, 3, "head", kernel_initializer)(x)
    for index in range(config["num_blocks"]):
        common = dict(residual_scale=residual_scale, kernel_initializer=kernel_initializer, name=f"block_{index}")
        if config["variant"] == "a":
            x = WideActivationBlockA(expansion=config["expansion"], **common)(x)
        else:
            x = WideActivationBlockB(expansion=config["expansion"], low_rank_ratio=low_rank_ratio, **common)(x)
    x = _weight_norm_conv(3 * s * s, 3, "tail", kernel_initializer)(x)
    x = DepthToSpace(s, name="tail_shuffle")(x)
    # The sum and the de-normalization run in float32 under mixed precision: 0-255 outputs need the mantissa.
    x = keras.layers.Add(name="add_skip", dtype="float32")([x, skip])
    outputs = keras.layers.Rescaling(127.5, offset=mean, name="denormalize", dtype="float32")(x)
    return keras.Model(inputs, outputs, name=name or f"wdsr_{config['variant']}_x{s}")
