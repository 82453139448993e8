"""Any model reference -> an upscaler: the one place where keras-sr turns a model into `upscale(lr, ref=None)`.

`load(model, scale=None, weights=None)` returns an `Upscaler` for every kind of
model reference (`keras_sr.models.loading.resolve_model` reads the strings):

* `"bicubic"`: the MATLAB bicubic baseline (numpy, uint8, the published table);
* a registered name (`"edsr"`) with `weights=` a `.weights.h5` file (the config
  from the run folder's `model.json`), or without weights the shipped preset;
* a preset name (`"edsr_baseline_x4"`); a `.keras` file (`safe_mode=True`);
* a SavedModel folder (TensorFlow, `serving_default`); a `keras.Model`.

`Upscaler.upscale(lr, ref=None)` returns float32 `(sH, sW, 3)` in [0, 255].
RGB models get the RGB LR image; one-channel (Y) models get the Y channel and
Cb/Cr are upscaled by MATLAB bicubic (`rgb_or_y`). Reference-based models
(registry kind "refsr": TTSR, C2-Matching) get their inputs from their spec's
`prepare_inputs(lr, ref, scale)`; single-image models ignore `ref`, so one
benchmark scores a SISR baseline on the same pairs. The kind comes from the
registry spec (`keras_sr.models.spec_of`), never from guessing. `ref` may be
a list of references: multi-reference models (inputs `refs`: SRNTT, E2ENT,
CIMR-SR) take them all; single-reference models get the best-matching one
(`keras_sr.models.refsr_inputs.best_reference`, the documented reduction).

The scoring side (`keras_sr.scoring`) takes these callables and never imports
`keras_sr.models`. The older call forms stay: `upscaler(lr, scale)` (SISR
protocol, `load_upscaler`) and `upscale(lr, ref, scale)` (`resolve_ref_upscaler`).

Example:
    >>> up = load("edsr_baseline_x4")
    >>> sr = up.upscale(lr_uint8)                               # float32 (4H, 4W, 3)
    >>> sr = load("ttsr", scale=4, weights="runs/ttsr/final.weights.h5").upscale(lr_uint8, ref_uint8)
    >>> sr = load("srntt", scale=4, weights="runs/srntt/final.weights.h5").upscale(lr_uint8, [ref1, ref2, ref3])
"""

import os

import numpy as np

from keras_sr import models
from keras_sr.arbitrary_scale import is_integer_scale, sr_size
from keras_sr.color import rgb2ycbcr, ycbcr2rgb
from keras_sr.imresize import imresize
from keras_sr.metrics import to_uint8
from keras_sr.models.loading import is_saved_model, resolve_model
from keras_sr.models.query_inference import is_query_model, query_upscaler
from keras_sr.models.query_inference import saved_model_query_upscaler
from keras_sr.models.refsr_inputs import best_reference, takes_reference_stack


__all__ = ["Upscaler", "load", "bicubic_upscaler", "rgb_or_y", "model_scale", "model_upscaler", "keras_predict", "load_upscaler",
           "refsr_kind", "ref_model_upscaler", "resolve_ref_upscaler"]


def bicubic_upscaler(lr, scale):
    """The bicubic baseline: MATLAB `imresize(lr, scale)` on uint8 (to `sr_size` at non-integer scales)."""
    if not is_integer_scale(scale):
        return imresize(to_uint8(lr), output_shape=sr_size(*np.shape(lr)[:2], scale))
    return imresize(to_uint8(lr), scale)


def model_scale(predict, channels=3, size=8):
    """Integer upscaling factor of `predict(batch)`, found by running a `size x size` input."""
    out = np.asarray(predict(np.zeros((1, size, size, channels), np.float32)))
    if out.shape[1] % size or out.shape[2] % size or out.shape[1] != out.shape[2]:
        raise ValueError(f"model maps {size}x{size} to {out.shape[2]}x{out.shape[1]}: not an integer SR scale.")
    return out.shape[1] // size


