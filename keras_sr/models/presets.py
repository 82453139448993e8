"""Pretrained weights shipped inside the package (`keras_sr/presets/`).

Each preset is a JSON file beside its weights:
`keras_sr/presets/<preset>.json` = `{"model": "edsr", "config": {...},
"weights": "<preset>.weights.h5", "description": ..., "metrics": {...}}`.
Preset names follow `<model>_<variant>_x<scale>` (e.g. `edsr_baseline_x4`).
Only trained weights are shipped (`fsrcnn_x3`, `espcn_x3`, `edsr_baseline_x2/x3/x4`
so far); for any other model and scale `find_preset` returns None and recipes
train from scratch.

`make_preset(run_dir, name)` (behind `python -m tools.make_preset --run DIR`)
turns a finished training run into a preset: it copies `final.weights.h5` and
records the builder config (`model.json`), the command that trained it
(`recipe.json`), steps and minutes (`summary.json`) and the benchmark table
(`eval.json`, written by `--eval-data` or `tools.evaluate --json`).

Example:
    >>> find_preset("edsr", scale=4, variant="baseline")     # None or a Preset
    >>> [p.name for p in list_presets()]
    >>> model = load_preset("edsr_baseline_x4")               # built + weights loaded
"""

import dataclasses
import glob
import json
import os

from keras_sr.fileio import atomic_write_text


__all__ = ["PRESET_DIR", "Preset", "list_presets", "find_preset", "get_preset", "load_preset", "make_preset",
           "preset_name"]

PRESET_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "presets")


@dataclasses.dataclass(frozen=True)
class Preset:
    """One shipped preset: registry name, builder config and the weights file."""

    name: str
    model: str
    config: dict
    weights: str
    description: str = ""
    metrics: dict = dataclasses.field(default_factory=dict)
    training: dict = dataclasses.field(default_factory=dict)


def list_presets(folder=PRESET_DIR):
    """Presets whose JSON and weights file are both present, sorted by name."""
    presets = []
    for path in sorted(glob.glob(os.path.join(folder, "*.json"))):
        with open(path, encoding="utf-8") as f:
            meta = json.load(f)
        weights = os.path.join(folder, meta.get("weights", ""))
        if not os.path.isfile(weights):
            continue
        presets.append(Preset(os.path.splitext(os.path.basename(path))[0], meta["model"], dict(meta["config"]),
                              weights, meta.get("description", ""), dict(meta.get("metrics", {})),
                              dict(meta.get("training", {}))))
    return presets


def get_preset(name, folder=PRESET_DIR):
    """The preset called `name`, or None."""
    return next((p for p in list_presets(folder) if p.name == name), None)


def find_preset(model, scale, variant=None, folder=PRESET_DIR, config=None):
    """The preset of registry name `model` at `scale` (and `variant` when given), or None.

    With `config` (a builder config), only a preset built from exactly that
    config matches, so its weights fit the model the caller builds.
    """
    for preset in list_presets(folder):
        if preset.model != model or int(preset.config.get("scale", 0)) != int(scale):
            continue
        if variant is not None and preset.config.get("variant", variant) != variant:
            continue
        if config is not None and dict(preset.config) != dict(config):
            continue
        return preset
    return None


def load_preset(preset):
    """Build the preset's model and load its weights; `preset` is a `Preset` or a name."""
    from keras_sr import models

    if isinstance(preset, str):
        found = get_preset(preset)
        if found is None:
            available = ", ".join(p.name for p in list_presets()) or "none shipped yet"
            raise ValueError(f"Unknown preset {preset!r}; available presets: {available}.")
        preset = found
    model = models.build(preset.model, **preset.config)
    model.load_weights(preset.weights)
    return model


def preset_name(model, config):
    """`<model>[_<variant>]_x<scale>`, e.g. `fsrcnn_x3`, `edsr_baseline_x4`."""
    parts = [model]
    if config.get("variant"):
        parts.append(str(config["variant"]))
    return "_".join(parts) + f"_x{int(config['scale'])}"


