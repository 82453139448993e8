"""CIMR-SR: "Towards Content-independent Multi-Reference Super-Resolution: Adaptive Pattern Matching and
Feature Aggregation".

Yan, Zhu, Li, Chen, Cheng, ECCV 2020. **No official code was released**: this
model is built from the paper's text and figures, and every choice the paper
leaves open is marked. CIMR super-resolves with a *pool* of references that
need not show the same content: textures (patterns) are matched in each
reference of the pool and the candidates are aggregated with attention.

* reference pool: the `K` references of the `refs` stack (`(B, K, Hr, Wr,
  3)`; `K` free at run time); training uses as many as the loader gives
  (`refs_per_sample`);
* pattern matching: VGG19 relu3_1 3x3 patches against every reference
  **separately** (`RepeatPerReference` + `PatchSwap(pool_references=False)`),
  with the matched patches transferred at relu3_1/relu2_1/relu1_1 and a
  per-reference similarity map (**choices**: the VGG19 levels and SRNTT's
  swap; the matching network is fixed as in SRNTT unless `train_vgg=True`);
* hierarchical matching and attention-weighted aggregation
  (`ReferenceAttention`, one per level): weights `softmax_k(t S_k(p) + g
  mean(S_k))`, a position-level and a reference-level (coarse) term
  (**choice** of this form and of the two learned scalars per level);
* restoration: SRNTT's content extractor and texture transfer network on the
  aggregated textures (**choice**: the paper's restoration network is not
  restated in detail; SRNTT's is used, with its block counts).

Parameters at the defaults (counted from this build): 4,087,875 of the
restoration network + 6 attention scalars = 4,087,881 trainable, plus the
fixed VGG19 (555,328).

With one reference the attention weights are all 1 and CIMR is SRNTT with
per-reference matching.

Example:
    >>> from keras_sr import models
    >>> model = models.build("cimr")
    >>> sr = model(prepare_inputs(lr_uint8, [ref1, ref2, ref3, ref4, ref5]))     # the CUFED5 pool
"""

import numpy as np

import keras

from keras_sr.layers.patch_swap import PatchSwap
from keras_sr.layers.reference_attention import ReferenceAttention
from keras_sr.layers.repeat_per_reference import RepeatPerReference
from keras_sr.models import register
from keras_sr.models.refsr_inputs import make_inputs
from keras_sr.models.srntt import (INPUT_NAMES, SCALE, _check_scale, content_extractor_net, matching_features,
                                   texture_transfer_net)

__all__ = ["cimr", "prepare_inputs", "INPUT_NAMES"]


def _spec_inputs(lr, ref, scale=SCALE):
    lr = np.asarray(lr)
    return prepare_inputs(lr, ref, scale), (int(scale) * lr.shape[0], int(scale) * lr.shape[1])


@register("cimr", kind="refsr", inputs=INPUT_NAMES, scales=(SCALE,), prepare_inputs=_spec_inputs,
          test_config=dict(num_res_blocks=4, content_blocks=1, n_feats=8, vgg_widths=(4, 8, 16), chunk_size=16))
def cimr(scale=4, num_res_blocks=16, content_blocks=16, n_feats=64, vgg_widths=(64, 128, 256), chunk_size=1024,
         ref_chunk_size=None, vgg_weights=None, train_vgg=False, name="cimr"):
    """Build CIMR-SR (paper-based, see the module docstring) with dict inputs `lr`, `lr_up`, `refs`, `refs_down_up`.

    Args:
        scale: 4.
        num_res_blocks, content_blocks, n_feats: the restoration network (SRNTT's 16, 16, 64).
        vgg_widths: VGG19 channels at relu1_1/relu2_1/relu3_1.
        chunk_size, ref_chunk_size: patch matching chunks.
        vgg_weights: optional torchvision VGG19 `.npz` for the matching network.
        train_vgg: let the matching network learn (fixed by default).
        name: model name.
    """
    _check_scale(scale, "CIMR-SR")
    vgg_widths = tuple(int(w) for w in vgg_widths)
    inputs = {"lr": keras.Input((None, None, 3), name="lr"), "lr_up": keras.Input((None, None, 3), name="lr_up"),
              "refs": keras.Input((None, None, None, 3), name="refs"),
              "refs_down_up": keras.Input((None, None, None, 3), name="refs_down_up")}
    query, key, (v_lv1, v_lv2, v_lv3) = matching_features(inputs, vgg_widths, vgg_weights, train_vgg)
    query = RepeatPerReference(name="query_per_reference")([query, inputs["refs"]])
    t_lv3, t_lv2, t_lv1, similarity = PatchSwap(chunk_size, ref_chunk_size, pool_references=False, dtype="float32",
                                                name="patch_swap")([query, key, v_lv1, v_lv2, v_lv3])
    maps = [ReferenceAttention(scale=s, name=f"aggregate_{level}")([t, similarity, inputs["lr"]])
            for s, level, t in ((1, "lv3", t_lv3), (2, "lv2", t_lv2), (4, "lv1", t_lv1))]
    lr = keras.layers.Rescaling(1.0 / 127.5, offset=-1.0, name="to_signed_unit")(inputs["lr"])
    content = content_extractor_net(int(content_blocks), int(n_feats))(lr)
    x = texture_transfer_net(int(num_res_blocks), int(n_feats), vgg_widths)([content, *maps])
    outputs = keras.layers.Rescaling(127.5, offset=127.5, dtype="float32", name="to_pixels")(x)
    return keras.Model(inputs, outputs, name=name)


def prepare_inputs(lr, ref, scale=SCALE):
    """As `keras_sr.models.srntt.prepare_inputs` (one reference or a list: the pool)."""
    return make_inputs(INPUT_NAMES, lr, ref, scale)
