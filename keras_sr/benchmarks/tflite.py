"""TFLite variants of keras-sr models: file size, PSNR against the Keras model, CPU latency (TensorFlow only).

    python -m tools.benchmark tflite --model fsrcnn_x3 --model espcn_x3 --model runs/x/final.keras \\
        --data ../shared/data/Set5/HR ../shared/data/Set14/HR --representative-data ../shared/data/T91/HR \\
        --threads 2 --sizes 320x180 640x360 --variants float fp16 dynamic int8 [--json tflite.json]

For each `--model` (a preset name, `keras_sr.models.presets`; a registered
name with `--weights FILE`, one `--weights` per registered name in order; or
a `.keras` file) it exports the SavedModel and every TFLite variant
(`keras_sr.export.tflite`; `int8` calibrated on `--representative-data`,
else on the embedded scikit-image photographs) into `--out` (default: a
temporary folder), then prints one markdown table with, per model, a `keras`
row and one row per variant:

* file size in KB (`.keras` file for the Keras row, `.tflite` otherwise);
* PSNR on Y, border = scale, on each `--data` folder by the evaluation
  protocol (`keras_sr.scoring.evaluate_folders`: modcrop, MATLAB bicubic
  LR, output rounded to uint8), the TFLite interpreter wrapped by the same
  RGB-or-Y logic as Keras models (`keras_sr.upscalers.rgb_or_y`:
  Y-channel models get Y, Cb/Cr by MATLAB bicubic), and in brackets the
  difference to the Keras row on the same images;
* median latency in ms of `interpreter.invoke()` (ai-edge-litert,
  `num_threads=--threads`, XNNPACK) on one LR input of each `--sizes`
  `WIDTHxHEIGHT` (1 channel for Y models), `--repeats` runs after
  `--warmup`; the tensors are resized and allocated once per size, outside
  the timing. The Keras row has no latency (TensorFlow's own threads are not
  set by `--threads`; compare TFLite variants with each other).

`--qat-weights FILE` (one per `--model`, in order; `-` for none) adds an
`int8-qat` row: the same model with the weights of a quantization-aware
fine-tuning run (`python -m tools.qat`, its `final.weights.h5`), converted by
the same int8 converter and calibration, its PSNR difference taken to the
original Keras row, so it sits beside the post-training `int8` row.

`--json FILE` writes the same numbers.
"""

import json
import os
import platform
import statistics
import sys
import tempfile
import time

import numpy as np

from keras_sr import models
from keras_sr.export.saved_model import export_saved_model
from keras_sr.export.tflite import QUANTIZATIONS, convert_saved_model, make_interpreter, run_tflite, tflite_filename
from keras_sr.fileio import atomic_write_text
from keras_sr.image_io import dataset_name
from keras_sr.models import loading, presets
from keras_sr.scoring import evaluate_folders
from keras_sr.upscalers import model_scale, model_upscaler, rgb_or_y


__all__ = ["add_arguments", "run", "measure", "format_table", "parse_size", "resolve_model", "tflite_upscaler"]


def parse_size(text):
    """`"320x180"` -> `(320, 180)`, width by height."""
    try:
        width, height = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise ValueError(f"--sizes {text!r}: expected WIDTHxHEIGHT, e.g. 320x180.") from None
    if width < 1 or height < 1:
        raise ValueError(f"--sizes {text!r}: width and height must be positive.")
    return width, height


def add_arguments(parser):
    parser.add_argument("--model", action="append", required=True,
                        help="a preset name, a registered name (with --weights) or a .keras file; repeat for more")
    parser.add_argument("--weights", action="append", default=[],
                        help=".weights.h5 for each registered-name --model, in the same order")
    parser.add_argument("--scale", type=int, default=None, help="scale of registered-name models without model.json")
    parser.add_argument("--data", nargs="+", required=True, help="HR image folders for PSNR (e.g. Set5/HR Set14/HR)")
    parser.add_argument("--representative-data", nargs="+", default=None,
                        help="HR training images calibrating int8 (default: the embedded scikit-image photographs)")
    parser.add_argument("--representative-samples", type=int, default=64, help="int8 calibration crops (default 64)")
    parser.add_argument("--variants", nargs="+", choices=QUANTIZATIONS, default=list(QUANTIZATIONS))
    parser.add_argument("--qat-weights", action="append", default=[],
                        help="fine-tuned .weights.h5 of `python -m tools.qat` for each --model in order ('-': none); "
                             "adds an int8-qat row")
    parser.add_argument("--threads", type=int, default=2, help="TFLite interpreter threads (default 2)")
    parser.add_argument("--sizes", nargs="+", default=["320x180", "640x360"], help="LR input sizes WIDTHxHEIGHT")
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per size (default 5)")
    parser.add_argument("--warmup", type=int, default=1, help="untimed runs per size first (default 1)")
    parser.add_argument("--out", default=None, help="folder for the exports (default: a temporary folder)")
    parser.add_argument("--json", default=None, help="write the numbers here")
    return parser


