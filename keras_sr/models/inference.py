"""Turn any model reference into `upscaler(lr_uint8, scale) -> sr`, the evaluation interface.

`load_upscaler(model, scale=None, weights=None)` accepts:

* `"bicubic"`: the MATLAB bicubic baseline (numpy, uint8, as tools.evaluate);
* a registered name (`"edsr"`) with `weights=` a `.weights.h5` file; the
  builder config comes from a `model.json` written beside the weights (run
  directories have one), else the builder's defaults at `scale`; without
  `weights`, a shipped preset for that name and scale, else an error;
* a preset name (`"edsr_baseline_x4"`);
* a `.keras` file (loaded with `safe_mode=True`);
* a SavedModel folder (TensorFlow; the `serving_default` signature);
* a `keras.Model` object.

RGB models get the RGB LR image; single-channel (Y) models get the Y channel
of the LR image and the Cb/Cr channels are upscaled by MATLAB bicubic.

Example:
    >>> up = load_upscaler("runs/edsr_x4/final.keras", scale=4)
    >>> sr = up(lr_uint8, 4)                             # float32 (4H, 4W, 3)
    >>> up = load_upscaler("edsr", scale=4, weights="runs/edsr_x4/final.weights.h5")
"""

import json
import os

import numpy as np

__all__ = ["rgb_or_y", "load_upscaler", "load_model", "build_registered_model", "register_custom_objects", "model_upscaler", "model_scale", "read_model_json", "write_model_json"]

MODEL_JSON = "model.json"


def write_model_json(folder, name, config):
    """Record `{"name": name, "config": config}` as `folder/model.json` (atomically)."""
    from keras_sr.fileio import atomic_write_text

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


def _is_saved_model(path):
    return os.path.isdir(path) and os.path.isfile(os.path.join(path, "saved_model.pb"))


def register_custom_objects():
    """Import the modules that register keras-sr layers and models for deserialization."""
    import importlib
    import warnings

    from keras_sr import models

    importlib.import_module("keras_sr.layers")
    for module in sorted(set(models.BUILTIN_MODULES.values())):
        try:
            importlib.import_module(module)
        except Exception as err:  # noqa: BLE001 - one broken model module must not block loading the others
            warnings.warn(f"keras-sr: could not import {module} ({type(err).__name__}: {err})", stacklevel=2)


def load_model(path):
    """Load a `.keras` file with `safe_mode=True` (keras-sr layers registered first)."""
    import keras

    from keras_sr.image_io import ImageError

    if not os.path.isfile(path):
        raise ImageError(f"{path}: model file not found.")
    register_custom_objects()
    return keras.saving.load_model(path, safe_mode=True, compile=False)


def model_scale(predict, channels=3, size=8):
    """Integer upscaling factor of `predict(batch)`, found by running a `size x size` input."""
    out = np.asarray(predict(np.zeros((1, size, size, channels), np.float32)))
    if out.shape[1] % size or out.shape[2] % size or out.shape[1] != out.shape[2]:
        raise ValueError(f"model maps {size}x{size} to {out.shape[2]}x{out.shape[1]}: not an integer SR scale.")
    return out.shape[1] // size


def rgb_or_y(predict, channels, lr, scale):
    """Run `predict` on RGB, or on Y with bicubic Cb/Cr for one-channel models."""
    from keras_sr.color import rgb2ycbcr, ycbcr2rgb
    from keras_sr.imresize import imresize

    lr = np.asarray(lr)
    if channels == 3:
        return np.asarray(predict(lr.astype(np.float32)[None]))[0]
    if channels != 1:
        raise ValueError(f"model takes {channels} channels; keras-sr upscalers handle RGB (3) or Y (1) models.")
    ycbcr = rgb2ycbcr(lr.astype(np.float64) / 255.0) * 255.0  # float, [16, 235] luma
    y = np.asarray(predict(ycbcr[None, ..., :1].astype(np.float32)))[0, ..., 0]
    cbcr = imresize(ycbcr[..., 1:], scale)
    out = np.concatenate([y[..., None], cbcr], axis=-1) / 255.0
    return np.clip(ycbcr2rgb(out), 0.0, 1.0) * 255.0


