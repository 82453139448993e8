"""Training SR3's denoiser with the `fit` engine: the paper's loss in a `compute_loss` override.

Saharia et al., SR3 (2021), Alg. 1: for a batch of (LR, HR) pairs, `y0` = HR in
[-1, 1], `x` = LR upsampled by bicubic to the HR size (MATLAB's rule,
`keras_sr.layers.BicubicResize`, as the evaluation protocol and the upscaler
make it), gamma from the paper's piecewise p(gamma) over the training schedule
(`keras_sr.diffusion.sample_training_gamma`), `eps ~ N(0, I)`, and the loss
`|| f(x, sqrt(gamma) y0 + sqrt(1 - gamma) eps, gamma) - eps ||_p^p` with p = 1
or 2 (mean over pixels).

`DiffusionTrainer` wraps the registered denoiser like `MultiOutputTrainer` does
for multi-output networks (the engine's `recipe.training_model(network)` hook):
its `call` passes the LR batch through (fit needs a forward pass) and
`compute_loss` -- the Keras override `fit` calls on every backend, inside the
gradient tape on TensorFlow and inside the stateless scope on JAX -- draws the
noise with the model's own `SeedGenerator` (part of the model state, so JAX's
stateless step and checkpoints carry it) and runs the denoiser. Validation and
the exported model are the bare denoiser (`inference_weights`), scored through
its sampler (`keras_sr.training.validation.predict_image`).

Example:
    >>> trainer = DiffusionTrainer(models.build("sr3", scale=4, ...), scale=4, loss="l1")
    >>> trainer.compile(optimizer="adam"); trainer.fit(lr_hr_batches, steps_per_epoch=10)
"""

import keras
from keras import ops

from keras_sr.diffusion import TRAIN_SCHEDULE, q_sample, sample_training_gamma
from keras_sr.layers.bicubic_resize import BicubicResize
from keras_sr.training.multi_output import MultiOutputTrainer

__all__ = ["DiffusionTrainer", "noise_loss"]


def noise_loss(kind):
    """`loss(eps, eps_pred)`: mean |.| (p = 1) or mean square (p = 2)."""
    if kind == "l1":
        return lambda a, b: ops.mean(ops.abs(ops.cast(a, "float32") - ops.cast(b, "float32")))
    if kind == "l2":
        return lambda a, b: ops.mean(ops.square(ops.cast(a, "float32") - ops.cast(b, "float32")))
    raise ValueError(f"SR3's loss is l1 or l2 on the noise, got {kind!r}.")


class DiffusionTrainer(MultiOutputTrainer):
    """The training model of an SR3 denoiser: `fit((lr, hr))` minimises the paper's noise-prediction loss.

    Args:
        network: the registered "sr3" denoiser.
        scale: the SR factor (LR -> HR size of the bicubic conditioning).
        loss: "l1" or "l2" (the paper's p).
        schedule: the training `NoiseSchedule` (T = 2000, linear 1e-6 -> 0.01).
        seed: seed of the noise and gamma draws.
    """

    def __init__(self, network, scale, loss="l1", schedule=None, seed=0, name=None, **kwargs):
        super().__init__(network, noise_loss(loss), name=name or f"{network.name}_diffusion_training", **kwargs)
        self.scale = int(scale)
        self.schedule = schedule or TRAIN_SCHEDULE
        self.upsample = BicubicResize(self.scale, name="lr_bicubic")
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, inputs, training=False):
        return inputs  # the denoiser runs in compute_loss, where the HR batch is available

    def diffusion_loss(self, lr, hr):
        """The loss of one batch (also usable outside `fit`)."""
        hr = ops.cast(hr, "float32")
        y0 = hr / 127.5 - 1.0
        lr_up = self.upsample(ops.cast(lr, "float32"))
        batch = ops.shape(hr)[0]
        gamma = sample_training_gamma(self.schedule, batch, self.seed_generator)
        eps = keras.random.normal(ops.shape(hr), seed=self.seed_generator)
        noisy = q_sample(y0, gamma, eps)
        pred = self.network({"noisy": noisy, "lr_up": lr_up, "gamma": gamma}, training=True)
        return self.supervision_loss(eps, pred)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        loss = self.diffusion_loss(x, y)
        if training:
            self.train_steps.assign(ops.convert_to_tensor(self.train_steps) + 1.0)
        for extra in self.losses:
            loss = loss + ops.sum(ops.cast(extra, loss.dtype))
        return loss
