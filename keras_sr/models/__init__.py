"""Model registry: every keras-sr model is built by a registered builder from a small config.

A builder is a function `(**config) -> keras.Model` (functional, any input size)
registered with `@register("name")`. Built-in model modules are imported lazily
the first time one of their names is asked for, so importing `keras_sr.models`
does not import Keras.

Example:
    >>> from keras_sr import models
    >>> model = models.build("edsr", scale=4, variant="baseline")
    >>> models.list_models()
    >>> fsrcnn = models.from_preset("fsrcnn_x3")       # shipped trained weights (models.list_presets())
    >>> esrgan = models.from_checkpoint("RealESRGAN_x4plus.pth")   # official PyTorch weights (keras_sr.convert)
"""

import dataclasses
import importlib

from keras_sr.models import presets
from keras_sr.models.presets import load_preset


__all__ = ["register", "build", "get_builder", "get_spec", "spec_of", "list_models", "from_preset", "list_presets",
           "from_checkpoint", "BUILTIN_MODULES", "ModelSpec", "KINDS", "SRModel"]

# name -> module that registers it. Add a line here for every new model module.
BUILTIN_MODULES = {
    "srcnn": "keras_sr.models.srcnn",
    "fsrcnn": "keras_sr.models.fsrcnn",
    "espcn": "keras_sr.models.espcn",
    "vdsr": "keras_sr.models.vdsr",
    "drcn": "keras_sr.models.drcn",
    "drrn": "keras_sr.models.drrn",
    "lapsrn": "keras_sr.models.lapsrn",
    "rednet": "keras_sr.models.red",
    "srdensenet": "keras_sr.models.srdensenet",
    "bicubic": "keras_sr.models.bicubic",
    "edsr": "keras_sr.models.edsr",
    "rdn": "keras_sr.models.rdn",
    "rcan": "keras_sr.models.rcan",
    "mdsr": "keras_sr.models.mdsr",
    "wdsr": "keras_sr.models.wdsr",
    "srresnet": "keras_sr.models.srresnet",
    "srgan_discriminator": "keras_sr.models.srresnet",
    "rrdbnet": "keras_sr.models.rrdbnet",
    "esrgan_discriminator": "keras_sr.models.rrdbnet",
    "ttsr": "keras_sr.models.ttsr",
    "ttsr_discriminator": "keras_sr.models.ttsr",
    "c2_matching": "keras_sr.models.c2_matching",
    "c2_matching_discriminator": "keras_sr.models.c2_matching",
    "srntt": "keras_sr.models.srntt",
    "ssen": "keras_sr.models.ssen",
    "e2ent": "keras_sr.models.e2ent",
    "cimr": "keras_sr.models.cimr",
    "masa_sr": "keras_sr.models.masa_sr",
    "crossnet": "keras_sr.models.crossnet",
    "datsr": "keras_sr.models.datsr",
    "refvae": "keras_sr.models.refvae",
    "cross_mpi": "keras_sr.models.cross_mpi",
    "swinir": "keras_sr.models.swinir",
    "hat": "keras_sr.models.hat",
    "liif": "keras_sr.models.liif",
    "meta_rdn": "keras_sr.models.meta_sr",
    "srvgg_compact": "keras_sr.models.realesrgan",
    "unet_discriminator_sn": "keras_sr.models.realesrgan",
    "classsr": "keras_sr.models.classsr",
    "smsr": "keras_sr.models.smsr",
    "dasr": "keras_sr.models.dasr",
    "glean": "keras_sr.models.glean",
    "stylegan2_discriminator": "keras_sr.models.glean",
    "sr3": "keras_sr.models.sr3",
    "srkd": "keras_sr.models.srkd",
}

KINDS = ("sisr", "refsr", "discriminator", "arbitrary_scale", "diffusion")


@dataclasses.dataclass(frozen=True)
class ModelSpec:
    """What the registry knows about a model besides its builder: its contract.

    Attributes:
        name: the registered name.
        builder: `(**config) -> keras.Model`.
        kind: "sisr" (`lr -> sr`), "refsr" (named inputs made from an LR image and a
            reference by `prepare_inputs`), "discriminator" (an image -> a score map or
            logit; not an upscaler), "arbitrary_scale" or "diffusion" (a denoiser `eps = f(noisy, lr_up,
            gamma)` whose upscaler runs a sampler, `keras_sr.diffusion`; SR3).
        inputs: the model's input names, for "refsr" models (their `INPUT_NAMES`).
        scales: the scales the model supports (None: any positive integer).
        prepare_inputs: `(lr, ref, scale) -> (inputs, (out_h, out_w))` for "refsr" models:
            the model's input batch for one LR image and one reference, and the size
            its output is cropped to.
        test_config / test_input_shape: a tiny config and its input shape (batch
            first; a dict of shapes for named inputs) that `keras_sr.testing` and
            tests/test_model_harness.py build, call, fit and save. Models registered
            without them get theirs from `keras_sr.testing.TINY_MODELS`, else the
            harness test fails.
    """

    name: str
    builder: object
    kind: str = "sisr"
    inputs: tuple = None
    scales: tuple = None
    prepare_inputs: object = None
    test_config: dict = None
    test_input_shape: object = None


