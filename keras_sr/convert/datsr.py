"""DATSR from its official checkpoints (caojiezhang/DATSR) -> `models.build("datsr")`.

Cao et al., "Reference-based Image Super-Resolution with Deformable Attention Transformer", ECCV
2022; official code caojiezhang/DATSR (`datsr/models/archs/swin_unetv3_ref_restoration_arch.py`,
`dcn_v2.py`, `flow_similarity_corres_generation_arch.py`, `contras_extractor_arch.py`,
`vgg_arch.py`, `options/test/test_restoration_mse.yml` / `test_swin_gan.yml`). The test model is
three networks, as C2-Matching's, and the weights come in three files passed together
(`from_checkpoint([...])`, `keras-sr convert A B C`), merged into one state dict:

1. `restoration_mse.pth` (DATSR-rec) or `restoration_gan.pth` (the GAN model), the GitHub release
   files the test options load as `pretrain_model_g`: `SwinUnetv3RestorationNet` (`network_g`), a
   plain state dict (`save_network`):

       content_extractor.conv_first, .body.{i}.conv1/conv2    ContentExtractor: checked, skipped
       dyn_agg_restore.unet_head                               3 -> ngf on the bilinear x4 LR
       dyn_agg_restore.{S}_offset_conv1/2                      S in down_large, down_medium, up_small,
       dyn_agg_restore.{S}_dyn_agg.weight/.bias                     up_medium, up_large (relu1_1, 2_1,
       dyn_agg_restore.{S}_dyn_agg.conv_offset_mask                 3_1, 2_1, 1_1): G * 27 (y, x) + masks
       dyn_agg_restore.{a}_head_{b}.0                          S = a_b
       dyn_agg_restore.{a}_body_{b}.patch_embed.norm, .norm    the Swin body's two LayerNorms
       dyn_agg_restore.{a}_body_{b}.layers.{i}.residual_group.blocks.{j}.{norm1,attn.qkv,attn.proj,
           attn.relative_position_bias_table,norm2,mlp.fc1,mlp.fc2}, .layers.{i}.conv
       dyn_agg_restore.down_tail_{large,medium}                stride-2 convs
       dyn_agg_restore.up_tail_{small,medium}.0                conv before PixelShuffle x2
       dyn_agg_restore.up_tail_large.0, .2                     ngf -> ngf / 2 -> 3

2. `feature_extraction.pth` (`pretrain_model_feature_extractor`, C2-Matching's trained file):
   `ContrasExtractorSep`, `feature_extraction_image{1,2}.model.conv{1_1,1_2,2_1,2_2,3_1}` and
   the ImageNet `mean`/`std` buffers (checked, constants here).
3. torchvision's ImageNet VGG19 (`vgg19-dcbb9e9d.pth`, `features.{i}`): `network_map`'s
   `VGGFeatureExtractor` builds relu1_1/relu2_1/relu3_1 from `vgg19(pretrained=True)`, and
   DATSR saves no copy. `features.{0,2,5,7,10}` are loaded, the rest marked used (a VGG16 is
   refused), as for C2-Matching (`keras_sr.convert.c2_matching.load_matching_networks`).

Detected from the shapes: ngf (`unet_head`), deformable groups (`conv_offset_mask` / 27), the
reference VGG widths (the offset convs), the Swin depths (blocks per RSTB), heads (the bias
tables), window (`relative_position_index`), MLP ratio (`fc1`) and the contrastive widths; every
Swin body must agree (the builder shares one setting). Checked and skipped by name: the
`ContentExtractor` (`content_extractor.*`: conv_first `(ngf, 3, 3, 3)` and `(ngf, ngf, 3, 3)`
residual convs; built and saved by the official code, never read by its forward pass, left out of
the keras-sr graph: 2,364,928 parameters at the paper size) and the Swin buffers
`attn.relative_position_index` / `attn_mask` (recomputed by the Keras layers for the actual
size, as the official forward recomputes the mask). PyTorch's PixelShuffle channel order is
converted (`pytorch_to_dcr_permutation`); the pre-offsets and flows have no weights.

Example:
    >>> from keras_sr.convert import from_checkpoint
    >>> model = from_checkpoint(["restoration_mse.pth", "feature_extraction.pth", "vgg19-dcbb9e9d.pth"])
    >>> model.count_params()                       # 15,662,043 + 1,110,656 + 555,328
"""

import numpy as np

from keras_sr.convert.c2_matching import contrastive_widths, load_matching_networks, require_matching_networks
from keras_sr.convert.registry import CheckpointMismatch, indices, load_conv, register_converter
from keras_sr.convert.swinir import assign_norm, load_swin_block
from keras_sr.layers.subpixel_upsampling import pytorch_to_dcr_permutation

__all__ = ["detect", "load", "STAGES"]

R = "dyn_agg_restore."
# keras-sr stage names (= the official `{stage}_offset_conv1` prefixes) and their VGG level index.
STAGES = (("down_large", 0), ("down_medium", 1), ("up_small", 2), ("up_medium", 1), ("up_large", 0))


def _part(stage, part):
    """Official module name of a stage's head / body / tail: `down_large` -> `down_head_large`."""
    a, b = stage.split("_")
    return f"{R}{a}_{part}_{b}"


