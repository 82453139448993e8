"""RRDBNet (ESRGAN, Real-ESRGAN) checkpoints in their three key layouts.

Wang et al., "ESRGAN: Enhanced Super-Resolution Generative Adversarial
Networks", ECCVW 2018 (xinntao/ESRGAN); Wang et al., "Real-ESRGAN", ICCVW 2021
(xinntao/Real-ESRGAN, on BasicSR `basicsr/archs/rrdbnet_arch.py`). The same
network is released under three key layouts, all read here:

* old (the 2018 ESRGAN release before its key renaming, community models): `model.0` first conv,
  `model.1.sub.{i}.RDB{k}.conv{j}.0` RRDB convs, `model.1.sub.{nb}` trunk conv,
  `model.3`, `model.6` upconvs, `model.8` HR conv, `model.10` last conv;
* esrgan (`RRDB_ESRGAN_x4.pth`, `RRDB_PSNR_x4.pth`): `conv_first`,
  `RRDB_trunk.{i}.RDB{k}.conv{j}`, `trunk_conv`, `upconv1/2`, `HRconv`, `conv_last`;
* basicsr (`RealESRGAN_x4plus.pth`, `RealESRGAN_x2plus.pth`,
  `ESRGAN_SRx4_DF2KOST_official-ff704c30.pth`): `conv_first`, `body.{i}.rdb{k}.conv{j}`,
  `conv_body`, `conv_up1/2`, `conv_hr`, `conv_last`.

Detected: layout, num_blocks, filters (nf), growth_rate (gc) and the scale: the
trunk always upsamples x4 (two nearest + conv steps); a first conv with 12 / 48
input channels means the input is pixel-unshuffled by 2 / 4 (Real-ESRGAN x2plus
and BasicSR x1), i.e. scale 2 / 1. keras-sr's `SpaceToDepth` orders channels as
TensorFlow's space_to_depth, so the first conv's input channels are permuted
from `F.pixel_unshuffle`'s order. Other upsampling depths (x8 old-arch models)
and ESRGAN+ (`conv1x1` keys) have no keras-sr model: their keys are refused by name.

Example:
    >>> from keras_sr.convert import from_checkpoint
    >>> model = from_checkpoint("RealESRGAN_x2plus.pth")   # rrdbnet, scale 2, 23 blocks
    >>> model.count_params()                                 # 16,703,171
"""

import re

from keras_sr.convert.registry import CheckpointMismatch, indices, load_conv, register_converter
from keras_sr.layers.subpixel_upsampling import pytorch_to_dcr_permutation

__all__ = ["detect", "load", "load_rrdb", "LAYOUTS"]

# layout -> key prefix of each role (nb = number of RRDBs, for the old layout's trunk conv index)
LAYOUTS = {
    "old": dict(first="model.0", rdb="model.1.sub.{i}.RDB{k}.conv{j}.0", trunk="model.1.sub.{nb}",
                up="model.{u}", hr="model.8", last="model.10", blocks="model.1.sub."),
    "esrgan": dict(first="conv_first", rdb="RRDB_trunk.{i}.RDB{k}.conv{j}", trunk="trunk_conv",
                   up="upconv{n}", hr="HRconv", last="conv_last", blocks="RRDB_trunk."),
    "basicsr": dict(first="conv_first", rdb="body.{i}.rdb{k}.conv{j}", trunk="conv_body",
                    up="conv_up{n}", hr="conv_hr", last="conv_last", blocks="body."),
}


def _layout(state):
    if state.has("model.0.weight") and state.has("model.1.sub.0.RDB1.conv1.0.weight"):
        return "old"
    if state.has("conv_first.weight") and state.has("RRDB_trunk.0.RDB1.conv1.weight"):
        return "esrgan"
    if state.has("conv_first.weight") and state.has("body.0.rdb1.conv1.weight"):
        return "basicsr"
    return None


def _up_key(names, n):
    return names["up"].format(n=n, u=3 * n)


def detect(state):
    layout = _layout(state)
    if layout is None:
        return None
    names = LAYOUTS[layout]
    if any(".conv1x1." in k for k in state.keys()):
        raise CheckpointMismatch(f"{state.source}: ESRGAN+ (conv1x1 keys in the RRDBs) has no keras-sr model")
    if layout == "old":
        convs = sorted(int(k.split(".")[1]) for k in state.keys() if re.fullmatch(r"model\.\d+\.weight", k))
        if convs != [0, 3, 6, 8, 10]:
            raise CheckpointMismatch(f"{state.source}: old-arch ESRGAN with convs model.{convs}: keras-sr's RRDBNet "
                                     "has the x4 trunk (model.0, model.3, model.6, model.8, model.10)")
    first = state.shape(f"{names['first']}.weight")
    filters, in_channels = first[0], first[1]
    shuffle = {3: 1, 12: 2, 48: 4}.get(in_channels)
    if shuffle is None:
        raise CheckpointMismatch(f"{state.source}: {names['first']}.weight takes {in_channels} input channels; "
                                 "RGB RRDBNet takes 3 (x4), 12 (x2, pixel-unshuffle 2) or 48 (x1)")
    rdbs = [i for i in indices(state, names["blocks"]) if state.has(names["rdb"].format(i=i, k=1, j=1) + ".weight")]
    growth = state.shape(names["rdb"].format(i=0, k=1, j=1) + ".weight")[0]
    config = {"scale": 4 // shuffle, "num_blocks": max(rdbs) + 1, "filters": filters, "growth_rate": growth}
    return {"model": "rrdbnet", "config": config, "layout": layout}


def load_rrdb(rrdb, state, key):
    """Load one `ResidualInResidualDenseBlock`; `key(k, j)` is the PyTorch prefix of dense block k, conv j (from 1)."""
    for k, block in enumerate(rrdb.dense_blocks, start=1):
        for j, conv in enumerate(block.dense_convs + [block.fusion_conv], start=1):
            load_conv(conv, state, key(k, j))


def load(model, state, config):
    layout = _layout(state)
    names = LAYOUTS[layout]
    shuffle = 4 // config["scale"]
    permutation = pytorch_to_dcr_permutation(3, shuffle) if shuffle > 1 else None
    load_conv(model.get_layer("conv_first"), state, names["first"], in_permutation=permutation)
    nb = config["num_blocks"]
    for i in range(nb):
        load_rrdb(model.get_layer(f"rrdb_{i}"), state, lambda k, j: names["rdb"].format(i=i, k=k, j=j))
    load_conv(model.get_layer("trunk_conv"), state, names["trunk"].format(nb=nb))
    for n in (1, 2):
        load_conv(model.get_layer(f"upconv_{n}"), state, _up_key(names, n))
    load_conv(model.get_layer("hr_conv"), state, names["hr"])
    load_conv(model.get_layer("conv_last"), state, names["last"])
    return model


register_converter("esrgan", detect, load, priority=10)
