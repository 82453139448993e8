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
channels). PReLU checkpoints only: the ReLU / LeakyReLU options have no
activation weights, so the activation cannot be read from the keys; such a
state dict (body.1 without a weight) is refused by name. The last conv's
output channels are permuted from PixelShuffle's order to depth_to_space's.

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
    if not state.has("body.1.weight"):
        if state.has("body.2.weight"):
            raise CheckpointMismatch(f"{state.source}: SRVGGNetCompact without PReLU weights (body.1): its ReLU / "
                                     "LeakyReLU variant cannot be told apart from the keys; build srvgg_compact with "
                                     "act_type and load the weights by hand")
        return None
    if len(state.shape("body.1.weight")) != 1:
        return None
    highest = max(indices(state, "body."))
    in_channels = state.shape("body.0.weight")[1]
    if in_channels != 3:
        raise CheckpointMismatch(f"{state.source}: body.0.weight takes {in_channels} input channels; srvgg_compact "
                                 "is RGB (3)")
    out = state.shape(f"body.{highest}.weight")[0]
    scale = math.isqrt(out // 3)
    if scale * scale * 3 != out or highest % 2:
        raise CheckpointMismatch(f"{state.source}: body.{highest} has {out} output channels, not 3 * scale^2")
    config = {"scale": scale, "num_feat": state.shape("body.0.weight")[0], "num_conv": (highest - 2) // 2}
    return {"model": "srvgg_compact", "config": config}


def load(model, state, config):
    n = config["num_conv"]
    for i in range(n + 1):
        load_conv(model.get_layer(f"body_{2 * i}"), state, f"body.{2 * i}")
        prelu = model.get_layer(f"body_{2 * i + 1}")
        alpha = state.take(f"body.{2 * i + 1}.weight")
        assign(prelu.alpha, alpha.reshape(tuple(prelu.alpha.shape)), state, f"body.{2 * i + 1}.weight")
    s = config["scale"]
    permutation = pytorch_to_dcr_permutation(3, s) if s > 1 else None
    load_conv(model.get_layer(f"body_{2 * n + 2}"), state, f"body.{2 * n + 2}", out_permutation=permutation)
    return model


register_converter("srvgg_compact", detect, load, priority=5)
