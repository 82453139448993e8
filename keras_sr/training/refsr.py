"""Reference-based SR training (TTSR and others): reconstruction-only and GAN variants, on TensorFlow and JAX.

TTSR (Yang et al., CVPR 2020, Sec. 3.4 / 4.1; official `trainer.py`,
`train.sh`, `option.py`): 40x40 LR patches (x4) with 160x160 references,
batch 9; Adam (0.9, 0.999, eps 1e-8) at 1e-4 for the main network and 1e-5
for the learnable texture extractor (LTE), constant; the loss
`L = L_rec + 1e-2 L_per + 1e-2 L_tpl + 1e-3 L_adv` (`keras_sr.training.refsr_losses`),
with the first two epochs (`num_init_epochs`) on `L_rec` only; the critic is
trained with WGAN-GP (penalty 10), Adam (0, 0.9) at 1e-4, twice per
generator step (`GAN_k = 2`). TTSR-rec (`variant="rec"`) trains `L_rec` only.

Each step: `out = net(inputs)` (SR, and for the TPL the soft attention and
transferred textures of the model's `texture_transformer` layer), generator
gradients -> one Adam step for the main network and one for each of the
recipe's learning-rate groups (`RefSRRecipe.learning_rate_groups`: TTSR's
LTE at 1e-5; C2-Matching's relu2/relu3 offset convolutions at 1e-5/1e-6, as
the official per-group Adam); then
(gan variant, after `init_steps`) `d_steps` critic steps on the detached SR.
The official loop runs its critic steps before the generator's adversarial
term; here the generator step comes first (as `keras_sr.training.gan`), a
one-step lag of the critic.

Backends: TensorFlow runs a `tf.function` with `GradientTape`s (nested for
the gradient penalty) and stateful optimizers; JAX one pure function of the
state (`stateless_call`, `jax.value_and_grad`, `optimizer.stateless_apply`)
compiled by `jax.jit`, the state written back into the Keras variables before
validation, checkpoints and the end.

Reused engine parts: `make_optimizer` (schedule, clipping), `CheckpointManager`
(atomic `ckpt-<step>.weights.h5` holding the generator, the critic and all
optimizers with their step counters; `resume=True` continues at the saved
step with the same batches, the loader being indexed by step), the best
checkpoint by held-out PSNR. Validation: `keras_sr.scoring.score_pair`
(PSNR/SSIM on Y, border = scale) on the held-out images (modcrop + MATLAB
bicubic) with seeded synthetic references (`reference_views`: a view of the
whole image) unless the validation data carries references.

Run directory: `recipe.json`, `model.json`, `checkpoints/`, `log.csv`,
`final.keras`, `final.weights.h5`, `discriminator.weights.h5` (gan),
`summary.json`.

Example:
    >>> recipe = TTSRRecipe.for_scale(4, variant="rec", steps=1000)
    >>> result = train_refsr(recipe, data=["CUFED/train/input"], out="runs/ttsr_rec")
    >>> result = train_refsr(recipe.replace(steps=2000), data=["CUFED/train/input"], out="runs/ttsr_rec", resume=True)
"""

import dataclasses
import importlib
import os
import typing

import numpy as np

import keras
from keras import ops

from keras_sr.training.loop import LoopTrainer, Networks, StatelessState, custom_loop_jit, optimizer_learning_rate, \
    train_loop
from keras_sr.training.recipe import Recipe, field
from keras_sr.training.refsr_losses import (CRITICS, transferal_perceptual_loss, wgan_generator_loss,
                                            CRITIC_INPUT_SCALE, gradient_penalty, wgan_critic_loss, interpolate,
                                            build_critic)
from keras_sr.training.run import NO_SCORES, Run, dtype_policy
from keras_sr.training.validation import bicubic_scores
from keras_sr import models
from keras_sr.data.reference_sources import view_rng, open_reference_source
from keras_sr.data.sources import load_validation_pairs, DataSourceError, resolve_data
from keras_sr.scoring import score_examples
from keras_sr.training.engine import make_optimizer
from keras_sr.training.losses import get_loss
from keras_sr.training.perceptual import vgg_weights_help, PerceptualLoss, VGGFeatureExtractor
from keras_sr.upscalers import ref_model_upscaler

__all__ = ["RefSRRecipe", "RefSRNetworks", "RefSRObjective", "RefSRTrainer", "train_refsr", "validation_triples",
           "evaluate_refsr", "predict_refsr", "REFSR_LOG_COLUMNS"]

REFSR_LOG_COLUMNS = ("step", "epoch", "g_loss", "g_rec", "g_perceptual", "g_tpl", "g_adversarial", "d_loss",
                     "d_wasserstein", "d_penalty", "learning_rate", "steps_per_second", "val_psnr", "val_ssim",
                     "elapsed_s")
CUFED_STEPS_PER_EPOCH = 1319   # ceil(11,871 CUFED training pairs / batch 9)
VALIDATION_VIEW_STREAM = 7919  # view_rng stream of the held-out images' synthetic references


