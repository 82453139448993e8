"""Pixel losses for SR training on 0-255 images: L1 (EDSR, RCAN), Charbonnier (LapSRN), L2 (SRCNN).

Losses are computed in float32 whatever the compute dtype (mixed precision),
averaged over all pixels and channels.

* `L1Loss`: `mean(|y - p|)`, EDSR's loss (Lim et al. 2017, Sec. 4.2).
* `CharbonnierLoss`: `mean(sqrt((y - p)^2 + (epsilon * 255)^2))`, a smooth
  L1 (Lai et al., LapSRN, CVPR 2017, epsilon = 1e-3 on [0, 1] images).

Multi-output losses, `loss(hr, outputs_dict, step) -> scalar`, for the
`keras_sr.training.multi_output.MultiOutputTrainer` (built from the pixel losses above, so they
inherit their float32 computation and `tf.distribute` scaling):

* `RecursiveSupervisionLoss`: DRCN's recursive supervision (Kim et al., CVPR
  2016, Sec. 3.3), `alpha * mean_d l(y_d, hr) + (1 - alpha) * l(y, hr)` with
  alpha decaying linearly from 1 to 0.
* `PyramidLoss`: LapSRN's loss (Lai et al., CVPR 2017, Sec. 3.2), a
  Charbonnier term at every pyramid level against the HR patch downscaled by
  MATLAB bicubic to that level.

Example:
    >>> model.compile(optimizer="adam", loss=get_loss("charbonnier"))
    >>> L1Loss()(hr, sr)
    >>> get_loss("l1").get_config()
    >>> PyramidLoss("charbonnier")(hr, {"x2": sr_x2, "x4": sr_x4})
"""

import keras
from keras import ops
from keras_sr.imresize import imresize_ops

__all__ = ["L1Loss", "CharbonnierLoss", "L2Loss", "get_loss", "RecursiveSupervisionLoss", "PyramidLoss"]


def _per_example(diff):
    """Every axis but the batch axis: images (B, H, W, C) and query values (B, Q, C) alike."""
    return tuple(range(1, len(diff.shape)))


@keras.saving.register_keras_serializable(package="keras_sr")
class L1Loss(keras.losses.Loss):
    """Mean absolute error in pixel units."""

    def __init__(self, name="l1", reduction="sum_over_batch_size", dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)

    def call(self, y_true, y_pred):
        diff = ops.cast(y_pred, "float32") - ops.cast(y_true, "float32")
        return ops.mean(ops.abs(diff), axis=_per_example(diff))


@keras.saving.register_keras_serializable(package="keras_sr")
class L2Loss(keras.losses.Loss):
    """Mean squared error in pixel units."""

    def __init__(self, name="l2", reduction="sum_over_batch_size", dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)

    def call(self, y_true, y_pred):
        diff = ops.cast(y_pred, "float32") - ops.cast(y_true, "float32")
        return ops.mean(ops.square(diff), axis=_per_example(diff))


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
        return ops.mean(ops.sqrt(ops.square(diff) + eps * eps), axis=_per_example(diff))

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


def _pixel_loss(loss, kwargs):
    return get_loss(loss, **kwargs) if isinstance(loss, str) else loss


