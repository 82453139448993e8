"""TTSR from its official checkpoints (researchmm/TTSR `TTSR.pt`, `TTSR-rec.pt`) -> `models.build("ttsr")`.

Yang et al., "Learning Texture Transformer Network for Image Super-Resolution",
CVPR 2020; official code researchmm/TTSR (`model/TTSR.py`, `model/MainNet.py`,
`model/LTE.py`, `model/SearchTransfer.py`). `trainer.py` saves the model's
state dict without `LTE_copy` (the loss-only copy) as a plain dict. Layout:

    LTE.sub_mean                         MeanShift conv: ImageNet mean/std at rgb_range 1 (checked, constant here)
    LTE.slice1.0, LTE.slice2.{2,5}, LTE.slice3.{7,10}   VGG19 conv1_1, conv1_2, conv2_1, conv2_2, conv3_1
    MainNet.SFE.conv_head, .RBs.{i}.conv1/conv2, .conv_tail          shallow feature extraction
    MainNet.conv11_head, RB11.{i}, conv11_tail                        stage 1 (soft-attention fusion of T_lv3)
    MainNet.conv12 (PixelShuffle x2), conv22_head, ex12.{conv12, conv21, conv_merge1, conv_merge2},
        RB21.{i}, RB22.{i}, conv21_tail, conv22_tail                  stage 2
    MainNet.conv23, conv33_head, ex123.{conv12, conv13, conv21, conv23, conv31_1, conv31_2, conv32,
        conv_merge1..3}, RB31/RB32/RB33.{i}, conv31_tail..conv33_tail stage 3
    MainNet.merge_tail.{conv13, conv23, conv_merge, conv_tail1, conv_tail2}

`SearchTransfer` has no weights. Detected: the residual blocks of SFE and the three stages
(official 16+16+8+4), n_feats and the LTE widths. `res_scale` (1) cannot be seen and keeps its default.
The converted model is the official network exactly: `interpolation="pytorch"` (PyTorch's bicubic in
CSFI and for the soft-attention map) and `fold_normalization="constant"` (the official `fold / 9`); a
keras-sr-trained TTSR uses MATLAB's bicubic and the true overlap count instead. A full
`model.state_dict()` that still holds `LTE_copy.*` is read too: those tensors are the loss-only copy
of `LTE` (the official code copies LTE into it before every use); they must equal `LTE.*` and are
marked used.

Example:
    >>> from keras_sr.convert import from_checkpoint
    >>> model = from_checkpoint("TTSR.pt")           # ttsr, 16+16+8+4 blocks, 64 features
    >>> model.count_params()                          # 6,729,603
"""

import numpy as np

from keras_sr.convert.registry import CheckpointMismatch, indices, load_conv, register_converter
from keras_sr.layers.subpixel_upsampling import pytorch_to_dcr_permutation
from keras_sr.layers.vgg_features import IMAGENET_MEAN, IMAGENET_STD

__all__ = ["detect", "load", "LTE_CONVS", "check_imagenet_mean_shift"]

# keras-sr VGGFeatures conv -> the official LTE key (torchvision VGG19 feature indices 0, 2, 5, 7, 10)
LTE_CONVS = {"conv1_1": "slice1.0", "conv1_2": "slice2.2", "conv2_1": "slice2.5", "conv2_2": "slice3.7",
             "conv3_1": "slice3.10"}
STAGES = ("MainNet.SFE.RBs.", "MainNet.RB11.", "MainNet.RB21.", "MainNet.RB31.")


def detect(state):
    if not (state.has("MainNet.SFE.conv_head.weight") and state.has("LTE.slice1.0.weight")):
        return None
    blocks = [len(indices(state, prefix)) for prefix in STAGES]
    for first, second in (("MainNet.RB21.", "MainNet.RB22."), ("MainNet.RB31.", "MainNet.RB32."),
                          ("MainNet.RB31.", "MainNet.RB33.")):
        if len(indices(state, first)) != len(indices(state, second)):
            raise CheckpointMismatch(f"{state.source}: {first}* and {second}* have different block counts "
                                     f"({len(indices(state, first))} and {len(indices(state, second))})")
    for key in (k for k in state.keys() if k.startswith("LTE_copy.")):
        original = "LTE." + key[len("LTE_copy."):]
        if not state.has(original) or not np.array_equal(state.peek(key), state.peek(original)):
            raise CheckpointMismatch(f"{state.source}: {key} is not a copy of {original}")
    widths = tuple(state.shape(f"LTE.{LTE_CONVS[name]}.weight")[0] for name in ("conv1_1", "conv2_1", "conv3_1"))
    config = {"scale": 4, "num_res_blocks": blocks, "n_feats": state.shape("MainNet.SFE.conv_head.weight")[0],
              "texture_widths": widths, "interpolation": "pytorch", "fold_normalization": "constant"}
    return {"model": "ttsr", "config": config}


