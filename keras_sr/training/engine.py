"""The training engine every recipe uses: one `train(recipe, ...)` around `model.fit`.

What a run does, in order:

1. resolves the data (`keras_sr.data.sources.resolve_data`; the embedded
   photographs when `data` is None) and the held-out validation pairs
   (`load_validation_pairs`: modcrop + MATLAB bicubic, the evaluation protocol);
2. sets the seed, the mixed-precision policy and the distribution
   (`keras_sr.training.distribution`: MirroredStrategy / DataParallel ...);
3. builds the registered model from `recipe.model_config()` inside the
   strategy scope, optionally loads initial weights (a preset), compiles it
   with Adam (AdamW when `weight_decay`), the recipe's schedule, loss,
   gradient clipping (`global_clipnorm`) and weight EMA;
4. with `resume=True`, restores the latest checkpoint of the run directory
   (weights, optimizer state, step counter) and continues from that step;
5. `model.fit` with a progress bar over "epochs" of `recipe.epoch_steps`
   steps; callbacks: step limit, validation (PSNR/SSIM on Y every
   `val_every` steps), checkpoints (every `checkpoint_every` steps and at the
   end, atomic, last K + best), TensorBoard scalars and images, CSV log, EMA;
6. copies the final (EMA) weights into a float32 inference model and writes
   `final.keras`, `final.weights.h5` and `model.json` into the run directory.

Run directory: `recipe.json`, `model.json`, `checkpoints/`, `tensorboard/`,
`log.csv`, `final.keras`, `final.weights.h5`, `summary.json`.

A recipe may train a model other than the one it validates and exports, as
long as both hold the same variables (same shapes, same order). Optional
recipe methods (the base `Recipe` has none; each defaults to the plain run):

* `train_model_config()`: builder kwargs of the model trained (default
  `model_config()`), e.g. VDSR's `scale=None` model on bicubic-upsampled
  patches, or DRCN / LapSRN with `intermediate_outputs=True`;
* `training_loss()`: a multi-output loss `loss(hr, outputs_dict, step)`
  (`keras_sr.training.losses.RecursiveSupervisionLoss`, `PyramidLoss`); the
  network is then wrapped in `MultiOutputTrainer`, which owns a step counter
  (saved in checkpoints) for step-dependent losses;
* a `teacher` (the base recipe's `--teacher` field): the network is wrapped in
  `keras_sr.training.distillation.DistillationTrainer` (the frozen teacher's
  outputs and features in the loss, `--distill-*` fields); the run writes the
  student only;
* `train_data(split, seed=, steps_per_epoch=, loader=, log=)`: the training
  batches (default `keras_sr.training.data.make_train_data`), e.g. the
  mixed-scale loader of `keras_sr.training.multiscale` or the query batches of
  the arbitrary-scale recipes (`keras_sr.training.implicit`);
* `prepare_network(network)`: called on the built network before it is
  compiled (e.g. freeze the encoder);
* `init_from_target(network, source)`: the part of the network `--init-from`
  copies matching layers into (default the whole network);
* `training_model(network)`: the model `fit` trains, a `MultiOutputTrainer`
  subclass holding `network` and state of its own, with its loss in
  `compute_loss` (DASR's MoCo encoder and queue, `keras_sr.training.dasr`;
  SR3's noise-prediction loss, `keras_sr.training.diffusion.DiffusionTrainer`);
* `optimizer(**adam_kwargs)`: the optimizer, from the keyword arguments the
  engine would give Adam (schedule, betas, epsilon, clipping, EMA), e.g.
  DASR's two-phase schedule and `DelayedStartAdam`.

When the trained model differs, validation and the best checkpoint score a
float32 copy of the `model_config()` model holding the trained (EMA) weights
(`keras_sr.training.multi_output.InferenceModelValidation`), and `final.keras` is that model. A recipe with a
`clip_theta` field > 0 gets VDSR's adjustable gradient clipping
(`keras_sr.training.optimizers.AdjustableClippingAdam`).

Example:
    >>> recipe = EDSRRecipe.for_scale(4, steps=200)
    >>> result = train(recipe, out="runs/edsr_x4")
    >>> result.final["psnr"], result.bicubic["psnr"], result.run_dir
"""

import math
import os
import sys
import time

import keras

