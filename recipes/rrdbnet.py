"""RRDBNet recipe (PSNR-oriented ESRGAN generator): `python -m recipes.rrdbnet --scale 4`.

Paper setup (Wang et al., "ESRGAN: Enhanced Super-Resolution Generative
Adversarial Networks", ECCV Workshops 2018, https://arxiv.org/abs/1809.00219,
Sec. 4.1): RRDBNet with 23 RRDBs, 64 channels, growth 32, 16 HR crops of
128x128 per batch (LR 32 at x4; the per-scale rule keeps the HR crop at 128,
RRDBNet supports x1, x2, x4), flips and 90-degree rotations, the L1 loss,
Adam (beta_1 0.9, beta_2 0.999) at 2e-4 halved every 2e5 updates; 1e6
updates (the official `train_RRDB_PSNR_x4` config: `lr_steps` 200k ... 800k,
`niter` 1e6). Its final weights are the `--pretrained` start of
`recipes.esrgan`.

Without `--data`: a CPU demo on the embedded photographs with a small
RRDBNet (3 RRDBs, 32 channels, growth 16; the generator of the
`recipes.esrgan` demo), LR patches of 24, batch 16, Adam 5e-4 with cosine
decay over 300 steps, then held-out PSNR/SSIM beside bicubic, exports and a
comparison PNG.

Example:
    $ python -m recipes.rrdbnet --scale 4
    $ python -m recipes.rrdbnet --scale 4 --data DIV2K/HR --val-data Set5/HR --out runs/rrdbnet_x4
    >>> RRDBNetRecipe.for_scale(4).hr_patch_size
    128
"""

import dataclasses
import sys

from keras_sr.training.cli import recipe_main
from keras_sr.training.recipe import Recipe, field

__all__ = ["RRDBNetRecipe", "main", "HR_PATCH"]

HR_PATCH = 128


@dataclasses.dataclass(frozen=True)
class RRDBNetRecipe(Recipe):
    """Train the PSNR-oriented RRDBNet (Wang et al., ECCVW 2018) with L1 at x1/x2/x4; without --data, a CPU demo."""

    model: str = field("rrdbnet", "registered model name", flag=False)
    num_blocks: int = field(23, "RRDBs in the trunk")
    filters: int = field(64, "trunk channels")
    growth_rate: int = field(32, "channels per dense conv")
    learning_rate: float = field(2e-4, "initial learning rate (Adam)")
    steps: int = field(1_000_000, "optimizer steps")
    lr_milestones: tuple = field((200_000, 400_000, 600_000, 800_000), "steps where the learning rate is halved")

    @classmethod
    def scale_defaults(cls, scale):
        return {"patch_size": HR_PATCH // int(scale)}

    @classmethod
    def demo_defaults(cls, scale):
        return {"num_blocks": 3, "filters": 32, "growth_rate": 16, "patch_size": 24, "batch_size": 16, "steps": 300,
                "learning_rate": 5e-4, "schedule": "cosine", "val_every": 100, "checkpoint_every": 50,
                "steps_per_epoch": 25, "val_images": 0}

    def model_config(self):
        return {"scale": self.scale, "num_blocks": self.num_blocks, "filters": self.filters,
                "growth_rate": self.growth_rate}


main = recipe_main(RRDBNetRecipe, prog="recipes.rrdbnet")

if __name__ == "__main__":
    sys.exit(main())
