"""The reference-based SR side of the evaluation protocol (`tools.evaluate --ref-mode ...`).

For every (HR, reference) pair of a `keras_sr.data.reference_sources` source:

1. HR is `modcrop`ped to a multiple of the scale;
2. LR: for CUFED5 (`cufed5:K`), PIL bicubic `Image.resize((w // 4, h // 4),
   Image.BICUBIC)` as the official TTSR test loader (researchmm/TTSR
   `dataset/cufed.py`, `TestSet`) and C2-Matching's CUFED5 set; for every other
   mode keras-sr's MATLAB bicubic (`keras_sr.evaluation.degrade`), so RefSR and
   SISR numbers on Urban100 / BSD100 are comparable with the SISR tables;
3. SR: RefSR models (TTSR, C2-Matching: registered name + weights, preset or
   `.keras` file) get `(lr, ref)` through their own `prepare_inputs`
   (C2-Matching's padded output is cropped back to `4h x 4w`); SISR models
   (bicubic, EDSR, ...) ignore the reference, so one command scores a SISR
   baseline on exactly the same pairs;
4. PSNR / SSIM on Y (BT.601) with a `scale`-pixel border (`score_pair`). (The
   official TTSR code scores with no border; we keep one protocol.)

Results are keyed by the source's label ("CUFED5 (ref 1)", "Urban100 (LR ref)",
"BSD100 (warped ref)"), so `tools.make_table` shows them as their own rows;
each entry also records `lr_method` and the reference source.

Example:
    >>> upscale = resolve_ref_upscaler("ttsr", scale=4, weights="runs/ttsr/final.weights.h5")
    >>> source = open_reference_source("self-lr", "Urban100/HR")
    >>> evaluate_reference_source(upscale, source, scale=4)["psnr"]
"""

import os
import time

import numpy as np

from keras_sr.cropping import modcrop
from keras_sr.evaluation import degrade, score_pair
from keras_sr.image_io import ImageError, check_min_size

__all__ = ["LR_METHODS", "pil_bicubic_degrade", "degrade_for", "refsr_kind", "ref_model_upscaler",
           "resolve_ref_upscaler", "evaluate_reference_source", "evaluate_reference_sources"]

LR_METHODS = {
    "matlab": "MATLAB bicubic (keras_sr.imresize, antialiased)",
    "pil": "PIL bicubic Image.resize((w//s, h//s), Image.BICUBIC) (TTSR/C2-Matching CUFED5 protocol)",
}


