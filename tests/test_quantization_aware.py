"""Quantization-aware fine-tuning (`keras_sr.export.quantization_aware`): fake quant, STE, TFLite agreement."""

import numpy as np
import pytest

import keras

from keras_sr import models
from keras_sr.export import quantization_aware as qa


def _numpy_int8_roundtrip(x, lo, hi):
    """TFLite's asymmetric int8 quantize/dequantize of `x` for a calibrated `[lo, hi]`, in plain numpy."""
    lo, hi = min(lo, 0.0), max(hi, 0.0)
    scale = (hi - lo) / 255.0
    zp = int(np.clip(np.round(-128 - lo / scale), -128, 127))
    q = np.clip(np.round(x / scale) + zp, -128, 127).astype(np.int8)
    return (q.astype(np.float64) - zp) * scale, scale, zp


def _smooth_images(count=3, size=60, seed=0):
    """Tiny synthetic HR RGB uint8 images (smooth gradients plus a few edges)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size] / size
    images = []
    for _ in range(count):
        a, b, c = rng.uniform(0.5, 3.0, 3)
        base = 0.5 + 0.35 * np.sin(a * 6 * xx + b * 4 * yy) * np.cos(c * 5 * yy)
        base += 0.15 * (xx > rng.uniform(0.3, 0.7))
        rgb = np.stack([base, base * 0.9 + 0.05, base * 0.8 + 0.1], -1)
        images.append(np.clip(rgb * 255, 0, 255).astype(np.uint8))
    return images


@pytest.mark.parametrize("lo,hi", [(-0.6, 0.43), (0.1, 5.0), (-4.18, 4.09)])
def test_fake_quant_matches_numpy_int8_roundtrip(lo, hi):
    x = np.random.default_rng(1).uniform(lo - 1, hi + 1, 2000).astype(np.float32)
    expected, scale, zp = _numpy_int8_roundtrip(x, lo, hi)
    s, z = qa.quant_params(lo, hi)
    assert float(s) == pytest.approx(scale, rel=1e-6) and int(z) == zp
    got = keras.ops.convert_to_numpy(qa.fake_quant_ste(keras.ops.convert_to_tensor(x), s, z))
    np.testing.assert_allclose(got, expected, atol=1e-5 * scale + 1e-7)
    assert len(np.unique(np.round(got / scale))) <= 256


def test_weights_per_channel_symmetric():
    w = np.random.default_rng(2).normal(size=(3, 3, 4, 5)).astype(np.float32) * np.arange(1, 6)
    got, scale = qa.quantize_weights(keras.ops.convert_to_tensor(w), -1)
    got, scale = keras.ops.convert_to_numpy(got), keras.ops.convert_to_numpy(scale)
    np.testing.assert_allclose(scale, np.abs(w).max(axis=(0, 1, 2)) / 127, rtol=1e-6)
    q = got / scale
    np.testing.assert_allclose(q, np.round(w / scale), atol=1e-3)
    assert np.abs(np.round(q)).max() == 127


def test_ste_gradient_identity_inside_zero_outside():
    tf = pytest.importorskip("tensorflow")
    if keras.backend.backend() != "tensorflow":
        pytest.skip("gradient check uses tf.GradientTape")
    lo, hi = -1.0, 2.0
    s, z = qa.quant_params(lo, hi)
    x = tf.constant(np.linspace(-3, 4, 71), tf.float32)
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = qa.fake_quant_ste(x, s, z)
    grad = tape.gradient(y, x).numpy()
    low, high = (-128 - float(z)) * float(s), (127 - float(z)) * float(s)
    inside = (x.numpy() > low + 1e-6) & (x.numpy() < high - 1e-6)
    outside = (x.numpy() < low - 1e-6) | (x.numpy() > high + 1e-6)
    assert inside.sum() > 20 and outside.sum() > 10
    np.testing.assert_array_equal(grad[inside], 1.0)
    np.testing.assert_array_equal(grad[outside], 0.0)


def test_plan_follows_tflite_fusions():
    espcn = models.build("espcn", scale=3, filters=(8, 4))
    plan = {layer.name if layer else None: steps for layer, steps in qa.quantization_points(espcn)}
    assert plan[None] == [("calibrated", "input")]
    assert plan["to_unit_range"] == []  # Rescaling(1/255) folds into conv_1's weights
    assert [s[0] for s in plan["conv_2"]] == ["calibrated", "activation", "fixed"]  # pre-tanh tensor quantized
    assert plan["conv_2"][2][2:] == (1 / 128, 0)
    assert plan["pixel_shuffle"] == []  # DEPTH_TO_SPACE keeps its input's quantization
    assert plan["to_pixel_range"] == [("calibrated", "to_pixel_range")]  # MUL after the shuffle
    fsrcnn = models.build("fsrcnn", scale=3, d=8, s=4, m=1)
    plan = {layer.name if layer else None: steps for layer, steps in qa.quantization_points(fsrcnn)}
    assert plan["deconvolution"] == []  # Rescaling(255) folds into the transposed convolution
    assert plan["to_pixel_range"] == [("calibrated", "to_pixel_range")]
    assert plan["shrinking"] == [("calibrated", "shrinking")] and plan["shrinking_prelu"] == [
        ("calibrated", "shrinking_prelu")]
    relu = keras.Sequential([keras.Input((None, None, 1)), keras.layers.Conv2D(2, 3, activation="relu", name="c")])
    plan = {layer.name if layer else None: steps for layer, steps in qa.quantization_points(relu)}
    assert plan["c"] == [("calibrated", "c")]  # ReLU is fused: one tensor, after the activation


def test_unsupported_models_are_named():
    inputs = keras.Input((None, None, 1))
    x = keras.layers.Conv2D(1, 3, padding="same", name="c")(inputs)
    residual = keras.Model(inputs, keras.layers.Add(name="skip")([x, inputs]), name="resnet_like")
    with pytest.raises(ValueError, match="skip.*Add.*resnet_like"):
        qa.QuantizationAwareModel(residual)
    with pytest.raises(ValueError, match="range_mode"):
        qa.QuantizationAwareModel(models.build("espcn", scale=3, filters=(8, 4)), range_mode="mean")


def _tflite_agreement(model, scale, tmp_path):
    pytest.importorskip("tensorflow")
    if keras.backend.backend() != "tensorflow":
        pytest.skip("TFLite export runs on the TensorFlow backend")
    from keras_sr.export.saved_model import export_saved_model
    from keras_sr.export.tflite import convert_saved_model, make_interpreter, representative_inputs, run_tflite

    images = _smooth_images()
    saved = export_saved_model(model, str(tmp_path / "saved_model"))
    path = convert_saved_model(saved, str(tmp_path / "int8.tflite"), "int8", representative_data=images,
                               representative_samples=16, representative_sizes=(16, 20))
    qat = qa.QuantizationAwareModel(model)
    qat.calibrate(representative_inputs(images, scale, 1, sizes=(16, 20), samples=16))
    interpreter = make_interpreter(path)
    tests = representative_inputs(_smooth_images(2, 48, seed=5), scale, 1, sizes=(16,), samples=2, seed=3)
    float_err, qat_err = [], []
    for x in tests:
        ref = run_tflite(interpreter, x[0])
        float_err.append(np.mean((keras.ops.convert_to_numpy(model(x))[0] - ref) ** 2))
        qat_err.append(np.mean((keras.ops.convert_to_numpy(qat(x))[0] - ref) ** 2))
    return float(np.mean(float_err)), float(np.mean(qat_err))


def _randomize(model, seed, gain=1.0):
    """Random weights of a trained-like magnitude (the default FSRCNN deconvolution init is nearly zero)."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if isinstance(layer, keras.layers.PReLU):
            layer.alpha.assign(rng.uniform(0.1, 0.4, layer.alpha.shape).astype(np.float32))
        elif hasattr(layer, "kernel"):
            shape = layer.kernel.shape
            layer.kernel.assign((rng.normal(size=shape) * gain / np.sqrt(np.prod(shape[:-1]))).astype(np.float32))
            layer.bias.assign(rng.normal(0, 0.05, layer.bias.shape).astype(np.float32))
    return model


