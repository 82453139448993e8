"""The one custom training loop, for what `fit` cannot train: several optimizers (GAN, RefSR).

BasicSR's shape (`basicsr/train.py`: one loop; a family differs only in its
model's `optimize_parameters`): `train_loop` feeds batches by global step,
calls the family's `step`, and every epoch of `recipe.epoch_steps` steps
writes one row (mean losses, learning rates, steps/s) to the run's logger,
validates every `val_every` steps (best checkpoint by held-out PSNR) and
checkpoints every `checkpoint_every` steps and at the end; then it writes the
final files and `summary.json` and returns the `TrainResult`.

A family implements the small `LoopTrainer` protocol:

* `step(step, batch) -> logs`: one optimizer step (both networks) on a batch;
* `sync()`: write a stateless (JAX) state back into the Keras variables;
* `checkpointables`: the Keras object holding every network and optimizer (one
  checkpoint file, `Networks`);
* `validate(step) -> {"psnr", "ssim", ...}` and `best_model()` (the weights the
  best checkpoint keeps); `inference_model()`, `final_scores(model, steps)`,
  `final_files()` for the end of the run.

`keras_sr.training.gan.GANTrainer` and `keras_sr.training.refsr.RefSRTrainer`
implement it on TensorFlow (`tf.function`, `GradientTape`) and JAX (one pure
function of the state, `jax.jit`; `StatelessState` keeps the state).

Example:
    >>> run = Run(recipe, out="runs/esrgan_x4")
    >>> trainer = GANTrainer(run, networks, objective, val_pairs)
    >>> result = train_loop(trainer, run, train_data, step0=0)
"""

import collections
import concurrent.futures
import math
import time

import numpy as np

import keras
from keras import ops

from keras_sr.training.run import NO_SCORES, TrainResult

__all__ = ["Networks", "LoopTrainer", "StatelessState", "train_loop", "step_batches", "custom_loop_jit",
           "optimizer_learning_rate", "is_indexed"]


class Networks(keras.Model):
    """Every network and optimizer of a run as one Keras object: one `.weights.h5` holds the whole state.

    `save_weights` writes `generator/`, `discriminator/` (weights and batch-norm
    statistics), `g_optimizer/`, `d_optimizer/` (Adam moments, EMA averages,
    `iterations`) and any `extra_optimizers` under their names; `load_weights`
    restores all of it into built optimizers. Calling it runs the generator.
    `discriminator` may be None (a reconstruction-only run).
    """

    def __init__(self, generator, discriminator, g_optimizer, d_optimizer, name="gan", extra_optimizers=None,
                 **kwargs):
        super().__init__(name=name, **kwargs)
        self.generator = generator
        self.g_optimizer = g_optimizer
        for attribute, optimizer in (extra_optimizers or {}).items():
            setattr(self, attribute, optimizer)
        if discriminator is not None:
            self.discriminator = discriminator
            self.d_optimizer = d_optimizer
        self.built = True

    def call(self, inputs, training=False):
        return self.generator(inputs, training=training)

    @property
    def step(self):
        return int(ops.convert_to_numpy(self.g_optimizer.iterations))


class LoopTrainer:
    """The protocol `train_loop` drives (see the module docstring); defaults for the optional parts."""

    name = "custom"                 # summary.json "trainer"
    best_key = "best"               # summary.json key of the best checkpoint's record
    note = ""
    log_keys = ()                   # loss columns (rows lacking one get NaN)
    checkpointables = None
    bicubic = None
    validation_history = ()

    def step(self, step, batch):
        raise NotImplementedError

    validates = False               # True: validate every `val_every` steps and at the end

    def sync(self):
        pass

    def learning_rates(self):
        return {}

    def validate(self, step):
        raise NotImplementedError

    def best_model(self):
        raise NotImplementedError

    def inference_model(self):
        raise NotImplementedError

    def final_scores(self, model, steps):
        return NO_SCORES

    def final_files(self):
        return {}

    def summary_fields(self):
        return {}


class StatelessState:
    """The JAX state of a stateless train step: `groups()` lists the variables; `sync()` writes the state back."""

    def groups(self):
        raise NotImplementedError

    def read(self):
        return keras.tree.map_structure(lambda variable: variable.value, self.groups())

    def sync(self):
        for variable, value in zip(keras.tree.flatten(self.groups()), keras.tree.flatten(self.state)):
            variable.assign(value)


# Data ---------------------------------------------------------------------------------------------------------


def is_indexed(data):
    return hasattr(data, "__getitem__") and hasattr(data, "__len__") and not isinstance(data, (list, tuple))


def _indexed_batches(dataset, start, prefetch):
    """Batches of a PyDataset by global step: batch `i` is `dataset[i % n]` of epoch `i // n`, prefetched by threads."""
    n = len(dataset)
    epoch, index = divmod(int(start), n)
    for _ in range(epoch):
        dataset.on_epoch_end()
    workers = max(1, int(getattr(dataset, "workers", 1) or 1))
    with concurrent.futures.ThreadPoolExecutor(workers) as pool:
        while True:
            pending = collections.deque()
            nxt = index
            while nxt < n or pending:
                while nxt < n and len(pending) < max(prefetch, workers):
                    pending.append(pool.submit(dataset.__getitem__, nxt))
                    nxt += 1
                yield pending.popleft().result()
            dataset.on_epoch_end()  # every batch of the epoch is done: the next permutation is safe
            index = 0


