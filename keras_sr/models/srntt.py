"""SRNTT: Image Super-Resolution by Neural Texture Transfer (x4 reference-based SR, one or several references).

Zhang, Wang, Lin, Qi, CVPR 2019 (https://arxiv.org/abs/1903.00834). Built
after the official TensorFlow 1 code (github.com/ZZUTK/SRNTT, `SRNTT/model.py`
`SRNTT.model` / `SRNTT.test`, `SRNTT/swap.py`), read layer by layer, with the
same layers and parameter count:

* inputs: `lr` (h x w), `lr_up` (LR bicubic x4), `refs` (K references, 4h' x
  4w' each) and `refs_down_up` (each reference bicubic down x4 then up x4),
  RGB in [0, 255], the references as a `(B, K, Hr, Wr, 3)` stack
  (`keras_sr.models.refsr_inputs`); `prepare_inputs(lr, ref_or_refs)` builds
  them;
* `vgg19`: VGG19 relu1_1/relu2_1/relu3_1, **fixed** as in SRNTT (the official
  code loads ImageNet VGG19; here `vgg_weights=` a torchvision `.npz`, else
  random and frozen: pass `train_vgg=True` to let it learn);
* `patch_swap` (`PatchSwap`): 3x3 patches of relu3_1, no padding, cosine
  similarity against the down-up references, the matched relu3_1 / relu2_1 /
  relu1_1 patches stitched with overlap averaging; **several references are
  pooled** (every patch of every reference competes: SRNTT's own rule,
  `conditional_swap_multi_layer`);
* `content_extractor` (1,222,528 parameters + 4,224 BN moving statistics at
  64 features, 16 blocks): conv 3x3 + ReLU, 16 x [conv - BN - ReLU - conv - BN,
  + skip] (convs without bias), conv - BN, + long skip; on the LR in [-1, 1];
* `texture_transfer` (2,865,347 parameters + 7,552 BN statistics at 16 blocks):
  at 1x, 2x and 4x the LR size: `concat(features, T_lvN) -> conv 3x3 + ReLU ->
  n x BN residual blocks -> conv - BN, + skip`, with n = 16, 8, 4, sub-pixel
  x2 steps (conv to 256, pixel shuffle, ReLU) between, then conv 3x3 to 32 and
  conv 1x1 to 3 with tanh (the output in [-1, 1], i.e. [0, 255] here).
  `weighted=True` is the official weighted variant (`SimilarityGate`:
  `T * sigmoid(a * S + b)` at each level, 6 more parameters).

Trainable total 4,087,875 = content extractor + texture transfer (the
"about 4.1M" of the RefSR tables); the official network also holds the
content extractor's x4 "upscale" head (two sub-pixel steps and a 1x1 conv,
295,619 parameters) used only to pre-train the extractor, not built here.
The official training freezes the pre-trained content extractor and trains
the texture transfer network (`var_g`); see `recipes.srntt`.

Other differences from the official code: bicubic is keras-sr's MATLAB
`imresize` (the official code uses `scipy.misc.imresize`), the VGG input is
normalized as torchvision (the official `.mat` VGG19 subtracts the ImageNet
mean), and BatchNormalization uses momentum 0.9 / epsilon 1e-5 (TensorLayer's
defaults in the official copy).

Example:
    >>> from keras_sr import models
    >>> model = models.build("srntt")
    >>> sr = model(prepare_inputs(lr_uint8, [ref1_uint8, ref2_uint8]))    # (1, 4h, 4w, 3) in [0, 255]
"""

import numpy as np

import keras

from keras_sr.layers.fold_references import FoldReferences
from keras_sr.layers.patch_swap import PatchSwap
from keras_sr.layers.similarity_gate import SimilarityGate
from keras_sr.layers.vgg_features import VGGFeatures
from keras_sr.layers.depth_to_space import DepthToSpace
from keras_sr.models import register
from keras_sr.models.refsr_inputs import make_inputs


__all__ = ["srntt", "prepare_inputs", "official_parameter_count", "content_extractor_net", "texture_transfer_net",
           "matching_features", "INPUT_NAMES", "MATCHING_LAYERS"]

INPUT_NAMES = ("lr", "lr_up", "refs", "refs_down_up")
SCALE = 4
MATCHING_LAYERS = ("relu1_1", "relu2_1", "relu3_1")
# TensorLayer's BatchNormLayer in the official copy: decay 0.9, epsilon 1e-5.
_BATCH_NORM = dict(momentum=0.9, epsilon=1e-5)


def _official_init():
    """The official `w_init` (normal, stddev 0.02) and BN `gamma_init` (normal, mean 1, stddev 0.02)."""
    return keras.initializers.RandomNormal(stddev=0.02), keras.initializers.RandomNormal(1.0, 0.02)


