"""SavedModel, TFLite (float, fp16, dynamic, int8) and ONNX exports against Keras; export_saved_model.py.

Tolerances (outputs are 0-255 images):

* SavedModel: the same TensorFlow kernels (observed difference 0); float TFLite and ONNX: XNNPACK / onnxruntime
  sum in another order (observed ~1e-4 and ~4e-5 in 0-255 units, a few float32 ulps at 255). Both must agree
  within 1e-4 of the 0-255 range (0.0255).
* fp16: float16 weights (relative rounding 2**-11 per weight), float32 math. Observed max 0.07-0.2 levels and
  PSNR against Keras 76-81 dB; required: max <= 1 level and PSNR > 60 dB.
* dynamic (int8 weights, float activations): observed PSNR against Keras 63 dB (tiny EDSR); required > 40 dB.
* int8 (int8 weights and activations): each activation is rounded to 1/255 of its calibrated range, a few
  layers in a row; observed PSNR against Keras 40-50 dB on a natural photograph for tiny models trained for a
  few steps; required > 30 dB (`INT8_MIN_PSNR`). A broken quantizer that returns a constant, zeros or the wrong
  scale fails the extra checks: the output's standard deviation must be that of an image, its correlation with
  the Keras output > 0.99, and every tensor but the float32 input and output must be an integer type.
"""

import importlib.util
import os
import subprocess
import sys

import numpy as np
import pytest

import keras

from keras_sr import models

tf = pytest.importorskip("tensorflow")
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOLERANCE = 1e-4 * 255.0
FP16_MAX, FP16_MIN_PSNR = 1.0, 60.0
DYNAMIC_MIN_PSNR = 40.0
INT8_MIN_PSNR = 30.0


def _psnr(a, b):
    mse = float(np.mean((np.asarray(a, np.float64) - np.asarray(b, np.float64)) ** 2))
    return float("inf") if mse == 0 else 10.0 * np.log10(255.0**2 / mse)


def _smooth_lr(channels):
    """A natural LR input (chelsea, not a training image), 30x40, RGB or BT.601 Y, float32 in [0, 255]."""
    from skimage import data

    from keras_sr.color import rgb_to_y
    from keras_sr.imresize import imresize

    lr = imresize(data.chelsea()[60:150, 150:270], 1 / 3)
    return (rgb_to_y(lr)[..., None] if channels == 1 else lr).astype(np.float32)


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    from keras_sr.export.saved_model import export_saved_model
    from keras_sr.export.tflite import convert_saved_model

    root = tmp_path_factory.mktemp("export")
    keras.utils.set_random_seed(0)
    model = models.build("edsr", scale=3, num_blocks=2, filters=8)
    saved = export_saved_model(model, str(root / "saved_model"))
    tflite = convert_saved_model(saved, str(root / "model.tflite"))
    return model, saved, tflite, root


@pytest.fixture(scope="module")
def trained(tmp_path_factory, fit_briefly):
    """Tiny FSRCNN (Conv2DTranspose), ESPCN (depth_to_space) and EDSR trained briefly, exported as SavedModels."""
    from keras_sr.export.saved_model import export_saved_model

    root = tmp_path_factory.mktemp("trained")
    keras.utils.set_random_seed(0)
    builds = {"fsrcnn": dict(scale=3, d=8, s=4, m=1, kernel_initializer="he_normal"),
              "espcn": dict(scale=3, filters=(8, 4)), "edsr": dict(scale=3, num_blocks=2, filters=8)}
    out = {}
    for name, config in builds.items():
        model = fit_briefly(models.build(name, **config))
        out[name] = (model, export_saved_model(model, str(root / name)))
    return out, root


def _calibration_images():
    """HR training photographs (the astronaut), as arrays: `representative_data` accepts them."""
    from skimage import data

    return [data.astronaut()[:240, :240], data.astronaut()[240:, 200:]]


def test_saved_model_signature_and_values(exported, rng):
    model, saved, _, _ = exported
    fn = tf.saved_model.load(saved).signatures["serving_default"]
    spec = fn.structured_input_signature[1]["image"]
    assert spec.shape.as_list() == [1, None, None, 3] and spec.dtype == tf.float32
    for h, w in [(11, 13), (20, 7)]:  # dynamic H and W
        x = rng.uniform(0, 255, (1, h, w, 3)).astype("float32")
        expected = keras.ops.convert_to_numpy(model(x))
        got = fn(image=tf.constant(x))["sr"].numpy()
        assert got.shape == (1, 3 * h, 3 * w, 3)
        assert np.abs(got - expected).max() <= TOLERANCE