def rgb_or_y(predict, channels, lr, scale):
    """Run `predict` on RGB, or on Y with bicubic Cb/Cr for one-channel models."""
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


def keras_predict(model):
    """`predict(batch) -> numpy` running `model` in inference mode."""
    import keras  # Keras: imported where a Keras model runs, so bicubic upscalers load without it

    def predict(batch):
        return keras.ops.convert_to_numpy(model(batch, training=False))

    return predict


def model_upscaler(model, scale=None, label=None):
    """`upscaler(lr, scale)` around a single-image `keras.Model`; checks the model's scale.

    Arbitrary-scale models (LIIF, Meta-SR: `[lr, coord, cell]` inputs) take any real scale, not checked.
    """

    if is_query_model(model):
        return query_upscaler(model, label=label)
    predict = keras_predict(model)
    channels = int(model.input_shape[-1])
    actual = model_scale(predict, channels)
    if scale is not None and int(scale) != actual:
        raise ValueError(f"{label or model.name} is an x{actual} model, asked for x{scale}.")
    upscaler = _upscaler(predict, channels, actual, label or model.name)
    upscaler.model = model  # the memory planner of keras_sr.streamed_upscale reads its layer shapes
    return upscaler


def _saved_model_upscaler(path, scale):
    import tensorflow as tf  # TensorFlow only for SavedModel folders

    loaded = tf.saved_model.load(path)
    if "serving_default" not in loaded.signatures:
        raise ValueError(f"{path}: SavedModel has no serving_default signature.")
    fn = loaded.signatures["serving_default"]
    if set(fn.structured_input_signature[1]) == {"image", "scale"}:  # LIIF / Meta-SR (keras_sr.export.arbitrary_scale)

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


def _check_not_discriminator(model, label):
    spec = models.spec_of(model)
    if spec is not None and spec.kind == "discriminator":
        raise ValueError(f"{label}: {spec.name} is a discriminator (registry kind 'discriminator'), not an upscaler.")
    return spec


def load_upscaler(model, scale=None, weights=None):
    """Resolve `model` (see the module docstring) into `upscaler(lr_uint8, scale) -> sr float` (SISR models)."""
    label = model if isinstance(model, (str, os.PathLike)) else None
    if label is not None:
        label = os.fspath(label)
        if label == "bicubic" and weights is None:
            return bicubic_upscaler
    built = resolve_model(model, scale=scale, weights=weights)
    if built is None:  # a SavedModel folder (bicubic returned above)
        return _saved_model_upscaler(label, scale)
    _check_not_discriminator(built, label or built.name)
    return model_upscaler(built, scale, label=label)


def refsr_kind(model):
    """The registered name of a reference-based `keras.Model` ("ttsr", "c2_matching"), None for SISR models.

    Read from the registry spec (`keras_sr.models.spec_of`): a model built by
    `keras_sr.models.build` names its spec; older plain `.keras` files are
    matched by the RefSR specs' input names.
    """
    spec = models.spec_of(model)
    return spec.name if spec is not None and spec.kind == "refsr" else None


def ref_model_upscaler(model, scale=None, label=None):
    """`upscale(lr, ref, scale) -> sr` (float32 HxWx3) around a reference-based `keras.Model` (spec kind "refsr")."""
    import keras

    spec = models.spec_of(model)
    if spec is None or spec.kind != "refsr":
        raise ValueError(f"{label or model.name} is not a reference-based model.")
    kind = spec.name
    label = label or model.name
    scales = spec.scales or (4,)
    model_scale_ = scales[0] if len(scales) == 1 else (None if scale is None else int(scale))
    if scale is not None and int(scale) not in scales:
        raise ValueError(f"{label} ({kind}) is an x{model_scale_} model, asked for x{scale}.")

    multi = takes_reference_stack(spec.inputs)

    def upscale(lr, ref, scale=model_scale_):
        if int(scale) not in scales:
            raise ValueError(f"{label} ({kind}) upscales x{model_scale_}, asked for x{scale}.")
        if isinstance(ref, (list, tuple)):
            if not ref:
                raise ValueError(f"{label} ({kind}): an empty list of references.")
            if len(ref) == 1:
                ref = ref[0]
            elif not multi:  # the documented reduction: the best-matching reference
                ref = ref[best_reference(lr, ref, int(scale))[0]]
        inputs, (h, w) = spec.prepare_inputs(lr, ref, int(scale))
        sr = keras.ops.convert_to_numpy(model(inputs, training=False))
        return np.asarray(sr, np.float32)[0, :h, :w]

    upscale.scale, upscale.label, upscale.kind = model_scale_, label, kind
    upscale.reference_reduction = "all (multi-reference model)" if multi else "best-matching reference"
    return upscale


