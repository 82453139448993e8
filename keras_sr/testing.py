"""The shared test harness of keras-sr layers and registered models (after keras-hub's `run_backbone_test`).

keras-hub tests every backbone with one call (keras-team/keras-hub
`keras_hub/src/tests/test_case.py`, `run_backbone_test`: config round trip,
symbolic and eager calls, saving, mixed precision); keras-sr does the same:

* `run_layer_test(layer_cls, init_kwargs, input_data)`: config round trip
  (`get_config` -> `from_config`, and `serialize_keras_object` ->
  `deserialize_keras_object(safe_mode=True)`), a symbolic call (`keras.Input`)
  whose shape matches the eager call's, one fit step of a model around the layer
  (the weights move), and the layer under the `mixed_bfloat16` policy
  (float32 variables, finite outputs).
* `run_model_test(name)`: a registered model at its tiny config: everything
  above (the config round trip through the registry, `SRModel.from_config`)
  plus `.keras` save/load with `safe_mode=True` (Keras serialization; same
  registered name, config and outputs), the registry contract (`SRModel`, the spec's kind; a
  SISR model maps `h x w` to `s*h x s*w`; a RefSR model takes what its spec's
  `prepare_inputs` makes) and one fit step.

Each registered model has a tiny config: its `@register(..., test_config=...)`
or a line in `TINY_MODELS` below. `tests/test_model_harness.py` runs
`run_model_test` for every name in `keras_sr.models.list_models()`, on
TensorFlow in the test process and on JAX and PyTorch in subprocesses, so a
model registered without a tiny config fails the suite.

Example:
    >>> from keras_sr import testing
    >>> testing.run_model_test("espcn")                       # tiny config from TINY_MODELS
    >>> testing.run_layer_test(MeanShift, {"rgb_mean": (0.4, 0.4, 0.4)}, np.ones((1, 4, 4, 3), "float32"))
"""

import json
import os
import tempfile

import numpy as np

import keras

from keras_sr import models
from keras_sr.models.loading import load_model
from keras_sr.models.sr_model import SRModel

__all__ = ["TINY_MODELS", "MIXED_PRECISION_POLICY", "tiny_config", "model_inputs", "run_layer_test",
           "run_model_test"]

# Weights are tiny; "zeros" would make one fit step a no-op for some models, so the builders' defaults stay.
TINY_MODELS = {
    "bicubic": dict(scale=2),
    "srcnn": dict(scale=3, filters=[4, 2]),
    "fsrcnn": dict(scale=3, d=4, s=2, m=1),
    "espcn": dict(scale=3, filters=[4, 2]),
    "vdsr": dict(scale=2, depth=3, filters=4),
    "drcn": dict(scale=2, filters=4, recursions=3),
    "drrn": dict(scale=2, filters=4, num_units=2),
    "lapsrn": dict(scale=4, filters=4, depth=1),
    "rednet": dict(scale=2, filters=4, num_layers=3),
    "srdensenet": dict(scale=4, num_blocks=2, num_layers=2, growth_rate=2, bottleneck=4),
    "edsr": dict(scale=2, num_blocks=1, filters=4),
    "mdsr": dict(scale=2, num_blocks=1, filters=4),
    "rdn": dict(scale=2, num_blocks=2, num_layers=2, growth_rate=4, filters=6),
    "rcan": dict(scale=2, num_groups=1, num_blocks=1, filters=8, reduction=4),
    "wdsr": dict(scale=2, variant="a", num_blocks=1, filters=4),
    "srresnet": dict(scale=2, variant="srgan", num_blocks=1, filters=4),
    "rrdbnet": dict(scale=4, num_blocks=1, filters=4, growth_rate=2),  # x2/x1 pixel-unshuffle: even sizes
    "srgan_discriminator": dict(input_size=16, filters=2, dense_units=4),
    "esrgan_discriminator": dict(input_size=32, filters=2, dense_units=4),
    "ttsr": dict(num_res_blocks=(1, 1, 1, 1), n_feats=8, texture_widths=(4, 8, 16), chunk_size=16),
    "c2_matching": dict(ngf=8, n_blocks=1, groups=2, vgg_widths=(4, 8, 16), contrastive_widths=(4, 8, 16),
                        chunk_size=16),
    "swinir": dict(scale=2, variant="lightweight", embed_dim=8, depths=(2,), num_heads=(2,), window_size=4),
    "liif": dict(num_blocks=1, filters=4, hidden_units=(8,)),
    "meta_rdn": dict(num_blocks=1, num_layers=2, growth_rate=4, filters=6, hidden_units=8),
    "hat": dict(scale=2, embed_dim=6, depths=(2,), num_heads=(2,), window_size=4, compress_ratio=3, squeeze_factor=2,
                num_feat=4, mlp_ratio=2),
}

