"""GAN training for SR (SRGAN, ESRGAN): generator and discriminator, each with its own Adam, on TensorFlow and JAX.

Every step follows BasicSR's `SRGANModel` / `ESRGANModel.optimize_parameters`:

1. generator step (the discriminator's weights fixed): `sr = G(lr)`;
   `L_G = pixel_weight * pixel(sr, hr) + perceptual_weight * percep(sr, hr)
   + style_weight * gram(sr, hr) + adversarial_weight * adv_G(D(hr), D(sr))`;
   one Adam step on G. Pixel losses are computed on images scaled to [0, 1]
   and VGG features on images in the range the VGG weights expect, as in the
   papers' code, so the papers' weights apply unchanged (ESRGAN: L1 1e-2,
   perceptual 1, adversarial 5e-3; SRGAN: VGG54 1, adversarial 1e-3).
2. discriminator step on the same (now constant) `sr`:
   `L_D = adv_D(D(hr), D(sr))`; one Adam step on D. D runs separately on
   the real and fake batches (its batch norm sees one kind at a time).

Both backends share the losses (keras.ops, `keras_sr.training.perceptual`);
only the differentiation differs, in the pattern Keras documents for custom
training steps:

* TensorFlow: a `tf.function` with two `tf.GradientTape`s and stateful
  `optimizer.apply` (variables updated in place; XLA with `jit_compile`);
* JAX: one pure function of the state `(G weights, G batch-norm statistics,
  D weights, D statistics, G optimizer, D optimizer)` using
  `model.stateless_call`, `jax.value_and_grad` and
  `optimizer.stateless_apply`, compiled by `jax.jit`; the frozen VGG weights
  are an argument (not constants baked into the program). The state is written
  back into the Keras variables before validation, checkpoints and the end.

A single `fit` cannot hold two optimizers (its JAX trainer threads one
optimizer's state), so the trainer runs its own loop and reuses the engine's
parts: `make_optimizer` (schedule, clipping, EMA of G's weights), data
(`make_train_data`), `ValidationCallback` (held-out PSNR/SSIM on Y),
`CheckpointManager` (atomic files, last K + best) and the TensorBoard writer.

Run directory (as `engine.train`, plus the discriminator):
`recipe.json`, `model.json` (the generator), `checkpoints/ckpt-<step>.weights.h5`
(one file per checkpoint holding `generator/`, `discriminator/`,
`g_optimizer/` and `d_optimizer/`: weights, batch-norm statistics, Adam
moments, EMA averages and both step counters), `checkpoints/best.weights.h5`
(generator only, best held-out PSNR: not the best perceptual quality),
`log.csv`, `tensorboard/`, `final.keras` / `final.weights.h5` (the generator,
float32, EMA weights when EMA is on), `discriminator.weights.h5`,
`summary.json`. `resume=True` loads the latest checkpoint into both networks
and optimizers and continues at its step; with a `PyDataset` loader batch `i`
is the same whether or not the run was interrupted.

Example:
    >>> recipe = ESRGANRecipe.for_scale(4, vgg_weights="vgg19_imagenet.weights.h5",
    ...                                 pretrained="runs/rrdbnet_x4/final.weights.h5")
    >>> result = train_gan(recipe, data=["DIV2K/HR"], out="runs/esrgan_x4")
    >>> result = train_gan(recipe.replace(steps=500_000), data=["DIV2K/HR"], out="runs/esrgan_x4", resume=True)
"""

import collections
import concurrent.futures
import dataclasses
import glob
import json
import math
import os
import time
import typing

import numpy as np

import keras
from keras import ops

from keras_sr.training.recipe import Recipe, field


__all__ = ["GANRecipe", "GANNetworks", "GANObjective", "train_gan", "gan_recipe_main", "run_gan_recipe",
           "GAN_LOG_COLUMNS"]

GAN_LOG_COLUMNS = ("step", "epoch", "g_loss", "g_pixel", "g_perceptual", "g_style", "g_adversarial", "d_loss",
                   "d_real", "d_fake", "learning_rate", "d_learning_rate", "steps_per_second", "val_psnr", "val_ssim",
                   "elapsed_s")