def _swin_setting(state, body):
    layers = indices(state, f"{body}.layers.", ".conv.weight")
    if not layers:
        raise CheckpointMismatch(f"{state.source}: no Swin layers under {body}.layers.*")
    depths, heads = [], []
    for i in layers:
        group = f"{body}.layers.{i}.residual_group.blocks."
        blocks = indices(state, group, ".norm1.weight")
        depths.append(len(blocks))
        heads.append(state.shape(f"{group}0.attn.relative_position_bias_table")[1])
    first = f"{body}.layers.{layers[0]}.residual_group.blocks.0."
    window = int(round(np.sqrt(state.shape(first + "attn.relative_position_index")[0])))
    ratio = state.shape(first + "mlp.fc1.weight")[0] / state.shape(first + "mlp.fc1.weight")[1]
    return tuple(depths), tuple(heads), window, float(ratio)


def detect(state):
    if not (state.has(R + "unet_head.weight") and state.has(R + "up_small_dyn_agg.weight")
            and state.has(R + "down_body_large.patch_embed.norm.weight")):
        return None
    require_matching_networks(state, "DATSR")
    ngf = state.shape(R + "unet_head.weight")[0]
    offset_channels = state.shape(R + "up_small_dyn_agg.conv_offset_mask.weight")[0]
    if offset_channels % 27:
        raise CheckpointMismatch(f"{state.source}: {R}up_small_dyn_agg.conv_offset_mask has {offset_channels} "
                                 "outputs, not 27 per deformable group")
    vgg_widths = tuple(state.shape(f"{R}{stage}_offset_conv1.weight")[0] for stage in ("down_large", "down_medium",
                                                                                         "up_small"))
    setting = _swin_setting(state, _part("down_large", "body"))
    for stage, _ in STAGES[1:]:
        other = _swin_setting(state, _part(stage, "body"))
        if other != setting:
            raise CheckpointMismatch(f"{state.source}: {_part(stage, 'body')} has Swin depths/heads/window/MLP ratio "
                                     f"{other}, {_part('down_large', 'body')} {setting}; keras-sr's DATSR shares one")
    depths, heads, window, ratio = setting
    config = {"scale": 4, "ngf": ngf, "groups": offset_channels // 27, "depths": depths, "num_heads": heads,
              "window_size": window, "mlp_ratio": ratio, "vgg_widths": vgg_widths,
              "contrastive_widths": contrastive_widths(state), "train_vgg": False}
    return {"model": "datsr", "config": config}


def _skip_content_extractor(state, ngf):
    """The unused `ContentExtractor`: conv_first and residual convs checked by shape, then marked used."""
    prefix = "content_extractor."
    state.take(prefix + "conv_first.weight", (ngf, 3, 3, 3))
    state.take(prefix + "conv_first.bias", (ngf,))
    for i in indices(state, prefix + "body."):
        for conv in ("conv1", "conv2"):
            state.take(f"{prefix}body.{i}.{conv}.weight", (ngf, ngf, 3, 3))
            state.take(f"{prefix}body.{i}.{conv}.bias", (ngf,))
    extra = sorted(k for k in state.keys() if k.startswith(prefix) and k not in state.used)
    if extra:
        raise CheckpointMismatch(f"{state.source}: {extra[0]!r} is not part of the ContentExtractor layout "
                                 "(conv_first, body.{i}.conv1/conv2)")


def _load_swin_body(model, state, stage):
    key = _part(stage, "body")
    assign_norm(model.get_layer(f"{stage}_body_patch_embed_norm"), state, f"{key}.patch_embed.norm")
    assign_norm(model.get_layer(f"{stage}_body_norm"), state, f"{key}.norm")
    for i in indices(state, f"{key}.layers.", ".conv.weight"):
        group = model.get_layer(f"{stage}_body_layers_{i}")
        for j, block in enumerate(group.blocks):
            load_swin_block(block, state, f"{key}.layers.{i}.residual_group.blocks.{j}")
        load_conv(group.convs[0], state, f"{key}.layers.{i}.conv")


def load(model, state, config):
    load_matching_networks(model, state)
    ngf = config["ngf"]
    _skip_content_extractor(state, ngf)
    load_conv(model.get_layer("unet_head"), state, R + "unet_head")
    for stage, _ in STAGES:
        load_conv(model.get_layer(f"{stage}_offset_conv1"), state, f"{R}{stage}_offset_conv1")
        load_conv(model.get_layer(f"{stage}_offset_conv2"), state, f"{R}{stage}_offset_conv2")
        dcn, key = model.get_layer(f"{stage}_dyn_agg"), f"{R}{stage}_dyn_agg"
        load_conv(dcn, state, key)  # the deformable conv's own kernel and bias
        load_conv(dcn.conv_offset_mask, state, f"{key}.conv_offset_mask")
        load_conv(model.get_layer(f"{stage}_head"), state, _part(stage, "head") + ".0")
        _load_swin_body(model, state, stage)
    load_conv(model.get_layer("down_large_tail"), state, _part("down_large", "tail"))
    load_conv(model.get_layer("down_medium_tail"), state, _part("down_medium", "tail"))
    permutation = pytorch_to_dcr_permutation(ngf, 2)
    for stage in ("up_small", "up_medium"):
        load_conv(model.get_layer(f"{stage}_tail").convs[0], state, _part(stage, "tail") + ".0",
                  out_permutation=permutation)
    load_conv(model.get_layer("up_large_tail_conv1"), state, _part("up_large", "tail") + ".0")
    load_conv(model.get_layer("up_large_tail_conv2"), state, _part("up_large", "tail") + ".2")
    return model


register_converter("datsr", detect, load, priority=20)
