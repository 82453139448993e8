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

Detected: layout, num_blocks, filters (nf), growth_rate (gc) and the scale:
one nearest + conv step per upconv key (`model.3`, `model.6`, `model.9`, ... in
the old layout, whose HR and last convs follow at `3n + 2`, `3n + 4`; `upconv{n}` /
`conv_up{n}` in the others): two for the official x4, three for old-arch x8
files, one / none for old-arch x2 / x1 files (`pixel_unshuffle=False`). A first
conv with 12 / 48 input channels means the input is pixel-unshuffled by 2 / 4
(Real-ESRGAN x2plus and BasicSR x1) before the x4 trunk, i.e. scale 2 / 1.
keras-sr's `SpaceToDepth` orders channels as TensorFlow's space_to_depth, so
the first conv's input channels are permuted from `F.pixel_unshuffle`'s order.
ESRGAN+ files (Rakotonirina and Rasoanaivo, ICASSP 2020; ncarraz/ESRGANplus,
old layout) add a bias-free `RDB{k}.conv1x1` per dense block: detected as
`plus=True`.

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
# (old layout: `u` = 3n for the n-th upconv; `h`, `l` = 3N + 2, 3N + 4 for N upconvs)
LAYOUTS = {
    "old": dict(first="model.0", rdb="model.1.sub.{i}.RDB{k}.conv{j}.0", trunk="model.1.sub.{nb}",
                up="model.{u}", hr="model.{h}", last="model.{l}", blocks="model.1.sub.",
                plus="model.1.sub.{i}.RDB{k}.conv1x1"),
    "esrgan": dict(first="conv_first", rdb="RRDB_trunk.{i}.RDB{k}.conv{j}", trunk="trunk_conv",
                   up="upconv{n}", hr="HRconv", last="conv_last", blocks="RRDB_trunk.",
                   plus="RRDB_trunk.{i}.RDB{k}.conv1x1"),
    "basicsr": dict(first="conv_first", rdb="body.{i}.rdb{k}.conv{j}", trunk="conv_body",
                    up="conv_up{n}", hr="conv_hr", last="conv_last", blocks="body.",
                    plus="body.{i}.rdb{k}.conv1x1"),
}


def _layout(state):
    if state.has("model.0.weight") and (state.has("model.1.sub.0.RDB1.conv1.0.weight")
                                        or state.has("model.1.sub.0.RDB1.conv1x1.weight")):
        return "old"
    if state.has("conv_first.weight") and state.has("RRDB_trunk.0.RDB1.conv1.weight"):
        return "esrgan"
    if state.has("conv_first.weight") and state.has("body.0.rdb1.conv1.weight"):
        return "basicsr"
    return None


def _up_key(names, n):
    return names["up"].format(n=n, u=3 * n)


def _upconvs(state, layout):
    """The number of nearest + conv upsampling steps (the old layout's conv indices must be the sequence's)."""
    if layout == "old":
        convs = sorted(int(k.split(".")[1]) for k in state.keys() if re.fullmatch(r"model\.\d+\.weight", k))
        steps = (len(convs) - 3)
        expected = [0] + [3 * n for n in range(1, steps + 1)] + [3 * steps + 2, 3 * steps + 4]
        if steps < 0 or convs != expected:
            raise CheckpointMismatch(f"{state.source}: old-arch ESRGAN with convs model.{convs}: an RRDBNet has "
                                     "model.0, the upconvs model.3, model.6, ... (3n), then the HR and last convs "
                                     "(3N + 2, 3N + 4)")
        return steps
    names, steps = LAYOUTS[layout], 0
    while state.has(_up_key(names, steps + 1) + ".weight"):
        steps += 1
    return steps


def _end_keys(names, steps):
    return names["hr"].format(h=3 * steps + 2), names["last"].format(l=3 * steps + 4)


def detect(state):
    layout = _layout(state)
    if layout is None:
        return None
    names = LAYOUTS[layout]
    steps = _upconvs(state, layout)
    first = state.shape(f"{names['first']}.weight")
    filters, in_channels = first[0], first[1]
    shuffle = {3: 1, 12: 2, 48: 4}.get(in_channels)
    if shuffle is None:
        raise CheckpointMismatch(f"{state.source}: {names['first']}.weight takes {in_channels} input channels; "
                                 "RGB RRDBNet takes 3 (x4), 12 (x2, pixel-unshuffle 2) or 48 (x1)")
    if shuffle > 1 and steps != 2:
        raise CheckpointMismatch(f"{state.source}: a pixel-unshuffled input ({in_channels} channels) with {steps} "
                                 "upconvs: keras-sr's RRDBNet unshuffles only before the x4 trunk (2 upconvs)")
    if 2 ** steps // shuffle not in (1, 2, 4, 8):
        raise CheckpointMismatch(f"{state.source}: {steps} upconvs (x{2 ** steps}): keras-sr's RRDBNet has 0 to 3")
    rdbs = [i for i in indices(state, names["blocks"]) if state.has(names["rdb"].format(i=i, k=1, j=1) + ".weight")]
    growth = state.shape(names["rdb"].format(i=0, k=1, j=1) + ".weight")[0]
    config = {"scale": 2 ** steps // shuffle, "num_blocks": max(rdbs) + 1, "filters": filters, "growth_rate": growth}
    if shuffle == 1 and steps < 2:
        config["pixel_unshuffle"] = False
    if state.has(names["plus"].format(i=0, k=1) + ".weight"):
        config["plus"] = True
    return {"model": "rrdbnet", "config": config, "layout": layout}


def load_rrdb(rrdb, state, key, plus_key=None):
    """Load one `ResidualInResidualDenseBlock`; `key(k, j)` is the PyTorch prefix of dense block k, conv j (from 1).

    `plus_key(k)`: the prefix of dense block k's ESRGAN+ `conv1x1` (for blocks built with `plus=True`).
    """
    for k, block in enumerate(rrdb.dense_blocks, start=1):
        for j, conv in enumerate(block.dense_convs + [block.fusion_conv], start=1):
            load_conv(conv, state, key(k, j))
        if block.plus:
            load_conv(block.skip_conv, state, plus_key(k))


def load(model, state, config):
    layout = _layout(state)
    names = LAYOUTS[layout]
    shuffle = 4 // config["scale"] if config["scale"] < 4 and config.get("pixel_unshuffle", True) else 1
    permutation = pytorch_to_dcr_permutation(3, shuffle) if shuffle > 1 else None
    load_conv(model.get_layer("conv_first"), state, names["first"], in_permutation=permutation)
    nb, steps = config["num_blocks"], _upconvs(state, layout)
    for i in range(nb):
        load_rrdb(model.get_layer(f"rrdb_{i}"), state, lambda k, j: names["rdb"].format(i=i, k=k, j=j),
                  lambda k: names["plus"].format(i=i, k=k))
    load_conv(model.get_layer("trunk_conv"), state, names["trunk"].format(nb=nb))
    for n in range(1, steps + 1):
        load_conv(model.get_layer(f"upconv_{n}"), state, _up_key(names, n))
    hr, last = _end_keys(names, steps)
    load_conv(model.get_layer("hr_conv"), state, hr)
    load_conv(model.get_layer("conv_last"), state, last)
    return model


register_converter("esrgan", detect, load, priority=10)
