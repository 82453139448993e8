"""TFLite conversion of a keras-sr SavedModel (TensorFlow only); run with `ai-edge-litert`.

The `.tflite` model is the SavedModel's `serving_default` signature (the
Keras model itself: float32 `[1, H, W, C]` in [0, 255], `C` = 3 for RGB and
1 for Y-channel models) and keeps its dynamic `[1, -1, -1, C]` input: call
`interpreter.resize_tensor_input(index, [1, H, W, C])` and
`allocate_tensors()` before each new size (`run_tflite` does this).

Variants (`quantize`), following the TFLite post-training quantization guide
(https://ai.google.dev/edge/litert/models/post_training_quantization):

* `float`: float32 weights and math (matches Keras to float rounding).
* `fp16`: float16 weights, dequantized to float32 at load (half the size;
  the math stays float32, so outputs differ from Keras only by the weight
  rounding, a relative 2**-11 per weight).
* `dynamic`: dynamic-range quantization, int8 weights, float32 activations
  and input/output (a quarter of the size). This is what keras-sr called
  `int8` before the full-integer variant existed.
* `int8`: full-integer quantization, int8 weights and activations
  (`supported_ops = [TFLITE_BUILTINS_INT8]`), calibrated on a
  representative dataset; the input and output stay float32 (a QUANTIZE op
  in front, a DEQUANTIZE at the end), so `run_tflite` and every caller work
  unchanged. The representative dataset is `representative_data` (image
  folders, image files or HR arrays `(H, W, 3)` uint8, as for training),
  degraded by the evaluation protocol (modcrop + MATLAB bicubic
  `keras_sr.degradation.degrade`), converted to the BT.601 Y channel for
  1-channel models, then cut into random LR crops of a few sizes
  (`representative_sizes`). Without `representative_data` it falls back to
  the embedded scikit-image photographs (`keras_sr.data.sources.default_images`)
  and warns so. Calibration takes the activation ranges of those crops; an
  image far outside them (e.g. synthetic) is clipped inside the network.

Dynamic sizes work for every variant, int8 included, for FSRCNN
(TRANSPOSE_CONV with a computed output shape), ESPCN (DEPTH_TO_SPACE) and
EDSR (tests/test_export.py runs each at two sizes).

Example:
    >>> path = convert_saved_model("runs/x/saved_model", "runs/x/model.tflite")
    >>> sr = run_tflite(path, lr_float32)                   # (s*H, s*W, C)
    >>> convert_saved_model("runs/x/saved_model", "runs/x/model_fp16.tflite", quantize="fp16")
    >>> convert_saved_model("runs/x/saved_model", "runs/x/model_int8.tflite", quantize="int8",
    ...                     representative_data=["../shared/data/T91/HR"])
"""

import os
import warnings

import numpy as np

from keras_sr.color import rgb_to_y
from keras_sr.data.sources import default_images
from keras_sr.degradation import degrade
from keras_sr.fileio import atomic_write_bytes
from keras_sr.image_io import ImageError, list_images, load_image
from keras_sr.upscalers import model_scale


__all__ = ["QUANTIZATIONS", "tflite_filename", "convert_saved_model", "representative_inputs", "run_tflite",
           "make_interpreter"]

QUANTIZATIONS = ("float", "fp16", "dynamic", "int8")
DEFAULT_SIZES = (32, 48, 64)
DEFAULT_SAMPLES = 64


def tflite_filename(quantize):
    """`model.tflite` for `float`, else `model_<quantize>.tflite`."""
    if quantize not in QUANTIZATIONS:
        raise ValueError(f"Unknown TFLite quantization {quantize!r}; choose from {', '.join(QUANTIZATIONS)}.")
    return "model.tflite" if quantize == "float" else f"model_{quantize}.tflite"


def _hr_images(entries):
    """`[(label, rgb_uint8)]` from folders, image files and arrays."""
    if isinstance(entries, (str, os.PathLike, np.ndarray)):
        entries = [entries]
    images = []
    for index, entry in enumerate(entries):
        if isinstance(entry, np.ndarray):
            if entry.ndim != 3 or entry.shape[-1] != 3 or entry.dtype != np.uint8:
                raise ValueError(f"representative_data[{index}]: expected an HR RGB uint8 array (H, W, 3), "
                                 f"got {entry.dtype} {entry.shape}.")
            images.append((f"representative_data[{index}]", entry))
            continue
        entry = os.fspath(entry)
        if os.path.isdir(entry):
            images.extend((path, load_image(path)) for path in list_images(entry))
        elif os.path.exists(entry):
            images.append((entry, load_image(entry)))
        else:
            raise ImageError(f"{entry}: representative data not found (expected an image folder or file).")
    return images


