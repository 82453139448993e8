"""WDSR recipe: `python -m recipes.wdsr --scale 2` (or `keras-sr train wdsr --scale 2 --variant b`).

Yu, Fan, Yang, Xu, Wang, Wang, Huang, "Wide Activation for Efficient and
Accurate Image Super-Resolution", arXiv 2018 (https://arxiv.org/abs/1808.08718).
Weight normalization on every convolution (built into the model,
`keras_sr.layers.weight_normalization`), which lets the paper train with a
learning rate of 1e-3, ten times EDSR's. Everything else is the EDSR
baseline setup of the EDSR-PyTorch framework the official code runs in
(JiahuiYu/wdsr_ntire2018 README: "identical to EDSR baseline model
settings"): the 16-block, 32-channel baseline (WDSR-A expands to 128 inside
each block, 1,190,100 parameters at x2), 16 RGB LR patches of 48x48 per
batch (96x96 HR crops at x2, the paper's DIV2K x2 experiments), flips and
90-degree rotations, L1 loss, Adam (beta_1 0.9, beta_2 0.999, epsilon
1e-8), halved every 2e5 of 3e5 updates (EDSR-PyTorch's 300 epochs of 1000,
`--decay 200`).

Without `--data`: a CPU demo of the baseline on the embedded photographs, LR
patches of 24, batch 16, Adam 1e-3 with cosine decay over 300 steps, then
held-out PSNR/SSIM beside bicubic, exports and a comparison PNG.

Example:
    $ python -m recipes.wdsr --scale 2
    $ python -m recipes.wdsr --scale 4 --variant b --data DIV2K/HR --val-data Set5/HR --out runs/wdsr_b_x4
    >>> WDSRRecipe.for_scale(2).model_config()
    {'scale': 2, 'variant': 'a', 'residual_scale': 1.0}
"""

import dataclasses
import sys

from keras_sr.training.cli import recipe_main
from keras_sr.training.recipe import Recipe, field

__all__ = ["WDSRRecipe", "main"]


@dataclasses.dataclass(frozen=True)
class WDSRRecipe(Recipe):
    """Train WDSR-A / WDSR-B (Yu et al. 2018) with weight normalization; without --data, a CPU demo."""

    model: str = field("wdsr", "registered model name", flag=False)
    variant: str = field("a", "WDSR variant (a: wide 3x3 blocks; b: 1x1 wide + low-rank 1x1 + 3x3)",
                         choices=("a", "b"))
    num_blocks: int = field(0, "residual blocks (0: the variant's, 16)")
    filters: int = field(0, "channels between blocks (0: the variant's, 32)")
    expansion: float = field(0.0, "width multiplier inside blocks (0: the variant's, A 4, B 6)")
    residual_scale: float = field(1.0, "residual scaling of every block")
    learning_rate: float = field(1e-3, "initial learning rate (Adam; 1e-3 with weight normalization)")
    steps: int = field(300_000, "optimizer steps (300 epochs of 1000 updates)")

    @classmethod
    def scale_defaults(cls, scale):
        return {"patch_size": 48}

    @classmethod
    def demo_defaults(cls, scale):
        return {"patch_size": 24, "batch_size": 16, "steps": 300, "learning_rate": 1e-3, "schedule": "cosine",
                "val_every": 100, "checkpoint_every": 50, "steps_per_epoch": 25, "val_images": 0}

    def model_config(self):
        config = {"scale": self.scale, "variant": self.variant, "residual_scale": self.residual_scale}
        for name in ("num_blocks", "filters", "expansion"):
            if getattr(self, name):
                config[name] = getattr(self, name)
        return config


main = recipe_main(WDSRRecipe, prog="recipes.wdsr")

if __name__ == "__main__":
    sys.exit(main())
