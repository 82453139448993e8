"""MASA-SR recipe: `python -m recipes.masa_sr [--variant rec|gan] [--data DIR ...] [--steps N]`.

Lu, Li, Jiang, Tai, Jia, "MASA-SR: Matching Acceleration and Spatial
Adaptation for Reference-Based Image Super-Resolution", CVPR 2021
(https://arxiv.org/abs/2106.02299), and the official `train.py` / `train.sh`
/ `models/trainer.py` / `dataloader/dataset.py` (dvlab-research/MASA-SR):

* `--variant rec` (MASA-rec, the default; the paper's CUFED5 27.54 / 0.814):
  L1 on [0, 1] images (`rec_weight 0.5` here: the trainer's L1 is on
  [-1, 1] images), Adam (0.9, 0.999) at 1e-4 with `CosineAnnealingLR(T_max=500)`
  stepped per epoch for 160 epochs of CUFED (batch 9, 160x160 HR crops with
  160x160 references, x4: 40x40 LR), i.e. the learning rate falls from 1e-4
  to 0.77e-4. The trainer's cosine schedule runs over `steps`, so the default
  decays from 1e-4 to `min_learning_rate` 7.7e-5 over the 211,040 steps
  (160 x 1,319): the same end points, a slightly different curve (at most
  5% lower midway). The official loader also swaps input and reference with
  probability 0.5 and jitters the brightness/contrast of one of them; the
  RefSR loader's synthetic references carry their own colour jitter
  (`keras_sr.data.reference_views`), and no swap is done.
* `--variant gan` (MASA, `train.sh`'s second stage: 50 epochs from MASA-rec,
  `--init-weights`): L1 1 + perceptual 1 (VGG19 `conv5_4`, L1) + adversarial
  5e-3. The official critic is a `VGGStyleDiscriminator160` trained with the
  vanilla GAN loss; the RefSR trainer has WGAN-GP critics only, so this
  variant uses TTSR's critic with WGAN-GP (one critic step per generator
  step, Adam (0, 0.9) 1e-4 as the official discriminator optimizer): not the
  official adversarial setup.

The network: `keras_sr.models.masa_sr` (official `nf` 64, blocks 4+4+4 /
2+2+2+12+8+4, 4,028,291 parameters). LR patches must be multiples of 8 (the
matching's block size) and at least 16.

Without `--data`: an embedded CPU demo (a small MASA-rec, nf 16 with one
block per stage except 2+2 at x1/x2, 500 steps of batch 4 with 24x24 LR
patches and 96x96 synthetic references, learning rate 5e-4 constant, on the
scikit-image photographs), then scikit-image's `motorcycle_left` (x4) with
`motorcycle_right` and with an unrelated reference (`recipes.ttsr`'s stereo
check). Its numbers show the pipeline, not MASA-SR's quality.

Example:
    $ python -m recipes.masa_sr --out runs/masa_demo                                      # CPU demo
    $ python -m recipes.masa_sr --data CUFED/train/input --out runs/masa_rec
    $ python -m recipes.masa_sr --variant gan --data CUFED/train/input --steps 65950 --vgg-weights vgg19.weights.h5 \\
          --init-weights runs/masa_rec/final.weights.h5 --out runs/masa_gan
"""

import dataclasses
import sys
import typing

from keras_sr.training.cli import recipe_main
from keras_sr.training.recipe import field
from keras_sr.training.refsr import CUFED_STEPS_PER_EPOCH, RefSRRecipe

from keras_sr.recipes.ttsr import run_ttsr

__all__ = ["MASASRRecipe", "main"]


