"""Scoring of the evaluation protocol: an upscaler, HR images and the metrics; no models here.

For every HR image of every folder and every scale `s`:

1. load it as RGB uint8 (`keras_sr.image_io` rule), `modcrop` to a multiple of `s`;
2. LR = MATLAB-faithful bicubic `imresize(hr, 1/s)` on uint8 (`keras_sr.degradation`);
3. SR = the upscaler's output, rounded to uint8;
4. PSNR and SSIM on Y (BT.601, default) or RGB, with `s` pixels cropped.

Reference-based SR scores `(HR, reference)` pairs of a reference source
(`keras_sr.data.reference_sources`; several references per image go to the
upscaler as a list) with the source's LR method (PIL bicubic for
CUFED5, as the TTSR / C2-Matching test sets; MATLAB bicubic otherwise), and the
same metrics. (The official TTSR code scores with no border; we keep one protocol.)

Every function takes an upscaler (`upscaler(lr, scale)`, or `upscale(lr, ref,
scale)` for reference sources: what `keras_sr.upscalers` returns) and never
imports `keras_sr.models`: that is the layer above. Trainers validate with the
same functions.

Example:
    >>> from keras_sr.upscalers import bicubic_upscaler
    >>> results = evaluate_folders(bicubic_upscaler, ["Set5/HR"], scales=[2, 4])
    >>> print(format_table(results)); results["Set5"][4]["psnr"]
"""

import os
import time

import numpy as np

from keras_sr.degradation import LR_METHODS, degrade, degrade_for
from keras_sr.image_io import ImageError, check_min_size, dataset_name, list_images, load_image
from keras_sr.arbitrary_scale import eval_border, scale_key
from keras_sr.metrics import psnr, ssim, to_uint8
from keras_sr.quality.scorers import EXTRA_METRICS


__all__ = ["EVAL_JSON", "score_pair", "score_examples", "evaluate_images", "evaluate_folders", "format_table", "results_to_json",
           "evaluate_reference_source", "evaluate_reference_sources"]

EVAL_JSON = "eval.json"  # a run directory's benchmark scores (`tools.make_table` reads them)


def score_pair(sr, hr, scale, y_only=True):
    """PSNR/SSIM of one SR output against its (modcropped) HR, border = scale."""
    sr = to_uint8(sr)
    if sr.shape != hr.shape:
        raise ValueError(f"SR output has shape {sr.shape}, HR has {hr.shape}: the model's scale is not x{scale}?")
    border = eval_border(scale)  # ceil(scale) at non-integer scales (keras_sr.arbitrary_scale)
    return psnr(sr, hr, border, y_only), ssim(sr, hr, border, y_only)


def score_examples(upscale, examples, scale, y_only=True, keep_outputs=False):
    """Mean PSNR/SSIM over in-memory examples already degraded by the protocol (what trainers validate on).

    `examples`: `(lr, hr)` pairs scored with `upscale(lr, scale)`, or `(lr, hr, ref)` triples scored with
    `upscale(lr, ref, scale)` (reference-based SR). Returns `{"psnr", "ssim", "images": [{"psnr", "ssim"}],
    "seconds"}` (NaN means when there are no examples), plus `"outputs"` (the SR images) with `keep_outputs`.
    """
    start = time.perf_counter()
    per_image, outputs = [], []
    for example in examples:
        lr, hr, *ref = example
        sr = upscale(lr, *ref, scale)
        p, s = score_pair(np.asarray(sr), hr, scale, y_only)
        per_image.append({"psnr": p, "ssim": s})
        if keep_outputs:
            outputs.append(sr)
    scores = {name: float(np.mean([r[name] for r in per_image])) if per_image else float("nan")
              for name in ("psnr", "ssim")}
    scores.update(images=per_image, seconds=time.perf_counter() - start)
    if keep_outputs:
        scores["outputs"] = outputs
    return scores


def evaluate_images(upscaler, paths, scale, y_only=True, scorers=None):
    """Mean PSNR/SSIM (+ `keras_sr.quality.scorers`) of `upscaler(lr, scale)` over image files; per image too."""
    scorers = scorers or {}
    per_image = []
    for path in paths:
        hr = load_image(path)
        # After cropping `scale` pixels each side, SSIM's 11x11 window must fit.
        check_min_size(hr, 2 * eval_border(scale) + 11, path, f"evaluation at x{scale}")
        hr, lr = degrade(hr, scale, path)
        sr = upscaler(lr, scale)
        p, s = score_pair(np.asarray(sr), hr, scale, y_only)
        row = {"image": os.path.basename(path), "psnr": p, "ssim": s}
        row.update({name: score(to_uint8(sr), hr, scale, y_only) for name, score in scorers.items()})
        per_image.append(row)
    means = {name: float(np.mean([r[name] for r in per_image])) for name in ("psnr", "ssim", *scorers)}
    return {**means, "n_images": len(per_image), "images": per_image}


def evaluate_folders(upscaler, folders, scales, y_only=True, log=None, scorers=None):
    """`{dataset: {scale: {psnr, ssim, [extra metrics,] n_images, images}}}` for HR folders."""
    results = {}
    for folder in folders:
        name = dataset_name(folder)
        paths = list_images(folder)
        results[name] = {}
        for scale in scales:
            start = time.perf_counter()
            results[name][scale_key(scale)] = evaluate_images(upscaler, paths, scale_key(scale), y_only, scorers)
            if log:
                r = results[name][scale_key(scale)]
                log(f"{name} x{scale}: {r['psnr']:.2f} dB / {r['ssim']:.4f} "
                    f"({r['n_images']} images, {time.perf_counter() - start:.1f} s)")
    return results


def format_table(results, title=None):
    """Markdown table, one row per dataset, one `PSNR / SSIM` column per scale (plus extra metrics if scored)."""

    scales = sorted({s for per_scale in results.values() for s in per_scale})
    extras = [m for m in EXTRA_METRICS if any(m in r for per_scale in results.values() for r in per_scale.values())]
    header = f" (PSNR / SSIM / {' / '.join(m.upper() for m in extras)})" if extras else ""
    lines = []
    if title:
        lines.append(title)
    lines.append("| Dataset | " + " | ".join(f"x{s}{header}" for s in scales) + " |")
    lines.append("|---|" + "---|" * len(scales))
    for name, per_scale in results.items():
        cells = []
        for s in scales:
            r = per_scale.get(s)
            cells.append(f"{r['psnr']:.2f} / {r['ssim']:.4f}" + "".join(
                f" / {r[m]:.4f}" if m in r else " / -" for m in extras) if r else "-")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def results_to_json(results, per_image=False):
    """The results dict as JSON-ready `{dataset: {"scale": {psnr, ssim, [ifc, niqe, lpips,] n_images[, images]}}}`."""
    out = {}
    for name, per_scale in results.items():
        out[name] = {}
        for s, r in per_scale.items():
            entry = {k: r[k] for k in ("psnr", "ssim", "ifc", "niqe", "lpips", "n_images") if k in r}
            entry.update({k: r[k] for k in ("lr_method", "reference") if k in r})  # reference-based SR rows
            if per_image:
                entry["images"] = r["images"]
            out[name][str(s)] = entry
    return out


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
        # Several references (cufed5:all, pairs with several per line, synthetic:SEED:K) go to the upscaler as a
        # list: multi-reference models take them all, single-reference ones reduce them (keras_sr.upscalers).
        ref = source.reference(i, lr=lr) if getattr(source, "num_refs", 1) == 1 else source.references(i, lr=lr)
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
