"""LIIF from its official checkpoints (yinboc/liif `edsr-baseline-liif.pth`, `rdn-liif.pth`) -> `models.build("liif")`.

Chen, Liu, Wang, "Learning Continuous Image Representation with Local Implicit
Image Function", CVPR 2021; official code yinboc/liif (`models/liif.py`,
`models/edsr.py`, `models/rdn.py`, `models/mlp.py`, `train_liif.py`). The file
is `{"model": {"name": "liif", "args": {...}, "sd": state_dict}, "optimizer":
..., "epoch": ...}`; the reader takes `sd` and keeps `name`/`args` as
`StateDict.meta["spec"]`. Layout of `sd`:

    encoder.sub_mean / encoder.add_mean   EDSR's MeanShift convs (rgb_range 1): built but never called
                                          (commented out in LIIF's `edsr.py`); checked, marked used
    encoder.head.0, encoder.body.{i}.body.{0,2}, encoder.body.{n}      EDSR-baseline (no_upsampling)
    encoder.SFENet1/2, encoder.RDBs.{d}.convs.{c}.conv.0, .LFF, encoder.GFF.{0,1}   RDN (no_upsampling)
    imnet.layers.{0,2,4,6,8}              the MLP: Linear, ReLU, ..., Linear(256 -> 3)

Detected from the shapes: the encoder and its sizes, the MLP's hidden widths, `feat_unfold`
(the MLP input is 9 C (+ 4) or C (+ 4) wide) and `cell_decode` (+ 2 for the cell). `local_ensemble`
and the EDSR encoder's `res_scale` cannot be seen in the weights: they are read from the spec's
`args` when the file has them (the official files do), else the paper's defaults (local ensemble
on; res_scale 0.1 for 256 filters, else 1). An encoder with an upsampler (`no_upsampling: false`)
is not LIIF's and is refused.

Example:
    >>> from keras_sr.convert import from_checkpoint
    >>> model = from_checkpoint("edsr-baseline-liif.pth")     # liif, edsr_baseline, 16 blocks, MLP 256 x 4
    >>> model.count_params()                                   # 1,567,299
"""

import numpy as np

from keras_sr.convert.registry import CheckpointMismatch, indices, load_conv, load_dense, register_converter

__all__ = ["detect", "load", "load_rdn_body", "check_unit_mean_shift"]

EDSR_PREFIX, RDN_PREFIX = "encoder.head.0.weight", "encoder.SFENet1.weight"


def _spec_args(state):
    spec = state.meta.get("spec") or {}
    return spec.get("args") or {}


def _encoder_args(state):
    encoder_spec = _spec_args(state).get("encoder_spec") or {}
    return encoder_spec.get("name"), encoder_spec.get("args") or {}


def detect(state):
    if not state.has("imnet.layers.0.weight"):
        return None
    if state.has(EDSR_PREFIX):
        encoder = "edsr_baseline"
        filters = state.shape(EDSR_PREFIX)[0]
        blocks = [i for i in indices(state, "encoder.body.") if state.has(f"encoder.body.{i}.body.0.weight")]
        if not blocks:
            raise CheckpointMismatch(f"{state.source}: LIIF EDSR encoder without residual blocks (encoder.body.*)")
        spec_name, spec_args = _encoder_args(state)
        res_scale = spec_args.get("res_scale", 0.1 if spec_name == "edsr" or filters == 256 else 1.0)
        config = {"encoder": encoder, "num_blocks": max(blocks) + 1, "filters": filters, "res_scale": float(res_scale)}
        tail = "encoder.tail."
    elif state.has(RDN_PREFIX):
        encoder = "rdn"
        filters = state.shape(RDN_PREFIX)[0]
        config = {"encoder": encoder, "num_blocks": len(indices(state, "encoder.RDBs.")),
                  "num_layers": len(indices(state, "encoder.RDBs.0.convs.")),
                  "growth_rate": state.shape("encoder.RDBs.0.convs.0.conv.0.weight")[0], "filters": filters}
        tail = "encoder.UPNet."
    else:
        raise CheckpointMismatch(f"{state.source}: a LIIF MLP (imnet.*) with an encoder keras-sr does not know "
                                 "(expected encoder.head.0.weight, EDSR, or encoder.SFENet1.weight, RDN)")
    if any(k.startswith(tail) for k in state.keys()):
        raise CheckpointMismatch(f"{state.source}: the LIIF encoder has an upsampler ({tail}*: no_upsampling false); "
                                 "LIIF's encoder ends at the LR feature map")
    linears = indices(state, "imnet.layers.", ".weight")
    if linears != list(range(0, 2 * len(linears), 2)):
        raise CheckpointMismatch(f"{state.source}: imnet.layers {linears} are not an MLP of Linear/ReLU pairs")
    hidden = [state.shape(f"imnet.layers.{i}.weight")[0] for i in linears[:-1]]
    out_dim, in_dim = state.shape(f"imnet.layers.{linears[-1]}.weight")[0], state.shape("imnet.layers.0.weight")[1]
    if out_dim != 3:
        raise CheckpointMismatch(f"{state.source}: the LIIF MLP predicts {out_dim} channels, keras-sr's LIIF 3 (RGB)")
    options = {(filters * 9 + 4): (True, True), (filters * 9 + 2): (True, False), (filters + 4): (False, True),
               (filters + 2): (False, False)}
    if in_dim not in options:
        raise CheckpointMismatch(f"{state.source}: imnet.layers.0.weight takes {in_dim} inputs, not LIIF's for "
                                 f"{filters} features (9 C or C, + 2 coordinates, + 2 cell)")
    feat_unfold, cell_decode = options[in_dim]
    args = _spec_args(state)
    for name, value in (("feat_unfold", feat_unfold), ("cell_decode", cell_decode)):
        if name in args and bool(args[name]) != value:
            raise CheckpointMismatch(f"{state.source}: the spec says {name}={args[name]} but the MLP's input width "
                                     f"{in_dim} means {name}={value}")
    config.update(hidden_units=hidden, feat_unfold=feat_unfold, local_ensemble=bool(args.get("local_ensemble", True)),
                  cell_decode=cell_decode, normalization="liif")
    return {"model": "liif", "config": config}