# bfloat16: the mixed policy every backend runs on CPU (torch's CPU convolutions have no float16).
MIXED_PRECISION_POLICY = "mixed_bfloat16"
LR_SIZE = (6, 7)  # a small non-square LR image: catches swapped height/width


def tiny_config(name):
    """The tiny test config of registered model `name` (its spec's `test_config`, else `TINY_MODELS`)."""
    spec = models.get_spec(name)
    if spec.test_config is not None:
        return dict(spec.test_config)
    if name in TINY_MODELS:
        return dict(TINY_MODELS[name])
    raise AssertionError(
        f"model {name!r} ({spec.builder.__module__}) has no tiny test config: give it one with "
        f"@register({name!r}, ..., test_config={{...}}) or add it to keras_sr/testing.py TINY_MODELS.")


def _numpy(x):
    return keras.tree.map_structure(lambda t: np.asarray(keras.ops.convert_to_numpy(t)), x)


def model_inputs(model, spec, seed=0):
    """A batch for `model`: RefSR models get their spec's `prepare_inputs` of a random LR and reference;
    others random [0, 255] images of their input shape (LR_SIZE where the size is free)."""
    rng = np.random.default_rng(seed)
    if spec.kind == "refsr":
        lr = rng.integers(0, 256, (*LR_SIZE, 3), dtype=np.uint8)
        scale = (spec.scales or (4,))[0]
        ref = rng.integers(0, 256, (LR_SIZE[0] * scale + 4, LR_SIZE[1] * scale - 4, 3), dtype=np.uint8)
        inputs, (h, w) = spec.prepare_inputs(lr, ref, scale)
        assert set(inputs) == set(spec.inputs), (sorted(inputs), spec.inputs)
        return inputs, (h, w)
    if spec.kind == "arbitrary_scale":  # [lr, coord, cell]: queries of a x2.5 output grid (LIIF's make_coord)
        lr = rng.uniform(0, 255, (1, *LR_SIZE, 3)).astype("float32")
        oh, ow = int(LR_SIZE[0] * 2.5), int(LR_SIZE[1] * 2.5)
        ys, xs = -1 + (2 * np.arange(oh) + 1) / oh, -1 + (2 * np.arange(ow) + 1) / ow
        coord = np.stack(np.meshgrid(ys, xs, indexing="ij"), -1).reshape(1, oh * ow, 2).astype("float32")
        cell = np.broadcast_to(np.array([2 / oh, 2 / ow], "float32"), coord.shape).copy()
        return [lr, coord, cell], None

    def one(tensor):
        shape = [1] + [LR_SIZE[i] if d is None and i < 2 else d for i, d in enumerate(tensor.shape[1:])]
        return rng.uniform(0, 255, shape).astype("float32")

    return keras.tree.map_structure(one, model.input), None


def _symbolic(model_or_layer, inputs):
    """The layer/model called on `keras.Input`s shaped like `inputs` (batch and spatial sizes free)."""
    def spec_of(x):
        return keras.Input(shape=(None,) * (np.ndim(x) - 2) + (np.shape(x)[-1],), dtype="float32")

    return model_or_layer(keras.tree.map_structure(spec_of, inputs))


