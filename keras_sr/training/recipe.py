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
from keras_sr.fileio import atomic_write_text

__all__ = ["Recipe", "field", "write_recipe_json", "read_recipe_json", "RECIPE_JSON", "OverrideFileError",
           "check_overrides", "read_overrides", "write_overrides"]

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
    skip_corrupt: bool = field(False, "skip corrupt or truncated TFRecord records instead of stopping at the first "
                                      "(each named on stderr; the count is in the run log and summary.json)")
    # Knowledge distillation (fit trainer; keras_sr.training.distillation) ------------------------
    teacher: str = field("", "distil from this trained model: a preset name, a .keras file, a run directory, or a "
                             "registered name with --teacher-weights (frozen; the run writes the student only)")
    teacher_weights: str = field("", "--teacher is a registered name: its .weights.h5 file")
    distill_alpha: float = field(0.5, "with --teacher: (1 - a) * loss to HR + a * loss to the teacher's output "
                                      "(FAKD's alpha)")
    distill_features: str = field("", "with --teacher: feature pairs 'student_layer:teacher_layer,...' (a bare "
                                      "name: the same layer name in both)")
    distill_feature_loss: str = field("affinity", "with --distill-features: affinity (FAKD), attention (spatial "
                                                  "statistic map) or l1 (the features)",
                                      choices=("affinity", "attention", "l1"))
    distill_feature_weight: float = field(10.0, "with --distill-features: weight of each feature term (FAKD's 10)")

    # What the command line may ask of this recipe's trainer ----------------------
    trainer: typing.ClassVar[str] = "fit"            # fit (engine.train), gan (gan.train_gan), refsr (refsr.train_refsr)
    refuses: typing.ClassVar[dict] = {}              # run option -> why not (init_preset, init_from, strategy, ...)

    @classmethod
    def run_prefix(cls):
        """The prefix of this recipe's default run directories (`runs/<prefix>_x<scale>_<time>`)."""
        return cls.model_name()

    def run_dir_name(self):
        """The prefix of this run's default directory."""
        return self.model

    def check_files(self, resuming=False):
        """Raise `SystemExit` naming a missing input file before any work (none by default)."""

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
        require(0.0 <= self.distill_alpha <= 1.0, f"distill_alpha must be in [0, 1], got {self.distill_alpha}")
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

    # Hyperparameter search ------------------------------------------------------
    @classmethod
    def search_space(cls, hp):
        """The recipe's hyperparameter search space: `{field: value}` overrides drawn from keras-tuner's `hp`.

        `keras_sr.tuning` (`python -m tools.tune`) calls this with a
        `keras_tuner.HyperParameters` object once per trial and trains
        `recipe.replace(**overrides)`. Name each hyperparameter after the
        recipe field it sets (that is how `--d 32` fixes `d` during a search).
        The base class declares no space and raises `NotImplementedError`.

        Example (a subclass):
            @classmethod
            def search_space(cls, hp):
                return {"learning_rate": hp.Float("learning_rate", 1e-4, 3e-3, sampling="log"),
                        "batch_size": hp.Choice("batch_size", [16, 32, 64])}
        """
        raise NotImplementedError(
            f"{cls.__name__} declares no search space: {cls.__name__}.search_space(hp) is not defined, so "
            "there is nothing for tools.tune to search. Define the classmethod (see FSRCNNRecipe.search_space) "
            "to tune this recipe.")


def _module_name(module):
    """A module's import name; `__main__` (a `python -m recipes.x` run) is resolved to `recipes.x`."""
    if module == "__main__":
        spec = getattr(sys.modules["__main__"], "__spec__", None)
        if spec is not None and spec.name:
            return spec.name
    return module


def command_line():
    """This process's command as a list: `["python", "-m", "recipes.edsr", ...]` for module runs."""
    spec = getattr(sys.modules.get("__main__"), "__spec__", None)
    if spec is not None and spec.name:
        return ["python", "-m", spec.name, *sys.argv[1:]]
    return [os.path.basename(sys.executable), *sys.argv]


