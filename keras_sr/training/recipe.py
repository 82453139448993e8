"""Training recipes: a frozen dataclass of a paper's defaults, derived from the scale, overridable by flags.

A recipe class lists every hyperparameter of a training run with the paper's
value as the default. `Recipe.for_scale(scale, **overrides)` applies the
class's per-scale rule (`scale_defaults`) and then explicit overrides (the
command-line flags); nothing is copied per scale. The resolved recipe and the
model config are written as JSON into the run directory (`recipe.json`).

Subclasses set the model and its defaults:

    @dataclasses.dataclass(frozen=True)
    class EDSRRecipe(Recipe):
        model: str = "edsr"
        variant: str = field("baseline", "EDSR variant: baseline or full")
        def model_config(self): return {"scale": self.scale, "variant": self.variant}

Example:
    >>> recipe = EDSRRecipe.for_scale(4, steps=1000)
    >>> recipe.learning_rate_at(0), recipe.hr_patch_size
    >>> write_recipe_json("runs/x", recipe)
"""

import dataclasses
import json
import math
import os
import sys
import time
import typing

__all__ = ["Recipe", "field", "write_recipe_json", "read_recipe_json", "RECIPE_JSON"]

RECIPE_JSON = "recipe.json"


def field(default, help, choices=None, flag=True):
    """A recipe field with a help text (and allowed `choices`) for its command-line flag."""
    kwargs = {"metadata": {"help": help, "choices": choices, "flag": flag}}
    if isinstance(default, (list, dict, set)):
        return dataclasses.field(default_factory=lambda: type(default)(default), **kwargs)
    return dataclasses.field(default=default, **kwargs)


