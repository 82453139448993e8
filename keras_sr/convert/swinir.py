"""Converter: official SwinIR checkpoints (JingyunLiang/SwinIR `network_swinir.py`) -> `models.build("swinir")`.

Reads the hyperparameters from the keys and shapes as spandrel does: embed dim from `conv_first`,
window from `relative_position_index`, RSTB depths and heads from the block keys and the bias
tables, MLP ratio from `fc1`, the upsampler from which upsampling keys exist and the scale from the
upsampler's shapes. The `relative_position_index` and `attn_mask` buffers are recomputed by the
Keras layers and are skipped. PyTorch's `PixelShuffle` orders channels differently from
`depth_to_space` (CRD vs DCR): the convs before each shuffle get their output channels permuted.
Not supported (a clear error): the real-world `nearest+conv` upsampler, the denoising / JPEG
models without an upsampler, `start_unshuffle` and absolute position embeddings.

Example:
    >>> from keras_sr.convert import StateDict, get_converter
    >>> found = get_converter("swinir").detect(StateDict(torch_state_dict_as_numpy))
    >>> model = keras_sr.models.build(found["model"], **found["config"])
"""

import numpy as np

from keras_sr.convert.registry import CheckpointMismatch, conv_kernel, dense_kernel, register_converter
from keras_sr.layers.subpixel_upsampling import pytorch_to_dcr_permutation, upsampling_steps

__all__ = ["detect", "load", "load_swin_block", "count_sequence", "assign_conv", "assign_dense", "assign_norm",
           "assign_upsampler", "assign_window_attention"]

BLOCK = "layers.0.residual_group.blocks.0."


def count_sequence(state, prefix):
    """How many `prefix.<i>.` indices exist (0, 1, ... without gaps)."""
    n = 0
    while any(k.startswith(f"{prefix}.{n}.") for k in state.keys()):
        n += 1
    return n


