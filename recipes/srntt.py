"""SRNTT recipe: `python -m recipes.srntt [--variant rec|gan] [--data DIR ...] [--steps N] [--vgg-weights FILE]`.

Zhang, Wang, Lin, Qi, "Image Super-Resolution by Neural Texture Transfer",
CVPR 2019 (https://arxiv.org/abs/1903.00834), and the official defaults of
`SRNTT.train` (github.com/ZZUTK/SRNTT, `SRNTT/model.py`): x4, 40x40 LR
patches (160x160 HR) with 160x160 references, batch 9, Adam (beta_1 0.9) at
1e-4, multiplied by 0.1 halfway through the main epochs (staircase); 5
initial epochs on the reconstruction loss only, then 100 epochs with
`L = 1 L_rec (L1 on [-1, 1]) + 1e-4 L_per (VGG19 relu5_1, MSE) + 1e-4
L_tex + 1e-6 L_adv (WGAN-GP, penalty 10) + 1 L_bp`; the critic's Adam also
beta_1 0.9 at 1e-4. SRNTT-rec (`--variant rec`) trains the reconstruction
loss only. The trainer is `keras_sr.training.refsr` (TensorFlow and JAX).

Differences from the official training, said plainly:

* the texture loss (Gram matrices of the SR's VGG19 relu1_1..relu3_1 against
  the swapped maps) and the back-projection loss are not implemented by the
  RefSR trainer: their weights are 0 here (`tpl_weight` is TTSR's texture loss
  and needs TTSR's layers);
* the official loop trains each batch twice, the second time with the HR
  image's own VGG maps as the "swapped" textures ("train with truth"), and
  steps the critic about twice per generator step before the generator; here
  one generator step then `d_steps` (2) critic steps per batch;
* the critic is C2-Matching's `ImageDiscriminator` (`--critic c2_matching`,
  which derives from SRNTT's: BN + leaky ReLU convs), with global pooling
  where SRNTT's flattens into a 1024-unit dense layer;
* the official training starts from a pre-trained content extractor (an
  SRGAN-style SR network, `upscale.npz`) and trains only the texture transfer
  network. `--content-weights RUN/final.weights.h5` (a trained model of the
  same configuration) loads its `content_extractor` and freezes it; without
  it the content extractor is trained with the rest (no pre-trained one is
  shipped).
* the VGG19 matching network is fixed as in SRNTT, from ImageNet weights only
  with `--matching-vgg-weights FILE.npz` (torchvision keys), else random.

CUFED is not bundled: references are synthetic views of each patch's own
image (`--reference synthetic`) unless `--reference cufed5:K` / `pairs:FILE`.
`--refs-per-sample K` trains with K references per patch (SRNTT pools them).

Without `--data`: a CPU demo (a narrow SRNTT-rec, 8 texture blocks, 2 content
blocks, 32 features, VGG widths 16/32/64, 200 steps of batch 4 on 24x24 LR
patches, the learning rate x5 for the short budget) on the scikit-image
photographs, then `motorcycle_left` with `motorcycle_right` and with an
unrelated reference, as `recipes.ttsr`'s demo.

Example:
    $ python -m recipes.srntt --out runs/srntt_demo                                      # CPU demo
    $ python -m recipes.srntt --variant rec --data CUFED/train/input --out runs/srntt_rec
    $ python -m recipes.srntt --data CUFED/train/input --vgg-weights vgg19.weights.h5 --content-weights runs/srntt_rec/final.weights.h5
"""

import dataclasses
import os
import sys
import typing

from keras_sr.training.recipe import field
from keras_sr.training.refsr import CUFED_STEPS_PER_EPOCH, RefSRRecipe
from keras_sr.training.refsr_losses import CRITICS
from keras_sr.recipes.ttsr import _demo_data, run_demo_evaluation
from keras_sr.training.cli import recipe_from_args, run_recipe, recipe_main


__all__ = ["SRNTTRecipe", "main", "run_srntt_family", "load_and_freeze_content_extractor"]


