"""SavedModel and TFLite exports match the Keras model; the export_saved_model.py command line.

Tolerance: outputs are 0-255 images; the SavedModel runs the same TensorFlow kernels (observed difference 0)
and TFLite's XNNPACK kernels sum in another order (observed ~1e-4 in 0-255 units, a few float32 ulps at
255). Both must agree within 1e-4 of the 0-255 range, i.e. 1e-4 in [0, 1] units (0.0255 in 0-255).
"""

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


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    from keras_sr.export.saved_model import export_saved_model
    from keras_sr.export.tflite import convert_saved_model

    root = tmp_path_factory.mktemp("export")
    model = models.build("edsr", scale=3, num_blocks=2, filters=8)
    saved = export_saved_model(model, str(root / "saved_model"))
    tflite = convert_saved_model(saved, str(root / "model.tflite"))
    return model, saved, tflite, root


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
    for h, w in [(12, 9), (16, 16)]:
        x = rng.uniform(0, 255, (1, h, w, 3)).astype("float32")
        expected = keras.ops.convert_to_numpy(model(x))[0]
        got = run_tflite(interpreter, x[0])  # resize_tensor_input + allocate_tensors per size
        assert got.shape == expected.shape
        assert np.abs(got - expected).max() <= TOLERANCE


def test_export_command_line(exported, tmp_path):
    model, _, _, _ = exported
    run = tmp_path / "run"
    run.mkdir()
    model.save(str(run / "final.keras"))
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    proc = subprocess.run([sys.executable, "export_saved_model.py", "--run", str(run), "--tflite", "int8"], cwd=REPO,
                          env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert os.path.isfile(run / "saved_model" / "saved_model.pb") and os.path.isfile(run / "model_int8.tflite")
    assert os.path.getsize(run / "model_int8.tflite") < os.path.getsize(run / "final.keras")
    bad = subprocess.run([sys.executable, "export_saved_model.py", "--model", str(run / "final.keras")], cwd=REPO,
                         env=env, capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "--out is required" in bad.stderr
