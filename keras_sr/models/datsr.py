"""DATSR: Reference-based Image Super-Resolution with Deformable Attention Transformer (x4).

Cao, Liang, Zhang, Li, Zhang, Timofte, Van Gool, ECCV 2022
(https://arxiv.org/abs/2207.11938). A port of the official inference path
(github.com/caojiezhang/DATSR: `ContrasExtractorSep` ->
`FlowSimCorrespondenceGenerationArch` -> `SwinUnetv3RestorationNet`,
`options/train/train_restoration_mse.yml`: ngf 128, groups 8, depths (4, 4),
heads (4, 4), window 8), same layers:

* inputs: `lr` (h x w), `lr_up` (LR bicubic x4, used for matching) and
  `ref` (4h x 4w, the same size: as the official test set, `prepare_inputs`
  zero-pads input and reference to a common size, here a multiple of 32 for
  the 8x8 attention windows at LR size); RGB in [0, 255];
* `contrastive_extractor` (C2-Matching's `ContrastiveFeatureExtractor`,
  1,110,656 parameters, frozen: DATSR loads C2-Matching's trained one) and
  `correspondence` (`FlowSimilarityCorrespondence`): 3x3 cosine patch
  matching giving flows, deformable pre-offsets and similarities at relu3_1,
  relu2_1, relu1_1 resolution;
* `reference_vgg`: VGG19 relu1_1/relu2_1/relu3_1 of the reference (official:
  frozen ImageNet weights, 555,328 parameters not counted in the paper);
* the restoration U-Net on the bilinear x4 LR: five stages (down at 4x and
  2x, up at 1x, 2x and 4x the LR size), each a texture feature aggregation
  (reference features pre-warped by the flow, `FlowWarp` zeros/`grid_sample`,
  concatenated with the stage features and the reference features -> two
  3x3 convs -> a deformable attention, `DeformableConv2D` with the
  pre-offsets, `10 * tanh` learned offsets and similarity-scaled masks), a
  head conv, a Swin Transformer body (patch-embed LayerNorm, two residual
  Swin groups of 4 layers, LayerNorm; `ResidualSwinTransformerBlock`) with a
  skip, and a stride-2 conv / sub-pixel x2 tail; the output adds the
  bilinear base.

Parameters: the official `SwinUnetv3RestorationNet` counts 18,026,971 (the
paper's 18.03M); it also builds a `ContentExtractor` (conv + 8 residual
blocks, 2,364,928 parameters) whose output `DynamicAggregationRestoration`
never reads (its `x` argument is unused), so a functional graph leaves it out:
the restoration network here has 15,662,043 parameters
(`official_parameter_count()` gives both), plus the 1,110,656-parameter
extractor and the VGG19 map network.

Differences from the official code: the official restoration pads/crops
nothing itself; `prepare_inputs` pads to multiples of 32 (the official test
data pads to a common size too). The Swin attention uses keras-sr's window
attention with masks computed for the actual size (the official code does
the same when the size differs from its training `img_size`).

Example:
    >>> from keras_sr import models
    >>> model = models.build("datsr")
    >>> inputs, (h, w) = prepare_inputs(lr_uint8, ref_uint8)
    >>> sr = model(inputs)[:, :h, :w]                          # [0, 255]
"""

import numpy as np

import keras

from keras_sr.imresize import imresize
from keras_sr.layers.bilinear_upsampling import BilinearUpsampling
from keras_sr.layers.correspondence import ContrastiveFeatureExtractor
from keras_sr.layers.deformable_conv import DeformableConv2D
from keras_sr.layers.flow_similarity_correspondence import FlowSimilarityCorrespondence
from keras_sr.layers.flow_warp import FlowWarp
from keras_sr.layers.residual_swin_transformer_block import ResidualSwinTransformerBlock
from keras_sr.layers.subpixel_upsampling import SubPixelUpsampling
from keras_sr.layers.vgg_features import VGGFeatures
from keras_sr.models import register
from keras_sr.models.refsr_inputs import rgb_pair


__all__ = ["datsr", "prepare_inputs", "official_parameter_count", "INPUT_NAMES", "STAGES"]

INPUT_NAMES = ("lr", "lr_up", "ref")
SCALE = 4
LR_MULTIPLE = 8
REFERENCE_LAYERS = ("relu1_1", "relu2_1", "relu3_1")
# (stage, VGG level index into (relu1_1, relu2_1, relu3_1)), in forward order.
STAGES = (("down_large", 0), ("down_medium", 1), ("up_small", 2), ("up_medium", 1), ("up_large", 0))


