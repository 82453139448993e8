"""`SRModel`: a registered keras-sr model that carries its registry name and config.

`keras_sr.models.build(name, **config)` returns an `SRModel`: the builder's
functional graph (same layers, same weights, same `.weights.h5` layout) plus
`registered_name` and `model_config`. Its `get_config()` adds those two keys
to the functional graph config and `from_config` rebuilds the graph through
the registry from them, as keras-hub's `Backbone` does
(keras-team/keras-hub `keras_hub/src/models/backbone.py`: a functional
subclass whose config is its constructor arguments). So a saved `.keras` file
describes itself: no side `model.json` and no guessing from input names (the
model kind comes from the registry spec, `keras_sr.models.spec_of`). Files
saved before `SRModel` (plain functional `.keras` files) still load.

Example:
    >>> model = keras_sr.models.build("espcn", scale=3)
    >>> model.registered_name, model.model_config            # ("espcn", {"scale": 3})
    >>> model.save("espcn.keras"); keras.saving.load_model("espcn.keras", safe_mode=True).registered_name
"""

import copy

import keras

__all__ = ["SRModel"]


@keras.saving.register_keras_serializable(package="keras_sr")
class SRModel(keras.Model):
    """A functional model built by a registered keras-sr builder; its config is `(registered_name, model_config)`.

    Args:
        inputs / outputs: the builder's functional graph (`keras.Input` tensor(s)
            and output tensor(s)).
        registered_name: the name the builder is registered under (`keras_sr.models.register`).
        model_config: the builder's keyword arguments (JSON-serializable).
        name: the model name (the builder's).
    """

    def __init__(self, inputs, outputs, registered_name, model_config=None, name=None, **kwargs):
        super().__init__(inputs=inputs, outputs=outputs, name=name, **kwargs)
        # Plain attributes (str, and a dict copy kept outside Keras's layer tracking).
        self.registered_name = str(registered_name)
        object.__setattr__(self, "_sr_model_config", copy.deepcopy(dict(model_config or {})))

    @property
    def model_config(self):
        """The builder's keyword arguments (a copy)."""
        return copy.deepcopy(self._sr_model_config)

    @classmethod
    def wrap(cls, model, registered_name, model_config):
        """The `SRModel` over `model`'s graph (shares its layers and weights)."""
        return cls(model.input, model.output, registered_name=registered_name, model_config=model_config,
                   name=model.name)

    def get_config(self):
        # The functional graph config too, so `keras.Model.from_config(config)` still rebuilds a plain
        # functional model from the graph; `SRModel.from_config` (and `.keras` loading) rebuilds through
        # the registry from `registered_name` + `model_config`.
        graph = keras.Model(self.input, self.output, name=self.name).get_config()
        return {**graph, "trainable": self.trainable, "registered_name": self.registered_name,
                "model_config": self.model_config}

    @classmethod
    def from_config(cls, config, custom_objects=None):
        from keras_sr import models  # the registry: the package this module belongs to (already imported)

        config = dict(config)
        model = models.build(config["registered_name"], **config.get("model_config", {}))
        if config.get("name") and config["name"] != model.name:
            model.name = config["name"]
        model.trainable = config.get("trainable", True)
        return model
