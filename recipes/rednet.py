"""RED-Net recipe: `python -m recipes.rednet --scale 3 --data BSD300/HR --val-data Set5/HR`.

Mao, Shen, Yang, "Image Restoration Using Very Deep Convolutional
Encoder-Decoder Networks with Symmetric Skip Connections", NIPS 2016, Sec.
4. Kept from the paper: RED30 (15 convolutions and 15 transposed
convolutions, 3x3, 128 feature maps, a symmetric skip every two layers, the
input added back) on the bicubic-upsampled grey/Y image, 50x50 HR patches,
MSE loss, Adam with learning rate 1e-4. Changed: cosine decay to 1e-6 and a
step budget instead of the paper's schedule; mini-batch 64 (a keras-sr
choice); random crops with flips and rotations instead of a patch grid.
Training data (`paper_data`): BSD images; check the paper for the exact
split before comparing numbers (the other classic recipes use T91 / 291).
One model per `--scale` by default; the paper stresses that one RED-Net can
handle several corruption levels, and `--scales 2 3 4` trains one model on
x2/x3/x4 mixed (the VDSR mechanism, `recipes.vdsr.PreUpsamplingRecipe`).

Without `--data`, the CPU demo trains a reduced RED10 (5 + 5 layers, 32
maps; its wall time is not measured) on the embedded photographs.

Example:
    $ python -m recipes.rednet --scale 3 --data ../shared/data/T91/HR --val-data ../shared/data/Set5/HR
    $ python -m recipes.rednet --scale 2 --num-layers 5         # RED10
    >>> RedNetRecipe.for_scale(3).patch_size
    50
"""

import dataclasses
import sys

from keras_sr.recipes.vdsr import PreUpsamplingRecipe
from keras_sr.training.cli import recipe_main
from keras_sr.training.recipe import field

__all__ = ["RedNetRecipe", "main"]


@dataclasses.dataclass(frozen=True)
class RedNetRecipe(PreUpsamplingRecipe):
    """Train RED30 (Mao et al., NIPS 2016) on bicubic-upsampled Y patches of 50x50 pixels."""

    model: str = field("rednet", "registered model name", flag=False)
    patch_size: int = field(50, "patch side in HR (= bicubic input) pixels, the same at every scale")
    batch_size: int = field(64, "global batch size (split over replicas)")
    num_layers: int = field(15, "convolutions (= transposed convolutions) per half (RED10: 5, RED20: 10)")
    filters: int = field(128, "feature maps")
    skip_step: int = field(2, "a symmetric skip every N layers")

    paper_data = "BSD (Berkeley Segmentation Dataset) images"
    paper_inputs = "BSD300/HR"

    @classmethod
    def paper_data_aug(cls, scale):
        return ["--width", "50", "--height", "50", "--stride", "50", "-uf", str(scale), "--upsampling", "bicubic",
                "--single_y", "--same_size"]

    @classmethod
    def demo_defaults(cls, scale):
        return {**super().demo_defaults(scale), "num_layers": 5, "filters": 32, "batch_size": 16, "steps": 300,
                "steps_per_epoch": 25, "val_every": 100, "checkpoint_every": 50}

    def model_config(self):
        return {**super().model_config(), "num_layers": self.num_layers, "filters": self.filters,
                "skip_step": self.skip_step}


main = recipe_main(RedNetRecipe, prog="recipes.rednet")

if __name__ == "__main__":
    sys.exit(main())