@dataclasses.dataclass(frozen=True)
class Recipe:
    """Hyperparameters shared by all keras-sr training runs (defaults: EDSR's paper setup).

    Lengths and intervals count optimizer steps. Patch sizes are LR pixels.
    """

    model: str = field("", "registered model name", flag=False)
    scale: int = field(4, "upscaling factor")
    patch_size: int = field(48, "LR patch size (the HR patch is patch_size * scale)")
    batch_size: int = field(16, "global batch size (split over replicas)")
    steps: int = field(300_000, "optimizer steps")
    loss: str = field("l1", "pixel loss", choices=("l1", "charbonnier", "l2"))
    charbonnier_epsilon: float = field(1e-3, "Charbonnier epsilon, relative to the 0-255 range")
    learning_rate: float = field(1e-4, "initial learning rate (Adam)")
    schedule: str = field("step", "learning-rate schedule", choices=("step", "cosine", "constant"))
    lr_milestones: tuple = field((200_000,), "step schedule: steps where the learning rate is multiplied by lr_gamma")
    lr_gamma: float = field(0.5, "step schedule: decay factor at each milestone")
    min_learning_rate: float = field(0.0, "cosine schedule: final learning rate")
    warmup_steps: int = field(0, "linear warm-up steps (cosine schedule)")
    beta_1: float = field(0.9, "Adam beta_1")
    beta_2: float = field(0.999, "Adam beta_2")
    epsilon: float = field(1e-8, "Adam epsilon")
    weight_decay: float = field(0.0, "decoupled weight decay (AdamW when > 0)")
    clip_grad_norm: float = field(0.0, "clip the global gradient norm to this value (0: off)")
    ema_decay: float = field(0.0, "EMA of weights, BasicSR's ema_decay (e.g. 0.999; 0: off)")
    augment: bool = field(True, "random flips and 90-degree rotations")
    y_only: bool = field(False, "train on the Y channel only", flag=False)
    steps_per_epoch: int = field(0, "steps per Keras epoch (progress bar line; 0: checkpoint_every)")
    val_every: int = field(5_000, "validate on the held-out images every N steps (and at the end)")
    val_images: int = field(10, "held-out images used for validation (0: all)")
    checkpoint_every: int = field(5_000, "write a checkpoint every N steps (and at the end)")
    keep_checkpoints: int = field(3, "keep the last K checkpoints (the best one is kept too)")
    seed: int = field(0, "random seed (weights, patches)")
    mixed_precision: str = field("off", "mixed precision policy", choices=("off", "auto", "float16", "bfloat16"))
    jit_compile: str = field("auto", "XLA compilation of the train step", choices=("auto", "on", "off"))
    steps_per_execution: int = field(1, "train steps per compiled call (higher helps GPUs/TPUs)")
    workers: int = field(0, "PyDataset loader workers (0: one per CPU core, at most 8)")

    # Per-scale rule and budgets ----------------------------------------------
    @classmethod
    def model_name(cls):
        """The registry name this recipe trains."""
        return cls.__dataclass_fields__["model"].default

    @classmethod
    def describe(cls):
        """Text for `--help` (the class docstring)."""
        return (cls.__doc__ or cls.__name__).strip()

    @classmethod
    def demo_defaults(cls, scale):
        """Overrides applied when no `--data` is given: a CPU budget on the embedded images ({} by default)."""
        return {}

    @classmethod
    def finetune_defaults(cls, scale):
        """Overrides for the no-`--data` demo when it starts from a shipped preset."""
        return {"steps": 100, "learning_rate": 1e-5, "schedule": "constant", "val_every": 100,
                "checkpoint_every": 100}

    @classmethod
    def scale_defaults(cls, scale):
        """Field values that depend on the scale (override in subclasses); `{}` by default."""
        return {}

    @classmethod
    def for_scale(cls, scale, **overrides):
        """The recipe at `scale`: class defaults, then `scale_defaults(scale)`, then `overrides` (not None)."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(overrides) - names)
        if unknown:
            raise ValueError(f"{cls.__name__} has no field(s) {', '.join(unknown)}.")
        values = {"scale": int(scale), **cls.scale_defaults(int(scale))}
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values).validated()

    def replace(self, **changes):
        """A copy with `changes` applied (None values ignored), validated."""
        return dataclasses.replace(self, **{k: v for k, v in changes.items() if v is not None}).validated()

    def validated(self):
        """Self, after checking values; raises `ValueError` naming the bad field."""
        def require(ok, message):
            if not ok:
                raise ValueError(f"{type(self).__name__}: {message}")

        require(self.scale >= 1, f"scale must be >= 1, got {self.scale}")
        require(self.patch_size >= 1, f"patch_size must be >= 1, got {self.patch_size}")
        require(self.batch_size >= 1, f"batch_size must be >= 1, got {self.batch_size}")
        require(self.steps >= 1, f"steps must be >= 1, got {self.steps}")
        require(self.learning_rate > 0, f"learning_rate must be > 0, got {self.learning_rate}")
        require(0.0 <= self.ema_decay < 1.0, f"ema_decay must be in [0, 1), got {self.ema_decay}")
        require(self.checkpoint_every >= 1 and self.val_every >= 1, "checkpoint_every and val_every must be >= 1")
        require(self.keep_checkpoints >= 1, f"keep_checkpoints must be >= 1, got {self.keep_checkpoints}")
        for f in dataclasses.fields(self):
            choices = f.metadata.get("choices")
            if choices:
                require(getattr(self, f.name) in choices, f"{f.name} must be one of {choices}, got {getattr(self, f.name)!r}")
        return self

    # Derived values -----------------------------------------------------------
    @property
    def hr_patch_size(self):
        return self.patch_size * self.scale

    @property
    def epoch_steps(self):
        """Steps per Keras epoch: the checkpoint / validation grid."""
        if self.steps_per_epoch:
            return min(self.steps_per_epoch, self.steps)
        return max(1, min(math.gcd(self.checkpoint_every, self.val_every), self.steps))

    def model_config(self):
        """Builder kwargs of `keras_sr.models.build(self.model, ...)` (subclasses extend)."""
        return {"scale": self.scale}

    def learning_rate_at(self, step):
        """The schedule's learning rate at `step` (pure Python; mirrors `schedules.make_schedule`)."""
        from keras_sr.training.schedules import learning_rate_at

        return learning_rate_at(self, step)

    def to_dict(self):
        values = dataclasses.asdict(self)
        return {k: list(v) if isinstance(v, tuple) else v for k, v in values.items()}

    @classmethod
    def from_dict(cls, values):
        names = {f.name: f for f in dataclasses.fields(cls)}
        kwargs = {}
        for key, value in values.items():
            if key not in names:
                continue
            kwargs[key] = tuple(value) if isinstance(value, list) else value
        return cls(**kwargs).validated()

    @classmethod
    def flag_fields(cls):
        """Fields exposed as command-line flags: `(field, type)` pairs."""
        hints = typing.get_type_hints(cls)
        return [(f, hints[f.name]) for f in dataclasses.fields(cls) if f.metadata.get("flag", True)]


def write_recipe_json(run_dir, recipe, model_config=None, extra=None):
    """Record the resolved recipe, the model's registry name and builder config, and the environment."""
    import keras

    from keras_sr.fileio import atomic_write_text

    payload = {
        "recipe_class": f"{type(recipe).__module__}.{type(recipe).__qualname__}",
        "recipe": recipe.to_dict(),
        "model": {"name": recipe.model, "config": model_config if model_config is not None else recipe.model_config()},
        "backend": keras.backend.backend(),
        "keras_version": keras.__version__,
        "command": [os.path.basename(sys.executable), *sys.argv],
        "written": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }
    payload.update(extra or {})
    path = os.path.join(run_dir, RECIPE_JSON)
    atomic_write_text(path, json.dumps(payload, indent=2, default=str))
    return path


def read_recipe_json(run_dir):
    """The dict written by `write_recipe_json`, or None when the run has none."""
    path = os.path.join(run_dir, RECIPE_JSON)
    if not os.path.isfile(path):
        return None
    with open(path, encoding="utf-8") as f:
        return json.load(f)
