"""DRCN recipe: `python -m recipes.drcn --scale 3 --data T91/HR --val-data Set5/HR`.

Kim, Lee, Lee, "Deeply-Recursive Convolutional Network for Image
Super-Resolution", CVPR 2016, Sec. 3.3 and 4.1. Kept from the paper: the
embedding / 16-recursion inference / reconstruction network with 256
filters on the bicubic-upsampled Y channel, 41x41 sub-images (stride 21 in
the paper's flow), mini-batch 64, the 91-image set, MSE loss with recursive
supervision: the network is trained with every recursion's output
(`intermediate_outputs=True`) and the loss
`alpha * mean_d l(y_d, hr) + (1 - alpha) * l(y, hr)`
(`keras_sr.training.losses.RecursiveSupervisionLoss`), alpha decaying from 1
(all recursions supervised) to 0 (the learned ensemble only); here linearly
over the first `alpha_decay_fraction` of the steps (0.25, as the seed
reproduction's alpha reaches 0 at epoch 25 of 100), while the paper only
says it decays. Validation, the best checkpoint and `final.keras` use the
single-output `scale=N` model with the same weights. Changed: Adam (1e-4,
cosine decay to 1e-6) instead of SGD (momentum 0.9, weight decay 1e-4,
learning rate 0.01 divided by 10 on plateaus); random crops with flips and
rotations instead of the sub-image grid (the grid is the `tools.data_aug`
command in `--help`). One model per `--scale` by default (as the seed
reproduction); `--scales 2 3 4` trains one DRCN on all three mixed (the VDSR
mechanism, `recipes.vdsr.PreUpsamplingRecipe`).

Without `--data`, the CPU demo trains a reduced DRCN (32 filters, 6
recursions; its wall time is not measured) on the embedded photographs.

Example:
    $ python -m recipes.drcn --scale 3 --data ../shared/data/T91/HR --val-data ../shared/data/Set5/HR
    >>> DRCNRecipe.for_scale(3).train_model_config()["intermediate_outputs"]
    True
"""

import dataclasses
import sys

from keras_sr.recipes.vdsr import PreUpsamplingRecipe
from keras_sr.training.cli import recipe_main
from keras_sr.training.recipe import field

__all__ = ["DRCNRecipe", "main"]


@dataclasses.dataclass(frozen=True)
class DRCNRecipe(PreUpsamplingRecipe):
    """Train DRCN (Kim et al., CVPR 2016) with recursive supervision on bicubic Y patches."""

    model: str = field("drcn", "registered model name", flag=False)
    batch_size: int = field(64, "global batch size (split over replicas)")
    filters: int = field(256, "filters of every hidden convolution")
    recursions: int = field(16, "recursions D of the shared inference convolution")
    alpha_decay_fraction: float = field(0.25, "recursive supervision: alpha falls linearly from 1 to 0 over this "
                                              "fraction of the steps")

    paper_data = "T91 (the 91 images of Yang et al.)"

    def validated(self):
        super().validated()
        if not 0.0 <= self.alpha_decay_fraction <= 1.0:
            raise ValueError(f"DRCNRecipe: alpha_decay_fraction must be in [0, 1], got {self.alpha_decay_fraction}")
        return self

    @classmethod
    def paper_data_aug(cls, scale):
        return ["--width", "41", "--height", "41", "--stride", "21", "-uf", str(scale), "--upsampling", "bicubic",
                "--single_y", "--same_size"]

    @classmethod
    def demo_defaults(cls, scale):
        return {**super().demo_defaults(scale), "filters": 32, "recursions": 6, "batch_size": 16, "steps": 300,
                "steps_per_epoch": 25, "val_every": 100, "checkpoint_every": 50}

    @property
    def alpha_decay_steps(self):
        return max(1, round(self.alpha_decay_fraction * self.steps))

    def model_config(self):
        return {**super().model_config(), "filters": self.filters, "recursions": self.recursions}

    def train_model_config(self):
        return {**super().train_model_config(), "intermediate_outputs": True}

    def training_loss(self):
        from keras_sr.training.losses import RecursiveSupervisionLoss

        kwargs = {"epsilon": self.charbonnier_epsilon} if self.loss == "charbonnier" else {}
        return RecursiveSupervisionLoss(self.loss, decay_steps=self.alpha_decay_steps, **kwargs)


main = recipe_main(DRCNRecipe, prog="recipes.drcn")

if __name__ == "__main__":
    sys.exit(main())
