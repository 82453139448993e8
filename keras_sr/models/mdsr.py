"""MDSR: the multi-scale deep super-resolution network of the EDSR paper.

Lim, Son, Kim, Nah, Lee, "Enhanced Deep Residual Networks for Single Image
Super-Resolution", CVPR Workshops 2017 (https://arxiv.org/abs/1707.02921),
section 3.2. Layout of the official code (EDSR-PyTorch `src/model/mdsr.py`):

    sub_mean -> head conv 3x3 (shared)
      -> per-scale pre-processing: two residual blocks with 5x5 convs
      -> body (shared): B residual blocks + conv 3x3, long skip from the pre-processed features
      -> per-scale sub-pixel upsampler (conv + shuffle, as EDSR's Upsampler)
      -> tail conv 3x3 to RGB (shared) -> add_mean

One keras model holds every branch: its outputs are a dict `{"x2": ..., "x3":
..., "x4": ...}` computed from the same LR input. Pass `scale=` (or call
`mdsr_branch(model, scale)`) for a single-output view of one branch that shares
the weights and computes only that branch, e.g. to train scales in turn as the
official code does or to evaluate one scale.

| variant  | blocks | filters | params (x2 + x3 + x4 branches)              |
|----------|--------|---------|---------------------------------------------|
| baseline | 16     | 64      | 3,227,203 (official 3,227,227 incl. MeanShift) |
| full     | 80     | 64      | 7,953,987 (official 7,954,011)              |

Example:
    >>> from keras_sr import models
    >>> model = models.build("mdsr")                              # outputs x2, x3, x4
    >>> out = model(keras.ops.ones((1, 16, 16, 3)) * 128.0)       # out["x3"]: (1, 48, 48, 3)
"""

import keras

from keras_sr.layers.mean_shift import DIV2K_RGB_MEAN, MeanShift
from keras_sr.layers.residual_block import ResidualBlock
from keras_sr.layers.subpixel_upsampling import SubPixelUpsampling
from keras_sr.models import register

__all__ = ["mdsr", "mdsr_branch", "VARIANTS"]

VARIANTS = {
    "baseline": {"num_blocks": 16, "filters": 64},
    "full": {"num_blocks": 80, "filters": 64},
}
SCALES = (2, 3, 4)


def _output_layer_name(scale):
    return f"add_mean_x{int(scale)}"


@register("mdsr")
def mdsr(
    scale=None,
    scales=SCALES,
    variant="baseline",
    num_blocks=None,
    filters=None,
    rgb_mean=DIV2K_RGB_MEAN,
    kernel_initializer="glorot_uniform",
    name=None,
):
    """Build MDSR taking `(None, None, 3)` RGB in [0, 255].

    Args:
        scale: None for the multi-scale model (dict of outputs `"x<s>"` for every
            scale in `scales`), or one of `scales` for the single-scale view.
        scales: the scales with their own pre-processing head and upsampler (2, 3, 4).
        variant: "baseline" (16 blocks) or "full" (80 blocks), both 64 filters.
        num_blocks, filters: override the variant's values.
        rgb_mean: dataset RGB mean in [0, 1] (DIV2K's).
        kernel_initializer: for every convolution.
        name: model name (default `mdsr_<variant>` or `mdsr_<variant>_x<scale>`).
    """
    if variant not in VARIANTS:
        raise ValueError(f"Unknown MDSR variant {variant!r}; choose from {', '.join(VARIANTS)}.")
    scales = tuple(int(s) for s in scales)
    if not scales or len(set(scales)) != len(scales) or any(s not in SCALES for s in scales):
        raise ValueError(f"MDSR scales must be distinct values among {SCALES}, got {scales!r}.")
    if scale is not None and int(scale) not in scales:
        raise ValueError(f"scale {scale!r} is not one of the model's scales {scales}.")
    num_blocks = int(VARIANTS[variant]["num_blocks"] if num_blocks is None else num_blocks)
    filters = int(VARIANTS[variant]["filters"] if filters is None else filters)
    conv = dict(padding="same", kernel_initializer=kernel_initializer)

    # Shared layers, called once per scale branch.
    body = [
        ResidualBlock(filters, kernel_initializer=kernel_initializer, name=f"block_{index}")
        for index in range(num_blocks)
    ]
    body_end = keras.layers.Conv2D(filters, 3, name="body_end", **conv)
    # The last conv and the mean add run in float32 under mixed precision: 0-255 outputs need the mantissa.
    tail = keras.layers.Conv2D(3, 3, name="tail", dtype="float32", **conv)

    inputs = keras.Input((None, None, 3), name="lr")
    x = MeanShift(rgb_mean, sign=-1, name="sub_mean")(inputs)
    head = keras.layers.Conv2D(filters, 3, name="head", **conv)(x)
    outputs = {}
    for s in scales:
        features = head
        for index in range(2):
            features = ResidualBlock(
                filters, kernel_size=5, kernel_initializer=kernel_initializer, name=f"pre_process_x{s}_{index}"
            )(features)
        x = features
        for block in body:
            x = block(x)
        x = keras.layers.Add(name=f"long_skip_x{s}")([body_end(x), features])
        x = SubPixelUpsampling(s, filters, kernel_initializer=kernel_initializer, name=f"upsample_x{s}")(x)
        outputs[f"x{s}"] = MeanShift(rgb_mean, sign=1, name=_output_layer_name(s), dtype="float32")(tail(x))
    model = keras.Model(inputs, outputs, name=name if (name and scale is None) else f"mdsr_{variant}")
    if scale is None:
        return model
    return mdsr_branch(model, scale, name=name)


def mdsr_branch(model, scale, name=None):
    """Single-output `keras.Model` for one scale of a multi-scale MDSR, sharing its layers and weights.

    Only the layers on that branch's path are in the returned model (and in what it saves).
    """
    try:
        output = model.get_layer(_output_layer_name(scale)).output
    except ValueError as error:
        raise ValueError(f"Model {model.name!r} has no MDSR branch for scale {scale!r}.") from error
    return keras.Model(model.input, output, name=name or f"{model.name}_x{int(scale)}")