def _sisr(upscaler, label):
    def upscale(lr, ref, scale):
        return upscaler(lr, scale)

    upscale.scale = getattr(upscaler, "scale", None)
    upscale.label, upscale.kind = label, "sisr"
    return upscale


def resolve_ref_upscaler(model, scale=None, weights=None):
    """Turn `--model` into `upscale(lr_uint8, ref_uint8, scale) -> sr` (SISR models ignore `ref`).

    `model`: bicubic, a registered name (with `weights`), a preset, a `.keras`
    file, a SavedModel folder (SISR only) or a `keras.Model`.
    """
    if isinstance(model, (str, os.PathLike)) and os.fspath(model) == "bicubic" and weights is None:
        return _sisr(bicubic_upscaler, "bicubic")  # without importing Keras
    is_reference = isinstance(model, (str, os.PathLike))
    label = os.fspath(model) if is_reference else model.name
    built = resolve_model(model, scale=scale, weights=weights)
    if built is None:
        return _sisr(_saved_model_upscaler(label, scale), label)
    if refsr_kind(built) is not None:
        return ref_model_upscaler(built, scale, label=label)
    _check_not_discriminator(built, label)
    return _sisr(model_upscaler(built, scale, label=label), label)


class Upscaler:
    """`upscale(lr, ref=None) -> sr` (float32 `(sH, sW, 3)` in [0, 255]) for any model; see the module docstring.

    Attributes: `scale` (None only for bicubic loaded without a scale),
    `label`, `kind` ("sisr" or "refsr"). Calling it keeps the older forms:
    `upscaler(lr, scale)` and `upscaler(lr, ref, scale)`, so the scoring
    functions take it where they take those callables.
    """

    def __init__(self, function, scale, label, kind):
        self._function = function  # (lr, ref, scale) -> sr
        self.scale = None if scale is None else int(scale)
        self.label = label
        self.kind = kind

    def upscale(self, lr, ref=None, scale=None):
        scale = self.scale if scale is None else int(scale)
        if scale is None:
            raise ValueError(f"{self.label}: give the scale (e.g. load('bicubic', scale=4)).")
        if self.scale is not None and scale != self.scale:
            raise ValueError(f"{self.label} upscales x{self.scale}, asked for x{scale}.")
        if self.kind == "refsr" and ref is None:
            raise ValueError(f"{self.label} is a reference-based model: give ref= (an RGB reference image, or a "
                             "list of them).")
        return np.asarray(self._function(lr, ref, scale), np.float32)

    def __call__(self, lr, *args):
        if len(args) == 1:  # upscaler(lr, scale)
            return self.upscale(lr, None, args[0])
        if len(args) == 2:  # upscale(lr, ref, scale)
            return self.upscale(lr, args[0], args[1])
        raise TypeError("call an Upscaler as upscale(lr, ref=None), upscaler(lr, scale) or upscaler(lr, ref, scale).")

    def __repr__(self):
        return f"Upscaler({self.label!r}, scale={self.scale}, kind={self.kind!r})"


def load(model, scale=None, weights=None):
    """An `Upscaler` for any model reference (bicubic, registered name + weights, preset, `.keras`, SavedModel, Model)."""
    function = resolve_ref_upscaler(model, scale=scale, weights=weights)
    return Upscaler(function, function.scale if function.scale is not None else scale, function.label,
                    "refsr" if function.kind != "sisr" else "sisr")
