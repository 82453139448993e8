"""RCAN recipe: `python -m recipes.rcan --scale 4` (or `keras-sr train rcan --scale 4`).

Paper setup (Zhang, Li, Li, Wang, Zhong, Fu, "Image Super-Resolution Using
Very Deep Residual Channel Attention Networks", ECCV 2018,
https://arxiv.org/abs/1807.02758, Sec. 4.1): 10 residual groups of 20
RCABs, 64 channels, reduction 16; 16 RGB LR patches of 48x48 per batch,
flips and 90-degree rotations, L1 loss, Adam (beta_1 0.9, beta_2 0.999,
epsilon 1e-8), learning rate 1e-4 halved every 2e5 updates. Length: the
official RCAN_TrainCode defaults, 1000 epochs of 1000 updates (`--epochs
1000 --lr_decay 200 --test_every 1000`), i.e. 1e6 steps. The LR patch stays
48 at every scale (the official `RCAN_BIX{2,3,4}_G10R20P48` runs).

Without `--data`: a CPU demo on the embedded photographs with a small RCAN
(2 groups of 4 RCABs, 32 channels, reduction 8), LR patches of 24, batch 16,
Adam 5e-4 with cosine decay over 300 steps, then held-out PSNR/SSIM beside
bicubic, exports and a comparison PNG.

Example:
    $ python -m recipes.rcan --scale 4
    $ python -m recipes.rcan --scale 2 --data DIV2K/HR --val-data Set5/HR --out runs/rcan_x2
    >>> RCANRecipe.for_scale(4).learning_rate_at(200_001)
    5e-05
"""

import dataclasses
import sys

from keras_sr.training.cli import recipe_main
from keras_sr.training.recipe import Recipe, field

__all__ = ["RCANRecipe", "main"]


@dataclasses.dataclass(frozen=True)
class RCANRecipe(Recipe):
    """Train RCAN (Zhang et al., ECCV 2018) at x2/x3/x4/x8 with the paper's setup; without --data, a CPU demo."""

    model: str = field("rcan", "registered model name", flag=False)
    num_groups: int = field(10, "residual groups G")
    num_blocks: int = field(20, "RCABs per group B")
    filters: int = field(64, "channels")
    reduction: int = field(16, "channel-attention reduction ratio r")
    steps: int = field(1_000_000, "optimizer steps (1000 epochs of 1000 updates)")
    lr_milestones: tuple = field((200_000, 400_000, 600_000, 800_000), "steps where the learning rate is halved")

    @classmethod
    def scale_defaults(cls, scale):
        return {"patch_size": 48}

    @classmethod
    def demo_defaults(cls, scale):
        return {"num_groups": 2, "num_blocks": 4, "filters": 32, "reduction": 8, "patch_size": 24, "batch_size": 16,
                "steps": 300, "learning_rate": 5e-4, "schedule": "cosine", "val_every": 100, "checkpoint_every": 50,
                "steps_per_epoch": 25, "val_images": 0}

    def model_config(self):
        return {"scale": self.scale, "num_groups": self.num_groups, "num_blocks": self.num_blocks,
                "filters": self.filters, "reduction": self.reduction}


main = recipe_main(RCANRecipe, prog="recipes.rcan")

if __name__ == "__main__":
    sys.exit(main())
