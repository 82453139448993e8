"""The one SR evaluation protocol of keras-sr, behind `tools.evaluate` / `keras-sr evaluate`.

For every HR image of every folder and every scale `s`:

1. load it as RGB uint8 (`keras_sr.image_io` rule), `modcrop` to a multiple of `s`;
2. LR = MATLAB-faithful bicubic `imresize(hr, 1/s)` on uint8 (`keras_sr.imresize`);
3. SR = the model's output, rounded to uint8;
4. PSNR and SSIM on Y (BT.601, default) or RGB, with `s` pixels cropped.

This reproduces the published bicubic table (see README); trainers use the
same functions for validation.

Reference-based SR (`--ref-mode cufed5:K|self-lr|pairs:FILE|synthetic:SEED`)
pairs every HR image with a reference (`keras_sr.data.reference_sources`) and
is scored by `keras_sr.refsr_evaluation` (CUFED5 takes its LR from PIL
bicubic, as the TTSR / C2-Matching test sets; every other mode from step 2).

Example:
    >>> results = evaluate_folders(bicubic_upscaler, ["Set5/HR"], scales=[2, 4])
    >>> print(format_table(results))
    >>> results["Set5"][4]["psnr"]
"""

import json
import math
import os
import sys
import time

import numpy as np

from keras_sr.arbitrary_scale import degrade_to_scale, eval_border, is_integer_scale, parse_scale, scale_key, sr_size
from keras_sr.cropping import modcrop
from keras_sr.image_io import check_min_size, list_images, load_image
from keras_sr.imresize import imresize
from keras_sr.metrics import psnr, ssim, to_uint8

__all__ = [
    "bicubic_upscaler",
    "dataset_name",
    "degrade",
    "score_pair",
    "evaluate_images",
    "evaluate_folders",
    "format_table",
    "results_to_json",
    "EVAL_JSON",
    "resolve_upscaler",
    "add_arguments",
    "run",
]


EVAL_JSON = "eval.json"  # a run directory's benchmark scores (`tools.make_table` reads them)


def bicubic_upscaler(lr, scale):
    """The bicubic baseline: MATLAB `imresize(lr, scale)` on uint8 (to `sr_size` at non-integer scales)."""
    if not is_integer_scale(scale):
        return imresize(to_uint8(lr), output_shape=sr_size(*np.shape(lr)[:2], scale))
    return imresize(to_uint8(lr), scale)


def degrade(hr, scale, path="<array>"):
    """modcrop + MATLAB bicubic downscale; returns `(hr_cropped, lr)` as uint8."""
    check_min_size(hr, math.ceil(scale), path, f"x{scale} downscaling")
    if not is_integer_scale(scale):  # LIIF's sizes (keras_sr.arbitrary_scale)
        return degrade_to_scale(hr, scale)
    hr = modcrop(hr, scale)
    return hr, imresize(hr, 1.0 / scale)


def score_pair(sr, hr, scale, y_only=True):
    """PSNR/SSIM of one SR output against its (modcropped) HR, border = scale (ceil(scale) if not integral)."""
    sr = to_uint8(sr)
    if sr.shape != hr.shape:
        raise ValueError(f"SR output has shape {sr.shape}, HR has {hr.shape}: the model's scale is not x{scale}?")
    border = eval_border(scale)
    return psnr(sr, hr, border, y_only), ssim(sr, hr, border, y_only)


def dataset_name(folder):
    """`.../Set5/HR` -> `Set5`; otherwise the folder's own name."""
    parts = os.path.normpath(os.path.abspath(folder)).split(os.sep)
    if parts[-1].upper() in ("HR", "GT") and len(parts) > 1:
        return parts[-2]
    return parts[-1]


def evaluate_images(upscaler, paths, scale, y_only=True):
    """Mean PSNR/SSIM of `upscaler(lr, scale)` over image files; per-image list too."""
    per_image = []
    for path in paths:
        hr = load_image(path)
        # After cropping `scale` pixels each side, SSIM's 11x11 window must fit.
        check_min_size(hr, 2 * eval_border(scale) + 11, path, f"evaluation at x{scale}")
        hr, lr = degrade(hr, scale, path)
        sr = upscaler(lr, scale)
        p, s = score_pair(np.asarray(sr), hr, scale, y_only)
        per_image.append({"image": os.path.basename(path), "psnr": p, "ssim": s})
    return {
        "psnr": float(np.mean([r["psnr"] for r in per_image])),
        "ssim": float(np.mean([r["ssim"] for r in per_image])),
        "n_images": len(per_image),
        "images": per_image,
    }


def evaluate_folders(upscaler, folders, scales, y_only=True, log=None):
    """`{dataset: {scale: {psnr, ssim, n_images, images}}}` for HR folders."""
    results = {}
    for folder in folders:
        name = dataset_name(folder)
        paths = list_images(folder)
        results[name] = {}
        for scale in scales:
            start = time.perf_counter()
            results[name][scale_key(scale)] = evaluate_images(upscaler, paths, scale_key(scale), y_only)
            if log:
                r = results[name][scale_key(scale)]
                log(f"{name} x{scale}: {r['psnr']:.2f} dB / {r['ssim']:.4f} "
                    f"({r['n_images']} images, {time.perf_counter() - start:.1f} s)")
    return results