@dataclasses.dataclass(frozen=True)
class RefSRRecipe(Recipe):
    """Fields of reference-based SR training (defaults: TTSR's official setup; `model` is the SR network).

    The network's own fields live in the model's recipe (`recipes.ttsr.TTSRRecipe`,
    `recipes.c2_matching.C2MatchingRecipe`); here `model_config()` is the
    builder's defaults at `scale`.

    Steps: 52 CUFED epochs (2 reconstruction-only + 50) of 1,319 steps for
    the gan variant; TTSR-rec trains 200 epochs (`--steps 263800`).
    """

    run_name: typing.ClassVar[str] = "refsr"
    trainer: typing.ClassVar[str] = "refsr"
    refuses: typing.ClassVar[dict] = {
        "init_preset": "no RefSR presets are shipped; use --init scratch",
        "init_from": "the RefSR trainer does not take --init-from (it starts from scratch; recipes.c2_matching takes "
                     "--teacher-weights / --extractor-weights for its extractor)",
        "strategy": "the RefSR trainer runs on one device; --strategy {strategy} is not supported",
        "resume_latest": "--resume needs --out RUN_DIR"}

    model: str = field("ttsr", "registered model name", flag=False)
    variant: str = field("gan", "losses: rec (reconstruction only, TTSR-rec) or gan (rec + perceptual + TPL + "
                                "WGAN-GP, TTSR)", choices=("rec", "gan"))
    patch_size: int = field(40, "LR patch size (the HR patch is patch_size * scale)")
    ref_patch_size: int = field(0, "reference patch size (0: patch_size * scale, TTSR's 160)")
    batch_size: int = field(9, "batch size")
    steps: int = field(52 * CUFED_STEPS_PER_EPOCH, "optimizer steps (generator steps)")
    init_steps: int = field(2 * CUFED_STEPS_PER_EPOCH, "gan variant: first steps on the reconstruction loss only "
                                                         "(TTSR's 2 init epochs)")
    learning_rate: float = field(1e-4, "learning rate of the main network (Adam)")
    lte_learning_rate: float = field(1e-5, "learning rate of the texture extractor (layer 'lte', when the model "
                                           "has one; Adam)")
    schedule: str = field("constant", "learning-rate schedule (TTSR: constant)", choices=("step", "cosine", "constant"))
    lr_milestones: tuple = field((), "step schedule: milestones")
    rec_weight: float = field(1.0, "weight of the reconstruction loss (`loss` on [-1, 1] images)")
    perceptual_weight: float = field(1e-2, "gan variant: weight of the VGG19 perceptual loss")
    tpl_weight: float = field(1e-2, "gan variant: weight of the transferal perceptual loss (needs layers 'lte' and "
                                    "'texture_transformer')")
    adversarial_weight: float = field(1e-3, "gan variant: weight of the WGAN generator loss")
    gp_weight: float = field(10.0, "WGAN-GP gradient penalty weight")
    d_steps: int = field(2, "critic steps per generator step (TTSR's GAN_k)")
    d_learning_rate: float = field(1e-4, "critic learning rate (Adam, constant)")
    d_beta_1: float = field(0.0, "critic Adam beta_1")
    d_beta_2: float = field(0.9, "critic Adam beta_2")
    d_filters: int = field(32, "critic width of the first conv (official 32)")
    critic: str = field("ttsr", "WGAN-GP critic: TTSR's (ten convs and two dense layers, [-1, 1] input) or "
                                "C2-Matching's ImageDiscriminator (BN, global pooling, sigmoid, [0, 1] input)",
                        choices=CRITICS)
    perceptual_layer: str = field("relu5_1", "VGG19 layer of the perceptual loss (TTSR: relu5_1)")
    perceptual_criterion: str = field("l2", "distance of the VGG features (TTSR: l2, the MSE; C2-Matching: fro, "
                                            "the Frobenius norm of the difference over the batch)",
                                      choices=("l1", "l2", "fro"))
    tpl_criterion: str = field("l2", "TPL distance (official tpl_type)", choices=("l1", "l2"))
    tpl_use_soft: bool = field(False, "weight the TPL by sigmoid(soft attention) (official tpl_use_S, off)")
    vgg_weights: str = field("", "ImageNet VGG19 weights of the perceptual loss: a keras.applications VGG19("
                                 "include_top=False) .weights.h5 / .h5 or a torchvision .npz ('random': tests only)")
    vgg_input_norm: str = field("auto", "VGG input preprocessing (auto: caffe for .h5, torch for .npz)",
                                choices=("auto", "torch", "caffe"))
    reference: str = field("synthetic", "training references: synthetic (a random view around each patch, "
                                        "reference_views) or a reference_sources spec (cufed5:K, pairs:FILE)")
    refs_per_sample: int = field(1, "references per training sample (> 1: multi-reference models with 'refs' "
                                    "inputs, e.g. CIMR; synthetic views or the first K of the source's)")
    val_every: int = field(10 * CUFED_STEPS_PER_EPOCH, "validate every N steps (and at the end)")
    checkpoint_every: int = field(10 * CUFED_STEPS_PER_EPOCH, "checkpoint every N steps (and at the end)")
    steps_per_epoch: int = field(CUFED_STEPS_PER_EPOCH, "steps per log line / loader epoch")
    val_images: int = field(10, "held-out images used for validation (0: all)")
    jit_compile: str = field("auto", "XLA / jax.jit of the train step (auto: on for JAX and TF GPUs)",
                             choices=("auto", "on", "off"))

    def validated(self):
        super().validated()
        name = type(self).__name__
        for key in ("rec_weight", "perceptual_weight", "tpl_weight", "adversarial_weight", "gp_weight"):
            if getattr(self, key) < 0:
                raise ValueError(f"{name}: {key} must be >= 0, got {getattr(self, key)}")
        if self.ema_decay:
            raise ValueError(f"{name}: ema_decay is not supported by the RefSR trainer (use 0).")
        if self.d_steps < 1:
            raise ValueError(f"{name}: d_steps must be >= 1, got {self.d_steps}")
        if self.variant == "gan" and self.adversarial_weight and self.critic == "ttsr" and self.hr_patch_size % 32:
            raise ValueError(f"{name}: the TTSR critic needs HR patches that are a multiple of 32 pixels; "
                             f"patch_size {self.patch_size} x scale {self.scale} = {self.hr_patch_size}")
        if self.ref_size % self.scale:
            raise ValueError(f"{name}: ref_patch_size {self.ref_size} must be a multiple of scale {self.scale}")
        if self.variant == "rec" and not self.rec_weight:
            raise ValueError(f"{name}: the rec variant needs rec_weight > 0")
        if self.refs_per_sample < 1:
            raise ValueError(f"{name}: refs_per_sample must be >= 1, got {self.refs_per_sample}")
        return self

    @property
    def ref_size(self):
        return int(self.ref_patch_size or self.hr_patch_size)

    @property
    def is_gan(self):
        return self.variant == "gan"

    @property
    def needs_vgg(self):
        return self.is_gan and self.perceptual_weight > 0

    @property
    def uses_critic(self):
        return self.is_gan and self.adversarial_weight > 0

    def run_dir_name(self):
        return f"{self.model}_{self.variant}"

    def check_files(self, resuming=False):
        """SystemExit naming the missing VGG weights (and how to make them) before any work."""

        name = type(self).__name__
        if self.needs_vgg and self.vgg_weights != "random":
            if not self.vgg_weights:
                raise SystemExit(f"error: {name} (variant gan): --vgg-weights is required: {vgg_weights_help()} "
                                 "(or train --variant rec)")
            if not os.path.isfile(self.vgg_weights):
                raise SystemExit(f"error: {name}: --vgg-weights {self.vgg_weights}: file not found: "
                                 f"{vgg_weights_help()}")

    def input_names(self):
        """The model's input names (`INPUT_NAMES` of `keras_sr.models.<model>`)."""
        module = importlib.import_module(f"keras_sr.models.{self.model}")
        return tuple(module.INPUT_NAMES)

    def build_model(self):
        """The SR network of this recipe (`keras_sr.models.build(model, **model_config())`)."""

        return models.build(self.model, **self.model_config())

    def learning_rate_groups(self, model):
        """`[(name, learning_rate, variables)]`: trainable variables with their own Adam and learning rate.

        Each group's optimizer is `<name>_optimizer` in the checkpoints and shares the recipe's schedule
        and betas; every other trainable variable takes `learning_rate`. Here: TTSR's learnable texture
        extractor (layer 'lte') at `lte_learning_rate`, when the model has one.
        """
        if not _has_layer(model, "lte"):
            return []
        return [("lte", self.lte_learning_rate, list(model.get_layer("lte").trainable_variables))]

    def auxiliary_outputs(self, model):
        """`{name: symbolic tensor of model}` that `auxiliary_losses` reads beside `"sr"` (none here).

        RefVAE's recipe adds the posterior statistics (the KL term), Cross-MPI's the low-resolution synthesis.
        """
        return {}

    def auxiliary_log_keys(self):
        """Log keys of `auxiliary_losses`, in order (also `log.csv` columns)."""
        return ()

    def auxiliary_losses(self, hr, outputs):
        """`{log key: (weight, value)}`: extra generator terms on every step (none here); `hr` in [0, 255]."""
        return {}

    def training_inputs(self, inputs, hr):
        """The model inputs of one training step from the loader's batch (the loader's own here).

        RefVAE's recipe encodes the HR target instead of the reference, as its official training does.
        """
        return inputs


