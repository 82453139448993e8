"""SMSR recipe: `python -m recipes.smsr --scale 4 --data DIV2K/HR --val-data Set5/HR`.

Wang, Wang, Liang, Xu, Zhang, Xu, An, "Exploring Sparsity in Image
Super-Resolution for Efficient Inference", CVPR 2021; official `option.py`
and `trainer.py` (LongguangWang/SMSR). Kept: 5 sparse mask modules of 4
masked convolutions, 64 channels; 16 HR patches of 96x96 (LR 48 / 32 / 24 at
x2 / x3 / x4; EDSR-PyTorch's `--patch_size` is the HR size), flips and
rotations, L1 plus the sparsity term with `lambda = 0.1 min(t / 50, 1)`, Adam
(0.9, 0.999, 1e-8), learning rate 2e-4 halved every 200 epochs, 1000 epochs
of 1000 iterations (`--test_every 1000`). The Gumbel temperature follows the
paper, `max(1 - t / 500, 0.4)` for epoch t, which the released trainer never
applies (`_set_tau` vs `_update_tau`); it is the model's own schedule
(`keras_sr.layers.AnnealedTemperature`, `iterations_per_epoch` below). Training is
dense (masked convolutions computed densely with soft masks); the exported
model uses hard masks, and `python -m tools.flops_table --model RUN/final.keras
--data Set5/HR` reports the MACs of the sparse inference beside the dense ones.

Without `--data`: a CPU demo on the embedded photographs with a small SMSR
(32 channels, 3 modules of 4 layers), LR patches of 24, 500 steps; epochs of
10 steps so that the temperature (to 0.4 over 40 epochs) and the sparsity
weight (full after 5 epochs) move within the run.

Example:
    $ python -m recipes.smsr --scale 2 --data DIV2K/HR --val-data Set5/HR --out runs/smsr_x2
    >>> SMSRRecipe.for_scale(4).patch_size, SMSRRecipe.for_scale(4).learning_rate_at(200_001)
    (24, 0.0001)
"""

import dataclasses
import sys

from keras_sr.training.cli import recipe_main
from keras_sr.training.recipe import Recipe, field

__all__ = ["SMSRRecipe", "main", "HR_PATCH"]

HR_PATCH = 96  # official --patch_size (HR) at every scale


@dataclasses.dataclass(frozen=True)
class SMSRRecipe(Recipe):
    """Train SMSR (Wang et al., CVPR 2021): dense training with Gumbel-softmax masks and sparsity regularization."""

    model: str = field("smsr", "registered model name", flag=False)
    filters: int = field(64, "channels")
    num_modules: int = field(5, "sparse mask modules")
    num_layers: int = field(4, "masked convolutions per module")
    reduction: int = field(16, "channel attention reduction")
    learning_rate: float = field(2e-4, "initial learning rate (Adam)")
    steps: int = field(1_000_000, "optimizer steps (1000 epochs of 1000 iterations)")
    lr_milestones: tuple = field((200_000, 400_000, 600_000, 800_000), "steps where the learning rate is halved")
    iterations_per_epoch: int = field(1_000, "iterations per epoch, the unit of the temperature and sparsity "
                                             "schedules (official --test_every)")
    tau_minimum: float = field(0.4, "lowest Gumbel-softmax temperature")
    tau_anneal_epochs: int = field(500, "epochs over which the temperature falls by 1 (from 1)")
    sparsity_weight: float = field(0.1, "lambda0 of the sparsity regularization")
    sparsity_warmup_epochs: int = field(50, "epochs over which lambda grows linearly to lambda0")
    val_every: int = field(1_000, "validate every N steps (one epoch)")
    checkpoint_every: int = field(10_000, "write a checkpoint every N steps")
    seed: int = field(1, "random seed (official --seed)")

    @classmethod
    def scale_defaults(cls, scale):
        return {"patch_size": HR_PATCH // int(scale)}

    @classmethod
    def demo_defaults(cls, scale):
        return {"filters": 32, "num_modules": 3, "patch_size": 24, "batch_size": 8, "steps": 500,
                "learning_rate": 1e-3, "schedule": "cosine", "iterations_per_epoch": 10, "tau_anneal_epochs": 40,
                "sparsity_warmup_epochs": 5, "val_every": 250, "checkpoint_every": 250, "steps_per_epoch": 50,
                "val_images": 0}

    def model_config(self):
        return {"scale": self.scale, "filters": self.filters, "num_modules": self.num_modules,
                "num_layers": self.num_layers, "reduction": self.reduction, "tau_minimum": self.tau_minimum,
                "tau_anneal_epochs": self.tau_anneal_epochs, "epoch_steps": self.iterations_per_epoch,
                "seed": self.seed}

    def train_model_config(self):
        """The SR image, the sparsity term and the masks (the same layers and weights as the exported model)."""
        return {**self.model_config(), "intermediate_outputs": True}

    def training_loss(self):
        from keras_sr.training.adaptive_losses import SparsityLoss

        return SparsityLoss(self.sparsity_weight, self.sparsity_warmup_epochs, self.iterations_per_epoch)


main = recipe_main(SMSRRecipe, prog="recipes.smsr")

if __name__ == "__main__":
    sys.exit(main())