class RecursiveSupervisionLoss:
    """DRCN's loss: `alpha * (1/D) sum_d l(y_d, hr) + (1 - alpha) * l(y, hr)`.

    Kim, Lee, Lee, "Deeply-Recursive Convolutional Network for Image
    Super-Resolution", CVPR 2016, Sec. 3.3: `y_d` is the prediction of
    recursion d (the model's `"recursion_1"` ... `"recursion_D"` outputs with
    `intermediate_outputs=True`), `y` the learned ensemble (`"output"`); alpha
    starts at 1 (every recursion supervised) and decays to 0 (the ensemble
    only). Here alpha falls linearly from `alpha_start` to `alpha_end` over
    `decay_steps` training steps and then stays there.

    Args:
        loss: pixel loss name (`"l2"`, the paper's) or a loss instance.
        decay_steps: steps over which alpha goes from `alpha_start` to `alpha_end`.
        alpha_start, alpha_end: alpha at step 0 and after `decay_steps`.
        output_key: the ensemble output's key; every other key is a recursion.

    Example:
        >>> loss = RecursiveSupervisionLoss("l2", decay_steps=1000)
        >>> loss(hr, model(bicubic), step=0)           # alpha = 1: the mean of the recursions' losses
    """

    def __init__(self, loss="l2", decay_steps=1, alpha_start=1.0, alpha_end=0.0, output_key="output", **kwargs):
        self.base = _pixel_loss(loss, kwargs)
        self.decay_steps = max(1, int(decay_steps))
        self.alpha_start, self.alpha_end = float(alpha_start), float(alpha_end)
        self.output_key = output_key

    def alpha(self, step):
        """Alpha after `step` training steps (a float32 tensor)."""
        t = ops.clip(ops.cast(step, "float32") / float(self.decay_steps), 0.0, 1.0)
        return self.alpha_start + (self.alpha_end - self.alpha_start) * t

    def __call__(self, y_true, outputs, step=0):
        if self.output_key not in outputs:
            raise ValueError(f"RecursiveSupervisionLoss needs the {self.output_key!r} output; got {sorted(outputs)} "
                             "(build DRCN with intermediate_outputs=True).")
        keys = [k for k in outputs if k != self.output_key]
        final = self.base(y_true, outputs[self.output_key])
        if not keys:
            return final
        intermediate = sum(self.base(y_true, outputs[k]) for k in keys) / float(len(keys))
        alpha = self.alpha(step)
        return alpha * intermediate + (1.0 - alpha) * final


def _level(key):
    if not (isinstance(key, str) and key.startswith("x") and key[1:].isdigit()):
        raise ValueError(f"PyramidLoss: output keys must be 'x2', 'x4', ... (LapSRN's), got {key!r}.")
    return int(key[1:])


class PyramidLoss:
    """LapSRN's multi-level loss: every pyramid level against the HR patch downscaled to it.

    Lai, Huang, Ahuja, Yang, "Deep Laplacian Pyramid Networks for Fast and
    Accurate Super-Resolution", CVPR 2017, Sec. 3.2 (Eq. 2): the sum over
    levels s of the Charbonnier penalty of `y_s - hr_s`, where `hr_s` is the
    HR patch downscaled by MATLAB bicubic (`keras_sr.imresize.imresize_ops`,
    float, antialiased) to level s (`"x2"`, `"x4"`, `"x8"` outputs of
    `lapsrn(..., intermediate_outputs=True)`; the finest level's target is the
    HR patch itself). The official MatConvNet loss layers sum the penalty over
    every pixel of every level; here each level's per-pixel mean is weighted by
    its share of pixels `(level / finest)^2`, which is that sum divided by the
    finest level's pixel count (a constant), so the value reads as a
    per-pixel Charbonnier of the finest level.

    Args:
        loss: pixel loss name (`"charbonnier"`, the paper's) or a loss instance.
        **kwargs: for the named loss (e.g. `epsilon=1e-3`).

    Example:
        >>> loss = PyramidLoss("charbonnier", epsilon=1e-3)
        >>> loss(hr, model(lr))                        # model: lapsrn(scale=4, intermediate_outputs=True)
        >>> loss.targets(hr, ["x2", "x4"])             # {"x2": hr downscaled 1/2, "x4": hr}
    """

    def __init__(self, loss="charbonnier", **kwargs):
        self.base = _pixel_loss(loss, kwargs)

    def targets(self, y_true, keys):
        """`{key: target}`: `y_true` downscaled by `level / finest` (MATLAB bicubic) for every level key."""

        finest = max(_level(k) for k in keys)
        y_true = ops.cast(y_true, "float32")
        return {k: y_true if _level(k) == finest else imresize_ops(y_true, _level(k) / finest) for k in keys}

    def __call__(self, y_true, outputs, step=None):
        keys = sorted(outputs, key=_level)
        finest = _level(keys[-1])
        targets = self.targets(y_true, keys)
        total = 0.0
        for key in keys:
            share = (_level(key) / finest) ** 2
            total = total + share * self.base(targets[key], outputs[key])
        return total