_LOSS_COLUMNS = ("g_loss", "g_pixel", "g_perceptual", "g_style", "g_adversarial", "d_loss", "d_real", "d_fake")
_MULTIPLE = {"esrgan_discriminator": 32, "srgan_discriminator": 16}


@dataclasses.dataclass(frozen=True)
class GANRecipe(Recipe):
    """Fields shared by the GAN recipes (`recipes.srgan`, `recipes.esrgan`); `model` is the generator.

    The inherited `learning_rate`, `schedule`, `lr_milestones`, `lr_gamma`,
    `beta_*`, `clip_grad_norm` apply to both optimizers (the discriminator
    starts at `d_learning_rate`); `ema_decay` averages the generator only;
    `loss` is the pixel criterion.
    """

    run_name: typing.ClassVar[str] = "gan"

    discriminator: str = field("", "registered discriminator name", flag=False)
    d_filters: int = field(0, "discriminator channels of the first stage (0: the discriminator's, 64)")
    d_dense_units: int = field(0, "discriminator hidden dense width (0: the discriminator's)")
    d_learning_rate: float = field(1e-4, "initial discriminator learning rate (Adam, same schedule)")
    gan_loss: str = field("ragan", "adversarial loss: relativistic average (ESRGAN) or standard (SRGAN)",
                          choices=("ragan", "standard"))
    pixel_weight: float = field(1e-2, "weight of the pixel loss (`loss`, on [0, 1] images; 0: off)")
    perceptual_weight: float = field(1.0, "weight of the VGG perceptual loss (0: off, no VGG needed)")
    style_weight: float = field(0.0, "weight of the Gram (texture) loss on the same VGG layer (0: off)")
    adversarial_weight: float = field(5e-3, "weight of the generator's adversarial loss")
    perceptual_layer: str = field("conv5_4", "VGG19 layer of the perceptual loss (conv*: before the ReLU, "
                                             "relu*: after it)")
    perceptual_criterion: str = field("l1", "distance of the VGG features", choices=("l1", "l2"))
    feature_scale: float = field(1.0, "VGG features are multiplied by this before the distance (SRGAN: 1/12.75)")
    vgg_weights: str = field("", "ImageNet VGG19 weights: a keras.applications VGG19(include_top=False) "
                                 ".weights.h5 / .h5 file or a torchvision .npz ('random': tests only)")
    vgg_input_norm: str = field("auto", "VGG input preprocessing (auto: caffe for .h5, torch for .npz)",
                                choices=("auto", "torch", "caffe"))
    pretrained: str = field("", "initial generator weights (.weights.h5), e.g. the PSNR-oriented run's "
                                "final.weights.h5, as SRGAN and ESRGAN start from their MSE/L1 models")

    @classmethod
    def scale_defaults(cls, scale):
        return {}

    def validated(self):
        super().validated()
        name = type(self).__name__
        for key in ("pixel_weight", "perceptual_weight", "style_weight", "adversarial_weight"):
            if getattr(self, key) < 0:
                raise ValueError(f"{name}: {key} must be >= 0, got {getattr(self, key)}")
        if self.d_learning_rate <= 0:
            raise ValueError(f"{name}: d_learning_rate must be > 0, got {self.d_learning_rate}")
        multiple = _MULTIPLE.get(self.discriminator)
        if multiple and self.hr_patch_size % multiple:
            raise ValueError(f"{name}: {self.discriminator} needs HR patches that are a multiple of {multiple} "
                             f"pixels; patch_size {self.patch_size} x scale {self.scale} = {self.hr_patch_size}")
        return self

    @property
    def needs_vgg(self):
        return self.perceptual_weight > 0 or self.style_weight > 0

    def discriminator_config(self):
        """Builder kwargs of `keras_sr.models.build(self.discriminator, ...)`: crops of `hr_patch_size`."""
        config = {"input_size": self.hr_patch_size}
        if self.d_filters:
            config["filters"] = self.d_filters
        if self.d_dense_units:
            config["dense_units"] = self.d_dense_units
        return config