def _assert_shapes_agree(symbolic, eager, label):
    for s, e in zip(keras.tree.flatten(symbolic), keras.tree.flatten(eager)):
        assert len(s.shape) == len(e.shape), f"{label}: symbolic rank {s.shape} vs eager {e.shape}"
        for ds, de in zip(s.shape, e.shape):
            assert ds is None or ds == de, f"{label}: symbolic shape {s.shape} vs eager {e.shape}"


def _assert_finite(outputs, label):
    for y in keras.tree.flatten(_numpy(outputs)):
        assert np.isfinite(y.astype(np.float32)).all(), f"{label}: non-finite output"


def _assert_close(outputs, expected, label):
    outputs, expected = keras.tree.flatten(_numpy(outputs)), keras.tree.flatten(expected)
    assert len(outputs) == len(expected), label
    for a, b in zip(outputs, expected):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-4, err_msg=label)


def _fit_one_step(model, inputs, label):
    """One optimizer step on an L2 loss to targets of 1: the loss is finite and trainable weights move.

    (Not zero targets: a discriminator's BatchNorm on a batch of one outputs exactly 0 in training mode.)
    """
    outputs = _numpy(model(inputs, training=False))
    targets = keras.tree.map_structure(lambda y: np.ones_like(y, dtype=np.float32), outputs)
    before = [np.array(keras.ops.convert_to_numpy(w)) for w in model.trainable_weights]
    # Eager: one step of a tiny model is cheaper than tracing its train function, on every backend.
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="mse", run_eagerly=True)
    logs = model.fit(inputs, targets, batch_size=1, epochs=1, verbose=0).history
    loss = logs["loss"][-1]
    assert np.isfinite(loss), f"{label}: fit step loss {loss}"
    if before:
        after = [np.array(keras.ops.convert_to_numpy(w)) for w in model.trainable_weights]
        assert any(not np.array_equal(b, a) for b, a in zip(before, after)), f"{label}: one fit step moved no weight"


def _mixed_precision(build, inputs, label):
    """Build under MIXED_PRECISION_POLICY: float32 variables, a bfloat16 compute dtype somewhere, finite outputs."""
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(MIXED_PRECISION_POLICY)
    try:
        obj = build()
        outputs = obj(inputs)
    finally:
        keras.config.set_dtype_policy(previous)
    for w in obj.weights:
        assert w.dtype in ("float32", "int32", "int64", "bool"), f"{label}: variable {w.path} is {w.dtype}"
    layers = obj._flatten_layers() if hasattr(obj, "_flatten_layers") else [obj]
    compute = {getattr(layer, "compute_dtype", None) for layer in layers}
    assert "bfloat16" in compute or not obj.weights, f"{label}: no layer computes in bfloat16 ({compute})"
    _assert_finite(outputs, f"{label} ({MIXED_PRECISION_POLICY})")
    return outputs


def run_layer_test(layer_cls, init_kwargs, input_data, expected_output_shape=None, run_fit=True,
                   run_mixed_precision=True):
    """Config round trip, symbolic and eager calls, one fit step and mixed precision of one layer."""
    label = layer_cls.__name__
    layer = layer_cls(**init_kwargs)
    eager = layer(input_data)
    if expected_output_shape is not None:
        assert tuple(eager.shape) == tuple(expected_output_shape), (label, eager.shape, expected_output_shape)
    _assert_finite(eager, label)
    config = json.loads(json.dumps(layer.get_config()))
    clone = layer_cls.from_config(config)
    assert clone.get_config() == layer.get_config(), f"{label}: from_config(get_config()) changed the config"
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(layer), safe_mode=True)
    assert type(restored) is layer_cls and restored.get_config() == layer.get_config(), f"{label}: serialization"
    restored(input_data)
    if restored.weights:
        restored.set_weights(layer.get_weights())
        np.testing.assert_allclose(_numpy(restored(input_data)), _numpy(eager), rtol=1e-5, atol=1e-5)
    symbolic_layer = layer_cls(**init_kwargs)
    _assert_shapes_agree(_symbolic(symbolic_layer, input_data), eager, label)
    if run_fit and layer.trainable_weights:
        inputs = keras.tree.map_structure(
            lambda x: keras.Input(shape=(None,) * (np.ndim(x) - 2) + (np.shape(x)[-1],)), input_data)
        fresh = layer_cls(**init_kwargs)
        _fit_one_step(keras.Model(inputs, fresh(inputs)), input_data, label)
    if run_mixed_precision:
        _mixed_precision(lambda: layer_cls(**init_kwargs), input_data, label)
    return layer


