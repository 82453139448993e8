"""SRDenseNet recipe: `python -m recipes.srdensenet --scale 4 --data ImageNet50k/HR --val-data Set5/HR`.

Tong, Li, Liu, Gao, "Image Super-Resolution Using Dense Skip Connections",
ICCV 2017, Sec. 4. Kept from the paper: SRDenseNet_All (8 dense blocks of 8
convolutions, growth rate 16, dense skip connections, a 256-map bottleneck
and two x2 deconvolutions at x4) on the LR Y channel, MSE loss, Adam with
learning rate 1e-4, 100x100 HR patches (25x25 LR at x4), mini-batch 32, x4
(the paper's only scale; x2 and x8 use one and three deconvolutions).
Changed: cosine decay to 1e-6 and a step budget instead of the paper's
schedule; random crops with flips and rotations. Training data
(`paper_data`): the paper samples 50,000 ImageNet images, which keras-sr
does not ship; the 291 images of the other classic recipes are the usual
stand-in (lower numbers than the paper's are expected).

Without `--data`, the CPU demo trains a reduced SRDenseNet (2 blocks of 4
layers; its wall time is not measured) on the embedded photographs.

Example:
    $ python -m recipes.srdensenet --scale 4 --data ../shared/data/T91/HR ../shared/data/BSD200/HR \\
        --val-data ../shared/data/Set5/HR
    $ python -m recipes.srdensenet --scale 4 --skip hl           # SRDenseNet_HL
    >>> SRDenseNetRecipe.for_scale(4).patch_size
    25
"""

import dataclasses
import sys

from keras_sr.recipes.classic import YChannelRecipe
from keras_sr.training.cli import recipe_main
from keras_sr.training.recipe import field

__all__ = ["SRDenseNetRecipe", "main"]

HR_PATCH = 100  # the paper's HR sub-image side (25x25 LR at x4)


@dataclasses.dataclass(frozen=True)
class SRDenseNetRecipe(YChannelRecipe):
    """Train SRDenseNet (Tong et al., ICCV 2017) on the LR Y channel, x4 by default."""

    model: str = field("srdensenet", "registered model name", flag=False)
    batch_size: int = field(32, "global batch size (split over replicas)")
    learning_rate: float = field(1e-4, "initial learning rate (Adam)")
    min_learning_rate: float = field(1e-6, "cosine schedule: final learning rate")
    skip: str = field("all", "skip variant: all (SRDenseNet_All), hl, h", choices=("all", "hl", "h"))
    num_blocks: int = field(8, "dense blocks")
    num_layers: int = field(8, "convolutions per dense block")
    growth_rate: int = field(16, "maps added by each convolution")
    bottleneck: int = field(256, "maps after the 1x1 bottleneck and in the deconvolutions")

    paper_data = "50,000 images sampled from ImageNet"

    @classmethod
    def scale_defaults(cls, scale):
        return {"patch_size": max(1, HR_PATCH // int(scale))}

    @classmethod
    def paper_data_aug(cls, scale):
        hr = (HR_PATCH // int(scale)) * int(scale)
        return ["--width", str(hr), "--height", str(hr), "--stride", str(hr), "-uf", str(scale), "--single_y"]

    @classmethod
    def demo_defaults(cls, scale):
        return {**super().demo_defaults(scale), "num_blocks": 2, "num_layers": 4, "batch_size": 16, "steps": 300,
                "steps_per_epoch": 25, "val_every": 100, "checkpoint_every": 50}

    def model_config(self):
        return {**super().model_config(), "skip": self.skip, "num_blocks": self.num_blocks,
                "num_layers": self.num_layers, "growth_rate": self.growth_rate, "bottleneck": self.bottleneck}


main = recipe_main(SRDenseNetRecipe, prog="recipes.srdensenet")

if __name__ == "__main__":
    sys.exit(main())