from keras_sr.training import checkpoint as checkpoint_lib
from keras_sr.training import ema as ema_lib
from keras_sr.training.distribution import resolve_distribution
from keras_sr.training.distillation import TeacherError, distillation_trainer
from keras_sr.training.losses import get_loss
from keras_sr.training.run import CSVLog, NO_SCORES, Run, TrainResult, default_run_dir, dtype_policy, resolve_policy
from keras_sr.training.schedules import make_schedule
from keras_sr.training.multi_output import (InferenceModelValidation, MultiOutputTrainer, check_same_variables,
                                            inference_weights)
from keras_sr.training.optimizers import AdjustableClippingAdam, AdjustableClippingAdamW
from keras_sr.training.validation import ValidationCallback, evaluate_pairs
from keras_sr import models
from keras_sr.data.sources import load_validation_pairs, resolve_data
from keras_sr.models import presets
from keras_sr.models.weight_transfer import TransferFrom, load_source_model, transfer_weights
from keras_sr.training.data import make_train_data, corrupt_record_counter
from keras_sr.training.loop import is_indexed
from keras_sr.training.tensorboard import open_run_logger, validation_image_hook


__all__ = ["TrainResult", "StepLimit", "train", "make_optimizer", "compile_model", "resolve_policy", "dtype_policy",
           "default_run_dir", "build_inference_model", "train_model_config", "resolve_run_data"]


class StepLimit(keras.callbacks.Callback):
    """Stops `fit` as soon as the optimizer has made `total_steps` steps (resumed runs end on time).

    Counts steps on the host (the counter is read at the start of each epoch,
    `batch` is the last step index of the call), so no step waits for the device.
    """

    def __init__(self, total_steps):
        super().__init__()
        self.total_steps = int(total_steps)
        self.epoch_start = 0

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch_start = int(keras.ops.convert_to_numpy(self.model.optimizer.iterations))

    def on_train_batch_end(self, batch, logs=None):
        if self.epoch_start + int(batch) + 1 >= self.total_steps:
            self.model.stop_training = True


class _Timer(keras.callbacks.Callback):
    """Wall time and steps/s, added to the epoch logs."""

    def on_train_begin(self, logs=None):
        self.start = time.perf_counter()
        self.epoch_start = self.start
        self.first_step = int(keras.ops.convert_to_numpy(self.model.optimizer.iterations))
        self.epoch_first_step = self.first_step

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch_start = time.perf_counter()
        self.epoch_first_step = int(keras.ops.convert_to_numpy(self.model.optimizer.iterations))

    def on_epoch_end(self, epoch, logs=None):
        if logs is None:
            return
        step = int(keras.ops.convert_to_numpy(self.model.optimizer.iterations))
        seconds = time.perf_counter() - self.epoch_start
        logs["steps_per_second"] = (step - self.epoch_first_step) / max(seconds, 1e-9)
        logs["step"] = step


class _CSVLog(keras.callbacks.Callback):
    """One row per epoch in the run's `log.csv` (`CSVLog`: fixed columns, flushed at once, appended on resume)."""

    COLUMNS = ("step", "epoch", "loss", "learning_rate", "steps_per_second", "val_psnr", "val_ssim", "elapsed_s")

    def __init__(self, path):
        super().__init__()
        self.csv = CSVLog(path, self.COLUMNS)
        self.start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        logs = dict(logs or {})
        logs["epoch"] = epoch + 1
        logs["elapsed_s"] = time.perf_counter() - self.start
        logs["learning_rate"] = float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))
        logs.setdefault("step", int(keras.ops.convert_to_numpy(self.model.optimizer.iterations)))
        self.csv.write(logs)


def make_optimizer(recipe):
    """Adam (AdamW with `weight_decay`) with the recipe's schedule, clipping and EMA.

    A recipe field `clip_theta` > 0 selects the adjustable gradient clipping of
    VDSR (`AdjustableClippingAdam` / `AdjustableClippingAdamW`).
    """
    kwargs = dict(learning_rate=make_schedule(recipe), beta_1=recipe.beta_1, beta_2=recipe.beta_2,
                  epsilon=recipe.epsilon, **ema_lib.ema_optimizer_kwargs(recipe.ema_decay))
    if recipe.clip_grad_norm:
        kwargs["global_clipnorm"] = float(recipe.clip_grad_norm)
    hook = getattr(recipe, "optimizer", None)
    if callable(hook):
        return hook(**kwargs)
    theta = float(getattr(recipe, "clip_theta", 0.0) or 0.0)
    if theta:
        kwargs["clip_theta"] = theta
    if recipe.weight_decay:
        cls = AdjustableClippingAdamW if theta else keras.optimizers.AdamW
        return cls(weight_decay=recipe.weight_decay, **kwargs)
    return (AdjustableClippingAdam if theta else keras.optimizers.Adam)(**kwargs)


