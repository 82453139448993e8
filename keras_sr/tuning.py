"""Hyperparameter search over a recipe's declared space with keras-tuner: `python -m tools.tune`.

Each recipe that can be tuned declares its space as `Recipe.search_space(hp)`
(overrides such as FSRCNN's `d`, `s`, `m`, `learning_rate`, drawn from a
`keras_tuner.HyperParameters`). The search itself is keras-tuner's: one of its
oracles (`RandomSearchOracle`, `HyperbandOracle`, `BayesianOptimizationOracle`,
the ones behind `keras_tuner.RandomSearch`, `Hyperband` and
`BayesianOptimization`) proposes the values, and `EngineTuner`, a
`keras_tuner.Tuner` whose `run_trial` calls the training engine
(`keras_sr.training.engine.train`) instead of `model.fit`, trains each trial:

* the trial's recipe is the recipe resolved like `python -m recipes.<name>`
  (paper defaults -> per-scale rule -> demo budget without `--data` ->
  `--config FILE` -> flags), then the trial's values, then the step budget
  (`--steps`, validation and checkpoint at the end);
* Hyperband's epoch budget maps to steps: a trial at `tuner/epochs = e`
  trains `round(steps * e / max_epochs)` steps in all; a trial that continues
  an earlier one (`tuner/trial_id`) starts from that trial's final weights
  and trains the remaining steps (a fresh optimizer, as keras-tuner's own
  `Hyperband` does with `initial_epoch`);
* the objective is the validation PSNR (or SSIM) of the final weights on the
  held-out images by the evaluation protocol, `TrainResult.final`, maximized:
  `keras_tuner.Objective("val_psnr", "max")`;
* the data is resolved once (`resolve_data`, `load_validation_pairs`; image
  folders are written into TFRecord shards once on TensorFlow) and every
  trial reads the same batches source and validation pairs.

Layout of `--out DIR` (default `runs/tune_<model>_x<scale>_<time>`):
`DIR/search/` holds keras-tuner's project (`oracle.json`, `tuner0.json`) and
one run directory per trial (`trial_<id>/`: keras-tuner's `trial.json` beside
the engine's `recipe.json`, `log.csv`, `final.keras`, `summary.json`, ...);
`DIR/trials.md` is the table of trials and `DIR/best_config.json` the best
configuration. Running again with the same `--out` continues the search
(keras-tuner reloads its project); `--overwrite` starts over.

Override file (`best_config.json`, read by `python -m recipes.<name> --config FILE`,
format of `keras_sr.training.recipe.read_overrides`):

    {"recipe": "fsrcnn", "scale": 3,
     "overrides": {"d": 32, "s": 12, "m": 2, "learning_rate": 0.0012},
     "search": {"tuner": "random", "objective": "val_psnr", "trial": "1", "val_psnr": 27.4, ...}}

`overrides` holds the best trial's searched values (named after recipe
fields); the recipe CLI applies them over its defaults and demo budget and
below explicit flags, and `scale` when `--scale` is not given. `search`
records where they come from and is not applied.

Example:
    $ python -m tools.tune --recipe fsrcnn --scale 3 --max-trials 8 --tuner random --steps 300
    $ python -m tools.tune --recipe fsrcnn --scale 3 --tuner hyperband --max-epochs 9 --steps 900 \\
          --data ../shared/data/T91/HR --val-data ../shared/data/Set5/HR --out runs/tune_fsrcnn_x3
    $ python -m recipes.fsrcnn --config runs/tune_fsrcnn_x3/best_config.json --data ../shared/data/T91/HR
    >>> result = search(FSRCNNRecipe, FSRCNNRecipe.for_scale(3, steps=50), "random", max_trials=4, out="runs/t")
    >>> print(format_trials(result.rows, result.names)); result.best_overrides
"""

import argparse
import dataclasses
import importlib
import inspect
import os
import sys
import time
import warnings

try:
    import keras_tuner
except ImportError as err:  # keras-tuner is the optional `tune` extra
    raise ImportError("keras_sr.tuning (python -m tools.tune) needs keras-tuner: "
                      "pip install 'keras-sr[tune]' (or keras-tuner>=1.4)") from err

