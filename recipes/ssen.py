"""SSEN recipe: `python -m recipes.ssen [--variant rec|gan] [--data DIR ...] [--steps N]`.

Shim, Park, Kweon, "Robust Reference-based Super-Resolution with
Similarity-Aware Deformable Convolution", CVPR 2020. **No official code was
released**, and the training settings the paper leaves open are taken from
SRNTT's CUFED setup (**choices**, marked): x4, 40x40 LR patches with
HR-sized (160x160) references, batch 9, Adam (0.9, 0.999) at 1e-4, x0.1
halfway, 105 CUFED epochs of 1,319 steps; `--variant rec` (the default, the
SSEN-rec of the RefSR tables) trains L1 only; `--variant gan` adds the VGG19
relu5_1 perceptual loss (1e-4) and WGAN-GP (1e-6), SRNTT's weights
(`--vgg-weights` needed). The trainer is `keras_sr.training.refsr`.

CUFED is not bundled: references are synthetic views of each patch's own
image (a random homography around the patch, `keras_sr.data.reference_views`)
unless `--reference cufed5:K` / `pairs:FILE`.

Without `--data`: a CPU demo (32 features, 4 body blocks, 1 block per feature
extractor, 4 deformable groups, 200 steps of batch 4 on 24x24 LR patches,
learning rate 5e-4) on the scikit-image photographs, then the motorcycle
stereo-pair check of `recipes.ttsr`.

Example:
    $ python -m recipes.ssen --out runs/ssen_demo                                     # CPU demo
    $ python -m recipes.ssen --data CUFED/train/input --out runs/ssen_rec
"""

import dataclasses
import sys
import typing

from keras_sr.recipes.srntt import run_srntt_family
from keras_sr.training.recipe import field
from keras_sr.training.refsr import CUFED_STEPS_PER_EPOCH, RefSRRecipe
from keras_sr.training.cli import recipe_main

__all__ = ["SSENRecipe", "main"]


@dataclasses.dataclass(frozen=True)
class SSENRecipe(RefSRRecipe):
    """Train SSEN (Shim et al., CVPR 2020; paper-based): similarity-aware deformable alignment + EDSR baseline."""

    run_name: typing.ClassVar[str] = "ssen"
    display_name: typing.ClassVar[str] = "SSEN"

    model: str = field("ssen", "registered model name", flag=False)
    variant: str = field("rec", "losses: rec (L1, SSEN-rec) or gan (+ perceptual + WGAN-GP)", choices=("rec", "gan"))
    # the network (model_config)
    n_feats: int = field(64, "features")
    num_blocks: int = field(16, "residual blocks of the EDSR-baseline body")
    feature_blocks: int = field(4, "residual blocks of each feature extractor")
    num_dcn: int = field(3, "deformable convolutions of the alignment")
    deformable_groups: int = field(8, "deformable groups")
    # training (SRNTT's CUFED setup; choices)
    steps: int = field(105 * CUFED_STEPS_PER_EPOCH, "optimizer steps (105 CUFED epochs of 1,319)")
    init_steps: int = field(5 * CUFED_STEPS_PER_EPOCH, "gan variant: first steps on L1 only")
    schedule: str = field("step", "learning-rate schedule", choices=("step", "cosine", "constant"))
    lr_milestones: tuple = field((55 * CUFED_STEPS_PER_EPOCH,), "x lr_gamma at these steps")
    lr_gamma: float = field(0.1, "step schedule decay")
    perceptual_weight: float = field(1e-4, "gan variant: VGG19 relu5_1 MSE perceptual weight")
    tpl_weight: float = field(0.0, "texture loss weight (SSEN: none)", flag=False)
    adversarial_weight: float = field(1e-6, "gan variant: WGAN generator weight")
    critic: str = field("c2_matching", "WGAN-GP critic", choices=("ttsr", "c2_matching"))
    val_every: int = field(5 * CUFED_STEPS_PER_EPOCH, "validate every N steps (and at the end)")
    checkpoint_every: int = field(5 * CUFED_STEPS_PER_EPOCH, "checkpoint every N steps (and at the end)")

    @classmethod
    def scale_defaults(cls, scale):
        if int(scale) != 4:
            raise ValueError(f"SSENRecipe: SSEN is built as an x4 architecture, got --scale {scale}.")
        return {}

    def validated(self):
        super().validated()
        if self.n_feats % self.deformable_groups:
            raise ValueError(f"SSENRecipe: n_feats {self.n_feats} must be a multiple of deformable_groups "
                             f"{self.deformable_groups}")
        return self

    def model_config(self):
        return {"scale": self.scale, "n_feats": int(self.n_feats), "num_blocks": int(self.num_blocks),
                "feature_blocks": int(self.feature_blocks), "num_dcn": int(self.num_dcn),
                "deformable_groups": int(self.deformable_groups)}

    @classmethod
    def demo_defaults(cls, scale):
        return {"variant": "rec", "n_feats": 32, "num_blocks": 4, "feature_blocks": 1, "deformable_groups": 4,
                "patch_size": 24, "batch_size": 4, "steps": 200, "init_steps": 0, "steps_per_epoch": 25,
                "learning_rate": 5e-4, "schedule": "constant", "val_every": 200, "checkpoint_every": 100,
                "val_images": 0}


def main(argv=None):
    return recipe_main(SSENRecipe, prog="recipes.ssen", run=run_srntt_family)(argv)


if __name__ == "__main__":
    sys.exit(main())