class RefSRNetworks(Networks):
    """The model, the critic and every optimizer as one Keras object: one `.weights.h5` holds the run state.

    `Networks` with one optimizer per learning-rate group (`group_optimizers`, `{name: optimizer}`,
    stored as `<name>_optimizer`, e.g. TTSR's `lte_optimizer`) and an optional critic.
    """

    def __init__(self, generator, g_optimizer, group_optimizers=None, discriminator=None, d_optimizer=None,
                 name="refsr", **kwargs):
        extra = {f"{group}_optimizer": optimizer for group, optimizer in (group_optimizers or {}).items()}
        super().__init__(generator, discriminator, g_optimizer, d_optimizer, name=name, extra_optimizers=extra,
                         **kwargs)
        self.group_names = tuple(group_optimizers or ())

    @property
    def generator_optimizers(self):
        """The generator's optimizers in group order: the main one, then one per learning-rate group."""
        return [self.g_optimizer] + [getattr(self, f"{group}_optimizer") for group in self.group_names]


def _texture_outputs(model):
    """`{"soft", "t_lv3", "t_lv2", "t_lv1"}` symbolic outputs of the model's texture transformer, or None."""
    try:
        layer = model.get_layer("texture_transformer")
    except ValueError:
        return None
    soft, t_lv3, t_lv2, t_lv1 = layer.output
    return {"soft": soft, "t_lv3": t_lv3, "t_lv2": t_lv2, "t_lv1": t_lv1}


