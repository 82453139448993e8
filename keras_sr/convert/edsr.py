"""EDSR and EDSR-baseline from EDSR-PyTorch checkpoints (`edsr_baseline_x4-6b446fab.pt`, `edsr_x4-4f62e9ef.pt`).

Lim et al., "Enhanced Deep Residual Networks for Single Image Super-Resolution",
CVPRW 2017; official code sanghyun-son/EDSR-PyTorch `src/model/edsr.py`. Layout:

    sub_mean / add_mean            frozen 1x1 MeanShift (rgb_range 255): keras-sr's constant MeanShift
    head.0                         conv 3 -> F
    body.{i}.body.{0,2}            ResBlock convs, i < n_resblocks
    body.{n_resblocks}             conv F -> F before the long skip
    tail.0.{0,2,4}                 Upsampler convs (PixelShuffle order permuted to depth_to_space)
    tail.1                         conv F -> 3

BasicSR's EDSR files (`EDSR_Mx4_f64b16_DIV2K_official-0c287733.pth`,
`EDSR_Lx4_f256b32_DIV2K_official-76ee1c8f.pth`: XPixelGroup/BasicSR
`basicsr/archs/edsr_arch.py`) are the same network in another layout, read too:
`conv_first`, `body.{i}.conv1/conv2`, `conv_after_body`, `upsample.{0,2}`,
`conv_last`. BasicSR keeps the mean as a plain attribute (not in the file) and
feeds `(x - mean) * 255` for x in [0, 1]: keras-sr's EDSR on [0, 255] input with
BasicSR's default mean, DIV2K's (0.4488, 0.4371, 0.4040).

Detected: scale (from the upsampler), num_blocks, filters, and the RGB mean. The
weights cannot show `res_scale`: 256 filters is taken as the paper's full EDSR
(res_scale 0.1, variant "full"), anything else as res_scale 1 (variant
"baseline"); pass `res_scale=` to `from_checkpoint` to override.

Example:
    >>> from keras_sr.convert import from_checkpoint
    >>> model = from_checkpoint("edsr_baseline_x2-1bc95232.pt")   # edsr, scale 2, 16 blocks, 64 filters
    >>> model.count_params()                                        # 1,369,859
"""

from keras_sr.convert.edsr_common import (check_mean_shift, load_res_block, load_upsampler, mean_shift_mean,
                                          upsampler_scale)
from keras_sr.convert.registry import indices, load_conv, register_converter

__all__ = ["detect", "load"]


def _detect_basicsr(state):
    filters = state.shape("conv_first.weight")[0]
    scale = upsampler_scale(state, "upsample.", filters)
    if scale is None:
        return None
    full = filters == 256
    config = {"scale": scale, "variant": "full" if full else "baseline", "num_blocks": max(indices(state, "body.")) + 1,
              "filters": filters, "res_scale": 0.1 if full else 1.0}
    return {"model": "edsr", "config": config}


def _load_basicsr(model, state, config):
    load_conv(model.get_layer("head"), state, "conv_first")
    for i in range(config["num_blocks"]):
        block = model.get_layer(f"block_{i}")
        load_conv(block.conv1, state, f"body.{i}.conv1")
        load_conv(block.conv2, state, f"body.{i}.conv2")
    load_conv(model.get_layer("body_end"), state, "conv_after_body")
    load_upsampler(model.get_layer("upsample"), state, "upsample.", config["scale"])
    load_conv(model.get_layer("tail"), state, "conv_last")
    return model


def _is_basicsr(state):
    return state.has("conv_first.weight") and state.has("conv_after_body.weight") and state.has("body.0.conv1.weight")


def detect(state):
    if _is_basicsr(state):
        return _detect_basicsr(state)
    if not (state.has("head.0.weight") and state.has("sub_mean.weight") and state.has("body.0.body.0.weight")):
        return None
    if state.has("body.0.body.0.body.0.weight") or any(k.startswith("pre_process.") for k in state.keys()):
        return None  # RCAN / MDSR
    filters = state.shape("head.0.weight")[0]
    blocks = [i for i in indices(state, "body.") if state.has(f"body.{i}.body.0.weight")]
    scale = upsampler_scale(state, "tail.0.", filters)
    if scale is None:
        return None
    full = filters == 256
    config = {"scale": scale, "variant": "full" if full else "baseline", "num_blocks": max(blocks) + 1,
              "filters": filters, "res_scale": 0.1 if full else 1.0, "rgb_mean": mean_shift_mean(state)}
    return {"model": "edsr", "config": config}


def load(model, state, config):
    if _is_basicsr(state):
        return _load_basicsr(model, state, config)
    check_mean_shift(state, config["rgb_mean"])
    n = config["num_blocks"]
    load_conv(model.get_layer("head"), state, "head.0")
    for i in range(n):
        load_res_block(model.get_layer(f"block_{i}"), state, f"body.{i}.")
    load_conv(model.get_layer("body_end"), state, f"body.{n}")
    load_upsampler(model.get_layer("upsample"), state, "tail.0.", config["scale"])
    load_conv(model.get_layer("tail"), state, "tail.1")
    return model


register_converter("edsr", detect, load, priority=10)
