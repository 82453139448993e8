"""E2ENT: "Feature Representation Matters: End-to-End Learning for Reference-based Image Super-resolution".

Xie, Wang, Li, Sun, Ji, Ling, ECCV 2020 (E2ENT^2). **No official code was
released**: this model is built from the paper's text and figures on top of
SRNTT (`keras_sr.models.srntt`), which the paper extends, and every choice the
paper leaves open is marked.

The paper's point is that the features used for matching should be learned
for SR, end to end, instead of a fixed ImageNet VGG (SRNTT). Here:

* `matching_extractor`: a VGG19-shaped extractor to relu3_1 (relu1_1/relu2_1/
  relu3_1 outputs), **trainable** with the SR loss; initialized from ImageNet
  VGG19 when `vgg_weights=` is given (**choice**: the paper starts from a VGG
  feature extractor; its exact depth here is SRNTT's);
* the matching itself (3x3 patches, cosine, argmax; `PatchSwap`) has no
  gradient; the loss reaches the matching features through (1) the
  transferred patches, which are those features, and (2) a similarity gate at
  every level, `T * sigmoid(a * S + b)` (`SimilarityGate`, SRNTT's weighted
  variant), with `S` the cosine of the chosen match, differentiable in the
  query and key features (**choice**: how the paper's end-to-end matching
  loss reaches the features);
* several references are pooled as in SRNTT (**choice**);
* restoration: SRNTT's content extractor and texture transfer network
  (**choice**: the paper keeps SRNTT's texture transfer design; its exact
  block counts and normalization are not restated, SRNTT's are used).

Parameters at the defaults (counted from this build): 4,087,881 of the
SRNTT-shaped restoration network (6 of them the gates) + 555,328 of the
matching extractor = 4,643,209 trainable.

Example:
    >>> from keras_sr import models
    >>> model = models.build("e2ent")
    >>> sr = model(prepare_inputs(lr_uint8, ref_uint8))       # (1, 4h, 4w, 3) in [0, 255]
"""

import numpy as np

import keras

from keras_sr.layers.patch_swap import PatchSwap
from keras_sr.models import register
from keras_sr.models.refsr_inputs import make_inputs
from keras_sr.models.srntt import (INPUT_NAMES, SCALE, _check_scale, content_extractor_net, matching_features,
                                   texture_transfer_net)

__all__ = ["e2ent", "prepare_inputs", "INPUT_NAMES"]


def _spec_inputs(lr, ref, scale=SCALE):
    lr = np.asarray(lr)
    return prepare_inputs(lr, ref, scale), (int(scale) * lr.shape[0], int(scale) * lr.shape[1])


@register("e2ent", kind="refsr", inputs=INPUT_NAMES, scales=(SCALE,), prepare_inputs=_spec_inputs,
          test_config=dict(num_res_blocks=4, content_blocks=1, n_feats=8, vgg_widths=(4, 8, 16), chunk_size=16))
def e2ent(scale=4, num_res_blocks=16, content_blocks=16, n_feats=64, vgg_widths=(64, 128, 256), chunk_size=1024,
          ref_chunk_size=None, vgg_weights=None, name="e2ent"):
    """Build E2ENT (paper-based, see the module docstring) with dict inputs `lr`, `lr_up`, `refs`, `refs_down_up`.

    Args:
        scale: 4.
        num_res_blocks, content_blocks, n_feats: the SRNTT-shaped restoration network (16, 16, 64).
        vgg_widths: matching extractor channels at relu1_1/relu2_1/relu3_1 (64, 128, 256).
        chunk_size, ref_chunk_size: patch matching chunks.
        vgg_weights: optional torchvision VGG19 `.npz` to start the matching extractor from.
        name: model name.
    """
    _check_scale(scale, "E2ENT")
    vgg_widths = tuple(int(w) for w in vgg_widths)
    inputs = {"lr": keras.Input((None, None, 3), name="lr"), "lr_up": keras.Input((None, None, 3), name="lr_up"),
              "refs": keras.Input((None, None, None, 3), name="refs"),
              "refs_down_up": keras.Input((None, None, None, 3), name="refs_down_up")}
    query, key, (v_lv1, v_lv2, v_lv3) = matching_features(inputs, vgg_widths, vgg_weights, True,
                                                          name="matching_extractor")
    t_lv3, t_lv2, t_lv1, similarity = PatchSwap(chunk_size, ref_chunk_size, dtype="float32", name="patch_swap")(
        [query, key, v_lv1, v_lv2, v_lv3])
    lr = keras.layers.Rescaling(1.0 / 127.5, offset=-1.0, name="to_signed_unit")(inputs["lr"])
    content = content_extractor_net(int(content_blocks), int(n_feats))(lr)
    x = texture_transfer_net(int(num_res_blocks), int(n_feats), vgg_widths, weighted=True)(
        [content, t_lv3, t_lv2, t_lv1, similarity])
    outputs = keras.layers.Rescaling(127.5, offset=127.5, dtype="float32", name="to_pixels")(x)
    return keras.Model(inputs, outputs, name=name)


def prepare_inputs(lr, ref, scale=SCALE):
    """As `keras_sr.models.srntt.prepare_inputs` (one reference or a list)."""
    return make_inputs(INPUT_NAMES, lr, ref, scale)
