"""TFLite conversion of a keras-sr SavedModel (TensorFlow only); run with `ai-edge-litert`.

The `.tflite` model keeps the SavedModel's dynamic `[1, -1, -1, C]` input:
call `interpreter.resize_tensor_input(index, [1, H, W, C])` and
`allocate_tensors()` before each new size (`run_tflite` does this).

Quantization (`quantize`):

* `float`: float32 weights and math (matches Keras to float rounding).
* `fp16`: float16 weights, dequantized to float32 at load (half the size).
* `int8`: dynamic-range quantization, int8 weights with float32 input and
  output (a quarter of the size; activations stay float).

Example:
    >>> path = convert_saved_model("runs/x/saved_model", "runs/x/model.tflite")
    >>> sr = run_tflite(path, lr_float32)                   # (s*H, s*W, 3)
    >>> convert_saved_model("runs/x/saved_model", "runs/x/model_fp16.tflite", quantize="fp16")
"""

import os

import numpy as np

from keras_sr.fileio import atomic_write_bytes

__all__ = ["QUANTIZATIONS", "convert_saved_model", "run_tflite", "make_interpreter"]

QUANTIZATIONS = ("float", "fp16", "int8")


def convert_saved_model(saved_model_dir, out_path, quantize="float"):
    """Convert the `serving_default` signature of a SavedModel to `out_path` (atomic); returns the path."""
    import tensorflow as tf

    if quantize not in QUANTIZATIONS:
        raise ValueError(f"Unknown TFLite quantization {quantize!r}; choose from {', '.join(QUANTIZATIONS)}.")
    converter = tf.lite.TFLiteConverter.from_saved_model(os.fspath(saved_model_dir), signature_keys=["serving_default"])
    if quantize in ("fp16", "int8"):
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if quantize == "fp16":
        converter.target_spec.supported_types = [tf.float16]
    atomic_write_bytes(out_path, converter.convert())
    return out_path


def make_interpreter(path, num_threads=None):
    """An `ai_edge_litert` interpreter (falling back to `tf.lite.Interpreter` when it is missing)."""
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:  # pragma: no cover - the `tflite` extra is not installed
        import tensorflow as tf

        Interpreter = tf.lite.Interpreter
    return Interpreter(model_path=os.fspath(path), num_threads=num_threads)


def run_tflite(path_or_interpreter, image, num_threads=None):
    """Run a keras-sr `.tflite` model on one `(H, W, C)` float image in [0, 255]; returns `(sH, sW, C)`."""
    interpreter = path_or_interpreter
    if isinstance(path_or_interpreter, (str, os.PathLike)):
        interpreter = make_interpreter(path_or_interpreter, num_threads)
    image = np.asarray(image, np.float32)[None]
    index = interpreter.get_input_details()[0]["index"]
    interpreter.resize_tensor_input(index, list(image.shape), strict=False)
    interpreter.allocate_tensors()
    interpreter.set_tensor(index, image)
    interpreter.invoke()
    return interpreter.get_tensor(interpreter.get_output_details()[0]["index"])[0]
