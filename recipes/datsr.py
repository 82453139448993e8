"""DATSR recipe: `python -m recipes.datsr [--variant rec|gan] --data DIR ... [--extractor-weights FILE.npz]`.

Cao, Liang, Zhang, Li, Zhang, Timofte, Van Gool, "Reference-based Image
Super-Resolution with Deformable Attention Transformer", ECCV 2022
(https://arxiv.org/abs/2207.11938), and the official options
(github.com/caojiezhang/DATSR, `options/train/train_restoration_mse.yml`,
`train_restoration_gan.yml`): CUFED 160 x 160 crops with 160 x 160
references (x4: 40 x 40 LR), batch 9, flips and rotations, Adam (0.9, 0.999)
1e-4, x0.1 at 72,545 and 211,040 of 400,000 iterations (the gan options use
161,040 for the second milestone; pass `--lr-milestones 72545 161040`),
seed 10. The relu3_1 ("small") and relu2_1 ("medium") deformable
attentions' offset convolutions train with their own Adam at 1e-6 and 1e-5
(official `lr_relu3_offset`, `lr_relu2_offset`: parameters whose names hold
"offset" and "small" / "medium"), the rest at 1e-4 (`lr_offset` = `lr_g`).

* `--variant rec` (the default; the published CUFED5 28.72 / 0.856): L1,
  weight 1 on [0, 1] images (`rec_weight 0.5` on the trainer's [-1, 1]).
* `--variant gan`: + perceptual VGG19 relu5_1 1e-4 with the Frobenius
  criterion, WGAN-GP 1e-6 (penalty 10) on C2-Matching's `ImageDiscriminator`
  (ndf 32), one critic step per generator step, critic Adam (0.9, 0.999) 1e-4
  (the official gan options, as `recipes.c2_matching`).

DATSR's contrastive feature extractor is C2-Matching's trained one, loaded and
frozen (`pretrain_model_feature_extractor`): `--extractor-weights FILE.npz`
(an `extractor.npz` of `recipes.c2_matching`'s student stage); without it the
frozen extractor keeps its random start (the demo and smoke runs only).
`--ref-vgg-weights` initializes (and freezes) the reference VGG19.

Without `--data`: a CPU demo (ngf 16, one Swin layer per body, 30 steps), then
`recipes.ttsr`'s motorcycle stereo check; it shows the pipeline only.

Example:
    $ python -m recipes.datsr --out runs/datsr_demo                                       # CPU demo
    $ python -m recipes.datsr --data CUFED/train/input --extractor-weights runs/c2/student/extractor.npz --out runs/datsr
"""

import dataclasses
import sys
import typing

from keras_sr.recipes.ttsr import run_ttsr
from keras_sr.training.cli import recipe_main, run_recipe, recipe_from_args
from keras_sr.training.recipe import field
from keras_sr.training.refsr import RefSRRecipe
from keras_sr.training.refsr_losses import CRITICS
from keras_sr.training.contrastive_model import load_and_freeze_extractor

__all__ = ["DATSRRecipe", "main", "run_datsr"]


