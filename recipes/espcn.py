"""ESPCN recipe: `python -m recipes.espcn --scale 3 --data T91/HR --val-data Set5/HR`.

Shi et al., "Real-Time Single Image and Video Super-Resolution Using an
Efficient Sub-Pixel Convolutional Neural Network", CVPR 2016, Sec. 3.2/4.1.
Kept from the paper: l = 3 layers (5x5x64, 3x3x32, 3x3xr^2) with tanh on
the LR Y channel, the sub-pixel shuffle, MSE loss, the 91-image set, 17x17
LR sub-images (HR 17r). Changed: Adam (1e-3 with cosine decay to 1e-5)
instead of the paper's 0.01 -> 0.0001 SGD schedule, random crops with flips
and rotations instead of a fixed sub-image grid, mini-batch 128 (the paper
gives none).

Example:
    $ python -m recipes.espcn --scale 3 --data ../shared/data/T91/HR --val-data ../shared/data/Set5/HR
    >>> ESPCNRecipe.for_scale(3).model_config()
"""

import dataclasses
import sys

from keras_sr.recipes.classic import YChannelRecipe
from keras_sr.training.cli import recipe_main
from keras_sr.training.recipe import field

__all__ = ["ESPCNRecipe", "main"]


@dataclasses.dataclass(frozen=True)
class ESPCNRecipe(YChannelRecipe):
    """Train ESPCN (Shi et al., CVPR 2016) on the LR Y channel at x2/x3/x4."""

    model: str = field("espcn", "registered model name", flag=False)
    patch_size: int = field(17, "LR patch size (the paper's 17x17 LR sub-images; HR is 17 * scale)")
    steps: int = field(200_000, "optimizer steps")

    @classmethod
    def search_space(cls, hp):
        """The Adam learning rate and the mini-batch as keras-tuner hyperparameters (`python -m tools.tune`).

        The paper fixes the architecture (l = 3, 64/32 filters) and gives no
        mini-batch size, so this space searches what the recipe had to choose:
        the learning rate of the Adam replacement for the paper's SGD
        (log-uniform around the recipe's 1e-3) and the batch size (16 to 128).

        Example:
            >>> ESPCNRecipe.search_space(keras_tuner.HyperParameters())   # the first values of each range
            {'learning_rate': 0.0001, 'batch_size': 16}
        """
        return {"learning_rate": hp.Float("learning_rate", 1e-4, 3e-3, sampling="log"),
                "batch_size": hp.Choice("batch_size", [16, 32, 64, 128])}

    @classmethod
    def paper_data_aug(cls, scale):
        hr = 17 * int(scale)
        return ["--width", str(hr), "--height", str(hr), "--stride", str(hr), "-uf", str(scale), "--single_y"]


main = recipe_main(ESPCNRecipe, prog="recipes.espcn")

if __name__ == "__main__":
    sys.exit(main())
