"""Pretrained weights shipped inside the package (`keras_sr/presets/`).

Each preset is a JSON file beside its weights:
`keras_sr/presets/<preset>.json` = `{"model": "edsr", "config": {...},
"weights": "<preset>.weights.h5", "description": ..., "metrics": {...}}`.
Preset names follow `<model>_<variant>_x<scale>` (e.g. `edsr_baseline_x4`).
No presets are shipped until they are trained; `find_preset` then returns None
and recipes train from scratch.

Example:
    >>> find_preset("edsr", scale=4, variant="baseline")     # None or a Preset
    >>> [p.name for p in list_presets()]
    >>> model = load_preset("edsr_baseline_x4")               # built + weights loaded
"""

import dataclasses
import glob
import json
import os

__all__ = ["PRESET_DIR", "Preset", "list_presets", "find_preset", "get_preset", "load_preset"]

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
                              weights, meta.get("description", ""), dict(meta.get("metrics", {}))))
    return presets


def get_preset(name, folder=PRESET_DIR):
    """The preset called `name`, or None."""
    return next((p for p in list_presets(folder) if p.name == name), None)


def find_preset(model, scale, variant=None, folder=PRESET_DIR):
    """The preset of registry name `model` at `scale` (and `variant` when given), or None."""
    for preset in list_presets(folder):
        if preset.model != model or int(preset.config.get("scale", 0)) != int(scale):
            continue
        if variant is not None and preset.config.get("variant", variant) != variant:
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
