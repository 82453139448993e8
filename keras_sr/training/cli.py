"""Command line of every recipe (`python -m recipes.<name>`) and of `keras-sr train <name>`.

`recipe_main(EDSRRecipe)` gives a recipe module its `main()`: the flags are
generated from the recipe dataclass (`--patch-size`, `--steps`, ...; help
shows the default), plus the run options `--data`, `--val-data`, `--out`,
`--resume`, `--strategy`, `--init`, `--tflite`, `--no-export`, `--config`. With
no `--data` the recipe's CPU demo budget applies (`Recipe.demo_defaults`), and
`--init` defaults to the shipped preset when there is one. `--config FILE` (a
JSON override file, e.g. the `best_config.json` of `python -m tools.tune`;
format: `keras_sr.training.recipe.read_overrides`) applies after the demo
budget and before the flags, so explicit flags still win.

After training it writes the exports (SavedModel, TFLite) and the comparison
PNG into the run directory and prints held-out PSNR/SSIM beside bicubic.

Example:
    $ python -m recipes.edsr --scale 4                       # CPU demo on the embedded images
    $ python -m recipes.edsr --scale 2 --data T91/HR BSD200/HR --steps 300000 --out runs/edsr_x2
    $ keras-sr train edsr --scale 4 --resume --out runs/edsr_x2
    $ python -m recipes.fsrcnn --config runs/tune_fsrcnn_x3/best_config.json --data T91/HR --steps 200000
"""

import argparse
import dataclasses
import glob
import importlib
import json
import os
import sys
import typing
from keras_sr.data.sources import resolve_data, load_validation_pairs, DataSourceError
from keras_sr.data_errors import data_error_line
from keras_sr.export.arbitrary_scale import convert_tflite, export_query_saved_model
from keras_sr.export.saved_model import export_saved_model
from keras_sr.export.tflite import convert_saved_model, tflite_filename
from keras_sr.fileio import atomic_write_text
from keras_sr.image_io import save_image, ImageError
from keras_sr.models import presets
from keras_sr.models.query_inference import is_query_model
from keras_sr.models.weight_transfer import TransferFrom
from keras_sr.scoring import EVAL_JSON, evaluate_folders, format_table, results_to_json
from keras_sr.training.recipe import read_recipe_json, OverrideFileError, read_overrides
from keras_sr.training.report import comparison_image, format_scores
from keras_sr.upscalers import model_upscaler
from keras_sr import models

__all__ = ["RunSpec", "add_recipe_arguments", "add_recipe_field_arguments", "run_spec", "train_spec", "finish_run",
           "export_run", "benchmark_run", "recipe_from_args", "config_overrides", "run_recipe", "recipe_main",
           "add_arguments", "run"]

def _flag(name):
    return "--" + name.replace("_", "-")


def _scale_number(text):
    """A scale flag's value: an integer where it is one (x4 stays 4), else a real (2.5)."""
    value = float(text)
    return int(value) if value.is_integer() and "." not in text else value