@dataclasses.dataclass(frozen=True)
class MASASRRecipe(RefSRRecipe):
    """Train MASA-SR (Lu et al., CVPR 2021): coarse-to-fine matching + spatial adaptation RefSR, x4.

    Official defaults (MASA-rec): LR 40x40, reference 160x160, batch 9, L1, Adam 1e-4 with a cosine decay to
    7.7e-5 over 160 CUFED epochs. --variant gan adds perceptual (VGG19 conv5_4, L1, weight 1) and adversarial
    (5e-3) losses with a WGAN-GP critic (the official one is a vanilla-GAN VGG-style discriminator).
    Without --data: a CPU demo (small MASA-rec, 500 steps on the scikit-image photographs).
    """

    run_name: typing.ClassVar[str] = "masa_sr"
    demo_label: typing.ClassVar[str] = "MASA-SR"

    model: str = field("masa_sr", "registered model name", flag=False)
    variant: str = field("rec", "losses: rec (L1, MASA-rec) or gan (L1 + perceptual + adversarial, MASA)",
                         choices=("rec", "gan"))
    steps: int = field(160 * CUFED_STEPS_PER_EPOCH, "optimizer steps (official: 160 CUFED epochs)")
    init_steps: int = field(0, "gan variant: first steps on L1 only (the official gan stage starts from MASA-rec)")
    schedule: str = field("cosine", "learning-rate schedule (official: cosine, T_max 500 epochs, 160 trained)",
                          choices=("step", "cosine", "constant"))
    min_learning_rate: float = field(7.7e-5, "cosine schedule: final learning rate (official value after 160 of "
                                             "500 cosine epochs)")
    rec_weight: float = field(0.5, "L1 weight on [-1, 1] images (0.5 = the official 1.0 on [0, 1] images)")
    perceptual_weight: float = field(1.0, "gan variant: VGG19 conv5_4 perceptual weight (official lambda 1)")
    perceptual_layer: str = field("conv5_4", "VGG19 layer of the perceptual loss (official conv5_4)")
    perceptual_criterion: str = field("l1", "perceptual distance (official l1)", choices=("l1", "l2", "fro"))
    tpl_weight: float = field(0.0, "texture loss weight (MASA-SR: none)", flag=False)
    adversarial_weight: float = field(5e-3, "gan variant: adversarial weight (official lambda_adv 5e-3)")
    d_steps: int = field(1, "critic steps per generator step (official gan_k 1)")
    lte_learning_rate: float = field(1e-4, "unused (MASA-SR has no LTE)", flag=False)
    # MASA-SR's network (model_config)
    nf: int = field(64, "features")
    n_blocks: tuple = field((4, 4, 4), "encoder residual blocks at L1, L2, L3")
    n_blocks_dec: tuple = field((2, 2, 2, 12, 8, 4), "decoder residual blocks at L3, L2, L1, x1, x2, x4")
    chunk_size: int = field(1024, "coarse-matching chunk size (blocks per step)")

    @classmethod
    def scale_defaults(cls, scale):
        if int(scale) != 4:
            raise ValueError(f"MASASRRecipe: MASA-SR is an x4 architecture, got --scale {scale}.")
        return {}

    def validated(self):
        super().validated()
        name = type(self).__name__
        if self.patch_size % 8 or self.patch_size < 16:
            raise ValueError(f"{name}: patch_size must be a multiple of 8 and at least 16 (MASA-SR's matching blocks), "
                             f"got {self.patch_size}")
        if self.ref_size < self.hr_patch_size:
            raise ValueError(f"{name}: ref_patch_size {self.ref_size} must be at least the HR patch "
                             f"({self.hr_patch_size}) so every matching region fits in the reference")
        if self.tpl_weight:
            raise ValueError(f"{name}: MASA-SR has no texture (TPL) loss; tpl_weight must be 0")
        return self

    def model_config(self):
        return {"scale": self.scale, "nf": self.nf, "n_blocks": tuple(self.n_blocks),
                "n_blocks_dec": tuple(self.n_blocks_dec), "chunk_size": self.chunk_size}

    @classmethod
    def demo_defaults(cls, scale):
        return {"variant": "rec", "nf": 16, "n_blocks": (1, 1, 1), "n_blocks_dec": (1, 1, 1, 2, 2, 1),
                "patch_size": 24, "batch_size": 4, "steps": 500, "schedule": "constant", "steps_per_epoch": 25,
                "learning_rate": 5e-4, "val_every": 500, "checkpoint_every": 100, "val_images": 0}


main = recipe_main(MASASRRecipe, prog="recipes.masa_sr", run=run_ttsr)

if __name__ == "__main__":
    sys.exit(main())
