"""VDSR's adjustable gradient clipping on Keras' Adam / AdamW (`clip_theta`).

Kim, Lee, Lee, "Accurate Image Super-Resolution Using Very Deep Convolutional
Networks", CVPR 2016, Sec. 3.3: every gradient element is clipped to
`[-theta / lr, theta / lr]` at the current learning rate, so a step never
moves a weight by more than `theta`. `keras_sr.training.engine.make_optimizer`
picks these classes when a recipe's `clip_theta` field is > 0.

Example:
    >>> optimizer = AdjustableClippingAdam(learning_rate=1e-4, clip_theta=0.01)   # |g| <= 100
    >>> model.compile(optimizer=optimizer, loss="mse")
    >>> model.fit(batches, steps_per_epoch=100)
"""

import keras

__all__ = ["AdjustableClippingAdam", "AdjustableClippingAdamW"]


class _AdjustableClipping:
    """Clips every gradient element to `[-theta / lr, theta / lr]` at the current learning rate.

    VDSR's adjustable gradient clipping (Kim et al., CVPR 2016, Sec. 3.3): the
    bound grows as the learning rate decays, so the step `lr * g` stays within
    `theta`. Applied in `apply`, after loss-scale unscaling (LossScaleOptimizer
    unscales before calling the inner optimizer) and before the optimizer's own
    clipping, weight decay and update; `learning_rate` is the schedule's value
    at the optimizer's step counter on every backend (the counter is part of
    the optimizer state, also in JAX's stateless train step).
    """

    def __init__(self, *args, clip_theta, **kwargs):
        super().__init__(*args, **kwargs)
        if not float(clip_theta) > 0:
            raise ValueError(f"clip_theta must be > 0, got {clip_theta!r}.")
        self.clip_theta = float(clip_theta)

    def apply(self, grads, trainable_variables=None):
        bound = self.clip_theta / keras.ops.cast(self.learning_rate, "float32")
        clipped = []
        for g in grads:
            if g is None:
                clipped.append(g)
                continue
            b = keras.ops.cast(bound, g.dtype)
            clipped.append(keras.ops.clip(g, -b, b))
        return super().apply(clipped, trainable_variables)

    def get_config(self):
        config = super().get_config()
        config["clip_theta"] = self.clip_theta
        return config


@keras.saving.register_keras_serializable(package="keras_sr")
class AdjustableClippingAdam(_AdjustableClipping, keras.optimizers.Adam):
    """Adam with VDSR's adjustable gradient clipping (`clip_theta`).

    Example:
        >>> optimizer = AdjustableClippingAdam(learning_rate=1e-4, clip_theta=0.01)   # |g| <= 100
    """


@keras.saving.register_keras_serializable(package="keras_sr")
class AdjustableClippingAdamW(_AdjustableClipping, keras.optimizers.AdamW):
    """AdamW with VDSR's adjustable gradient clipping (`clip_theta`)."""