def add_recipe_arguments(parser, recipe_cls):
    """Run options and one flag per recipe field (defaults None: the recipe decides)."""
    from keras_sr.training.distribution import STRATEGIES

    demo = recipe_cls.demo_defaults(4)
    run = parser.add_argument_group("run")
    run.add_argument("--data", nargs="+", default=None, metavar="PATH",
                     help="training data: image folders/files, a TFRecord manifest or shard pattern, an HDF5 or "
                          "patch-pair folder, or tfds:NAME (default: the embedded scikit-image photographs, "
                          "with the CPU demo budget)")
    run.add_argument("--val-data", nargs="+", default=None, metavar="PATH",
                     help="held-out validation images (default: held out from --data)")
    run.add_argument("--eval-data", nargs="+", default=None, metavar="DIR",
                     help="after training, score the final model on these HR folders with the evaluation protocol "
                          "(tools.evaluate) and write RUN/eval.json (tools.make_table turns runs into tables)")
    run.add_argument("--out", default=None, help="run directory (default: runs/<model>_x<scale>_<time>)")
    run.add_argument("--resume", action="store_true",
                     help="continue the run in --out (default: the newest runs/<model>_x<scale>_*) from its latest "
                          "checkpoint: weights, optimizer state and step counter")
    run.add_argument("--strategy", default="auto", choices=STRATEGIES,
                     help="distribution: TensorFlow MirroredStrategy / MultiWorkerMirroredStrategy (TF_CONFIG) / "
                          "TPUStrategy, JAX keras.distribution.DataParallel (default: auto = all local devices)")
    run.add_argument("--init", default=None, choices=("scratch", "preset"),
                     help="initial weights: the shipped preset or random (default: preset when no --data is "
                          "given and a preset exists, else scratch)")
    run.add_argument("--init-from", default=None, metavar="SOURCE",
                     help="start from another trained model: a preset name, a .keras file or a run directory; "
                          "every layer whose name and weight shapes match is copied, the rest keeps its random "
                          "initialization (EDSR's practice of starting x3/x4 from the x2 model; e.g. "
                          "--scale 2 --init-from edsr_baseline_x4 copies all but the upsampler)")
    run.add_argument("--tflite", default="float", choices=("float", "fp16", "dynamic", "int8", "none"),
                     help="TFLite file written after training: float32, float16 weights, dynamic-range (int8 "
                          "weights) or full-integer int8 calibrated on crops of the training images (default: float)")
    run.add_argument("--no-export", action="store_true", help="skip the SavedModel and TFLite exports")
    run.add_argument("--loader", default=None, choices=("tfdata", "pydataset", "device", "auto"),
                     help="input pipeline (default auto: tf.data on TensorFlow; on JAX/PyTorch the images on the "
                          "device when they fit (keras_sr.data.device_patches), else the PyDataset loader)")
    run.add_argument("--quiet", action="store_true", help="no progress bar (one line per epoch)")
    run.add_argument("--config", default=None, metavar="FILE",
                     help="JSON override file, e.g. the best_config.json of python -m tools.tune: its values replace "
                          "the recipe defaults and the demo budget, explicit flags still win (format: "
                          "keras_sr.training.recipe.read_overrides)")
    group = parser.add_argument_group("recipe (defaults: the paper's; in brackets: the CPU demo's when no --data)")

    def help_text(f, default):
        shown = f"default {default!r}" + (f" [{demo[f.name]!r}]" if f.name in demo else "")
        return f"{f.metadata.get('help', '')} ({shown})"

    add_recipe_field_arguments(group, recipe_cls, help_text)
    return parser


def add_recipe_field_arguments(group, recipe_cls, help_text=None):
    """One flag per settable recipe field (`--patch-size`, `--steps`, ...), default None: the recipe decides.

    `help_text(field, default)` gives each flag's help (default: the field's
    help and its default value).
    """
    hints = typing.get_type_hints(recipe_cls)
    for f, _ in recipe_cls.flag_fields():
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
        text = help_text(f, default) if help_text else f"{f.metadata.get('help', '')} (default {default!r})"
        choices = f.metadata.get("choices")
        if f.name == "mixed_precision":
            group.add_argument(_flag(f.name), nargs="?", const="auto", default=None, choices=choices,
                               help=text + "; the bare flag means auto (float16 on TF GPUs, else bfloat16)")
        elif hints[f.name] is bool:
            group.add_argument(_flag(f.name), action=argparse.BooleanOptionalAction, default=None, help=text)
        elif hints[f.name] is tuple:  # numbers: integers, or reals where the default holds one (scales)
            number = float if any(isinstance(v, float) for v in default) else int
            group.add_argument(_flag(f.name), nargs="*", type=_scale_number if f.name.endswith("scales") else number,
                               default=None, help=text)
        else:
            kind = hints[f.name] if hints[f.name] in (int, float, str) else str
            group.add_argument(_flag(f.name), type=kind, default=None, choices=choices, help=text)
    return group


def _latest_run(prefix, scale):
    pattern = os.path.join("runs", f"{prefix}_x{scale}_*")
    runs = sorted((p for p in glob.glob(pattern) if os.path.isdir(os.path.join(p, "checkpoints"))), key=os.path.getmtime)
    return runs[-1] if runs else None


