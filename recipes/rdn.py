"""RDN recipe: `python -m recipes.rdn --scale 4` (or `keras-sr train rdn --scale 4`).

Paper setup (Zhang, Tian, Kong, Zhong, Fu, "Residual Dense Network for Image
Super-Resolution", CVPR 2018, https://arxiv.org/abs/1802.08797, Sec. 5.1):
RDN with D=16 blocks of C=8 layers, growth rate G=64, G0=64 (variant "B"),
16 RGB LR patches of 32x32 per batch (HR 64 / 96 / 128 at x2 / x3 / x4, the
`--patch_size` of EDSR-PyTorch's RDN commands), flips and 90-degree
rotations, L1 loss, Adam (beta_1 0.9, beta_2 0.999, epsilon 1e-8), learning
rate 1e-4 halved every 200 epochs. An epoch is 1000 updates (EDSR-PyTorch's
`--test_every 1000`), and the paper's run is 200 epochs (about a day on a
Titan Xp): 2e5 steps; the milestones repeat every 2e5 steps for longer runs
(`--steps 1000000`).

Without `--data`: a CPU demo on the embedded photographs with a small RDN
(4 blocks of 4 layers, growth 16, G0 32), LR patches of 24, batch 16, Adam
5e-4 with cosine decay over 300 steps, then held-out PSNR/SSIM beside
bicubic, exports and a comparison PNG.

Example:
    $ python -m recipes.rdn --scale 4
    $ python -m recipes.rdn --scale 2 --data DIV2K/HR --val-data Set5/HR --out runs/rdn_x2
    $ python -m recipes.rdn --resume --out runs/rdn_x2 --steps 400000
    >>> RDNRecipe.for_scale(3).model_config()
    {'scale': 3, 'variant': 'B', 'filters': 64}
"""

import dataclasses
import sys

from keras_sr.training.cli import recipe_main
from keras_sr.training.recipe import Recipe, field

__all__ = ["RDNRecipe", "main"]


@dataclasses.dataclass(frozen=True)
class RDNRecipe(Recipe):
    """Train RDN (Zhang et al., CVPR 2018) at x2/x3/x4 with the paper's setup; without --data, a CPU demo."""

    model: str = field("rdn", "registered model name", flag=False)
    variant: str = field("B", "RDN variant (B: D16 C8 G64, the paper's; A: D20 C6 G32)", choices=("A", "B"))
    num_blocks: int = field(0, "residual dense blocks D (0: the variant's)")
    num_layers: int = field(0, "conv layers per block C (0: the variant's)")
    growth_rate: int = field(0, "growth rate G (0: the variant's)")
    filters: int = field(64, "G0, channels between blocks")
    patch_size: int = field(32, "LR patch size (the HR patch is patch_size * scale)")
    steps: int = field(200_000, "optimizer steps (200 epochs of 1000 updates)")
    lr_milestones: tuple = field((200_000, 400_000, 600_000, 800_000),
                                 "steps where the learning rate is halved (every 200 epochs)")

    @classmethod
    def scale_defaults(cls, scale):
        return {"patch_size": 32}

    @classmethod
    def demo_defaults(cls, scale):
        return {"num_blocks": 4, "num_layers": 4, "growth_rate": 16, "filters": 32, "patch_size": 24,
                "batch_size": 16, "steps": 300, "learning_rate": 5e-4, "schedule": "cosine", "val_every": 100,
                "checkpoint_every": 50, "steps_per_epoch": 25, "val_images": 0}

    def model_config(self):
        config = {"scale": self.scale, "variant": self.variant, "filters": self.filters}
        for name in ("num_blocks", "num_layers", "growth_rate"):
            if getattr(self, name):
                config[name] = getattr(self, name)
        return config


main = recipe_main(RDNRecipe, prog="recipes.rdn")

if __name__ == "__main__":
    sys.exit(main())
