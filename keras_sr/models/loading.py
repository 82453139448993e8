"""Load a keras-sr model from any string a user gives: the one place that resolves a model reference.

`resolve_model(model, scale=None, weights=None)` returns a `keras.Model` for

* a `keras.Model` (returned as is);
* a `.keras` file (loaded with `safe_mode=True`, keras-sr layers registered);
* a preset name (`"edsr_baseline_x4"`, `keras_sr/presets/`);
* a registered name (`"edsr"`) with `weights=` a `.weights.h5` file: the
  builder config comes from the file's run folder (`model.json`, written by
  every training run, beside the weights or in the parent folder), else the
  builder's defaults at `scale`; without `weights`, the shipped preset for that
  name and scale, else an error;

and None for what is not a Keras model: `"bicubic"` (without weights, the numpy
baseline) and SavedModel folders, which `keras_sr.upscalers` runs directly.

A model built by `keras_sr.models.build` carries its registered name and
config (`keras_sr.models.SRModel`), so a `.keras` file describes itself;
`model.json` stays the record of a run folder's `.weights.h5` files (and
presets keep their config in their JSON).

Example:
    >>> model = resolve_model("edsr_baseline_x4")
    >>> model = resolve_model("edsr", scale=4, weights="runs/edsr_x4/final.weights.h5")
    >>> write_model_json("runs/edsr_x4", "edsr", {"scale": 4, "variant": "baseline"})
"""

import json
import os

from keras_sr import models
from keras_sr.fileio import atomic_write_text
from keras_sr.image_io import ImageError
from keras_sr.models import presets


__all__ = ["MODEL_JSON", "write_model_json", "read_model_json", "register_custom_objects", "load_model",
           "build_registered_model", "is_saved_model", "resolve_model"]

MODEL_JSON = "model.json"


def write_model_json(folder, name, config):
    """Record `{"name": name, "config": config}` as `folder/model.json` (atomically)."""
    atomic_write_text(os.path.join(folder, MODEL_JSON), json.dumps({"name": name, "config": config}, indent=2))


def read_model_json(weights_path):
    """`(name, config)` from the `model.json` beside `weights_path` or in its parent folder, else None."""
    folder = os.path.dirname(os.path.abspath(weights_path))
    for candidate in (os.path.join(folder, MODEL_JSON), os.path.join(os.path.dirname(folder), MODEL_JSON)):
        if os.path.isfile(candidate):
            with open(candidate, encoding="utf-8") as f:
                meta = json.load(f)
            return meta["name"], dict(meta["config"])
    return None


def is_saved_model(path):
    """True for a folder holding a TensorFlow SavedModel (`saved_model.pb`)."""
    return os.path.isdir(path) and os.path.isfile(os.path.join(path, "saved_model.pb"))


def register_custom_objects():
    """Import the modules that register keras-sr layers and models for deserialization."""
    import importlib
    import warnings

    importlib.import_module("keras_sr.layers")
    importlib.import_module("keras_sr.models.sr_model")
    for module in sorted(set(models.BUILTIN_MODULES.values())):
        try:
            importlib.import_module(module)
        except Exception as err:  # noqa: BLE001 - one broken model module must not block loading the others
            warnings.warn(f"keras-sr: could not import {module} ({type(err).__name__}: {err})", stacklevel=2)


def load_model(path):
    """Load a `.keras` file with `safe_mode=True` (keras-sr layers registered first)."""
    import keras  # Keras is imported where a model is loaded, so this module loads without it

    if not os.path.isfile(path):
        raise ImageError(f"{path}: model file not found.")
    register_custom_objects()
    return keras.saving.load_model(path, safe_mode=True, compile=False)


def build_registered_model(name, scale, weights):
    """The registered model `name` at `scale` with `weights` (a file, or the shipped preset when None)."""
    if weights is None:
        preset = presets.find_preset(name, scale) if scale is not None else None
        if preset is None:
            raise ValueError(
                f"{name!r} x{scale}: no weights. Pass --weights FILE (a .weights.h5 from a training run), "
                f"a .keras file or a SavedModel folder as --model; keras-sr ships no preset for {name} x{scale} yet.")
        return presets.load_preset(preset)
    if not os.path.isfile(weights):
        raise ImageError(f"{weights}: weights file not found.")
    recorded = read_model_json(weights)
    if recorded is not None and recorded[0] == name:
        config = dict(recorded[1])
        if scale is not None and config.get("scale") is None:
            # Scale-agnostic models (e.g. VDSR trained on mixed x2/x3/x4) take the asked scale.
            config["scale"] = int(scale)
        elif scale is not None and int(config["scale"]) != int(scale):
            raise ValueError(f"{weights}: trained for x{config['scale']}, asked for x{scale}.")
    else:
        config = {} if scale is None else {"scale": int(scale)}
    model = models.build(name, **config)
    model.load_weights(weights)
    return model


def resolve_model(model, scale=None, weights=None):
    """The `keras.Model` behind a model reference (see the module docstring), or None for bicubic / a SavedModel.

    Raises `ValueError` naming the reference when it is none of the accepted kinds.
    """
    if not isinstance(model, (str, os.PathLike)):
        import keras

        if isinstance(model, keras.Model):
            return model
        raise TypeError(f"expected a model reference (str, path or keras.Model), got {type(model).__name__}.")
    model = os.fspath(model)
    if model == "bicubic" and weights is None:
        return None
    if model.endswith(".keras"):
        return load_model(model)
    if is_saved_model(model):
        return None
    if os.path.isdir(model):
        raise ValueError(f"{model}: a folder without saved_model.pb is not a SavedModel.")
    if presets.get_preset(model) is not None:
        return presets.load_preset(model)
    if model in models.list_models():
        register_custom_objects()
        return build_registered_model(model, scale, weights)
    raise ValueError(
        f"Unknown model {model!r}: expected bicubic, a registered model ({', '.join(models.list_models())}), "
        "a preset, a .keras file or a SavedModel folder.")