def recipe_from_args(recipe_cls, args):
    """The resolved recipe: paper defaults -> per-scale rule -> demo budget (no --data) -> `--config FILE` -> flags.

    With `--resume`, the run's recorded recipe is the base and the config file and flags override it. The
    config file's `scale` applies when `--scale` is not given.
    """

    flags = {f.name: getattr(args, f.name) for f, _ in recipe_cls.flag_fields() if getattr(args, f.name) is not None}
    flags = {k: tuple(v) if isinstance(v, list) else v for k, v in flags.items()}  # tuple fields (nargs="*")
    config = config_overrides(recipe_cls, args)
    scale = flags.pop("scale", None)
    config_scale = config.pop("scale", None)
    if scale is None:
        scale = config_scale
    if args.resume:
        recorded = read_recipe_json(args.out) if args.out else None
        if recorded:
            base = recipe_cls.from_dict(recorded["recipe"])
            if scale is not None and int(scale) != base.scale:
                raise SystemExit(f"error: {args.out} was trained at x{base.scale}, --scale says x{scale}")
            return base.replace(**{**config, **flags})
    scale = int(scale or 4)
    overrides = {}
    if not args.data:
        overrides.update(recipe_cls.demo_defaults(scale))
    overrides.update(config)
    overrides.update(flags)
    return recipe_cls.for_scale(scale, **overrides)


def config_overrides(recipe_cls, args):
    """The `{field: value}` overrides of `--config FILE` (`{}` without it); a bad file exits naming it and the key."""

    path = getattr(args, "config", None)
    if not path:
        return {}
    try:
        return read_overrides(path, recipe_cls)
    except OverrideFileError as err:
        raise SystemExit(f"error: --config {err}") from None


def _init_weights(recipe, args, log):
    if getattr(args, "init_from", None):
        if args.init == "preset":
            raise SystemExit("error: --init preset and --init-from are exclusive: pick one starting point")
        return TransferFrom(args.init_from), f"from {args.init_from}"

    preset = presets.find_preset(recipe.model, recipe.scale, recipe.model_config().get("variant"),
                                 config=recipe.model_config())
    mode = args.init or ("preset" if (not args.data and preset is not None) else "scratch")
    if mode == "preset" and preset is None:
        if args.init == "preset":
            available = ", ".join(p.name for p in presets.list_presets()) or "none"
            raise SystemExit(f"error: --init preset: keras-sr ships no preset for {recipe.model} "
                             f"{recipe.model_config().get('variant', '')} x{recipe.scale} yet (available: {available}); "
                             "use --init scratch")
        mode = "scratch"
    if mode == "scratch" and args.init is None and not args.data:
        log(f"no preset is shipped for {recipe.model} x{recipe.scale} yet: training from scratch")
    return (preset if mode == "preset" else None), mode


@dataclasses.dataclass(frozen=True)
class RunSpec:
    """A recipe command, parsed once: the resolved recipe and the run options (what `run_recipe` trains).

    `init` is the initial weights (a preset, a `TransferFrom` or None), `mode` its label (preset, scratch,
    from SOURCE); `config` the `--config` overrides; `split` the resolved `--data` (None for RefSR,
    whose trainer reads its images itself).
    """

    recipe: object
    out: str
    data: object = None
    val_data: object = None
    eval_data: object = None
    resume: bool = False
    strategy: str = "auto"
    init: object = None
    mode: str = "scratch"
    tflite: str = "float"
    export: bool = True
    loader: object = None
    quiet: bool = False
    config: dict = dataclasses.field(default_factory=dict)
    split: object = None


def _refuse(recipe_cls, args):
    """`SystemExit` for a run option the recipe's trainer does not support (`Recipe.refuses`)."""
    refuses = recipe_cls.refuses
    if args.init == "preset" and "init_preset" in refuses:
        raise SystemExit(f"error: {refuses['init_preset']}")
    if getattr(args, "init_from", None) and "init_from" in refuses:
        raise SystemExit(f"error: {refuses['init_from']}")
    if args.strategy not in ("auto", "none") and "strategy" in refuses:
        raise SystemExit(f"error: {refuses['strategy'].format(strategy=args.strategy)}")
    if args.resume and not args.out and "resume_latest" in refuses:
        raise SystemExit(f"error: {refuses['resume_latest']}")


