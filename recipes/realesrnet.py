"""Real-ESRNet recipe (L1 only, on-the-fly second-order degradations): `python -m recipes.realesrnet --scale 4`.

Wang et al., "Real-ESRGAN: Training Real-World Blind Super-Resolution with
Pure Synthetic Data", ICCVW 2021 (https://arxiv.org/abs/2107.10833), Sec. 4.1,
and the official option files (xinntao/Real-ESRGAN
`options/train_realesrnet_x4plus.yml`, `train_realesrnet_x2plus.yml`):
RRDBNet (23 blocks, 64 channels, growth 32; pixel-unshuffle at x2) trained with
L1 (weight 1) against the USM-sharpened HR (`gt_usm: True`), Adam (0.9, 0.99)
at 2e-4 for 1,000k iterations (the milestone at 1,000k never fires), EMA
0.999, batch 12 (4 GPUs x 12 officially: 48; set `--batch-size 48` to match),
HR crops 256 (LR 64 at x4) cut from 400x400 crops degraded on the fly by
`keras_sr.degradations` (`DegradationConfig()`: the official probabilities and
ranges), horizontal flips, the 180-pair pool. The official run starts from
ESRGAN's x4 model (`--pretrained`; at x2 from RealESRGAN_x4plus).

`--degradation device` (default) degrades inside the compiled train step as the
official does on its GPUs (`keras_sr.degradations.stage`, keras.ops, JPEG
emulated); `--degradation host` degrades in the PyDataset workers with numpy
and Pillow's exact JPEG. Held-out PSNR/SSIM are measured on the
evaluation protocol's bicubic LR images, not on the training degradations.

Without `--data` it is a CPU-sized demo on the embedded photographs: a
2-block, 16-channel RRDBNet, 96x96 degradation crops, 64x64 HR patches,
batch 4, a pool of 8, 60 steps, no EMA (0.999 over so few steps would keep
mostly the initial weights).

Example:
    $ python -m recipes.realesrnet --scale 4 --data DF2K/HR --out runs/realesrnet_x4 \\
          --pretrained ESRGAN_x4.weights.h5
    $ python -m recipes.realesrnet --degradation host        # CPU demo, host degradations
"""

import dataclasses
import sys

from keras_sr.degradations.config import DegradationConfig
from keras_sr.degradations.dataset import RealESRGANDataset
from keras_sr.degradations.stage import DeviceDegradation
from keras_sr.training.cli import recipe_main
from keras_sr.training.gan import GANRecipe
from keras_sr.training.recipe import field

__all__ = ["RealESRNetRecipe", "main", "GT_SIZE"]

GT_SIZE = 256


@dataclasses.dataclass(frozen=True)
class RealESRNetRecipe(GANRecipe):
    """Train Real-ESRNet (Wang et al., ICCVW 2021): RRDBNet, L1 on USM-sharpened HR, second-order degradations."""

    run_name = "realesrnet"

    model: str = field("rrdbnet", "registered generator name", flag=False)
    discriminator: str = field("", "registered discriminator name (none: L1 only)", flag=False)
    steps: int = field(1_000_000, "optimizer steps")
    batch_size: int = field(12, "batch size (official: 12 per GPU on 4 GPUs)")
    learning_rate: float = field(2e-4, "initial learning rate (Adam)")
    lr_milestones: tuple = field((1_000_000,), "steps where the learning rate is halved")
    beta_2: float = field(0.99, "Adam beta_2")
    ema_decay: float = field(0.999, "EMA of the generator's weights")
    loss: str = field("l1", "pixel loss", choices=("l1", "charbonnier", "l2"))
    pixel_weight: float = field(1.0, "weight of the L1 loss (against the USM-sharpened HR)")
    perceptual_weight: float = field(0.0, "weight of the VGG perceptual loss (0: off)")
    adversarial_weight: float = field(0.0, "weight of the adversarial loss (0: no discriminator)")
    gan_loss: str = field("standard", "adversarial loss (unused without a discriminator)", choices=("ragan", "standard"))
    augment: bool = field(True, "random left-right flips (Real-ESRGAN: use_hflip, no rotations)")
    num_blocks: int = field(23, "RRDBs in the trunk")
    filters: int = field(64, "trunk channels")
    growth_rate: int = field(32, "channels per dense conv")
    hr_size: int = field(400, "HR crop the degradations run on (official crop_pad_size 400)")
    queue_size: int = field(180, "training-pair pool size (a multiple of the batch size; 0: off)")
    degradation: str = field("device", "where the degradations run: in the compiled step or in the loader",
                             choices=("device", "host"))

    @classmethod
    def scale_defaults(cls, scale):
        return {"patch_size": GT_SIZE // int(scale)}

    @classmethod
    def demo_defaults(cls, scale):
        return {"patch_size": 64 // int(scale), "batch_size": 4, "steps": 60, "schedule": "constant",
                "num_blocks": 2, "filters": 16, "growth_rate": 8, "hr_size": 96, "queue_size": 8, "val_every": 30,
                "checkpoint_every": 30, "steps_per_epoch": 10, "val_images": 2, "learning_rate": 2e-4,
                "ema_decay": 0.0}  # an EMA of 0.999 over a few hundred steps would still be mostly the initial weights

    def validated(self):
        super().validated()
        name = type(self).__name__
        if self.hr_patch_size > self.hr_size or self.hr_size % self.scale:
            raise ValueError(f"{name}: HR patches of {self.hr_patch_size} must fit in hr_size {self.hr_size} (a "
                             f"multiple of the scale {self.scale}).")
        if self.queue_size and self.queue_size % self.batch_size:
            raise ValueError(f"{name}: queue_size {self.queue_size} must be a multiple of batch_size "
                             f"{self.batch_size}.")
        return self

    def model_config(self):
        return {"scale": self.scale, "num_blocks": self.num_blocks, "filters": self.filters,
                "growth_rate": self.growth_rate}

    def degradation_config(self):
        """The official degradation settings at this scale."""
        return DegradationConfig(scale=self.scale)

    def train_data(self, split, seed=0, steps_per_epoch=1000, loader=None, log=None, **kwargs):
        """The degradation data stage (`RealESRGANDataset`) over the split's HR images."""
        if split.kind != "images":
            raise ValueError(f"{type(self).__name__}: the degradations need HR image files or folders, got "
                             f"{split.kind} data.")
        data = RealESRGANDataset(split.train, self.degradation_config(), hr_size=self.hr_size,
                                 gt_size=self.hr_patch_size, batch_size=self.batch_size,
                                 steps_per_epoch=steps_per_epoch, seed=seed, mode=self.degradation,
                                 queue_size=self.queue_size if self.degradation == "host" else 0,
                                 hflip=self.augment, workers=max(1, int(self.workers or 1)))
        if log:
            log(f"Real-ESRGAN degradations on the {self.degradation}: {len(data.paths)} HR images, "
                f"{self.hr_size}x{self.hr_size} crops, pool {self.queue_size}")
        return data

    def batch_transform(self):
        if self.degradation != "device":
            return None
        return DeviceDegradation(self.degradation_config(), self.batch_size, self.hr_patch_size, self.queue_size)


main = recipe_main(RealESRNetRecipe, prog="recipes.realesrnet")

if __name__ == "__main__":
    sys.exit(main())