def fit_jit_compile(recipe):
    """`model.compile`'s `jit_compile` for the recipe's `--jit-compile auto|on|off`."""
    return {"auto": "auto", "on": True, "off": False}[recipe.jit_compile]


def compile_model(model, recipe):
    """Compile with the recipe's optimizer and pixel loss (a `MultiOutputTrainer` brings its own loss)."""
    if isinstance(model, MultiOutputTrainer):
        loss = None
    else:
        loss = get_loss(recipe.loss, **({"epsilon": recipe.charbonnier_epsilon} if recipe.loss == "charbonnier"
                                        else {}))
    model.compile(optimizer=make_optimizer(recipe), loss=loss, jit_compile=fit_jit_compile(recipe),
                  steps_per_execution=int(recipe.steps_per_execution))
    return model


def train_model_config(recipe):
    """Builder kwargs of the model `train` fits: `recipe.train_model_config()` when defined, else `model_config()`."""
    hook = getattr(recipe, "train_model_config", None)
    return hook() if callable(hook) else recipe.model_config()


def build_inference_model(recipe, model_config=None):
    """The recipe's model in float32, uncompiled (for export, best weights, evaluation)."""

    with dtype_policy("float32"):
        return models.build(recipe.model, **(model_config or recipe.model_config()))


def _load_init_weights(model, init_weights, log, via=None, target_hook=None):
    """Load a `.weights.h5` / preset / `TransferFrom` into `model`; through `via` (the exported layout) when given.

    `target_hook(model, source)` (a recipe's `init_from_target`) picks the part of the model a `TransferFrom`
    copies into (default: the whole model).
    """

    if init_weights is None:
        return
    if isinstance(init_weights, TransferFrom):
        target = model if via is None else via
        if via is not None:
            via.set_weights(model.get_weights())
        source = load_source_model(init_weights.source)
        report = transfer_weights(source, target_hook(target, source) if target_hook else target)
        log(f"initial weights: from {init_weights.source}: {report.summary()}")
        if via is not None:
            model.set_weights(via.get_weights())
        return
    if isinstance(init_weights, presets.Preset):
        log(f"initial weights: preset {init_weights.name}")
        path = init_weights.weights
    else:
        log(f"initial weights: {init_weights}")
        path = init_weights
    if via is None:
        model.load_weights(path)
    else:  # weights files are written from the exported model: load there, copy over
        via.load_weights(path)
        model.set_weights(via.get_weights())


def _describe_config(config):
    return ", ".join(f"{k}={v!r}" for k, v in config.items())


def _verbose(verbose):
    if verbose != "auto":
        return verbose
    return 1 if sys.stdout.isatty() else 2


def resolve_run_data(recipe, data, val_data, train_data=None, val_pairs=None, log=print, split=None):
    """`(split, val_pairs)` of a run: `--data`/`--val-data` resolved unless both ready-made inputs are given.

    `split`: already resolved (the command line resolves `--data` once); else it is None when `train_data` and
    `val_pairs` are both given;
    `val_pairs` are the held-out images degraded by the evaluation protocol.
    """

    if split is None and (train_data is None or val_pairs is None):
        split = resolve_data(data, val_data)
    if split is not None:
        log(f"data: {split.description}")
    if val_pairs is None:
        val_pairs = load_validation_pairs(split.val, recipe.scale, max_images=recipe.val_images or None,
                                          skip_small=True) if split.val else []
    log(f"held-out validation images: {len(val_pairs)}")
    return split, val_pairs