class GANNetworks(keras.Model):
    """Both networks and both optimizers as one Keras object: one `.weights.h5` file holds the whole GAN state.

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


class GANObjective:
    """The generator and discriminator losses of a `GANRecipe` (keras.ops; called inside both train steps).

    Example:
        >>> objective = GANObjective(ESRGANRecipe.for_scale(4, vgg_weights="random"))
        >>> total, logs = objective.generator_terms(sr, hr, real_logits, fake_logits)
        >>> d_total, d_logs = objective.discriminator_terms(real_logits, fake_logits)
    """

    def __init__(self, recipe):
        from keras_sr.training.losses import get_loss
        from keras_sr.training.perceptual import GramLoss, PerceptualLoss, VGGFeatureExtractor, adversarial_losses

        self.pixel_weight = float(recipe.pixel_weight)
        self.perceptual_weight = float(recipe.perceptual_weight)
        self.style_weight = float(recipe.style_weight)
        self.adversarial_weight = float(recipe.adversarial_weight)
        if not (self.pixel_weight or self.perceptual_weight or self.style_weight or self.adversarial_weight):
            raise ValueError(f"{type(recipe).__name__}: every generator loss weight is 0.")
        kwargs = {"epsilon": recipe.charbonnier_epsilon, "data_range": 1.0} if recipe.loss == "charbonnier" else {}
        self.pixel = get_loss(recipe.loss, **kwargs) if self.pixel_weight else None
        self.extractor = None
        self.perceptual = self.style = None
        if recipe.needs_vgg:
            self.extractor = VGGFeatureExtractor((recipe.perceptual_layer,), recipe.vgg_weights or None,
                                                 recipe.vgg_input_norm)
            common = dict(criterion=recipe.perceptual_criterion, feature_scale=recipe.feature_scale,
                          extractor=self.extractor)
            if self.perceptual_weight:
                self.perceptual = PerceptualLoss(recipe.perceptual_layer, **common)
            if self.style_weight:
                self.style = GramLoss(recipe.perceptual_layer, **common)
        self.adversarial_g, self.adversarial_d = adversarial_losses(recipe.gan_loss)

    @property
    def vgg_variables(self):
        return self.extractor.variables if self.extractor is not None else []

    def generator_terms(self, sr, hr, real_logits, fake_logits, vgg_values=None):
        """`(L_G, logs)`; `real_logits` must not carry gradients; `vgg_values`: stateless VGG weights (JAX)."""
        sr = ops.cast(sr, "float32")
        hr = ops.stop_gradient(ops.cast(hr, "float32"))
        logs = {}
        total = 0.0
        if self.pixel is not None:
            logs["g_pixel"] = self.pixel(hr / 255.0, sr / 255.0)
            total = total + self.pixel_weight * logs["g_pixel"]
        if self.extractor is not None:
            true_features = {k: ops.stop_gradient(v) for k, v in self.extractor(hr, vgg_values).items()}
            pred_features = self.extractor(sr, vgg_values)
            if self.perceptual is not None:
                logs["g_perceptual"] = self.perceptual.from_features(true_features, pred_features)
                total = total + self.perceptual_weight * logs["g_perceptual"]
            if self.style is not None:
                logs["g_style"] = self.style.from_features(true_features, pred_features)
                total = total + self.style_weight * logs["g_style"]
        logs["g_adversarial"] = self.adversarial_g(real_logits, fake_logits)
        total = total + self.adversarial_weight * logs["g_adversarial"]
        logs["g_loss"] = total
        return total, logs

    def discriminator_terms(self, real_logits, fake_logits):
        """`(L_D, logs)` with the mean real / fake logits (BasicSR's `out_d_real` / `out_d_fake`)."""
        total = self.adversarial_d(real_logits, fake_logits)
        return total, {"d_loss": total, "d_real": ops.mean(ops.cast(real_logits, "float32")),
                       "d_fake": ops.mean(ops.cast(fake_logits, "float32"))}


# Train steps ----------------------------------------------------------------------------------------------------


def _tf_step(networks, objective, jit_compile):
    """The stateful TensorFlow step `(lr, hr) -> logs` (two tapes, in-place optimizer updates)."""
    import tensorflow as tf

    generator, discriminator = networks.generator, networks.discriminator
    g_opt, d_opt = networks.g_optimizer, networks.d_optimizer

    def step(lr, hr):
        with tf.GradientTape() as tape:
            sr = generator(lr, training=True)
            real_logits = tf.stop_gradient(discriminator(hr, training=True))
            fake_logits = discriminator(sr, training=True)
            g_total, g_logs = objective.generator_terms(sr, hr, real_logits, fake_logits)
        g_vars = generator.trainable_variables
        g_opt.apply(tape.gradient(g_total, g_vars), g_vars)
        sr = tf.stop_gradient(sr)
        with tf.GradientTape() as tape:
            real_logits = discriminator(hr, training=True)
            fake_logits = discriminator(sr, training=True)
            d_total, d_logs = objective.discriminator_terms(real_logits, fake_logits)
        d_vars = discriminator.trainable_variables
        d_opt.apply(tape.gradient(d_total, d_vars), d_vars)
        return {**g_logs, **d_logs}

    compiled = tf.function(step, jit_compile=jit_compile, reduce_retracing=True)

    def run(lr, hr):
        return compiled(tf.convert_to_tensor(lr, tf.float32), tf.convert_to_tensor(hr, tf.float32))

    return run


class _JaxTrainer:
    """The stateless JAX step and its state; `sync()` writes the state back into the Keras variables."""

    def __init__(self, networks, objective, jit):
        import jax

        self.networks = networks
        self.objective = objective
        generator, discriminator = networks.generator, networks.discriminator
        g_opt, d_opt = networks.g_optimizer, networks.d_optimizer

        def generator_loss(g_tv, g_ntv, d_tv, d_ntv, vgg, lr, hr):
            sr, g_ntv = generator.stateless_call(g_tv, g_ntv, lr, training=True)
            real_logits, d_ntv = discriminator.stateless_call(d_tv, d_ntv, hr, training=True)
            fake_logits, d_ntv = discriminator.stateless_call(d_tv, d_ntv, sr, training=True)
            total, logs = objective.generator_terms(sr, hr, jax.lax.stop_gradient(real_logits), fake_logits, vgg)
            return total, (sr, g_ntv, d_ntv, logs)

        def discriminator_loss(d_tv, d_ntv, sr, hr):
            real_logits, d_ntv = discriminator.stateless_call(d_tv, d_ntv, hr, training=True)
            fake_logits, d_ntv = discriminator.stateless_call(d_tv, d_ntv, sr, training=True)
            total, logs = objective.discriminator_terms(real_logits, fake_logits)
            return total, (d_ntv, logs)

        g_grad = jax.value_and_grad(generator_loss, has_aux=True)
        d_grad = jax.value_and_grad(discriminator_loss, has_aux=True)

        def step(state, vgg, lr, hr):
            g_tv, g_ntv, d_tv, d_ntv, g_ov, d_ov = state
            (_, (sr, g_ntv, d_ntv, g_logs)), grads = g_grad(g_tv, g_ntv, d_tv, d_ntv, vgg, lr, hr)
            g_tv, g_ov = g_opt.stateless_apply(g_ov, grads, g_tv)
            sr = jax.lax.stop_gradient(sr)
            (_, (d_ntv, d_logs)), grads = d_grad(d_tv, d_ntv, sr, hr)
            d_tv, d_ov = d_opt.stateless_apply(d_ov, grads, d_tv)
            return (g_tv, g_ntv, d_tv, d_ntv, g_ov, d_ov), {**g_logs, **d_logs}

        self._step = jax.jit(step) if jit else step
        self.vgg = [v.value for v in objective.vgg_variables]
        self.state = self._read()

    def _groups(self):
        n = self.networks
        return (n.generator.trainable_variables, n.generator.non_trainable_variables,
                n.discriminator.trainable_variables, n.discriminator.non_trainable_variables,
                n.g_optimizer.variables, n.d_optimizer.variables)

    def _read(self):
        return tuple([v.value for v in group] for group in self._groups())

    def sync(self):
        for group, values in zip(self._groups(), self.state):
            for variable, value in zip(group, values):
                variable.assign(value)

    def __call__(self, lr, hr):
        self.state, logs = self._step(self.state, self.vgg, np.asarray(lr, np.float32), np.asarray(hr, np.float32))
        return logs


# Data -----------------------------------------------------------------------------------------------------------


def _is_indexed(data):
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
    if _is_indexed(train_data):
        return _indexed_batches(train_data, start, prefetch=4)
    return _iterated_batches(train_data)


# Loop -----------------------------------------------------------------------------------------------------------


class CSVLog:
    """`log.csv` of a custom training loop: fixed `columns`, one row per call, flushed and fsynced (appended on resume)."""

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


def default_gan_run_dir(recipe):
    return os.path.join("runs", f"{type(recipe).run_name}_x{recipe.scale}_{time.strftime('%Y%m%d-%H%M%S')}")


def _load_pretrained(generator, path, recipe, log):
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path}: pretrained generator weights not found (--pretrained expects the "
                                f".weights.h5 of a {recipe.model} run with the same config, e.g. its "
                                "final.weights.h5)")
    try:
        generator.load_weights(path)
    except Exception as err:  # noqa: BLE001 - say which file and which model
        raise ValueError(f"{path}: cannot load into {recipe.model} {recipe.model_config()} "
                         f"({type(err).__name__}: {err})") from err
    log(f"initial generator weights: {path}")