def representative_inputs(representative_data, scale, channels, sizes=DEFAULT_SIZES, samples=DEFAULT_SAMPLES,
                          seed=0):
    """LR model inputs for int8 calibration: a list of float32 `(1, h, w, channels)` crops in [0, 255].

    Every HR image is degraded as the evaluation does (`degrade`: modcrop +
    MATLAB bicubic `1/scale`); 1-channel models get its BT.601 Y channel
    (float, [16, 235], as `keras_sr.upscalers.rgb_or_y` feeds them).
    `samples` random crops, cycling through the images and `sizes` (square LR
    sizes, cut down to smaller images). `representative_data=None` uses the
    embedded scikit-image training photographs and warns.

    Example:
        >>> crops = representative_inputs(["T91/HR"], scale=3, channels=1)    # 64 arrays (1, s, s, 1)
    """
    if channels not in (1, 3):
        raise ValueError(f"model takes {channels} channels; keras-sr converts RGB (3) or Y (1) models.")
    if representative_data is None:
        representative_data = default_images()[0]
        warnings.warn("int8 TFLite: no representative data given; calibrating on the embedded scikit-image "
                      "photographs. Pass representative_data= (--representative-data) with training images.",
                      UserWarning, stacklevel=3)
    lrs = []
    for label, hr in _hr_images(representative_data):
        if min(hr.shape[:2]) < scale:
            continue
        lr = degrade(hr, scale, label)[1]
        lrs.append(rgb_to_y(lr)[..., None] if channels == 1 else lr.astype(np.float64))
    if not lrs:
        raise ValueError(f"representative data for x{scale}: no usable image (each needs at least {scale}x{scale} pixels).")
    rng = np.random.default_rng(seed)
    crops = []
    for i in range(int(samples)):
        lr = lrs[i % len(lrs)]
        size = int(sizes[i % len(sizes)])
        h, w = min(size, lr.shape[0]), min(size, lr.shape[1])
        top = int(rng.integers(0, lr.shape[0] - h + 1))
        left = int(rng.integers(0, lr.shape[1] - w + 1))
        crops.append(lr[None, top:top + h, left:left + w].astype(np.float32))
    return crops


def _saved_model_io(saved_model_dir):
    """`(channels, scale)` of a keras-sr SavedModel's `serving_default` signature."""
    import tensorflow as tf

    fn = tf.saved_model.load(os.fspath(saved_model_dir)).signatures["serving_default"]
    channels = int(list(fn.structured_input_signature[1].values())[0].shape[-1])
    scale = model_scale(lambda x: list(fn(tf.constant(x)).values())[0].numpy(), channels)
    return channels, scale


def convert_saved_model(saved_model_dir, out_path, quantize="float", representative_data=None,
                        representative_sizes=DEFAULT_SIZES, representative_samples=DEFAULT_SAMPLES, seed=0):
    """Convert the `serving_default` signature of a SavedModel to `out_path` (atomic); returns the path.

    `quantize` is one of `QUANTIZATIONS` (module docstring);
    `representative_data`, `representative_sizes`, `representative_samples`
    and `seed` are used by `int8` only (see `representative_inputs`).
    """
    import tensorflow as tf

    tflite_filename(quantize)  # validates `quantize`
    saved_model_dir = os.fspath(saved_model_dir)
    if not os.path.isfile(os.path.join(saved_model_dir, "saved_model.pb")):
        raise ValueError(f"{saved_model_dir}: not a SavedModel folder (no saved_model.pb).")
    converter = tf.lite.TFLiteConverter.from_saved_model(saved_model_dir, signature_keys=["serving_default"])
    if quantize != "float":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if quantize == "fp16":
        converter.target_spec.supported_types = [tf.float16]
    if quantize == "int8":
        channels, scale = _saved_model_io(saved_model_dir)
        crops = representative_inputs(representative_data, scale, channels, representative_sizes,
                                      representative_samples, seed)

        def dataset():
            for crop in crops:
                yield [crop]

        converter.representative_dataset = dataset
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = tf.float32
        converter.inference_output_type = tf.float32
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
    detail = interpreter.get_input_details()[0]
    if detail["dtype"] != np.float32:
        raise ValueError(f"TFLite model input is {np.dtype(detail['dtype']).name}; run_tflite feeds float32 "
                         "(keras-sr converts every variant with float32 input and output).")
    index = detail["index"]
    if list(detail["shape"]) != list(image.shape):
        interpreter.resize_tensor_input(index, list(image.shape), strict=False)
    interpreter.allocate_tensors()  # cheap when nothing changed since the last call
    interpreter.set_tensor(index, image)
    interpreter.invoke()
    return interpreter.get_tensor(interpreter.get_output_details()[0]["index"])[0]
