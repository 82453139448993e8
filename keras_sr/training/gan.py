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

Batches are `(lr, hr)`, or `(lr, target, real)` where the pixel / perceptual
target differs from the discriminator's real images (Real-ESRGAN: the
USM-sharpened HR, and the HR itself). A recipe's `batch_transform()` (None by
default) runs inside the compiled step before the generator, with a state
carried from step to step (Real-ESRGAN's on-device degradations and pair pool,
`keras_sr.degradations.stage.DeviceDegradation`); a recipe's `train_data(split,
...)` replaces the loader. A recipe without a discriminator (Real-ESRNet: L1
only) trains the generator alone on the same loop.

A single `fit` cannot hold two optimizers (its JAX trainer threads one
optimizer's state), so `GANTrainer` is a family of the one custom loop
(`keras_sr.training.loop.train_loop`, the run folder of
`keras_sr.training.run.Run`): this module keeps the objective and the steps;
it reuses `make_optimizer` (schedule, clipping, EMA of G's weights), data
(`make_train_data`) and `ValidationCallback` (held-out PSNR/SSIM on Y).

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

import dataclasses
import os
import typing

import numpy as np

import keras
from keras import ops

from keras_sr.training import ema as ema_lib
from keras_sr.training.loop import (LoopTrainer, Networks, StatelessState, custom_loop_jit, is_indexed,
                                    optimizer_learning_rate, train_loop)
from keras_sr.training.recipe import Recipe, field
from keras_sr.training.run import NO_SCORES, Run, dtype_policy
from keras_sr import models
from keras_sr.training.data import make_train_data
from keras_sr.training.engine import make_optimizer, resolve_run_data, build_inference_model
from keras_sr.training.losses import get_loss
from keras_sr.training.perceptual import (vgg_weights_help, GramLoss, PerceptualLoss, VGGFeatureExtractor,
                                          adversarial_losses)
from keras_sr.training.tensorboard import validation_image_hook
from keras_sr.training.validation import ValidationCallback, evaluate_pairs

__all__ = ["GANRecipe", "GANNetworks", "GANObjective", "GANTrainer", "train_gan", "load_pretrained_discriminator",
           "GAN_LOG_COLUMNS"]

GAN_LOG_COLUMNS = ("step", "epoch", "g_loss", "g_pixel", "g_perceptual", "g_style", "g_adversarial", "d_loss",
                   "d_real", "d_fake", "learning_rate", "d_learning_rate", "steps_per_second", "val_psnr", "val_ssim",
                   "elapsed_s")
_MULTIPLE = {"esrgan_discriminator": 32, "srgan_discriminator": 16, "unet_discriminator_sn": 8,
             "stylegan2_discriminator": 8}


@dataclasses.dataclass(frozen=True)
class GANRecipe(Recipe):
    """Fields shared by the GAN recipes (`recipes.srgan`, `recipes.esrgan`); `model` is the generator.

    The inherited `learning_rate`, `schedule`, `lr_milestones`, `lr_gamma`,
    `beta_*`, `clip_grad_norm` apply to both optimizers (the discriminator
    starts at `d_learning_rate`); `ema_decay` averages the generator only;
    `loss` is the pixel criterion.
    """

    run_name: typing.ClassVar[str] = "gan"
    trainer: typing.ClassVar[str] = "gan"
    refuses: typing.ClassVar[dict] = {
        "init_preset": "GAN recipes start from --pretrained FILE.weights.h5 (the PSNR-oriented run), not --init preset",
        "init_from": "GAN recipes start from --pretrained FILE.weights.h5 (the PSNR-oriented run), not --init-from",
        "strategy": "the GAN trainer runs on one device; --strategy {strategy} is not supported"}

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
    pretrained_discriminator: str = field("", "initial discriminator weights (.weights.h5 or .keras), e.g. "
                                              "`keras-sr convert RealESRGAN_x4plus_netD.pth` (or a BasicSR "
                                              "net_d_*.pth, a GLEAN file with --model stylegan2_discriminator), "
                                              "to fine-tune as the official recipes do")

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

    def perceptual_layer_weights(self):
        """`{VGG layer: weight}` of the perceptual (and style) loss: `perceptual_layer` alone by default."""
        return {self.perceptual_layer: 1.0}

    def batch_transform(self):
        """An in-step batch stage `(batch, state) -> ((lr, target, real), state)` with `init_state()`, or None.

        It runs inside the compiled train step before the generator (Real-ESRGAN's on-device degradation,
        `keras_sr.degradations.stage.DeviceDegradation`); None: batches are `(lr, hr)` or `(lr, target, real)`.
        """
        return None

    @property
    def needs_vgg(self):
        return self.perceptual_weight > 0 or self.style_weight > 0

    @classmethod
    def run_prefix(cls):
        return cls.run_name

    def run_dir_name(self):
        return self.run_name

    def check_files(self, resuming=False):
        """SystemExit naming the missing VGG weights (and how to make them) or pretrained file, before any work."""

        name = type(self).__name__
        if self.needs_vgg and self.vgg_weights != "random":
            if not self.vgg_weights:
                raise SystemExit(f"error: {name}: --vgg-weights is required: {vgg_weights_help()}")
            if not os.path.isfile(self.vgg_weights):
                raise SystemExit(f"error: {name}: --vgg-weights {self.vgg_weights}: file not found: "
                                 f"{vgg_weights_help()}")
        if self.pretrained and not resuming and not os.path.isfile(self.pretrained):
            raise SystemExit(f"error: {name}: --pretrained {self.pretrained}: file not found (the .weights.h5 of a "
                             f"{self.model} run with the same config, e.g. runs/<run>/final.weights.h5)")
        if self.pretrained_discriminator and not resuming and not os.path.isfile(self.pretrained_discriminator):
            raise SystemExit(f"error: {name}: --pretrained-discriminator {self.pretrained_discriminator}: file not "
                             f"found (a {self.discriminator} .weights.h5 / .keras file, e.g. from keras-sr convert)")

    def discriminator_config(self):
        """Builder kwargs of `keras_sr.models.build(self.discriminator, ...)`: crops of `hr_patch_size`."""
        config = {"input_size": self.hr_patch_size}
        if self.d_filters:
            config["filters"] = self.d_filters
        if self.d_dense_units:
            config["dense_units"] = self.d_dense_units
        return config


GANNetworks = Networks  # generator, discriminator and both optimizers: one checkpoint file


class GANObjective:
    """The generator and discriminator losses of a `GANRecipe` (keras.ops; called inside both train steps).

    Example:
        >>> objective = GANObjective(ESRGANRecipe.for_scale(4, vgg_weights="random"))
        >>> total, logs = objective.generator_terms(sr, hr, real_logits, fake_logits)
        >>> d_total, d_logs = objective.discriminator_terms(real_logits, fake_logits)
    """

    def __init__(self, recipe):
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
        layers = recipe.perceptual_layer_weights()
        if recipe.needs_vgg:
            variant = getattr(recipe, "vgg_variant", "vgg19")  # GLEAN: VGG16 (mmagic's perceptual loss)
            self.extractor = VGGFeatureExtractor(tuple(layers), recipe.vgg_weights or None, recipe.vgg_input_norm,
                                                 variant=variant)
            common = dict(criterion=recipe.perceptual_criterion, feature_scale=recipe.feature_scale,
                          extractor=self.extractor)
            if self.perceptual_weight:
                self.perceptual = PerceptualLoss(layers, **common)
            if self.style_weight:
                self.style = GramLoss(layers, **common)
        self.has_discriminator = bool(recipe.discriminator)
        if self.adversarial_weight and not self.has_discriminator:
            raise ValueError(f"{type(recipe).__name__}: adversarial_weight {self.adversarial_weight:g} needs a "
                             "discriminator.")
        self.adversarial_g, self.adversarial_d = adversarial_losses(recipe.gan_loss)

    @property
    def vgg_variables(self):
        return self.extractor.variables if self.extractor is not None else []

    def log_keys(self):
        """The names of the logged losses, in the order the steps return them."""
        terms = (("g_pixel", self.pixel), ("g_perceptual", self.perceptual), ("g_style", self.style))
        keys = tuple(k for k, term in terms if term is not None)
        if not self.has_discriminator:
            return keys + ("g_loss",)
        return keys + ("g_adversarial", "g_loss", "d_loss", "d_real", "d_fake")

    def generator_terms(self, sr, hr, real_logits, fake_logits, vgg_values=None):
        """`(L_G, logs)`; `hr`: the pixel / perceptual target; `real_logits` must not carry gradients (both logits
        None without a discriminator); `vgg_values`: stateless VGG weights (JAX)."""
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
        if self.has_discriminator:
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


def _split(batch):
    """`(lr, target, real)` of a `(lr, hr)` or `(lr, target, real)` batch (target: pixel / perceptual losses)."""
    if len(batch) == 2:
        return batch[0], batch[1], batch[1]
    if len(batch) == 3:
        return tuple(batch)
    raise ValueError(f"GAN batches are (lr, hr) or (lr, target, real), got {len(batch)} elements.")


def _as_arrays(batch):
    if isinstance(batch, dict):
        return {k: np.asarray(v) for k, v in batch.items()}
    return tuple(np.asarray(x, np.float32) for x in batch)


def _tf_step(networks, objective, jit_compile, transform=None):
    """The stateful TensorFlow step `(batch, state) -> (logs, state)` (two tapes, in-place optimizer updates);
    `state` is the batch transform's (e.g. Real-ESRGAN's pair pool), `{}` without one."""
    import tensorflow as tf

    generator, discriminator = networks.generator, getattr(networks, "discriminator", None)
    g_opt, d_opt = networks.g_optimizer, getattr(networks, "d_optimizer", None)

    def step(batch, state):
        if transform is not None:
            (lr, target, real), state = transform(batch, state)
        else:
            lr, target, real = _split(batch)
        lr, target, real = (tf.stop_gradient(tf.cast(x, tf.float32)) for x in (lr, target, real))
        with tf.GradientTape() as tape:
            sr = generator(lr, training=True)
            real_logits = fake_logits = None
            if discriminator is not None:
                real_logits = tf.stop_gradient(discriminator(real, training=True))
                fake_logits = discriminator(sr, training=True)
            g_total, g_logs = objective.generator_terms(sr, target, real_logits, fake_logits)
        g_vars = generator.trainable_variables
        g_opt.apply(tape.gradient(g_total, g_vars), g_vars)
        if discriminator is None:
            return g_logs, state
        sr = tf.stop_gradient(sr)
        with tf.GradientTape() as tape:
            real_logits = discriminator(real, training=True)
            fake_logits = discriminator(sr, training=True)
            d_total, d_logs = objective.discriminator_terms(real_logits, fake_logits)
        d_vars = discriminator.trainable_variables
        d_opt.apply(tape.gradient(d_total, d_vars), d_vars)
        return {**g_logs, **d_logs}, state

    compiled = tf.function(step, jit_compile=jit_compile, reduce_retracing=True)

    def run(batch, state):
        return compiled(tf.nest.map_structure(tf.convert_to_tensor, _as_arrays(batch)), state)

    return run


class _JaxState(StatelessState):
    """The stateless JAX step `(batch, state) -> (logs, state)` and its network state (`sync()` writes it back into
    the Keras variables); the batch transform's state passes through as in the TensorFlow step."""

    def __init__(self, networks, objective, jit, transform=None):
        import jax

        self.networks = networks
        self.objective = objective
        generator, discriminator = networks.generator, getattr(networks, "discriminator", None)
        g_opt, d_opt = networks.g_optimizer, getattr(networks, "d_optimizer", None)

        def generator_loss(g_tv, g_ntv, d_tv, d_ntv, vgg, lr, target, real):
            sr, g_ntv = generator.stateless_call(g_tv, g_ntv, lr, training=True)
            real_logits = fake_logits = None
            if discriminator is not None:
                real_logits, d_ntv = discriminator.stateless_call(d_tv, d_ntv, real, training=True)
                fake_logits, d_ntv = discriminator.stateless_call(d_tv, d_ntv, sr, training=True)
                real_logits = jax.lax.stop_gradient(real_logits)
            total, logs = objective.generator_terms(sr, target, real_logits, fake_logits, vgg)
            return total, (sr, g_ntv, d_ntv, logs)

        def discriminator_loss(d_tv, d_ntv, sr, real):
            real_logits, d_ntv = discriminator.stateless_call(d_tv, d_ntv, real, training=True)
            fake_logits, d_ntv = discriminator.stateless_call(d_tv, d_ntv, sr, training=True)
            total, logs = objective.discriminator_terms(real_logits, fake_logits)
            return total, (d_ntv, logs)

        g_grad = jax.value_and_grad(generator_loss, has_aux=True)
        d_grad = jax.value_and_grad(discriminator_loss, has_aux=True)

        def step(state, vgg, batch, t_state):
            if transform is not None:
                (lr, target, real), t_state = transform(batch, t_state)
            else:
                lr, target, real = _split(batch)
            lr, target, real = (jax.lax.stop_gradient(x.astype("float32")) for x in (lr, target, real))
            g_tv, g_ntv, d_tv, d_ntv, g_ov, d_ov = state
            (_, (sr, g_ntv, d_ntv, g_logs)), grads = g_grad(g_tv, g_ntv, d_tv, d_ntv, vgg, lr, target, real)
            g_tv, g_ov = g_opt.stateless_apply(g_ov, grads, g_tv)
            if discriminator is None:
                return (g_tv, g_ntv, d_tv, d_ntv, g_ov, d_ov), g_logs, t_state
            sr = jax.lax.stop_gradient(sr)
            (_, (d_ntv, d_logs)), grads = d_grad(d_tv, d_ntv, sr, real)
            d_tv, d_ov = d_opt.stateless_apply(d_ov, grads, d_tv)
            return (g_tv, g_ntv, d_tv, d_ntv, g_ov, d_ov), {**g_logs, **d_logs}, t_state

        self._step = jax.jit(step) if jit else step
        self.vgg = [v.value for v in objective.vgg_variables]
        self.state = self.read()

    def groups(self):
        n = self.networks
        discriminator = getattr(n, "discriminator", None)
        if discriminator is None:
            return (n.generator.trainable_variables, n.generator.non_trainable_variables, [], [],
                    n.g_optimizer.variables, [])
        return (n.generator.trainable_variables, n.generator.non_trainable_variables,
                discriminator.trainable_variables, discriminator.non_trainable_variables,
                n.g_optimizer.variables, n.d_optimizer.variables)

    def __call__(self, batch, t_state):
        self.state, logs, t_state = self._step(self.state, self.vgg, _as_arrays(batch), t_state)
        return logs, t_state


class GANTrainer(LoopTrainer):
    """The GAN family of the custom loop (`keras_sr.training.loop`): its step, validation and final files."""

    name = "gan"
    best_key = "best_psnr"
    note = "PSNR/SSIM do not measure perceptual quality; no perceptual metric (LPIPS) is computed."

    def __init__(self, recipe, networks, objective, val_pairs, model_config, on_validation=None, log=None):
        self.recipe, self.networks, self.model_config = recipe, networks, model_config
        self.checkpointables = networks
        self.val_pairs = val_pairs
        self.validates = bool(val_pairs)
        self.log_keys = objective.log_keys()
        jit = custom_loop_jit(recipe)
        transform = recipe.batch_transform()
        self.transform_state = transform.init_state() if transform is not None else {}
        self.jax = _JaxState(networks, objective, jit, transform) if keras.backend.backend() == "jax" else None
        self._step = self.jax if self.jax is not None else _tf_step(networks, objective, jit, transform)
        self.validation = ValidationCallback(val_pairs, recipe.scale, recipe.val_every, recipe.steps, y_only=True,
                                             weights_context=ema_lib.ema_weights, on_result=on_validation, log=log)
        self.validation.set_model(networks.generator)
        self.bicubic = self.validation.bicubic
        self.validation_history = self.validation.history
        self._best = self.inference_model()

    def step(self, step, batch):
        logs, self.transform_state = self._step(batch, self.transform_state)
        return logs

    def sync(self):
        if self.jax is not None:
            self.jax.sync()

    def learning_rates(self):
        rates = {"learning_rate": optimizer_learning_rate(self.networks.g_optimizer)}
        if getattr(self.networks, "d_optimizer", None) is not None:
            rates["d_learning_rate"] = optimizer_learning_rate(self.networks.d_optimizer)
        return rates

    def validate(self, step):
        return self.validation.validate(step)

    def inference_model(self):
        """A float32 copy of the generator holding its EMA weights (when EMA is on)."""

        model = build_inference_model(self.recipe, self.model_config)
        model.set_weights(ema_lib.weights_with_ema(self.networks.generator))
        return model

    def best_model(self):
        self._best.set_weights(ema_lib.weights_with_ema(self.networks.generator))
        return self._best

    def final_scores(self, model, steps):
        return evaluate_pairs(model, self.val_pairs, self.recipe.scale) if self.val_pairs else NO_SCORES

    def final_files(self):
        discriminator = getattr(self.networks, "discriminator", None)
        return {"discriminator.weights.h5": discriminator} if discriminator is not None else {}

    def summary_fields(self):
        optimizer = getattr(self.networks, "d_optimizer", None)
        return {"discriminator_steps": int(ops.convert_to_numpy(optimizer.iterations)) if optimizer is not None else 0}


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


def load_pretrained_discriminator(discriminator, path, log=print):
    """Weights of `path` (a `.weights.h5` or `.keras` file of the same discriminator and width) into `discriminator`.

    The crop size may differ (the weights do not depend on it): a `.keras` file of any `input_size` fits.
    """
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path}: pretrained discriminator weights not found")
    try:
        if path.endswith(".keras"):
            source = keras.saving.load_model(path, compile=False)
            if len(source.weights) != len(discriminator.weights):
                raise ValueError(f"{len(source.weights)} weights, the discriminator has {len(discriminator.weights)}")
            for target, value in zip(discriminator.weights, source.weights):
                if tuple(target.shape) != tuple(value.shape):
                    raise ValueError(f"{value.path} has shape {tuple(value.shape)}, {target.path} {tuple(target.shape)}")
                target.assign(value)
        else:
            discriminator.load_weights(path)
    except Exception as err:  # noqa: BLE001 - say which file
        raise ValueError(f"{path}: cannot load into the discriminator {discriminator.name} "
                         f"({type(err).__name__}: {err})") from err
    if log:
        log(f"initial discriminator weights: {path}")


def train_gan(recipe, data=None, val_data=None, out=None, resume=False, pretrained=None, train_data=None,
              val_pairs=None, loader=None, verbose="auto", log=print, tensorboard=True, image_summaries=True,
              strategy="auto", split=None):
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
        split: `data`/`val_data` already resolved (`keras_sr.data.sources.resolve_data`).
    """

    backend = keras.backend.backend()
    if backend not in ("tensorflow", "jax"):
        raise ValueError(f"GAN training runs on the tensorflow and jax backends, not {backend!r}.")
    if strategy not in ("auto", "none", None):
        raise ValueError(f"GAN training runs on one device (strategy auto or none), got strategy={strategy!r}.")
    if not recipe.discriminator and recipe.adversarial_weight:
        raise ValueError(f"{type(recipe).__name__}: no discriminator set.")
    run = Run(recipe, out, resume, name=recipe.run_dir_name(), log=log)
    log = run.log
    model_config = recipe.model_config()
    d_config = recipe.discriminator_config() if recipe.discriminator else None
    run.write_records(model_config, {"trainer": "gan", "discriminator": {"name": recipe.discriminator,
                                                                          "config": d_config}, "data": data})
    policy = run.seed_and_policy(float16=False, trainer="GAN training")
    log(f"keras {keras.__version__}, backend {backend}, one device, dtype policy {policy}")
    split, val_pairs = resolve_run_data(recipe, data, val_data, train_data, val_pairs, log, split)

    with dtype_policy(policy):
        generator = models.build(recipe.model, **model_config)
        discriminator = models.build(recipe.discriminator, **d_config) if recipe.discriminator else None
    if not run.resuming:  # before the generator gets its optimizer: a weights file of the bare model
        prepare = getattr(recipe, "prepare_generator", None)  # GLEAN: the released StyleGAN2 bank
        if callable(prepare):
            prepare(generator, log)
        pretrained = recipe.pretrained if pretrained is None else pretrained
        if pretrained:
            _load_pretrained(generator, pretrained, recipe, log)
        else:
            log("generator from scratch (the papers start it from the PSNR-oriented model: --pretrained)")
        if discriminator is not None and recipe.pretrained_discriminator:
            load_pretrained_discriminator(discriminator, recipe.pretrained_discriminator, log)
    objective = GANObjective(recipe)
    if objective.extractor is not None:
        log(f"perceptual loss: {getattr(recipe, 'vgg_variant', 'vgg19').upper()} {recipe.perceptual_layer}, weights "
            f"{objective.extractor.weights_path or 'random (tests only)'}, {objective.extractor.input_norm} "
            "preprocessing")
    g_opt = make_optimizer(recipe)
    g_opt.build(generator.trainable_variables)
    d_opt = None
    if discriminator is not None:
        d_opt = make_optimizer(recipe.replace(learning_rate=recipe.d_learning_rate, ema_decay=0.0))
        d_opt.build(discriminator.trainable_variables)
    generator.compile(optimizer=g_opt)  # `generator.optimizer`: the EMA helpers and validation read it
    networks = GANNetworks(generator, discriminator, g_opt, d_opt)

    step0 = 0
    if run.resuming:
        step0 = run.checkpoints.restore(networks.load_weights, lambda: networks.step, log)  # newest intact one
        log(f"resumed from {run.checkpoints.latest_path()} at step {step0} (generator, discriminator, both "
            "optimizers)")
    if train_data is None:
        # PyDataset batches are drawn by global step (the same batches whether or not the run was interrupted);
        # a tf.data stream restarts, so a resumed one is re-seeded (as engine.train does).
        hook = getattr(recipe, "train_data", None)  # a recipe's own data stage (Real-ESRGAN's degradations)
        make = hook if callable(hook) else (lambda split, **kwargs: make_train_data(split, recipe, **kwargs))
        train_data = make(split, seed=recipe.seed, steps_per_epoch=recipe.epoch_steps, loader=loader, log=log)
        if step0 and not is_indexed(train_data):
            train_data = make(split, seed=recipe.seed + step0, steps_per_epoch=recipe.epoch_steps, loader=loader)
    logger = run.logger(GAN_LOG_COLUMNS, tensorboard)
    trainer = GANTrainer(recipe, networks, objective, val_pairs, model_config, log=log,
                         on_validation=validation_image_hook(logger.board, val_pairs, recipe.scale, image_summaries))
    describe = (f"training {type(recipe).run_name} ({recipe.model} + {recipe.discriminator or 'no discriminator'}) "
                f"x{recipe.scale}: steps "
                f"{step0} -> {recipe.steps}, batch {recipe.batch_size}, HR patch {recipe.hr_patch_size}, "
                f"{recipe.gan_loss} loss, weights pixel {recipe.pixel_weight:g} / perceptual "
                f"{recipe.perceptual_weight:g} / adversarial {recipe.adversarial_weight:g}")
    return train_loop(trainer, run, train_data, step0, logger, verbose=verbose, describe=describe)