def train_gan(recipe, data=None, val_data=None, out=None, resume=False, pretrained=None, train_data=None,
              val_pairs=None, loader=None, verbose="auto", log=print, tensorboard=True, image_summaries=True,
              strategy="auto"):
    """Train the GAN of `recipe` and return the engine's `TrainResult` (`model`: the float32 generator).

    Args:
        recipe: a resolved `GANRecipe` (`model` the generator, `discriminator` set).
        data, val_data: `--data` / `--val-data` entries for `resolve_data` (None: embedded photographs).
        out: run directory (default `runs/<run_name>_x<scale>_<time>`).
        resume: continue from the latest checkpoint in `out` (both networks and optimizers).
        pretrained: generator weights to start from (default `recipe.pretrained`; ignored when resuming).
        train_data: ready `(lr, hr)` batches: a `PyDataset`-like object (indexed by step) or an iterable.
        val_pairs: `[(lr_uint8, hr_uint8)]` instead of the held-out images of `data`.
        loader: "tfdata" or "pydataset" (default by backend).
        verbose: 0 for no per-epoch lines.
        log: `callable(str)` (None: silent).
        tensorboard: write TensorBoard event files under `<out>/tensorboard`.
        strategy: "auto" or "none": the GAN trainer runs on one device.
    """
    from keras_sr import models
    from keras_sr.fileio import atomic_path, atomic_write_text
    from keras_sr.models.loading import write_model_json
    from keras_sr.training import checkpoint as checkpoint_lib
    from keras_sr.training import ema as ema_lib
    from keras_sr.training.data import make_train_data
    from keras_sr.training.engine import (TrainResult, build_inference_model, dtype_policy, make_optimizer,
                                          resolve_policy, resolve_run_data)
    from keras_sr.training.recipe import write_recipe_json
    from keras_sr.training.tensorboard import open_run_logger, validation_image_hook
    from keras_sr.training.validation import ValidationCallback, evaluate_pairs

    backend = keras.backend.backend()
    if backend not in ("tensorflow", "jax"):
        raise ValueError(f"GAN training runs on the tensorflow and jax backends, not {backend!r}.")
    if strategy not in ("auto", "none", None):
        raise ValueError(f"GAN training runs on one device (strategy auto or none), got strategy={strategy!r}.")
    if not recipe.discriminator:
        raise ValueError(f"{type(recipe).__name__}: no discriminator set.")
    log = log or (lambda *_: None)
    start = time.perf_counter()
    out = out or default_gan_run_dir(recipe)
    os.makedirs(out, exist_ok=True)
    manager = checkpoint_lib.CheckpointManager(os.path.join(out, "checkpoints"), keep=recipe.keep_checkpoints)
    resuming = bool(resume) and manager.latest_path() is not None
    if resume and not resuming:
        log(f"--resume: no checkpoint in {out}/checkpoints, starting from scratch")
    model_config, d_config = recipe.model_config(), recipe.discriminator_config()
    write_recipe_json(out, recipe, model_config, extra={
        "trainer": "gan", "discriminator": {"name": recipe.discriminator, "config": d_config}, "data": data})
    write_model_json(out, recipe.model, model_config)

    keras.utils.set_random_seed(recipe.seed)
    policy = resolve_policy(recipe.mixed_precision)
    if policy == "mixed_float16":
        raise ValueError("GAN training supports mixed_precision off or bfloat16 (float16 would need a loss scale per "
                         "optimizer); pass --mixed-precision bfloat16")
    log(f"keras {keras.__version__}, backend {backend}, one device, dtype policy {policy}")

    split, val_pairs = resolve_run_data(recipe, data, val_data, train_data, val_pairs, log)

    epoch_steps = recipe.epoch_steps
    with dtype_policy(policy):
        generator = models.build(recipe.model, **model_config)
        discriminator = models.build(recipe.discriminator, **d_config)
    if not resuming:  # before the generator gets its optimizer: a weights file of the bare model
        pretrained = recipe.pretrained if pretrained is None else pretrained
        if pretrained:
            _load_pretrained(generator, pretrained, recipe, log)
        else:
            log("generator from scratch (the papers start it from the PSNR-oriented model: --pretrained)")
    objective = GANObjective(recipe)
    if objective.extractor is not None:
        log(f"perceptual loss: VGG19 {recipe.perceptual_layer}, weights "
            f"{objective.extractor.weights_path or 'random (tests only)'}, {objective.extractor.input_norm} "
            "preprocessing")
    g_opt = make_optimizer(recipe)
    d_opt = make_optimizer(recipe.replace(learning_rate=recipe.d_learning_rate, ema_decay=0.0))
    g_opt.build(generator.trainable_variables)
    d_opt.build(discriminator.trainable_variables)
    generator.compile(optimizer=g_opt)  # `generator.optimizer`: the EMA helpers and validation read it
    networks = GANNetworks(generator, discriminator, g_opt, d_opt)

    step0 = 0
    if resuming:
        networks.load_weights(manager.latest_path())
        step0 = networks.step
        log(f"resumed from {manager.latest_path()} at step {step0} (generator, discriminator, both optimizers)")
    if train_data is None:
        # PyDataset batches are drawn by global step (the same batches whether or not the run was interrupted);
        # a tf.data stream restarts, so a resumed one is re-seeded (as engine.train does).
        train_data = make_train_data(split, recipe, seed=recipe.seed, steps_per_epoch=epoch_steps, loader=loader,
                                     log=log)
        if step0 and not _is_indexed(train_data):
            train_data = make_train_data(split, recipe, seed=recipe.seed + step0, steps_per_epoch=epoch_steps,
                                         loader=loader)

    board = open_run_logger(out, tensorboard, log)
    on_validation = validation_image_hook(board, val_pairs, recipe.scale, image_summaries)

    validation = ValidationCallback(val_pairs, recipe.scale, recipe.val_every, recipe.steps, y_only=True,
                                    weights_context=ema_lib.ema_weights, on_result=on_validation, log=log)
    validation.set_model(generator)
    best_model = build_inference_model(recipe, model_config)
    csv = CSVLog(os.path.join(out, "log.csv"), GAN_LOG_COLUMNS)

    jax_trainer = None
    if backend == "jax":
        jax_trainer = _JaxTrainer(networks, objective, jit=custom_loop_jit(recipe))
        step_fn = jax_trainer
    else:
        step_fn = _tf_step(networks, objective, custom_loop_jit(recipe))

    def sync():
        if jax_trainer is not None:
            jax_trainer.sync()

    history = collections.defaultdict(list)
    step = step0
    if step0 < recipe.steps:
        log(f"training {type(recipe).run_name} ({recipe.model} + {recipe.discriminator}) x{recipe.scale}: steps "
            f"{step0} -> {recipe.steps}, batch {recipe.batch_size}, HR patch {recipe.hr_patch_size}, {recipe.gan_loss} "
            f"loss, weights pixel {recipe.pixel_weight:g} / perceptual {recipe.perceptual_weight:g} / adversarial "
            f"{recipe.adversarial_weight:g}")
        batches = step_batches(train_data, step0)
        epoch_logs, epoch_start, epoch_first = [], time.perf_counter(), step0
        while step < recipe.steps:
            lr, hr = next(batches)
            epoch_logs.append(step_fn(lr, hr))
            step += 1
            if step % epoch_steps and step < recipe.steps:
                continue
            seconds = time.perf_counter() - epoch_start
            row = {k: float(np.mean([float(ops.convert_to_numpy(logs[k])) for logs in epoch_logs]))
                   for k in epoch_logs[0]}
            sync()
            row.update(step=step, epoch=math.ceil(step / epoch_steps), learning_rate=optimizer_learning_rate(g_opt),
                       d_learning_rate=optimizer_learning_rate(d_opt),
                       steps_per_second=(step - epoch_first) / max(seconds, 1e-9),
                       elapsed_s=time.perf_counter() - start)
            if val_pairs and (step % recipe.val_every == 0 or step >= recipe.steps):
                entry = validation.validate(step)
                row.update(val_psnr=entry["psnr"], val_ssim=entry["ssim"])
                best_model.set_weights(ema_lib.weights_with_ema(generator))
                manager.update_best(best_model, step, entry["psnr"], entry["ssim"])
            if step % recipe.checkpoint_every == 0 or step >= recipe.steps:
                manager.save(networks, step)
            csv.write(row)
            for key, value in row.items():
                history[key].append(value)
            if board is not None:
                board.scalars(step, {**{f"train/{k}": row[k] for k in epoch_logs[0]},
                                     "train/learning_rate": row["learning_rate"],
                                     "train/d_learning_rate": row["d_learning_rate"],
                                     **({"val/psnr": row["val_psnr"], "val/ssim": row["val_ssim"]}
                                        if "val_psnr" in row else {})})
            if verbose:
                parts = " ".join(f"{k} {row[k]:.4g}" for k in epoch_logs[0])
                log(f"step {step}/{recipe.steps}: {parts}, {row['steps_per_second']:.2f} steps/s")
            epoch_logs, epoch_start, epoch_first = [], time.perf_counter(), step
    else:
        log(f"nothing to train: the latest checkpoint is at step {step0} >= {recipe.steps}")
    sync()
    steps_done = networks.step

    inference = build_inference_model(recipe, model_config)
    inference.set_weights(ema_lib.weights_with_ema(generator))
    with atomic_path(os.path.join(out, "final.keras")) as tmp:
        inference.save(tmp)
    checkpoint_lib.save_weights_atomic(inference, os.path.join(out, "final.weights.h5"))
    checkpoint_lib.save_weights_atomic(discriminator, os.path.join(out, "discriminator.weights.h5"))

    final = evaluate_pairs(inference, val_pairs, recipe.scale) if val_pairs else {
        "psnr": float("nan"), "ssim": float("nan"), "images": []}
    bicubic = validation.bicubic or {"psnr": float("nan"), "ssim": float("nan"), "images": []}
    seconds = time.perf_counter() - start
    summary = {
        "trainer": "gan",
        "steps": steps_done,
        "discriminator_steps": int(ops.convert_to_numpy(d_opt.iterations)),
        "resumed_from": step0,
        "seconds": seconds,
        "dtype_policy": policy,
        "final": {k: final[k] for k in ("psnr", "ssim")},
        "bicubic": {k: bicubic[k] for k in ("psnr", "ssim")},
        "best_psnr": manager.index.get("best"),
        "validation": validation.history,
        "final_losses": {k: history[k][-1] for k in _LOSS_COLUMNS if history.get(k)},
        "note": "PSNR/SSIM do not measure perceptual quality; no perceptual metric (LPIPS) is computed.",
    }
    atomic_write_text(os.path.join(out, "summary.json"), json.dumps(summary, indent=2, default=float))
    return TrainResult(out, inference, networks, recipe, steps_done, seconds, dict(history), validation.history,
                       final, bicubic, "one device", step0)