def write_recipe_json(run_dir, recipe, model_config=None, extra=None):
    """Record the resolved recipe, the model's registry name and builder config, and the environment."""
    import keras

    payload = {
        "recipe_class": f"{_module_name(type(recipe).__module__)}.{type(recipe).__qualname__}",
        "recipe": recipe.to_dict(),
        "model": {"name": recipe.model, "config": model_config if model_config is not None else recipe.model_config()},
        "backend": keras.backend.backend(),
        "keras_version": keras.__version__,
        "command": command_line(),
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


# Override files (`--config FILE`) ---------------------------------------------------------------------------------

# Top-level keys of the nested override-file form; any other top-level key makes the file a flat `{field: value}` dict.
CONFIG_KEYS = ("recipe", "scale", "overrides", "search")


class OverrideFileError(ValueError):
    """An override file that cannot be applied; the message names the file and the key."""


def _coerce(recipe_cls, name, kind, value, source):
    """`value` (parsed JSON) as the type of field `name`, or `OverrideFileError` naming `source` and the key."""
    def bad(expected):
        return OverrideFileError(f"{source}: key {name!r} of {recipe_cls.__name__} must be {expected}, "
                                 f"got {value!r}")

    if kind is bool:
        if not isinstance(value, bool):
            raise bad("true or false")
        return value
    if kind is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise bad("an integer")
        return value
    if kind is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise bad("a number")
        return float(value)
    if kind is tuple:
        if not isinstance(value, (list, tuple)) or not all(isinstance(v, int) and not isinstance(v, bool)
                                                           for v in value):
            raise bad("a list of integers")
        return tuple(value)
    if kind is str and not isinstance(value, str):
        raise bad("a string")
    return value


def check_overrides(recipe_cls, values, source="overrides"):
    """`values` checked against the settable fields (`Recipe.flag_fields`) of `recipe_cls`, converted to field types.

    Unknown keys and mistyped values raise `OverrideFileError` naming `source` (the file) and the key; the values
    themselves are validated when the recipe is built (`Recipe.validated`).

    Example:
        >>> check_overrides(FSRCNNRecipe, {"d": 32, "learning_rate": 1e-3})
        {'d': 32, 'learning_rate': 0.001}
    """
    if not isinstance(values, dict):
        raise OverrideFileError(f"{source}: overrides must be a JSON object of recipe fields, got {values!r}")
    kinds = {f.name: kind for f, kind in recipe_cls.flag_fields()}
    checked = {}
    for key, value in values.items():
        if key not in kinds:
            raise OverrideFileError(
                f"{source}: unknown key {key!r}: {recipe_cls.__name__} has no settable field {key!r} "
                f"(fields: {', '.join(sorted(kinds))})")
        checked[key] = _coerce(recipe_cls, key, kinds[key], value, source)
    return checked


def read_overrides(path, recipe_cls):
    """The `{field: value}` overrides of an override file (`--config FILE`), checked against `recipe_cls`.

    The file is JSON in one of two forms:

    * flat: `{"d": 32, "m": 2, "learning_rate": 0.0012}`;
    * nested (what `python -m tools.tune` writes, `best_config.json`):
      `{"recipe": "fsrcnn", "scale": 3, "overrides": {"d": 32, ...}, "search": {...}}`. `recipe` (optional)
      must be the recipe reading the file; `scale` (optional) is returned as the `scale` override; `search` is a
      free-form record of where the values came from and is not applied.

    Keys are the recipe's settable fields (its command-line flags with `_` for `-`); an unknown key or a value of
    the wrong JSON type raises `OverrideFileError` naming the file and the key.

    Example:
        >>> read_overrides("runs/tune_fsrcnn/best_config.json", FSRCNNRecipe)
        {'scale': 3, 'd': 32, 's': 12, 'm': 2, 'learning_rate': 0.0012}
    """
    source = os.fspath(path)
    try:
        with open(source, encoding="utf-8") as f:
            payload = json.load(f)
    except FileNotFoundError:
        raise OverrideFileError(f"{source}: no such override file") from None
    except json.JSONDecodeError as err:
        raise OverrideFileError(f"{source}: not valid JSON ({err})") from None
    if not isinstance(payload, dict):
        raise OverrideFileError(f"{source}: an override file is a JSON object, got {type(payload).__name__}")
    if "overrides" not in payload:
        return check_overrides(recipe_cls, payload, source)
    extra = sorted(set(payload) - set(CONFIG_KEYS))
    if extra:
        raise OverrideFileError(f"{source}: unknown key {extra[0]!r} beside 'overrides' (the nested form allows "
                                f"{', '.join(CONFIG_KEYS)}; recipe fields go inside 'overrides')")
    recipe = payload.get("recipe")
    if recipe is not None and recipe != recipe_cls.model_name():
        raise OverrideFileError(f"{source}: written for recipe {recipe!r}, not {recipe_cls.model_name()!r}")
    if not isinstance(payload["overrides"], dict):
        raise OverrideFileError(f"{source}: 'overrides' must be a JSON object of recipe fields")
    values = {"scale": payload["scale"]} if payload.get("scale") is not None else {}
    values.update(payload["overrides"])
    return check_overrides(recipe_cls, values, source)


def write_overrides(path, recipe_cls, overrides, scale=None, search=None):
    """Write an override file in the nested form of `read_overrides`; returns `path`.

    Example:
        >>> write_overrides("best_config.json", FSRCNNRecipe, {"d": 32, "m": 2}, scale=3, search={"val_psnr": 27.3})
    """

    values = check_overrides(recipe_cls, dict(overrides), f"overrides for {os.fspath(path)}")
    payload = {"recipe": recipe_cls.model_name(), **({} if scale is None else {"scale": int(scale)}),
               "overrides": {k: list(v) if isinstance(v, tuple) else v for k, v in values.items()}}
    if search is not None:
        payload["search"] = search
    atomic_write_text(os.fspath(path), json.dumps(payload, indent=2, default=str) + "\n")
    return path