def run_spec(recipe_cls, args, log=print, recipe=None):
    """Parse the `recipe_main` args once into a frozen `RunSpec` (checks, `--resume` run, recipe, init, data).

    `recipe`: an already resolved recipe (e.g. the demo budget of `recipes.ttsr`).
    """
    from keras_sr.training.run import default_run_dir

    _refuse(recipe_cls, args)
    out = args.out
    if args.resume and not out:
        out = _latest_run(recipe_cls.run_prefix(), args.scale or 4)
        if out is None:
            raise SystemExit(f"error: --resume without --out and no earlier run under runs/{recipe_cls.run_prefix()}_x*")
        args = argparse.Namespace(**{**vars(args), "out": out})
    recipe = recipe or recipe_from_args(recipe_cls, args)
    config = config_overrides(recipe_cls, args)
    if config:
        log(f"config {args.config}: " + json.dumps(config, default=str))
    init, mode = None, "scratch"
    if recipe_cls.trainer == "fit":
        init, mode = _init_weights(recipe, args, log)
        if mode == "preset" and not args.data:  # fine-tuning a shipped preset: its short, low-lr demo budget
            recipe = recipe.replace(**{k: v for k, v in recipe_cls.finetune_defaults(recipe.scale).items()
                                       if getattr(args, k, None) is None and k not in config})
    recipe.check_files(resuming=bool(args.resume and out and os.path.isdir(os.path.join(out, "checkpoints"))))
    if getattr(recipe, "teacher", ""):
        from keras_sr.training.distillation import TeacherError, check_teacher_reference

        if recipe_cls.trainer != "fit":
            raise SystemExit(f"error: --teacher: distillation runs on the fit trainer; {recipe_cls.__name__} "
                             f"trains with the {recipe_cls.trainer} trainer")
        if models.get_spec(recipe.model).kind != "sisr":
            raise SystemExit(f"error: --teacher: distillation trains single-image SR students; {recipe.model} is "
                             f"{models.get_spec(recipe.model).kind.replace('_', '-')} SR")
        try:
            check_teacher_reference(recipe.teacher, recipe.teacher_weights)
        except TeacherError as err:
            raise SystemExit(f"error: {err}") from None
    out = out or default_run_dir(recipe, recipe.run_dir_name())
    log(f"run directory: {out}")
    log("recipe: " + json.dumps(recipe.to_dict(), default=str))
    split = resolve_data(args.data, args.val_data) if recipe_cls.trainer != "refsr" else None
    return RunSpec(recipe, out, data=args.data, val_data=args.val_data, eval_data=args.eval_data,
                   resume=bool(args.resume), strategy=args.strategy, init=init, mode=mode, tflite=args.tflite,
                   export=not args.no_export and recipe_cls.trainer != "refsr", loader=args.loader,
                   quiet=bool(args.quiet), config=config, split=split)


def _val_pairs(spec):
    recipe = spec.recipe
    return load_validation_pairs(spec.split.val, recipe.scale, max_images=recipe.val_images or None,
                                 skip_small=True) if spec.split.val else []


def train_spec(spec, log=print, model_hook=None):
    """Train a `RunSpec` with its recipe's trainer; returns `(result, val_pairs)` (val_pairs None for RefSR)."""
    recipe = spec.recipe
    common = dict(data=spec.data, val_data=spec.val_data, out=spec.out, resume=spec.resume, log=log)
    if recipe.trainer == "refsr":
        from keras_sr.training.refsr import train_refsr

        return train_refsr(recipe, model_hook=model_hook, verbose=0 if spec.quiet else 1, **common), None
    val_pairs = _val_pairs(spec)
    if recipe.trainer == "gan":
        from keras_sr.training.gan import train_gan

        return train_gan(recipe, val_pairs=val_pairs, split=spec.split, loader=spec.loader, verbose=1,
                         **common), val_pairs
    from keras_sr.training.engine import train

    return train(recipe, strategy=spec.strategy, init_weights=spec.init, val_pairs=val_pairs, split=spec.split,
                 loader=spec.loader, verbose=2 if spec.quiet else "auto", **common), val_pairs


def _preset_scores(preset, val_pairs, scale, log):
    """The shipped preset's held-out PSNR/SSIM before any training (None without held-out pairs)."""
    from keras_sr.training.validation import evaluate_pairs

    if not val_pairs:
        return None
    scores = evaluate_pairs(presets.load_preset(preset), val_pairs, scale)
    log(f"{preset.name} preset before fine-tuning: {scores['psnr']:.2f} dB / {scores['ssim']:.4f} on the held-out "
        "images")
    return scores


