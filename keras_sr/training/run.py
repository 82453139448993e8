"""A training run: its directory, records, seed, dtype policy, checkpoints, log and result.

Every trainer (`engine.train`, the custom loop of `keras_sr.training.loop`,
the contrastive stages) opens one `Run` and writes through it, so the run
folder layout is defined once:

* `recipe.json` (the resolved recipe, the model config, the command and the
  trainer's extra fields) and `model.json` (the registered model and config);
* `checkpoints/` (`keras_sr.training.checkpoint.CheckpointManager`: atomic
  `ckpt-<step>.weights.h5`, `best.weights.h5`, `checkpoints.json`);
* `log.csv` (one row per epoch, fixed columns) and `tensorboard/`;
* `final.keras` / `final.weights.h5` (the float32 inference model) and any
  other final weights files (e.g. `discriminator.weights.h5`);
* `summary.json`.

Example:
    >>> run = Run(recipe, out="runs/edsr_x4", resume=True)
    >>> run.write_records(recipe.model_config(), {"trainer": "fit"})
    >>> policy = run.seed_and_policy()
"""

import contextlib
import dataclasses
import json
import os
import time

import keras
from keras_sr.fileio import atomic_path, atomic_write_text
from keras_sr.models.loading import write_model_json
from keras_sr.training.checkpoint import CheckpointManager, save_weights_atomic
from keras_sr.training.recipe import write_recipe_json
from keras_sr.training.tensorboard import open_run_logger

__all__ = ["Run", "RunLogger", "CSVLog", "TrainResult", "default_run_dir", "resolve_policy", "dtype_policy",
           "NO_SCORES"]

NO_SCORES = {"psnr": float("nan"), "ssim": float("nan"), "images": []}


@dataclasses.dataclass
class TrainResult:
    """What a trainer returns: the run directory, the float32 inference model and the scores."""

    run_dir: str
    model: object
    train_model: object
    recipe: object
    steps: int
    seconds: float
    history: dict
    validation: list
    final: dict
    bicubic: dict
    distribution: str
    resumed_from: int = 0


def resolve_policy(mixed_precision):
    """Keras dtype policy name for the `mixed_precision` recipe field."""
    if mixed_precision in (None, "off", False):
        return "float32"
    if mixed_precision == "float16":
        return "mixed_float16"
    if mixed_precision == "bfloat16":
        return "mixed_bfloat16"
    # auto: float16 with loss scaling on TensorFlow GPUs, bfloat16 elsewhere (JAX GPUs, TPUs, CPUs).
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        if tf.config.list_physical_devices("GPU"):
            return "mixed_float16"
    return "mixed_bfloat16"


@contextlib.contextmanager
def dtype_policy(name):
    """Context manager: Keras' global dtype policy is `name` inside (e.g. "mixed_bfloat16"), restored after."""
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(name)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)


def default_run_dir(recipe, name=None):
    """`runs/<name>_x<scale>_<time>` (`name`: default the recipe's model)."""
    return os.path.join("runs", f"{name or recipe.model}_x{recipe.scale}_{time.strftime('%Y%m%d-%H%M%S')}")


class CSVLog:
    """`log.csv`: fixed `columns`, one row per `write` (`%.6g`, blank when missing), fsynced, appended on resume."""

    def __init__(self, path, columns):
        self.path = path
        self.columns = tuple(columns)

    def write(self, row):
        new = not os.path.isfile(self.path) or os.path.getsize(self.path) == 0
        with open(self.path, "a", encoding="utf-8") as f:
            if new:
                f.write(",".join(self.columns) + "\n")
            f.write(",".join("" if row.get(c) is None else f"{float(row[c]):.6g}" for c in self.columns) + "\n")
            f.flush()
            os.fsync(f.fileno())


class RunLogger:
    """The run's one logger: a `log.csv` row and TensorBoard scalars (`train/<key>`, `val/psnr`, `val/ssim`)."""

    def __init__(self, csv, board=None):
        self.csv = csv
        self.board = board

    def write(self, step, row, train_keys=()):
        self.csv.write(row)
        if self.board is not None:
            values = {f"train/{k}": row[k] for k in train_keys}
            values.update({f"val/{k[4:]}": row[k] for k in ("val_psnr", "val_ssim") if k in row})
            self.board.scalars(step, values)


class Run:
    """One run directory: records, seed and dtype policy, checkpoints, logger, final files and summary.

    Args:
        recipe: the resolved recipe (`keep_checkpoints`, `seed`, `mixed_precision` are read).
        out: run directory (None: `default_run_dir(recipe, name)`).
        resume: continue from the latest checkpoint when there is one (`resuming` says whether there was).
        name: the default directory's prefix (default the recipe's model).
        log: `callable(str)` (None: silent).
    """

    def __init__(self, recipe, out=None, resume=False, name=None, log=print):
        self.recipe = recipe
        self.log = log or (lambda *_: None)
        self.start = time.perf_counter()
        self.dir = out or default_run_dir(recipe, name)
        os.makedirs(self.dir, exist_ok=True)
        self.checkpoints = CheckpointManager(self.path("checkpoints"), keep=recipe.keep_checkpoints)
        self.resuming = bool(resume) and self.checkpoints.latest_path() is not None
        if resume and not self.resuming:
            self.log(f"--resume: no checkpoint in {self.dir}/checkpoints, starting from scratch")
        self.policy = None

    def path(self, *names):
        return os.path.join(self.dir, *names)

    @property
    def seconds(self):
        return time.perf_counter() - self.start

    def write_records(self, model_config, extra):
        """`recipe.json` (with `extra`) and `model.json` of `recipe.model` at `model_config`."""

        write_recipe_json(self.dir, self.recipe, model_config, extra=extra)
        write_model_json(self.dir, self.recipe.model, model_config)

    def seed_and_policy(self, float16=True, trainer="this trainer"):
        """Seed Keras with `recipe.seed` and resolve the dtype policy; float16 refused unless `float16`."""
        keras.utils.set_random_seed(self.recipe.seed)
        self.policy = resolve_policy(self.recipe.mixed_precision)
        if self.policy == "mixed_float16" and not float16:
            raise ValueError(f"{trainer} supports mixed_precision off or bfloat16 (float16 would need a loss scale "
                             "per optimizer); pass --mixed-precision bfloat16")
        return self.policy

    def logger(self, columns, tensorboard=False, image_summaries=False):
        """The run's `RunLogger` (`log.csv` with `columns`; TensorBoard under `tensorboard/` when asked)."""

        return RunLogger(CSVLog(self.path("log.csv"), columns), open_run_logger(self.dir, tensorboard, self.log))

    def save_final(self, model, extra=None):
        """`final.keras` and `final.weights.h5` of `model`, then each `{file name: model}` of `extra`."""

        with atomic_path(self.path("final.keras")) as tmp:
            model.save(tmp)
        save_weights_atomic(model, self.path("final.weights.h5"))
        for name, other in (extra or {}).items():
            save_weights_atomic(other, self.path(name))

    def write_summary(self, summary):
        atomic_write_text(self.path("summary.json"), json.dumps(summary, indent=2, default=float))
