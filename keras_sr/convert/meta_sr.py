"""Meta-RDN from its official checkpoint (XuecaiHu/Meta-SR-Pytorch `model_1000.pt`) -> `models.build("meta_rdn")`.

Hu et al., "Meta-SR: A Magnification-Arbitrary Network for Super-Resolution",
CVPR 2019; official code XuecaiHu/Meta-SR-Pytorch `model/metardn.py` (saved by
the EDSR-PyTorch trainer: a plain state dict). Layout:

    sub_mean / add_mean                  MeanShift convs, rgb_range 255, DIV2K mean: keras-sr's constant MeanShift
    SFENet1, SFENet2, RDBs.{d}.convs.{c}.conv.0, RDBs.{d}.LFF, GFF.{0,1}   the RDN body (no upsampler)
    P2W.meta_block.0, P2W.meta_block.2   Pos2Weight: Linear(3, 256), ReLU, Linear(256, 9 G0 * 3)

Pos2Weight's output is viewed as `(9 G0, 3)` with the `9 G0` rows in `F.unfold` order (channel-major),
which is `keras_sr.layers.MetaUpscale`'s order: the Linear layers convert as they are. Detected:
D, C, G, G0 and the hidden width; the mean must be DIV2K's (the official code fixes it, and so does
keras-sr's `meta_rdn`).

Example:
    >>> from keras_sr.convert import from_checkpoint
    >>> model = from_checkpoint("model_1000.pt")         # meta_rdn, D=16, C=8, G=64, G0=64
    >>> model.count_params()                              # 22,419,072
"""

import numpy as np

from keras_sr.convert.liif import check_unit_mean_shift, load_rdn_body
from keras_sr.convert.registry import CheckpointMismatch, indices, load_dense, register_converter
from keras_sr.layers.mean_shift import DIV2K_RGB_MEAN

__all__ = ["detect", "load"]


def detect(state):
    if not (state.has("P2W.meta_block.0.weight") and state.has("SFENet1.weight")):
        return None
    filters = state.shape("SFENet1.weight")[0]
    hidden, inputs = state.shape("P2W.meta_block.0.weight")
    if inputs != 3:
        raise CheckpointMismatch(f"{state.source}: P2W.meta_block.0.weight takes {inputs} inputs, Meta-SR's 3 "
                                 "(1/scale, offset_y, offset_x)")
    outputs = state.shape("P2W.meta_block.2.weight")[0]
    if outputs != 9 * filters * 3:
        raise CheckpointMismatch(f"{state.source}: P2W.meta_block.2.weight predicts {outputs} values, not a 3 x 3 x "
                                 f"{filters} -> 3 filter ({27 * filters})")
    config = {"num_blocks": len(indices(state, "RDBs.")), "num_layers": len(indices(state, "RDBs.0.convs.")),
              "growth_rate": state.shape("RDBs.0.convs.0.conv.0.weight")[0], "filters": filters,
              "hidden_units": hidden}
    return {"model": "meta_rdn", "config": config}


def load(model, state, config):
    for name, sign in (("sub_mean", -1), ("add_mean", 1)):
        mean = check_unit_mean_shift(state, name, sign) / 255.0
        if not np.allclose(mean, DIV2K_RGB_MEAN, atol=1e-5):
            raise CheckpointMismatch(f"{state.source}: {name}.bias is {sign} * 255 * {mean.tolist()}, not the DIV2K "
                                     f"mean {list(DIV2K_RGB_MEAN)} at rgb_range 255 that Meta-RDN uses")
    load_rdn_body(model.get_layer("encoder"), state, "", config["num_blocks"])
    meta = model.get_layer("decoder").get_layer("meta_upscale")
    load_dense(meta.hidden, state, "P2W.meta_block.0")
    load_dense(meta.weights_head, state, "P2W.meta_block.2")
    return model


register_converter("meta_rdn", detect, load, priority=20)
