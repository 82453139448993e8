"""Cross-MPI recipe: `python -m recipes.cross_mpi [--scale 8] [--data DIR ...] [--steps N]`.

Zhou, Wu, Fu, Li, Liu, "Cross-MPI: Cross-scale Stereo for Image
Super-Resolution using Multiplane Images", CVPR 2021
(https://arxiv.org/abs/2011.14631), and the official `train.py`,
`crossmpi/mpi.py` `build_train_graph` and `scripts/train_*.sh`
(github.com/Mayzazhou/Cross-MPI):

* data: RealEstate10K video frames (the official loader resizes them to
  384x768; the target view degraded x8, `resize_factor 8`) with a second
  frame as the HR reference view and its camera pose, batch 1; here the RefSR
  loader's patches and synthetic references (a random homography of the
  target's surroundings: not a stereo pair, so the disparity planes match
  them only in part; **Cross-MPI's own setting is calibrated cross-scale
  stereo / light fields**);
* Adam (beta_1 0.9) at 2e-4, constant;
* three official stages: the low-res attention alone (`--pretrain_lowres`,
  L2 on `init_syn`, 817,000 steps), the HR synthesis (`--pretrain_hr_syn`),
  then everything (302,050 steps) with `vgg_lowresL1` = `2 L1(SR, HR) +
  VGG19 terms + 0.01 L1(init_syn, HR / 4)` on [0, 255] means. Here **one
  stage** (the last, `steps` 302,050): L1 on [-1, 1] (`rec_weight` 1) and the
  internal supervision `lowres_weight` 0.005 (the official 0.01 against its 2
  on the pixel L1); the normalized multi-layer VGG19 loss is left out
  (weight 0; keras-sr's perceptual loss is single-layer).

The network: `keras_sr.models.cross_mpi` (3,807,627 parameters at 32 planes).
Its planes are disparity shifts of the reference (keras-sr's rectified-stereo
reduction of the official homographies): `--min-disparity` / `--max-disparity`
in HR pixels (defaults 0 / 64, an open choice).

Without `--data`: an embedded CPU demo (a small Cross-MPI at x4: 8 planes over
disparities -24 ... 24, 16 features, one inner step per residual block, two
fusion blocks; 300 steps of batch 2 with 24x24 LR patches, Adam 5e-4
constant, on the scikit-image photographs), then scikit-image's
`motorcycle_left` with `motorcycle_right` (a rectified stereo pair) and an
unrelated reference. Its numbers show the pipeline, not Cross-MPI's quality.

Example:
    $ python -m recipes.cross_mpi --out runs/cross_mpi_demo                                 # CPU demo
    $ python -m recipes.cross_mpi --data frames/ --max-disparity 96 --out runs/cross_mpi_x8
"""

import dataclasses
import sys
import typing

from keras import ops

from keras_sr.imresize import imresize_ops
from keras_sr.models import cross_mpi as cross_mpi_module
from keras_sr.training.cli import recipe_main
from keras_sr.training.recipe import field
from keras_sr.training.refsr import RefSRRecipe

from keras_sr.recipes.ttsr import run_ttsr

__all__ = ["CrossMPIRecipe", "main"]