def pil_bicubic_degrade(hr, scale, path="<array>"):
    """modcrop + PIL bicubic downscale (the CUFED5 protocol); returns `(hr_cropped, lr)` uint8."""
    from PIL import Image

    check_min_size(hr, scale, path, f"x{scale} downscaling")
    hr = modcrop(np.asarray(hr, np.uint8), scale)
    h, w = hr.shape[:2]
    lr = np.asarray(Image.fromarray(hr).resize((w // scale, h // scale), Image.BICUBIC))
    return hr, lr


def degrade_for(lr_method):
    """The `(hr, scale, path) -> (hr_cropped, lr)` function of `lr_method` ("matlab" or "pil")."""
    if lr_method == "pil":
        return pil_bicubic_degrade
    if lr_method == "matlab":
        return degrade
    raise ValueError(f"unknown LR method {lr_method!r}: expected one of {sorted(LR_METHODS)}.")


def refsr_kind(model):
    """"ttsr" or "c2_matching" for a RefSR `keras.Model` (by its input names), None for a SISR model."""
    from keras_sr.models import c2_matching, ttsr

    inputs = model.input if isinstance(model.input, dict) else None
    if inputs is None:
        return None
    names = set(inputs)
    if names == set(ttsr.INPUT_NAMES):
        return "ttsr"
    if names == set(c2_matching.INPUT_NAMES):
        return "c2_matching"
    raise ValueError(f"{model.name}: dict inputs {sorted(names)} match no known RefSR model "
                     f"(ttsr {list(ttsr.INPUT_NAMES)}, c2_matching {list(c2_matching.INPUT_NAMES)}).")


def ref_model_upscaler(model, scale=None, label=None):
    """`upscale(lr, ref, scale) -> sr` (float32 HxWx3) around a TTSR or C2-Matching `keras.Model`."""
    import keras

    from keras_sr.models import c2_matching, ttsr

    kind = refsr_kind(model)
    if kind is None:
        raise ValueError(f"{label or model.name} is not a reference-based model.")
    label = label or model.name
    if scale is not None and int(scale) != 4:
        raise ValueError(f"{label} ({kind}) is an x4 model, asked for x{scale}.")

    def upscale(lr, ref, scale=4):
        if int(scale) != 4:
            raise ValueError(f"{label} ({kind}) upscales x4, asked for x{scale}.")
        if kind == "ttsr":
            inputs, (h, w) = ttsr.prepare_inputs(lr, ref), (4 * lr.shape[0], 4 * lr.shape[1])
        else:
            inputs, (h, w) = c2_matching.prepare_inputs(lr, ref)
        sr = keras.ops.convert_to_numpy(model(inputs, training=False))
        return np.asarray(sr, np.float32)[0, :h, :w]

    upscale.scale, upscale.label, upscale.kind = 4, label, kind
    return upscale


def _sisr(upscaler, label):
    def upscale(lr, ref, scale):
        return upscaler(lr, scale)

    upscale.scale = getattr(upscaler, "scale", None)
    upscale.label, upscale.kind = label, "sisr"
    return upscale


def _model_object(model, scale, weights):
    """The `keras.Model` behind `--model` when it is one keras-sr can build or load, else None."""
    import keras

    from keras_sr import models
    from keras_sr.models import inference, presets

    if isinstance(model, keras.Model):
        return model
    if model.endswith(".keras"):
        return inference.load_model(model)
    if weights is None and presets.get_preset(model) is not None:
        return presets.load_preset(model)
    if model in models.list_models() and model != "bicubic":
        inference.register_custom_objects()
        return inference.build_registered_model(model, scale, weights)
    return None


def resolve_ref_upscaler(model, scale=None, weights=None):
    """Turn `--model` into `upscale(lr_uint8, ref_uint8, scale) -> sr` (SISR models ignore `ref`).

    `model`: bicubic, a registered name (with `weights`), a preset, a `.keras`
    file, a SavedModel folder (SISR only) or a `keras.Model`.
    """
    if isinstance(model, (str, os.PathLike)) and os.fspath(model) == "bicubic" and weights is None:
        from keras_sr.evaluation import bicubic_upscaler

        return _sisr(bicubic_upscaler, "bicubic")  # without importing Keras
    import keras

    from keras_sr.models import inference

    if not isinstance(model, keras.Model):
        model = os.fspath(model)
    label = model.name if isinstance(model, keras.Model) else model
    built = _model_object(model, scale, weights)
    if built is not None and refsr_kind(built) is not None:
        return ref_model_upscaler(built, scale, label=label)
    if built is not None:
        return _sisr(inference.model_upscaler(built, scale, label=label), label)
    return _sisr(inference.load_upscaler(model, scale=scale, weights=weights), label)


def evaluate_reference_source(upscale, source, scale, y_only=True):
    """Mean PSNR/SSIM of `upscale(lr, ref, scale)` over a reference source; per-image list too."""
    scale = int(scale)
    make_lr = degrade_for(source.lr_method)
    per_image = []
    for i in range(len(source)):
        name = source.name(i)
        hr = source.hr(i)
        check_min_size(hr, 2 * scale + 11, name, f"evaluation at x{scale}")
        hr, lr = make_lr(hr, scale, name)
        ref = source.reference(i, lr=lr)
        try:
            sr = upscale(lr, ref, scale)
        except ValueError as err:  # e.g. a reference too small for the model: say which pair
            raise ImageError(f"{name} ({source.label}): {err}") from err
        p, s = score_pair(np.asarray(sr), hr, scale, y_only)
        per_image.append({"image": name, "psnr": p, "ssim": s})
    return {
        "psnr": float(np.mean([r["psnr"] for r in per_image])),
        "ssim": float(np.mean([r["ssim"] for r in per_image])),
        "n_images": len(per_image),
        "images": per_image,
        "lr_method": LR_METHODS[source.lr_method],
        "reference": source.describe(),
    }


def evaluate_reference_sources(upscale, sources, scales, y_only=True, log=None):
    """`{label: {scale: result}}` for several sources (the evaluation results format)."""
    results = {}
    for source in sources:
        for scale in scales:
            start = time.perf_counter()
            result = evaluate_reference_source(upscale, source, scale, y_only)
            results.setdefault(source.label, {})[int(scale)] = result
            if log:
                log(f"{source.label} x{scale}: {result['psnr']:.2f} dB / {result['ssim']:.4f} "
                    f"({result['n_images']} images, LR {source.lr_method}, {time.perf_counter() - start:.1f} s)")
    return results