def test_simulation_matches_tflite_espcn(tmp_path):
    model = _randomize(models.build("espcn", scale=3, filters=(8, 4)), seed=0, gain=2.0)
    float_err, qat_err = _tflite_agreement(model, 3, tmp_path)
    assert float_err > 0.05  # int8 visibly changes the output
    assert qat_err < 0.02 * float_err


def test_simulation_matches_tflite_fsrcnn(tmp_path):
    model = _randomize(models.build("fsrcnn", scale=3, d=8, s=4, m=1), seed=1, gain=1.5)
    float_err, qat_err = _tflite_agreement(model, 3, tmp_path)
    assert float_err > 0.05
    assert qat_err < 0.1 * float_err


def _tflite_activation_quantization(path):
    """`[(scale, zero_point)]` of every int8 activation tensor (the model input and each op's output; outputs of
    DEPTH_TO_SPACE / RESHAPE, which keep their input's parameters, are that same tensor rearranged)."""
    from keras_sr.export.tflite import make_interpreter

    interpreter = make_interpreter(path)
    details = {t["index"]: t for t in interpreter.get_tensor_details()}
    indices = {d["index"] for d in interpreter.get_input_details()}
    for op in interpreter._get_ops_details():  # noqa: SLF001 - the public API lists tensors, not which are outputs
        if op["op_name"] not in ("DEPTH_TO_SPACE", "RESHAPE"):
            indices.update(int(i) for i in op["outputs"])
    found = []
    for i in sorted(indices):
        params = details[i]["quantization_parameters"]
        if details[i]["dtype"] == np.int8 and len(params["scales"]) == 1:
            found.append((float(params["scales"][0]), int(params["zero_points"][0])))
    return found


