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


__all__ = ["training_set_name", "load_run", "merge_runs", "format_runs", "load_family_runs", "format_refsr_family",
           "robustness_gate"]


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


# The reference-based SR family table (`tools.make_table --refsr-family`) --------------------------------------

FAMILY_COLUMNS = (("Urban100", "LR ref"), ("BSD100", "warped ref"), ("BSD100", "unrelated ref"),
                  ("Urban100", "warped ref"), ("Urban100", "unrelated ref"))
CPU_TIME_JSON = "cpu_time.json"  # {"params": N, "cpu_ms": ms, "lr_size": [160, 160]}, tools.refsr_cpu_time
GATE_TOLERANCE_DB = 0.1


def load_family_runs(eval_jsons, scale=4):
    """One row per run folder: `{label, model, folder, params, cpu_ms, steps, cells: {(dataset, ref): result}}`.

    Every eval JSON of a folder is merged (the `tools.evaluate --ref-mode` labels `"<dataset> (<ref>)"`); the
    folder's `recipe.json` / `summary.json` name the model and steps; `cpu_time.json` gives the parameters
    and the CPU time.
    """
    rows = {}
    for path in eval_jsons:
        run = load_run(path)
        folder = os.path.dirname(os.path.abspath(path))
        row = rows.setdefault(folder, {"label": run["label"], "model": run["model"], "folder": folder,
                                       "steps": run["steps"], "train": run["train"], "cells": {}})
        raw = _read_json(path)
        for label, per_scale in run["results"].items():
            dataset, _, ref = label.partition(" (")
            entry = per_scale.get(int(scale))
            if entry is not None:
                n = (raw.get(label, {}).get(str(scale)) or raw.get(label, {}).get(scale) or {}).get("n_images")
                row["cells"][(dataset, ref.rstrip(")") or "no ref")] = {**entry, "n_images": n}
        timing = _read_json(os.path.join(folder, CPU_TIME_JSON)) or {}
        row["params"], row["cpu_ms"] = timing.get("params"), timing.get("cpu_ms")
    return list(rows.values())


def robustness_gate(row, baseline, tolerance=GATE_TOLERANCE_DB):
    """`(passes, text)`: beats `baseline` with the relevant (warped) reference and loses at most `tolerance` dB
    with the unrelated one, on every dataset both rows have."""
    checks = []
    for dataset in sorted({d for d, _ in row["cells"]}):
        ours_rel, base_rel = row["cells"].get((dataset, "warped ref")), baseline["cells"].get((dataset, "warped ref"))
        ours_un, base_un = row["cells"].get((dataset, "unrelated ref")), baseline["cells"].get((dataset, "unrelated ref"))
        if None in (ours_rel, base_rel, ours_un, base_un):
            continue
        gain, loss = ours_rel["psnr"] - base_rel["psnr"], ours_un["psnr"] - base_un["psnr"]
        checks.append((gain > 0 and loss >= -tolerance, f"{dataset}: {gain:+.2f} / {loss:+.2f}"))
    if not checks:
        return None, "-"
    passes = all(ok for ok, _ in checks)
    return passes, ("pass" if passes else "FAIL") + " (" + "; ".join(text for _, text in checks) + ")"


def format_refsr_family(rows, baseline=None, scale=4):
    """The RefSR family table: one row per model; the gate compares each RefSR row with the SISR `baseline`.

    `baseline`: the label of the SISR row (default: the first row whose model is not a RefSR model, i.e.
    whose relevant and unrelated scores are equal, else none).
    """
    sisr = [r for r in rows if _ignores_reference(r)]
    if baseline is None:
        base = sisr[0] if sisr else None
    else:
        matches = [r for r in rows if r["label"] == baseline]
        if not matches:
            raise ValueError(f"--baseline {baseline!r}: no such row (rows: {[r['label'] for r in rows]}).")
        base = matches[0]
    columns = [c for c in FAMILY_COLUMNS if any(c in r["cells"] for r in rows)]
    head = ["model", "params"] + [f"{d} x{scale} ({ref}, n={_n(rows, (d, ref))})" for d, ref in columns] \
        + ["CPU ms / 160x160 LR", "gate vs " + (base["label"] if base else "-") + " (relevant gain / unrelated loss, dB)"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for row in rows:
        cells = [f"{row['label']}" + (f" ({row['steps']:,} steps)" if row.get("steps") else ""),
                 f"{row['params']:,}" if row.get("params") else "-"]
        for column in columns:
            entry = row["cells"].get(column)
            cells.append(f"{entry['psnr']:.2f} / {entry['ssim']:.4f}" if entry else "-")
        cells.append(f"{row['cpu_ms']:.0f}" if row.get("cpu_ms") else "-")
        if row is base:
            cells.append("(baseline)")
        elif any(row is r for r in sisr):
            cells.append("(SISR: reference ignored)")
        else:
            cells.append(robustness_gate(row, base)[1] if base else "-")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _ignores_reference(row):
    """A SISR row: the same score with the relevant and the unrelated reference on every dataset it has."""
    pairs = [(row["cells"][(d, "warped ref")], row["cells"][(d, "unrelated ref")]) for d in ("BSD100", "Urban100")
             if (d, "warped ref") in row["cells"] and (d, "unrelated ref") in row["cells"]]
    return bool(pairs) and all(abs(a["psnr"] - b["psnr"]) < 1e-9 for a, b in pairs)


def _n(rows, column):
    counts = sorted({r["cells"][column]["n_images"] for r in rows if column in r["cells"]
                     and r["cells"][column].get("n_images")})
    return "/".join(str(c) for c in counts) or "?"
