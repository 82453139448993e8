"""VDSR recipe: `python -m recipes.vdsr --scale 3 --data T91/HR BSD200/HR --val-data Set5/HR`.

Kim, Lee, Lee, "Accurate Image Super-Resolution Using Very Deep
Convolutional Networks", CVPR 2016, Sec. 3-4. Kept from the paper: 20 3x3
convolutions of 64 filters with residual learning on the bicubic-upsampled
Y channel, MSE loss, mini-batch 64, 41x41 sub-images, the 291-image training
set (T91 + the 200 BSD training images), and ONE model trained on x2, x3 and
x4 mixed (`--scales`, default 2 3 4): the `scale=None` network is trained on
`(bicubic, HR)` patches of every scale in every batch
(`keras_sr.training.multiscale`), and `--scale` only picks the scale that is
validated and exported (`final.keras` is the `scale=N` model, bicubic inside,
with the same weights; they work at any scale). Changed: Adam (1e-4, cosine
decay to 1e-6) instead of SGD with momentum 0.9 and weight decay 1e-4 at
0.1, divided by 10 every 20 epochs, for 80 epochs; random crops with flips
and rotations instead of the fixed non-overlapping sub-image grid (the
paper's flow, with its 1.0/0.7/0.5 image downscaling, is the
`tools.data_aug` command in `--help`; pass the HDF5 file it writes as
`--data`). The adjustable gradient clipping (every gradient element clipped
to `[-theta/lr, theta/lr]` at the current learning rate, the paper's Sec.
3.3) is `--clip-theta` (`keras_sr.training.optimizers.AdjustableClippingAdam`);
it is off by default: it exists to keep the paper's high SGD learning rate
stable, while Adam's step size is set by the learning rate whatever the
gradient scale (DRRN's paper uses theta = 0.01; here the gradients are those
of the loss on 0-255 pixels).

Example:
    $ python -m recipes.vdsr --scale 3 --data ../shared/data/T91/HR ../shared/data/BSD200/HR \\
        --val-data ../shared/data/Set5/HR
    $ python -m recipes.vdsr --scale 4 --scales 4                # a single-scale VDSR
    >>> VDSRRecipe.for_scale(3).train_model_config()
    {'scale': None, 'channels': 1, 'depth': 20, 'filters': 64}
"""

import dataclasses
import sys

from keras_sr.recipes.classic import YChannelRecipe
from keras_sr.training.cli import recipe_main
from keras_sr.training.recipe import field

__all__ = ["PreUpsamplingRecipe", "VDSRRecipe", "main", "PAPER_291"]

PAPER_291 = "291 images: T91 (Yang et al.) + the 200 BSD training images (BSD200)"
PAPER_291_INPUT = "T91/HR BSD200/HR"


def describe_with_inputs(cls, text):
    """`YChannelRecipe.describe` text with `cls.paper_inputs` as the data_aug `--input` (it names T91/HR)."""
    return text.replace("--input T91/HR", f"--input {cls.paper_inputs}")


@dataclasses.dataclass(frozen=True)
class PreUpsamplingRecipe(YChannelRecipe):
    """Base of the pre-upsampling recipes (VDSR, DRRN, DRCN, RED-Net): bicubic/HR patches, one or several scales.

    The network is trained as its `scale=None` model on `(bicubic, HR)`
    patches of side `patch_size` (an HR/bicubic size, the same at every scale)
    from every scale of `scales` (empty: `scale` alone), and validated and
    exported as the `scale=N` model with the same weights.
    """

    patch_size: int = field(41, "patch side in HR (= bicubic input) pixels, the same at every scale")
    scales: tuple = field((), "scales mixed in training, one set of weights (none given: --scale only)")
    clip_theta: float = field(0.0, "adjustable gradient clipping (VDSR): |g| <= clip_theta / lr per element "
                                   "(0: off)")
    learning_rate: float = field(1e-4, "initial learning rate (Adam)")
    min_learning_rate: float = field(1e-6, "cosine schedule: final learning rate")

    paper_inputs = "T91/HR"

    @classmethod
    def describe(cls):
        return describe_with_inputs(cls, super().describe())

    @property
    def hr_patch_size(self):
        return self.patch_size

    @property
    def train_scales(self):
        """The scales mixed in training (`scales`, or `(scale,)`)."""
        return tuple(int(s) for s in self.scales) or (self.scale,)

    def validated(self):
        super().validated()
        name = type(self).__name__
        scales = self.train_scales
        if min(scales) < 2 or len(set(scales)) != len(scales):
            raise ValueError(f"{name}: scales must be distinct integers >= 2, got {self.scales}")
        if self.batch_size < len(scales):
            raise ValueError(f"{name}: batch_size {self.batch_size} cannot hold one patch of each of the scales "
                             f"{scales}")
        if self.clip_theta < 0:
            raise ValueError(f"{name}: clip_theta must be >= 0, got {self.clip_theta}")
        return self

    def train_model_config(self):
        """The network trained: the exported model without its bicubic layer (`scale=None`, same weights)."""
        return {**self.model_config(), "scale": None}

    def train_data(self, split, seed=None, steps_per_epoch=None, loader=None, log=None):
        """Mixed-scale `(bicubic, HR)` batches (`keras_sr.training.multiscale.make_mixed_scale_data`)."""
        from keras_sr.training.multiscale import make_mixed_scale_data

        return make_mixed_scale_data(split, self, self.train_scales, self.patch_size, seed=seed,
                                     steps_per_epoch=steps_per_epoch, loader=loader, log=log)


@dataclasses.dataclass(frozen=True)
class VDSRRecipe(PreUpsamplingRecipe):
    """Train one VDSR (Kim et al., CVPR 2016) on mixed x2/x3/x4 bicubic Y patches; --scale is validated/exported."""

    model: str = field("vdsr", "registered model name", flag=False)
    batch_size: int = field(64, "global batch size (split over replicas and over the scales)")
    scales: tuple = field((2, 3, 4), "scales mixed in training, one set of weights (none given: --scale only)")
    depth: int = field(20, "convolutions")
    filters: int = field(64, "filters of the hidden convolutions")

    paper_data = PAPER_291
    paper_inputs = PAPER_291_INPUT

    @classmethod
    def paper_data_aug(cls, scale):
        # The paper's flow (the same for every --scale: one model for x2, x3, x4).
        return ["--width", "41", "--height", "41", "--stride", "41", "-uf", "2", "3", "4",
                "--scales", "1.0", "0.7", "0.5", "--rotations", "0", "90", "180", "270", "--flips", "0", "1", "2", "3",
                "--upsampling", "bicubic", "--single_y", "--same_size"]

    @classmethod
    def demo_defaults(cls, scale):
        return {**super().demo_defaults(scale), "batch_size": 15, "steps": 300, "steps_per_epoch": 25,
                "val_every": 100, "checkpoint_every": 50}

    def model_config(self):
        return {**super().model_config(), "depth": self.depth, "filters": self.filters}


main = recipe_main(VDSRRecipe, prog="recipes.vdsr")

if __name__ == "__main__":
    sys.exit(main())
