"""Converter: official HAT checkpoints (XPixelGroup/HAT `hat_arch.py`) -> `models.build("hat")`.

Hyperparameters from the keys and shapes as spandrel does: embed dim from `conv_first`, window from
`relative_position_index_SA`, overlap ratio from `relative_position_index_OCA`, depths and heads from
the block keys and the OCAB bias tables, compress ratio / squeeze factor from the channel attention
block's convs, MLP ratio from `fc1`, the scale from the upsampler. `conv_scale` (0.01) cannot be
read from a checkpoint and keeps its default, as in spandrel. The model-level
`relative_position_index_SA/OCA` buffers are recomputed by the layers and skipped.

Example:
    >>> from keras_sr.convert import StateDict, get_converter
    >>> found = get_converter("hat").detect(StateDict(torch_state_dict_as_numpy))
    >>> model = keras_sr.models.build(found["model"], **found["config"])
"""

import numpy as np

from keras_sr.convert.registry import CheckpointMismatch, register_converter
from keras_sr.convert.swinir import (assign_conv, assign_dense, assign_norm, assign_upsampler, assign_window_attention,
                                     count_sequence)

__all__ = ["detect", "load"]

BLOCK = "layers.0.residual_group.blocks.0."


def detect(state):
    required = ("relative_position_index_SA", "relative_position_index_OCA", "conv_first.weight",
                BLOCK + "conv_block.cab.0.weight", "layers.0.residual_group.overlap_attn.qkv.weight", "conv_last.weight")
    if not all(state.has(k) for k in required):
        return None
    if state.has("absolute_pos_embed") or not state.has("conv_after_body.weight"):
        raise CheckpointMismatch(f"{state.source}: a HAT variant keras-sr does not implement (absolute position "
                                 "embedding or resi_connection 'identity').")
    embed_dim, channels = state.shape("conv_first.weight")[:2]
    feat = state.shape("conv_before_upsample.0.weight")[0]
    scale, index = 1, 0
    while state.has(f"upsample.{index}.weight"):
        scale *= int(round(np.sqrt(state.shape(f"upsample.{index}.weight")[0] // feat)))
        index += 2
    window = int(round(np.sqrt(state.shape("relative_position_index_SA")[0])))
    overlap = int(round(np.sqrt(state.shape("relative_position_index_OCA")[1])))
    groups = count_sequence(state, "layers")
    mlp_ratio = state.shape(BLOCK + "mlp.fc1.weight")[0] / embed_dim
    config = dict(
        scale=scale, embed_dim=int(embed_dim),
        depths=[count_sequence(state, f"layers.{i}.residual_group.blocks") for i in range(groups)],
        num_heads=[state.shape(f"layers.{i}.residual_group.overlap_attn.relative_position_bias_table")[1]
                   for i in range(groups)],
        window_size=window, overlap_ratio=(overlap - window) / window,
        compress_ratio=int(embed_dim // state.shape(BLOCK + "conv_block.cab.0.weight")[0]),
        squeeze_factor=int(embed_dim // state.shape(BLOCK + "conv_block.cab.3.attention.1.weight")[0]),
        mlp_ratio=float(int(mlp_ratio)) if mlp_ratio == int(mlp_ratio) else mlp_ratio,
        num_feat=int(feat), channels=int(channels), qkv_bias=state.has(BLOCK + "attn.qkv.bias"))
    return {"model": "hat", "config": config}


def _assign_channel_attention(attention, state, key):
    down, up = state.take(key + ".1.weight"), state.take(key + ".3.weight")  # 1x1 convs (out, in, 1, 1)
    for variable, value in [(attention.down_kernel, down[:, :, 0, 0].T), (attention.down_bias, state.take(key + ".1.bias")),
                            (attention.up_kernel, up[:, :, 0, 0].T), (attention.up_bias, state.take(key + ".3.bias"))]:
        if tuple(variable.shape) != value.shape:
            raise CheckpointMismatch(f"{key}: shape {value.shape} does not fit {variable.path} {tuple(variable.shape)}")
        variable.assign(value)


def _assign_mlp_and_norms(block, state, key):
    assign_norm(block.norm1, state, key + ".norm1")
    assign_norm(block.norm2, state, key + ".norm2")
    assign_dense(block.fc1, state, key + ".mlp.fc1")
    assign_dense(block.fc2, state, key + ".mlp.fc2")


def load(model, state, config):
    assign_conv(model.get_layer("conv_first"), state, "conv_first")
    assign_norm(model.get_layer("patch_embed_norm"), state, "patch_embed.norm")
    for i in range(len(config["depths"])):
        group = model.get_layer(f"layers_{i}")
        prefix = f"layers.{i}.residual_group"
        for j, block in enumerate(group.blocks):
            key = f"{prefix}.blocks.{j}"
            _assign_mlp_and_norms(block, state, key)
            assign_window_attention(block.attn, state, key + ".attn")
            assign_conv(block.conv_block.conv1, state, key + ".conv_block.cab.0")
            assign_conv(block.conv_block.conv2, state, key + ".conv_block.cab.2")
            _assign_channel_attention(block.conv_block.attention, state, key + ".conv_block.cab.3.attention")
        ocab = group.overlap_attn
        _assign_mlp_and_norms(ocab, state, prefix + ".overlap_attn")
        assign_window_attention(ocab, state, prefix + ".overlap_attn")
        assign_conv(group.conv, state, f"layers.{i}.conv")
    assign_norm(model.get_layer("norm"), state, "norm")
    assign_conv(model.get_layer("conv_after_body"), state, "conv_after_body")
    assign_upsampler(model, state, "pixelshuffle", config["scale"], config.get("channels", 3))
    state.skip("relative_position_index_SA", "relative_position_index_OCA")


register_converter("hat", detect, load, priority=20)
