"""The evaluation command (`tools.evaluate` / `keras-sr evaluate`): flags, model resolution, the table.

The protocol itself is in the layers below, and this module re-exports their
names so `from keras_sr.evaluation import ...` keeps working:

* `keras_sr.degradation`: how LR images are made (`degrade`, PIL bicubic for CUFED5);
* `keras_sr.upscalers`: any model reference -> an upscaler (`bicubic_upscaler`, `load`);
* `keras_sr.scoring`: an upscaler + HR folders -> PSNR / SSIM (`evaluate_folders`,
  `format_table`, `results_to_json`, the reference-based `evaluate_reference_sources`).

For every HR image of every folder and every scale `s`: RGB uint8, `modcrop`,
LR = MATLAB-faithful bicubic `imresize(hr, 1/s)` on uint8, SR rounded to uint8,
PSNR and SSIM on Y (BT.601, default) or RGB with `s` pixels cropped. This
reproduces the published bicubic table (see README).

Reference-based SR (`--ref-mode cufed5:K|cufed5:all|self-lr|pairs:FILE|synthetic:SEED[:K]`)
pairs every HR image with a reference (`keras_sr.data.reference_sources`)
(CUFED5 takes its LR from PIL bicubic, as the TTSR / C2-Matching test sets;
every other mode from MATLAB bicubic).

Example:
    >>> results = evaluate_folders(bicubic_upscaler, ["Set5/HR"], scales=[2, 4])
    >>> print(format_table(results))
    >>> results["Set5"][4]["psnr"]
"""

import json
import sys

from keras_sr import upscalers
from keras_sr.arbitrary_scale import parse_scale
from keras_sr.data.reference_sources import open_reference_source
from keras_sr.degradation import degrade
from keras_sr.fileio import atomic_write_text
from keras_sr.image_io import ImageError, dataset_name
from keras_sr.scoring import (EVAL_JSON, evaluate_folders, evaluate_images, evaluate_reference_sources, format_table,
                              results_to_json, score_pair)
from keras_sr.upscalers import bicubic_upscaler
from keras_sr.quality.scorers import make_scorers


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


def resolve_upscaler(model, scale=None, weights=None, reference=False):
    """Turn `--model` into `upscaler(lr_uint8, scale) -> sr` (`keras_sr.upscalers.load_upscaler`).

    `bicubic` is the MATLAB baseline; registered models, presets, `.keras`
    files and SavedModel folders are resolved by `keras_sr.upscalers`. With
    `reference=True` the result is `upscaler(lr, ref, scale)`: RefSR models use
    `ref`, SISR models ignore it (`keras_sr.upscalers.resolve_ref_upscaler`).
    """
    if reference:
        return upscalers.resolve_ref_upscaler(model, scale=scale, weights=weights)
    return upscalers.load_upscaler(model, scale=scale, weights=weights)


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
                        help="reference-based SR: cufed5:K (CUFED5 level-K refs, PIL bicubic LR; cufed5:all: the "
                             "five), self-lr (the LR image is the reference), pairs:FILE (`hr ref [ref ...]` per "
                             "line), synthetic[:SEED[:K]] (K warped views of each HR image) or tfrecord[:K]; SISR "
                             "models ignore the reference, single-reference models take the best-matching one of "
                             "several")
    parser.add_argument("--rgb", action="store_true", help="score on RGB instead of Y (BT.601)")
    parser.add_argument("--json", default=None, help="write {dataset: {scale: {psnr, ssim, n_images}}} here")
    parser.add_argument("--per-image", action="store_true", help="include per-image scores in the JSON")
    parser.add_argument("--quiet", action="store_true", help="print only the table")
    parser.add_argument("--metrics", nargs="+", default=["psnr", "ssim"], metavar="METRIC",
                        help="psnr ssim (always) and any of ifc niqe lpips (keras_sr.quality); default: psnr ssim")
    parser.add_argument("--lpips-backbone", default=None, metavar="FILE",
                        help="LPIPS: the torchvision ImageNet AlexNet/VGG16 state dict (.pth/.safetensors/.npz); "
                             "keras-sr ships only the LPIPS linear layers")
    parser.add_argument("--lpips-net", default="alex", choices=["alex", "vgg"], help="LPIPS backbone (default: alex)")
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
        if set(getattr(args, "metrics", None) or []) - {"psnr", "ssim"}:
            raise ValueError("--metrics ifc/niqe/lpips: not available with --ref-mode yet (PSNR/SSIM only).")
        return _run_reference(args, log)
    if not args.data:
        raise ImageError("--data: give one or more folders of HR images.")

    scorers = make_scorers(getattr(args, "metrics", None) or [], getattr(args, "lpips_backbone", None),
                           getattr(args, "lpips_net", "alex"))
    results = {}
    for scale in args.scale:
        upscaler = resolve_upscaler(args.model, scale=scale, weights=args.weights)
        for name, per_scale in evaluate_folders(upscaler, args.data, [scale], y_only=not args.rgb, log=log,
                                                scorers=scorers).items():
            results.setdefault(name, {}).update(per_scale)
    channel = "RGB" if args.rgb else "Y"
    print(format_table(results, title=f"{args.model}: PSNR (dB) / SSIM on {channel}, border = scale"))
    if args.json:
        atomic_write_text(args.json, json.dumps(results_to_json(results, args.per_image), indent=2))
    return results


def _reference_sources(modes, data):
    """One reference source per (mode, data folder); pairs and TFRecord modes take all `data` at once."""
    sources = []
    for mode in modes:
        kind = mode.partition(":")[0].strip().lower()
        if kind in ("pairs", "tfrecord") or not data:
            sources.append(open_reference_source(mode, data))
        else:
            sources.extend(open_reference_source(mode, [folder]) for folder in data)
    return sources


def _run_reference(args, log):
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
        atomic_write_text(args.json, json.dumps(results_to_json(results, args.per_image), indent=2))
    return results
