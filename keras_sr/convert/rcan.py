"""RCAN from the official checkpoints (yulunzhang/RCAN `RCAN_BIX2.pt` ... `RCAN_BIX8.pt`, BasicSR's RCAN files).

Zhang et al., "Image Super-Resolution Using Very Deep Residual Channel Attention
Networks", ECCV 2018; official code yulunzhang/RCAN `RCAN_TrainCode/code/model/rcan.py`
(rgb_range 255). Layout:

    sub_mean / add_mean                      frozen MeanShift: keras-sr's constant MeanShift
    head.0                                   conv 3 -> F
    body.{g}.body.{b}.body.{0,2}             RCAB convs (ReLU between)
    body.{g}.body.{b}.body.3.conv_du.{0,2}   channel attention 1x1 convs F -> F/r -> F: keras-sr's
                                             ChannelAttention matrices (down/up kernels)
    body.{g}.body.{n_resblocks}              conv closing each residual group
    body.{n_resgroups}                       conv before the long skip
    tail.0.{0,2,4}, tail.1                   Upsampler and the last conv

Detected: scale, num_groups, num_blocks, filters, reduction, RGB mean. The
community `unshuffle_mod` variant that spandrel reads (`head.0` a PixelUnshuffle
without weights, `head.1` the conv on 3 * f^2 channels, a x4 tail) is
`rcan(pixel_unshuffle=True)` at scale 4 / f; the head conv's input channels are
permuted from `F.pixel_unshuffle`'s order to keras-sr's `SpaceToDepth` order.

Example:
    >>> from keras_sr.convert import from_checkpoint
    >>> model = from_checkpoint("RCAN_BIX4.pt")         # rcan, scale 4, 10 groups x 20 blocks
    >>> model.count_params()                              # 15,592,355 (+24 MeanShift constants)
"""

from keras_sr.convert.edsr_common import check_mean_shift, load_upsampler, mean_shift_mean, upsampler_scale
from keras_sr.convert.registry import (CheckpointMismatch, assign, dense_kernel, indices, load_conv,
                                       register_converter)
from keras_sr.layers.subpixel_upsampling import pytorch_to_dcr_permutation

__all__ = ["detect", "load", "load_channel_attention", "load_residual_groups"]


def detect(state):
    if not state.has("body.0.body.0.body.3.conv_du.0.weight"):
        return None
    head = "head.1" if state.has("head.1.weight") else "head.0"
    filters, in_channels = state.shape(f"{head}.weight")[:2]
    shuffle = {3: 1, 12: 2, 48: 4}.get(in_channels)
    if shuffle is None or (shuffle > 1) != (head == "head.1"):
        raise CheckpointMismatch(f"{state.source}: RCAN {head}.weight takes {in_channels} input channels: RGB RCAN "
                                 "takes 3 (head.0), or 12 / 48 after a pixel-unshuffle (head.1, unshuffle_mod)")
    groups = [g for g in indices(state, "body.") if state.has(f"body.{g}.body.0.body.0.weight")]
    blocks = [b for b in indices(state, "body.0.body.") if state.has(f"body.0.body.{b}.body.0.weight")]
    hidden = state.shape("body.0.body.0.body.3.conv_du.0.weight")[0]
    scale = upsampler_scale(state, "tail.0.", filters)
    if scale is None:
        return None
    if shuffle > 1 and scale != 4:
        raise CheckpointMismatch(f"{state.source}: RCAN unshuffle_mod with a x{scale} tail: the variant upsamples x4")
    config = {"scale": scale // shuffle, "num_groups": max(groups) + 1, "num_blocks": max(blocks) + 1, "filters": filters,
              "reduction": filters // hidden, "rgb_mean": mean_shift_mean(state)}
    if shuffle > 1:
        config["pixel_unshuffle"] = True
    return {"model": "rcan", "config": config}


def load_channel_attention(layer, state, prefix):
    """keras-sr's `ChannelAttention` from RCAN's `CALayer.conv_du.{0,2}` (1x1 convs with biases; SMSR, ClassSR too)."""
    for name, index in (("down", 0), ("up", 2)):
        key = f"{prefix}.conv_du.{index}"
        weight = state.take(f"{key}.weight")
        if weight.ndim != 4 or weight.shape[2:] != (1, 1):
            raise CheckpointMismatch(f"{state.source}: {key}.weight has shape {weight.shape}, expected a 1x1 conv")
        assign(getattr(layer, f"{name}_kernel"), dense_kernel(weight[:, :, 0, 0]), state, f"{key}.weight")
        assign(getattr(layer, f"{name}_bias"), state.take(f"{key}.bias"), state, f"{key}.bias")


def load_residual_groups(model, state, prefix, num_groups, num_blocks):
    """RCAN's trunk: `{prefix}body.{g}` residual groups (RCABs + a conv) into `group_{g}`, then `body_end`."""
    for g in range(num_groups):
        group = model.get_layer(f"group_{g}")
        for b, block in enumerate(group.blocks):
            key = f"{prefix}body.{g}.body.{b}.body"
            load_conv(block.conv1, state, f"{key}.0")
            load_conv(block.conv2, state, f"{key}.2")
            load_channel_attention(block.attention, state, f"{key}.3")
        load_conv(group.conv, state, f"{prefix}body.{g}.body.{num_blocks}")
    load_conv(model.get_layer("body_end"), state, f"{prefix}body.{num_groups}")


def load(model, state, config):
    check_mean_shift(state, config["rgb_mean"])
    if config.get("pixel_unshuffle"):
        load_conv(model.get_layer("head"), state, "head.1",
                  in_permutation=pytorch_to_dcr_permutation(3, 4 // config["scale"]))
    else:
        load_conv(model.get_layer("head"), state, "head.0")
    load_residual_groups(model, state, "", config["num_groups"], config["num_blocks"])
    load_upsampler(model.get_layer("upsample"), state, "tail.0.",
                   4 if config.get("pixel_unshuffle") else config["scale"])
    load_conv(model.get_layer("tail"), state, "tail.1")
    return model


register_converter("rcan", detect, load, priority=20)
