"""Pixel losses for SR training on 0-255 images: L1 (EDSR, RCAN), Charbonnier (LapSRN), L2 (SRCNN).

Losses are computed in float32 whatever the compute dtype (mixed precision),
averaged over all pixels and channels.

* `L1Loss`: `mean(|y - p|)`, EDSR's loss (Lim et al. 2017, Sec. 4.2).
* `CharbonnierLoss`: `mean(sqrt((y - p)^2 + (epsilon * 255)^2))`, a smooth
  L1 (Lai et al., LapSRN, CVPR 2017, epsilon = 1e-3 on [0, 1] images).

Example:
    >>> model.compile(optimizer="adam", loss=get_loss("charbonnier"))
    >>> L1Loss()(hr, sr)
    >>> get_loss("l1").get_config()
"""

import keras
from keras import ops

__all__ = ["L1Loss", "CharbonnierLoss", "L2Loss", "get_loss"]


@keras.saving.register_keras_serializable(package="keras_sr")
class L1Loss(keras.losses.Loss):
    """Mean absolute error in pixel units."""

    def __init__(self, name="l1", reduction="sum_over_batch_size", dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)

    def call(self, y_true, y_pred):
        diff = ops.cast(y_pred, "float32") - ops.cast(y_true, "float32")
        return ops.mean(ops.abs(diff), axis=(1, 2, 3))


@keras.saving.register_keras_serializable(package="keras_sr")
class L2Loss(keras.losses.Loss):
    """Mean squared error in pixel units."""

    def __init__(self, name="l2", reduction="sum_over_batch_size", dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)

    def call(self, y_true, y_pred):
        diff = ops.cast(y_pred, "float32") - ops.cast(y_true, "float32")
        return ops.mean(ops.square(diff), axis=(1, 2, 3))


@keras.saving.register_keras_serializable(package="keras_sr")
class CharbonnierLoss(keras.losses.Loss):
    """Charbonnier penalty `sqrt(d^2 + (epsilon * data_range)^2)`, averaged.

    Args:
        epsilon: smoothing constant relative to `data_range` (1e-3 as LapSRN).
        data_range: pixel range of the images (255 in keras-sr).
    """

    def __init__(self, epsilon=1e-3, data_range=255.0, name="charbonnier", reduction="sum_over_batch_size", dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        self.epsilon = float(epsilon)
        self.data_range = float(data_range)

    def call(self, y_true, y_pred):
        diff = ops.cast(y_pred, "float32") - ops.cast(y_true, "float32")
        eps = self.epsilon * self.data_range
        return ops.mean(ops.sqrt(ops.square(diff) + eps * eps), axis=(1, 2, 3))

    def get_config(self):
        config = super().get_config()
        config.update({"epsilon": self.epsilon, "data_range": self.data_range})
        return config


def get_loss(name, **kwargs):
    """`"l1"`, `"charbonnier"` or `"l2"` -> a loss instance."""
    table = {"l1": L1Loss, "charbonnier": CharbonnierLoss, "l2": L2Loss, "mse": L2Loss, "mae": L1Loss}
    if name not in table:
        raise ValueError(f"Unknown loss {name!r}; choose from l1, charbonnier, l2.")
    return table[name](**kwargs)