def resolve_model(reference, weights=None, scale=None):
    """`(label, keras.Model)` for a preset name, a registered name (+ weights) or a `.keras` file."""
    reference = os.fspath(reference)
    known = reference.endswith(".keras") or presets.get_preset(reference) is not None or (
        reference in models.list_models() and reference != "bicubic")
    model = loading.resolve_model(reference, scale=scale, weights=weights) if known else None
    if model is not None:
        label = os.path.splitext(os.path.basename(reference))[0] if reference.endswith(".keras") else reference
        return label, model
    available = ", ".join(p.name for p in presets.list_presets()) or "none shipped yet"
    raise ValueError(f"--model {reference!r}: not a .keras file, a preset (available: {available}) or a registered "
                     f"model ({', '.join(models.list_models())}).")


def tflite_upscaler(interpreter, channels, label):
    """`upscaler(lr_uint8, scale) -> sr` around a TFLite interpreter (RGB, or Y + bicubic Cb/Cr); has `.scale`."""
    def predict(batch):
        return run_tflite(interpreter, np.asarray(batch)[0])[None]

    scale = model_scale(predict, channels)

    def upscale(lr, asked):
        if int(asked) != scale:
            raise ValueError(f"{label} upscales x{scale}, asked for x{asked}.")
        return rgb_or_y(predict, channels, lr, scale)

    upscale.scale, upscale.label = scale, label
    return upscale


def _latency_ms(interpreter, channels, sizes, repeats, warmup, seed=0):
    """`{"WxH": median ms}` of `invoke()` on random LR inputs of each size."""
    rng = np.random.default_rng(seed)
    index = interpreter.get_input_details()[0]["index"]
    result = {}
    for width, height in sizes:
        x = rng.uniform(16, 235, (1, height, width, channels)).astype(np.float32)
        interpreter.resize_tensor_input(index, list(x.shape), strict=False)
        interpreter.allocate_tensors()
        interpreter.set_tensor(index, x)
        for _ in range(max(0, warmup)):
            interpreter.invoke()
        times = []
        for _ in range(max(1, repeats)):
            interpreter.set_tensor(index, x)
            start = time.perf_counter()
            interpreter.invoke()
            times.append(time.perf_counter() - start)
        result[f"{width}x{height}"] = 1000.0 * statistics.median(times)
    return result


def _psnr(upscaler, folders, scale):
    results = evaluate_folders(upscaler, folders, [scale], y_only=True)
    return {name: per_scale[scale]["psnr"] for name, per_scale in results.items()}


def _benchmark_model(label, model, args, sizes, out_dir, log, qat_weights=None):
    folder = os.path.join(out_dir, label)
    os.makedirs(folder, exist_ok=True)
    keras_path = os.path.join(folder, "model.keras")
    model.save(keras_path)
    channels = int(model.input_shape[-1])
    upscaler = model_upscaler(model, label=label)
    scale = upscaler.scale
    log(f"{label}: x{scale}, {channels} channel(s); Keras PSNR")
    keras_psnr = _psnr(upscaler, args.data, scale)
    rows = [{"model": label, "variant": "keras", "scale": scale, "channels": channels,
             "file_kb": os.path.getsize(keras_path) / 1024.0, "psnr": keras_psnr,
             "psnr_delta": {name: 0.0 for name in keras_psnr}, "latency_ms": {f"{w}x{h}": None for w, h in sizes}}]
    saved = export_saved_model(model, os.path.join(folder, "saved_model"))
    jobs = [(variant, saved, variant, tflite_filename(variant)) for variant in args.variants]
    if qat_weights:
        qat_model = model.__class__.from_config(model.get_config())
        qat_model.load_weights(qat_weights)
        qat_saved = export_saved_model(qat_model, os.path.join(folder, "saved_model_qat"))
        jobs.append(("int8-qat", qat_saved, "int8", "model_int8_qat.tflite"))
    for variant, saved_dir, quantize, filename in jobs:
        start = time.perf_counter()
        path = convert_saved_model(saved_dir, os.path.join(folder, filename), quantize,
                                   representative_data=args.representative_data,
                                   representative_samples=args.representative_samples)
        log(f"{label} {variant}: converted in {time.perf_counter() - start:.1f} s; PSNR and latency")
        interpreter = make_interpreter(path, num_threads=args.threads)
        tfl = tflite_upscaler(interpreter, channels, f"{label} {variant}")
        if tfl.scale != scale:
            raise ValueError(f"{path}: the TFLite model's scale differs from the Keras model's x{scale}.")
        psnr = _psnr(tfl, args.data, scale)
        rows.append({"model": label, "variant": variant, "scale": scale, "channels": channels,
                     "file_kb": os.path.getsize(path) / 1024.0, "psnr": psnr,
                     "psnr_delta": {name: psnr[name] - keras_psnr[name] for name in psnr},
                     "latency_ms": _latency_ms(interpreter, channels, sizes, args.repeats, args.warmup)})
    return rows


