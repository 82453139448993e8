"""SRResNet recipe: `python -m recipes.srresnet --scale 4` (the MSE model SRGAN starts from).

Paper setup (Ledig et al., "Photo-Realistic Single Image Super-Resolution
Using a Generative Adversarial Network", CVPR 2017,
https://arxiv.org/abs/1609.04802, Sec. 3.2): SRResNet with 16 residual
blocks, batch norm and PReLU (the "srgan" variant), 16 random 96x96 HR
crops per batch (LR 24 at x4; the per-scale rule keeps the HR crop at 96),
the MSE loss, Adam (beta_1 0.9) at 1e-4 for 1e6 updates. Its final weights
are the `--pretrained` start of `recipes.srgan`.

BasicSR's modified SRResNet (`--variant msrresnet`: no batch norm,
LeakyReLU, Wang et al. 2018) is trained there with L1, 2e-4 and 128x128 HR
crops (`--loss l1 --learning-rate 2e-4 --patch-size 32` at x4).

Without `--data`: a CPU demo on the embedded photographs with a small
SRResNet (4 blocks, 32 channels; the generator of the `recipes.srgan`
demo), LR patches of 24, batch 16, Adam 1e-3 with cosine decay over 300
steps, then held-out PSNR/SSIM beside bicubic, exports and a comparison PNG.

Example:
    $ python -m recipes.srresnet --scale 4
    $ python -m recipes.srresnet --scale 4 --data DIV2K/HR --val-data Set5/HR --out runs/srresnet_x4
    >>> SRResNetRecipe.for_scale(4).hr_patch_size
    96
"""

import dataclasses
import sys

from keras_sr.training.cli import recipe_main
from keras_sr.training.recipe import Recipe, field

__all__ = ["SRResNetRecipe", "main", "HR_PATCH"]

HR_PATCH = 96


@dataclasses.dataclass(frozen=True)
class SRResNetRecipe(Recipe):
    """Train SRResNet (Ledig et al., CVPR 2017) with MSE at x2/x3/x4/x8; without --data, a CPU demo."""

    model: str = field("srresnet", "registered model name", flag=False)
    variant: str = field("srgan", "SRResNet variant (srgan: the paper's, batch norm + PReLU; msrresnet: BasicSR's)",
                         choices=("srgan", "msrresnet"))
    num_blocks: int = field(16, "residual blocks")
    filters: int = field(64, "channels")
    loss: str = field("l2", "pixel loss (the paper: MSE)", choices=("l1", "charbonnier", "l2"))
    steps: int = field(1_000_000, "optimizer steps")
    schedule: str = field("constant", "learning-rate schedule", choices=("step", "cosine", "constant"))

    @classmethod
    def scale_defaults(cls, scale):
        return {"patch_size": HR_PATCH // int(scale)}

    @classmethod
    def demo_defaults(cls, scale):
        return {"num_blocks": 4, "filters": 32, "patch_size": 24, "batch_size": 16, "steps": 300,
                "learning_rate": 1e-3, "schedule": "cosine", "val_every": 100, "checkpoint_every": 50,
                "steps_per_epoch": 25, "val_images": 0}

    def model_config(self):
        return {"scale": self.scale, "variant": self.variant, "num_blocks": self.num_blocks, "filters": self.filters}


main = recipe_main(SRResNetRecipe, prog="recipes.srresnet")

if __name__ == "__main__":
    sys.exit(main())
