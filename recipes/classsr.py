"""ClassSR recipe: `python -m recipes.classsr --data DIV2K/HR --init-from runs/classsr_branches_x4_...`.

Kong, Zhao, Qiao, Dong, "ClassSR: A General Framework to Accelerate
Super-Resolution Networks by Data Characteristic", CVPR 2021; official
options `codes/options/train/train_ClassSR_FSRCNN.yml` and
`train_ClassSR_RCAN.yml`, loss and training step `codes/models/ClassSR_model.py`.
The official pipeline has two stages:

1. each branch is trained alone on its class of DIV2K sub-images (classes
   from the PSNR of MSRResNet): `python -m recipes.classsr_branches` (here the
   three branches together on all sub-images, see that recipe);
2. this recipe: the SR-Module is loaded (`--init-from` the branches run) and
   frozen (`fix_SR_module: true`), and the Class-Module is trained with
   `1000 L1 + 0.5 L_class + 3 L_avg` (RCAN: `4 L1` on [0, 255], i.e. 1020 on
   [0, 1]) on the softmax-weighted sum of the branch outputs
   (`keras_sr.training.adaptive_losses.ClassSRLoss`), validated and exported as
   the hard-routing model.

Kept: x4, LR sub-images 32x32 (GT 128), flips and rotations, Adam (0.9, 0.99),
200K iterations, batch 96 (FSRCNN) / 60 (RCAN), learning rate 2e-4
(FSRCNN) / 3e-5 (RCAN), the loss weights. Changed: the official cosine
schedule has a 500K period but stops at 200K (the rate is still ~0.65 x
initial at the end); here cosine over the 200K steps to 1e-7 / 2e-6.
`--no-fix-sr-modules` trains branches and classifier jointly.

Without `--data`: a CPU demo on the embedded photographs, joint training from
scratch (`fix_sr_modules=False`, as no branches run is given) of the FSRCNN
ClassSR, 300 steps; for the two-stage demo give `--init-from` a
`recipes.classsr_branches` demo run and `--fix-sr-modules`. Then
`python -m tools.flops_table --model RUN/final.keras --data Set5/HR` prints
PSNR beside the MACs of the routed sub-image inference.

Example:
    $ python -m recipes.classsr_branches --out runs/classsr_branches
    $ python -m recipes.classsr --init-from runs/classsr_branches --fix-sr-modules --out runs/classsr
    >>> ClassSRRecipe.for_scale(4, base="rcan").learning_rate, ClassSRRecipe.for_scale(4).batch_size
"""

import dataclasses
import sys

from keras_sr.training.cli import recipe_main
from keras_sr.training.recipe import Recipe, field

__all__ = ["ClassSRRecipe", "ClassSRBaseRecipe", "main", "BASE_DEFAULTS"]

# Official per-base options of the classifier stage (train_ClassSR_{FSRCNN,RCAN}.yml).
BASE_DEFAULTS = {
    "fsrcnn": {"batch_size": 96, "learning_rate": 2e-4, "min_learning_rate": 1e-7, "pixel_weight": 1000.0},
    "rcan": {"batch_size": 60, "learning_rate": 3e-5, "min_learning_rate": 2e-6, "pixel_weight": 1020.0},
}


@dataclasses.dataclass(frozen=True)
class ClassSRBaseRecipe(Recipe):
    """Fields shared by the ClassSR stages: the model and its branches."""

    model: str = field("classsr", "registered model name", flag=False)
    scale: int = field(4, "upscaling factor (ClassSR is x4)")
    base: str = field("fsrcnn", "network accelerated (its three sizes are the branches)", choices=("fsrcnn", "rcan"))
    branch_widths: tuple = field((), "branch widths, smallest first (empty: FSRCNN 16 36 56, RCAN 36 50 64)")
    num_groups: int = field(10, "RCAN base: residual groups")
    num_blocks: int = field(20, "RCAN base: RCABs per group")
    patch_size: int = field(32, "LR sub-image size (GT 128)")
    beta_2: float = field(0.99, "Adam beta_2")
    schedule: str = field("cosine", "learning-rate schedule", choices=("step", "cosine", "constant"))
    steps: int = field(200_000, "optimizer steps")
    val_every: int = field(1_000, "validate every N steps (official val_freq)")
    checkpoint_every: int = field(2_000, "write a checkpoint every N steps (official save_checkpoint_freq)")
    seed: int = field(10, "random seed (official manual_seed)")

    @classmethod
    def for_scale(cls, scale, **overrides):
        base = overrides.get("base") or cls.__dataclass_fields__["base"].default
        stage = {k: v for k, v in cls.base_defaults(base).items() if overrides.get(k) is None}
        return super().for_scale(scale, **{**overrides, **stage})

    @classmethod
    def base_defaults(cls, base):
        return {}

    def validated(self):
        super().validated()
        if self.scale != 4:
            raise ValueError(f"{type(self).__name__}: ClassSR is x4 only, got scale={self.scale}")
        return self

    def model_config(self):
        config = {"scale": self.scale, "base": self.base}
        if self.branch_widths:
            config["branch_widths"] = list(self.branch_widths)
        if self.base == "rcan":
            config.update(num_groups=self.num_groups, num_blocks=self.num_blocks)
        return config


@dataclasses.dataclass(frozen=True)
class ClassSRRecipe(ClassSRBaseRecipe):
    """Train ClassSR's Class-Module (Kong et al., CVPR 2021) over frozen branches, with the class and average losses."""

    pixel_weight: float = field(1000.0, "weight of the L1 on [0, 1] intensities (official l1w)")
    class_weight: float = field(0.5, "class loss weight (official class_loss_w)")
    average_weight: float = field(3.0, "average loss weight (official average_loss_w)")
    fix_sr_modules: bool = field(True, "freeze the branches and train the classifier only (official fix_SR_module)")

    @classmethod
    def base_defaults(cls, base):
        return dict(BASE_DEFAULTS[base])

    @classmethod
    def demo_defaults(cls, scale):
        return {"fix_sr_modules": False, "batch_size": 16, "steps": 300, "learning_rate": 1e-3,
                "val_every": 100, "checkpoint_every": 100, "steps_per_epoch": 25, "val_images": 0}

    def train_model_config(self):
        """Every output (routed SR, class probabilities, branches); branches frozen with `fix_sr_modules`."""
        return {**self.model_config(), "intermediate_outputs": True,
                **({"freeze_branches": True} if self.fix_sr_modules else {})}

    def training_loss(self):
        from keras_sr.training.adaptive_losses import ClassSRLoss

        return ClassSRLoss(self.pixel_weight, self.class_weight, self.average_weight)


main = recipe_main(ClassSRRecipe, prog="recipes.classsr")

if __name__ == "__main__":
    sys.exit(main())