def test_tflite_matches_keras_with_litert(exported, rng):
    pytest.importorskip("ai_edge_litert")
    from ai_edge_litert.interpreter import Interpreter

    from keras_sr.export.tflite import run_tflite

    model, _, tflite, _ = exported
    interpreter = Interpreter(model_path=tflite)
    assert list(interpreter.get_input_details()[0]["shape_signature"]) == [1, -1, -1, 3]
    for h, w in [(12, 9), (16, 16), (12, 9)]:
        x = rng.uniform(0, 255, (1, h, w, 3)).astype("float32")
        expected = keras.ops.convert_to_numpy(model(x))[0]
        got = run_tflite(interpreter, x[0])  # resize_tensor_input + allocate_tensors per size
        assert got.shape == expected.shape
        assert np.abs(got - expected).max() <= TOLERANCE


def test_tflite_fp16_within_documented_tolerance(exported):
    from keras_sr.export.tflite import convert_saved_model, run_tflite

    model, saved, tflite, root = exported
    path = convert_saved_model(saved, str(root / "model_fp16.tflite"), "fp16")
    assert os.path.getsize(path) < os.path.getsize(tflite)
    x = _smooth_lr(3)
    expected = keras.ops.convert_to_numpy(model(x[None]))[0]
    got = run_tflite(path, x)
    assert np.abs(got - expected).max() <= FP16_MAX and _psnr(got, expected) > FP16_MIN_PSNR
    assert not np.array_equal(got, run_tflite(tflite, x))  # the weights really are float16


def test_tflite_dynamic_range_two_sizes(exported):
    from keras_sr.export.tflite import convert_saved_model, make_interpreter, run_tflite

    model, saved, tflite, root = exported
    path = convert_saved_model(saved, str(root / "model_dynamic.tflite"), "dynamic")
    assert os.path.getsize(path) < 0.8 * os.path.getsize(tflite)  # int8 weights (the large convolutions)
    interpreter = make_interpreter(path)
    x = _smooth_lr(3)
    for lr in (x, x[:17, 3:26]):
        expected = keras.ops.convert_to_numpy(model(lr[None]))[0]
        got = run_tflite(interpreter, lr)
        assert got.shape == expected.shape and _psnr(got, expected) > DYNAMIC_MIN_PSNR
        assert not np.array_equal(got, run_tflite(tflite, lr))


@pytest.mark.parametrize("name", ["fsrcnn", "espcn", "edsr"])
def test_tflite_int8_full_integer_dynamic_sizes(trained, name):
    from keras_sr.export.tflite import convert_saved_model, make_interpreter, run_tflite

    models_, root = trained
    model, saved = models_[name]
    float_path = convert_saved_model(saved, str(root / f"{name}.tflite"))
    path = convert_saved_model(saved, str(root / f"{name}_int8.tflite"), "int8",
                               representative_data=_calibration_images(), representative_samples=16)
    assert os.path.getsize(path) < os.path.getsize(float_path)
    interpreter = make_interpreter(path)
    details = interpreter.get_input_details()[0]
    assert details["dtype"] == np.float32 and list(details["shape_signature"])[1:3] == [-1, -1]
    interpreter.allocate_tensors()
    io = {d["index"] for d in interpreter.get_input_details() + interpreter.get_output_details()}
    floats = [t["name"] for t in interpreter.get_tensor_details() if t["dtype"] == np.float32 and t["index"] not in io]
    assert not floats, f"float32 tensors inside the int8 model: {floats}"
    x = _smooth_lr(int(model.input_shape[-1]))
    for lr in (x, x[:17, 3:26]):  # two sizes through resize_tensor_input
        expected = keras.ops.convert_to_numpy(model(lr[None]))[0]
        got = run_tflite(interpreter, lr)
        assert got.shape == expected.shape
        assert _psnr(got, expected) > INT8_MIN_PSNR
        assert got.std() > 0.5 * expected.std() > 5.0  # an image, not a constant
        assert np.corrcoef(got.ravel(), expected.ravel())[0, 1] > 0.99
        assert not np.array_equal(got, run_tflite(float_path, lr))