class RefSRObjective:
    """The generator and critic losses of a `RefSRRecipe` (keras.ops; both backends' steps call them)."""

    def __init__(self, recipe, has_textures):
        self.recipe = recipe
        self.rec_weight = float(recipe.rec_weight)
        full = recipe.is_gan
        self.perceptual_weight = float(recipe.perceptual_weight) if full else 0.0
        self.tpl_weight = float(recipe.tpl_weight) if full else 0.0
        self.adversarial_weight = float(recipe.adversarial_weight) if full else 0.0
        if self.tpl_weight and not has_textures:
            raise ValueError(f"{type(recipe).__name__}: tpl_weight > 0 needs a model with layers 'lte' and "
                             f"'texture_transformer' (TTSR); {recipe.model} has none: set tpl_weight 0.")
        if not (self.rec_weight or self.perceptual_weight or self.tpl_weight or self.adversarial_weight):
            raise ValueError(f"{type(recipe).__name__}: every loss weight is 0.")
        kwargs = {"epsilon": recipe.charbonnier_epsilon, "data_range": 2.0} if recipe.loss == "charbonnier" else {}
        self.pixel = get_loss(recipe.loss, **kwargs)
        self.extractor = self.perceptual = None
        if self.perceptual_weight:
            self.extractor = VGGFeatureExtractor((recipe.perceptual_layer,), recipe.vgg_weights or None,
                                                 recipe.vgg_input_norm)
            self.perceptual = PerceptualLoss(recipe.perceptual_layer, criterion=recipe.perceptual_criterion,
                                             extractor=self.extractor)

    @property
    def vgg_variables(self):
        return self.extractor.variables if self.extractor is not None else []

    def log_keys(self, has_critic):
        """Names of every loss this objective can log (rows lacking one, e.g. init steps, get NaN)."""
        keys = ["g_loss", "g_rec"]
        keys += ["g_perceptual"] if self.perceptual is not None else []
        keys += ["g_tpl"] if self.tpl_weight else []
        keys += list(self.recipe.auxiliary_log_keys())
        keys += ["g_adversarial", "d_loss", "d_wasserstein", "d_penalty"] if (self.adversarial_weight and has_critic) \
            else []
        return keys

    def rec(self, sr, hr):
        return self.pixel(ops.cast(hr, "float32") / 127.5 - 1.0, ops.cast(sr, "float32") / 127.5 - 1.0)

    def generator_terms(self, hr, outputs, sr_features=None, fake_logits=None, vgg_values=None, full=True):
        """`(L_G, logs)`; `full=False`: the reconstruction term only (TTSR-rec, the init steps)."""

        sr = ops.cast(outputs["sr"], "float32")
        hr = ops.stop_gradient(ops.cast(hr, "float32"))
        logs = {"g_rec": self.rec(sr, hr)}
        total = self.rec_weight * logs["g_rec"]
        for key, (weight, value) in self.recipe.auxiliary_losses(hr, outputs).items():
            logs[key] = value
            total = total + float(weight) * value
        if full and self.perceptual is not None:
            true = {k: ops.stop_gradient(v) for k, v in self.extractor(hr, vgg_values).items()}
            logs["g_perceptual"] = self.perceptual.from_features(true, self.extractor(sr, vgg_values))
            total = total + self.perceptual_weight * logs["g_perceptual"]
        if full and self.tpl_weight:
            textures = [outputs["t_lv1"], outputs["t_lv2"], outputs["t_lv3"]]
            soft = outputs["soft"] if self.recipe.tpl_use_soft else None
            logs["g_tpl"] = transferal_perceptual_loss(sr_features, textures, soft, self.recipe.tpl_criterion)
            total = total + self.tpl_weight * logs["g_tpl"]
        if full and self.adversarial_weight:
            logs["g_adversarial"] = wgan_generator_loss(fake_logits)
            total = total + self.adversarial_weight * logs["g_adversarial"]
        logs["g_loss"] = total
        return total, logs

    def critic_terms(self, real_logits, fake_logits, input_gradients):
        """`(L_D, logs)`: Wasserstein estimate + `gp_weight` x penalty on gradients w.r.t. the critic's input."""

        wasserstein = wgan_critic_loss(real_logits, fake_logits)
        # the critic rescales [0, 255] pixels to its official input ([-1, 1] for TTSR's, [0, 1] for C2-Matching's):
        # gradients w.r.t. that input are CRITIC_INPUT_SCALE times those w.r.t. the pixels
        scale = CRITIC_INPUT_SCALE[self.recipe.critic]
        penalty = gradient_penalty(ops.cast(input_gradients, "float32") * scale)
        total = wasserstein + float(self.recipe.gp_weight) * penalty
        return total, {"d_loss": total, "d_wasserstein": wasserstein, "d_penalty": penalty}