def format_table(results, title=None):
    """Markdown table, one row per dataset, one `PSNR / SSIM` column per scale."""
    scales = sorted({s for per_scale in results.values() for s in per_scale})
    lines = []
    if title:
        lines.append(title)
    lines.append("| Dataset | " + " | ".join(f"x{s}" for s in scales) + " |")
    lines.append("|---|" + "---|" * len(scales))
    for name, per_scale in results.items():
        cells = []
        for s in scales:
            r = per_scale.get(s)
            cells.append(f"{r['psnr']:.2f} / {r['ssim']:.4f}" if r else "-")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def resolve_upscaler(model, scale=None, weights=None, reference=False):
    """Turn `--model` into `upscaler(lr_uint8, scale) -> sr`.

    `bicubic` is the MATLAB baseline. Registered models, presets, `.keras`
    files and SavedModel folders are resolved by `keras_sr.models.inference`
    when that module is available. With `reference=True` the result is
    `upscaler(lr, ref, scale)`: RefSR models use `ref`, SISR models ignore it
    (`keras_sr.refsr_evaluation.resolve_ref_upscaler`).
    """
    if reference:
        from keras_sr.refsr_evaluation import resolve_ref_upscaler

        return resolve_ref_upscaler(model, scale=scale, weights=weights)
    if model == "bicubic":
        return bicubic_upscaler
    try:
        from keras_sr.models import inference
    except ImportError as err:  # pragma: no cover - depends on later modules
        raise ValueError(f"Unknown model {model!r}: only 'bicubic' is available in this installation.") from err
    return inference.load_upscaler(model, scale=scale, weights=weights)


def results_to_json(results, per_image=False):
    out = {}
    for name, per_scale in results.items():
        out[name] = {}
        for s, r in per_scale.items():
            entry = {k: r[k] for k in ("psnr", "ssim", "n_images")}
            entry.update({k: r[k] for k in ("lr_method", "reference") if k in r})  # reference-based SR rows
            if per_image:
                entry["images"] = r["images"]
            out[name][str(s)] = entry
    return out


def add_arguments(parser):
    """Flags of `tools.evaluate` / `keras-sr evaluate`."""
    parser.add_argument("--model", default="bicubic", help="bicubic, a registered model or preset, a .keras file or a SavedModel folder")
    parser.add_argument("--weights", default=None, help="weights file for a registered model")
    parser.add_argument("--scale", type=_scale_arg, nargs="+", default=[2, 3, 4],
                        help="scales to evaluate (default: 2 3 4); arbitrary-scale models (liif, meta_rdn) and "
                             "bicubic also take real scales such as 2.5 (keras_sr.arbitrary_scale)")
    parser.add_argument("--data", nargs="+", default=None,
                        help="one or more folders of HR images (CUFED5 folders for --ref-mode cufed5:K; "
                             "TFRecord shards for tfrecord:K; not needed for pairs:FILE)")
    parser.add_argument("--ref-mode", nargs="+", default=None, metavar="MODE",
                        help="reference-based SR: cufed5:K (CUFED5 level-K refs, PIL bicubic LR), self-lr (the LR "
                             "image is the reference), pairs:FILE (`hr ref` per line), synthetic[:SEED] (a warped "
                             "view of each HR image) or tfrecord[:K]; SISR models ignore the reference")
    parser.add_argument("--rgb", action="store_true", help="score on RGB instead of Y (BT.601)")
    parser.add_argument("--json", default=None, help="write {dataset: {scale: {psnr, ssim, n_images}}} here")
    parser.add_argument("--per-image", action="store_true", help="include per-image scores in the JSON")
    parser.add_argument("--quiet", action="store_true", help="print only the table")
    return parser


def _scale_arg(text):
    import argparse

    try:
        return parse_scale(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def run(args):
    """Run an evaluation from parsed arguments; returns the results dict."""
    log = None if args.quiet else (lambda msg: print(msg, file=sys.stderr, flush=True))
    if getattr(args, "ref_mode", None):
        return _run_reference(args, log)
    if not args.data:
        from keras_sr.image_io import ImageError

        raise ImageError("--data: give one or more folders of HR images.")
    results = {}
    for scale in args.scale:
        upscaler = resolve_upscaler(args.model, scale=scale, weights=args.weights)
        for name, per_scale in evaluate_folders(upscaler, args.data, [scale], y_only=not args.rgb, log=log).items():
            results.setdefault(name, {}).update(per_scale)
    channel = "RGB" if args.rgb else "Y"
    print(format_table(results, title=f"{args.model}: PSNR (dB) / SSIM on {channel}, border = scale"))
    if args.json:
        from keras_sr.fileio import atomic_write_text

        atomic_write_text(args.json, json.dumps(results_to_json(results, args.per_image), indent=2))
    return results


def _reference_sources(modes, data):
    """One reference source per (mode, data folder); pairs and TFRecord modes take all `data` at once."""
    from keras_sr.data.reference_sources import open_reference_source

    sources = []
    for mode in modes:
        kind = mode.partition(":")[0].strip().lower()
        if kind in ("pairs", "tfrecord") or not data:
            sources.append(open_reference_source(mode, data))
        else:
            sources.extend(open_reference_source(mode, [folder]) for folder in data)
    return sources


def _run_reference(args, log):
    from keras_sr.refsr_evaluation import evaluate_reference_sources

    sources = _reference_sources(args.ref_mode, args.data)
    results = {}
    for scale in args.scale:
        upscaler = resolve_upscaler(args.model, scale=scale, weights=args.weights, reference=True)
        for label, per_scale in evaluate_reference_sources(upscaler, sources, [scale], y_only=not args.rgb,
                                                           log=log).items():
            results.setdefault(label, {}).update(per_scale)
    channel = "RGB" if args.rgb else "Y"
    methods = sorted({s.lr_method for s in sources})
    print(format_table(results, title=f"{args.model}: PSNR (dB) / SSIM on {channel}, border = scale, "
                                      f"reference-based ({', '.join(args.ref_mode)}; LR: {', '.join(methods)} bicubic)"))
    if args.json:
        from keras_sr.fileio import atomic_write_text

        atomic_write_text(args.json, json.dumps(results_to_json(results, args.per_image), indent=2))
    return results
