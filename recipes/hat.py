"""HAT recipe: `python -m recipes.hat --scale 4 [--variant hat_s]`.

Official setup (Chen et al., "Activating More Pixels in Image Super-Resolution Transformer", CVPR
2023, https://arxiv.org/abs/2205.04437, and XPixelGroup/HAT `options/train/train_HAT_SRx2_from_scratch.yml`
/ `train_HAT_SRx4_finetune_from_SRx2.yml`): batch 32, RGB LR patches of 64 (HR 128 at x2, 256 at x4),
flips and rotations, L1, Adam (0.9, 0.99) 2e-4 halved at 250k, 400k, 450k and 475k of 500k steps at
x2; x3/x4 are fine-tuned from the x2 model (`--init-from runs/hat_x2`) at 1e-4, halved at 125k, 200k,
225k and 240k of 250k. (The paper's best models are also pre-trained on ImageNet; that stage needs
ImageNet and is not part of this recipe.)

Without `--data`: a CPU demo on the embedded photographs with a small HAT (`--embed-dim 48`,
2 groups of 2 blocks, window 8), LR patches of 32, batch 8, Adam 5e-4 with cosine decay over 300 steps.

Example:
    $ python -m recipes.hat --scale 4
    $ python -m recipes.hat --scale 2 --variant hat_s --data DF2K/HR --val-data Set5/HR --out runs/hat_s_x2
    >>> HATRecipe.for_scale(4).learning_rate_at(125_001)
    5e-05
"""

import dataclasses
import sys

from keras_sr.training.cli import recipe_main
from keras_sr.training.recipe import Recipe, field
from keras_sr.recipes.swinir import size_overrides

__all__ = ["HATRecipe", "main"]


@dataclasses.dataclass(frozen=True)
class HATRecipe(Recipe):
    """Train HAT (Chen et al., CVPR 2023) with the official setup; without --data, a CPU demo."""

    model: str = field("hat", "registered model name", flag=False)
    variant: str = field("hat", "HAT variant", choices=("hat", "hat_s", "hat_l"))
    embed_dim: int = field(0, "feature channels (0: the variant's)")
    num_groups: int = field(0, "residual hybrid attention groups (0: the variant's)")
    blocks_per_group: int = field(0, "hybrid attention blocks per group (0: the variant's)")
    window_size: int = field(0, "attention window (0: the variant's 16)")
    patch_size: int = field(64, "LR patch size (the HR patch is patch_size * scale)")
    batch_size: int = field(32, "global batch size (split over replicas)")
    learning_rate: float = field(2e-4, "initial learning rate (Adam); x3/x4 fine-tune from x2 at 1e-4")
    beta_2: float = field(0.99, "Adam beta_2 (the official option files)")
    steps: int = field(500_000, "optimizer steps (x3/x4: 250k from the x2 model)")
    lr_milestones: tuple = field((250_000, 400_000, 450_000, 475_000), "steps where the learning rate is halved")

    @classmethod
    def scale_defaults(cls, scale):
        if scale == 2:
            return {}
        return {"learning_rate": 1e-4, "steps": 250_000, "lr_milestones": (125_000, 200_000, 225_000, 240_000)}

    @classmethod
    def demo_defaults(cls, scale):
        return {"embed_dim": 48, "num_groups": 2, "blocks_per_group": 2, "window_size": 8, "patch_size": 32,
                "batch_size": 8, "steps": 300, "learning_rate": 5e-4, "schedule": "cosine", "val_every": 100,
                "checkpoint_every": 50, "steps_per_epoch": 25, "val_images": 0}

    def model_config(self):
        from keras_sr.models.hat import VARIANTS

        return size_overrides({"scale": self.scale, "variant": self.variant}, self, VARIANTS[self.variant])


main = recipe_main(HATRecipe, prog="recipes.hat")

if __name__ == "__main__":
    sys.exit(main())