class _Parts:
    """Everything a train step needs: the output net, variable groups, the LTE copy, the critic, the optimizers.

    `g_vars` are the output net's trainable variables; `split` sorts a list in that order into one list per
    learning-rate group (the main group first, then `recipe.learning_rate_groups`), `merge` undoes it.
    """

    def __init__(self, model, recipe, objective, networks, use_tpl):
        self.model = model
        outputs = {"sr": model.output}
        textures = _texture_outputs(model) if use_tpl else None
        if textures:
            outputs.update(textures)
        outputs.update(recipe.auxiliary_outputs(model))
        self.net = keras.Model(model.inputs, outputs, name=f"{model.name}_train")
        self.lte = self.lte_copy = None
        if use_tpl:
            self.lte = model.get_layer("lte")
            self.lte_copy = self.lte.__class__.from_config(self.lte.get_config())
            self.lte_copy.build((None, None, None, 3))
            self.lte_copy.trainable = False
            copy_shapes = [tuple(v.shape) for v in self.lte_copy.non_trainable_variables]
            if copy_shapes != [tuple(v.shape) for v in self.lte.weights]:
                raise ValueError("refsr: the LTE copy's variables do not match the model's 'lte' layer.")
        g_vars = list(self.net.trainable_variables)
        self.g_vars = g_vars
        trainable = {id(v) for v in g_vars}  # a group frozen before training (e.g. by a model hook) is dropped
        groups = [(name, rate, [v for v in variables if id(v) in trainable])
                  for name, rate, variables in recipe.learning_rate_groups(model)]
        groups = [group for group in groups if group[2]]
        self.groups = [(name, rate) for name, rate, _ in groups]  # the main group (index[0]) not included
        group_of = {}
        for number, (name, _, variables) in enumerate(groups, start=1):
            for v in variables:
                if id(v) in group_of:
                    raise ValueError(f"refsr: variable {v.path} is in two learning-rate groups.")
                group_of[id(v)] = number
        self.index = [[i for i, v in enumerate(g_vars) if group_of.get(id(v), 0) == number]
                      for number in range(len(groups) + 1)]
        if self.lte is not None:  # positions of the LTE's own variables in g_vars (for the stateless copy)
            position = {id(v): i for i, v in enumerate(g_vars)}
            self.lte_weight_index = [position.get(id(v)) for v in self.lte.weights]
        self.networks = networks
        self.critic = getattr(networks, "discriminator", None)
        self.objective = objective
        self.recipe = recipe

    def split(self, values):
        return [[values[i] for i in index] for index in self.index]

    def merge(self, groups):
        out = [None] * len(self.g_vars)
        for index, values in zip(self.index, groups):
            for i, v in zip(index, values):
                out[i] = v
        return out


# Train steps ------------------------------------------------------------------------------------------------------


def _tf_steps(parts, jit_compile):
    """`(rec_step, gan_step)`: stateful TensorFlow steps `(inputs, hr, epsilon) -> logs`."""
    import tensorflow as tf

    net, critic, objective = parts.net, parts.critic, parts.objective
    networks = parts.networks
    g_vars = parts.g_vars
    group_vars = parts.split(g_vars)

    def apply(grads):
        for optimizer, group_grads, variables in zip(networks.generator_optimizers, parts.split(grads), group_vars):
            optimizer.apply(group_grads, variables)

    def generator(inputs, hr, full):
        if full and parts.lte_copy is not None:
            for copy, source in zip(parts.lte_copy.non_trainable_variables, parts.lte.weights):
                copy.assign(source)
        with tf.GradientTape() as tape:
            outputs = net(inputs, training=True)
            sr_features = parts.lte_copy(outputs["sr"]) if (full and parts.lte_copy is not None) else None
            fake = critic(outputs["sr"], training=True) if (full and objective.adversarial_weight) else None
            total, logs = objective.generator_terms(hr, outputs, sr_features, fake, full=full)
        apply(tape.gradient(total, g_vars))
        return tf.stop_gradient(outputs["sr"]), logs

    def rec_step(inputs, hr, epsilon):
        _, logs = generator(inputs, hr, False)
        return logs

    def gan_step(inputs, hr, epsilon):
        sr, logs = generator(inputs, hr, True)
        if critic is None:
            return logs
        d_vars = critic.trainable_variables
        for k in range(parts.recipe.d_steps):
            with tf.GradientTape() as tape:
                real = critic(hr, training=True)
                fake = critic(sr, training=True)

                hat = interpolate(hr, sr, epsilon[k])
                with tf.GradientTape() as inner:
                    inner.watch(hat)
                    hat_sum = tf.reduce_sum(critic(hat, training=True))
                d_total, d_logs = objective.critic_terms(real, fake, inner.gradient(hat_sum, hat))
            networks.d_optimizer.apply(tape.gradient(d_total, d_vars), d_vars)
        return {**logs, **d_logs}

    rec = tf.function(rec_step, jit_compile=jit_compile, reduce_retracing=True)
    gan = tf.function(gan_step, jit_compile=jit_compile, reduce_retracing=True)

    def wrap(fn):
        def run(inputs, hr, epsilon):
            inputs = {k: tf.convert_to_tensor(v, tf.float32) for k, v in inputs.items()}
            return fn(inputs, tf.convert_to_tensor(hr, tf.float32), tf.convert_to_tensor(epsilon, tf.float32))

        return run

    return wrap(rec), wrap(gan)