def _iterated_batches(dataset):
    while True:
        produced = False
        for batch in dataset:
            produced = True
            yield batch
        if not produced:
            raise ValueError("the training data produced no batches.")


def step_batches(train_data, start):
    """Batches from global step `start` on: by index for a PyDataset (resumable), else iterated."""
    if is_indexed(train_data):
        return _indexed_batches(train_data, start, prefetch=4)
    return _iterated_batches(train_data)


def optimizer_learning_rate(optimizer):
    """The optimizer's current learning rate as a float."""
    return float(ops.convert_to_numpy(optimizer.learning_rate))


def custom_loop_jit(recipe):
    """Whether a custom training loop compiles its steps: `--jit-compile on|off`, or auto (JAX, or TF on a GPU)."""
    if recipe.jit_compile == "on":
        return True
    if recipe.jit_compile == "off":
        return False
    if keras.backend.backend() == "jax":
        return True
    import tensorflow as tf

    return bool(tf.config.list_physical_devices("GPU"))  # XLA on TF GPUs; CPU compiles are slow for little gain


# Loop ---------------------------------------------------------------------------------------------------------


def _mean_row(epoch_logs, keys):
    return {k: float(np.mean([float(ops.convert_to_numpy(logs[k])) for logs in epoch_logs if k in logs]))
            if any(k in logs for logs in epoch_logs) else float("nan") for k in keys}


def _epochs(trainer, run, logger, batches, step0, verbose, history):
    recipe, log = run.recipe, run.log
    epoch_steps, keys = recipe.epoch_steps, tuple(trainer.log_keys)
    step = step0
    epoch_logs, epoch_start, epoch_first = [], time.perf_counter(), step0
    while step < recipe.steps:
        epoch_logs.append(trainer.step(step, next(batches)))
        step += 1
        if step % epoch_steps and step < recipe.steps:
            continue
        seconds = time.perf_counter() - epoch_start
        row = _mean_row(epoch_logs, keys)
        trainer.sync()
        rates = trainer.learning_rates()
        row.update(step=step, epoch=math.ceil(step / epoch_steps), **rates,
                   steps_per_second=(step - epoch_first) / max(seconds, 1e-9), elapsed_s=run.seconds)
        if trainer.validates and (step % recipe.val_every == 0 or step >= recipe.steps):
            entry = trainer.validate(step)
            row.update(val_psnr=entry["psnr"], val_ssim=entry["ssim"])
            run.checkpoints.update_best(trainer.best_model(), step, entry["psnr"], entry["ssim"])
        if step % recipe.checkpoint_every == 0 or step >= recipe.steps:
            run.checkpoints.save(trainer.checkpointables, step)
        logger.write(step, row, keys + tuple(rates))
        for key, value in row.items():
            history[key].append(value)
        if verbose:
            parts = " ".join(f"{k} {row[k]:.4g}" for k in keys)
            log(f"step {step}/{recipe.steps}: {parts}, {row['steps_per_second']:.2f} steps/s")
        epoch_logs, epoch_start, epoch_first = [], time.perf_counter(), step


def train_loop(trainer, run, train_data, step0, logger, verbose=1, describe=""):
    """Train `trainer` from `step0` to `run.recipe.steps`, write the final files and summary; a `TrainResult`.

    `logger`: the run's `RunLogger`; `describe`: the line logged before the first step.
    """
    recipe = run.recipe
    history = collections.defaultdict(list)
    if step0 < recipe.steps:
        run.log(describe)
        _epochs(trainer, run, logger, step_batches(train_data, step0), step0, verbose, history)
    else:
        run.log(f"nothing to train: the latest checkpoint is at step {step0} >= {recipe.steps}")
    trainer.sync()
    steps_done = trainer.checkpointables.step

    inference = trainer.inference_model()
    run.save_final(inference, trainer.final_files())
    final = trainer.final_scores(inference, steps_done)
    bicubic = trainer.bicubic or NO_SCORES
    seconds = run.seconds
    summary = {
        "trainer": trainer.name, **trainer.summary_fields(), "steps": steps_done, "resumed_from": step0,
        "seconds": seconds, "dtype_policy": run.policy, "final": {k: final[k] for k in ("psnr", "ssim")},
        "bicubic": {k: bicubic[k] for k in ("psnr", "ssim")}, trainer.best_key: run.checkpoints.index.get("best"),
        "validation": list(trainer.validation_history),
        "final_losses": {k: history[k][-1] for k in trainer.log_keys
                         if history.get(k) and np.isfinite(history[k][-1])},
        "note": trainer.note,
    }
    run.write_summary(summary)
    return TrainResult(run.dir, inference, trainer.checkpointables, recipe, steps_done, seconds, dict(history),
                       list(trainer.validation_history), final, bicubic, "one device", step0)
