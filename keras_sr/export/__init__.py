"""Export (TensorFlow-only modules; each imports TensorFlow lazily).

* `keras_sr.export.saved_model`: SavedModel with `serving_default` (float),
  `upscale_uint8` and `upscale_bytes` (PNG/JPEG in, PNG out) signatures, for
  TF Serving.
* `keras_sr.export.tflite`: TFLite `float`, `fp16`, `dynamic` (int8 weights)
  and `int8` (full integer, calibrated) variants; `run_tflite`.
* `keras_sr.export.quantization_aware`: quantization-aware fine-tuning that
  simulates the `int8` variant in `keras.ops` (any backend; `python -m tools.qat`).
* `keras_sr.export.onnx`: ONNX with dynamic height and width (tf2onnx),
  checked under onnxruntime.

Command line: `python export_saved_model.py --run DIR [--tflite ...] [--onnx]`.
"""
