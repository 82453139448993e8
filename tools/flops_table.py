"""PSNR beside the computation of input-adaptive models: `python -m tools.flops_table --model M --data Set5/HR`.

For a ClassSR model (`keras_sr.models.classsr`): the routed inference over
32x32 LR sub-images with stride 28 (`keras_sr.dynamic_inference.classsr_upscale`),
with the share of sub-images per class, its MACs as a percentage of the large
branch alone on the same sub-images, and the large branch's own PSNR.
For an SMSR model (`keras_sr.models.smsr`): the hard-mask inference, the MACs
of the sparse inference counted from its masks and the dense network's.
PSNR/SSIM follow the evaluation protocol (MATLAB bicubic LR, Y channel,
`scale` pixels cropped). MACs are multiply-accumulates of convolutions and
dense layers (`keras_sr.analysis.flops`); `--transposed output` counts
transposed convolutions on their output grid, as the ClassSR paper does.

Example:
    $ python -m tools.flops_table --model runs/classsr/final.keras --data Set5/HR Set14/HR --json classsr.json
    $ python -m tools.flops_table --model runs/smsr/final.keras --data Set5/HR
"""

import argparse
import json
import os
import sys

import numpy as np

from keras_sr.degradation import degrade
from keras_sr.image_io import ImageError, dataset_name, list_images, load_image
from keras_sr.models.loading import load_model
from keras_sr.scoring import score_pair


def _model_kind(model):
    name = getattr(model, "registered_name", None)
    if name in ("classsr", "smsr"):
        return name
    raise SystemExit(f"error: {model.name}: tools.flops_table takes a classsr or smsr model, got "
                     f"{name or 'an unregistered model'}")


def evaluate_folder(model, folder, scale, patch=32, stride=28, transposed="input", log=print):
    """`{"dataset", "images": [row], "mean": {...}}` for one HR folder (see the module docstring)."""
    from keras_sr.dynamic_inference import classsr_upscale, smsr_upscale

    kind = _model_kind(model)
    rows, cache = [], {}
    for path in list_images(folder):
        hr, lr = degrade(load_image(path), scale, path)
        row = {"image": os.path.basename(path)}
        if kind == "classsr":
            routed = classsr_upscale(model, lr, patch, stride, scale, transposed=transposed, macs_cache=cache)
            large = classsr_upscale(model, lr, patch, stride, scale, route="large", transposed=transposed,
                                    macs_cache=cache)
            row["psnr"], row["ssim"] = score_pair(routed.sr, hr, scale)
            row["psnr_large"], row["ssim_large"] = score_pair(large.sr, hr, scale)
            row.update(sub_images=len(routed.classes), class_counts=routed.class_counts, macs=routed.macs,
                       baseline_macs=routed.baseline_macs)
        else:
            result = smsr_upscale(model, lr, transposed=transposed)
            row["psnr"], row["ssim"] = score_pair(result.sr, hr, scale)
            row.update(macs=result.macs, baseline_macs=result.dense_macs, spatial_density=result.spatial_density,
                       channel_sparsity=result.channel_sparsity)
        row["macs_percent"] = 100.0 * row["macs"] / row["baseline_macs"]
        rows.append(row)
        log(f"  {row['image']}: PSNR {row['psnr']:.2f} dB, MACs {row['macs'] / 1e6:.1f}M "
            f"({row['macs_percent']:.1f}%)")
    keys = [k for k in rows[0] if isinstance(rows[0][k], (int, float)) and not isinstance(rows[0][k], bool)]
    mean = {k: float(np.mean([r[k] for r in rows])) for k in keys}
    mean["macs_percent"] = 100.0 * sum(r["macs"] for r in rows) / sum(r["baseline_macs"] for r in rows)
    if kind == "classsr":
        counts = np.sum([r["class_counts"] for r in rows], axis=0)
        mean["class_share"] = [float(c) / float(counts.sum()) for c in counts]
    return {"dataset": dataset_name(folder), "kind": kind, "images": rows, "mean": mean}


def format_rows(results):
    """Markdown table: one line per dataset."""
    kind = results[0]["kind"]
    if kind == "classsr":
        lines = ["| Dataset | PSNR / SSIM (ClassSR) | MACs (% of large branch) | class share (S/M/L) | "
                 "PSNR (large branch alone) |", "|---|---|---|---|---|"]
        for r in results:
            m = r["mean"]
            share = " / ".join(f"{100 * s:.0f}%" for s in m["class_share"])
            lines.append(f"| {r['dataset']} | {m['psnr']:.2f} / {m['ssim']:.4f} | {m['macs'] / 1e6:.1f}M "
                         f"({m['macs_percent']:.1f}%) | {share} | {m['psnr_large']:.2f} |")
    else:
        lines = ["| Dataset | PSNR / SSIM | sparse MACs | dense MACs | sparse / dense | spatial mask density | "
                 "sparse channels |", "|---|---|---|---|---|---|---|"]
        for r in results:
            m = r["mean"]
            lines.append(f"| {r['dataset']} | {m['psnr']:.2f} / {m['ssim']:.4f} | {m['macs'] / 1e9:.2f}G | "
                         f"{m['baseline_macs'] / 1e9:.2f}G | {m['macs_percent']:.1f}% | "
                         f"{100 * m['spatial_density']:.1f}% | {100 * m['channel_sparsity']:.1f}% |")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="tools.flops_table", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, help="a .keras file (or a run directory with final.keras)")
    parser.add_argument("--data", nargs="+", required=True, metavar="DIR", help="HR image folders")
    parser.add_argument("--scale", type=int, default=4)
    parser.add_argument("--patch", type=int, default=32, help="ClassSR: LR sub-image size (official 32)")
    parser.add_argument("--stride", type=int, default=28, help="ClassSR: sub-image step (official 28)")
    parser.add_argument("--transposed", default="input", choices=("input", "output"),
                        help="MACs of transposed convolutions: on the input grid (the arithmetic) or the output "
                             "grid (thop, the ClassSR paper)")
    parser.add_argument("--json", default=None, help="write the per-image results here")
    args = parser.parse_args(argv)
    path = os.path.join(args.model, "final.keras") if os.path.isdir(args.model) else args.model
    try:
        model = load_model(path)
        results = []
        for folder in args.data:
            print(f"{folder}:")
            results.append(evaluate_folder(model, folder, args.scale, args.patch, args.stride, args.transposed))
    except ImageError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(format_rows(results))
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump({"model": path, "scale": args.scale, "transposed": args.transposed, "results": results}, f,
                      indent=2, default=int)
    return 0


if __name__ == "__main__":
    sys.exit(main())