import keras

from keras_sr.data.sources import DataSplit, load_validation_pairs, resolve_data
from keras_sr.fileio import atomic_write_text
from keras_sr.image_io import ImageError
from keras_sr.training.cli import add_recipe_field_arguments, recipe_from_args
from keras_sr.training.data import default_loader, make_train_data, shard_images
from keras_sr.training.distribution import STRATEGIES
from keras_sr.training.engine import train
from keras_sr.training.recipe import Recipe, write_overrides

__all__ = ["TUNERS", "OBJECTIVES", "RecipeHyperModel", "EngineTuner", "SearchResult", "find_recipe", "space_names",
           "make_oracle", "search", "trial_rows", "format_trials", "write_best_config", "build_parser", "main"]

TUNERS = ("random", "hyperband", "bayesian")
# Objective name -> key of `TrainResult.final` (scores of the final weights on the held-out images, Y channel).
OBJECTIVES = {"val_psnr": "psnr", "val_ssim": "ssim"}
BEST_CONFIG = "best_config.json"
TRIALS_TABLE = "trials.md"
PROJECT = "search"


def find_recipe(name):
    """The recipe class of `keras_sr.recipes.<name>` (e.g. `fsrcnn` -> `FSRCNNRecipe`)."""
    try:
        module = importlib.import_module(f"keras_sr.recipes.{name}")
    except ModuleNotFoundError as err:
        raise SystemExit(f"error: no recipe {name!r} (keras_sr.recipes.{name}): {err}") from None
    found = [obj for obj in vars(module).values()
             if inspect.isclass(obj) and issubclass(obj, Recipe) and obj.__module__ == module.__name__
             and obj.model_name() == name]
    if len(found) != 1:
        raise SystemExit(f"error: keras_sr.recipes.{name} defines {len(found)} recipes for model {name!r}, "
                         "expected one")
    return found[0]


def space_names(recipe_cls):
    """Names of the hyperparameters `recipe_cls.search_space` declares (raises when it declares none)."""
    hp = keras_tuner.HyperParameters()
    RecipeHyperModel(recipe_cls).build(hp)
    return [p.name for p in hp.space]


class RecipeHyperModel(keras_tuner.HyperModel):
    """keras-tuner's view of a recipe: `build(hp)` returns the recipe overrides of `search_space(hp)`, not a model.

    Example:
        >>> RecipeHyperModel(FSRCNNRecipe).build(keras_tuner.HyperParameters())
        {'d': 16, 's': 5, 'm': 1, 'learning_rate': 0.0001}
    """

    def __init__(self, recipe_cls):
        super().__init__(name=recipe_cls.model_name())
        self.recipe_cls = recipe_cls

    def build(self, hp):
        overrides = self.recipe_cls.search_space(hp)
        names = {f.name for f, _ in self.recipe_cls.flag_fields()}
        if not isinstance(overrides, dict) or not set(overrides) <= names:
            unknown = sorted(set(overrides) - names) if isinstance(overrides, dict) else overrides
            raise ValueError(f"{self.recipe_cls.__name__}.search_space must return {{field: value}} of settable "
                             f"recipe fields; got unknown {unknown!r}")
        return dict(overrides)


