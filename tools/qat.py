"""Quantization-aware fine-tuning for full-integer int8 TFLite: `python -m tools.qat --model espcn_x3 --out DIR`.

    python -m tools.qat --model espcn_x3 --data ../shared/data/T91/HR --steps 2000 --out ../runs/qat_espcn_x3 \\
        --eval-data ../shared/data/Set5/HR ../shared/data/Set14/HR

Starts from a trained float model (a preset name, or a `.keras` file),
calibrates the int8 ranges on `--representative-data` (default `--data`)
exactly as the TFLite converter does, fine-tunes with fake quantization
(`keras_sr.export.quantization_aware`) on the recipe's patches and loss
(`keras_sr.recipes.<model>`, batches from `keras_sr.training.data`; Adam,
cosine decay from `--learning-rate` to a tenth of it), then writes into `--out`:

* `final.weights.h5`, `model.json`, `recipe.json`, `summary.json`,
  `eval.json` (the fine-tuned float model's PSNR/SSIM; the files
  `tools.make_preset --run DIR` reads);
* `ptq/` and `qat/`: SavedModel and `model_int8.tflite` of the float model
  before and after fine-tuning (`keras_sr.export.tflite`, calibrated on the
  same representative data);
* `qat.json`: the table below as numbers.

and prints PSNR on Y (border = scale, the evaluation protocol of
`keras_sr.evaluation`) per `--eval-data` folder for: float before,
int8 PTQ (TFLite), the QAT simulation before and after fine-tuning (Keras),
float after fine-tuning, and int8 after QAT (TFLite).
"""

import argparse
import json
import os
import sys
import time

from keras_sr.benchmarks.tflite import tflite_upscaler
from keras_sr.data.sources import resolve_data
from keras_sr.export.saved_model import export_saved_model
from keras_sr.export.tflite import convert_saved_model, make_interpreter, representative_inputs
from keras_sr.fileio import atomic_write_text
from keras_sr.image_io import dataset_name
from keras_sr.models import loading, presets
from keras_sr.models.loading import write_model_json
from keras_sr.scoring import evaluate_folders
from keras_sr.training.recipe import write_recipe_json
from keras_sr.upscalers import model_upscaler


__all__ = ["main", "build_parser"]