def run_model_test(name, config=None, run_fit=True, run_saving=True, run_mixed_precision=True, tmp_dir=None,
                   run_round_trips=True):
    """Every check of `run_layer_test` plus the registry contract and `.keras` save/load for model `name`.

    `run_round_trips=False` skips the config round trips (their rebuilt models' calls): Keras serialization
    and the registry rebuild do not depend on the backend, so the other backends' runs leave them to TensorFlow.
    """
    spec = models.get_spec(name)
    config = tiny_config(name) if config is None else dict(config)
    label = f"{name}({config})"
    model = models.build(name, **config)
    assert isinstance(model, SRModel), f"{label}: models.build returned {type(model).__name__}, not SRModel"
    assert model.registered_name == name and model.model_config == config, label
    assert models.spec_of(model) is spec, label
    inputs, crop = model_inputs(model, spec)

    # Eager call and the contract of the model's kind.
    eager = _numpy(model(inputs, training=False))
    _assert_finite(eager, label)
    first = keras.tree.flatten(eager)[0]
    if spec.kind == "sisr" and config.get("scale") is not None:
        lr = keras.tree.flatten(inputs)[0]
        scale = int(config["scale"])
        assert first.shape[1:3] == (scale * lr.shape[1], scale * lr.shape[2]), (label, first.shape, lr.shape)
    elif spec.kind == "refsr":
        assert first.shape[1] >= crop[0] and first.shape[2] >= crop[1] and first.shape[-1] == 3, (label, first.shape)
    elif spec.kind == "discriminator":
        assert first.shape[0] == 1, (label, first.shape)

    # Symbolic call: same structure and (free-size) shapes as the eager call.
    if spec.kind != "discriminator":
        _assert_shapes_agree(_symbolic(model, inputs), eager, label)

    assert not [layer.name for layer in model._flatten_layers() if isinstance(layer, keras.layers.Lambda)], label
    if run_round_trips:
        _round_trips(model, name, config, inputs, eager, label)

    # .keras save / load with safe_mode=True: the file describes itself (no model.json).
    if run_saving:
        folder = tmp_dir or tempfile.mkdtemp(prefix="keras_sr_harness_")
        path = os.path.join(folder, f"{name}.keras")
        model.save(path)
        loaded = load_model(path)
        assert isinstance(loaded, SRModel) and loaded.registered_name == name, f"{label}: loaded {type(loaded)}"
        assert loaded.model_config == json.loads(json.dumps(config)), label
        _assert_close(loaded(inputs, training=False), eager, f"{label}: .keras round trip")

    if run_fit:
        _fit_one_step(model, inputs, label)
    if run_mixed_precision:
        _mixed_precision(lambda: models.build(name, **config), inputs, label)
    return model


def _round_trips(model, name, config, inputs, eager, label):
    """Config round trip: JSON, the registry rebuild (`SRModel.from_config`) and the plain graph config."""
    config_json = json.loads(json.dumps(model.get_config()))
    clone = SRModel.from_config(config_json)
    assert clone.registered_name == name and clone.model_config == json.loads(json.dumps(config)), label
    assert [w.shape for w in clone.weights] == [w.shape for w in model.weights], f"{label}: rebuilt weights differ"
    clone.set_weights(model.get_weights())
    _assert_close(clone(inputs, training=False), eager, f"{label}: SRModel.from_config")
    plain = keras.Model.from_config(config_json)  # the graph config alone rebuilds a plain functional model
    plain.set_weights(model.get_weights())
    _assert_close(plain(inputs, training=False), eager, f"{label}: keras.Model.from_config")
