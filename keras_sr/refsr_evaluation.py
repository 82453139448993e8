"""The reference-based SR side of the evaluation protocol (`tools.evaluate --ref-mode ...`): former home, re-exports.

The pieces now live in their layers (see README "Architecture"):

* LR methods (`LR_METHODS`, `pil_bicubic_degrade`, `degrade_for`): `keras_sr.degradation`;
* RefSR upscalers (`refsr_kind`, `ref_model_upscaler`, `resolve_ref_upscaler`;
  the kind comes from the registry spec, the inputs from the spec's
  `prepare_inputs`): `keras_sr.upscalers`;
* scoring (`evaluate_reference_source(s)`): `keras_sr.scoring`.

Nothing inside keras-sr imports this module; it keeps `from
keras_sr.refsr_evaluation import ...` working.

Example:
    >>> upscale = resolve_ref_upscaler("ttsr", scale=4, weights="runs/ttsr/final.weights.h5")
    >>> source = open_reference_source("self-lr", "Urban100/HR")
    >>> evaluate_reference_source(upscale, source, scale=4)["psnr"]
"""


from keras_sr.degradation import LR_METHODS, degrade_for, pil_bicubic_degrade
from keras_sr.scoring import evaluate_reference_source, evaluate_reference_sources
from keras_sr.upscalers import ref_model_upscaler, refsr_kind, resolve_ref_upscaler

__all__ = ["LR_METHODS", "pil_bicubic_degrade", "degrade_for", "refsr_kind", "ref_model_upscaler",
           "resolve_ref_upscaler", "evaluate_reference_source", "evaluate_reference_sources"]
