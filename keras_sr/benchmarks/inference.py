"""Inference time per image of registered models, and an export check: `python -m tools.benchmark inference`.

For each `--model NAME[:VARIANT]` (or `NAME:KEY=VALUE,...`, builder keyword arguments, e.g.
`liif:encoder=rdn`) it builds the model at `--scale` (random weights: time does not depend on them),
runs one `--size` x `--size` RGB image through a `tf.function` twice (the first call includes
tracing) and prints both times. An arbitrary-scale model (LIIF, Meta-RDN: inputs `lr, coord, cell`)
is timed as `keras_sr.models.query_inference` upscales a whole image at `--scale`: the encoder once,
the decoder on the `size * scale` square grid of queries in chunks of 30,000 (both parts under
`tf.function`). `--export DIR` also writes each model's SavedModel and TFLite float file under DIR
and prints the largest difference from Keras at two sizes that are not multiples of any window (or
the converter's error, shortened; single-image models only).

Example:
    $ python -m tools.benchmark inference --model swinir:lightweight hat:hat_s --scale 4 --size 256
    $ python -m tools.benchmark inference --model liif liif:encoder=rdn meta_rdn --scale 4 --size 256
    $ python -m tools.benchmark inference --model swinir:lightweight --size 64 --export runs/export_swinir
"""

import os
import time

import numpy as np
from keras_sr import models
from keras_sr.arbitrary_scale import sr_size
from keras_sr.export.saved_model import export_saved_model
from keras_sr.export.tflite import convert_saved_model, run_tflite
from keras_sr.models.query_inference import DEFAULT_CHUNK, is_query_model, upscale_queries

__all__ = ["add_arguments", "run", "time_inference", "time_query_inference", "query_predictor", "check_export",
           "parse_spec"]

CHECK_SIZES = ((20, 28), (33, 17))


def add_arguments(parser):
    parser.add_argument("--model", nargs="+", required=True, help="registered names, NAME or NAME:VARIANT")
    parser.add_argument("--scale", type=int, default=4)
    parser.add_argument("--size", type=int, default=256, help="LR height and width of the timed image")
    parser.add_argument("--export", default=None, help="folder: also export SavedModel + TFLite float and compare")
    return parser


def _value(text):
    """A `KEY=VALUE` value as int, float, bool or str."""
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return {"true": True, "false": False}.get(text.lower(), text)


def parse_spec(spec):
    """`(name, kwargs)` of `NAME`, `NAME:VARIANT` or `NAME:KEY=VALUE,KEY=VALUE` (builder keyword arguments)."""
    name, _, rest = spec.partition(":")
    if not rest:
        return name, {}
    if "=" not in rest:
        return name, {"variant": rest}
    kwargs = {}
    for item in rest.split(","):
        key, eq, value = item.partition("=")
        if not eq or not key:
            raise SystemExit(f"error: --model {spec}: expected NAME:KEY=VALUE,KEY=VALUE, got {item!r}")
        kwargs[key] = _value(value)
    return name, kwargs


def _build(spec, scale):
    name, kwargs = parse_spec(spec)
    return models.build(name, scale=scale, **kwargs)


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


def query_predictor(model, chunk=DEFAULT_CHUNK):
    """`upscale(lr, scale) -> sr float32` of an arbitrary-scale model with its encoder and decoder in `tf.function`s.

    The same queries and chunks as `keras_sr.models.query_inference.query_upscaler` (which calls the parts
    eagerly); the decoder is traced once per chunk length (at most twice per output size).
    """
    import tensorflow as tf

    encoder, decoder = model.get_layer("encoder"), model.get_layer("decoder")
    encode = tf.function(lambda t: encoder(t, training=False))
    decode = tf.function(lambda feat, coord, cell: decoder([feat, coord, cell], training=False))

    def upscale(lr, scale):
        lr = np.asarray(lr)
        out_h, out_w = sr_size(lr.shape[0], lr.shape[1], scale)
        return upscale_queries(encode, lambda f, c, e: decode(f, c, e).numpy(), lr, out_h, out_w, chunk)

    return upscale


def time_query_inference(model, size, scale, seed=0, chunk=DEFAULT_CHUNK):
    """`(first, second)` seconds to upscale one `size` x `size` image by `scale` with `query_predictor(model)`."""
    x = np.random.default_rng(seed).uniform(0, 255, (size, size, 3)).astype("float32")
    upscale = query_predictor(model, chunk)
    times = []
    for _ in range(2):
        start = time.perf_counter()
        upscale(x, scale)
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
        query = is_query_model(model)
        if query:
            first, second = time_query_inference(model, args.size, args.scale)
        else:
            first, second = time_inference(model, args.size)
        row = [spec, f"{model.count_params():,}", f"{first:.2f}", f"{second:.2f}"]
        if args.export and query:
            row += ["-", "- (arbitrary-scale: keras_sr.export.arbitrary_scale)"]
        elif args.export:
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
