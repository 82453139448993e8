"""LIIF recipe: `python -m recipes.liif` (CPU demo) or `python -m recipes.liif --data DIV2K/HR`.

Official setup (Chen et al., CVPR 2021; yinboc/liif
`configs/train-div2k/train_edsr-baseline-liif.yaml`): DIV2K HR, LR patches
of 48, the scale drawn from U(1, 4) for every image (the official wrapper
draws it per image, not per batch), the LR made by **PIL bicubic** as the
official code (keras-sr's evaluation stays MATLAB), 2,304 query pixels per
image, batch 16, L1, Adam 1e-4 halved every 200 epochs, 1000 epochs of 1000
batches (800 images x 20 repeats / 16), random h/v/diagonal flips.

Without `--data` it is a CPU demo on the scikit-image photographs (`chelsea`
and `coffee` held out): the EDSR-baseline encoder starts from the shipped
`edsr_baseline_x4` preset's body (`--init-from`, with EDSR's mean-shift input
normalisation so the body sees what it was trained on) and stays frozen, the
MLP decoder trains for 120 batches of 6 LR patches of 24 with 576 queries
each, Adam 1e-3 with cosine decay; then held-out PSNR/SSIM beside bicubic at
x4 (`--eval-scales` for more; every HR pixel is one MLP query, which is
what makes LIIF's inference slow on a CPU).

Example:
    $ python -m recipes.liif --out runs/liif_demo
    $ python -m recipes.liif --data DIV2K/train_HR --encoder rdn --out runs/liif_rdn
"""

import dataclasses
import sys

from keras_sr.training.implicit import ImplicitRecipe, recipe_main
from keras_sr.training.recipe import field

__all__ = ["LIIFRecipe", "main"]


@dataclasses.dataclass(frozen=True)
class LIIFRecipe(ImplicitRecipe):
    """Train LIIF (Chen et al., CVPR 2021) with the official setup; without --data, a CPU demo."""

    model: str = field("liif", "registered model name", flag=False)

    @classmethod
    def model_name_default(cls):
        return "liif"

    @classmethod
    def demo_defaults(cls):
        return {"normalization": "mean_shift", "init_from": "edsr_baseline_x4", "freeze_encoder": True,
                "patch_size": 24, "batch_size": 6, "sample_q": 576, "epochs": 3, "steps_per_epoch": 40,
                "learning_rate": 1e-3, "schedule": "cosine", "eval_scales": (4,)}


main = recipe_main(LIIFRecipe, prog="recipes.liif")

if __name__ == "__main__":
    sys.exit(main())