def check_imagenet_mean_shift(state, key):
    """An official MeanShift conv `(x - mean) / std` with ImageNet's mean/std on [0, 1] input, marked used."""
    weight = state.take(f"{key}.weight", shape=(3, 3, 1, 1))[:, :, 0, 0]
    bias = state.take(f"{key}.bias", shape=(3,))
    std, mean = np.array(IMAGENET_STD), np.array(IMAGENET_MEAN)
    if not (np.allclose(weight, np.diag(1.0 / std), rtol=1e-5) and np.allclose(bias, -mean / std, rtol=1e-5)):
        raise CheckpointMismatch(f"{state.source}: {key} is not the ImageNet normalization (x - {mean.tolist()}) / "
                                 f"{std.tolist()} on [0, 1] that keras-sr's VGG features apply")


def _blocks(model, state, layer_prefix, key_prefix, count):
    for i in range(count):
        block = model.get_layer(f"{layer_prefix}_{i}")
        load_conv(block.conv1, state, f"{key_prefix}{i}.conv1")
        load_conv(block.conv2, state, f"{key_prefix}{i}.conv2")


def _csfi(layer, state, prefix, names):
    for keras_name, key in names.items():
        load_conv(layer.convs[keras_name], state, f"{prefix}.{key}")


def load(model, state, config):
    check_imagenet_mean_shift(state, "LTE.sub_mean")
    lte = model.get_layer("lte")
    for name, key in LTE_CONVS.items():
        load_conv(lte.convs[name], state, f"LTE.{key}")
    state.skip(*[k for k in state.keys() if k.startswith("LTE_copy.")])  # equal to LTE.* (checked by detect)

    net = model.get_layer("main_net")
    sfe, stage1, stage2, stage3 = config["num_res_blocks"]
    f = config["n_feats"]
    load_conv(net.get_layer("sfe_conv_head"), state, "MainNet.SFE.conv_head")
    _blocks(net, state, "sfe_rb", "MainNet.SFE.RBs.", sfe)
    load_conv(net.get_layer("sfe_conv_tail"), state, "MainNet.SFE.conv_tail")

    load_conv(net.get_layer("conv11_head").conv, state, "MainNet.conv11_head")
    _blocks(net, state, "rb11", "MainNet.RB11.", stage1)
    load_conv(net.get_layer("rb11_tail"), state, "MainNet.conv11_tail")

    permutation = pytorch_to_dcr_permutation(f, 2)
    load_conv(net.get_layer("conv12").convs[0], state, "MainNet.conv12", out_permutation=permutation)
    load_conv(net.get_layer("conv22_head").conv, state, "MainNet.conv22_head")
    _csfi(net.get_layer("ex12"), state, "MainNet.ex12", {n: n for n in ("conv12", "conv21", "conv_merge1",
                                                                       "conv_merge2")})
    for name in ("21", "22"):
        _blocks(net, state, f"rb{name}", f"MainNet.RB{name}.", stage2)
        load_conv(net.get_layer(f"rb{name}_tail"), state, f"MainNet.conv{name}_tail")

    load_conv(net.get_layer("conv23").convs[0], state, "MainNet.conv23", out_permutation=permutation)
    load_conv(net.get_layer("conv33_head").conv, state, "MainNet.conv33_head")
    _csfi(net.get_layer("ex123"), state, "MainNet.ex123",
          {n: n for n in ("conv12", "conv13", "conv21", "conv23", "conv31_1", "conv31_2", "conv32", "conv_merge1",
                          "conv_merge2", "conv_merge3")})
    for name in ("31", "32", "33"):
        _blocks(net, state, f"rb{name}", f"MainNet.RB{name}.", stage3)
        load_conv(net.get_layer(f"rb{name}_tail"), state, f"MainNet.conv{name}_tail")

    _csfi(net.get_layer("merge_tail"), state, "MainNet.merge_tail",
          {"conv13": "conv13", "conv23": "conv23", "conv_merge3": "conv_merge"})
    load_conv(net.get_layer("merge_tail_conv_tail1"), state, "MainNet.merge_tail.conv_tail1")
    load_conv(net.get_layer("merge_tail_conv_tail2"), state, "MainNet.merge_tail.conv_tail2")
    return model


register_converter("ttsr", detect, load, priority=20)
