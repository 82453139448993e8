"""Training a model other than the one exported: multi-output losses and weight hand-over for validation.

DRCN (recursive supervision) and LapSRN (a loss at every pyramid level) train
their network with every intermediate output; VDSR and DRRN train the
`scale=None` network on bicubic patches of mixed scales. In each case the
network trained holds exactly the variables of the single-output `scale=N`
model that is validated and exported. `MultiOutputTrainer` wraps the network
with its loss; `InferenceModelValidation` copies the trained (EMA) weights
into the exported model before scoring it; `keras_sr.training.engine.train`
uses both when a recipe defines `train_model_config()` / `training_loss()`.

Example:
    >>> net = models.build("lapsrn", scale=4, intermediate_outputs=True)
    >>> trainer = MultiOutputTrainer(net, PyramidLoss("charbonnier"))
    >>> trainer.compile(optimizer="adam"); trainer.fit(batches, steps_per_epoch=10)
"""

import keras

from keras_sr.training import ema as ema_lib
from keras_sr.training.validation import ValidationCallback

__all__ = ["MultiOutputTrainer", "InferenceModelValidation", "inference_weights", "check_same_variables", "synced"]


class MultiOutputTrainer(keras.Model):
    """The training model of a multi-output network: `network` plus a loss over all its outputs.

    `call` returns the network's outputs (a dict for DRCN's recursions or
    LapSRN's pyramid levels); `compute_loss` (the documented Keras override,
    used by `fit` on every backend) returns `loss(y_true, outputs, step)`,
    where `step` is this model's counter of training steps, a non-trainable
    float32 variable incremented in every training `compute_loss` (so it is
    part of the model state in JAX's stateless step and of every checkpoint,
    and restored on resume). It counts train steps as `optimizer.iterations`
    does and drives step-dependent losses such as DRCN's decaying alpha
    (`sample_weight` is not used). The network's variables are exactly those
    of the single-output model exported (`inference_weights`).

    Args:
        network: a functional model with dict outputs.
        loss: `callable(y_true, outputs, step) -> scalar` (`keras_sr.training.losses`).

    Example:
        >>> net = models.build("lapsrn", scale=4, intermediate_outputs=True)
        >>> trainer = MultiOutputTrainer(net, PyramidLoss("charbonnier"))
        >>> trainer.compile(optimizer="adam"); trainer.fit(batches, steps_per_epoch=10)
    """

    def __init__(self, network, loss, name=None, **kwargs):
        super().__init__(name=name or f"{network.name}_training", **kwargs)
        self.network = network
        self.supervision_loss = loss
        self.train_steps = self.add_weight(shape=(), initializer="zeros", dtype="float32", trainable=False,
                                           autocast=False, aggregation="only_first_replica", name="train_steps")
        self.built = True

    def call(self, inputs, training=False):
        return self.network(inputs, training=training)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        step = keras.ops.convert_to_tensor(self.train_steps)
        loss = self.supervision_loss(y, y_pred, step=step)
        if training:
            self.train_steps.assign(step + 1.0)
        for extra in self.losses:  # regularizers of the network's layers, if any
            loss = loss + keras.ops.sum(keras.ops.cast(extra, loss.dtype))
        return loss


def inference_weights(model):
    """The (EMA) values of the variables the exported model has, in its order (a trainer's network's)."""
    pairs = ema_lib.ema_variables(model) or []
    averages = {id(w): average for w, average in pairs}
    network = model.network if isinstance(model, MultiOutputTrainer) else model
    return [keras.ops.convert_to_numpy(averages.get(id(w), w)) for w in network.weights]


def check_same_variables(trained, exported, names):
    """Raise when the trained network cannot hand its weights to the exported model."""
    a = [tuple(w.shape) for w in trained.weights]
    b = [tuple(w.shape) for w in exported.weights]
    if a != b:
        raise ValueError(f"the trained model ({names[0]}) and the exported model ({names[1]}) do not hold the same "
                         f"variables ({len(a)} vs {len(b)} weights, shapes {a[:3]}... vs {b[:3]}...); "
                         "train_model_config() must only change parameter-free settings.")


def synced(model):
    """`model` with its JAX state written back into its variables (mid-`fit`, JAX keeps it apart)."""
    if keras.backend.backend() == "jax" and hasattr(model, "jax_state_sync"):
        model.jax_state_sync()
    return model


class InferenceModelValidation(ValidationCallback):
    """`ValidationCallback` that scores a separate float32 model holding the training model's weights.

    Used when the model trained is not the model exported (VDSR's `scale=None`
    network on bicubic patches, DRCN/LapSRN with every output): before each
    validation the training model's (EMA) weights are copied into
    `inference_model` (the recipe's `model_config()` model), which is scored
    with the evaluation protocol. The step counter comes from the training
    model's optimizer.

    Example:
        >>> eval_model = build_inference_model(recipe)
        >>> callback = InferenceModelValidation(eval_model, pairs, 3, every=1000, total_steps=10000)
    """

    def __init__(self, inference_model, pairs, scale, every, total_steps, weights_for_inference=inference_weights,
                 **kwargs):
        super().__init__(pairs, scale, every, total_steps, weights_context=None, **kwargs)
        self.inference_model = inference_model
        self.weights_for_inference = weights_for_inference

    def scored_model(self):
        """The exported model, holding the training model's (EMA) weights."""
        self.inference_model.set_weights(self.weights_for_inference(synced(self.model)))
        return self.inference_model