class _JaxSteps(StatelessState):
    """The stateless JAX steps and their state; `sync()` writes the state back into the Keras variables."""

    def __init__(self, parts, jit):
        import jax
        import jax.numpy as jnp

        self.parts = parts
        net, critic, objective, networks = parts.net, parts.critic, parts.objective, parts.networks
        g_opts = networks.generator_optimizers
        d_opt = getattr(networks, "d_optimizer", None)
        d_steps = parts.recipe.d_steps

        def lte_features(g_tv, sr):
            values = [jax.lax.stop_gradient(g_tv[i]) if i is not None else w.value
                      for i, w in zip(parts.lte_weight_index, parts.lte.weights)]
            features, _ = parts.lte_copy.stateless_call([], values, sr)  # the copy is frozen: all non-trainable
            return features

        def generator_loss(g_tv, g_ntv, d_tv, d_ntv, vgg, inputs, hr, full):
            outputs, g_ntv = net.stateless_call(g_tv, g_ntv, inputs, training=True)
            sr_features = lte_features(g_tv, outputs["sr"]) if (full and parts.lte_copy is not None) else None
            fake = None
            if full and objective.adversarial_weight:
                fake, _ = critic.stateless_call(d_tv, d_ntv, outputs["sr"], training=True)
            total, logs = objective.generator_terms(hr, outputs, sr_features, fake, vgg_values=vgg, full=full)
            return total, (outputs["sr"], g_ntv, logs)

        g_grad = jax.value_and_grad(generator_loss, has_aux=True)

        def critic_loss(d_tv, d_ntv, sr, hr, epsilon):
            real, d_ntv = critic.stateless_call(d_tv, d_ntv, hr, training=True)
            fake, d_ntv = critic.stateless_call(d_tv, d_ntv, sr, training=True)
            hat = interpolate(hr, sr, epsilon)

            def hat_sum(x):
                return jnp.sum(critic.stateless_call(d_tv, d_ntv, x, training=True)[0])

            total, logs = objective.critic_terms(real, fake, jax.grad(hat_sum)(hat))
            return total, (d_ntv, logs)

        d_grad = jax.value_and_grad(critic_loss, has_aux=True)

        def g_update(state, vgg, inputs, hr, full):
            g_tv, g_ntv, d_tv, d_ntv, g_ovs, d_ov = state
            (_, (sr, g_ntv, logs)), grads = g_grad(g_tv, g_ntv, d_tv, d_ntv, vgg, inputs, hr, full)
            groups, g_ovs = list(parts.split(g_tv)), list(g_ovs)
            for k, (optimizer, group_grads) in enumerate(zip(g_opts, parts.split(grads))):
                groups[k], g_ovs[k] = optimizer.stateless_apply(g_ovs[k], group_grads, groups[k])
            return (parts.merge(groups), g_ntv, d_tv, d_ntv, g_ovs, d_ov), jax.lax.stop_gradient(sr), logs

        def rec_step(state, vgg, inputs, hr, epsilon):
            state, _, logs = g_update(state, vgg, inputs, hr, False)
            return state, logs

        def gan_step(state, vgg, inputs, hr, epsilon):
            state, sr, logs = g_update(state, vgg, inputs, hr, True)
            if critic is None:
                return state, logs
            g_tv, g_ntv, d_tv, d_ntv, g_ovs, d_ov = state
            for k in range(d_steps):
                (_, (d_ntv, d_logs)), grads = d_grad(d_tv, d_ntv, sr, hr, epsilon[k])
                d_tv, d_ov = d_opt.stateless_apply(d_ov, grads, d_tv)
            return (g_tv, g_ntv, d_tv, d_ntv, g_ovs, d_ov), {**logs, **d_logs}

        self._rec = jax.jit(rec_step) if jit else rec_step
        self._gan = jax.jit(gan_step) if jit else gan_step
        self.vgg = [v.value for v in objective.vgg_variables]
        self.state = self.read()

    def groups(self):
        """The state's variables: `(g_tv, g_ntv, d_tv, d_ntv, [variables of each generator optimizer], d_ov)`."""
        n, p = self.parts.networks, self.parts
        critic = p.critic
        return (p.g_vars, p.net.non_trainable_variables,
                critic.trainable_variables if critic is not None else [],
                critic.non_trainable_variables if critic is not None else [],
                [optimizer.variables for optimizer in n.generator_optimizers],
                n.d_optimizer.variables if hasattr(n, "d_optimizer") else [])

    def _run(self, fn, inputs, hr, epsilon):
        inputs = {k: np.asarray(v, np.float32) for k, v in inputs.items()}
        self.state, logs = fn(self.state, self.vgg, inputs, np.asarray(hr, np.float32),
                              np.asarray(epsilon, np.float32))
        return logs

    def rec(self, inputs, hr, epsilon):
        return self._run(self._rec, inputs, hr, epsilon)

    def gan(self, inputs, hr, epsilon):
        return self._run(self._gan, inputs, hr, epsilon)


# Validation ---------------------------------------------------------------------------------------------------


def validation_triples(paths, scale, seed=0, max_images=None, view_params=None):
    """`[(lr, hr, ref)]` uint8 for whole held-out images: evaluation-protocol LR, a seeded synthetic reference.

    The reference is a view (`synthesize_reference`) of the whole HR image, seeded by `(seed, index)`.
    """
    from keras_sr.data.reference_views import ViewParams, synthesize_reference

    pairs = load_validation_pairs(paths, scale, max_images=max_images, skip_small=True)
    params = view_params if view_params is not None else ViewParams()
    triples = []
    for i, (lr, hr) in enumerate(pairs):
        ref, _ = synthesize_reference(hr, view_rng(seed, i, stream=VALIDATION_VIEW_STREAM), params=params)
        triples.append((lr, hr, ref))
    return triples