def build_parser():
    parser = argparse.ArgumentParser(prog="tools.qat", description=__doc__.split("\n")[0])
    parser.add_argument("--model", required=True, help="a preset name (e.g. espcn_x3) or a .keras file")
    parser.add_argument("--init-weights", default=None,
                        help="start fine-tuning from these weights (e.g. an earlier run's final.weights.h5); the "
                             "'float before' and 'int8 PTQ' rows stay those of --model")
    parser.add_argument("--data", nargs="+", default=None, help="training images (default: the embedded photographs)")
    parser.add_argument("--representative-data", nargs="+", default=None,
                        help="HR images calibrating int8, for QAT and the converter (default: --data)")
    parser.add_argument("--representative-samples", type=int, default=64, help="calibration crops (default 64)")
    parser.add_argument("--eval-data", nargs="+", default=[], help="HR folders for the PSNR table (Set5/HR Set14/HR)")
    parser.add_argument("--steps", type=int, default=2000, help="fine-tuning steps (default 2000)")
    parser.add_argument("--learning-rate", type=float, default=1e-4, help="initial Adam learning rate (default 1e-4)")
    parser.add_argument("--batch-size", type=int, default=None, help="batch size (default: the recipe's)")
    parser.add_argument("--range-mode", choices=("frozen", "ema"), default="frozen",
                        help="activation ranges while training: frozen at calibration, or EMA of batch min/max")
    parser.add_argument("--recalibrate-every", type=int, default=0,
                        help="re-calibrate the ranges on the representative crops every N steps (0: never)")
    parser.add_argument("--tanh-bound", type=float, default=0.0,
                        help="range target +-B for tensors before a tanh (0: none), kept by --range-penalty")
    parser.add_argument("--range-penalty", type=float, default=10.0,
                        help="weight of the squared excess beyond the range targets (default 10)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2, help="TFLite interpreter threads (default 2)")
    parser.add_argument("--out", required=True, help="run folder")
    return parser


def _model_and_meta(reference):
    """`(label, float model, registry name, builder config)` of a preset or a keras-sr `.keras` file."""
    preset = presets.get_preset(reference)
    if preset is not None:
        return preset.name, presets.load_preset(preset), preset.model, dict(preset.config)
    if reference.endswith(".keras") and os.path.isfile(reference):
        model = loading.load_model(reference)
        if getattr(model, "registered_name", None):  # a keras_sr.models.SRModel describes itself
            return (os.path.splitext(os.path.basename(reference))[0], model, model.registered_name,
                    model.model_config)
        meta = os.path.join(os.path.dirname(reference), "model.json")
        if not os.path.isfile(meta):
            raise ValueError(f"{reference}: no model.json beside it (the registry name and config of the model).")
        with open(meta, encoding="utf-8") as f:
            info = json.load(f)
        return os.path.splitext(os.path.basename(reference))[0], model, info["name"], dict(info["config"])
    available = ", ".join(p.name for p in presets.list_presets())
    raise ValueError(f"--model {reference!r}: not a preset ({available}) or a .keras file.")


def _psnr_rows(upscalers, folders, scale, log):
    table = {}
    for label, upscaler in upscalers:
        log(f"PSNR: {label}")
        results = evaluate_folders(upscaler, folders, [scale], y_only=True)
        table[label] = {name: per[scale]["psnr"] for name, per in results.items()}
    return table, [dataset_name(f) for f in folders]


def _int8(model, folder, representative, samples, threads, label):
    os.makedirs(folder, exist_ok=True)
    saved = export_saved_model(model, os.path.join(folder, "saved_model"))
    path = convert_saved_model(saved, os.path.join(folder, "model_int8.tflite"), "int8",
                               representative_data=representative, representative_samples=samples)
    return path, tflite_upscaler(make_interpreter(path, num_threads=threads), int(model.input_shape[-1]), label)


def format_table(table, datasets, reference="float before"):
    lines = ["| model | " + " | ".join(f"{d} PSNR (Δ vs float before)" for d in datasets) + " |",
             "|---|" + "---|" * len(datasets)]
    for label, row in table.items():
        cells = [f"{row[d]:.2f} ({row[d] - table[reference][d]:+.2f})" for d in datasets]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def run(args, log=print):
    import keras

    from keras_sr.export.quantization_aware import QuantizationAwareModel, fine_tune, float_model_from
    from keras_sr.training.data import make_train_data
    from keras_sr.tuning import find_recipe

    keras.utils.set_random_seed(args.seed)
    label, model, name, config = _model_and_meta(args.model)
    scale, channels = int(config["scale"]), int(model.input_shape[-1])
    representative = args.representative_data or args.data
    os.makedirs(args.out, exist_ok=True)
    recipe = find_recipe(name).for_scale(scale, steps=args.steps, batch_size=args.batch_size,
                                         learning_rate=args.learning_rate, ema_decay=0.0, seed=args.seed)
    if hasattr(recipe, "d"):  # FSRCNN-like recipes carry the builder's config
        recipe = recipe.replace(**{k: v for k, v in config.items() if k in recipe.to_dict() and k != "scale"})

    crops = representative_inputs(representative, scale, channels, samples=args.representative_samples)
    qat = QuantizationAwareModel(model, range_mode=args.range_mode,
                                 range_penalty=args.range_penalty if args.tanh_bound else 0.0)
    qat.calibrate(crops)
    if args.tanh_bound:
        log(f"range targets: {qat.saturation_targets(args.tanh_bound)}")
    log(f"{label}: {len(qat.range_names)} int8 tensors calibrated on {len(crops)} crops")
    before = float_model_from(model, name, config)  # a copy: fine-tuning changes `model` in place
    if args.init_weights:
        if not os.path.isfile(args.init_weights):
            raise ValueError(f"--init-weights {args.init_weights}: file not found.")
        model.load_weights(args.init_weights)
        qat.calibrate(crops)
        log(f"fine-tuning starts from {args.init_weights}")
    if args.tanh_bound:
        log(f"range targets: {qat.saturation_targets(args.tanh_bound)}")

    upscalers = [("float before", model_upscaler(before, label="float before"))]
    ptq_path = None
    if args.eval_data:
        ptq_path, ptq = _int8(before, os.path.join(args.out, "ptq"), representative, args.representative_samples,
                              args.threads, "int8 PTQ")
        upscalers += [("int8 PTQ (TFLite)", ptq), ("QAT simulation before", model_upscaler(qat, scale, "qat"))]
        table, datasets = _psnr_rows(upscalers, args.eval_data, scale, log)
    split = resolve_data(args.data, None, val_split=0)
    train = make_train_data(split, recipe, seed=args.seed, steps_per_epoch=min(args.steps, 100), log=log)
    start = time.perf_counter()
    history = fine_tune(qat, train, args.steps, args.learning_rate, recipe.loss,
                        recalibrate_every=args.recalibrate_every, calibration=crops, log=log)
    seconds = time.perf_counter() - start
    log(f"fine-tuned {args.steps} steps in {seconds / 60:.1f} min")
    after = float_model_from(qat, name, config)
    after.save_weights(os.path.join(args.out, "final.weights.h5"))
    write_model_json(args.out, name, config)
    write_recipe_json(args.out, recipe, config, extra={"data": [os.path.abspath(d) for d in (args.data or [])],
                                                     "qat": {"from": label, "init_weights": args.init_weights, "range_mode": args.range_mode,
                                                             "recalibrate_every": args.recalibrate_every,
                                                             "tanh_bound": args.tanh_bound,
                                                             "range_penalty": args.range_penalty,
                                                             "learning_rate": args.learning_rate}})
    atomic_write_text(os.path.join(args.out, "summary.json"),
                      json.dumps({"steps": args.steps, "seconds": seconds, "loss": history}, indent=2))
    qat_path = None
    result = {"model": label, "steps": args.steps, "minutes": seconds / 60, "command": sys.argv,
              "ranges_after": qat.range_values()}
    if args.eval_data:
        simulated = {"QAT simulation after": model_upscaler(qat, scale, "qat")}
        qat_path, qat_int8 = _int8(after, os.path.join(args.out, "qat"), representative,
                                   args.representative_samples, args.threads, "int8 QAT")
        more, _ = _psnr_rows([("QAT simulation after", simulated["QAT simulation after"]),
                              ("float after QAT", model_upscaler(after, label="float after")),
                              ("int8 QAT (TFLite)", qat_int8)], args.eval_data, scale, log)
        table.update(more)
        result.update({"datasets": datasets, "psnr": table, "ptq_tflite": ptq_path, "qat_tflite": qat_path})
        _write_eval(args.out, after, args.eval_data, scale)
        print(format_table(table, datasets))
    atomic_write_text(os.path.join(args.out, "qat.json"), json.dumps(result, indent=2, default=str))
    return result


def _write_eval(out, model, folders, scale):
    """`eval.json` of the fine-tuned float model, in `tools.evaluate --json`'s layout (read by make_preset)."""
    results = evaluate_folders(model_upscaler(model), folders, [scale], y_only=True)
    metrics = {name: {str(s): {k: v for k, v in r.items() if k in ("psnr", "ssim", "n_images")}
                      for s, r in per.items()} for name, per in results.items()}
    atomic_write_text(os.path.join(out, "eval.json"), json.dumps(metrics, indent=2, default=float))


def main(argv=None):
    args = build_parser().parse_args(argv)
    try:
        run(args, log=lambda msg: print(msg, file=sys.stderr, flush=True))
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
