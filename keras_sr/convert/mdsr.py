"""MDSR from EDSR-PyTorch checkpoints (`mdsr_baseline-a00cab12.pt`, `mdsr-4a78bedf.pt`).

Lim et al., "Enhanced Deep Residual Networks for Single Image Super-Resolution",
CVPRW 2017, section 3.2; official code EDSR-PyTorch `src/model/mdsr.py`. Layout:

    sub_mean / add_mean                 frozen MeanShift (rgb_range 255)
    head.0                              conv 3 -> F
    pre_process.{s}.{0,1}.body.{0,2}    two 5x5 ResBlocks per scale branch s
    body.{i}.body.{0,2}, body.{n}       shared ResBlocks and the conv before the long skip
    upsample.{s}.{0,2,...}              one Upsampler per branch
    tail.0                              shared conv F -> 3

Branch `s` is the `s`-th entry of the training `--scale` list (2+3+4 for the
released files); the scale of each branch is read from its upsampler's shapes.
The converted model is keras-sr's multi-output MDSR (`{"x2": ..., "x3": ...,
"x4": ...}`, all weights used); `from_checkpoint(path, scale=4)` returns the
single-output x4 branch (`mdsr_branch`), the model `tools.evaluate` and
`keras-sr upscale` take.

Example:
    >>> from keras_sr.convert import from_checkpoint
    >>> model = from_checkpoint("mdsr_baseline-a00cab12.pt", scale=4)
    >>> model.output_shape                                        # (None, None, None, 3)
"""

from keras_sr.convert.edsr_common import (check_mean_shift, load_res_block, load_upsampler, mean_shift_mean,
                                          upsampler_scale)
from keras_sr.convert.registry import CheckpointMismatch, indices, load_conv, register_converter
from keras_sr import models
from keras_sr.models.mdsr import mdsr_branch

__all__ = ["detect", "load"]


def detect(state):
    if not (state.has("head.0.weight") and state.has("pre_process.0.0.body.0.weight")):
        return None
    filters = state.shape("head.0.weight")[0]
    scales = []
    for branch in indices(state, "upsample."):
        scale = upsampler_scale(state, f"upsample.{branch}.", filters)
        if scale is None:
            raise CheckpointMismatch(f"{state.source}: upsample.{branch} is not an x2/x3/x4 upsampler")
        scales.append(scale)
    blocks = [i for i in indices(state, "body.") if state.has(f"body.{i}.body.0.weight")]
    config = {"scales": tuple(scales), "variant": "full" if len(blocks) == 80 else "baseline",
              "num_blocks": max(blocks) + 1, "filters": filters, "rgb_mean": mean_shift_mean(state)}
    return {"model": "mdsr", "config": config}


def load(model, state, config):

    if config.get("scale") is None:
        full = model
    else:  # the branch model holds one branch; load all of them, then take the branch
        full = models.build("mdsr", **{k: v for k, v in config.items() if k not in ("scale", "name")})
    check_mean_shift(state, config["rgb_mean"])
    load_conv(full.get_layer("head"), state, "head.0")
    for branch, scale in enumerate(config["scales"]):
        for j in range(2):
            load_res_block(full.get_layer(f"pre_process_x{scale}_{j}"), state, f"pre_process.{branch}.{j}.")
        load_upsampler(full.get_layer(f"upsample_x{scale}"), state, f"upsample.{branch}.", scale)
    n = config["num_blocks"]
    for i in range(n):
        load_res_block(full.get_layer(f"block_{i}"), state, f"body.{i}.")
    load_conv(full.get_layer("body_end"), state, f"body.{n}")
    load_conv(full.get_layer("tail"), state, "tail.0")
    if config.get("scale") is None:
        return full
    return mdsr_branch(full, config["scale"], name=config.get("name"))


register_converter("mdsr", detect, load, priority=10)