@dataclasses.dataclass(frozen=True)
class DATSRRecipe(RefSRRecipe):
    """Train DATSR (Cao et al., ECCV 2022): deformable attention + Swin U-Net RefSR, x4.

    Official: LR 40, reference 160, batch 9, Adam 1e-4 (relu3/relu2 offset convs 1e-6/1e-5), x0.1 at 72,545 and
    211,040 of 400k; rec = L1; gan = + perceptual 1e-4 (fro) + WGAN-GP 1e-6. --extractor-weights: C2-Matching's
    trained contrastive extractor (frozen). Without --data: a CPU demo.
    """

    run_name: typing.ClassVar[str] = "datsr"
    demo_label: typing.ClassVar[str] = "DATSR"

    model: str = field("datsr", "registered model name", flag=False)
    variant: str = field("rec", "losses: rec (L1) or gan (L1 + perceptual + WGAN-GP)", choices=("rec", "gan"))
    steps: int = field(400_000, "optimizer steps (official niter)")
    init_steps: int = field(0, "gan variant: first steps on L1 only (official net_g_pretrain_steps 0)")
    schedule: str = field("step", "learning-rate schedule (official MultiStepLR)", choices=("step", "cosine",
                                                                                          "constant"))
    lr_milestones: tuple = field((72_545, 211_040), "step schedule milestones (x lr_gamma)")
    lr_gamma: float = field(0.1, "step schedule decay")
    rec_weight: float = field(0.5, "L1 weight on [-1, 1] images (0.5 = the official 1.0 on [0, 1] images)")
    perceptual_weight: float = field(1e-4, "gan variant: VGG19 relu5_1 perceptual weight (official 1e-4)")
    perceptual_criterion: str = field("fro", "perceptual distance (official fro)", choices=("l1", "l2", "fro"))
    tpl_weight: float = field(0.0, "texture loss weight (DATSR: none)", flag=False)
    adversarial_weight: float = field(1e-6, "gan variant: WGAN generator loss weight (official 1e-6)")
    d_steps: int = field(1, "critic steps per generator step (net_d_steps)")
    d_beta_1: float = field(0.9, "critic Adam beta_1")
    d_beta_2: float = field(0.999, "critic Adam beta_2")
    critic: str = field("c2_matching", "WGAN-GP critic (official: ImageDiscriminator, ndf 32)", choices=CRITICS)
    val_every: int = field(5_000, "validate every N steps")
    checkpoint_every: int = field(5_000, "checkpoint every N steps")
    steps_per_epoch: int = field(1_000, "steps per log line / loader epoch")
    seed: int = field(10, "random seed (manual_seed)")
    lte_learning_rate: float = field(1e-5, "unused (DATSR has no LTE)", flag=False)
    offset_relu2_learning_rate: float = field(1e-5, "Adam learning rate of the relu2_1 (medium) deformable "
                                                    "attentions' offset convolutions (lr_relu2_offset)")
    offset_relu3_learning_rate: float = field(1e-6, "Adam learning rate of the relu3_1 (small) deformable attention's "
                                                    "offset convolutions (lr_relu3_offset)")
    extractor_weights: str = field("", "C2-Matching's trained contrastive extractor (.npz), loaded and frozen")
    ref_vgg_weights: str = field("", "ImageNet VGG19 .npz for the reference VGG (frozen, as official)")
    # DATSR's network (model_config)
    ngf: int = field(128, "restoration features")
    groups: int = field(8, "deformable groups")
    depths: tuple = field((4, 4), "Swin layers per residual group of each stage body")
    num_heads: tuple = field((4, 4), "attention heads per residual group")
    window_size: int = field(8, "attention window")
    vgg_widths: tuple = field((64, 128, 256), "reference VGG19 widths at relu1_1, relu2_1, relu3_1")
    contrastive_widths: tuple = field((64, 128, 256), "contrastive extractor widths")
    chunk_size: int = field(1024, "patch-matching chunk size")

    @classmethod
    def scale_defaults(cls, scale):
        if int(scale) != 4:
            raise ValueError(f"DATSRRecipe: DATSR is an x4 architecture, got --scale {scale}.")
        return {}

    def validated(self):
        super().validated()
        name = type(self).__name__
        if self.patch_size % self.window_size:
            raise ValueError(f"{name}: patch_size {self.patch_size} must be a multiple of window_size "
                             f"{self.window_size}")
        if self.ref_size != self.hr_patch_size:
            raise ValueError(f"{name}: the reference must be the HR patch size ({self.hr_patch_size})")
        if any(w % self.groups for w in self.vgg_widths):
            raise ValueError(f"{name}: every vgg_widths value must be a multiple of groups {self.groups}")
        if self.tpl_weight:
            raise ValueError(f"{name}: DATSR has no texture (TPL) loss; tpl_weight must be 0")
        return self

    def model_config(self):
        config = {"scale": self.scale, "ngf": self.ngf, "groups": self.groups, "depths": tuple(self.depths),
                  "num_heads": tuple(self.num_heads), "window_size": self.window_size,
                  "vgg_widths": tuple(self.vgg_widths), "contrastive_widths": tuple(self.contrastive_widths),
                  "chunk_size": self.chunk_size}
        if self.ref_vgg_weights:
            config["vgg_weights"] = self.ref_vgg_weights
        return config

    def learning_rate_groups(self, model):
        """The official Adam groups: trainable variables whose path holds "offset" and "small" / "medium"."""
        def offsets(stage_word):
            return [v for v in model.trainable_variables if "offset" in v.path and stage_word in v.path]

        return [("offset_relu3", self.offset_relu3_learning_rate, offsets("small")),
                ("offset_relu2", self.offset_relu2_learning_rate, offsets("medium"))]

    @classmethod
    def demo_defaults(cls, scale):
        return {"ngf": 16, "groups": 2, "depths": (1,), "num_heads": (2,), "window_size": 4, "vgg_widths": (8, 16, 32),
                "contrastive_widths": (8, 16, 32), "patch_size": 16, "batch_size": 2, "steps": 30,
                "schedule": "constant", "learning_rate": 5e-4, "steps_per_epoch": 10, "val_every": 30,
                "checkpoint_every": 10, "val_images": 2}


def run_datsr(recipe_cls, args, log=print):
    """`recipes.ttsr`'s runner (demo + stereo check without --data), with the extractor loaded and frozen."""

    recipe = recipe_from_args(recipe_cls, args)
    if not recipe.extractor_weights:
        log("warning: no --extractor-weights: the frozen contrastive extractor keeps its random start")
        return run_ttsr(recipe_cls, args, log)
    return run_recipe(recipe_cls, args, log, recipe=recipe, model_hook=load_and_freeze_extractor(recipe.extractor_weights))


main = recipe_main(DATSRRecipe, prog="recipes.datsr", run=run_datsr, user_errors=(FileNotFoundError,))

if __name__ == "__main__":
    sys.exit(main())