def export_run(result, spec, log, representative_data=None):
    """SavedModel and TFLite (`spec.tflite`) exports of `RUN/final.keras`; a failure is logged, not raised."""

    paths = {}
    saved = os.path.join(result.run_dir, "saved_model")
    try:
        if is_query_model(result.model):  # (image, scale) signature; TFLite float from the single-call graph

            paths["saved_model"] = export_query_saved_model(result.model, saved)
            if spec.tflite != "none":
                graph = export_query_saved_model(result.model, os.path.join(result.run_dir, "saved_model_tflite"),
                                                 row_by_row=False)
                paths["tflite"] = convert_tflite(graph, os.path.join(result.run_dir, "model_float.tflite"))
            return paths
        export_saved_model(os.path.join(result.run_dir, "final.keras"), saved)
        paths["saved_model"] = saved
        if spec.tflite != "none":
            paths["tflite"] = convert_saved_model(saved, os.path.join(result.run_dir, tflite_filename(spec.tflite)),
                                                  spec.tflite, representative_data=representative_data)
    except Exception as err:  # noqa: BLE001 - the trained model is saved; say what failed and go on
        log(f"export failed ({type(err).__name__}: {err}); the model is in {result.run_dir}/final.keras")
    return paths


def _comparison(result, val_pairs, label):
    from keras_sr.training.validation import predict_image

    if not val_pairs:
        return None
    lr, hr = val_pairs[0]
    sr = predict_image(result.model, lr, result.recipe.scale)
    panel = comparison_image(lr, hr, sr, result.recipe.scale, labels=("LR (nearest)", "bicubic", label, "HR"))
    path = os.path.join(result.run_dir, "comparison.png")
    save_image(path, panel)
    return path


def benchmark_run(result, folders, log):
    """Score the final model on HR folders (the evaluation protocol) and write `RUN/eval.json`."""

    scale = result.recipe.scale
    scales = list(getattr(result.recipe, "eval_scales", ()) or [scale])  # arbitrary-scale recipes: several
    upscaler = model_upscaler(result.model, None if len(scales) > 1 else scale)
    results = evaluate_folders(upscaler, folders, scales, log=log)
    atomic_write_text(os.path.join(result.run_dir, EVAL_JSON), json.dumps(results_to_json(results), indent=2))
    label = "/".join(f"x{s}" for s in scales)
    print(format_table(results, title=f"{result.recipe.model} {label} (final weights): PSNR / SSIM on Y"))
    return results


