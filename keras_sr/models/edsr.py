"""EDSR: Enhanced Deep Residual Networks for Single Image Super-Resolution.

Lim, Son, Kim, Nah, Lee, CVPR Workshops 2017 (NTIRE winner). Head conv ->
`num_blocks` residual blocks without batch norm (`res_scale` on each residual)
-> conv, plus a long skip -> sub-pixel upsampler -> tail conv, with the DIV2K
RGB mean subtracted at the input and added back at the output. Inputs and
outputs are RGB in [0, 255], any size.

Variants (the official `EDSR-PyTorch` configurations):

| variant  | blocks | filters | res_scale | params x2 / x3 / x4      |
|----------|--------|---------|-----------|--------------------------|
| baseline | 16     | 64      | 1.0       | 1.37M / 1.55M / 1.52M    |
| full     | 32     | 256     | 0.1       | 40.7M / 43.7M / 43.1M    |

Example:
    >>> from keras_sr import models
    >>> model = models.build("edsr", scale=4, variant="baseline")
    >>> sr = model(keras.ops.ones((1, 24, 24, 3)) * 128.0)        # (1, 96, 96, 3)
"""

import keras

from keras_sr.layers.mean_shift import DIV2K_RGB_MEAN, MeanShift
from keras_sr.layers.residual_block import ResidualBlock
from keras_sr.layers.subpixel_upsampling import SubPixelUpsampling
from keras_sr.models import register

__all__ = ["edsr", "edsr_config", "VARIANTS", "official_parameter_count"]

VARIANTS = {
    "baseline": {"num_blocks": 16, "filters": 64, "res_scale": 1.0},
    "full": {"num_blocks": 32, "filters": 256, "res_scale": 0.1},
}
SCALES = (2, 3, 4, 8)


def edsr_config(scale=4, variant="baseline", num_blocks=None, filters=None, res_scale=None):
    """The resolved builder config: variant defaults with explicit overrides applied."""
    if variant not in VARIANTS:
        raise ValueError(f"Unknown EDSR variant {variant!r}; choose from {', '.join(VARIANTS)}.")
    if int(scale) not in SCALES:
        raise ValueError(f"EDSR supports scales {SCALES}, got {scale!r}.")
    config = {"scale": int(scale), "variant": variant, **VARIANTS[variant]}
    for key, value in (("num_blocks", num_blocks), ("filters", filters), ("res_scale", res_scale)):
        if value is not None:
            config[key] = value
    config["num_blocks"] = int(config["num_blocks"])
    config["filters"] = int(config["filters"])
    config["res_scale"] = float(config["res_scale"])
    return config


def official_parameter_count(scale, num_blocks, filters, include_mean_shift=False):
    """Parameters of the official PyTorch EDSR (`EDSR-PyTorch/src/model/edsr.py`), by formula.

    3x3 convs with bias: head 3->F, 2 convs per block F->F, body-end F->F,
    upsampler F->4F per x2 step (F->9F for x3), tail F->3. The official model
    also holds two frozen 1x1 MeanShift convs (12 parameters each), which
    `sum(p.numel() for p in model.parameters())` counts; keras-sr implements
    them as constant offsets (`include_mean_shift=True` adds them back).
    """

    def conv(cin, cout, k=3):
        return k * k * cin * cout + cout

    total = conv(3, filters) + 2 * num_blocks * conv(filters, filters) + conv(filters, filters)
    if scale == 3:
        total += conv(filters, 9 * filters)
    else:
        total += (scale.bit_length() - 1) * conv(filters, 4 * filters)
    total += conv(filters, 3)
    return total + (24 if include_mean_shift else 0)


def pytorch_conv_initializer():
    """PyTorch's default `Conv2d` weight init (kaiming_uniform, a=sqrt(5)): U(+-1/sqrt(fan_in)), as official EDSR."""
    return keras.initializers.VarianceScaling(scale=1.0 / 3.0, mode="fan_in", distribution="uniform")


@register("edsr")
def edsr(scale=4, variant="baseline", num_blocks=None, filters=None, res_scale=None, rgb_mean=DIV2K_RGB_MEAN,
         kernel_initializer=None, name=None):
    """Build EDSR as a functional `keras.Model` taking `(None, None, 3)` RGB in [0, 255].

    Args:
        scale: 2, 3, 4 (or 8).
        variant: "baseline" (16 blocks, 64 filters) or "full" (32 blocks, 256 filters, res_scale 0.1).
        num_blocks, filters, res_scale: override the variant's values.
        rgb_mean: dataset RGB mean in [0, 1] (DIV2K's).
        kernel_initializer: for every conv (default: PyTorch's default conv init, as the official
            model trains with; it keeps the 16-32 un-normalized residual blocks near identity at the start).
        name: model name (default `edsr_<variant>_x<scale>`).
    """
    config = edsr_config(scale, variant, num_blocks, filters, res_scale)
    f = config["filters"]
    kernel_initializer = kernel_initializer or pytorch_conv_initializer()
    conv = dict(padding="same", kernel_initializer=kernel_initializer)
    inputs = keras.Input((None, None, 3), name="lr")
    x = MeanShift(rgb_mean, sign=-1, name="sub_mean")(inputs)
    head = keras.layers.Conv2D(f, 3, name="head", **conv)(x)
    x = head
    for i in range(config["num_blocks"]):
        x = ResidualBlock(f, res_scale=config["res_scale"], kernel_initializer=kernel_initializer, name=f"block_{i}")(x)
    x = keras.layers.Conv2D(f, 3, name="body_end", **conv)(x)
    x = keras.layers.Add(name="long_skip")([x, head])
    x = SubPixelUpsampling(config["scale"], f, kernel_initializer=kernel_initializer, name="upsample")(x)
    # The last conv and the mean add run in float32 under mixed precision: 0-255 outputs need the mantissa.
    x = keras.layers.Conv2D(3, 3, name="tail", dtype="float32", **conv)(x)
    outputs = MeanShift(rgb_mean, sign=1, name="add_mean", dtype="float32")(x)
    return keras.Model(inputs, outputs, name=name or f"edsr_{config['variant']}_x{config['scale']}")
