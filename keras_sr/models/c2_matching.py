"""C2-Matching: Robust Reference-based Super-Resolution via C2-Matching (x4 reference-based SR).

Jiang, Chan, Zhou, Loy, Liu, CVPR 2021 (https://arxiv.org/abs/2106.01863). A
port of the official inference path (github.com/yumingj/C2-Matching:
`ContrasExtractorSep` -> `CorrespondenceGenerationArch` -> `RestorationNet`)
with the same layers and parameter counts:

* inputs: `lr` (h x w), `lr_up` (LR bicubic x4, used for matching) and `ref`
  (4h x 4w, the same size: the official test pads input and reference to a
  common size; `prepare_inputs` does it); RGB in [0, 255];
* `contrastive_extractor` (`ContrastiveFeatureExtractor`, two VGG16 trunks to
  conv3_1, 1,110,656 parameters), frozen in this model as in the official
  restoration stage (it is trained by the contrastive teacher/student stages);
* `correspondence` (`PatchCorrespondence`): 3x3 cosine matching (chunked),
  flow, pre-offsets at 1x/2x/4x;
* `reference_vgg`: VGG19 relu1_1/relu2_1/relu3_1 of the reference (the
  official `net_map` uses a frozen ImageNet VGG19, 555,328 parameters not
  counted in the paper's total). Pass `vgg_weights=` to load it (then frozen,
  as official); without weights it is trained with the restoration network;
* `restoration`, a nested functional model (8,865,547 parameters at ngf 64,
  16 blocks, 8 deformable groups): content extractor, then three dynamic
  aggregation + residual stages (relu3_1, relu2_1, relu1_1 references) with
  sub-pixel x2 steps, plus the bilinear x4 upsampled LR.

The paper's 9.98M = 8.87M restoration + 1.11M contrastive extractor.

Example:
    >>> from keras_sr import models
    >>> model = models.build("c2_matching")
    >>> inputs, (h, w) = prepare_inputs(lr_uint8, ref_uint8)
    >>> sr = model(inputs)[:, :h, :w]                          # [0, 255]
"""

import numpy as np

import keras

from keras_sr.imresize import imresize
from keras_sr.layers.bilinear_upsampling import BilinearUpsampling
from keras_sr.layers.correspondence import ContrastiveFeatureExtractor, DynamicAggregation, PatchCorrespondence
from keras_sr.layers.residual_block import ResidualBlock
from keras_sr.layers.subpixel_upsampling import SubPixelUpsampling
from keras_sr.layers.vgg_features import VGGFeatures
from keras_sr.models import register
from keras_sr.models.refsr_inputs import rgb_pair


__all__ = ["c2_matching_discriminator", "c2_matching", "prepare_inputs", "official_parameter_count", "INPUT_NAMES"]

INPUT_NAMES = ("lr", "lr_up", "ref")
SCALE = 4
REFERENCE_LAYERS = ("relu1_1", "relu2_1", "relu3_1")


