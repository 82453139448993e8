"""C2-Matching recipe: `python -m recipes.c2_matching [--stage teacher|student|restoration|all] --data DIR...`.

Jiang, Chan, Zhou, Loy, Liu, "Robust Reference-based Super-Resolution via
C2-Matching", CVPR 2021 (https://arxiv.org/abs/2106.01863), and the official
options (github.com/yumingj/C2-Matching, `options/train/`). Three stages, each
in its own folder of the run directory:

1. `teacher/` (`stage1_teacher_contras_network.yml`): the contrastive
   extractor (two VGG16 trunks to conv3_1) on (HR crop, homography view)
   pairs, margin loss (margin 1, safe radius 4), Adam 1e-3, batch 8, 160 px
   crops, 5,000 iterations (`keras_sr.training.contrastive_correspondence`).
2. `student/` (`stage2_student_contras_network.yml`): the extractor on the
   LR-upsampled crop vs the view, contrastive loss + 15 x teacher-student
   correlation distillation (KL, temperature 0.15), Adam 1e-3 x0.1 at 72,545 of
   75,000 iterations. The official student starts from ImageNet VGG16; here
   from the teacher unless `--contrastive-init` gives VGG16 weights.
3. `restoration/` (`stage3_restoration_{mse,gan}.yml`): the C2-Matching
   network (`keras_sr.models.c2_matching`) trained by
   `keras_sr.training.refsr.train_refsr` with the student's extractor loaded
   and frozen (`load_and_freeze_extractor`), 40x40 LR patches with 160x160
   references (x4), batch 9, Adam (0.9, 0.999) 1e-4, x0.1 at 72,545 and
   211,040 of 255,000 iterations. Losses:
   * `--variant rec` (C2-Matching-rec, `stage3_restoration_mse`): L1 only,
     weight 1 on [0, 1] images (`rec_weight 0.5` here: the trainer's L1 is on
     [-1, 1] images, twice the [0, 1] value);
   * `--variant gan` (`stage3_restoration_gan`): L1 (1), perceptual VGG19
     relu5_1 1e-4 with the official criterion, the Frobenius norm of the
     feature difference over the batch (`perceptual_criterion fro`), style 0
     and no texture loss (the released config sets neither), WGAN-GP
     adversarial 1e-6 with gradient penalty 10 on the official critic
     (`ImageDiscriminator`, ndf 32: BN, global pooling, sigmoid, [0, 1]
     input; `critic c2_matching`, `keras_sr.training.refsr_losses`), one
     critic step per generator step, the first 10,000 iterations on L1 only
     (`net_g_pretrain_steps`), critic Adam (0.9, 0.999) 1e-4.
   Both variants train the offset convolutions of the relu3_1 and relu2_1
   dynamic aggregation (`small_dyn_agg`, `medium_dyn_agg`: `offset_conv1`,
   `offset_conv2` and the deformable convolution's `conv_offset_mask`, the
   official parameters whose names hold "offset" and "small" / "medium") with
   their own Adam at 1e-6 and 1e-5 (`lr_relu3_offset`, `lr_relu2_offset`;
   `C2MatchingRecipe.learning_rate_groups`) on the same step schedule; relu1_1's
   offsets take the main 1e-4 (`lr_offset`).
   One difference remains: the official loop steps the critic before the
   generator; the trainer steps the generator first (a one-step lag).

CUFED is not available: every stage makes its references with
`keras_sr.data.reference_views` (seeded views of the training image). The
contrastive stages use views of the official magnitude by default (the
official `image_pair_generation` moves each corner of the 160 px crop by up to
10 px, no colour change; `--contrastive-views strong` uses the default
`ViewParams`: zoom 0.8-1.25, rotation 15 degrees, colour jitter).
ImageNet VGG weights are not downloaded: the extractor trains from scratch
(both trunks from the same random start) unless `--contrastive-init FILE.npz`
(torchvision VGG16 keys) is given; `--ref-vgg-weights` initializes (and
freezes) the reference VGG19 of the restoration network; `--vgg-weights` is the
perceptual loss's VGG19 (gan variant).

Run directory `RUN/`: `recipe.json`, `teacher/`, `student/` (each:
`config.json`, `checkpoints/`, `log.csv`, `summary.json` with the held-out
correspondence accuracy before/after, `extractor.npz`), `restoration/` (the
RefSR trainer's files). `--resume --out RUN` continues every stage from its
latest checkpoint; finished stages are not retrained. `--teacher-weights` /
`--extractor-weights` skip a stage by giving its `extractor.npz`.

Without `--data` it is a CPU demo on the embedded photographs: narrow
networks, 64 px contrastive crops, 20 steps per stage, `--variant rec`.

Example:
    $ python -m recipes.c2_matching --stage all --data CUFED/train/input --out runs/c2 --variant rec
    $ python -m recipes.c2_matching --stage restoration --out runs/c2 --variant gan --vgg-weights vgg19.weights.h5
    $ python -m recipes.c2_matching --resume --out runs/c2
"""