def predict_refsr(model, lr, ref, scale):
    """SR of one uint8 `lr` with reference `ref` -> float RGB (H*scale, W*scale, 3) in [0, 255].

    The evaluation protocol's RefSR path (`keras_sr.upscalers.ref_model_upscaler`).
    """

    return ref_model_upscaler(model, scale)(lr, ref, scale)


def evaluate_refsr(model, triples, scale, keep_outputs=False):
    """Mean PSNR/SSIM (`keras_sr.scoring.score_examples`: Y, border = scale) over `(lr, hr, ref)` triples."""

    return score_examples(ref_model_upscaler(model, scale), triples, scale, keep_outputs=keep_outputs)


# Loop ---------------------------------------------------------------------------------------------------------


def _train_paths(recipe, data, split, log):
    """`(paths, source)` of the training images (and the reference source when not synthetic)."""

    if recipe.reference != "synthetic":
        source = open_reference_source(recipe.reference, data)
        log(f"training references: {recipe.reference} ({len(source)} pairs)")
        return None, source
    if split.kind != "images":
        raise DataSourceError(f"RefSR training reads image folders or files (references are synthesized around each "
                              f"patch); --data {data} is a {split.kind} source.")
    return list(split.train), None


def make_refsr_train_data(recipe, paths=None, source=None, seed=None, workers=0):
    """The recipe's `RefSRPatchDataset` (indexed by step: `(inputs, hr)` batches)."""
    from keras_sr.data.refsr_dataset import RefSRPatchDataset

    workers = int(workers or recipe.workers or min(8, os.cpu_count() or 1))
    return RefSRPatchDataset(paths, recipe.input_names(), patch_size=recipe.patch_size, batch_size=recipe.batch_size,
                             scale=recipe.scale, ref_patch_size=recipe.ref_size, steps_per_epoch=recipe.epoch_steps,
                             augment=recipe.augment, seed=recipe.seed if seed is None else seed, source=source,
                             skip_small=True, workers=workers, num_refs=recipe.refs_per_sample)


class RefSRTrainer(LoopTrainer):
    """The RefSR family of the custom loop (`keras_sr.training.loop`): its steps, validation and final files."""

    name = "refsr"
    note = "held-out references are seeded synthetic views of each image (keras_sr.data.reference_views)"

    def __init__(self, recipe, parts, objective, val_triples, log):
        self.recipe, self.parts, self.log = recipe, parts, log
        self.networks = self.checkpointables = parts.networks
        self.model, self.critic = parts.model, parts.critic
        self.input_names = recipe.input_names()
        self.log_keys = tuple(objective.log_keys(self.critic is not None))
        self.val_triples = val_triples
        self.validates = bool(val_triples)
        self.bicubic = bicubic_scores(val_triples, recipe.scale) if val_triples else None
        self.validation_history = []
        self.last_entry = None
        if keras.backend.backend() == "jax":
            self.jax = _JaxSteps(parts, custom_loop_jit(recipe))
            self._rec, self._gan = self.jax.rec, self.jax.gan
        else:
            self.jax = None
            self._rec, self._gan = _tf_steps(parts, custom_loop_jit(recipe))

    def step(self, step, batch):
        inputs, hr = batch
        recipe = self.recipe
        inputs = recipe.training_inputs({k: inputs[k] for k in self.input_names}, hr)
        full = recipe.is_gan and step >= recipe.init_steps
        rng = np.random.default_rng([recipe.seed, 104729, step])
        epsilon = rng.uniform(size=(recipe.d_steps, len(hr), 1, 1, 1)).astype(np.float32)
        return (self._gan if full else self._rec)(inputs, hr, epsilon)

    def sync(self):
        if self.jax is not None:
            self.jax.sync()

    def learning_rates(self):
        return {"learning_rate": optimizer_learning_rate(self.networks.g_optimizer)}

    def validate(self, step):
        entry = evaluate_refsr(self.model, self.val_triples, self.recipe.scale)
        self.last_entry = {**entry, "step": step}
        self.validation_history.append({"step": step, "psnr": entry["psnr"], "ssim": entry["ssim"]})
        bicubic = self.bicubic
        self.log(f"step {step}: held-out PSNR {entry['psnr']:.2f} dB / SSIM {entry['ssim']:.4f} (bicubic "
                 f"{bicubic['psnr']:.2f} / {bicubic['ssim']:.4f}, {len(self.val_triples)} images)")
        return entry

    def best_model(self):
        return self.model

    def inference_model(self):
        return _float32_copy(self.recipe, self.model)

    def final_scores(self, model, steps):
        if self.last_entry is not None and self.last_entry["step"] == steps and model is self.model:
            return self.last_entry  # the last validation scored these very weights
        return evaluate_refsr(model, self.val_triples, self.recipe.scale) if self.val_triples else NO_SCORES

    def final_files(self):
        return {"discriminator.weights.h5": self.critic} if self.critic is not None else {}

    def summary_fields(self):
        return {"variant": self.recipe.variant}


