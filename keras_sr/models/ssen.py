"""SSEN: "Robust Reference-based Super-Resolution with Similarity-Aware Deformable Convolution" (x4 RefSR).

Shim, Park, Kweon, CVPR 2020. **No official code was released**: this model
is built from the paper's text and figures, and every choice the paper leaves
open is marked. SSEN aligns the reference's features to the LR features with
similarity-aware deformable convolutions (three DCN layers whose offsets come
from a dynamic offset estimator with non-local blocks) and adds them to an
EDSR-style baseline SR network:

* inputs `lr` (h x w) and `ref` (the reference resized to the HR size 4h x 4w
  by `prepare_inputs`, MATLAB bicubic; **choice**: the offsets are then
  relative to the unwarped position), RGB in [0, 255], scaled to [0, 1];
* LR feature extractor: conv 3x3 + `feature_blocks` residual blocks;
  reference feature extractor: conv 3x3 at the reference's resolution,
  space-to-depth x4 onto the LR grid, conv 3x3 + `feature_blocks` residual
  blocks (**choice**: keeps the reference's high frequencies on the LR grid;
  the paper's extractor is not specified at this level);
* `ssen` (`SimilarityAwareAlignment`): three cascaded deformable convs
  (DCNv2, 8 groups), each steered by a multi-scale offset estimator with
  non-local blocks at 1/2 and 1/4 (see the layer for its marked choices);
* fusion `conv 1x1(concat(lr_features, aligned_ref))` (**choice**), then the
  EDSR-baseline body: `num_blocks` residual blocks (16), conv 3x3, + skip,
  sub-pixel x4 upsampler and conv 3x3 to RGB (the paper's baseline is EDSR's
  structure; **choice** of the baseline size: EDSR-baseline, 64 features).

Parameters at the defaults (counted from this build): 3,907,659 (1,199,304 of them the alignment).

Example:
    >>> from keras_sr import models
    >>> model = models.build("ssen")
    >>> inputs, (h, w) = prepare_inputs(lr_uint8, ref_uint8)
    >>> sr = model(inputs)                                          # (1, 4h, 4w, 3) in [0, 255]
"""

import numpy as np

import keras

from keras_sr.imresize import imresize
from keras_sr.layers.residual_block import ResidualBlock
from keras_sr.layers.similarity_aware_alignment import SimilarityAwareAlignment
from keras_sr.layers.space_to_depth import SpaceToDepth
from keras_sr.layers.subpixel_upsampling import SubPixelUpsampling
from keras_sr.models import register
from keras_sr.models.refsr_inputs import make_inputs

__all__ = ["ssen", "prepare_inputs", "INPUT_NAMES"]

INPUT_NAMES = ("lr", "ref")
SCALE = 4


def _spec_inputs(lr, ref, scale=SCALE):
    return prepare_inputs(lr, ref, scale)


@register("ssen", kind="refsr", inputs=INPUT_NAMES, scales=(SCALE,), prepare_inputs=_spec_inputs,
          test_config=dict(n_feats=8, num_blocks=1, feature_blocks=1, deformable_groups=2))
def ssen(scale=4, n_feats=64, num_blocks=16, feature_blocks=4, num_dcn=3, deformable_groups=8, name="ssen"):
    """Build SSEN (paper-based, see the module docstring) with dict inputs `lr` and `ref` (HR-sized reference).

    Args:
        scale: 4.
        n_feats: features (64).
        num_blocks: residual blocks of the EDSR-baseline body (16).
        feature_blocks: residual blocks of each feature extractor (4, **choice**).
        num_dcn: deformable convolutions of the alignment (3).
        deformable_groups: deformable groups (8).
        name: model name.
    """
    if int(scale) != SCALE:
        raise ValueError(f"SSEN is built here as an x4 architecture, got scale={scale!r}.")
    f = int(n_feats)

    def conv(filters, kernel_size, name):
        return keras.layers.Conv2D(filters, kernel_size, padding="same", name=name)

    def blocks(x, count, prefix):
        for i in range(count):
            x = ResidualBlock(f, name=f"{prefix}_{i}")(x)
        return x

    inputs = {key: keras.Input((None, None, 3), name=key) for key in INPUT_NAMES}
    lr = keras.layers.Rescaling(1.0 / 255.0, name="lr_to_unit")(inputs["lr"])
    ref = keras.layers.Rescaling(1.0 / 255.0, name="ref_to_unit")(inputs["ref"])
    lr_features = blocks(conv(f, 3, "lr_head")(lr), int(feature_blocks), "lr_features")
    ref_features = keras.layers.LeakyReLU(0.1, name="ref_head_lrelu")(conv(f, 3, "ref_head")(ref))
    ref_features = SpaceToDepth(SCALE, name="ref_to_lr_grid")(ref_features)
    ref_features = blocks(conv(f, 3, "ref_merge")(ref_features), int(feature_blocks), "ref_features")
    aligned = SimilarityAwareAlignment(f, int(num_dcn), int(deformable_groups), name="ssen")(
        [lr_features, ref_features])
    x = conv(f, 1, "fusion")(keras.layers.Concatenate(name="fusion_concat")([lr_features, aligned]))
    y = conv(f, 3, "body_tail")(blocks(x, int(num_blocks), "body"))
    x = keras.layers.Add(name="body_skip")([x, y])
    x = SubPixelUpsampling(SCALE, f, name="upsampler")(x)
    x = conv(3, 3, "tail")(x)
    outputs = keras.layers.Rescaling(255.0, dtype="float32", name="to_pixels")(x)
    return keras.Model(inputs, outputs, name=name)


def prepare_inputs(lr, ref, scale=SCALE):
    """`(inputs, (out_h, out_w))` for one LR image and one reference (RGB HWC, uint8 or float).

    The reference is resized to the HR size `(scale * h, scale * w)` with MATLAB bicubic (uint8).
    """
    lr = np.asarray(lr)
    ref = np.asarray(ref)
    if ref.ndim != 3 or ref.shape[-1] != 3:
        raise ValueError(f"prepare_inputs: ref must be an RGB (H, W, 3) image, got shape {ref.shape}.")
    if lr.ndim != 3 or lr.shape[-1] != 3:
        raise ValueError(f"prepare_inputs: lr must be an RGB (H, W, 3) image, got shape {lr.shape}.")
    out_h, out_w = int(scale) * lr.shape[0], int(scale) * lr.shape[1]
    if ref.shape[:2] != (out_h, out_w):
        ref = imresize(np.clip(np.round(ref), 0, 255).astype(np.uint8), output_shape=(out_h, out_w))
    return make_inputs(INPUT_NAMES, lr, ref, scale), (out_h, out_w)