def _train_data(recipe, split, step0, loader, log, stats=None):
    """The run's batches from step `step0`: a PyDataset loader (batches by seed, epoch and index) is moved on to
    the epoch of `step0`, so a resumed run draws the batches of an uninterrupted one; a tf.data stream or the
    device-resident stream restarts and is re-seeded with `seed + step0`. The engine's own data picks its path
    (`loader="auto"`: device-resident when it fits, logged); `stats` counts corrupt TFRecord records skipped."""

    hook = getattr(recipe, "train_data", None)

    def make(seed, **kwargs):
        kwargs.update(seed=seed, steps_per_epoch=recipe.epoch_steps)
        if callable(hook):
            return hook(split, loader=loader, **kwargs)
        return make_train_data(split, recipe, loader=loader or "auto", stats=stats, **kwargs)

    data = make(recipe.seed, log=log)
    if step0 and is_indexed(data):
        for _ in range(step0 // recipe.epoch_steps):
            data.on_epoch_end()
    elif step0:
        data = make(recipe.seed + step0, log=None)
    return data


def train(recipe, data=None, val_data=None, out=None, strategy="auto", resume=False, init_weights=None,
          train_data=None, val_pairs=None, loader=None, verbose="auto", log=print, callbacks=(), tensorboard=True,
          image_summaries=True, split=None):
    """Train `recipe` and return a `TrainResult` (see the module docstring).

    Args:
        recipe: a `keras_sr.training.recipe.Recipe` (resolved, with `model` set).
        data, val_data: `--data` / `--val-data` entries for `resolve_data` (None: embedded photographs).
        out: run directory (default `runs/<model>_x<scale>_<time>`).
        strategy: `auto|mirrored|multiworker|tpu|none` (`keras_sr.training.distribution`).
        resume: continue from the latest checkpoint in `out`.
        init_weights: a `.weights.h5` path, a `presets.Preset`, or a `weight_transfer.TransferFrom` (copy
            the layers whose names and shapes match, e.g. an x2 model's body from the x4 preset) to start
            from (ignored when resuming).
        train_data: a ready dataset / PyDataset of `(lr, hr)` batches instead of resolving `data`.
        val_pairs: `[(lr_uint8, hr_uint8)]` instead of the held-out images of `data`.
        loader: "tfdata", "pydataset", "device" or "auto" (default: "auto", see
            `keras_sr.training.data.make_train_data`; recipe data hooks get None: by backend).
        verbose: Keras progress bar mode ("auto": a live bar on a terminal, a line per epoch otherwise).
        log: `callable(str)` for the engine's own messages.
        callbacks: extra Keras callbacks.
        tensorboard: write TensorBoard event files under `<out>/tensorboard`.
        split: `data`/`val_data` already resolved (`keras_sr.data.sources.resolve_data`).
    """

    run = Run(recipe, out, resume, log=log)
    log, out, manager = run.log, run.dir, run.checkpoints
    model_config = recipe.model_config()
    train_config = train_model_config(recipe)
    extra = {"strategy": strategy, "data": data}
    if train_config != model_config:
        extra["train_model"] = {"config": train_config}
    run.write_records(model_config, extra)

    policy = run.seed_and_policy()
    dist = resolve_distribution(strategy)
    dist.check_batch_size(recipe.batch_size)
    log(f"keras {keras.__version__}, backend {keras.backend.backend()}, {dist.description}, dtype policy {policy}")

    split, val_pairs = resolve_run_data(recipe, data, val_data, train_data, val_pairs, log, split)

    epoch_steps = recipe.epoch_steps
    with dtype_policy(policy), dist.scope():
        network = models.build(recipe.model, **train_config)
        if callable(getattr(recipe, "prepare_network", None)):  # e.g. freeze a part before compiling
            recipe.prepare_network(network)
        loss_hook = getattr(recipe, "training_loss", None)
        supervision = loss_hook() if callable(loss_hook) else None
        teacher = getattr(recipe, "teacher", "")
        trainer_hook = getattr(recipe, "training_model", None)
        if teacher and (supervision is not None or train_config != model_config or callable(trainer_hook)):
            trained = ("several outputs" if supervision is not None else "a trainer model of its own"
                       if callable(trainer_hook) else "a model other than the one it exports")
            raise TeacherError(f"--teacher: {recipe.model} trains {trained} (training_loss / training_model / "
                               "train_model_config), which distillation does not support")
        if teacher:
            model = distillation_trainer(recipe, network, log)
        elif callable(trainer_hook):
            model = trainer_hook(network)
        else:
            model = MultiOutputTrainer(network, supervision) if supervision is not None else network
        separate = model is not network or train_config != model_config
        best_model = build_inference_model(recipe, model_config)
        if separate:
            check_same_variables(network, best_model, (train_config, model_config))
        compile_model(model, recipe)
        step0 = 0
        if run.resuming:
            step0 = manager.restore_latest(model, log=log)
            log(f"resumed from {manager.latest_path()} at step {step0}")
        else:
            _load_init_weights(network, init_weights, log, via=best_model if separate else None,
                               target_hook=getattr(recipe, "init_from_target", None))
            ema_lib.warn_if_short(recipe.ema_decay, recipe.steps, log)
        corrupt = None
        if train_data is None:
            if not callable(getattr(recipe, "train_data", None)):
                corrupt = corrupt_record_counter(recipe, split)
            train_data = _train_data(recipe, split, step0, loader, log, stats=corrupt)
        board = open_run_logger(out, tensorboard, log)
        on_validation = validation_image_hook(board, val_pairs, recipe.scale, image_summaries)

        if separate:
            validation = InferenceModelValidation(build_inference_model(recipe, model_config), val_pairs,
                                                  recipe.scale, recipe.val_every, recipe.steps, y_only=True,
                                                  on_result=on_validation, log=log)
        else:
            validation = ValidationCallback(val_pairs, recipe.scale, recipe.val_every, recipe.steps, y_only=True,
                                            weights_context=ema_lib.ema_weights, on_result=on_validation, log=log)
        if board is not None and validation.bicubic:
            board.scalars(0, {"val/bicubic_psnr": validation.bicubic["psnr"],
                              "val/bicubic_ssim": validation.bicubic["ssim"]})
        all_callbacks = [
            StepLimit(recipe.steps),
            _Timer(),
            validation,
            checkpoint_lib.CheckpointCallback(manager, recipe.checkpoint_every, recipe.steps, best_model=best_model,
                                              weights_for_best=inference_weights),
            _CSVLog(os.path.join(out, "log.csv")),
            *([board] if board is not None else []),
            *callbacks,
            # last: after the final checkpoint (raw weights + averages, for resuming) the model takes its EMA weights
            *([ema_lib.EMACallback(apply_at_end=True)] if recipe.ema_decay else []),
        ]
        history = {}
        if step0 < recipe.steps:
            epochs = math.ceil(recipe.steps / epoch_steps)
            trained = "" if not separate else f" (trained as {recipe.model}({_describe_config(train_config)}))"
            trained = f" (distilled from {teacher})" if teacher else trained
            log(f"training {recipe.model} x{recipe.scale}{trained}: steps {step0} -> {recipe.steps}, batch "
                f"{recipe.batch_size}, patch {recipe.patch_size} (HR {recipe.hr_patch_size}), "
                f"{epochs - step0 // epoch_steps} epochs of {epoch_steps} steps")
            fit = model.fit(train_data, steps_per_epoch=epoch_steps, epochs=epochs, initial_epoch=step0 // epoch_steps,
                            callbacks=all_callbacks, verbose=_verbose(verbose), shuffle=False)
            history = {k: [float(v) for v in values] for k, values in fit.history.items()}
        else:
            log(f"nothing to train: the latest checkpoint is at step {step0} >= {recipe.steps}")
        steps_done = int(keras.ops.convert_to_numpy(model.optimizer.iterations))
        final_weights = inference_weights(model)
        skipped_records = None if corrupt is None else corrupt.skipped
        if skipped_records is not None:
            log(f"--skip-corrupt: {skipped_records} corrupt TFRecord record(s) skipped in this run")

    inference = build_inference_model(recipe, model_config)
    inference.set_weights(final_weights)
    run.save_final(inference)

    final = evaluate_pairs(inference, val_pairs, recipe.scale) if val_pairs else NO_SCORES
    bicubic = validation.bicubic or NO_SCORES
    seconds = run.seconds
    run.write_summary({
        "steps": steps_done,
        "resumed_from": step0,
        "seconds": seconds,
        "distribution": dist.name,
        "num_replicas": dist.num_replicas,
        "dtype_policy": policy,
        "final": {k: final[k] for k in ("psnr", "ssim")},
        "bicubic": {k: bicubic[k] for k in ("psnr", "ssim")},
        "best": manager.index.get("best"),
        "validation": validation.history,
        "final_loss": history.get("loss", [None])[-1],
        **({"teacher": teacher} if teacher else {}),
        **({} if skipped_records is None else {"skipped_corrupt_records": skipped_records}),
    })
    return TrainResult(out, inference, model, recipe, steps_done, seconds, history, validation.history, final,
                       bicubic, dist.name, step0)
