"""ClassSR branch pre-training: `python -m recipes.classsr_branches --data DIV2K/HR` (stage 1 of recipes.classsr).

Kong et al., CVPR 2021; official options `codes/options/train/train_FSRCNN.yml`
(one per branch, `d: 16 / 36 / 56`). The official branches are trained one
at a time, each on its class of DIV2K sub-images (simple / medium / hard by
the PSNR of MSRResNet, `divide_subimages_train.py`) with L1, Adam (0.9,
0.99), learning rate 1e-3 (FSRCNN), batch 16, GT 128, 500K iterations,
cosine to 1e-7. Here the three branches of one ClassSR model are trained side
by side on the same (all) sub-images, each with its own L1
(`keras_sr.training.adaptive_losses.BranchLoss`, mean of the three): the
class division needs a trained MSRResNet and is not done (a choice; the
classifier stage then learns the routing over branches of different
capacity). The classifier is untouched. Hand the run to `recipes.classsr
--init-from RUN --fix-sr-modules`.

Without `--data`: a CPU demo on the embedded photographs (the official
FSRCNN branch sizes, 600 steps).

Example:
    $ python -m recipes.classsr_branches --out runs/classsr_branches
    >>> ClassSRBranchesRecipe.for_scale(4).learning_rate
    0.001
"""

import dataclasses
import sys

from keras_sr.recipes.classsr import ClassSRBaseRecipe
from keras_sr.training.cli import recipe_main
from keras_sr.training.recipe import field

__all__ = ["ClassSRBranchesRecipe", "main"]


@dataclasses.dataclass(frozen=True)
class ClassSRBranchesRecipe(ClassSRBaseRecipe):
    """Pre-train the three SR branches of ClassSR (Kong et al., CVPR 2021) side by side with L1."""

    batch_size: int = field(16, "global batch size")
    learning_rate: float = field(1e-3, "initial learning rate (Adam; official FSRCNN branches: 1e-3)")
    min_learning_rate: float = field(1e-7, "cosine schedule: final learning rate")
    steps: int = field(500_000, "optimizer steps")
    val_every: int = field(5_000, "validate every N steps (official val_freq)")
    checkpoint_every: int = field(5_000, "write a checkpoint every N steps")

    @classmethod
    def run_prefix(cls):
        return "classsr_branches"

    def run_dir_name(self):
        return "classsr_branches"

    @classmethod
    def demo_defaults(cls, scale):
        return {"batch_size": 16, "steps": 600, "learning_rate": 2e-3, "val_every": 200, "checkpoint_every": 200,
                "steps_per_epoch": 50, "val_images": 0}

    def train_model_config(self):
        """Every branch's output (the classifier gets no gradient from `BranchLoss`)."""
        return {**self.model_config(), "intermediate_outputs": True}

    def training_loss(self):
        from keras_sr.training.adaptive_losses import BranchLoss

        return BranchLoss()


main = recipe_main(ClassSRBranchesRecipe, prog="recipes.classsr_branches")

if __name__ == "__main__":
    sys.exit(main())
