"""SMSR from its official checkpoints (LongguangWang/SMSR `model_1000.pt`) -> `models.build("smsr")`.

Wang et al., "Exploring Sparsity in Image Super-Resolution for Efficient
Inference", CVPR 2021; official code `model/smsr.py` (`SMSR`, `SMM`, `SMB`,
`CALayer`), saved by its EDSR-PyTorch-style `Model.save` as a plain state dict
(`experiment/SMSR_X2/model/model_1000.pt` in the repository; x3 / x4 files
likewise). Layout:

    sub_mean / add_mean                     frozen MeanShift convs (DIV2K mean, rgb_range 255): checked, constant here
    head.0, head.2                          conv, ReLU, conv        -> head_1, head_2
    body.{i}.spa_mask.{0,3}                 the spatial-mask CNN's convs        -> module_{i+1}.mask_conv_1 / _2
    body.{i}.spa_mask.5                     its ConvTranspose2d (in, 2, 3, 3)   -> module_{i+1}.mask_up
    body.{i}.body.ch_mask                   (1, C, L, 2) channel-mask logits    -> module_{i+1}.body.channel_mask_logits
    body.{i}.body.body.{l}                  the SMB's 3x3 convs (no bias)       -> module_{i+1}.body.kernels[l]
    body.{i}.body.collect                   the SMB's 1x1 fusion                -> module_{i+1}.body.collect_kernel / bias
    body.{i}.ca.conv_du.{0,2}               channel attention                   -> module_{i+1}.attention
    collect.{0,2}                           conv 1x1 (5C -> C), ReLU, conv 3x3  -> collect_1, collect_2
    tail.0                                  conv C -> 3 s^2 before PixelShuffle (channels permuted to depth_to_space)

Detected: scale, filters, modules, masked layers per module, reduction, RGB mean. The converted model
sets `interpolation="pytorch"` (the official bicubic skip, `F.interpolate`; keras-sr's own SMSR uses
MATLAB's), so it computes the official inference network: hard spatial and channel masks, every
masked part computed densely and masked, which equals the official sparse convolution.

Example:
    >>> from keras_sr.convert import from_checkpoint
    >>> model = from_checkpoint("model_1000.pt")        # smsr, scale 2, 5 modules x 4 layers, 64 features
    >>> model.count_params()                             # 987,307 (987,306 + the temperature's step counter)
"""

import math

from keras_sr.convert.edsr_common import check_mean_shift, mean_shift_mean
from keras_sr.convert.rcan import load_channel_attention
from keras_sr.convert.registry import (CheckpointMismatch, assign, conv_kernel, conv_transpose_kernel,
                                       indices, load_conv, register_converter)
from keras_sr.layers.subpixel_upsampling import pytorch_to_dcr_permutation

__all__ = ["detect", "load"]


def detect(state):
    if not (state.has("body.0.body.ch_mask") and state.has("body.0.spa_mask.0.weight")):
        return None
    modules = [i for i in indices(state, "body.") if state.has(f"body.{i}.body.ch_mask")]
    if modules != list(range(len(modules))):
        raise CheckpointMismatch(f"{state.source}: SMSR modules {modules} are not numbered 0, 1, ...")
    mask = state.shape("body.0.body.ch_mask")
    if len(mask) != 4 or mask[0] != 1 or mask[3] != 2:
        raise CheckpointMismatch(f"{state.source}: body.0.body.ch_mask has shape {mask}, expected (1, C, L, 2)")
    filters = state.shape("head.0.weight")[0]
    out = state.shape("tail.0.weight")[0]
    scale = math.isqrt(out // 3)
    if 3 * scale * scale != out:
        raise CheckpointMismatch(f"{state.source}: tail.0 has {out} output channels, not 3 * scale^2")
    config = {"scale": scale, "filters": filters, "num_modules": len(modules), "num_layers": mask[2],
              "reduction": filters // state.shape("body.0.ca.conv_du.0.weight")[0],
              "rgb_mean": mean_shift_mean(state), "interpolation": "pytorch"}
    return {"model": "smsr", "config": config}


def _load_module(module, state, prefix):
    load_conv(module.mask_conv_1, state, f"{prefix}.spa_mask.0")
    load_conv(module.mask_conv_2, state, f"{prefix}.spa_mask.3")
    key = f"{prefix}.spa_mask.5"
    assign(module.mask_up.kernel, conv_transpose_kernel(state.take(f"{key}.weight")), state, f"{key}.weight")
    assign(module.mask_up.bias, state.take(f"{key}.bias"), state, f"{key}.bias")
    body = module.body
    for index, kernel in enumerate(body.kernels):
        key = f"{prefix}.body.body.{index}.weight"
        assign(kernel, conv_kernel(state.take(key)), state, key)
    assign(body.collect_kernel, conv_kernel(state.take(f"{prefix}.body.collect.weight")), state,
           f"{prefix}.body.collect.weight")
    assign(body.collect_bias, state.take(f"{prefix}.body.collect.bias"), state, f"{prefix}.body.collect.bias")
    logits = state.take(f"{prefix}.body.ch_mask")
    assign(body.channel_mask_logits, logits[0], state, f"{prefix}.body.ch_mask")
    load_channel_attention(module.attention, state, f"{prefix}.ca")


def load(model, state, config):
    check_mean_shift(state, config["rgb_mean"])
    load_conv(model.get_layer("head_1"), state, "head.0")
    load_conv(model.get_layer("head_2"), state, "head.2")
    for index in range(config["num_modules"]):
        _load_module(model.get_layer(f"module_{index + 1}"), state, f"body.{index}")
    load_conv(model.get_layer("collect_1"), state, "collect.0")
    load_conv(model.get_layer("collect_2"), state, "collect.2")
    load_conv(model.get_layer("tail"), state, "tail.0", out_permutation=pytorch_to_dcr_permutation(3, config["scale"]))
    return model


register_converter("smsr", detect, load, priority=20)
