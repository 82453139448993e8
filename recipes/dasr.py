"""DASR recipe: `python -m recipes.dasr --scale 4 --data DF2K/HR` (or `keras-sr train dasr`).

Wang et al., "Unsupervised Degradation Representation Learning for Blind
Super-Resolution", CVPR 2021, Sec. 4.1, and the official settings
(The-Learning-And-Vision-Atelier-LAVA/DASR `option.py`, `main.sh`,
`trainer.py`), kept as the defaults:

* data: DF2K (800 DIV2K + 2,650 Flickr2K HR images); every image gives two
  random 192x192 HR patches (48 LR pixels at x4) with one flip/rotation and
  one degradation: a 21x21 Gaussian blur, isotropic with width
  `U[0.2, 4.0]` (`--blur-type iso_gaussian`, the noise-free setting) or
  anisotropic with eigen-widths `U[0.2, 4.0]` and angle `U[0, pi)`
  (`--blur-type aniso_gaussian --noise 25`, the general setting: noise
  level `U[0, 25]`), then MATLAB bicubic x1/s (`keras_sr.data.blind_pairs`);
* batch 32; Adam (0.9, 0.999, 1e-8); MoCo queue 8,192, momentum 0.999,
  temperature 0.07 (`keras_sr.training.dasr`);
* epochs of 970 iterations (3,450 images x 9 repeats for `--test_every 1000`
  at batch 32, `drop_last`): 100 epochs (97,000 steps) of the encoder alone
  with the contrastive loss at 1e-3, x0.1 at epoch 60 (step 57,230); then 500
  epochs of `L1 + contrastive` at 1e-4 halved every 125 epochs (steps
  217,280 / 338,530 / 459,780 / 581,030); 582,000 steps in all.

The held-out validation during training uses the protocol's bicubic LR
(width 0); blurred test sets are `tools.evaluate --degradation gaussian:W`.
Without `--data` it is a CPU demo on the embedded scikit-image photographs:
a small DASR (32 filters, 2 groups of 2 blocks, encoder 32/64/128), batch 8,
24-pixel LR patches, queue 256, 100 encoder steps at 1e-3 then 200 joint
steps at 5e-4: it shows the two phases run, not the paper's numbers.

Example:
    $ python -m recipes.dasr --scale 4
    $ python -m recipes.dasr --scale 4 --data DF2K/HR --val-data Set14/HR --out runs/dasr_x4_iso
    $ python -m recipes.dasr --scale 4 --data DF2K/HR --blur-type aniso_gaussian --noise 25
"""

import dataclasses
import os
import sys
import typing

from keras_sr.training.cli import recipe_main
from keras_sr.training.recipe import Recipe, field
from keras_sr.data.sources import DataSourceError

__all__ = ["DASRRecipe", "main", "EPOCH_STEPS"]

EPOCH_STEPS = 970  # official epoch: 3,450 DF2K images x 9 repeats // batch 32


