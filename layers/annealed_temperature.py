"""AnnealedTemperature: SMSR's Gumbel-softmax temperature, annealed by a step counter inside the model.

Wang, Wang, Liang, Xu, Zhang, Xu, An, "Exploring Sparsity in Image
Super-Resolution for Efficient Inference", CVPR 2021
(https://arxiv.org/abs/2006.09603), Sec. 3.3: the temperature is
`tau = max(1 - t / 500, 0.4)` for epoch t (counted from 0). The released code
(LongguangWang/SMSR `trainer.py`) computes that value but hands it to
`m._set_tau(tau)` on modules whose method is `_update_tau`, so `hasattr`
is always False and tau stays 1 for the whole run; this layer implements
the paper's schedule.

The layer owns a float32 step counter (a non-trainable weight, so it is saved
in checkpoints and restored on resume) that every training call advances by
one; the temperature of a call is that of the step before the increment:
`tau = max(initial - floor(step / epoch_steps) / anneal_epochs, minimum)`.
Keeping the counter in the graph (like BatchNorm's moving averages) makes the
schedule work on every backend inside `fit` (a callback assigning a variable
would not reach JAX's stateless train step). The output is `(B, 1)`, the
temperature for each image of the batch of the input it is called on (only the
batch size of the input is used).

Example:
    >>> tau = AnnealedTemperature(epoch_steps=1000)(lr)          # (B, 1), 1.0 before training
    >>> AnnealedTemperature().temperature_at(300_000)             # 0.4
"""

import math

import keras
from keras import ops

__all__ = ["AnnealedTemperature"]


@keras.saving.register_keras_serializable(package="keras_sr")
class AnnealedTemperature(keras.layers.Layer):
    """`(B, ...) -> (B, 1)` temperature of the current training step (advances the counter in training calls).

    Args:
        initial: temperature at step 0 (1.0).
        minimum: lowest temperature (0.4).
        anneal_epochs: epochs over which the temperature falls by 1 (500).
        epoch_steps: optimizer steps per epoch (1000, SMSR's `--test_every`).
    """

    def __init__(self, initial=1.0, minimum=0.4, anneal_epochs=500, epoch_steps=1000, **kwargs):
        super().__init__(**kwargs)
        if not 0 < float(minimum) <= float(initial):
            raise ValueError(f"AnnealedTemperature needs 0 < minimum <= initial, got {minimum!r}, {initial!r}.")
        if int(anneal_epochs) < 1 or int(epoch_steps) < 1:
            raise ValueError("AnnealedTemperature: anneal_epochs and epoch_steps must be >= 1.")
        self.initial, self.minimum = float(initial), float(minimum)
        self.anneal_epochs, self.epoch_steps = int(anneal_epochs), int(epoch_steps)
        self.step = self.add_weight(shape=(), initializer="zeros", dtype="float32", trainable=False,
                                    autocast=False, aggregation="only_first_replica", name="step")

    def temperature_at(self, step):
        """The schedule in Python: the temperature used at training step `step`."""
        return max(self.initial - math.floor(step / self.epoch_steps) / self.anneal_epochs, self.minimum)

    def call(self, inputs, training=False):
        step = ops.convert_to_tensor(self.step)
        epoch = ops.floor(step / float(self.epoch_steps))
        tau = ops.maximum(self.initial - epoch / float(self.anneal_epochs), self.minimum)
        if training:
            self.step.assign(step + 1.0)
        ones = ops.ones_like(ops.cast(ops.reshape(inputs, (ops.shape(inputs)[0], -1))[:, :1], "float32"))
        return ones * tau

    def compute_output_shape(self, input_shape):
        return (input_shape[0], 1)

    def compute_output_spec(self, inputs, training=False):
        return keras.KerasTensor((inputs.shape[0], 1), dtype="float32")

    def get_config(self):
        config = super().get_config()
        config.update({"initial": self.initial, "minimum": self.minimum, "anneal_epochs": self.anneal_epochs,
                       "epoch_steps": self.epoch_steps})
        return config