def _upscaler(predict, channels, expected_scale, label):
    def upscale(lr, scale):
        if expected_scale is not None and float(scale) != expected_scale:
            raise ValueError(f"{label} upscales x{expected_scale}, asked for x{scale}.")
        return rgb_or_y(predict, channels, lr, int(scale))

    upscale.scale = expected_scale
    upscale.label = label
    return upscale


def model_upscaler(model, scale=None, label=None):
    """`upscaler(lr, scale)` around a `keras.Model`; checks the model's scale."""
    import keras

    from keras_sr.models.query_inference import is_query_model, query_upscaler

    if is_query_model(model):  # LIIF / Meta-SR: any real scale, `scale` is not checked
        return query_upscaler(model, label=label)

    def predict(batch):
        return keras.ops.convert_to_numpy(model(batch, training=False))

    channels = int(model.input_shape[-1])
    actual = model_scale(predict, channels)
    if scale is not None and int(scale) != actual:
        raise ValueError(f"{label or model.name} is an x{actual} model, asked for x{scale}.")
    return _upscaler(predict, channels, actual, label or model.name)


def _saved_model_upscaler(path, scale):
    import tensorflow as tf

    loaded = tf.saved_model.load(path)
    if "serving_default" not in loaded.signatures:
        raise ValueError(f"{path}: SavedModel has no serving_default signature.")
    fn = loaded.signatures["serving_default"]
    if set(fn.structured_input_signature[1]) == {"image", "scale"}:  # LIIF / Meta-SR (keras_sr.export.arbitrary_scale)
        from keras_sr.models.query_inference import saved_model_query_upscaler

        return saved_model_query_upscaler(loaded, fn, path)
    spec = list(fn.structured_input_signature[1].values())[0]
    channels = int(spec.shape[-1])

    def predict(batch):
        outputs = fn(tf.constant(batch, tf.float32))
        return list(outputs.values())[0].numpy()

    actual = model_scale(predict, channels)
    if scale is not None and int(scale) != actual:
        raise ValueError(f"{path} is an x{actual} SavedModel, asked for x{scale}.")
    upscaler = _upscaler(predict, channels, actual, path)
    upscaler.saved_model = loaded  # keep the functions alive
    return upscaler


def build_registered_model(name, scale, weights):
    """The registered model `name` at `scale` with `weights` (a file, or the shipped preset when None)."""
    from keras_sr import models
    from keras_sr.image_io import ImageError
    from keras_sr.models import presets

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


def load_upscaler(model, scale=None, weights=None):
    """Resolve `model` (see the module docstring) into `upscaler(lr_uint8, scale) -> sr float`."""
    import keras

    from keras_sr import models
    from keras_sr.evaluation import bicubic_upscaler
    from keras_sr.models import presets

    if isinstance(model, keras.Model):
        return model_upscaler(model, scale)
    model = os.fspath(model)
    if model == "bicubic" and weights is None:
        return bicubic_upscaler
    if model.endswith(".keras"):
        return model_upscaler(load_model(model), scale, label=model)
    if _is_saved_model(model):
        return _saved_model_upscaler(model, scale)
    if os.path.isdir(model):
        raise ValueError(f"{model}: a folder without saved_model.pb is not a SavedModel.")
    if presets.get_preset(model) is not None:
        return model_upscaler(presets.load_preset(model), scale, label=model)
    if model in models.list_models():
        register_custom_objects()
        return model_upscaler(build_registered_model(model, scale, weights), scale, label=model)
    raise ValueError(
        f"Unknown model {model!r}: expected bicubic, a registered model ({', '.join(models.list_models())}), "
        "a preset, a .keras file or a SavedModel folder.")