def official_parameter_count(ngf=64, n_blocks=16, groups=8, vgg_widths=(64, 128, 256)):
    """Parameters of the official `RestorationNet` (`ref_restoration_arch.py`), by formula."""

    def conv(cin, cout, k=3):
        return k * k * cin * cout + cout

    block = 2 * conv(ngf, ngf)
    total = conv(3, ngf) + n_blocks * block  # ContentExtractor
    for channels in reversed(vgg_widths):  # small (relu3_1), medium, large
        total += conv(ngf + channels, channels) + conv(channels, channels)  # offset convs
        total += conv(channels, channels) + conv(channels, groups * 3 * 9)  # DCN weight + offset/mask conv
        total += conv(ngf + channels, ngf) + n_blocks * block  # head + body
    total += 2 * conv(ngf, 4 * ngf)  # tail_small, tail_medium
    total += conv(ngf, ngf // 2) + conv(ngf // 2, 3)  # tail_large
    return total


def _restoration_net(ngf, n_blocks, groups, vgg_widths):
    """The official `RestorationNet` on [0, 1] images, as a functional model."""
    c1, c2, c3 = vgg_widths
    init = keras.initializers.RandomNormal(stddev=0.02)  # official srntt_init_weights

    def conv(filters, name):
        return keras.layers.Conv2D(filters, 3, padding="same", kernel_initializer=init, name=name)

    def lrelu(name):
        return keras.layers.LeakyReLU(negative_slope=0.1, name=name)

    def body(x, prefix):
        for i in range(n_blocks):
            x = ResidualBlock(ngf, kernel_initializer=init, name=f"{prefix}_{i}")(x)
        return x

    lr = keras.Input((None, None, 3), name="lr")
    offsets = [keras.Input((None, None, 18), name=f"pre_offset_{lv}") for lv in ("relu3_1", "relu2_1", "relu1_1")]
    refs = [keras.Input((None, None, c), name=f"ref_{lv}") for c, lv in ((c3, "relu3_1"), (c2, "relu2_1"),
                                                                       (c1, "relu1_1"))]
    base = BilinearUpsampling(4, name="base")(lr)  # F.interpolate(x, 4, "bilinear", align_corners=False)
    x = lrelu("content_lrelu")(conv(ngf, "content_conv_first")(lr))
    x = body(x, "content_body")
    for stage, pre_offset, ref, channels in zip(("small", "medium", "large"), offsets, refs, (c3, c2, c1)):
        swapped = DynamicAggregation(channels, groups, kernel_initializer=init, name=f"{stage}_dyn_agg")(
            [x, ref, pre_offset])
        h = keras.layers.Concatenate(name=f"{stage}_concat")([x, swapped])
        h = lrelu(f"head_{stage}_lrelu")(conv(ngf, f"head_{stage}")(h))
        h = keras.layers.Add(name=f"{stage}_skip")([body(h, f"body_{stage}"), x])
        if stage != "large":
            x = SubPixelUpsampling(2, ngf, kernel_initializer=init, name=f"tail_{stage}")(h)
            x = lrelu(f"tail_{stage}_lrelu")(x)
        else:
            x = lrelu("tail_large_lrelu")(conv(ngf // 2, "tail_large_conv1")(h))
            x = conv(3, "tail_large_conv2")(x)
    outputs = keras.layers.Add(name="add_base")([x, base])
    return keras.Model([lr, *offsets, *refs], outputs, name="restoration")


def _spec_inputs(lr, ref, scale=SCALE):
    """The registry spec's `prepare_inputs`: `(inputs, (out_h, out_w))` (see `prepare_inputs`)."""
    return prepare_inputs(lr, ref, scale)


@register("c2_matching", kind="refsr", inputs=INPUT_NAMES, scales=(SCALE,), prepare_inputs=_spec_inputs)
def c2_matching(scale=4, ngf=64, n_blocks=16, groups=8, vgg_widths=(64, 128, 256),
                contrastive_widths=(64, 128, 256), chunk_size=1024, ref_chunk_size=None, vgg_weights=None,
                contrastive_weights=None, train_vgg=None, name="c2_matching"):
    """Build C2-Matching as a functional `keras.Model` with dict inputs `lr`, `lr_up`, `ref`.

    Args:
        scale: 4 (the architecture is x4 only).
        ngf, n_blocks, groups: restoration features, residual blocks per stage, deformable groups
            (official 64, 16, 8).
        vgg_widths: channels of the reference VGG19 at relu1_1/relu2_1/relu3_1 (64, 128, 256).
        contrastive_widths: channels of the contrastive VGG16 trunks (64, 128, 256).
        chunk_size, ref_chunk_size: patch matching chunks (`match_patches`).
        vgg_weights: optional `.npz` with VGG19 weights for `reference_vgg`.
        contrastive_weights: optional `.npz` for the contrastive extractor (official or VGG16 keys).
        train_vgg: train `reference_vgg` (default: only when `vgg_weights` is None).
        name: model name.

    Returns:
        A model mapping the RGB [0, 255] inputs to the x4 SR image (not clipped, as official).
    """
    if int(scale) != SCALE:
        raise ValueError(f"C2-Matching is an x4 architecture, got scale={scale!r}.")
    vgg_widths = tuple(int(w) for w in vgg_widths)
    contrastive_widths = tuple(int(w) for w in contrastive_widths)
    if train_vgg is None:
        train_vgg = vgg_weights is None

    inputs = {key: keras.Input((None, None, 3), name=key) for key in INPUT_NAMES}
    extractor = ContrastiveFeatureExtractor(contrastive_widths, weights=contrastive_weights,
                                            name="contrastive_extractor")
    extractor.trainable = False
    feat_in, feat_ref = extractor([inputs["lr_up"], inputs["ref"]])
    pre_offsets = PatchCorrespondence((1, 2, 4), chunk_size, ref_chunk_size, dtype="float32",
                                      name="correspondence")([feat_in, feat_ref])
    ref_vgg = VGGFeatures("vgg19", REFERENCE_LAYERS, widths=vgg_widths, weights=vgg_weights,
                          trainable=bool(train_vgg), name="reference_vgg")
    ref_lv1, ref_lv2, ref_lv3 = ref_vgg(inputs["ref"])
    lr = keras.layers.Rescaling(1.0 / 255.0, name="to_unit")(inputs["lr"])
    restoration = _restoration_net(int(ngf), int(n_blocks), int(groups), vgg_widths)
    x = restoration([lr, *pre_offsets, ref_lv3, ref_lv2, ref_lv1])
    outputs = keras.layers.Rescaling(255.0, dtype="float32", name="to_pixels")(x)
    return keras.Model(inputs, outputs, name=name)


def prepare_inputs(lr, ref, scale=SCALE):
    """`(inputs, (out_h, out_w))` for one LR image and one reference (RGB HWC, uint8 or float).

    As the official test set: the reference is cropped to a multiple of 4, then the LR (at its
    scale) and the reference are zero-padded at the bottom/right to a common HR size; `lr_up` is
    keras-sr's MATLAB bicubic x4 of the padded LR. Crop the output to `[:out_h, :out_w]`.
    """
    lr, ref = rgb_pair(lr, ref)
    ref = ref[:ref.shape[0] - ref.shape[0] % scale, :ref.shape[1] - ref.shape[1] % scale]
    out_h, out_w = lr.shape[0] * scale, lr.shape[1] * scale
    height, width = max(out_h, ref.shape[0]), max(out_w, ref.shape[1])
    if min(height, width) < 3 * scale:
        raise ValueError(f"prepare_inputs: images too small (lr {lr.shape[:2]}, ref {ref.shape[:2]}).")
    lr = np.pad(lr, [(0, height // scale - lr.shape[0]), (0, width // scale - lr.shape[1]), (0, 0)])
    ref = np.pad(ref, [(0, height - ref.shape[0]), (0, width - ref.shape[1]), (0, 0)])
    batch = {"lr": lr, "lr_up": imresize(lr, scale), "ref": ref}
    return {k: np.asarray(v, np.float32)[None] for k, v in batch.items()}, (out_h, out_w)


@register("c2_matching_discriminator", kind="discriminator", test_config=dict(filters=2, dense_units=4))
def c2_matching_discriminator(filters=32, dense_units=1024, name="c2_matching_discriminator"):
    """C2-Matching's `ImageDiscriminator` (ndf `filters`) for RGB [0, 255] images of any size (rescaled to [0, 1]).

    SRNTT initialization (`srntt_init_weights`, normal 0.02): conv kernels N(0, 0.02) with zero biases, BN
    scales N(1, 0.02) with zero offsets; PyTorch's BN (momentum 0.1, eps 1e-5) and its symmetric padding of
    1 on the stride-2 convs. 5,242,529 trainable parameters at ndf 32, as the official network.

    Example:
        >>> critic = c2_matching_discriminator()
        >>> critic(keras.ops.zeros((2, 160, 160, 3))).shape    # (2, 1), in (0, 1)
    """
    f = int(filters)
    conv_init = keras.initializers.RandomNormal(0.0, 0.02)
    x = inputs = keras.Input((None, None, 3), name="image")
    x = keras.layers.Rescaling(1.0 / 255.0, name="to_unit")(x)
    for block, width in enumerate((f, 2 * f, 4 * f, 8 * f, 16 * f), start=1):
        for part, strides in ((1, 1), (2, 2)):
            prefix = f"block{block}_{part}"
            if strides == 2:  # PyTorch padding=1 with stride 2 (Keras "same" would pad 0 on the left)
                x = keras.layers.ZeroPadding2D(1, name=f"{prefix}_pad")(x)
            x = keras.layers.Conv2D(width, 3, strides=strides, padding="same" if strides == 1 else "valid",
                                    kernel_initializer=conv_init, name=f"{prefix}_conv")(x)
            x = keras.layers.BatchNormalization(momentum=0.9, epsilon=1e-5,
                                                gamma_initializer=keras.initializers.RandomNormal(1.0, 0.02),
                                                name=f"{prefix}_bn")(x)
            x = keras.layers.LeakyReLU(0.2, name=f"{prefix}_lrelu")(x)
    x = keras.layers.GlobalAveragePooling2D(keepdims=True, name="pool")(x)
    x = keras.layers.Conv2D(int(dense_units), 1, kernel_initializer=conv_init, name="out_conv1")(x)
    x = keras.layers.LeakyReLU(0.2, name="out_lrelu")(x)
    x = keras.layers.Conv2D(1, 1, kernel_initializer=conv_init, name="out_conv2")(x)
    x = keras.layers.Flatten(name="flatten")(x)
    outputs = keras.layers.Activation("sigmoid", dtype="float32", name="sigmoid")(x)
    return keras.Model(inputs, outputs, name=name)