def measure(args):
    """`{"rows": [...], "threads", "sizes", "datasets", ...}` for the parsed arguments."""
    sizes = [parse_size(s) for s in args.sizes]
    log = lambda msg: print(msg, file=sys.stderr, flush=True)  # noqa: E731
    references, weights = list(args.model), list(args.weights)
    resolved = []
    for reference in references:
        needs_weights = not reference.endswith(".keras") and _is_registered_only(reference)
        resolved.append(resolve_model(reference, weights.pop(0) if needs_weights and weights else None, args.scale))
    if weights:
        raise ValueError(f"--weights {' '.join(weights)}: more --weights than registered-name --model entries.")
    labels = [label for label, _ in resolved]
    if len(set(labels)) != len(labels):
        raise ValueError(f"--model: two models share the label of {labels}; rename a .keras file.")
    qat = list(getattr(args, "qat_weights", None) or [])
    if qat and len(qat) != len(resolved):
        raise ValueError(f"--qat-weights: {len(qat)} given for {len(resolved)} --model entries (one each, '-' for none).")
    qat = [None if not q or q == "-" else q for q in qat] or [None] * len(resolved)
    for q in qat:
        if q is not None and not os.path.isfile(q):
            raise ValueError(f"--qat-weights {q}: file not found.")
    rows = []
    scratch = None
    out_dir = args.out
    if out_dir is None:
        scratch = tempfile.TemporaryDirectory(prefix="keras_sr_tflite_bench.")
        out_dir = scratch.name
    try:
        for (label, model), qat_weights in zip(resolved, qat):
            rows.extend(_benchmark_model(label, model, args, sizes, out_dir, log, qat_weights))
    finally:
        if scratch is not None:
            scratch.cleanup()
    return {"rows": rows, "threads": args.threads, "sizes": [f"{w}x{h}" for w, h in sizes],
            "datasets": [dataset_name(folder) for folder in args.data], "repeats": args.repeats,
            "machine": f"{platform.machine()} {platform.processor() or ''}".strip(), "cpu_count": os.cpu_count(),
            "representative_data": args.representative_data or "embedded scikit-image photographs"}


def _is_registered_only(reference):
    return presets.get_preset(reference) is None and reference in models.list_models()


def format_table(result):
    """Markdown table: model, variant, KB, PSNR (delta to Keras) per dataset, median ms per size."""
    datasets, sizes = result["datasets"], result["sizes"]
    lines = [f"TFLite variants: PSNR (dB) on Y, border = scale, (difference to Keras); median invoke latency, "
             f"{result['threads']} thread(s), LR input WIDTHxHEIGHT",
             "| model | variant | size (KB) | " + " | ".join(f"{d} PSNR (Δ)" for d in datasets) + " | "
             + " | ".join(f"{s} (ms)" for s in sizes) + " |",
             "|---|---|---|" + "---|" * (len(datasets) + len(sizes))]
    for row in result["rows"]:
        cells = [row["model"], row["variant"], f"{row['file_kb']:.1f}"]
        for d in datasets:
            cells.append(f"{row['psnr'][d]:.2f} ({row['psnr_delta'][d]:+.2f})")
        for s in sizes:
            ms = row["latency_ms"][s]
            cells.append("-" if ms is None else f"{ms:.1f}")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def run(args):
    result = measure(args)
    print(format_table(result))
    if args.json:
        atomic_write_text(args.json, json.dumps(result, indent=2))
    return result
