"""Markdown result tables from evaluation JSON files, never typed by hand (`python -m tools.make_table`).

Input: `eval.json` files in the format of `tools.evaluate --json` /
`recipes.<name> --eval-data` (`{dataset: {scale: {psnr, ssim, n_images}}}`).
When the file sits in a training run directory, the run's `recipe.json` and
`summary.json` name the model, the training set, the steps and the minutes;
otherwise the parent folder's name labels it. Each run becomes one table in
the seed's format: one row per dataset, one column per scale, cells
`ours PSNR / SSIM (reference PSNR, difference)`, where the reference is the
published row of `keras_sr.benchmarks.published` for the same model and
training set.

Example:
    $ python -m tools.make_table runs/*/eval.json
    >>> runs = [load_run("runs/fsrcnn_x3/eval.json")]
    >>> print(format_runs(runs))
"""

import json
import os

from keras_sr.benchmarks.published import DATASETS, reference_row
from keras_sr.image_io import dataset_name


__all__ = ["training_set_name", "load_run", "merge_runs", "format_runs"]


def training_set_name(data):
    """`--data` entries -> the name papers use: T91, 291 (T91 + BSD200), a folder name, or the embedded photos."""
    if not data:
        return "embedded photos"
    names = sorted({dataset_name(p) for p in data})
    if names == ["BSD200", "T91"]:
        return "291"
    return "+".join(names)


def _read_json(path):
    if not os.path.isfile(path):
        return None
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def load_run(eval_json):
    """One result: `{label, model, train, steps, minutes, results: {dataset: {scale: {psnr, ssim}}}}`."""
    results = _read_json(eval_json)
    if results is None:
        raise ValueError(f"{eval_json}: no such file.")
    if not isinstance(results, dict) or not all(isinstance(v, dict) for v in results.values()):
        raise ValueError(f"{eval_json}: not an evaluation JSON ({{dataset: {{scale: {{psnr, ssim}}}}}}).")
    folder = os.path.dirname(os.path.abspath(eval_json))
    recipe = _read_json(os.path.join(folder, "recipe.json")) or {}
    summary = _read_json(os.path.join(folder, "summary.json")) or {}
    model = (recipe.get("model") or {}).get("name")
    config = (recipe.get("model") or {}).get("config") or {}
    train = training_set_name(recipe.get("data")) if recipe else None
    label = model.upper() if model else os.path.basename(folder)
    if config.get("variant"):
        label += f"-{config['variant']}"
    parsed = {}
    for dataset, per_scale in results.items():
        for scale, entry in per_scale.items():
            parsed.setdefault(dataset, {})[int(scale)] = {"psnr": float(entry["psnr"]), "ssim": float(entry["ssim"])}
    return {
        "label": label,
        "model": model,
        "train": train,
        "steps": summary.get("steps"),
        "minutes": summary["seconds"] / 60 if summary.get("seconds") else None,
        "backend": recipe.get("backend"),
        "results": parsed,
        "path": eval_json,
    }


def merge_runs(runs):
    """Runs of the same model, training set and steps (e.g. one per scale) merged into one table."""
    merged = {}
    for run in runs:
        key = (run["label"], run["train"], run["steps"])
        if key not in merged:
            merged[key] = {**run, "results": {}, "minutes": run["minutes"], "paths": []}
        target = merged[key]
        target["paths"].append(run["path"])
        for dataset, per_scale in run["results"].items():
            target["results"].setdefault(dataset, {}).update(per_scale)
    return list(merged.values())


def _ordered(datasets):
    known = [d for d in DATASETS if d in datasets]
    return known + sorted(d for d in datasets if d not in DATASETS)


def format_run(run):
    """One markdown table (heading line, then rows) for a run."""
    scales = sorted({s for per_scale in run["results"].values() for s in per_scale})
    reference = reference_row(run["model"], run["train"]) if run["model"] else None
    facts = [f"trained on {run['train']}" if run["train"] else None,
             f"{run['steps']:,} steps" if run["steps"] else None,
             f"{run['minutes']:.0f} min" if run["minutes"] else None,
             f"{run['backend']} backend" if run.get("backend") else None]
    heading = f"**{run['label']}** ({', '.join(f for f in facts if f)})" if any(facts) else f"**{run['label']}**"
    if reference:
        heading += f"; reference: {reference['label']}"
    lines = [heading, "", "| Dataset | " + " | ".join(f"x{s}" for s in scales) + " |", "|---|" + "---|" * len(scales)]
    for dataset in _ordered(run["results"]):
        cells = []
        for scale in scales:
            ours = run["results"][dataset].get(scale)
            if ours is None:
                cells.append("-")
                continue
            cell = f"{ours['psnr']:.2f} / {ours['ssim']:.4f}"
            ref = (reference or {}).get("psnr", {}).get(scale, {}).get(dataset)
            if ref is not None:
                cell += f" ({ref:.2f}, {ours['psnr'] - ref:+.2f})"
            cells.append(cell)
        lines.append(f"| {dataset} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def format_runs(runs):
    """All runs' tables, merged per model/training set/steps, separated by blank lines."""
    return "\n\n".join(format_run(run) for run in merge_runs(runs))