import copy
import dataclasses
import os
import sys
import typing

from keras_sr.training.recipe import field, write_recipe_json
from keras_sr.training.refsr import RefSRRecipe
from keras_sr.training.refsr_losses import CRITICS
from keras_sr.training.cli import recipe_from_args, run_recipe, recipe_main
from keras_sr.training.run import default_run_dir as run_dir

__all__ = ["C2MatchingRecipe", "run_c2_matching", "main", "OFFICIAL_VIEWS", "STAGE_CHOICES"]

STAGE_CHOICES = ("teacher", "student", "restoration", "all")
CONTRASTIVE_STAGES = ("teacher", "student")


def _official_views():
    """`ViewParams` of the official pair generation's magnitude: corners of 160 px moved by <= 10 px."""
    from keras_sr.data.reference_views import ViewParams

    return ViewParams(zoom=(0.94, 1.0 / 0.94), rotation_degrees=4.0, max_shift=0.06, perspective=0.06,
                      brightness=0.0, contrast=0.0, saturation=0.0)


OFFICIAL_VIEWS = _official_views()


@dataclasses.dataclass(frozen=True)
class C2MatchingRecipe(RefSRRecipe):
    """Train C2-Matching (Jiang et al., CVPR 2021): contrastive teacher, student, then restoration."""

    run_name: typing.ClassVar[str] = "c2_matching"

    model: str = field("c2_matching", "registered model name", flag=False)
    stage: str = field("all", "stages to run: teacher, student, restoration or all three in order",
                       choices=STAGE_CHOICES)
    variant: str = field("gan", "restoration losses: rec (L1 only, C2-Matching-rec) or gan (L1 + perceptual + "
                                "WGAN-GP)", choices=("rec", "gan"))
    # restoration (stage 3)
    steps: int = field(255_000, "restoration steps")
    init_steps: int = field(10_000, "gan variant: first steps on L1 only (net_g_pretrain_steps)")
    schedule: str = field("step", "restoration learning-rate schedule", choices=("step", "cosine", "constant"))
    lr_milestones: tuple = field((72_545, 211_040), "restoration step schedule milestones (x lr_gamma)")
    lr_gamma: float = field(0.1, "restoration step schedule decay")
    rec_weight: float = field(0.5, "L1 weight on [-1, 1] images (0.5 = the official 1.0 on [0, 1] images)")
    perceptual_weight: float = field(1e-4, "gan variant: VGG19 relu5_1 perceptual weight (official 1e-4)")
    tpl_weight: float = field(0.0, "texture loss weight (C2-Matching: none)", flag=False)
    adversarial_weight: float = field(1e-6, "gan variant: WGAN generator loss weight (official 1e-6)")
    d_steps: int = field(1, "critic steps per generator step (net_d_steps)")
    d_beta_1: float = field(0.9, "critic Adam beta_1")
    d_beta_2: float = field(0.999, "critic Adam beta_2")
    critic: str = field("c2_matching", "WGAN-GP critic (official: ImageDiscriminator, ndf 32)",
                        choices=CRITICS)
    perceptual_criterion: str = field("fro", "distance of the VGG features (official: fro, the Frobenius norm)",
                                      choices=("l1", "l2", "fro"))
    val_every: int = field(5_000, "validate every N restoration steps")
    checkpoint_every: int = field(5_000, "checkpoint every N steps (every stage)")
    steps_per_epoch: int = field(1_000, "restoration steps per log line / loader epoch")
    seed: int = field(10, "random seed (manual_seed)")
    lte_learning_rate: float = field(1e-5, "unused (C2-Matching has no LTE)", flag=False)
    offset_relu2_learning_rate: float = field(1e-5, "Adam learning rate of the relu2_1 (medium) dynamic aggregation's "
                                                    "offset convolutions (official lr_relu2_offset)")
    offset_relu3_learning_rate: float = field(1e-6, "Adam learning rate of the relu3_1 (small) dynamic aggregation's "
                                                    "offset convolutions (official lr_relu3_offset)")
    # C2-Matching's network (model_config)
    ngf: int = field(64, "restoration features")
    n_blocks: int = field(16, "residual blocks per restoration stage")
    groups: int = field(8, "deformable groups of the dynamic aggregation")
    vgg_widths: tuple = field((64, 128, 256), "reference VGG19 widths at relu1_1, relu2_1, relu3_1")
    ref_vgg_weights: str = field("", "ImageNet VGG19 .npz for the reference VGG (frozen, as official; empty: "
                                     "trained from scratch with the network)")
    chunk_size: int = field(1024, "patch-matching chunk size")
    # contrastive stages (1, 2)
    contrastive_widths: tuple = field((64, 128, 256), "contrastive extractor VGG16 widths (blocks 1-3)")
    teacher_steps: int = field(5_000, "teacher iterations (stage 1)")
    student_steps: int = field(75_000, "student iterations (stage 2)")
    student_lr_milestones: tuple = field((72_545,), "student steps where its learning rate is multiplied by 0.1")
    contrastive_learning_rate: float = field(1e-3, "contrastive stages' Adam learning rate")
    contrastive_patch_size: int = field(160, "contrastive crop size (HR pixels)")
    contrastive_batch_size: int = field(8, "contrastive batch size")
    margin: float = field(1.0, "contrastive margin")
    safe_radius: int = field(4, "negatives lie farther than this (feature pixels, Chebyshev)")
    min_valid: int = field(128, "skip pairs with fewer valid correspondences")
    distill_weight: float = field(15.0, "student: weight of the correlation distillation")
    temperature: float = field(0.15, "student: distillation temperature")
    contrastive_views: str = field("official", "contrastive views: official (corner moves <= 10/160) or strong "
                                               "(reference_views defaults)", choices=("official", "strong"))
    contrastive_init: str = field("", "VGG16 .npz (torchvision keys) or official extractor .npz to start stage 1 "
                                      "(and 2) from (official: ImageNet VGG16; empty: from scratch)")
    teacher_weights: str = field("", "a trained teacher's extractor.npz (skips stage 1)")
    extractor_weights: str = field("", "a trained student's extractor.npz for the restoration (skips stage 2)")
    eval_batches: int = field(4, "held-out batches for the correspondence accuracy")

    @classmethod
    def demo_defaults(cls, scale):
        return {"variant": "rec", "steps": 20, "teacher_steps": 20, "student_steps": 20,
                "student_lr_milestones": (), "contrastive_widths": (8, 16, 32), "vgg_widths": (8, 16, 32),
                "contrastive_patch_size": 64, "contrastive_batch_size": 4, "min_valid": 32, "ngf": 16,
                "n_blocks": 2, "groups": 2, "patch_size": 16, "batch_size": 4, "lr_milestones": (),
                "val_every": 20, "checkpoint_every": 10, "steps_per_epoch": 10, "val_images": 2, "eval_batches": 2}

    def validated(self):
        name = type(self).__name__
        if self.scale != 4:
            raise ValueError(f"{name}: C2-Matching is an x4 architecture, got scale {self.scale}")
        super().validated()
        if self.tpl_weight:
            raise ValueError(f"{name}: C2-Matching has no texture (TPL) loss; tpl_weight must be 0")
        for key in ("teacher_steps", "student_steps", "contrastive_batch_size", "eval_batches"):
            if getattr(self, key) < 1:
                raise ValueError(f"{name}: {key} must be >= 1, got {getattr(self, key)}")
        if self.contrastive_patch_size % 16:
            raise ValueError(f"{name}: contrastive_patch_size must be a multiple of 16, got "
                             f"{self.contrastive_patch_size}")
        if len(self.contrastive_widths) != 3 or len(self.vgg_widths) != 3:
            raise ValueError(f"{name}: contrastive_widths and vgg_widths need 3 values each")
        if any(w % self.groups for w in self.vgg_widths):
            raise ValueError(f"{name}: every vgg_widths value must be a multiple of groups {self.groups}")
        return self

    def model_config(self):
        config = {"scale": self.scale, "ngf": self.ngf, "n_blocks": self.n_blocks, "groups": self.groups,
                  "vgg_widths": tuple(self.vgg_widths), "contrastive_widths": tuple(self.contrastive_widths),
                  "chunk_size": self.chunk_size}
        if self.ref_vgg_weights:
            config["vgg_weights"] = self.ref_vgg_weights
        return config

    def learning_rate_groups(self, model):
        """The official Adam parameter groups: relu3_1 ("small") and relu2_1 ("medium") offset convolutions.

        Official `RefRestorationModel`: trainable parameters whose names hold "offset" and "small" train at
        `lr_relu3_offset`, "offset" and "medium" at `lr_relu2_offset`, other "offset" ones at `lr_offset`
        (equal to the main rate); here the variables of `small_dyn_agg` / `medium_dyn_agg` whose path
        holds "offset" (`offset_conv1`, `offset_conv2`, `dyn_agg/conv_offset_mask`).
        """
        def offsets(layer):
            return [v for v in model.trainable_variables
                    if layer in v.path.split("/")[:-1] and "offset" in v.path.split(layer + "/", 1)[-1]]

        return [("offset_relu3", self.offset_relu3_learning_rate, offsets("small_dyn_agg")),
                ("offset_relu2", self.offset_relu2_learning_rate, offsets("medium_dyn_agg"))]

    def contrastive_config(self, stage):
        """The `ContrastiveConfig` of contrastive `stage` ("teacher" or "student")."""
        from keras_sr.data.reference_views import ViewParams
        from keras_sr.training.contrastive_correspondence import ContrastiveConfig

        return ContrastiveConfig(
            widths=tuple(self.contrastive_widths), patch_size=self.contrastive_patch_size,
            batch_size=self.contrastive_batch_size, scale=self.scale, learning_rate=self.contrastive_learning_rate,
            lr_milestones=tuple(self.student_lr_milestones) if stage == "student" else (), lr_gamma=0.1,
            margin=self.margin, safe_radius=self.safe_radius, min_valid=self.min_valid,
            distill_weight=self.distill_weight, temperature=self.temperature, seed=self.seed,
            checkpoint_every=self.checkpoint_every, keep_checkpoints=self.keep_checkpoints,
            eval_batches=self.eval_batches, augment=self.augment,
            view_params=OFFICIAL_VIEWS if self.contrastive_views == "official" else ViewParams(),
            jit_compile=self.jit_compile, workers=self.workers or 1)