@dataclasses.dataclass(frozen=True)
class CrossMPIRecipe(RefSRRecipe):
    """Train Cross-MPI (Zhou et al., CVPR 2021): plane-aware attention over a plane sweep volume, x8 (any scale).

    Official defaults (last stage): Adam 2e-4 constant, batch 1, 302,050 steps, L1 + 0.01 / 2 low-res internal
    supervision (the official VGG19 terms at weight 0, one stage instead of three).
    Without --data: a CPU demo (small Cross-MPI x4, 300 steps on the scikit-image photographs).
    """

    run_name: typing.ClassVar[str] = "cross_mpi"
    demo_label: typing.ClassVar[str] = "Cross-MPI"

    model: str = field("cross_mpi", "registered model name", flag=False)
    variant: str = field("rec", "losses: rec (L1 + the low-res internal supervision)", choices=("rec",))
    scale: int = field(8, "upscaling factor (official x8)")
    patch_size: int = field(48, "LR patch size (official 384x768 HR frames at x8: 48x96 LR; square here)")
    batch_size: int = field(1, "batch size (official 1)")
    steps: int = field(302_050, "optimizer steps (the official last stage)")
    init_steps: int = field(0, "unused (no GAN stage)", flag=False)
    learning_rate: float = field(2e-4, "learning rate (official 2e-4, constant)")
    schedule: str = field("constant", "learning-rate schedule (official: constant)",
                          choices=("step", "cosine", "constant"))
    rec_weight: float = field(1.0, "L1(SR, HR) weight on [-1, 1] images (official 2 on [0, 255])")
    lowres_weight: float = field(0.005, "L1(init_syn, HR / 4) weight (official 0.01 against the pixel L1's 2)")
    perceptual_weight: float = field(0.0, "VGG perceptual weight (the official normalized VGG19 loss: not "
                                          "implemented)", flag=False)
    tpl_weight: float = field(0.0, "texture loss weight (Cross-MPI: none)", flag=False)
    adversarial_weight: float = field(0.0, "adversarial weight (Cross-MPI: none)", flag=False)
    lte_learning_rate: float = field(2e-4, "unused (Cross-MPI has no LTE)", flag=False)
    # Cross-MPI's network (model_config)
    num_planes: int = field(32, "planes of the plane sweep volume (official 32)")
    min_disparity: float = field(0.0, "disparity of the farthest plane, HR pixels (keras-sr's choice)")
    max_disparity: float = field(64.0, "disparity of the nearest plane, HR pixels (keras-sr's choice)")
    ngf: int = field(64, "features of the attention path")
    extractor_ngf: int = field(64, "features of the dense residual ASPP extractor")
    feature_channels: int = field(8, "the extractor's output channels")
    fuse_ngf: int = field(32, "features of the fusion network")
    fuse_blocks: int = field(6, "residual blocks of the fusion network")
    res_repeat: int = field(3, "inner steps of each attention-path residual block")
    aspp_levels: int = field(3, "ASPP steps of the extractor")

    def validated(self):
        super().validated()
        name = type(self).__name__
        if self.hr_patch_size % (cross_mpi_module.SIZE_MULTIPLE * 2):
            raise ValueError(f"{name}: the HR patch ({self.hr_patch_size}) must be a multiple of 8 (the low-res "
                             "branch and the guidance encoder's stride-2 levels)")
        if self.ref_size != self.hr_patch_size:
            raise ValueError(f"{name}: the reference view must have the HR patch's size ({self.hr_patch_size}), "
                             f"got ref_patch_size {self.ref_size}")
        if self.lowres_weight < 0:
            raise ValueError(f"{name}: lowres_weight must be >= 0, got {self.lowres_weight}")
        return self

    def model_config(self):
        return {"scale": self.scale, "num_planes": self.num_planes, "min_disparity": self.min_disparity,
                "max_disparity": self.max_disparity, "ngf": self.ngf, "extractor_ngf": self.extractor_ngf,
                "feature_channels": self.feature_channels, "fuse_ngf": self.fuse_ngf,
                "fuse_blocks": self.fuse_blocks, "res_repeat": self.res_repeat, "aspp_levels": self.aspp_levels}

    def auxiliary_outputs(self, model):
        return {"init_syn": cross_mpi_module.lowres_synthesis(model)} if self.lowres_weight else {}

    def auxiliary_log_keys(self):
        return ("g_lowres",) if self.lowres_weight else ()

    def auxiliary_losses(self, hr, outputs):
        if not self.lowres_weight:
            return {}
        target = imresize_ops(ops.cast(hr, "float32") / 127.5 - 1.0, 1.0 / cross_mpi_module.LOWRES_FACTOR)
        value = ops.mean(ops.abs(ops.cast(outputs["init_syn"], "float32") - target))
        return {"g_lowres": (self.lowres_weight, value)}

    @classmethod
    def demo_defaults(cls, scale):
        return {"scale": 4, "num_planes": 8, "min_disparity": -24.0, "max_disparity": 24.0, "ngf": 16,
                "extractor_ngf": 16, "feature_channels": 4, "fuse_ngf": 16, "fuse_blocks": 2, "res_repeat": 1,
                "aspp_levels": 1, "patch_size": 24, "batch_size": 2, "steps": 300, "learning_rate": 5e-4,
                "steps_per_epoch": 25, "val_every": 300, "checkpoint_every": 100, "val_images": 0}


main = recipe_main(CrossMPIRecipe, prog="recipes.cross_mpi", run=run_ttsr)

if __name__ == "__main__":
    sys.exit(main())