_REGISTRY = {}


def register(name, kind="sisr", inputs=None, scales=None, prepare_inputs=None, test_config=None,
             test_input_shape=None):
    """Decorator: register `builder(**config) -> keras.Model` under `name` with its spec (`ModelSpec`).

    Plain `@register("name")` registers a single-image SR model with the defaults.
    """
    if kind not in KINDS:
        raise ValueError(f"register({name!r}): kind must be one of {KINDS}, got {kind!r}.")
    if kind == "refsr" and (inputs is None or prepare_inputs is None):
        raise ValueError(f"register({name!r}): a refsr model needs inputs=(names...) and prepare_inputs=.")

    def decorator(builder):
        if name in _REGISTRY and _REGISTRY[name].builder is not builder:
            raise ValueError(f"Model {name!r} is already registered by {_REGISTRY[name].builder.__module__}.")
        _REGISTRY[name] = ModelSpec(name, builder, kind, None if inputs is None else tuple(inputs),
                                    None if scales is None else tuple(int(s) for s in scales), prepare_inputs,
                                    None if test_config is None else dict(test_config), test_input_shape)
        builder.registered_name = name
        return builder

    return decorator


def get_spec(name):
    """The `ModelSpec` registered as `name` (imports its module on first use)."""
    from keras_sr.torch_backend_fixes import apply_torch_fixes

    apply_torch_fixes()
    if name not in _REGISTRY and name in BUILTIN_MODULES:
        importlib.import_module(BUILTIN_MODULES[name])
    if name not in _REGISTRY:
        raise ValueError(f"Unknown model {name!r}. Registered models: {', '.join(list_models()) or 'none'}.")
    return _REGISTRY[name]


def get_builder(name):
    """The builder registered as `name` (imports its module on first use)."""
    return get_spec(name).builder


def build(name, **config):
    """Build the registered model `name` from its config keyword arguments.

    The result is a `keras_sr.models.SRModel`: the builder's functional graph,
    carrying `registered_name` and `model_config`, so `get_config` / a `.keras`
    file rebuild it through this registry.
    """
    from keras_sr.models.sr_model import SRModel  # Keras: imported when a model is built, not with the registry

    spec = get_spec(name)
    if spec.scales is not None and "scale" in config and config["scale"] is not None \
            and int(config["scale"]) not in spec.scales:
        supported = "/".join(f"x{s}" for s in spec.scales)
        raise ValueError(f"{name} supports {supported} only, got scale={config['scale']!r}.")
    return SRModel.wrap(spec.builder(**config), name, config)


def list_models(kind=None):
    """Sorted names of all built-in and registered models (of `kind` when given: imports their modules)."""
    names = sorted(set(BUILTIN_MODULES) | set(_REGISTRY))
    if kind is None:
        return names
    return [n for n in names if get_spec(n).kind == kind]


def spec_of(model):
    """The `ModelSpec` of a built `keras.Model`: by its registered name (`SRModel`), else by its input names.

    Models saved before `SRModel` (plain functional `.keras` files) are matched
    by their named inputs against the registered RefSR specs' `inputs`; any
    other model without a name is a single-image model (None).
    """
    name = getattr(model, "registered_name", None)
    if name:
        return get_spec(name)
    inputs = model.input if isinstance(model.input, dict) else None
    if inputs is None:
        return None
    matches = [spec for spec in map(get_spec, list_models()) if spec.inputs is not None and set(spec.inputs) == set(inputs)]
    if not matches:
        known = {spec.name: list(spec.inputs) for spec in map(get_spec, list_models()) if spec.inputs is not None}
        raise ValueError(f"{model.name}: dict inputs {sorted(inputs)} match no registered RefSR model ({known}).")
    return matches[0]


def from_preset(name):
    """The shipped preset `name` (e.g. "fsrcnn_x3"): the registered model built from its config, weights loaded."""
    return load_preset(name)


def from_checkpoint(path, name=None, **overrides):
    """The registered model holding a released PyTorch checkpoint's weights (`keras_sr.convert.from_checkpoint`).

    `name` forces a converter (e.g. "edsr", "esrgan") instead of detection from the keys and shapes.
    """
    from keras_sr.convert import from_checkpoint as convert

    return convert(path, name, **overrides)


def list_presets():
    """Names of the presets shipped in `keras_sr/presets/`."""
    return [p.name for p in presets.list_presets()]


def __getattr__(name):
    """Lazy export: `keras_sr.models.SRModel` imports Keras only when first used."""
    if name == "SRModel":
        from keras_sr.models.sr_model import SRModel

        return SRModel
    raise AttributeError(f"module 'keras_sr.models' has no attribute {name!r}")