def train_refsr(recipe, data=None, val_data=None, out=None, resume=False, init_weights=None, model_hook=None,
                log=print, train_data=None, val_triples=None, verbose=1):
    """Train a RefSR `recipe`; returns the engine's `TrainResult` (`.run_dir`, `.model`, `.history`, scores).

    Args:
        recipe: a resolved `RefSRRecipe`.
        data: `--data` entries (image folders/files; None: the embedded photographs).
        val_data: held-out images (default: held out from `data`), scored with seeded synthetic references.
        out: run directory (default `runs/<model>_<variant>_x<scale>_<time>`).
        resume: continue from the latest checkpoint in `out` (weights, critic, optimizers, step).
        init_weights: a `.weights.h5` of the model to start from (ignored when resuming).
        model_hook: `callable(model)` after the model is built (and `init_weights` loaded), before training,
            e.g. to load and freeze a trained feature extractor.
        log: `callable(str)` (None: silent).
        train_data: ready `(inputs, hr)` batches (indexed by step, e.g. a `RefSRPatchDataset`).
        val_triples: `[(lr, hr, ref)]` uint8 instead of the held-out images of `data`.
        verbose: 0 for no per-epoch lines.
    """

    backend = keras.backend.backend()
    if backend not in ("tensorflow", "jax"):
        raise ValueError(f"RefSR training runs on the tensorflow and jax backends, not {backend!r}.")
    run = Run(recipe, out, resume, name=recipe.run_dir_name(), log=log)
    log = run.log
    model_config = recipe.model_config()
    run.write_records(model_config, {"trainer": "refsr", "data": data, "val_data": val_data})
    policy = run.seed_and_policy(float16=False, trainer="RefSR training")
    log(f"keras {keras.__version__}, backend {backend}, one device, dtype policy {policy}")

    paths = source = None
    if train_data is None or val_triples is None:
        split = resolve_data(data, val_data)
        log(f"data: {split.description}")
    if train_data is None:
        paths, source = _train_paths(recipe, data, split, log)
    if val_triples is None:
        val_triples = validation_triples(split.val, recipe.scale, recipe.seed, recipe.val_images or None) \
            if split.val else []
    log(f"held-out validation images: {len(val_triples)} (seeded synthetic references)")

    with dtype_policy(policy):
        model = recipe.build_model()
        critic = None
        if recipe.uses_critic:
            critic = build_critic(recipe.critic, recipe.hr_patch_size, recipe.d_filters)
    if init_weights and not run.resuming:
        model.load_weights(init_weights)
        log(f"initial weights: {init_weights}")
    if model_hook is not None:
        model_hook(model)
    use_tpl = recipe.is_gan and recipe.tpl_weight > 0
    objective = RefSRObjective(recipe, has_textures=_texture_outputs(model) is not None and _has_layer(model, "lte"))
    if objective.extractor is not None:
        log(f"perceptual loss: VGG19 {recipe.perceptual_layer}, weights "
            f"{objective.extractor.weights_path or 'random (tests only)'}, {objective.extractor.input_norm} "
            "preprocessing")
    g_opt = make_optimizer(recipe)
    d_opt = make_optimizer(recipe.replace(learning_rate=recipe.d_learning_rate, beta_1=recipe.d_beta_1,
                                          beta_2=recipe.d_beta_2, schedule="constant", clip_grad_norm=0.0)) \
        if critic is not None else None
    parts = _Parts(model, recipe, objective, None, use_tpl)
    group_optimizers = {name: make_optimizer(recipe.replace(learning_rate=rate))
                        for name, rate in parts.groups}
    for optimizer, variables in zip([g_opt, *group_optimizers.values()], parts.split(parts.g_vars)):
        optimizer.build(variables)
    for (name, rate), index in zip(parts.groups, parts.index[1:]):
        log(f"learning-rate group {name}: {len(index)} variables at {rate:g} (the rest at {recipe.learning_rate:g})")
    if critic is not None:
        d_opt.build(critic.trainable_variables)
    networks = RefSRNetworks(model, g_opt, group_optimizers, critic, d_opt)
    parts.networks, parts.critic = networks, critic

    step0 = 0
    if run.resuming:
        step0 = run.checkpoints.restore(networks.load_weights, lambda: networks.step, log)  # newest intact one
        log(f"resumed from {run.checkpoints.latest_path()} at step {step0}")
    if train_data is None:
        train_data = make_refsr_train_data(recipe, paths, source)
    trainer = RefSRTrainer(recipe, parts, objective, val_triples, log)
    describe = (f"training {recipe.model} ({recipe.variant}) x{recipe.scale}: steps {step0} -> {recipe.steps}, batch "
                f"{recipe.batch_size}, LR patch {recipe.patch_size}, reference {recipe.ref_size}"
                + (f", reconstruction only for the first {recipe.init_steps} steps, weights rec {recipe.rec_weight:g} "
                   f"/ perceptual {recipe.perceptual_weight:g} / tpl {recipe.tpl_weight:g} / adversarial "
                   f"{recipe.adversarial_weight:g}" if recipe.is_gan else ", reconstruction loss only"))
    logger = run.logger(REFSR_LOG_COLUMNS + tuple(recipe.auxiliary_log_keys()))
    return train_loop(trainer, run, train_data, step0, logger, verbose=verbose, describe=describe)


def _has_layer(model, name):
    try:
        model.get_layer(name)
        return True
    except ValueError:
        return False


def _float32_copy(recipe, model):
    """The trained model in float32 (itself when already float32), matching variables by path."""

    if all(v.dtype == "float32" for v in model.weights):
        return model
    with dtype_policy("float32"):
        copy = recipe.build_model()
    values = {v.path: v for v in model.weights}
    for v in copy.weights:
        v.assign(ops.cast(values[v.path], "float32"))
    return copy
