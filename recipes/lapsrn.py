"""LapSRN recipe: `python -m recipes.lapsrn --scale 4 --data T91/HR BSD200/HR --val-data Set5/HR`.

Lai, Huang, Ahuja, Yang, "Deep Laplacian Pyramid Networks for Fast and
Accurate Super-Resolution", CVPR 2017, Sec. 3.2 and 4. Kept from the paper:
the pyramid of the official model (depth 10 per level, 64 filters,
LeakyReLU 0.2, bilinear-initialized image upsamplers) on the LR Y channel,
the 291-image set, mini-batch 64, 128x128 HR patches (LR 64/32/16 at
x2/x4/x8), flips and rotations, and the multi-level Charbonnier loss
(epsilon 1e-3 on [0, 1] intensities): ONE model predicts every level (x2,
x4, x8) and each level is compared with the HR patch downscaled to it by
MATLAB bicubic (`keras_sr.training.losses.PyramidLoss`; the network is
trained with `intermediate_outputs=True`, validated and exported as the
single-output `scale=N` model with the same weights). Changed: Adam (1e-4,
cosine decay to 1e-6) instead of SGD (momentum 0.9, weight decay 1e-4,
learning rate 1e-5 halved every 50 epochs); random crops of whole images
instead of the paper's per-batch random downscaling (0.5-1.0), whose closest
offline form is the `tools.data_aug` command in `--help` (image scales 1.0
to 0.5).

Example:
    $ python -m recipes.lapsrn --scale 4 --data ../shared/data/T91/HR ../shared/data/BSD200/HR \\
        --val-data ../shared/data/Set5/HR
    >>> LapSRNRecipe.for_scale(4).patch_size, LapSRNRecipe.for_scale(8).hr_patch_size
    (32, 128)
"""

import dataclasses
import sys

from keras_sr.recipes.classic import YChannelRecipe
from keras_sr.recipes.vdsr import PAPER_291, PAPER_291_INPUT, describe_with_inputs
from keras_sr.training.cli import recipe_main
from keras_sr.training.recipe import field

__all__ = ["LapSRNRecipe", "main"]

HR_PATCH = 128  # the paper's HR patch side at every scale


@dataclasses.dataclass(frozen=True)
class LapSRNRecipe(YChannelRecipe):
    """Train LapSRN (Lai et al., CVPR 2017) at x2/x4/x8 with the multi-level Charbonnier loss."""

    model: str = field("lapsrn", "registered model name", flag=False)
    loss: str = field("charbonnier", "pixel loss of every pyramid level", choices=("l1", "charbonnier", "l2"))
    charbonnier_epsilon: float = field(1e-3, "Charbonnier epsilon, relative to the 0-255 range")
    batch_size: int = field(64, "global batch size (split over replicas)")
    learning_rate: float = field(1e-4, "initial learning rate (Adam)")
    min_learning_rate: float = field(1e-6, "cosine schedule: final learning rate")
    filters: int = field(64, "feature width")
    depth: int = field(10, "convolutions per pyramid level")

    paper_data = PAPER_291
    paper_inputs = PAPER_291_INPUT

    @classmethod
    def describe(cls):
        return describe_with_inputs(cls, super().describe())

    @classmethod
    def scale_defaults(cls, scale):
        return {"patch_size": max(1, HR_PATCH // int(scale))}

    @classmethod
    def paper_data_aug(cls, scale):
        return ["--width", str(HR_PATCH), "--height", str(HR_PATCH), "--stride", str(HR_PATCH // 2),
                "-uf", str(scale), "--scales", "1.0", "0.9", "0.8", "0.7", "0.6", "0.5",
                "--rotations", "0", "90", "180", "270", "--flips", "0", "1", "--single_y"]

    @classmethod
    def demo_defaults(cls, scale):
        return {**super().demo_defaults(scale), "batch_size": 16, "steps": 300, "steps_per_epoch": 25,
                "val_every": 100, "checkpoint_every": 50, "patch_size": max(1, 64 // int(scale))}

    def model_config(self):
        return {**super().model_config(), "filters": self.filters, "depth": self.depth}

    def train_model_config(self):
        """Every pyramid level's output (the same layers and weights as the exported model)."""
        return {**self.model_config(), "intermediate_outputs": True}

    def training_loss(self):
        from keras_sr.training.losses import PyramidLoss

        kwargs = {"epsilon": self.charbonnier_epsilon} if self.loss == "charbonnier" else {}
        return PyramidLoss(self.loss, **kwargs)


main = recipe_main(LapSRNRecipe, prog="recipes.lapsrn")

if __name__ == "__main__":
    sys.exit(main())