def official_parameter_count(num_res_blocks=16, content_blocks=16, n_feats=64, vgg_widths=(64, 128, 256),
                             weighted=False, upscale_head=False):
    """Trainable parameters of the official SRNTT (`SRNTT/model.py`), by formula (BN: gamma and beta).

    `upscale_head=True` adds the content extractor's x4 head that only pre-training uses.
    """

    def conv(cin, cout, k=3, bias=True):
        return k * k * cin * cout + (cout if bias else 0)

    f = n_feats
    bn = 2 * f
    block = 2 * (conv(f, f, bias=False) + bn)
    content = conv(3, f) + content_blocks * block + conv(f, f, bias=False) + bn
    if upscale_head:
        content += 2 * conv(f, 4 * f) + conv(f, 3, 1)
    c1, c2, c3 = vgg_widths
    total = content
    for channels, blocks, last in ((c3, num_res_blocks, False), (c2, num_res_blocks // 2, False),
                                   (c1, num_res_blocks // 4, True)):
        total += conv(f + channels, f) + blocks * block + conv(f, f, bias=False) + bn
        total += conv(f, f // 2) + conv(f // 2, 3, 1) if last else conv(f, 4 * f)
    return total + (6 if weighted else 0)


def _bn_residual_blocks(x, count, f, prefix, init, gamma):
    """`count` x [conv - BN - ReLU - conv - BN, + skip], convs without bias (SRGAN's blocks, SRNTT's)."""
    def conv(name):
        return keras.layers.Conv2D(f, 3, padding="same", use_bias=False, kernel_initializer=init, name=name)

    for i in range(count):
        y = conv(f"{prefix}_{i}_conv1")(x)
        y = keras.layers.BatchNormalization(gamma_initializer=gamma, name=f"{prefix}_{i}_bn1", **_BATCH_NORM)(y)
        y = keras.layers.ReLU(name=f"{prefix}_{i}_relu")(y)
        y = conv(f"{prefix}_{i}_conv2")(y)
        y = keras.layers.BatchNormalization(gamma_initializer=gamma, name=f"{prefix}_{i}_bn2", **_BATCH_NORM)(y)
        x = keras.layers.Add(name=f"{prefix}_{i}_add")([x, y])
    return x


def _conv_bn_skip(x, skip, f, prefix, init, gamma):
    y = keras.layers.Conv2D(f, 3, padding="same", use_bias=False, kernel_initializer=init, name=f"{prefix}_conv2")(x)
    y = keras.layers.BatchNormalization(gamma_initializer=gamma, name=f"{prefix}_bn2", **_BATCH_NORM)(y)
    return keras.layers.Add(name=f"{prefix}_add2")([y, skip])


def content_extractor_net(num_blocks=16, n_feats=64, name="content_extractor"):
    """The official content extractor (without its pre-training head): LR in [-1, 1] -> features."""
    init, gamma = _official_init()
    lr = keras.Input((None, None, 3), name="lr")
    head = keras.layers.Conv2D(n_feats, 3, padding="same", activation="relu", kernel_initializer=init,
                               name="head")(lr)
    x = _bn_residual_blocks(head, num_blocks, n_feats, "block", init, gamma)
    x = _conv_bn_skip(x, head, n_feats, "body", init, gamma)
    return keras.Model(lr, x, name=name)


def texture_transfer_net(num_res_blocks=16, n_feats=64, vgg_widths=(64, 128, 256), weighted=False,
                         name="texture_transfer"):
    """The official conditional texture transfer network: `[content, T_lv3, T_lv2, T_lv1(, S)]` -> [-1, 1] image."""
    init, gamma = _official_init()
    f = n_feats
    c1, c2, c3 = vgg_widths
    content = keras.Input((None, None, f), name="content")
    maps = [keras.Input((None, None, c), name=f"t_{lv}") for c, lv in ((c3, "lv3"), (c2, "lv2"), (c1, "lv1"))]
    inputs = [content, *maps]
    similarity = None
    if weighted:
        similarity = keras.Input((None, None, 1), name="similarity")
        inputs.append(similarity)
    x = content
    for level, (stage, texture, blocks) in enumerate(zip(("small", "medium", "large"), maps,
                                                          (num_res_blocks, num_res_blocks // 2, num_res_blocks // 4))):
        if weighted:
            texture = SimilarityGate(2 ** level, name=f"{stage}_gate")([texture, similarity])
        skip = x
        y = keras.layers.Concatenate(name=f"{stage}_concat")([x, texture])
        y = keras.layers.Conv2D(f, 3, padding="same", activation="relu", kernel_initializer=init,
                                name=f"{stage}_conv1")(y)
        y = _bn_residual_blocks(y, blocks, f, f"{stage}_resblock", init, gamma)
        x = _conv_bn_skip(y, skip, f, stage, init, gamma)
        if stage != "large":
            x = keras.layers.Conv2D(4 * f, 3, padding="same", kernel_initializer=init, name=f"{stage}_conv3")(x)
            x = DepthToSpace(2, name=f"{stage}_subpixel")(x)
            x = keras.layers.ReLU(name=f"{stage}_subpixel_relu")(x)
    x = keras.layers.Conv2D(f // 2, 3, padding="same", kernel_initializer=init, name="large_conv3")(x)
    x = keras.layers.Conv2D(3, 1, activation="tanh", kernel_initializer=init, name="out")(x)
    return keras.Model(inputs, x, name=name)


def matching_features(inputs, vgg_widths, vgg_weights, trainable, name="vgg19"):
    """`(query, key, [value_lv1, value_lv2, value_lv3])` of the VGG19 extractor on the stacked references."""
    vgg = VGGFeatures("vgg19", MATCHING_LAYERS, widths=vgg_widths, weights=vgg_weights, name=name)
    vgg.trainable = bool(trainable)  # the setter (not the constructor argument) also freezes the sublayers
    refs = FoldReferences(name="fold_refs")(inputs["refs"])
    refs_down_up = FoldReferences(name="fold_refs_down_up")(inputs["refs_down_up"])
    _, _, query = vgg(inputs["lr_up"])
    _, _, key = vgg(refs_down_up)
    values = vgg(refs)
    return query, key, values


def _check_scale(scale, label):
    if int(scale) != SCALE:
        raise ValueError(f"{label} is an x4 architecture, got scale={scale!r}.")


def _spec_inputs(lr, ref, scale=SCALE):
    """The registry spec's `prepare_inputs`: `(inputs, (out_h, out_w))` (see `prepare_inputs`)."""
    lr = np.asarray(lr)
    return prepare_inputs(lr, ref, scale), (int(scale) * lr.shape[0], int(scale) * lr.shape[1])


TEST_CONFIG = dict(num_res_blocks=4, content_blocks=1, n_feats=8, vgg_widths=(4, 8, 16), chunk_size=16)


@register("srntt", kind="refsr", inputs=INPUT_NAMES, scales=(SCALE,), prepare_inputs=_spec_inputs,
          test_config=TEST_CONFIG)
def srntt(scale=4, num_res_blocks=16, content_blocks=16, n_feats=64, vgg_widths=(64, 128, 256), weighted=False,
          chunk_size=1024, ref_chunk_size=None, vgg_weights=None, train_vgg=False, name="srntt"):
    """Build SRNTT as a functional `keras.Model` with dict inputs `lr`, `lr_up`, `refs`, `refs_down_up`.

    Args:
        scale: 4 (SRNTT is x4 only).
        num_res_blocks: residual blocks of the texture transfer's first stage (16; then //2 and //4).
        content_blocks: residual blocks of the content extractor (16).
        n_feats: features (64).
        vgg_widths: VGG19 channels at relu1_1/relu2_1/relu3_1 (64, 128, 256).
        weighted: the official weighted variant (similarity gates).
        chunk_size, ref_chunk_size: patch matching chunks (`PatchSwap`).
        vgg_weights: optional torchvision VGG19 `.npz` for the matching network.
        train_vgg: let the VGG19 learn (SRNTT keeps it fixed).
        name: model name.

    Returns:
        A model mapping the RGB [0, 255] inputs to the x4 SR image in [0, 255].
    """
    _check_scale(scale, "SRNTT")
    vgg_widths = tuple(int(w) for w in vgg_widths)
    inputs = {"lr": keras.Input((None, None, 3), name="lr"), "lr_up": keras.Input((None, None, 3), name="lr_up"),
              "refs": keras.Input((None, None, None, 3), name="refs"),
              "refs_down_up": keras.Input((None, None, None, 3), name="refs_down_up")}
    query, key, (v_lv1, v_lv2, v_lv3) = matching_features(inputs, vgg_widths, vgg_weights, train_vgg)
    t_lv3, t_lv2, t_lv1, similarity = PatchSwap(chunk_size, ref_chunk_size, dtype="float32", name="patch_swap")(
        [query, key, v_lv1, v_lv2, v_lv3])
    lr = keras.layers.Rescaling(1.0 / 127.5, offset=-1.0, name="to_signed_unit")(inputs["lr"])
    content = content_extractor_net(int(content_blocks), int(n_feats))(lr)
    transfer = texture_transfer_net(int(num_res_blocks), int(n_feats), vgg_widths, bool(weighted))
    maps = [content, t_lv3, t_lv2, t_lv1] + ([similarity] if weighted else [])
    x = transfer(maps)
    outputs = keras.layers.Rescaling(127.5, offset=127.5, dtype="float32", name="to_pixels")(x)
    return keras.Model(inputs, outputs, name=name)


def prepare_inputs(lr, ref, scale=SCALE):
    """The model's input dict for one LR image and one reference or a list of references (RGB HWC).

    References are cropped to multiples of 4 and mirror-padded to a common size
    (`refsr_inputs.stack_references`); `lr_up = imresize(lr, 4)`, `refs_down_up` = each reference down
    and up by 4 (MATLAB bicubic). Float32 batches of one in [0, 255]; `refs` is `(1, K, Hr, Wr, 3)`.
    """
    return make_inputs(INPUT_NAMES, lr, ref, scale)
