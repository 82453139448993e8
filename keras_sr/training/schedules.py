"""Learning-rate schedules of SR papers as Keras schedules: step (EDSR, RCAN) and cosine (SwinIR, BasicSR).

* `step`: `lr * gamma^k` after the k-th milestone (EDSR: 1e-4 halved every
  2e5 steps; `keras.optimizers.schedules.PiecewiseConstantDecay`).
* `cosine`: linear warm-up for `warmup_steps`, then cosine decay to
  `min_learning_rate` at `steps` (`keras.optimizers.schedules.CosineDecay`).
* `constant`: `lr`.

`learning_rate_at(recipe, step)` is the same rule in plain Python (for logs
and tests).

Example:
    >>> schedule = make_schedule(recipe)          # a Keras LearningRateSchedule or a float
    >>> keras.optimizers.Adam(schedule)
    >>> learning_rate_at(recipe, 200_000)
"""

import math

import keras

__all__ = ["make_schedule", "learning_rate_at"]


def _milestones(recipe):
    return sorted(int(m) for m in recipe.lr_milestones if 0 < int(m))


def make_schedule(recipe):
    """The recipe's learning rate as a float or a `keras.optimizers.schedules.LearningRateSchedule`."""
    lr = float(recipe.learning_rate)
    if recipe.schedule == "constant":
        return lr
    if recipe.schedule == "step":
        milestones = _milestones(recipe)
        if not milestones:
            return lr
        values = [lr * recipe.lr_gamma**k for k in range(len(milestones) + 1)]
        return keras.optimizers.schedules.PiecewiseConstantDecay(milestones, values)
    if recipe.schedule == "cosine":
        warmup = int(recipe.warmup_steps)
        decay_steps = max(1, int(recipe.steps) - warmup)
        alpha = float(recipe.min_learning_rate) / lr
        if warmup:
            return keras.optimizers.schedules.CosineDecay(
                0.0, decay_steps, alpha=alpha, warmup_target=lr, warmup_steps=warmup)
        return keras.optimizers.schedules.CosineDecay(lr, decay_steps, alpha=alpha)
    raise ValueError(f"Unknown schedule {recipe.schedule!r}; choose from step, cosine, constant.")


def learning_rate_at(recipe, step):
    """The learning rate the optimizer uses at (0-based) `step`."""
    lr = float(recipe.learning_rate)
    if recipe.schedule == "constant":
        return lr
    if recipe.schedule == "step":
        # PiecewiseConstantDecay: value k applies while step > boundary k-1 ... step <= boundary k.
        passed = sum(1 for m in _milestones(recipe) if step > m)
        return lr * recipe.lr_gamma**passed
    warmup = int(recipe.warmup_steps)
    if step < warmup:
        return lr * step / warmup
    decay_steps = max(1, int(recipe.steps) - warmup)
    progress = min(step - warmup, decay_steps) / decay_steps
    alpha = float(recipe.min_learning_rate) / lr
    return lr * ((1 - alpha) * 0.5 * (1 + math.cos(math.pi * progress)) + alpha)