@dataclasses.dataclass(frozen=True)
class DASRRecipe(Recipe):
    """Train DASR (Wang et al., CVPR 2021): MoCo encoder warm-up, then L1 + contrastive; without --data, a CPU demo."""

    model: str = field("dasr", "registered model name", flag=False)
    patch_size: int = field(48, "LR patch size (two patches of every image, HR patch_size * scale)")
    batch_size: int = field(32, "images per batch (each gives a query and a key patch)")
    steps: int = field(600 * EPOCH_STEPS, "optimizer steps (600 official epochs of 970 steps)")
    encoder_steps: int = field(100 * EPOCH_STEPS, "first steps training the degradation encoder alone "
                                                  "(contrastive loss only; 100 epochs)")
    encoder_learning_rate: float = field(1e-3, "learning rate of the encoder warm-up")
    encoder_lr_milestones: tuple = field((59 * EPOCH_STEPS,), "warm-up steps where its rate is multiplied by "
                                                               "encoder_lr_gamma")
    encoder_lr_gamma: float = field(0.1, "warm-up decay factor")
    learning_rate: float = field(1e-4, "learning rate of the joint phase (L1 + contrastive)")
    lr_milestones: tuple = field(tuple(e * EPOCH_STEPS for e in (224, 349, 474, 599)),
                                 "joint-phase steps where the rate is multiplied by lr_gamma (every 125 epochs)")
    lr_gamma: float = field(0.5, "joint-phase decay factor")
    blur_type: str = field("iso_gaussian", "training blur kernels", choices=("iso_gaussian", "aniso_gaussian"))
    kernel_size: int = field(21, "blur kernel side")
    sig_min: float = field(0.2, "isotropic blur: smallest width")
    sig_max: float = field(4.0, "isotropic blur: largest width")
    lambda_min: float = field(0.2, "anisotropic blur: smallest eigen-width")
    lambda_max: float = field(4.0, "anisotropic blur: largest eigen-width")
    noise: float = field(0.0, "largest Gaussian noise level on 0-255 (each image draws U[0, noise]; "
                              "official general setting: 25)")
    queue_size: int = field(8192, "MoCo queue of negative keys (a multiple of batch_size)")
    moco_momentum: float = field(0.999, "momentum of the key encoder")
    temperature: float = field(0.07, "contrastive softmax temperature")
    filters: int = field(64, "generator feature channels")
    num_groups: int = field(5, "degradation-aware groups")
    num_blocks: int = field(5, "degradation-aware blocks per group")
    reduction: int = field(8, "DA conv channel-attention reduction")
    encoder_widths: tuple = field((64, 128, 256), "degradation encoder widths (the last is the representation)")

    refuses: typing.ClassVar[dict] = {
        "strategy": "DASR's MoCo queue and momentum key encoder are one device's state: --strategy {strategy} is "
                    "not supported (use one device)",
    }

    @classmethod
    def demo_defaults(cls, scale):
        return {"filters": 32, "num_groups": 2, "num_blocks": 2, "encoder_widths": (32, 64, 128), "patch_size": 24,
                "batch_size": 8, "queue_size": 256, "steps": 300, "encoder_steps": 100,
                "encoder_lr_milestones": (), "learning_rate": 5e-4, "lr_milestones": (), "val_every": 100,
                "checkpoint_every": 100, "steps_per_epoch": 25, "val_images": 0}

    def validated(self):
        super().validated()
        name = type(self).__name__

        def require(ok, message):
            if not ok:
                raise ValueError(f"{name}: {message}")

        require(0 <= self.encoder_steps < self.steps, f"encoder_steps must be in [0, steps), got {self.encoder_steps}")
        require(self.queue_size >= self.batch_size and self.queue_size % self.batch_size == 0,
                f"queue_size ({self.queue_size}) must be a multiple of batch_size ({self.batch_size})")
        require(all(0 < int(m) < self.encoder_steps for m in self.encoder_lr_milestones),
                f"encoder_lr_milestones must lie inside the warm-up (0, {self.encoder_steps}), got "
                f"{self.encoder_lr_milestones}")
        require(all(self.encoder_steps < int(m) for m in self.lr_milestones),
                f"lr_milestones must come after encoder_steps ({self.encoder_steps}), got {self.lr_milestones}")
        require(self.loss == "l1", f"DASR trains with L1 (the official loss), got loss={self.loss!r}")
        require(self.schedule == "step", "DASR's schedule is the two-phase step schedule (encoder_* fields, then "
                                         f"lr_milestones), got schedule={self.schedule!r}")
        require(not self.weight_decay, "DASR trains with Adam without weight decay")
        require(self.encoder_learning_rate > 0 and 0 < self.moco_momentum < 1 and self.temperature > 0,
                "encoder_learning_rate and temperature must be > 0 and moco_momentum in (0, 1)")
        require(0 < self.sig_min <= self.sig_max and 0 < self.lambda_min <= self.lambda_max and self.noise >= 0,
                "blur widths must satisfy 0 < min <= max, and noise >= 0")
        require(self.kernel_size % 2 == 1 and self.kernel_size // 2 < self.patch_size * self.scale,
                f"kernel_size must be odd and smaller than the HR patch, got {self.kernel_size}")
        return self

    def model_config(self):
        return {"scale": self.scale, "filters": self.filters, "num_groups": self.num_groups,
                "num_blocks": self.num_blocks, "reduction": self.reduction,
                "encoder_widths": [int(w) for w in self.encoder_widths]}

    # Schedule and optimizer (keras_sr.training.engine hooks) ---------------------------------------------------
    def schedule_steps(self):
        """`(boundaries, values)` of the two-phase piecewise-constant learning rate (Keras' convention)."""
        boundaries, values = [], [float(self.encoder_learning_rate)]
        for k, milestone in enumerate(sorted(int(m) for m in self.encoder_lr_milestones), start=1):
            boundaries.append(milestone)
            values.append(self.encoder_learning_rate * self.encoder_lr_gamma ** k)
        if self.encoder_steps:
            boundaries.append(int(self.encoder_steps))
        else:
            values = []
        values.append(float(self.learning_rate))
        for k, milestone in enumerate(sorted(int(m) for m in self.lr_milestones), start=1):
            boundaries.append(milestone)
            values.append(self.learning_rate * self.lr_gamma ** k)
        return boundaries, values

    def learning_rate_at(self, step):
        boundaries, values = self.schedule_steps()
        return values[sum(1 for b in boundaries if step > b)]

    def learning_rate_schedule(self):
        """The two-phase schedule as a Keras `PiecewiseConstantDecay` (a float when it is constant)."""
        import keras

        boundaries, values = self.schedule_steps()
        return keras.optimizers.schedules.PiecewiseConstantDecay(boundaries, values) if boundaries else values[0]

    def optimizer(self, **adam_kwargs):
        """`DelayedStartAdam` with the two-phase schedule; the generator's Adam starts after the warm-up."""
        from keras_sr.training.dasr import DelayedStartAdam

        return DelayedStartAdam(**{**adam_kwargs, "learning_rate": self.learning_rate_schedule()},
                                delay=self.encoder_steps)

    def training_model(self, network):
        """The `DASRTrainer` around the `dasr` network (MLP head, momentum key encoder, queue)."""
        from keras_sr.training.dasr import DASRTrainer

        return DASRTrainer(network, self.scale, self.encoder_steps, self.queue_size, self.moco_momentum,
                           self.temperature, seed=self.seed)

    def train_data(self, split, seed=None, steps_per_epoch=None, loader=None, log=None):
        """Query/key patch pairs under random blur (+ noise): `keras_sr.data.blind_pairs.BlindPairDataset`."""
        from keras_sr.data.blind_pairs import BlindPairDataset

        if split.kind != "images":
            raise DataSourceError(f"DASR degrades HR images itself: --data must be image files or folders, got "
                                  f"{split.kind} data ({split.description}).")
        workers = int(self.workers) or max(1, min(8, os.cpu_count() or 1))
        data = BlindPairDataset(split.train, self.scale, self.patch_size, self.batch_size,
                                steps_per_epoch or self.epoch_steps, seed=seed, augment=self.augment,
                                blur_type=self.blur_type, kernel_size=self.kernel_size, sig_min=self.sig_min,
                                sig_max=self.sig_max, lambda_min=self.lambda_min, lambda_max=self.lambda_max,
                                noise=self.noise, workers=workers)
        if log:
            blur = (f"isotropic widths U[{self.sig_min:g}, {self.sig_max:g}]" if self.blur_type == "iso_gaussian"
                    else f"anisotropic eigen-widths U[{self.lambda_min:g}, {self.lambda_max:g}], angle U[0, pi)")
            log(f"DASR pairs: {len(data.paths)} images, 2 x {self.hr_patch_size}px HR patches each, "
                f"{self.kernel_size}x{self.kernel_size} Gaussian blur ({blur}), noise U[0, {self.noise:g}]")
        return data


main = recipe_main(DASRRecipe, prog="recipes.dasr")

if __name__ == "__main__":
    sys.exit(main())