def check_unit_mean_shift(state, prefix, sign):
    """EDSR-PyTorch's MeanShift conv at `prefix` with std 1 (any mean), marked used; returns its mean."""
    weight = state.take(f"{prefix}.weight", shape=(3, 3, 1, 1))[:, :, 0, 0]
    if not np.allclose(weight, np.eye(3), atol=1e-6):
        raise CheckpointMismatch(f"{state.source}: {prefix}.weight is not the identity (rgb_std != 1)")
    return sign * state.take(f"{prefix}.bias", shape=(3,))


def load_rdn_body(encoder, state, prefix, num_blocks):
    """keras-sr's RDN encoder layers (`sfe_1` ... `gff_3x3`) from EDSR-PyTorch's RDN keys under `prefix`."""
    load_conv(encoder.get_layer("sfe_1"), state, f"{prefix}SFENet1")
    load_conv(encoder.get_layer("sfe_2"), state, f"{prefix}SFENet2")
    for d in range(num_blocks):
        block = encoder.get_layer(f"rdb_{d}")
        for c, conv in enumerate(block.dense_convs):
            load_conv(conv, state, f"{prefix}RDBs.{d}.convs.{c}.conv.0")
        load_conv(block.fusion_conv, state, f"{prefix}RDBs.{d}.LFF")
    load_conv(encoder.get_layer("gff_1x1"), state, f"{prefix}GFF.0")
    load_conv(encoder.get_layer("gff_3x3"), state, f"{prefix}GFF.1")


def load(model, state, config):
    encoder = model.get_layer("encoder")
    if config["encoder"] == "edsr_baseline":
        if state.has("encoder.sub_mean.weight") or state.has("encoder.add_mean.weight"):
            sub = check_unit_mean_shift(state, "encoder.sub_mean", -1)
            add = check_unit_mean_shift(state, "encoder.add_mean", 1)
            if not np.allclose(sub, add, atol=1e-5):
                raise CheckpointMismatch(f"{state.source}: encoder.sub_mean.bias is not minus encoder.add_mean.bias")
        n = config["num_blocks"]
        load_conv(encoder.get_layer("head"), state, "encoder.head.0")
        for i in range(n):
            block = encoder.get_layer(f"block_{i}")
            load_conv(block.conv1, state, f"encoder.body.{i}.body.0")
            load_conv(block.conv2, state, f"encoder.body.{i}.body.2")
        load_conv(encoder.get_layer("body_end"), state, f"encoder.body.{n}")
    else:
        load_rdn_body(encoder, state, "encoder.", config["num_blocks"])
    implicit = model.get_layer("decoder").get_layer("implicit_function")
    for index, layer in enumerate(implicit.hidden + [implicit.head]):
        load_dense(layer, state, f"imnet.layers.{2 * index}")
    return model


register_converter("liif", detect, load, priority=20)