class EngineTuner(keras_tuner.Tuner):
    """A `keras_tuner.Tuner` whose trials run `keras_sr.training.engine.train` (see the module docstring).

    Args:
        oracle: a keras-tuner oracle (`make_oracle`).
        recipe_cls: the recipe class; its `search_space` is the hypermodel.
        base: the resolved recipe every trial starts from.
        steps: step budget of a trial (Hyperband: of a trial at `max_epochs`).
        keep: field names given explicitly (their values are kept in every trial, e.g. `val_every`).
        train_kwargs: passed to `train` (strategy, loader, verbose, log).
        directory, project_name, overwrite: keras-tuner's project folder.

    `search(split=..., val_pairs=..., loader=...)` passes the data resolved once to every `run_trial`.
    """

    def __init__(self, oracle, recipe_cls, base, steps, keep=(), train_kwargs=None, **kwargs):
        self.recipe_cls = recipe_cls
        self.base = base
        self.steps = int(steps)
        self.keep = set(keep)
        self.train_kwargs = dict(train_kwargs or {})
        self.objective_key = OBJECTIVES[oracle.objective.name]
        super().__init__(oracle, hypermodel=RecipeHyperModel(recipe_cls), **kwargs)

    def trial_steps(self, epochs):
        """Steps of a trial at Hyperband budget `epochs` (None: the whole `steps`)."""
        if epochs is None:
            return self.steps
        return max(1, round(self.steps * int(epochs) / int(self.oracle.max_epochs)))

    def trial_recipe(self, hp, steps):
        """The base recipe with the trial's values and a budget of `steps` (validation/checkpoint at the end)."""
        values = self.hypermodel.build(hp)
        budget = {"steps": int(steps), "val_every": int(steps), "checkpoint_every": int(steps), "steps_per_epoch": 0}
        values.update({k: v for k, v in budget.items() if k not in self.keep})
        return self.base.replace(**values)

    def run_trial(self, trial, split, val_pairs, loader=None, **unused):  # `unused`: `search`'s verbose
        hp = trial.hyperparameters
        total = self.trial_steps(hp.values.get("tuner/epochs"))
        done, init = 0, None
        previous = hp.values.get("tuner/trial_id")
        if previous is not None:  # Hyperband: continue the earlier trial's model
            done = self.trial_steps(hp.values.get("tuner/initial_epoch"))
            init = os.path.join(self.get_trial_dir(previous), "final.weights.h5")
            if not os.path.isfile(init):
                raise keras_tuner.errors.FailedTrialError(f"trial {trial.trial_id} continues trial {previous}, "
                                                          f"whose weights {init} are missing")
        recipe = self.trial_recipe(hp, max(1, total - done))
        keras.backend.clear_session()
        train_data = make_train_data(split, recipe, seed=recipe.seed, steps_per_epoch=recipe.epoch_steps,
                                     loader=loader, log=self.train_kwargs.get("log"))
        with warnings.catch_warnings():
            # a continued Hyperband trial starts a fresh optimizer on purpose (as keras-tuner's Hyperband does)
            warnings.filterwarnings("ignore", message="Skipping variable loading for optimizer")
            result = train(recipe, out=self.get_trial_dir(trial.trial_id), init_weights=init, train_data=train_data,
                           val_pairs=val_pairs, loader=loader, tensorboard=False, image_summaries=False,
                           **self.train_kwargs)
        return {self.oracle.objective.name: float(result.final[self.objective_key]),
                "steps": float(done + result.steps), "seconds": float(result.seconds)}


def make_oracle(kind, objective="val_psnr", max_trials=10, seed=0, fixed=None, max_epochs=9, factor=3):
    """The keras-tuner oracle of `kind` (`random`, `hyperband`, `bayesian`), maximizing `objective`.

    `fixed` `{name: value}` pins hyperparameters of the space (keras-tuner's `hp.Fixed`). For Hyperband
    `max_trials` caps the trials (keras-tuner's Hyperband stops on its brackets alone otherwise). The same
    `seed` gives the same sequence of trials.

    Example:
        >>> oracle = make_oracle("hyperband", max_trials=20, seed=0, fixed={"m": 4}, max_epochs=9)
    """
    if objective not in OBJECTIVES:
        raise ValueError(f"unknown objective {objective!r}; choose from {', '.join(OBJECTIVES)}")
    hps = keras_tuner.HyperParameters()
    for name, value in (fixed or {}).items():
        hps.Fixed(name, value)
    goal = keras_tuner.Objective(objective, "max")
    # keras-tuner reads seed 0 as "unseeded" (a random seed): recipe seed K seeds the oracle with K + 1.
    common = dict(objective=goal, seed=int(seed) + 1, hyperparameters=hps)
    if kind == "random":
        return keras_tuner.oracles.RandomSearchOracle(max_trials=max_trials, **common)
    if kind == "bayesian":
        return keras_tuner.oracles.BayesianOptimizationOracle(max_trials=max_trials, **common)
    if kind == "hyperband":
        oracle = keras_tuner.oracles.HyperbandOracle(max_epochs=max_epochs, factor=factor, **common)
        oracle.max_trials = max_trials
        return oracle
    raise ValueError(f"unknown tuner {kind!r}; choose from {', '.join(TUNERS)}")


