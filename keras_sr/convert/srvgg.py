"""SRVGGNetCompact checkpoints (Real-ESRGAN's realesr-general-x4v3, realesr-animevideov3) -> `srvgg_compact`.

Wang et al., "Real-ESRGAN", ICCVW 2021; xinntao/Real-ESRGAN
`realesrgan/archs/srvgg_arch.py` (released as `realesr-general-x4v3.pth`,
`realesr-animevideov3.pth`, key `params` / `params_ema`). Layout of the
`body` `nn.ModuleList`:

    body.0                     conv 3 -> F
    body.1                     PReLU(F)            (per-channel slopes)
    body.{2i+2}, body.{2i+3}   conv F -> F, PReLU(F)        for i < num_conv
    body.{2n+2}                conv F -> 3 s^2, then PixelShuffle(s) + the nearest-upsampled input

Detected: num_feat, num_conv and the scale (from the last conv's output
channels). The official ReLU / LeakyReLU(0.1) options (`act_type`) have no
activation weights (the convs sit at body.0, body.2, ... with nothing at the
odd indices), so the activation cannot be read from the keys: such a file
needs `act_type="relu"` / `"leakyrelu"` (`--act-type`), and without it is
refused with that reason. The last conv's output channels are permuted from
PixelShuffle's order to depth_to_space's.

Example:
    >>> from keras_sr.convert import from_checkpoint
    >>> model = from_checkpoint("realesr-general-x4v3.pth")   # srvgg_compact, x4, 64 features, 32 convs
    >>> model.count_params()                                   # 1,213,296
"""

import math

from keras_sr.convert.registry import CheckpointMismatch, assign, indices, load_conv, register_converter
from keras_sr.layers.subpixel_upsampling import pytorch_to_dcr_permutation

__all__ = ["detect", "load"]


def detect(state):
    if not state.has("body.0.weight") or len(state.shape("body.0.weight")) != 4:
        return None
    if any(k.startswith("upsampler.") and k.endswith("weight") for k in state.keys()):
        return None
    prelu = state.has("body.1.weight")
    if not prelu and not state.has("body.2.weight"):
        return None
    if prelu and len(state.shape("body.1.weight")) != 1:
        return None
    highest = max(indices(state, "body."))
    if not prelu:  # a conv at every even index only, F -> F between the first and the last
        feat = state.shape("body.0.weight")[0]
        if indices(state, "body.") != list(range(0, highest + 1, 2)) or any(
                state.shape(f"body.{i}.weight") != (feat, feat, 3, 3) for i in range(2, highest, 2)):
            return None
    in_channels = state.shape("body.0.weight")[1]
    if in_channels != 3:
        raise CheckpointMismatch(f"{state.source}: body.0.weight takes {in_channels} input channels; srvgg_compact "
                                 "is RGB (3)")
    out = state.shape(f"body.{highest}.weight")[0]
    scale = math.isqrt(out // 3)
    if scale * scale * 3 != out or highest % 2:
        raise CheckpointMismatch(f"{state.source}: body.{highest} has {out} output channels, not 3 * scale^2")
    config = {"scale": scale, "num_feat": state.shape("body.0.weight")[0], "num_conv": (highest - 2) // 2}
    if prelu:
        return {"model": "srvgg_compact", "config": config}
    return {"model": "srvgg_compact", "config": config, "required": {
        "act_type": "SRVGGNetCompact without PReLU weights (nothing at body.1): its activation, ReLU or "
                    "LeakyReLU(0.1), cannot be read from the keys; pass act_type='relu' or 'leakyrelu' (--act-type)"}}


def load(model, state, config):
    n, prelu = config["num_conv"], config.get("act_type", "prelu") == "prelu"
    for i in range(n + 1):
        load_conv(model.get_layer(f"body_{2 * i}"), state, f"body.{2 * i}")
        if prelu:  # ReLU / LeakyReLU have no weights; a PReLU weight missing is a "missing key" error
            activation = model.get_layer(f"body_{2 * i + 1}")
            alpha = state.take(f"body.{2 * i + 1}.weight")
            assign(activation.alpha, alpha.reshape(tuple(activation.alpha.shape)), state, f"body.{2 * i + 1}.weight")
    s = config["scale"]
    permutation = pytorch_to_dcr_permutation(3, s) if s > 1 else None
    load_conv(model.get_layer(f"body_{2 * n + 2}"), state, f"body.{2 * n + 2}", out_permutation=permutation)
    return model


register_converter("srvgg_compact", detect, load, priority=5)
