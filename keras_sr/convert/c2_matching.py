"""C2-Matching from its official checkpoints (yumingj/C2-Matching) -> `models.build("c2_matching")`.

Jiang et al., "Robust Reference-based Super-Resolution via C2-Matching", CVPR
2021; official code yumingj/C2-Matching (`mmsr/models/archs/ref_restoration_arch.py`,
`contras_extractor_arch.py`, `corres_generation_arch.py`, `DCNv2/dcn_v2.py`,
`options/test/test_C2_matching.yml`). The official test model is three networks,
and the weights come in three files, passed together (`from_checkpoint([...])`,
`keras-sr convert A B C`), merged into one state dict:

1. `c2_matching_restoration.pth` (or `..._mse.pth`): `RestorationNet` (`network_g`), a plain state dict:

       content_extractor.conv_first, content_extractor.body.{i}.conv1/conv2
       dyn_agg_restore.{small,medium,large}_offset_conv1/2          offset features (relu3_1, 2_1, 1_1)
       dyn_agg_restore.{small,medium,large}_dyn_agg.weight/.bias    the DCNv2 kernel (`DCN_sep_pre_multi_offset`)
       dyn_agg_restore.{small,medium,large}_dyn_agg.conv_offset_mask   G * 27 offsets (y, x) and masks
       dyn_agg_restore.head_{small,medium,large}.0, body_{...}.{i}.conv1/conv2
       dyn_agg_restore.tail_small.0, tail_medium.0 (PixelShuffle x2), tail_large.0, tail_large.2

2. `feature_extraction.pth`: `ContrasExtractorSep` (`network_extractor`):
   `feature_extraction_image{1,2}.model.conv{1_1,1_2,2_1,2_2,3_1}` (VGG16 to conv3_1) and the
   ImageNet `mean`/`std` buffers of each (checked, constants here).
3. torchvision's ImageNet VGG19 (`vgg19-dcbb9e9d.pth`, `features.{i}` keys): `network_map` builds
   its relu1_1/relu2_1/relu3_1 extractor from it (`VGGFeatureExtractor`, frozen); C2-Matching
   releases no copy. Only `features.{0,2,5,7,10}` (conv1_1 ... conv3_1) are used, as the official
   `features[:max_idx + 1]`; the deeper convs and the classifier are marked used without being
   loaded (a VGG16 file is refused: it has no `features.34`).

Missing parts are an error naming the file that provides them. Detected: ngf, blocks, deformable
groups, the reference VGG widths and the contrastive widths. DCNv2's offset layout (group, tap,
[y, x]) and mask layout are `keras_sr.layers.DeformableConv2D`'s, so the offset/mask conv converts
as a plain conv; the pre-offsets' `[x, y]` flow is keras-sr's `[dy, dx]` (computed, no weights).

Example:
    >>> from keras_sr.convert import from_checkpoint
    >>> model = from_checkpoint(["c2_matching_restoration.pth", "feature_extraction.pth", "vgg19-dcbb9e9d.pth"])
    >>> model.count_params()                       # 8,865,547 + 1,110,656 + 555,328
"""

import numpy as np

from keras_sr.convert.registry import CheckpointMismatch, indices, load_conv, register_converter
from keras_sr.layers.subpixel_upsampling import pytorch_to_dcr_permutation
from keras_sr.layers.vgg_features import IMAGENET_MEAN, IMAGENET_STD

__all__ = ["detect", "load", "VGG_CONVS", "EXTRACTORS", "require_matching_networks", "contrastive_widths",
           "load_matching_networks", "check_torchvision_vgg19", "load_torchvision_vgg"]

R = "dyn_agg_restore."
EXTRACTORS = ("feature_extraction_image1.model.", "feature_extraction_image2.model.")
VGG_CONVS = {"conv1_1": 0, "conv1_2": 2, "conv2_1": 5, "conv2_2": 7, "conv3_1": 10}  # torchvision indices
STAGES = ("small", "medium", "large")


def detect(state):
    if not (state.has("content_extractor.conv_first.weight") and state.has(R + "small_dyn_agg.weight")):
        return None
    require_matching_networks(state, "C2-Matching")
    ngf = state.shape("content_extractor.conv_first.weight")[0]
    blocks = len(indices(state, "content_extractor.body."))
    offset_channels = state.shape(R + "small_dyn_agg.conv_offset_mask.weight")[0]
    if offset_channels % 27:
        raise CheckpointMismatch(f"{state.source}: {R}small_dyn_agg.conv_offset_mask has {offset_channels} outputs, "
                                 "not 27 per deformable group")
    vgg_widths = tuple(state.shape(f"{R}{stage}_offset_conv1.weight")[0] for stage in reversed(STAGES))
    contrastive = contrastive_widths(state)
    config = {"scale": 4, "ngf": ngf, "n_blocks": blocks, "groups": offset_channels // 27, "vgg_widths": vgg_widths,
              "contrastive_widths": contrastive, "train_vgg": False}
    return {"model": "c2_matching", "config": config}


