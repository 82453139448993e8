"""ONNX export of a keras-sr model with dynamic height and width (TensorFlow backend + tf2onnx).

The model is exported with Keras' own `model.export(path, format="onnx")`,
which on the TensorFlow backend traces the model into a `tf.function` and
converts it with `tf2onnx.convert.from_function`. Works with TensorFlow
2.21, Keras 3.15, tf2onnx 1.17 and onnxruntime 1.32 (the `onnx` extra:
`pip install "keras-sr[onnx]"`).

The ONNX graph has one input `image`, float32 `[1, height, width, C]`
in [0, 255] (NHWC, `C` = 3 for RGB models and 1 for Y-channel models, as
the SavedModel's `serving_default`), and one output `sr`, float32
`[1, sr_height, sr_width, C]`, not clipped or rounded. After writing, the
file is run under onnxruntime (when installed) at two input sizes and
compared with the Keras model; a mismatch above `1e-4 * 255` raises.
The file is written atomically (a temporary file renamed into place).

From a JAX or PyTorch process the export runs in a `KERAS_BACKEND=tensorflow`
subprocess on the model saved as `.keras`, as `export_saved_model` does.

Example:
    >>> export_onnx(model, "exported/fsrcnn_x3.onnx")
    >>> import onnxruntime as ort
    >>> session = ort.InferenceSession("exported/fsrcnn_x3.onnx")
    >>> sr = session.run(["sr"], {"image": y_lr[None, ..., None].astype("float32")})[0]
    >>> sr = run_onnx("exported/fsrcnn_x3.onnx", y_lr[..., None])        # (3H, 3W, 1)
"""

import os
import subprocess
import sys
import tempfile
import warnings

import numpy as np

from keras_sr.fileio import atomic_path
from keras_sr.models.loading import load_model


__all__ = ["INPUT_NAME", "OUTPUT_NAME", "TOLERANCE", "export_onnx", "run_onnx", "check_onnx", "main"]

INPUT_NAME = "image"
OUTPUT_NAME = "sr"
TOLERANCE = 1e-4 * 255.0  # as the TFLite float check: 1e-4 of the 0-255 range
_INSTALL = 'pip install "keras-sr[onnx]" (tf2onnx and onnxruntime)'


def _rename_io(path):
    """Name the output `sr` and the dynamic dimensions `height`, `width`, `sr_height`, `sr_width`."""
    import onnx

    proto = onnx.load(path)
    graph = proto.graph
    old = graph.output[0].name
    if old != OUTPUT_NAME:
        for node in graph.node:
            node.output[:] = [OUTPUT_NAME if name == old else name for name in node.output]
            node.input[:] = [OUTPUT_NAME if name == old else name for name in node.input]
        graph.output[0].name = OUTPUT_NAME
    for value, names in ((graph.input[0], ("height", "width")), (graph.output[0], ("sr_height", "sr_width"))):
        dims = value.type.tensor_type.shape.dim
        for dim, name in zip(list(dims)[1:3], names):
            if not dim.HasField("dim_value"):
                dim.dim_param = name
    onnx.checker.check_model(proto)
    onnx.save(proto, path)


def _export_tf(model, out_path, opset):
    import keras

    channels = int(model.input_shape[-1])
    try:
        import tf2onnx  # noqa: F401 - Keras imports it lazily; fail here with the install line
        import onnx  # noqa: F401
    except ImportError as err:
        raise ImportError(f"ONNX export needs tf2onnx and onnx ({err}); {_INSTALL}.") from err
    spec = keras.InputSpec(shape=(1, None, None, channels), dtype="float32", name=INPUT_NAME)
    with atomic_path(out_path) as tmp:
        with warnings.catch_warnings():  # Keras' tf2onnx numpy-2 patch probes np.object
            warnings.simplefilter("ignore", FutureWarning)
            model.export(tmp, format="onnx", verbose=False, input_signature=[spec], opset_version=opset)
        _rename_io(tmp)
        check_onnx(tmp, model)
    return out_path


def run_onnx(path_or_session, image):
    """Run a keras-sr `.onnx` model on one `(H, W, C)` float image in [0, 255]; returns `(sH, sW, C)`."""
    session = path_or_session
    if isinstance(path_or_session, (str, os.PathLike)):
        try:
            import onnxruntime
        except ImportError as err:
            raise ImportError(f"running an ONNX model needs onnxruntime; {_INSTALL}.") from err
        session = onnxruntime.InferenceSession(os.fspath(path_or_session), providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    return session.run(None, {name: np.asarray(image, np.float32)[None]})[0][0]


def check_onnx(path, model, sizes=((11, 13), (20, 7)), tolerance=TOLERANCE, seed=0):
    """Compare the ONNX file under onnxruntime with `model` on random images of `sizes`.

    Returns the largest absolute difference (0-255 units), or None when
    onnxruntime is not installed (nothing checked); raises `ValueError`
    naming the file when it exceeds `tolerance` or the shapes differ.
    """
    import keras

    try:
        import onnxruntime
    except ImportError:
        return None
    session = onnxruntime.InferenceSession(os.fspath(path), providers=["CPUExecutionProvider"])
    channels = int(model.input_shape[-1])
    rng = np.random.default_rng(seed)
    worst = 0.0
    for h, w in sizes:
        x = rng.uniform(0, 255, (h, w, channels)).astype(np.float32)
        expected = keras.ops.convert_to_numpy(model(x[None], training=False))[0]
        got = run_onnx(session, x)
        if got.shape != expected.shape:
            raise ValueError(f"{path}: ONNX output {got.shape} for a {h}x{w} input, Keras gives {expected.shape}.")
        worst = max(worst, float(np.abs(got - expected).max()))
    if worst > tolerance:
        raise ValueError(f"{path}: ONNX output differs from Keras by {worst:.4g} (0-255 units), "
                         f"more than {tolerance:.4g}.")
    return worst


def export_onnx(model, out_path, opset=None):
    """Export `model` (a `keras.Model` or a `.keras` path) as an ONNX file; returns `out_path`.

    `opset` is the ONNX opset (None: tf2onnx's default).
    """
    import keras

    if keras.backend.backend() == "tensorflow":
        if isinstance(model, (str, os.PathLike)):
            model = load_model(os.fspath(model))
        return _export_tf(model, out_path, opset)
    with tempfile.TemporaryDirectory() as scratch:
        path = model if isinstance(model, (str, os.PathLike)) else os.path.join(scratch, "model.keras")
        if not isinstance(model, (str, os.PathLike)):
            model.save(path)
        command = [sys.executable, "-m", "keras_sr.export.onnx", "--model", os.fspath(path), "--out",
                   os.fspath(out_path)] + ([] if opset is None else ["--opset", str(opset)])
        subprocess.run(command, check=True, env={**os.environ, "KERAS_BACKEND": "tensorflow"})
    return out_path


if __name__ == "__main__":  # python -m keras_sr.export.onnx: the command lives in the CLI layer
    from keras_sr.export.cli import onnx_main

    sys.exit(onnx_main())
