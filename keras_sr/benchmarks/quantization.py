"""Where full-integer int8 loses PSNR: per-tensor error of the TFLite int8 model (TensorFlow only).

    python -m tools.benchmark quantization --model espcn_x3 --data ../shared/data/Set5/HR \\
        --representative-data ../shared/data/T91/HR

Two tables:

1. TFLite's own `tf.lite.experimental.QuantizationDebugger` on the int8
   conversion (`keras_sr.export.tflite`, calibrated on `--representative-data`):
   for every quantized tensor, the op that produces it, its int8 scale, and
   the mean squared error and error standard deviation of that op's output
   against float when its inputs are the float values (layer-local error),
   on `--debug-samples` 32x32 LR crops. TFLite splits a Keras
   `Conv2D(activation="tanh")` into CONV_2D and TANH, so the pre-activation
   tensor is quantized too.
2. A numpy simulation on `--data` (the evaluation protocol on Y, border =
   scale): the Keras model run layer by layer with each Keras layer's
   output rounded to 256 levels between its own min and max, one layer at a
   time and all together (PSNR difference to float). It shows how much of
   the int8 loss the Keras-visible activations explain.

Example:
    >>> result = measure(args)        # {"debugger": [...], "simulation": {...}}
    >>> print(format_tables(result))
"""

import os
import tempfile

import numpy as np

from keras_sr.benchmarks.tflite import resolve_model
from keras_sr.color import rgb_to_y
from keras_sr.degradation import degrade
from keras_sr.export.saved_model import export_saved_model
from keras_sr.export.tflite import DEFAULT_SAMPLES, representative_inputs
from keras_sr.image_io import list_images, load_image
from keras_sr.metrics import psnr
from keras_sr.upscalers import model_scale


__all__ = ["add_arguments", "run", "measure", "format_tables", "debugger_rows", "simulate_layer_quantization"]


def add_arguments(parser):
    parser.add_argument("--model", required=True, help="a preset name, a registered name with --weights, or a .keras file")
    parser.add_argument("--weights", default=None, help=".weights.h5 for a registered-name --model")
    parser.add_argument("--data", nargs="+", required=True, help="HR image folders for the simulation (e.g. Set5/HR)")
    parser.add_argument("--representative-data", nargs="+", default=None,
                        help="HR training images calibrating int8 (default: the embedded scikit-image photographs)")
    parser.add_argument("--debug-samples", type=int, default=16, help="32x32 LR crops the debugger runs (default 16)")
    return parser


def debugger_rows(saved_model_dir, representative_data, scale, channels, samples=16):
    """Per-tensor statistics of TFLite's QuantizationDebugger on the int8 conversion of a SavedModel."""
    import csv
    import io

    import tensorflow as tf

    crops = representative_inputs(representative_data, scale, channels, samples=DEFAULT_SAMPLES)
    debug = representative_inputs(representative_data, scale, channels, sizes=(32,), samples=samples, seed=1)
    debug = [c for c in debug if c.shape[1:3] == (32, 32)]
    if not debug:
        raise ValueError("quantization benchmark: the representative images give no 32x32 LR crop.")
    converter = tf.lite.TFLiteConverter.from_saved_model(os.fspath(saved_model_dir), signature_keys=["serving_default"])
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = lambda: ([c] for c in crops)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    debugger = tf.lite.experimental.QuantizationDebugger(converter=converter, debug_dataset=lambda: ([c] for c in debug))
    debugger.run()
    buffer = io.StringIO()
    debugger.layer_statistics_dump(buffer)
    rows = []
    for row in csv.DictReader(io.StringIO(buffer.getvalue())):
        rows.append({"op": row["op_name"], "tensor": row["tensor_name"], "scale": float(row["scale"]),
                     "mse": float(row["mean_squared_error"]), "error_std": float(row["stddev"])})
    return rows


def _y_pairs(folders, scale):
    pairs = []
    for folder in folders:
        for path in list_images(folder):
            hr, lr = degrade(load_image(path), scale, path)
            pairs.append((rgb_to_y(lr)[..., None].astype(np.float32), rgb_to_y(hr)))
    return pairs


def _round_to_256_levels(x):
    lo, hi = float(x.min()), float(x.max())
    if hi <= lo:
        return x
    step = (hi - lo) / 255.0
    return np.round((x - lo) / step) * step + lo


def simulate_layer_quantization(model, folders, scale):
    """`{"float": psnr, "per_layer": {name: delta}, "all": delta}` of a 1-channel (Y) model, layer outputs at 8 bits."""
    import keras

    if int(model.input_shape[-1]) != 1:
        raise ValueError("the layer simulation runs Y-channel (1-channel) models; RGB models: use the debugger table.")
    layers = [layer for layer in model.layers if not isinstance(layer, keras.layers.InputLayer)]
    pairs = _y_pairs(folders, scale)

    def mean_psnr(quantized):
        scores = []
        for lr, hr in pairs:
            x = lr[None]
            for layer in layers:
                x = keras.ops.convert_to_numpy(layer(x))
                if layer.name in quantized:
                    x = _round_to_256_levels(x)
            sr = np.clip(np.floor(x[0, ..., 0] + 0.5), 0, 255)
            scores.append(psnr(sr, hr, scale, y_only=False))
        return float(np.mean(scores))

    base = mean_psnr(())
    per_layer = {layer.name: mean_psnr((layer.name,)) - base for layer in layers}
    return {"float": base, "per_layer": per_layer, "all": mean_psnr({layer.name for layer in layers}) - base}


def measure(args):
    import keras

    label, model = resolve_model(args.model, args.weights)
    channels = int(model.input_shape[-1])
    scale = model_scale(lambda x: keras.ops.convert_to_numpy(model(x, training=False)), channels)
    with tempfile.TemporaryDirectory() as scratch:
        saved = export_saved_model(model, os.path.join(scratch, "saved_model"))
        rows = debugger_rows(saved, args.representative_data, scale, channels, args.debug_samples)
    simulation = simulate_layer_quantization(model, args.data, scale) if channels == 1 else None
    return {"model": label, "scale": scale, "debugger": rows, "simulation": simulation}


def format_tables(result):
    lines = [f"{result['model']} x{result['scale']}: TFLite int8 QuantizationDebugger, layer-local error per tensor",
             "| op | tensor | int8 scale | MSE | error std |", "|---|---|---|---|---|"]
    for row in result["debugger"]:
        lines.append(f"| {row['op']} | {row['tensor'][:48]} | {row['scale']:.4g} | {row['mse']:.3g} | "
                     f"{row['error_std']:.3g} |")
    sim = result["simulation"]
    if sim is not None:
        lines += ["", f"Keras layer outputs rounded to 256 levels: PSNR change against float ({sim['float']:.2f} dB)",
                  "| layer quantized | PSNR change (dB) |", "|---|---|"]
        lines += [f"| {name} | {delta:+.3f} |" for name, delta in sim["per_layer"].items()]
        lines.append(f"| all of them | {sim['all']:+.3f} |")
    return "\n".join(lines)


def run(args):
    print(format_tables(measure(args)))
