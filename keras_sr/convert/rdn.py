"""RDN from EDSR-PyTorch checkpoints (`model/rdn.py` layout; e.g. the RDN x2/x3/x4 BI files).

Zhang et al., "Residual Dense Network for Image Super-Resolution", CVPR 2018;
official PyTorch code EDSR-PyTorch `src/model/rdn.py` (rgb_range 255, no MeanShift).
Layout:

    SFENet1, SFENet2                    shallow feature convs 3 -> G0 -> G0
    RDBs.{d}.convs.{c}.conv.0           dense conv G0 + c*G -> G (ReLU)
    RDBs.{d}.LFF                        1x1 local fusion G0 + C*G -> G0
    GFF.0, GFF.1                        1x1 global fusion D*G0 -> G0, 3x3 conv
    UPNet.0 (, UPNet.2), last UPNet     conv G0 -> G r^2, PixelShuffle (x4: two x2 steps), conv G -> 3

Detected: scale, D (`num_blocks`), C (`num_layers`), G (`growth_rate`), G0
(`filters`); the variant name is "A" for (20, 6, 32), else "B".

Example:
    >>> from keras_sr.convert import from_checkpoint
    >>> model = from_checkpoint("RDN_BIX4.pt")                 # rdn, scale 4, D=16, C=8, G=64
    >>> model.count_params()                                     # 22,271,107
"""

from keras_sr.convert.registry import CheckpointMismatch, indices, load_conv, register_converter
from keras_sr.layers.subpixel_upsampling import pytorch_to_dcr_permutation, upsampling_steps

__all__ = ["detect", "load"]


def detect(state):
    if not (state.has("SFENet1.weight") and state.has("RDBs.0.LFF.weight")):
        return None
    g0 = state.shape("SFENet1.weight")[0]
    growth = state.shape("RDBs.0.convs.0.conv.0.weight")[0]
    blocks = len(indices(state, "RDBs."))
    layers = len(indices(state, "RDBs.0.convs."))
    up = indices(state, "UPNet.", ".weight")
    first = state.shape("UPNet.0.weight")[0]
    if up == [0, 2, 4] and first == 4 * growth:
        scale = 4
    elif up == [0, 2] and first in (4 * growth, 9 * growth):
        scale = 2 if first == 4 * growth else 3
    else:
        raise CheckpointMismatch(f"{state.source}: UPNet convs {up} (first with {first} channels) are not RDN's "
                                 "x2/x3/x4 upsampler")
    variant = "A" if (blocks, layers, growth) == (20, 6, 32) else "B"
    config = {"scale": scale, "variant": variant, "num_blocks": blocks, "num_layers": layers, "growth_rate": growth,
              "filters": g0}
    return {"model": "rdn", "config": config}


def load(model, state, config):
    load_conv(model.get_layer("sfe_1"), state, "SFENet1")
    load_conv(model.get_layer("sfe_2"), state, "SFENet2")
    for d in range(config["num_blocks"]):
        block = model.get_layer(f"rdb_{d}")
        for c, conv in enumerate(block.dense_convs):
            load_conv(conv, state, f"RDBs.{d}.convs.{c}.conv.0")
        load_conv(block.fusion_conv, state, f"RDBs.{d}.LFF")
    load_conv(model.get_layer("gff_1x1"), state, "GFF.0")
    load_conv(model.get_layer("gff_3x3"), state, "GFF.1")
    upsample = model.get_layer("upsample")
    steps = upsampling_steps(config["scale"])
    for index, (conv, r) in enumerate(zip(upsample.convs, steps)):
        load_conv(conv, state, f"UPNet.{2 * index}", out_permutation=pytorch_to_dcr_permutation(upsample.filters, r))
    load_conv(model.get_layer("tail"), state, f"UPNet.{2 * len(steps)}")
    return model


register_converter("rdn", detect, load, priority=10)