# Command line ---------------------------------------------------------------------------------------------------


def _latest_gan_run(recipe_cls, scale):
    pattern = os.path.join("runs", f"{recipe_cls.run_name}_x{scale}_*")
    runs = sorted((p for p in glob.glob(pattern) if os.path.isdir(os.path.join(p, "checkpoints"))),
                  key=os.path.getmtime)
    return runs[-1] if runs else None


def _check_files(recipe, resuming):
    """SystemExit naming the missing VGG weights (and how to make them) or pretrained file, before any work."""
    from keras_sr.training.perceptual import vgg_weights_help

    name = type(recipe).__name__
    if recipe.needs_vgg and recipe.vgg_weights != "random":
        if not recipe.vgg_weights:
            raise SystemExit(f"error: {name}: --vgg-weights is required: {vgg_weights_help()}")
        if not os.path.isfile(recipe.vgg_weights):
            raise SystemExit(f"error: {name}: --vgg-weights {recipe.vgg_weights}: file not found: "
                             f"{vgg_weights_help()}")
    if recipe.pretrained and not resuming and not os.path.isfile(recipe.pretrained):
        raise SystemExit(f"error: {name}: --pretrained {recipe.pretrained}: file not found (the .weights.h5 of a "
                         f"{recipe.model} run with the same config, e.g. runs/<run>/final.weights.h5)")