@pytest.mark.parametrize("name,config,seed,gain", [("espcn", dict(scale=3, filters=(8, 4)), 0, 2.0),
                                                   ("fsrcnn", dict(scale=3, d=8, s=4, m=1), 1, 1.5)])
def test_calibrated_quantization_equals_tflite_tensors(name, config, seed, gain, tmp_path):
    """The simulated scales and zero points are the converted model's, tensor for tensor (README claim)."""
    pytest.importorskip("tensorflow")
    if keras.backend.backend() != "tensorflow":
        pytest.skip("TFLite export runs on the TensorFlow backend")
    from keras_sr.export.saved_model import export_saved_model
    from keras_sr.export.tflite import convert_saved_model, representative_inputs

    model = _randomize(models.build(name, **config), seed=seed, gain=gain)
    images = _smooth_images()
    saved = export_saved_model(model, str(tmp_path / "saved_model"))
    path = convert_saved_model(saved, str(tmp_path / "int8.tflite"), "int8", representative_data=images,
                               representative_samples=16, representative_sizes=(16, 20))
    qat = qa.QuantizationAwareModel(model)
    qat.calibrate(representative_inputs(images, config["scale"], 1, sizes=(16, 20), samples=16))
    simulated = qat.quantization()
    fixed = [(step[2], step[3]) for _, steps in qa.quantization_points(model) for step in steps if step[0] == "fixed"]
    tflite = _tflite_activation_quantization(path)
    assert len(tflite) == len(simulated) + len(fixed), (tflite, simulated, fixed)
    unmatched = list(tflite)
    for point, (scale, zero_point) in [*simulated.items(), *[(f"fixed{i}", f) for i, f in enumerate(fixed)]]:
        match = [t for t in unmatched if t[1] == zero_point and t[0] == pytest.approx(scale, rel=1e-5)]
        assert match, f"{point}: simulated ({scale:.6g}, {zero_point}) is no TFLite activation tensor's: {tflite}"
        unmatched.remove(match[0])