def default_run_dir(recipe):
    return run_dir(recipe, recipe.run_dir_name())


def _stages(stage):
    return ("teacher", "student", "restoration") if stage == "all" else (stage,)


def _need(path, what, flag):
    if not os.path.isfile(path):
        raise SystemExit(f"error: {what}: {path} not found (run the earlier stage into this --out, or pass {flag})")
    return path


def run_c2_matching(recipe_cls, args, log=print):
    """Run the recipe's stages from parsed `recipe_main` args; returns `{stage: result}`."""
    from keras_sr.training.contrastive_correspondence import load_and_freeze_extractor, train_contrastive

    if args.resume and not args.out:
        raise SystemExit("error: --resume needs --out RUN_DIR")
    recipe = recipe_from_args(recipe_cls, args)
    if "restoration" in _stages(recipe.stage):
        recipe.check_files()  # a missing --vgg-weights stops here, not after the contrastive stages
    out = args.out or default_run_dir(recipe)
    os.makedirs(out, exist_ok=True)
    write_recipe_json(out, recipe, recipe.model_config(), extra={"trainer": "c2_matching", "data": args.data})
    log(f"run directory: {out}; stages: {', '.join(_stages(recipe.stage))}")
    results = {}
    teacher_path = recipe.teacher_weights or os.path.join(out, "teacher", "extractor.npz")
    student_path = recipe.extractor_weights or os.path.join(out, "student", "extractor.npz")
    for stage in _stages(recipe.stage):
        if stage == "teacher":
            result = train_contrastive("teacher", recipe.teacher_steps, args.data, os.path.join(out, "teacher"),
                                       config=recipe.contrastive_config("teacher"), val_data=args.val_data,
                                       resume=args.resume, init_weights=recipe.contrastive_init or None, log=log)
            teacher_path = result.extractor_path
        elif stage == "student":
            _need(teacher_path, "the student stage needs the teacher's extractor", "--teacher-weights")
            result = train_contrastive("student", recipe.student_steps, args.data, os.path.join(out, "student"),
                                       teacher_weights=teacher_path, config=recipe.contrastive_config("student"),
                                       val_data=args.val_data, resume=args.resume,
                                       init_weights=recipe.contrastive_init or None, log=log)
            student_path = result.extractor_path
        else:
            _need(student_path, "the restoration stage needs the student's extractor", "--extractor-weights")
            log(f"restoration: contrastive extractor {student_path} (frozen)")
            stage_args = copy.copy(args)
            stage_args.out = os.path.join(out, "restoration")
            stage_args.resume = bool(args.resume)
            result = run_recipe(recipe_cls, stage_args, log=log, recipe=recipe,
                                      model_hook=load_and_freeze_extractor(student_path))
        results[stage] = result
    for stage in CONTRASTIVE_STAGES:
        if stage in results:
            r = results[stage]
            print(f"{stage}: held-out correspondence accuracy {r.accuracy_before:.3f} -> {r.accuracy_after:.3f} "
                  f"({r.steps} steps), {r.extractor_path}")
    return results


def main(argv=None):
    return recipe_main(C2MatchingRecipe, prog="recipes.c2_matching", run=run_c2_matching,
                       user_errors=(FileNotFoundError,))(argv)


if __name__ == "__main__":
    sys.exit(main())