def _readable_command(command):
    """The recorded command with absolute paths made relative to the current folder (the repository root).

    A recipe started as a script (`python .../recipes/fsrcnn.py`) is shown as
    the equivalent `python -m recipes.fsrcnn`.
    """
    command = list(command)
    if len(command) > 1 and os.path.basename(os.path.dirname(command[1])) == "recipes" and command[1].endswith(".py"):
        command[1:2] = ["-m", "recipes." + os.path.basename(command[1])[:-3]]
    out = []
    for arg in command:
        if os.path.isabs(arg) and os.path.exists(arg):
            arg = os.path.relpath(arg)
        out.append(arg)
    return " ".join(out)


def _read_run_json(run_dir, filename, required=True):
    """`run_dir/filename` parsed, or None when it is missing and not `required`."""
    path = os.path.join(run_dir, filename)
    if not os.path.isfile(path):
        if required:
            raise ValueError(f"{run_dir}: no {filename} (is it a finished keras-sr training run?)")
        return None
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def _training_record(recipe, summary):
    return {
        "command": _readable_command(recipe.get("command", [])),
        "steps": summary.get("steps"),
        "minutes": round(summary["seconds"] / 60, 1) if summary.get("seconds") else None,
        "backend": recipe.get("backend"),
        "data": recipe.get("data"),
        "recipe": recipe.get("recipe"),
    }


def _lineage(started_from, folder):
    """The training record of the weights a run started from: a preset name / JSON file, or a run directory."""
    if started_from.endswith(".json") and os.path.isfile(started_from):
        with open(started_from, encoding="utf-8") as f:
            return {"preset": os.path.splitext(os.path.basename(started_from))[0], **json.load(f)["training"]}
    if os.path.isdir(started_from):
        recipe = _read_run_json(started_from, "recipe.json")
        summary = _read_run_json(started_from, "summary.json", required=False) or {}
        return {"run": started_from, **_training_record(recipe, summary)}
    preset = get_preset(started_from, folder)
    if preset is None:
        raise ValueError(f"started_from {started_from!r}: not a preset name, a preset .json file or a run directory")
    return {"preset": preset.name, **preset.training}


def make_preset(run_dir, name=None, description="", folder=PRESET_DIR, started_from=None):
    """Turn a finished training run into a shipped preset; returns the `Preset`.

    Needs `final.weights.h5`, `model.json` and `recipe.json` in `run_dir`
    (every keras-sr training run writes them); `eval.json` and
    `summary.json` are recorded when present. `started_from` (a preset name,
    a preset `.json` file or a run directory: what `--init preset` /
    `--init-from` loaded) records that stage's training too, as
    `training["started_from"]`, read before the new preset replaces an old one.
    """
    import shutil

    lineage = _lineage(started_from, folder) if started_from else None
    model_meta = _read_run_json(run_dir, "model.json")
    recipe = _read_run_json(run_dir, "recipe.json")
    summary = _read_run_json(run_dir, "summary.json", required=False) or {}
    metrics = _read_run_json(run_dir, "eval.json", required=False) or {}
    weights = os.path.join(run_dir, "final.weights.h5")
    if not os.path.isfile(weights):
        raise ValueError(f"{run_dir}: no final.weights.h5 (is it a finished keras-sr training run?)")
    name = name or preset_name(model_meta["name"], model_meta["config"])
    os.makedirs(folder, exist_ok=True)
    weights_name = f"{name}.weights.h5"
    tmp = os.path.join(folder, f".{weights_name}.tmp")
    shutil.copyfile(weights, tmp)
    os.replace(tmp, os.path.join(folder, weights_name))
    training = _training_record(recipe, summary)
    if lineage is not None:
        training["started_from"] = lineage
    meta = {"model": model_meta["name"], "config": model_meta["config"], "weights": weights_name,
            "description": description, "metrics": metrics, "training": training}
    atomic_write_text(os.path.join(folder, f"{name}.json"), json.dumps(meta, indent=2))
    return get_preset(name, folder)