@dataclasses.dataclass
class SearchResult:
    """What `search` returns: the tuner, one row per trial (best first), the hyperparameter names, the best values."""

    tuner: object
    rows: list
    names: list
    best_overrides: dict
    best_row: dict
    out: str


def _resolve_data(base, data, val_data, loader, log):
    """`(split, val_pairs, loader)` resolved once for all trials; image folders become TFRecord shards on tf.data."""
    split = resolve_data(data, val_data)
    log(f"data: {split.description}")
    val_pairs = load_validation_pairs(split.val, base.scale, max_images=base.val_images or None,
                                      skip_small=True) if split.val else []
    if not val_pairs:
        raise SystemExit("error: the search scores trials on held-out images and there are none: give --val-data")
    log(f"held-out validation images: {len(val_pairs)}")
    loader = loader or default_loader()
    if split.kind == "images" and loader == "tfdata":
        shards = shard_images(split.train, base.scale, log)
        split = DataSplit(shards, split.val, "tfrecord", f"TFRecord shards of {split.description}: {shards}")
    return split, val_pairs, loader


def search(recipe_cls, base, tuner="random", max_trials=10, out=None, data=None, val_data=None, objective="val_psnr",
           fixed=None, keep=(), max_epochs=9, factor=3, overwrite=False, strategy="auto", loader=None, quiet=False,
           log=print):
    """Search `recipe_cls.search_space` from the resolved recipe `base` with keras-tuner; returns a `SearchResult`.

    Each trial trains `base.steps` steps (Hyperband: at most). `fixed` pins searched values, `keep` names fields
    whose `base` value the trial budget must not replace. The tuner's project is `out/search` (resumed unless
    `overwrite`). See the module docstring.
    """
    out = out or os.path.join("runs", f"tune_{base.model}_x{base.scale}_{time.strftime('%Y%m%d-%H%M%S')}")
    os.makedirs(out, exist_ok=True)
    split, val_pairs, loader = _resolve_data(base, data, val_data, loader, log)
    oracle = make_oracle(tuner, objective, max_trials, base.seed, fixed, max_epochs, factor)
    train_kwargs = dict(strategy=strategy, verbose=0 if quiet else "auto", log=None if quiet else log, data=data,
                        val_data=val_data)
    engine_tuner = EngineTuner(oracle, recipe_cls, base, base.steps, keep=keep, train_kwargs=train_kwargs,
                               directory=out, project_name=PROJECT, overwrite=overwrite)
    engine_tuner.search(split=split, val_pairs=val_pairs, loader=loader, verbose=0 if quiet else 1)
    names = space_names(recipe_cls)
    rows = trial_rows(engine_tuner, names)
    best = next((r for r in rows if r["status"] == "COMPLETED"), None)
    if best is None:
        messages = [r["message"] for r in rows if r.get("message")]
        raise RuntimeError(f"no trial of the search in {out} completed"
                           + (f"; the first error:\n{messages[0]}" if messages else ""))
    best_trial = engine_tuner.oracle.get_trial(best["trial"])
    overrides = engine_tuner.hypermodel.build(best_trial.hyperparameters)
    return SearchResult(engine_tuner, rows, names, overrides, best, out)


def trial_rows(tuner, names):
    """One dict per trial (trial, status, the hyperparameters, objective, steps, seconds), best first."""
    objective = tuner.oracle.objective.name
    rows = []
    for trial in tuner.oracle.trials.values():
        values = trial.hyperparameters.values
        metrics = {m: trial.metrics.get_last_value(m) if trial.metrics.exists(m) else None
                   for m in (objective, "steps", "seconds")}
        rows.append({"trial": trial.trial_id, "status": trial.status, **{n: values.get(n) for n in names},
                     "epochs": values.get("tuner/epochs"), "continues": values.get("tuner/trial_id"),
                     "objective": metrics[objective], "steps": metrics["steps"], "seconds": metrics["seconds"],
                     "message": (trial.message or "").strip() or None})
    done = [r for r in rows if r["status"] == "COMPLETED" and r["objective"] is not None]
    done.sort(key=lambda r: r["objective"], reverse=True)
    return done + [r for r in rows if r not in done]


