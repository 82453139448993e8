"""Inference time per image of registered models, and an export check: `python -m tools.benchmark inference`.

For each `--model NAME[:VARIANT]` it builds the model at `--scale` (random weights: time does not
depend on them), runs one `--size` x `--size` RGB image through a `tf.function` twice (the first call
includes tracing) and prints both times. `--export DIR` also writes each model's SavedModel and
TFLite float file under DIR and prints the largest difference from Keras at two sizes that are not
multiples of any window (or the converter's error, shortened).

Example:
    $ python -m tools.benchmark inference --model swinir:lightweight hat:hat_s --scale 4 --size 256
    $ python -m tools.benchmark inference --model swinir:lightweight --size 64 --export runs/export_swinir
"""

import os
import time

import numpy as np
from keras_sr import models
from keras_sr.export.saved_model import export_saved_model
from keras_sr.export.tflite import convert_saved_model, run_tflite

__all__ = ["add_arguments", "run", "time_inference", "check_export"]

CHECK_SIZES = ((20, 28), (33, 17))


def add_arguments(parser):
    parser.add_argument("--model", nargs="+", required=True, help="registered names, NAME or NAME:VARIANT")
    parser.add_argument("--scale", type=int, default=4)
    parser.add_argument("--size", type=int, default=256, help="LR height and width of the timed image")
    parser.add_argument("--export", default=None, help="folder: also export SavedModel + TFLite float and compare")
    return parser


def _build(spec, scale):

    name, _, variant = spec.partition(":")
    return models.build(name, scale=scale, **({"variant": variant} if variant else {}))


def time_inference(model, size, seed=0):
    """`(first, second)` seconds of one `(1, size, size, 3)` image through `tf.function(model)`."""
    import tensorflow as tf

    x = np.random.default_rng(seed).uniform(0, 255, (1, size, size, 3)).astype("float32")
    predict = tf.function(lambda t: model(t, training=False))
    times = []
    for _ in range(2):
        start = time.perf_counter()
        predict(x).numpy()
        times.append(time.perf_counter() - start)
    return tuple(times)


def check_export(model, out_dir):
    """`{"saved_model": max |diff|, "tflite": max |diff| or the error}` over `CHECK_SIZES` (0-255 outputs)."""
    import keras
    import tensorflow as tf


    saved = os.path.join(out_dir, "saved_model")
    export_saved_model(model, saved)
    serve = tf.saved_model.load(saved).signatures["serving_default"]
    inputs = [np.random.default_rng(h).uniform(0, 255, (1, h, w, 3)).astype("float32") for h, w in CHECK_SIZES]
    expected = [keras.ops.convert_to_numpy(model(x)) for x in inputs]
    result = {"saved_model": max(float(np.abs(list(serve(image=tf.constant(x)).values())[0].numpy() - y).max())
                                 for x, y in zip(inputs, expected))}
    try:
        path = convert_saved_model(saved, os.path.join(out_dir, "model.tflite"), "float")
        result["tflite"] = max(float(np.abs(np.asarray(run_tflite(path, x[0])).reshape(y.shape) - y).max())
                               for x, y in zip(inputs, expected))
    except Exception as err:  # what does not convert, and why
        lines = [line for line in str(err).splitlines() if "error:" in line]
        result["tflite"] = f"{type(err).__name__}: " + " | ".join(line[-200:] for line in lines[:3])
    return result


def run(args):
    rows = []
    for spec in args.model:
        model = _build(spec, args.scale)
        first, second = time_inference(model, args.size)
        row = [spec, f"{model.count_params():,}", f"{first:.2f}", f"{second:.2f}"]
        if args.export:
            checked = check_export(model, os.path.join(args.export, spec.replace(":", "_")))
            row += [f"{checked['saved_model']:.2g}", str(checked["tflite"])]
        rows.append(row)
        print(" | ".join(row), flush=True)
    header = ["model", "parameters", f"first call (s, {args.size}x{args.size}, x{args.scale})", "second call (s)"]
    if args.export:
        header += ["SavedModel max |diff|", "TFLite float max |diff|"]
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for row in rows:
        print("| " + " | ".join(row) + " |")
