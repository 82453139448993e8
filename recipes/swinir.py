"""SwinIR recipe: `python -m recipes.swinir --scale 4 [--variant lightweight]`.

Official setup (Liang et al., "SwinIR: Image Restoration Using Swin Transformer", ICCVW 2021,
https://arxiv.org/abs/2108.10257, Sec. 4.1, and KAIR's `options/swinir/train_swinir_sr_classical.json`
/ `train_swinir_sr_lightweight.json`): batch 32, RGB LR patches of 48 (classical) / 64 (lightweight),
flips and rotations, L1, Adam (0.9, 0.999) 2e-4 halved at 250k, 400k,
450k and 475k of 500k steps. x3/x4 models are fine-tuned from the x2 model (`--init-from
runs/swinir_x2`) with the learning rate and the milestones halved ("so that G_optimizer_lr and
G_scheduler_milestones can be halved", KAIR): 1e-4 at 125k/200k/225k/237.5k of 250k.

Without `--data`: a CPU demo on the embedded photographs with a smaller SwinIR-lightweight: its width
(60) and window (8) but 2 residual groups of 2 Swin blocks instead of 4 of 6, LR patches of 16,
batch 8, Adam 2e-3 with 100 warm-up steps and cosine decay over 2,000 steps. (The full-size
lightweight model, 0.93M parameters at x4, did not finish 25 steps in 15 minutes on the shared
2-core CPU; `--num-groups 4 --blocks-per-group 6` restores it.)

Example:
    $ python -m recipes.swinir --scale 4 --variant lightweight
    $ python -m recipes.swinir --scale 2 --data DIV2K/HR --val-data Set5/HR --out runs/swinir_x2
    >>> SwinIRRecipe.for_scale(4).learning_rate_at(125_001)
    5e-05
"""

import dataclasses
import sys

from keras_sr.training.cli import recipe_main
from keras_sr.training.recipe import Recipe, field

__all__ = ["SwinIRRecipe", "main"]

X2_MILESTONES = (250_000, 400_000, 450_000, 475_000)


@dataclasses.dataclass(frozen=True)
class SwinIRRecipe(Recipe):
    """Train SwinIR (Liang et al., ICCVW 2021) with the official setup; without --data, a CPU demo."""

    model: str = field("swinir", "registered model name", flag=False)
    variant: str = field("classical", "SwinIR variant", choices=("classical", "lightweight"))
    embed_dim: int = field(0, "feature channels (0: the variant's)")
    num_groups: int = field(0, "residual Swin Transformer blocks (0: the variant's)")
    blocks_per_group: int = field(0, "Swin Transformer layers per group (0: the variant's)")
    window_size: int = field(0, "attention window (0: the variant's 8)")
    batch_size: int = field(32, "global batch size (split over replicas)")
    learning_rate: float = field(2e-4, "initial learning rate (Adam); x3/x4 fine-tune from x2 at half of it")
    steps: int = field(500_000, "optimizer steps (x3/x4: 250k from the x2 model)")
    lr_milestones: tuple = field(X2_MILESTONES, "steps where the learning rate is halved")

    @classmethod
    def scale_defaults(cls, scale):
        if scale == 2:
            return {}
        return {"learning_rate": 1e-4, "steps": 250_000, "lr_milestones": tuple(m // 2 for m in X2_MILESTONES)}

    @classmethod
    def for_scale(cls, scale, **overrides):
        # The LR patch follows the variant: 48 (classical) or 64 (lightweight), unless given.
        if overrides.get("patch_size") is None:
            overrides["patch_size"] = 64 if overrides.get("variant") == "lightweight" else 48
        return super().for_scale(scale, **overrides)

    @classmethod
    def demo_defaults(cls, scale):
        # SwinIR-lightweight's width (60) and window (8), 2 groups of 2 blocks instead of 4 of 6: the
        # full-size model did not finish 25 steps in 15 minutes on the shared 2-core CPU.
        return {"variant": "lightweight", "num_groups": 2, "blocks_per_group": 2, "patch_size": 16, "batch_size": 8,
                "steps": 2000, "learning_rate": 2e-3, "warmup_steps": 100, "schedule": "cosine", "val_every": 500,
                "checkpoint_every": 250, "steps_per_epoch": 50, "val_images": 0}

    def model_config(self):
        from keras_sr.models.swinir import VARIANTS

        return size_overrides({"scale": self.scale, "variant": self.variant}, self, VARIANTS[self.variant])


def size_overrides(config, recipe, base):
    """`config` plus the recipe's non-zero size fields as builder arguments (shared with recipes.hat)."""
    if recipe.embed_dim:
        config["embed_dim"] = recipe.embed_dim
    if recipe.num_groups or recipe.blocks_per_group:
        groups = recipe.num_groups or len(base["depths"])
        config["depths"] = (recipe.blocks_per_group or base["depths"][0],) * groups
        config["num_heads"] = (base["num_heads"][0],) * groups
    if recipe.window_size:
        config["window_size"] = recipe.window_size
    return config


main = recipe_main(SwinIRRecipe, prog="recipes.swinir")

if __name__ == "__main__":
    sys.exit(main())