def run_gan_recipe(recipe_cls, args, log=print):
    """`run_recipe` for GAN recipes: train with `train_gan`, export the generator, print held-out scores."""
    from keras_sr.data.sources import load_validation_pairs, resolve_data
    from keras_sr.image_io import save_image
    from keras_sr.training.cli import benchmark_run, config_overrides, export_run, recipe_from_args
    from keras_sr.training.report import comparison_image, format_scores
    from keras_sr.training.validation import predict_image

    if args.init == "preset":
        raise SystemExit("error: GAN recipes start from --pretrained FILE.weights.h5 (the PSNR-oriented run), "
                         "not --init preset")
    if getattr(args, "init_from", None):
        raise SystemExit("error: GAN recipes start from --pretrained FILE.weights.h5 (the PSNR-oriented run), "
                         "not --init-from")
    if args.strategy not in ("auto", "none"):
        raise SystemExit(f"error: the GAN trainer runs on one device; --strategy {args.strategy} is not supported")
    if args.resume and not args.out:
        args.out = _latest_gan_run(recipe_cls, args.scale or 4)
        if args.out is None:
            raise SystemExit(f"error: --resume without --out and no earlier run under runs/{recipe_cls.run_name}_x*")
    recipe = recipe_from_args(recipe_cls, args)
    config = config_overrides(recipe_cls, args)
    if config:
        log(f"config {args.config}: " + json.dumps(config, default=str))
    resuming = bool(args.resume and args.out and os.path.isdir(os.path.join(args.out, "checkpoints")))
    _check_files(recipe, resuming)
    out = args.out or default_gan_run_dir(recipe)
    log(f"run directory: {out}")
    log("recipe: " + json.dumps(recipe.to_dict(), default=str))
    split = resolve_data(args.data, args.val_data)
    val_pairs = load_validation_pairs(split.val, recipe.scale, max_images=recipe.val_images or None,
                                      skip_small=True) if split.val else []
    result = train_gan(recipe, data=args.data, val_data=args.val_data, out=out, resume=args.resume,
                       val_pairs=val_pairs, loader=args.loader, verbose=1, log=log)
    paths = {} if args.no_export else export_run(result, args, log)
    if args.eval_data:
        benchmark_run(result, args.eval_data, log)
    label = recipe_cls.run_name.upper()
    comparison = None
    if val_pairs:
        lr, hr = val_pairs[0]
        sr = predict_image(result.model, lr, recipe.scale)
        comparison = os.path.join(result.run_dir, "comparison.png")
        save_image(comparison, comparison_image(lr, hr, sr, recipe.scale, labels=("LR (nearest)", "bicubic", label,
                                                                                  "HR")))
    print()
    print(format_scores({"bicubic": result.bicubic, f"{label} ({result.steps} steps)": result.final},
                        title=f"Held-out images ({len(val_pairs)}), x{recipe.scale}, PSNR/SSIM on Y, border "
                              f"{recipe.scale} (a GAN trades PSNR for texture; no perceptual metric is computed):"))
    print(f"run directory: {out}  (recipe.json, checkpoints/, final.keras, final.weights.h5, discriminator.weights.h5"
          + (", saved_model/" if "saved_model" in paths else "")
          + (f", {os.path.basename(paths['tflite'])}" if "tflite" in paths else "")
          + (", comparison.png" if comparison else "") + f"); wall time {result.seconds / 60:.1f} min")
    return result


def gan_recipe_main(recipe_cls, prog=None):
    """`main(argv=None)` for a GAN recipe module (the flags of `recipe_main`, trained by `train_gan`)."""
    from keras_sr.training.cli import recipe_main
    from keras_sr.training.perceptual import MissingVGGWeights

    return recipe_main(recipe_cls, prog=prog or f"recipes.{recipe_cls.run_name}", run=run_gan_recipe,
                       user_errors=(MissingVGGWeights,))
