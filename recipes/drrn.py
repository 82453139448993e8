"""DRRN recipe: `python -m recipes.drrn --scale 3 --data T91/HR BSD200/HR --val-data Set5/HR`.

Tai, Yang, Liu, "Image Super-Resolution via Deep Recursive Residual
Network", CVPR 2017, Sec. 4.1. Kept from the paper: DRRN_B1U25 (one
recursive block of 25 residual units, 128 filters, pre-activation
BatchNorm-ReLU as the official Caffe model) with global residual learning on
the bicubic-upsampled Y channel, MSE loss, mini-batch 128, 31x31 sub-images
(stride 21 in the paper's flow), the 291-image set with flips and
rotations, and ONE model for x2, x3 and x4 trained on all three scales
mixed, like VDSR (`--scales`, default 2 3 4; the same mechanism:
`recipes.vdsr.PreUpsamplingRecipe`, `keras_sr.training.multiscale`).
`--scale` picks the scale validated and exported. Changed: Adam (1e-4,
cosine decay to 1e-6) instead of SGD with momentum 0.9 and weight decay 1e-4
at 0.1, halved every 10 epochs, with adjustable gradient clipping (theta =
0.01); the clipping is available as `--clip-theta 0.01` (off by default: it
keeps the paper's large SGD steps stable, and Adam's steps are bounded by
its learning rate); random crops instead of the sub-image grid (the grid is
the `tools.data_aug` command in `--help`).

Without `--data`, the CPU demo trains a reduced DRRN (B1U5, 32 filters; its
wall time is not measured) on the embedded photographs.

Example:
    $ python -m recipes.drrn --scale 3 --data ../shared/data/T91/HR ../shared/data/BSD200/HR \\
        --val-data ../shared/data/Set5/HR
    $ python -m recipes.drrn --scale 2 --num-units 9 --clip-theta 0.01     # DRRN_B1U9, paper clipping
    >>> DRRNRecipe.for_scale(4).train_scales
    (2, 3, 4)
"""

import dataclasses
import sys

from keras_sr.recipes.vdsr import PAPER_291, PAPER_291_INPUT, PreUpsamplingRecipe
from keras_sr.training.cli import recipe_main
from keras_sr.training.recipe import field

__all__ = ["DRRNRecipe", "main"]


@dataclasses.dataclass(frozen=True)
class DRRNRecipe(PreUpsamplingRecipe):
    """Train one DRRN_B1U25 (Tai et al., CVPR 2017) on mixed x2/x3/x4 bicubic Y patches."""

    model: str = field("drrn", "registered model name", flag=False)
    patch_size: int = field(31, "patch side in HR (= bicubic input) pixels, the same at every scale")
    batch_size: int = field(128, "global batch size (split over replicas and over the scales)")
    scales: tuple = field((2, 3, 4), "scales mixed in training, one set of weights (none given: --scale only)")
    num_blocks: int = field(1, "recursive blocks B")
    num_units: int = field(25, "residual units U per block")
    filters: int = field(128, "convolution width")
    batch_norm: bool = field(True, "pre-activation BatchNorm of the official model")

    paper_data = PAPER_291
    paper_inputs = PAPER_291_INPUT

    @classmethod
    def paper_data_aug(cls, scale):
        return ["--width", "31", "--height", "31", "--stride", "21", "-uf", "2", "3", "4",
                "--rotations", "0", "90", "180", "270", "--flips", "0", "1", "2",
                "--upsampling", "bicubic", "--single_y", "--same_size"]

    @classmethod
    def demo_defaults(cls, scale):
        return {**super().demo_defaults(scale), "num_units": 5, "filters": 32, "batch_size": 15, "steps": 300,
                "steps_per_epoch": 25, "val_every": 100, "checkpoint_every": 50}

    def model_config(self):
        return {**super().model_config(), "num_blocks": self.num_blocks, "num_units": self.num_units,
                "filters": self.filters, "batch_norm": self.batch_norm}


main = recipe_main(DRRNRecipe, prog="recipes.drrn")

if __name__ == "__main__":
    sys.exit(main())