def official_parameter_count(ngf=128, n_blocks=8, groups=8, depths=(4, 4), num_heads=(4, 4), window_size=8,
                             mlp_ratio=2.0, vgg_widths=(64, 128, 256), include_unused=True):
    """Parameters of the official `SwinUnetv3RestorationNet`, by formula (`include_unused`: its ContentExtractor)."""

    def conv(cin, cout, k=3):
        return k * k * cin * cout + cout

    hidden = int(ngf * mlp_ratio)
    swin = 4 * ngf  # patch-embed LayerNorm and the final LayerNorm
    for depth, heads in zip(depths, num_heads):
        layer = 4 * ngf + (2 * window_size - 1) ** 2 * heads + (ngf * 3 * ngf + 3 * ngf) + (ngf * ngf + ngf) \
            + (ngf * hidden + hidden) + (hidden * ngf + ngf)
        swin += depth * layer + conv(ngf, ngf)
    total = conv(3, ngf)  # unet_head
    for _, level in STAGES:
        c = vgg_widths[level]
        dcn = 9 * c * c + c + conv(c, groups * 27)
        total += conv(ngf + 2 * c, c) + conv(c, c) + dcn + conv(ngf + c, ngf) + swin
    total += 2 * conv(ngf, ngf) + 2 * conv(ngf, 4 * ngf) + conv(ngf, ngf // 2) + conv(ngf // 2, 3)
    if include_unused:
        total += conv(3, ngf) + n_blocks * 2 * conv(ngf, ngf)
    return total


def _spec_inputs(lr, ref, scale=SCALE):
    """The registry spec's `prepare_inputs`: `(inputs, (out_h, out_w))` (see `prepare_inputs`)."""
    return prepare_inputs(lr, ref, scale)


@register("datsr", kind="refsr", inputs=INPUT_NAMES, scales=(SCALE,), prepare_inputs=_spec_inputs,
          test_config=dict(ngf=4, groups=2, depths=(1,), num_heads=(1,), window_size=4, vgg_widths=(2, 4, 8),
                           contrastive_widths=(2, 4, 8), chunk_size=16))
def datsr(scale=4, ngf=128, groups=8, depths=(4, 4), num_heads=(4, 4), window_size=8, mlp_ratio=2.0,
          vgg_widths=(64, 128, 256), contrastive_widths=(64, 128, 256), max_residue_magnitude=10.0, chunk_size=1024,
          ref_chunk_size=None, vgg_weights=None, contrastive_weights=None, train_vgg=None, name="datsr"):
    """Build DATSR as a functional `keras.Model` with dict inputs `lr`, `lr_up`, `ref` (ref the HR size).

    Args:
        scale: 4 (the architecture is x4 only).
        ngf: restoration features (official 128).
        groups: deformable groups of the attention (8).
        depths, num_heads, window_size, mlp_ratio: each stage's Swin body ((4, 4), (4, 4), 8, 2).
        vgg_widths: reference VGG19 widths at relu1_1/relu2_1/relu3_1 (64, 128, 256).
        contrastive_widths: contrastive extractor widths (64, 128, 256).
        max_residue_magnitude: bound of the learned offsets (10).
        chunk_size, ref_chunk_size: patch matching chunks.
        vgg_weights, contrastive_weights: optional `.npz` weights (see `keras_sr.models.c2_matching`).
        train_vgg: train `reference_vgg` (default: only when `vgg_weights` is None).
        name: model name.

    Returns:
        A model mapping the RGB [0, 255] inputs to the x4 SR image in [0, 255] (not clipped, as official).
    """
    if int(scale) != SCALE:
        raise ValueError(f"DATSR is an x4 architecture, got scale={scale!r}.")
    ngf = int(ngf)
    vgg_widths = tuple(int(w) for w in vgg_widths)
    depths, num_heads = tuple(int(d) for d in depths), tuple(int(h) for h in num_heads)
    if len(depths) != len(num_heads):
        raise ValueError(f"datsr: depths {depths} and num_heads {num_heads} need the same length.")
    if train_vgg is None:
        train_vgg = vgg_weights is None
    init = keras.initializers.RandomNormal(stddev=0.02)  # official srntt_init_weights (convs and linears)
    dcn_init = keras.initializers.VarianceScaling(1.0 / 3.0, "fan_in", "uniform")  # DCNv2.reset_parameters

    def conv(x, filters, name, stride=1, lrelu=False):
        if stride > 1:
            x = keras.layers.ZeroPadding2D(1, name=f"{name}_pad")(x)
        x = keras.layers.Conv2D(filters, 3, strides=stride, padding="same" if stride == 1 else "valid",
                                kernel_initializer=init, name=name)(x)
        return keras.layers.LeakyReLU(negative_slope=0.1, name=f"{name}_lrelu")(x) if lrelu else x

    def swin_body(x, prefix):
        h = keras.layers.LayerNormalization(epsilon=1e-5, name=f"{prefix}_patch_embed_norm")(x)
        for i, (depth, heads) in enumerate(zip(depths, num_heads)):
            h = ResidualSwinTransformerBlock(depth, heads, int(window_size), mlp_ratio=float(mlp_ratio),
                                             kernel_initializer=init, conv_initializer=init,
                                             name=f"{prefix}_layers_{i}")(h)
        return keras.layers.LayerNormalization(epsilon=1e-5, name=f"{prefix}_norm")(h)

    inputs = {key: keras.Input((None, None, 3), name=key) for key in INPUT_NAMES}
    extractor = ContrastiveFeatureExtractor(tuple(int(w) for w in contrastive_widths), weights=contrastive_weights,
                                            name="contrastive_extractor")
    extractor.trainable = False
    feat_in, feat_ref = extractor([inputs["lr_up"], inputs["ref"]])
    corr = FlowSimilarityCorrespondence((4, 2, 1), chunk_size, ref_chunk_size, dtype="float32",
                                        name="correspondence")([feat_in, feat_ref])
    # Per VGG level (relu1_1, relu2_1, relu3_1): pre-offsets, flow, similarity.
    offsets, flows, sims = corr[0::3], corr[1::3], corr[2::3]
    ref_vgg = VGGFeatures("vgg19", REFERENCE_LAYERS, widths=vgg_widths, weights=vgg_weights,
                          trainable=bool(train_vgg), name="reference_vgg")
    ref_feats = ref_vgg(inputs["ref"])
    pre_warped = [FlowWarp("zeros", "yx", name=f"pre_warp_{lv}")([f, flow])
                  for lv, f, flow in zip(REFERENCE_LAYERS, ref_feats, flows)]

    lr = keras.layers.Rescaling(1.0 / 255.0, name="to_unit")(inputs["lr"])
    base = BilinearUpsampling(4, name="base")(lr)
    x0 = conv(base, ngf, "unet_head")
    skips = {"up_medium": None, "up_large": x0}
    x = x0
    for stage, level in STAGES:
        c = vgg_widths[level]
        guide = keras.layers.Concatenate(name=f"{stage}_offset_input")([x, pre_warped[level], ref_feats[level]])
        guide = conv(conv(guide, c, f"{stage}_offset_conv1", lrelu=True), c, f"{stage}_offset_conv2", lrelu=True)
        swapped = DeformableConv2D(c, 3, deformable_groups=int(groups), kernel_initializer=dcn_init,
                                   max_residue_magnitude=max_residue_magnitude, name=f"{stage}_dyn_agg")(
            ref_feats[level], offset_features=guide, pre_offsets=offsets[level], mask_scale=sims[level])
        swapped = keras.layers.LeakyReLU(negative_slope=0.1, name=f"{stage}_dyn_agg_lrelu")(swapped)
        fused = x if skips.get(stage) is None else keras.layers.Add(name=f"{stage}_skip_in")([x, skips[stage]])
        h = conv(keras.layers.Concatenate(name=f"{stage}_concat")([fused, swapped]), ngf, f"{stage}_head", lrelu=True)
        h = keras.layers.Add(name=f"{stage}_body_skip")([swin_body(h, f"{stage}_body"), x])
        if stage == "down_large":
            x1 = x = conv(h, ngf, "down_large_tail", stride=2)
            skips["up_medium"] = x1
        elif stage == "down_medium":
            x = conv(h, ngf, "down_medium_tail", stride=2)
        elif stage in ("up_small", "up_medium"):
            x = SubPixelUpsampling(2, ngf, kernel_initializer=init, name=f"{stage}_tail")(h)
            x = keras.layers.LeakyReLU(negative_slope=0.1, name=f"{stage}_tail_lrelu")(x)
        else:
            x = conv(conv(h, ngf // 2, "up_large_tail_conv1", lrelu=True), 3, "up_large_tail_conv2")
    out = keras.layers.Add(name="add_base")([x, base])
    outputs = keras.layers.Rescaling(255.0, dtype="float32", name="to_pixels")(out)
    return keras.Model(inputs, outputs, name=name)


def prepare_inputs(lr, ref, scale=SCALE):
    """`(inputs, (out_h, out_w))` for one LR image and one reference (RGB HWC, uint8 or float).

    As C2-Matching's / DATSR's test sets: the reference is cropped to a multiple of 4, then the LR (at its
    scale) and the reference are zero-padded at the bottom/right to a common HR size, here rounded up to a
    multiple of 32 (8x8 attention windows at LR size); `lr_up` is MATLAB bicubic x4 of the padded LR.
    Crop the output to `[:out_h, :out_w]`.
    """
    lr, ref = rgb_pair(lr, ref)
    scale = int(scale)
    if scale != SCALE:
        raise ValueError(f"DATSR is an x4 architecture, got scale={scale!r}.")
    ref = ref[:ref.shape[0] - ref.shape[0] % scale, :ref.shape[1] - ref.shape[1] % scale]
    out_h, out_w = lr.shape[0] * scale, lr.shape[1] * scale
    multiple = LR_MULTIPLE * scale
    height = -(-max(out_h, ref.shape[0]) // multiple) * multiple
    width = -(-max(out_w, ref.shape[1]) // multiple) * multiple
    lr = np.pad(lr, [(0, height // scale - lr.shape[0]), (0, width // scale - lr.shape[1]), (0, 0)])
    ref = np.pad(ref, [(0, height - ref.shape[0]), (0, width - ref.shape[1]), (0, 0)])
    batch = {"lr": lr, "lr_up": imresize(lr, scale), "ref": ref}
    return {k: np.asarray(v, np.float32)[None] for k, v in batch.items()}, (out_h, out_w)