def detect(state):
    required = ("conv_first.weight", BLOCK + "norm1.weight", BLOCK + "mlp.fc1.bias",
                BLOCK + "attn.relative_position_index", BLOCK + "attn.relative_position_bias_table")
    if not all(state.has(k) for k in required) or state.has(BLOCK + "attn.logit_scale"):
        return None
    if state.has(BLOCK + "conv_block.cab.0.weight"):
        return None  # HAT
    unsupported = [k for k in ("conv_up1.weight", "conv_first.1.weight", "absolute_pos_embed") if state.has(k)]
    if unsupported:
        raise CheckpointMismatch(f"{state.source}: a SwinIR variant keras-sr does not implement "
                                 f"(key {unsupported[0]!r}: real-world nearest+conv upsampler, pixel-unshuffle "
                                 "input or absolute position embedding).")
    embed_dim, channels = state.shape("conv_first.weight")[:2]
    if state.has("conv_before_upsample.0.weight"):
        upsampler = "pixelshuffle"
        feat = state.shape("conv_before_upsample.0.weight")[0]
        scale, index = 1, 0
        while state.has(f"upsample.{index}.weight"):  # conv, PixelShuffle, conv, PixelShuffle, ...
            scale *= int(round(np.sqrt(state.shape(f"upsample.{index}.weight")[0] // feat)))
            index += 2
    elif state.has("upsample.0.weight"):
        upsampler = "pixelshuffledirect"
        scale = int(round(np.sqrt(state.shape("upsample.0.weight")[0] // channels)))
    else:
        raise CheckpointMismatch(f"{state.source}: SwinIR without an upsampler (denoising / JPEG) is not supported.")
    groups = count_sequence(state, "layers")
    depths = [count_sequence(state, f"layers.{i}.residual_group.blocks") for i in range(groups)]
    heads = [state.shape(f"layers.{i}.residual_group.blocks.0.attn.relative_position_bias_table")[1]
             for i in range(groups)]
    window = int(round(np.sqrt(state.shape(BLOCK + "attn.relative_position_index")[0])))
    config = dict(scale=scale, embed_dim=int(embed_dim), depths=depths, num_heads=heads, window_size=window,
                  mlp_ratio=state.shape(BLOCK + "mlp.fc1.bias")[0] / embed_dim, upsampler=upsampler,
                  resi_connection="1conv" if state.has("conv_after_body.weight") else "3conv",
                  channels=int(channels), qkv_bias=state.has(BLOCK + "attn.qkv.bias"))
    if config["mlp_ratio"] == int(config["mlp_ratio"]):
        config["mlp_ratio"] = float(int(config["mlp_ratio"]))
    return {"model": "swinir", "config": config}


def assign_conv(layer, state, key, permutation=None):
    kernel, bias = conv_kernel(state.take(key + ".weight")), state.take(key + ".bias")
    if permutation is not None:
        kernel, bias = kernel[..., permutation], bias[permutation]
    _assign(layer.kernel, kernel, key)
    _assign(layer.bias, bias, key)


def assign_dense(layer, state, key):
    _assign(layer.kernel, dense_kernel(state.take(key + ".weight")), key)
    if layer.use_bias:
        _assign(layer.bias, state.take(key + ".bias"), key)


def assign_norm(layer, state, key):
    _assign(layer.gamma, state.take(key + ".weight"), key)
    _assign(layer.beta, state.take(key + ".bias"), key)


def assign_window_attention(attention, state, key):
    """`WindowAttention` (or anything with `qkv`, `proj`, `relative_position_bias_table`) from `key.*`."""
    _assign(attention.relative_position_bias_table, state.take(key + ".relative_position_bias_table"), key)
    assign_dense(attention.qkv, state, key + ".qkv")
    assign_dense(attention.proj, state, key + ".proj")


def assign_upsampler(model, state, upsampler, scale, channels):
    """The official `pixelshuffle` (conv_before_upsample, upsample.{0,2,..}, conv_last) or `pixelshuffledirect`."""
    if upsampler == "pixelshuffle":
        assign_conv(model.get_layer("conv_before_upsample"), state, "conv_before_upsample.0")
        upsample = model.get_layer("upsample")
        for index, (conv, r) in enumerate(zip(upsample.convs, upsampling_steps(scale))):
            assign_conv(conv, state, f"upsample.{2 * index}", pytorch_to_dcr_permutation(upsample.filters, r))
        assign_conv(model.get_layer("conv_last"), state, "conv_last")
    else:
        assign_conv(model.get_layer("upsample"), state, "upsample.0", pytorch_to_dcr_permutation(channels, scale))


def assign_residual_convs(layers, state, key, resi_connection):
    convs = [layer for layer in layers if hasattr(layer, "kernel")]
    if resi_connection == "1conv":
        assign_conv(convs[0], state, key)
    else:
        for conv, index in zip(convs, (0, 2, 4)):
            assign_conv(conv, state, f"{key}.{index}")


def load_swin_block(block, state, key):
    """One `SwinTransformerBlock` from SwinIR's `{key}.norm1 / .attn / .norm2 / .mlp.fc1 / .mlp.fc2` keys.

    The attention's `relative_position_index` and `attn_mask` buffers (the latter saved at the training
    size) are skipped by name: keras-sr computes both for the actual size, as the official forward does.
    """
    assign_norm(block.norm1, state, key + ".norm1")
    assign_window_attention(block.attn, state, key + ".attn")
    assign_norm(block.norm2, state, key + ".norm2")
    assign_dense(block.fc1, state, key + ".mlp.fc1")
    assign_dense(block.fc2, state, key + ".mlp.fc2")
    state.skip(key + ".attn.relative_position_index", key + ".attn_mask")


def load(model, state, config):
    assign_conv(model.get_layer("conv_first"), state, "conv_first")
    assign_norm(model.get_layer("patch_embed_norm"), state, "patch_embed.norm")
    for i in range(len(config["depths"])):
        group = model.get_layer(f"layers_{i}")
        for j, block in enumerate(group.blocks):
            load_swin_block(block, state, f"layers.{i}.residual_group.blocks.{j}")
        assign_residual_convs(group.convs, state, f"layers.{i}.conv", config.get("resi_connection", "1conv"))
    assign_norm(model.get_layer("norm"), state, "norm")
    resi = config.get("resi_connection", "1conv")
    body = [model.get_layer("conv_after_body")] if resi == "1conv" else [
        model.get_layer(f"conv_after_body_{k}") for k in (0, 2, 4)]
    assign_residual_convs(body, state, "conv_after_body", resi)
    assign_upsampler(model, state, config["upsampler"], config["scale"], config.get("channels", 3))


def _assign(variable, value, key):
    if tuple(variable.shape) != tuple(value.shape):
        raise CheckpointMismatch(f"{key}: shape {tuple(value.shape)} does not fit {variable.path} {tuple(variable.shape)}")
    variable.assign(value)


register_converter("swinir", detect, load, priority=10)
