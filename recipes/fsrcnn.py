"""FSRCNN recipe: `python -m recipes.fsrcnn --scale 3 --data T91/HR --val-data Set5/HR`.

Dong, Loy, Tang, "Accelerating the Super-Resolution Convolutional Neural
Network", ECCV 2016, Sec. 4.1. Kept from the paper: FSRCNN(56, 12, 4) on the
LR Y channel, the 91-image training set, mini-batch 128, MSE loss, PReLU,
He initialization (deconvolution: Gaussian, std 0.001), flips/rotations.
Changed: Adam (learning rate 1e-3, cosine decay to 1e-5) instead of SGD
with 1e-3 / 1e-4 (deconvolution), which needs days; random LR crops of 16
pixels (HR 48 at x3) instead of the paper's fixed 10/7/6-pixel LR
sub-images at x2/x3/x4 (larger crops spend less of each step on padded
borders); the paper's General-100 fine-tuning is left out (no General-100
here). The paper's sub-image flow (scales 1.0-0.6, rotations) is the
`tools.data_aug` command in `--help`.

Example:
    $ python -m recipes.fsrcnn --scale 3 --data ../shared/data/T91/HR --val-data ../shared/data/Set5/HR
    $ python -m recipes.fsrcnn --scale 3 --d 32 --s 5 --m 1        # FSRCNN-s, CPU demo
    $ python -m tools.tune --recipe fsrcnn --scale 3 --max-trials 8  # search d, s, m, learning rate
    >>> FSRCNNRecipe.for_scale(3).model_config()
"""

import dataclasses
import sys

from keras_sr.recipes.classic import YChannelRecipe
from keras_sr.training.cli import recipe_main
from keras_sr.training.recipe import field

__all__ = ["FSRCNNRecipe", "main"]

# The paper's LR sub-image sizes (its Sec. 4.1): f_sub = 10, 7, 6 at x2, x3, x4 with HR 19/21/24-pixel labels.
PAPER_LR_SUBIMAGE = {2: 10, 3: 7, 4: 6}


@dataclasses.dataclass(frozen=True)
class FSRCNNRecipe(YChannelRecipe):
    """Train FSRCNN(d, s, m) (Dong et al., ECCV 2016) on the LR Y channel at x2/x3/x4."""

    model: str = field("fsrcnn", "registered model name", flag=False)
    patch_size: int = field(16, "LR patch size (the HR patch is patch_size * scale)")
    steps: int = field(200_000, "optimizer steps")
    d: int = field(56, "LR feature dimension (FSRCNN-s: 32)")
    s: int = field(12, "shrinking dimension (FSRCNN-s: 5)")
    m: int = field(4, "mapping layers (FSRCNN-s: 1)")

    @classmethod
    def paper_data_aug(cls, scale):
        lr = PAPER_LR_SUBIMAGE[int(scale)]
        hr = lr * int(scale)
        return ["--width", str(hr), "--height", str(hr), "--stride", str(hr), "-uf", str(scale),
                "--scales", "1.0", "0.9", "0.8", "0.7", "0.6", "--rotations", "0", "90", "180", "270",
                "--single_y"]

    @classmethod
    def search_space(cls, hp):
        """d, s, m and the Adam learning rate as keras-tuner hyperparameters (`python -m tools.tune --recipe fsrcnn`).

        The paper's own study of its settings varies exactly d, s and m (Sec. 4,
        "Investigation of different settings"); this space spans its FSRCNN(56, 12, 4)
        and FSRCNN-s(32, 5, 1) plus a narrower d = 16, and the learning rate of the
        Adam replacement for the paper's SGD, log-uniform around the recipe's 1e-3.

        Example:
            >>> FSRCNNRecipe.search_space(keras_tuner.HyperParameters())   # the first values of each range
            {'d': 16, 's': 5, 'm': 1, 'learning_rate': 0.0001}
        """
        return {"d": hp.Choice("d", [16, 32, 56]), "s": hp.Choice("s", [5, 12]), "m": hp.Int("m", 1, 4),
                "learning_rate": hp.Float("learning_rate", 1e-4, 3e-3, sampling="log")}

    def model_config(self):
        return {**super().model_config(), "d": self.d, "s": self.s, "m": self.m}


main = recipe_main(FSRCNNRecipe, prog="recipes.fsrcnn")

if __name__ == "__main__":
    sys.exit(main())