def test_representative_inputs(tmp_path):
    from keras_sr.export.tflite import representative_inputs
    from keras_sr.image_io import ImageError, save_image

    hr = _calibration_images()
    save_image(str(tmp_path / "hr" / "a.png"), hr[0])
    crops = representative_inputs([str(tmp_path / "hr"), hr[1]], scale=3, channels=1, sizes=(8, 20, 100), samples=6)
    # images and sizes in turn; 100 is cut to the LR image (80x80 and 90x104 from 240x240 and 272x312 at x3)
    assert [c.shape[1:3] for c in crops] == [(8, 8), (20, 20), (80, 80), (8, 8), (20, 20), (90, 100)]
    assert all(c.dtype == np.float32 and 16 <= c.min() and c.max() <= 235 for c in crops)  # BT.601 Y range
    rgb = representative_inputs([hr[1]], scale=2, channels=3, sizes=(16,), samples=2)
    assert rgb[0].shape == (1, 16, 16, 3) and not np.array_equal(rgb[0], rgb[1])  # random crops
    with pytest.raises(ImageError, match="nowhere: representative data not found"):
        representative_inputs([str(tmp_path / "nowhere")], scale=3, channels=1)
    with pytest.raises(ValueError, match=r"representative_data\[0\]: expected an HR RGB uint8"):
        representative_inputs([np.zeros((8, 8), np.float32)], scale=3, channels=1)


def test_int8_without_representative_data_uses_embedded_photos_and_says_so(exported):
    from keras_sr.export.tflite import convert_saved_model, representative_inputs

    with pytest.warns(UserWarning, match="embedded scikit-image photographs"):
        crops = representative_inputs(None, scale=3, channels=3, samples=4)
    assert len(crops) == 4 and crops[0].shape == (1, 32, 32, 3)
    _, saved, _, root = exported
    with pytest.warns(UserWarning, match="no representative data given"):
        convert_saved_model(saved, str(root / "model_int8_default.tflite"), "int8", representative_samples=4)


def test_unknown_quantization_and_missing_saved_model(exported, tmp_path):
    from keras_sr.export.tflite import convert_saved_model

    _, saved, _, _ = exported
    with pytest.raises(ValueError, match="Unknown TFLite quantization 'int4'; choose from float, fp16, dynamic, int8"):
        convert_saved_model(saved, str(tmp_path / "x.tflite"), "int4")
    with pytest.raises(ValueError, match="not a SavedModel folder"):
        convert_saved_model(str(tmp_path), str(tmp_path / "x.tflite"))


@pytest.mark.parametrize("name", ["edsr", "fsrcnn"])
def test_onnx_export_dynamic_sizes_under_onnxruntime(tmp_path, rng, name):
    pytest.importorskip("tf2onnx")
    ort = pytest.importorskip("onnxruntime")
    from keras_sr.export.onnx import export_onnx

    config = {"edsr": dict(scale=3, num_blocks=2, filters=8), "fsrcnn": dict(scale=3, d=8, s=4, m=1)}[name]
    model = models.build(name, **config)
    channels = int(model.input_shape[-1])
    path = export_onnx(model, str(tmp_path / f"{name}.onnx"))
    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    (inp,), (out,) = session.get_inputs(), session.get_outputs()
    assert (inp.name, inp.shape, out.name) == ("image", [1, "height", "width", channels], "sr")
    for h, w in [(12, 9), (7, 16)]:
        x = rng.uniform(0, 255, (1, h, w, channels)).astype("float32")
        expected = keras.ops.convert_to_numpy(model(x))
        got = session.run(["sr"], {"image": x})[0]
        assert got.shape == expected.shape and np.abs(got - expected).max() <= TOLERANCE


def test_export_command_line(exported, tmp_path):
    from keras_sr.image_io import save_image

    model, _, _, _ = exported
    run = tmp_path / "run"
    run.mkdir()
    model.save(str(run / "final.keras"))
    for i, image in enumerate(_calibration_images()):
        save_image(str(tmp_path / "calib" / f"{i}.png"), image)
    with_onnx = all(importlib.util.find_spec(m) for m in ("tf2onnx", "onnxruntime"))
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    command = [sys.executable, "export_saved_model.py", "--run", str(run), "--tflite", "dynamic", "int8",
               "--representative-data", str(tmp_path / "calib")] + (["--onnx"] if with_onnx else [])
    proc = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert os.path.isfile(run / "saved_model" / "saved_model.pb")
    for name in ("model_dynamic.tflite", "model_int8.tflite"):
        assert os.path.getsize(run / name) < os.path.getsize(run / "final.keras")
    assert "scikit-image" not in proc.stderr  # calibrated on --representative-data, no fallback warning
    assert with_onnx == os.path.isfile(run / "model.onnx")
    bad = subprocess.run([sys.executable, "export_saved_model.py", "--model", str(run / "final.keras")], cwd=REPO,
                         env=env, capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "--out is required" in bad.stderr
    bad = subprocess.run([sys.executable, "export_saved_model.py", "--run", str(run), "--tflite", "float",
                          "--representative-data", str(tmp_path / "calib")], cwd=REPO, env=env,
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "add --tflite int8" in bad.stderr