def test_fine_tune_runs_and_round_trips(tmp_path):
    model = _randomize(models.build("espcn", scale=3, filters=(8, 4)), seed=2, gain=2.0)
    before = [w.copy() for w in model.get_weights()]
    rng = np.random.default_rng(0)
    hr = np.clip(rng.normal(128, 40, (4, 24, 24, 1)), 0, 255).astype(np.float32)
    lr = hr.reshape(4, 8, 3, 8, 3, 1).mean(axis=(2, 4))
    data = [(lr, hr)] * 30
    qat = qa.QuantizationAwareModel(model)
    with pytest.raises(ValueError, match="calibrate"):
        qa.fine_tune(qat, data, 2)
    qat.calibrate([lr[:1], lr[1:]])
    initial = float(np.mean((keras.ops.convert_to_numpy(qat(lr)) - hr) ** 2))
    history = qa.fine_tune(qat, (batch for batch in data), 30, learning_rate=3e-3, recalibrate_every=10, calibration=[lr])
    final = float(np.mean((keras.ops.convert_to_numpy(qat(lr)) - hr) ** 2))
    assert len(history) == 3 and final < initial
    assert any(not np.allclose(a, b) for a, b in zip(before, model.get_weights()))
    restored = qa.float_model_from(qat, "espcn", {"scale": 3, "filters": (8, 4)})
    assert restored is not model and [w.shape for w in restored.get_weights()] == [w.shape for w in before]
    for a, b in zip(restored.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(a, b)
    path = str(tmp_path / "qat.weights.h5")
    restored.save_weights(path)
    fresh = models.build("espcn", scale=3, filters=(8, 4))
    fresh.load_weights(path)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(fresh(lr)), keras.ops.convert_to_numpy(model(lr)), atol=1e-4)


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """A tiny ESPCN `.keras` file (with its model.json) and a two-image HR folder."""
    from keras_sr.image_io import save_image
    from keras_sr.models.inference import write_model_json

    if keras.backend.backend() != "tensorflow":
        pytest.skip("TFLite export runs on the TensorFlow backend")
    root = tmp_path_factory.mktemp("qat")
    for i, image in enumerate(_smooth_images(2, 54, seed=7)):
        save_image(str(root / "HR" / f"{i}.png"), image)
    config = {"scale": 3, "channels": 1, "filters": [8, 4]}
    model = _randomize(models.build("espcn", **config), seed=3, gain=2.0)
    model.save(str(root / "tiny_espcn.keras"))
    write_model_json(str(root), "espcn", config)
    return root, model, config


def test_benchmark_int8_qat_row(tiny_run, tmp_path):
    import argparse

    from keras_sr.benchmarks import tflite

    root, model, _ = tiny_run
    weights = str(tmp_path / "same.weights.h5")
    model.save_weights(weights)  # the same weights: the int8-qat row must equal the int8 row
    parser = tflite.add_arguments(argparse.ArgumentParser())
    common = ["--model", str(root / "tiny_espcn.keras"), "--data", str(root / "HR"), "--representative-data",
              str(root / "HR"), "--representative-samples", "4", "--sizes", "18x18", "--repeats", "1",
              "--threads", "1", "--variants", "int8"]
    rows = {r["variant"]: r for r in tflite.measure(parser.parse_args(common + ["--qat-weights", weights]))["rows"]}
    assert set(rows) == {"keras", "int8", "int8-qat"}
    assert rows["int8-qat"]["psnr"] == rows["int8"]["psnr"]
    with pytest.raises(ValueError, match="--qat-weights: 2 given for 1"):
        tflite.measure(parser.parse_args(common + ["--qat-weights", weights, "--qat-weights", "-"]))


def test_tools_qat_writes_run(tiny_run, tmp_path, capsys):
    import json

    from tools import qat as tool

    root, model, config = tiny_run
    out = tmp_path / "run"
    assert tool.main(["--model", str(root / "tiny_espcn.keras"), "--data", str(root / "HR"), "--steps", "3",
                      "--batch-size", "4", "--representative-samples", "4", "--eval-data", str(root / "HR"),
                      "--threads", "1", "--out", str(out)]) == 0
    table = capsys.readouterr().out
    for label in ("float before", "int8 PTQ (TFLite)", "QAT simulation before", "float after QAT", "int8 QAT (TFLite)"):
        assert f"| {label} |" in table
    result = json.loads((out / "qat.json").read_text())
    psnr, (name,) = result["psnr"], result["datasets"]
    # the simulation before fine-tuning is the PTQ TFLite model up to rounding flips
    assert abs(psnr["QAT simulation before"][name] - psnr["int8 PTQ (TFLite)"][name]) < 0.1
    for name in ("final.weights.h5", "model.json", "recipe.json", "eval.json", "qat/model_int8.tflite"):
        assert (out / name).is_file(), name
    fresh = models.build("espcn", **config)
    fresh.load_weights(str(out / "final.weights.h5"))
    assert tool.main(["--model", "no_such_preset", "--out", str(out)]) == 2