def finish_run(spec, result, val_pairs, log=print):
    """After training: exports, `--eval-data` scores, the comparison PNG, the held-out table, the file list."""
    recipe = result.recipe
    scale = recipe.scale
    # int8 TFLite calibrates on crops of the training images (image sources; else the embedded photographs)
    representative = list(spec.split.train) if spec.split is not None and spec.split.kind == "images" else None
    paths = export_run(result, spec, log, representative) if spec.export else {}
    if spec.eval_data and recipe.trainer != "refsr":
        benchmark_run(result, spec.eval_data, log)

    files = ["recipe.json", "checkpoints/", "final.keras", "final.weights.h5"]
    if recipe.trainer == "refsr":
        name = f"{recipe.model.upper()} {recipe.variant} ({result.steps} steps)"
        title = (f"Held-out images ({len(result.final.get('images', []))}), x{scale}, PSNR/SSIM on Y, border {scale}, "
                 "seeded synthetic references:")
        files += ["discriminator.weights.h5"] if recipe.uses_critic else []
    elif recipe.trainer == "gan":
        label = type(recipe).run_name.upper()
        name = f"{label} ({result.steps} steps)"
        title = (f"Held-out images ({len(val_pairs)}), x{scale}, PSNR/SSIM on Y, border {scale} (a GAN trades PSNR "
                 "for texture; no perceptual metric is computed):")
        files += ["discriminator.weights.h5"] if recipe.discriminator else []
    else:
        label = recipe.model.upper()
        name = f"{label} ({spec.mode}, {result.steps} steps)"
        if getattr(recipe, "teacher", ""):
            name = f"{label} ({spec.mode}, {result.steps} steps, distilled from {recipe.teacher})"
        title = f"Held-out images ({len(val_pairs)}), x{scale}, PSNR/SSIM on Y, border {scale}:"
    comparison = _comparison(result, val_pairs, label) if val_pairs else None
    preset = spec.init if spec.mode == "preset" and recipe.trainer == "fit" else None
    before = _preset_scores(preset, val_pairs, scale, log) if preset is not None else None
    rows = {"bicubic": result.bicubic}
    if before is not None:
        rows[f"{preset.name} preset, before fine-tuning"] = before
    rows[name] = result.final
    print()
    print(format_scores(rows, title=title))
    if val_pairs and recipe.trainer == "fit":
        print(f"{label} vs bicubic: {result.final['psnr'] - result.bicubic['psnr']:+.2f} dB")
        if before is not None:
            # The gain over bicubic is the shipped preset's; the short fine-tune is shown on its own.
            print(f"the {preset.name} preset alone: {before['psnr'] - result.bicubic['psnr']:+.2f} dB over bicubic; "
                  f"this run's {result.steps} fine-tuning steps: {result.final['psnr'] - before['psnr']:+.2f} dB")
    files += (["saved_model/"] if "saved_model" in paths else []) + \
        ([os.path.basename(paths["tflite"])] if "tflite" in paths else []) + (["comparison.png"] if comparison else [])
    print(f"run directory: {spec.out}  ({', '.join(files)}); wall time {result.seconds / 60:.1f} min")
    return paths


def run_recipe(recipe_cls, args, log=print, recipe=None, model_hook=None):
    """Train from parsed args (`run_spec`, `train_spec`, `finish_run`); returns the `TrainResult`.

    `recipe`: an already resolved recipe; `model_hook(model)`: RefSR only, called before training.
    """
    spec = run_spec(recipe_cls, args, log, recipe=recipe)
    result, val_pairs = train_spec(spec, log, model_hook=model_hook)
    finish_run(spec, result, val_pairs, log)
    return result


def recipe_main(recipe_cls, prog=None, run=None, user_errors=()):
    """`main(argv=None)` for a recipe module.

    `run(recipe_cls, args)` trains (default `run_recipe`, which picks the recipe's trainer); `ImageError`,
    `DataSourceError` and the exception types in `user_errors` print `error: ...` and return exit code 2.
    """

    def main(argv=None):
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # before TensorFlow loads: no C++ INFO/WARNING lines
        parser = argparse.ArgumentParser(prog=prog or f"recipes.{recipe_cls.model_name()}",
                                         description=recipe_cls.describe(),
                                         formatter_class=argparse.RawDescriptionHelpFormatter)
        add_recipe_arguments(parser, recipe_cls)
        args = parser.parse_args(argv)
        from keras_sr.training.checkpoint import CheckpointError
        from keras_sr.training.distillation import TeacherError
        from keras_sr.training.perceptual import MissingVGGWeights

        try:
            (run or run_recipe)(recipe_cls, args)
        except (ImageError, DataSourceError, MissingVGGWeights, CheckpointError, TeacherError, *user_errors) as err:
            print(f"error: {err}", file=sys.stderr)
            return 2
        except Exception as err:  # noqa: BLE001 - a corrupt record / HDF5 file met in training: one line
            line = data_error_line(err)
            if line is None:
                raise
            print(f"error: {line}", file=sys.stderr)
            return 2
        return 0

    return main


# `keras-sr train <recipe> [flags]` --------------------------------------------------------


def add_arguments(parser):
    parser.add_argument("recipe", help="recipe name, a module of keras_sr.recipes (e.g. edsr)")
    parser.add_argument("flags", nargs=argparse.REMAINDER, help="the recipe's flags (keras-sr train edsr --help)")
    return parser


def run(args):
    try:
        module = importlib.import_module(f"keras_sr.recipes.{args.recipe}")
    except ModuleNotFoundError as err:
        raise SystemExit(f"error: no recipe {args.recipe!r} (keras_sr.recipes.{args.recipe}): {err}") from err
    code = module.main(args.flags)
    if code:
        raise SystemExit(code)
