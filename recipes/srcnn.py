"""SRCNN recipe: `python -m recipes.srcnn --scale 3 --data T91/HR --val-data Set5/HR`.

Dong, Loy, He, Tang, "Image Super-Resolution Using Deep Convolutional
Networks", TPAMI 2016, Sec. 4.1 (91-image setting). Kept from the paper: the
9-5-5 network (64/32 filters, ReLU) on the bicubic-upsampled Y channel, MSE
loss, mini-batch 128, Gaussian initialization (std 0.001), 33x33 HR
sub-images (LR 11x11 at x3; 16/8 at x2/x4, HR 32). Changed: Adam (1e-4,
cosine decay) instead of SGD with 1e-4 / 1e-5 (last layer) for 8e8
back-propagations; random crops with flips and rotations instead of the
14-pixel-stride sub-image grid; `padding="same"` during training (the paper
trains "valid" and pads at test time), so the model trained is the one
evaluated. The model includes MATLAB-bicubic upsampling (`scale=N`), so it
takes the LR image like every other keras-sr model.

Example:
    $ python -m recipes.srcnn --scale 3 --data ../shared/data/T91/HR --val-data ../shared/data/Set5/HR
    $ python -m recipes.srcnn --scale 3 --kernel-sizes 9 1 5        # SRCNN 9-1-5
    >>> SRCNNRecipe.for_scale(3).hr_patch_size
    33
"""

import dataclasses
import sys

from keras_sr.recipes.classic import YChannelRecipe
from keras_sr.training.cli import recipe_main
from keras_sr.training.recipe import field

__all__ = ["SRCNNRecipe", "main"]

HR_SUBIMAGE = 33  # the paper's f_sub


@dataclasses.dataclass(frozen=True)
class SRCNNRecipe(YChannelRecipe):
    """Train SRCNN 9-5-5 (Dong et al., TPAMI 2016) on the bicubic-upsampled Y channel at x2/x3/x4."""

    model: str = field("srcnn", "registered model name", flag=False)
    learning_rate: float = field(1e-4, "initial learning rate (Adam)")
    min_learning_rate: float = field(1e-6, "cosine schedule: final learning rate")
    steps: int = field(500_000, "optimizer steps")
    kernel_sizes: tuple = field((9, 5, 5), "f1 f2 f3 (9 5 5 or 9 1 5)")

    @classmethod
    def scale_defaults(cls, scale):
        return {"patch_size": max(1, HR_SUBIMAGE // int(scale))}

    @classmethod
    def paper_data_aug(cls, scale):
        hr = (HR_SUBIMAGE // int(scale)) * int(scale)
        return ["--width", str(hr), "--height", str(hr), "--stride", "14", "-uf", str(scale), "--single_y",
                "--same_size", "--upsampling", "bicubic"]

    def model_config(self):
        return {**super().model_config(), "kernel_sizes": list(self.kernel_sizes)}


main = recipe_main(SRCNNRecipe, prog="recipes.srcnn")

if __name__ == "__main__":
    sys.exit(main())
