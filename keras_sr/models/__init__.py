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
"""

import importlib

__all__ = ["register", "build", "get_builder", "list_models", "from_preset", "list_presets", "BUILTIN_MODULES"]

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
    "c2_matching": "keras_sr.models.c2_matching",
    "liif": "keras_sr.models.liif",
    "meta_rdn": "keras_sr.models.meta_sr",
}

_REGISTRY = {}


def register(name):
    """Decorator: register `builder(**config) -> keras.Model` under `name`."""

    def decorator(builder):
        if name in _REGISTRY and _REGISTRY[name] is not builder:
            raise ValueError(f"Model {name!r} is already registered by {_REGISTRY[name].__module__}.")
        _REGISTRY[name] = builder
        builder.registered_name = name
        return builder

    return decorator


def get_builder(name):
    """The builder registered as `name` (imports its module on first use)."""
    from keras_sr.torch_backend_fixes import apply_torch_fixes

    apply_torch_fixes()
    if name not in _REGISTRY and name in BUILTIN_MODULES:
        importlib.import_module(BUILTIN_MODULES[name])
    if name not in _REGISTRY:
        raise ValueError(f"Unknown model {name!r}. Registered models: {', '.join(list_models()) or 'none'}.")
    return _REGISTRY[name]


def build(name, **config):
    """Build the registered model `name` from its config keyword arguments."""
    return get_builder(name)(**config)


def list_models():
    """Sorted names of all built-in and registered models."""
    return sorted(set(BUILTIN_MODULES) | set(_REGISTRY))


def from_preset(name):
    """The shipped preset `name` (e.g. "fsrcnn_x3"): the registered model built from its config, weights loaded."""
    from keras_sr.models.presets import load_preset

    return load_preset(name)


def list_presets():
    """Names of the presets shipped in `keras_sr/presets/`."""
    from keras_sr.models import presets

    return [p.name for p in presets.list_presets()]