@dataclasses.dataclass(frozen=True)
class SRNTTRecipe(RefSRRecipe):
    """Train SRNTT (Zhang et al., CVPR 2019): patch swap on VGG19 + texture transfer network, x4."""

    run_name: typing.ClassVar[str] = "srntt"
    display_name: typing.ClassVar[str] = "SRNTT"

    model: str = field("srntt", "registered model name", flag=False)
    # the network (model_config)
    num_res_blocks: int = field(16, "texture transfer residual blocks at 1x (2x: half, 4x: a quarter)")
    content_blocks: int = field(16, "content extractor residual blocks")
    n_feats: int = field(64, "features")
    vgg_widths: tuple = field((64, 128, 256), "VGG19 widths at relu1_1, relu2_1, relu3_1")
    matching_vgg_weights: str = field("", "ImageNet VGG19 .npz (torchvision keys) for the fixed matching network "
                                          "(empty: random, fixed)")
    content_weights: str = field("", "a trained .weights.h5 of this model: load its content_extractor and freeze it "
                                     "(SRNTT trains the texture transfer on a pre-trained content extractor)")
    # training (official SRNTT.train defaults)
    steps: int = field(105 * CUFED_STEPS_PER_EPOCH, "generator steps (5 init + 100 CUFED epochs of 1,319 steps)")
    init_steps: int = field(5 * CUFED_STEPS_PER_EPOCH, "gan variant: first steps on the reconstruction loss only "
                                                       "(5 epochs)")
    schedule: str = field("step", "learning-rate schedule", choices=("step", "cosine", "constant"))
    lr_milestones: tuple = field((55 * CUFED_STEPS_PER_EPOCH,), "x lr_gamma halfway through the 100 main epochs")
    lr_gamma: float = field(0.1, "step schedule decay (official 0.1)")
    perceptual_weight: float = field(1e-4, "gan variant: VGG19 relu5_1 MSE perceptual weight (official 1e-4)")
    tpl_weight: float = field(0.0, "texture loss weight: SRNTT's Gram-matrix texture loss is not implemented "
                                   "(official 1e-4)", flag=False)
    adversarial_weight: float = field(1e-6, "gan variant: WGAN generator weight (official 1e-6)")
    critic: str = field("c2_matching", "WGAN-GP critic (c2_matching: SRNTT-style BN critic)", choices=CRITICS)
    d_beta_1: float = field(0.9, "critic Adam beta_1 (official 0.9)")
    d_beta_2: float = field(0.999, "critic Adam beta_2")
    val_every: int = field(5 * CUFED_STEPS_PER_EPOCH, "validate every N steps (and at the end)")
    checkpoint_every: int = field(5 * CUFED_STEPS_PER_EPOCH, "checkpoint every N steps (and at the end)")

    @classmethod
    def scale_defaults(cls, scale):
        if int(scale) != 4:
            raise ValueError(f"{cls.__name__}: {cls.display_name} is an x4 architecture, got --scale {scale}.")
        return {}

    def model_config(self):
        config = {"scale": self.scale, "num_res_blocks": int(self.num_res_blocks),
                  "content_blocks": int(self.content_blocks), "n_feats": int(self.n_feats),
                  "vgg_widths": tuple(self.vgg_widths)}
        if self.matching_vgg_weights:
            config["vgg_weights"] = self.matching_vgg_weights
        return config

    def check_files(self, resuming=False):
        super().check_files(resuming)
        for flag, path in (("--content-weights", self.content_weights),
                           ("--matching-vgg-weights", self.matching_vgg_weights)):
            if path and not os.path.isfile(path):
                raise SystemExit(f"error: {type(self).__name__}: {flag} {path}: file not found")

    @classmethod
    def demo_defaults(cls, scale):
        return {"variant": "rec", "num_res_blocks": 8, "content_blocks": 2, "n_feats": 32, "vgg_widths": (16, 32, 64),
                "patch_size": 24, "batch_size": 4, "steps": 200, "init_steps": 0, "steps_per_epoch": 25,
                "learning_rate": 5e-4, "schedule": "constant", "val_every": 200, "checkpoint_every": 100,
                "val_images": 0}


def load_and_freeze_content_extractor(path, recipe):
    """`model_hook`: copy the `content_extractor` of a trained `.weights.h5` (same config) and freeze it."""

    def hook(model):
        donor = recipe.build_model()
        donor.load_weights(path)
        layer = model.get_layer("content_extractor")
        layer.set_weights(donor.get_layer("content_extractor").get_weights())
        layer.trainable = False

    return hook


def run_srntt_family(recipe_cls, args, log=print):
    """`run_recipe` with the content-extractor hook; without `--data` the demo and its stereo-pair check."""

    recipe = recipe_from_args(recipe_cls, args)
    content = getattr(recipe, "content_weights", "")
    hook = load_and_freeze_content_extractor(content, recipe) if content else None
    if content:
        log(f"content extractor: {content} (frozen)")
    if args.data:
        return run_recipe(recipe_cls, args, log, recipe=recipe, model_hook=hook)
    train, val = _demo_data()
    args.data = train
    if not args.val_data:
        args.val_data = val
    log(f"demo: training images {[os.path.basename(p) for p in train]}, held out "
        f"{[os.path.basename(p) for p in args.val_data]}")
    result = run_recipe(recipe_cls, args, log, recipe=recipe, model_hook=hook)
    run_demo_evaluation(result, log)
    return result


def main(argv=None):
    return recipe_main(SRNTTRecipe, prog="recipes.srntt", run=run_srntt_family)(argv)


if __name__ == "__main__":
    sys.exit(main())