def _cell(value):
    if value is None:
        return ""
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def format_trials(rows, names, objective="val_psnr"):
    """The trials as a markdown table, best first (as ordered by `trial_rows`).

    Example:
        | trial | d | s | m | learning_rate | val PSNR (dB) | steps | seconds |
        |---|---|---|---|---|---|---|---|
        | 1 | 32 | 12 | 2 | 0.0012 | 27.41 | 300 | 41.2 |
    """
    hyperband = any(r["epochs"] is not None for r in rows)
    label = {"val_psnr": "val PSNR (dB)", "val_ssim": "val SSIM"}.get(objective, objective)
    header = ["trial", *names, *(["epochs", "continues"] if hyperband else []), label, "steps", "seconds"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for r in rows:
        if r["status"] == "COMPLETED" and r["objective"] is not None:
            score = f"{r['objective']:.2f}" if objective == "val_psnr" else f"{r['objective']:.4f}"
        else:
            score = r["status"].lower()
        cells = [r["trial"], *(_cell(r[n]) for n in names),
                 *([_cell(r["epochs"]), _cell(r["continues"])] if hyperband else []), score,
                 "" if r["steps"] is None else str(int(r["steps"])),
                 "" if r["seconds"] is None else f"{r['seconds']:.1f}"]
        lines.append("| " + " | ".join(str(c) for c in cells) + " |")
    return "\n".join(lines)


def write_best_config(path, recipe_cls, result, tuner_kind, objective):
    """The best trial's values as an override file (`keras_sr.training.recipe.write_overrides`); returns `path`."""
    best = result.best_row
    record = {"tuner": tuner_kind, "objective": objective, "trial": best["trial"], objective: best["objective"],
              "steps": None if best["steps"] is None else int(best["steps"]), "seconds": best["seconds"],
              "trials": len(result.rows), "project": os.path.join(result.out, PROJECT),
              "backend": keras.backend.backend()}
    return write_overrides(path, recipe_cls, result.best_overrides, scale=result.tuner.base.scale, search=record)


# Command line ---------------------------------------------------------------------------------------------------


def _add_recipe_flags(parser, recipe_cls, searched):
    """One flag per settable recipe field, as `python -m recipes.<name>` has (defaults None: the recipe decides)."""
    group = parser.add_argument_group(
        f"{recipe_cls.__name__} fields (fixed for every trial; a searched field given here is pinned)")

    def help_text(f, default):
        if f.name == "steps":
            return ("step budget of each trial (Hyperband: of a trial at --max-epochs); default: the recipe's "
                    "demo budget without --data, else its paper length")
        return f"{f.metadata.get('help', '')} (default {default!r}" + (", searched)" if f.name in searched else ")")

    add_recipe_field_arguments(group, recipe_cls, help_text)


def build_parser(recipe_cls=None):
    """The `tools.tune` parser; with `recipe_cls`, also its field flags (`--scale`, `--steps`, `--batch-size`, ...)."""
    parser = argparse.ArgumentParser(prog="tools.tune", description=__doc__.split("\n\n")[0],
                                     epilog="python -m tools.tune --recipe NAME --help lists the recipe's fields.")
    parser.add_argument("--recipe", required=True, help="recipe name, a module of keras_sr.recipes (e.g. fsrcnn)")
    parser.add_argument("--tuner", default="random", choices=TUNERS,
                        help="keras-tuner search: RandomSearch, Hyperband or BayesianOptimization (default: random)")
    parser.add_argument("--max-trials", type=int, default=10, help="number of trials (default: 10)")
    parser.add_argument("--objective", default="val_psnr", choices=tuple(OBJECTIVES),
                        help="maximized score of the final weights on the held-out images (default: val_psnr)")
    parser.add_argument("--max-epochs", type=int, default=9,
                        help="hyperband: keras-tuner's max_epochs; a trial at e epochs trains steps * e / max_epochs "
                             "steps (default: 9)")
    parser.add_argument("--factor", type=int, default=3, help="hyperband: reduction factor (default: 3)")
    parser.add_argument("--data", nargs="+", default=None, metavar="PATH",
                        help="training data, as for the recipes (default: the embedded scikit-image photographs "
                             "with the demo budget)")
    parser.add_argument("--val-data", nargs="+", default=None, metavar="PATH",
                        help="held-out images that score the trials (default: held out from --data)")
    parser.add_argument("--out", default=None,
                        help="search folder (default: runs/tune_<model>_x<scale>_<time>); an existing one is resumed")
    parser.add_argument("--best-config", default=None, metavar="FILE",
                        help=f"where the best configuration goes (default: OUT/{BEST_CONFIG})")
    parser.add_argument("--config", default=None, metavar="FILE",
                        help="JSON override file applied to the recipe before the flags (as the recipes' --config)")
    parser.add_argument("--overwrite", action="store_true", help="start over instead of resuming the search in --out")
    parser.add_argument("--strategy", default="auto", choices=STRATEGIES, help="distribution of each trial")
    parser.add_argument("--loader", default=None, choices=("tfdata", "pydataset"),
                        help="input pipeline (default: tf.data on TensorFlow, PyDataset on JAX/PyTorch)")
    parser.add_argument("--quiet", action="store_true", help="only the table and the result lines")
    if recipe_cls is not None:
        try:
            searched = space_names(recipe_cls)
        except NotImplementedError:
            searched = []
        _add_recipe_flags(parser, recipe_cls, searched)
    return parser


def main(argv=None):
    """`python -m tools.tune ...`: search, print the table, write the best configuration; returns the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--recipe")
    known, _ = pre.parse_known_args(argv)
    recipe_cls = find_recipe(known.recipe) if known.recipe else None
    args = build_parser(recipe_cls).parse_args(argv)
    try:
        names = space_names(recipe_cls)
    except NotImplementedError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    args.resume = False
    base = recipe_from_args(recipe_cls, args)
    flags = {f.name for f, _ in recipe_cls.flag_fields() if getattr(args, f.name) is not None}
    fixed = {n: getattr(base, n) for n in names if n in flags}
    log = (lambda *_: None) if args.quiet else print
    log(f"searching {', '.join(n for n in names if n not in fixed)} of {recipe_cls.__name__} x{base.scale} with "
        f"keras-tuner ({args.tuner}, {args.max_trials} trials, {base.steps} steps each"
        + (", at most" if args.tuner == "hyperband" else "") + f", objective {args.objective})")
    try:
        result = search(recipe_cls, base, args.tuner, args.max_trials, args.out, args.data, args.val_data,
                        args.objective, fixed=fixed, keep=flags - {"steps"}, max_epochs=args.max_epochs,
                        factor=args.factor, overwrite=args.overwrite, strategy=args.strategy, loader=args.loader,
                        quiet=args.quiet, log=log)
    except (ImageError, ImportError, ValueError, RuntimeError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    table = format_trials(result.rows, result.names, args.objective)

    atomic_write_text(os.path.join(result.out, TRIALS_TABLE), table + "\n")
    path = write_best_config(args.best_config or os.path.join(result.out, BEST_CONFIG), recipe_cls, result,
                             args.tuner, args.objective)
    print()
    print(f"{recipe_cls.__name__} x{base.scale}, {len(result.rows)} trials ({args.tuner}), best first:")
    print(table)
    best = result.best_row
    print(f"best: trial {best['trial']}, {args.objective} {best['objective']:.4f}: {result.best_overrides}")
    print(f"best configuration: {path}  (python -m recipes.{base.model} --config {path} ...)")
    failed = [r for r in result.rows if r["status"] != "COMPLETED"]
    for r in failed:
        last = (r["message"] or "").splitlines()[-1:] or ["(no message)"]
        print(f"trial {r['trial']} {r['status'].lower()}: {last[0]}", file=sys.stderr)
    return 0