def _check_imagenet_buffers(state, prefix):
    for name, value in (("mean", IMAGENET_MEAN), ("std", IMAGENET_STD)):
        got = state.take(f"{prefix}{name}").reshape(-1)
        if got.shape != (3,) or not np.allclose(got, value, rtol=1e-5):
            raise CheckpointMismatch(f"{state.source}: {prefix}{name} is {got.tolist()}, not ImageNet's {list(value)}")


def _blocks(net, state, layer_prefix, key_prefix, count):
    for i in range(count):
        block = net.get_layer(f"{layer_prefix}_{i}")
        load_conv(block.conv1, state, f"{key_prefix}{i}.conv1")
        load_conv(block.conv2, state, f"{key_prefix}{i}.conv2")


def require_matching_networks(state, family):
    """The contrastive extractor and torchvision VGG19 keys are there (else an error naming their files)."""
    missing = []
    if not state.has(EXTRACTORS[0] + "conv1_1.weight"):
        missing.append("the contrastive feature extractor (feature_extraction.pth: "
                       "feature_extraction_image1/2.model.*)")
    if not state.has("features.0.weight"):
        missing.append("the reference VGG19 (torchvision's vgg19-dcbb9e9d.pth: features.*)")
    if missing:
        raise CheckpointMismatch(f"{state.source}: a {family} restoration network, but the converted model also "
                                 f"needs {' and '.join(missing)}; pass all three files together")
    check_torchvision_vgg19(state, f"{family}'s reference features are VGG19's")


def check_torchvision_vgg19(state, why):
    """`features.*` is torchvision's VGG19 (it has `features.34`), else an error ending with `why`."""
    if not state.has("features.34.weight"):
        raise CheckpointMismatch(f"{state.source}: features.* is not a torchvision VGG19 (no features.34.weight; a "
                                 f"VGG16?): {why}")


def load_torchvision_vgg(vgg, state):
    """A keras-sr `VGGFeatures` (conv1_1 ... conv3_1) from torchvision's `features.*`; the deeper `features.*`
    and `classifier.*` keys are marked used by name."""
    for name, conv in vgg.convs.items():
        load_conv(conv, state, f"features.{VGG_CONVS[name]}")
    state.skip(*[k for k in state.keys() if k.startswith(("features.", "classifier."))])


def contrastive_widths(state):
    """conv1_1, conv2_1, conv3_1 widths of the contrastive extractor (`feature_extraction_image1`)."""
    return tuple(state.shape(f"{EXTRACTORS[0]}{name}.weight")[0] for name in ("conv1_1", "conv2_1", "conv3_1"))


def load_matching_networks(model, state):
    """`contrastive_extractor` from `feature_extraction_image{1,2}.*` and `reference_vgg` from torchvision `features.*`."""
    extractor = model.get_layer("contrastive_extractor")
    for trunk, prefix in zip((extractor.input_extractor, extractor.reference_extractor), EXTRACTORS):
        for name, conv in trunk.convs.items():
            load_conv(conv, state, prefix + name)
        _check_imagenet_buffers(state, prefix[:-len("model.")])
    load_torchvision_vgg(model.get_layer("reference_vgg"), state)


def load(model, state, config):
    load_matching_networks(model, state)
    net = model.get_layer("restoration")
    n = config["n_blocks"]
    load_conv(net.get_layer("content_conv_first"), state, "content_extractor.conv_first")
    _blocks(net, state, "content_body", "content_extractor.body.", n)
    for stage in STAGES:
        aggregation = net.get_layer(f"{stage}_dyn_agg")
        load_conv(aggregation.offset_conv1, state, f"{R}{stage}_offset_conv1")
        load_conv(aggregation.offset_conv2, state, f"{R}{stage}_offset_conv2")
        dcn, key = aggregation.dyn_agg, f"{R}{stage}_dyn_agg"
        load_conv(dcn, state, key)  # the deformable conv's own kernel and bias
        load_conv(dcn.conv_offset_mask, state, f"{key}.conv_offset_mask")
        load_conv(net.get_layer(f"head_{stage}"), state, f"{R}head_{stage}.0")
        _blocks(net, state, f"body_{stage}", f"{R}body_{stage}.", n)
    permutation = pytorch_to_dcr_permutation(config["ngf"], 2)
    for stage in ("small", "medium"):
        load_conv(net.get_layer(f"tail_{stage}").convs[0], state, f"{R}tail_{stage}.0", out_permutation=permutation)
    load_conv(net.get_layer("tail_large_conv1"), state, f"{R}tail_large.0")
    load_conv(net.get_layer("tail_large_conv2"), state, f"{R}tail_large.2")
    return model


register_converter("c2_matching", detect, load, priority=20)
