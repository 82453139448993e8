"""Exponential moving average of the weights (BasicSR's `ema_decay`), as a callback.

BasicSR keeps `net_g_ema = decay * net_g_ema + (1 - decay) * net_g` after
every step (decay 0.999) and evaluates and saves the EMA network. Here the
average is updated inside the compiled train step by the Keras optimizer
(`use_ema=True, ema_momentum=decay`; the first step copies the weights, as
BasicSR's initial copy does), so it costs no extra host work and is saved in
every checkpoint with the optimizer state. `EMACallback` swaps the averaged
weights in for validation, best-checkpoint and export (`ema_weights`) and
writes them into the model when training ends.

Example:
    >>> optimizer = keras.optimizers.Adam(1e-4, **ema_optimizer_kwargs(0.999))
    >>> model.fit(data, callbacks=[EMACallback()])      # model holds the EMA weights afterwards
    >>> with ema_weights(model): evaluate(model)        # mid-training
"""

import contextlib
import math

import keras

__all__ = ["initial_share", "warn_if_short", "ema_optimizer_kwargs", "ema_variables", "ema_weights", "weights_with_ema", "apply_ema", "EMACallback"]


def ema_optimizer_kwargs(decay):
    """Optimizer kwargs enabling the weight EMA (`{}` when `decay` is 0)."""
    return {"use_ema": True, "ema_momentum": float(decay)} if decay else {}


def initial_share(decay, steps):
    """The weight the EMA still gives the starting weights after `steps` updates: `decay ** (steps - 1)`."""
    return float(decay) ** max(0, int(steps) - 1) if decay else 0.0


def warn_if_short(decay, steps, log, limit=0.01):
    """Log a warning (returns True) when the final EMA would keep more than `limit` of the starting weights.

    The first step copies the weights, so after `steps` updates the average
    still holds `decay ** (steps - 1)` of them. That matters when they are
    random (training from scratch, or the layers `--init-from` could not copy):
    at decay 0.999, 2,000 steps keep 13.5 %.
    """
    share = initial_share(decay, steps)
    if share <= limit:
        return False
    suggested = (limit / 10) ** (1.0 / max(1, int(steps) - 1))
    log(f"warning: --ema-decay {decay} over {steps} steps: the final EMA weights keep {share:.1%} of the starting "
        "weights, which hurts when some are random (from scratch, or layers --init-from could not copy); "
        f"--ema-decay {math.floor(suggested * 1000) / 1000:g} or less suits a run this short")
    return True


def _base_optimizer(optimizer):
    while optimizer is not None and hasattr(optimizer, "inner_optimizer"):  # LossScaleOptimizer
        optimizer = optimizer.inner_optimizer
    return optimizer


def ema_variables(model):
    """`[(weight, average), ...]` for the model's trainable weights, or None without EMA."""
    optimizer = _base_optimizer(getattr(model, "optimizer", None))
    if optimizer is None or not getattr(optimizer, "use_ema", False):
        return None
    averages = getattr(optimizer, "_model_variables_moving_average", None)
    if not averages or not optimizer.built:
        return None
    weights = model.trainable_weights
    if len(weights) != len(averages):
        raise RuntimeError(f"EMA holds {len(averages)} averages for {len(weights)} trainable weights.")
    return list(zip(weights, averages))


@contextlib.contextmanager
def ema_weights(model):
    """Within the block the model holds its EMA weights (no-op without EMA); restored afterwards."""
    pairs = ema_variables(model)
    if not pairs:
        yield False
        return
    raw = [keras.ops.convert_to_numpy(w) for w, _ in pairs]
    for w, average in pairs:
        w.assign(keras.ops.convert_to_numpy(average))
    try:
        yield True
    finally:
        for (w, _), value in zip(pairs, raw):
            w.assign(value)


def weights_with_ema(model):
    """`model.get_weights()` with each trainable weight replaced by its EMA (plain weights without EMA)."""
    pairs = ema_variables(model) or []
    averages = {id(w): average for w, average in pairs}
    return [keras.ops.convert_to_numpy(averages.get(id(w), w)) for w in model.weights]


def apply_ema(model):
    """Overwrite the model's trainable weights with their EMA; True when there was one."""
    pairs = ema_variables(model)
    if not pairs:
        return False
    for w, average in pairs:
        w.assign(keras.ops.convert_to_numpy(average))
    return True


class EMACallback(keras.callbacks.Callback):
    """Finalizes training on the EMA weights; other callbacks use `ema_weights(model)` meanwhile.

    Args:
        apply_at_end: write the EMA into the model's weights in `on_train_end`.
    """

    def __init__(self, apply_at_end=True):
        super().__init__()
        self.apply_at_end = apply_at_end
        self.applied = False

    def on_train_end(self, logs=None):
        if self.apply_at_end:
            self.applied = apply_ema(self.model)
