"""TTSR recipe: `python -m recipes.ttsr [--variant rec|gan] [--data DIR ...] [--steps N] [--vgg-weights FILE]`.

Yang, Yang, Fu, Lu, Guo, "Learning Texture Transformer Network for Image
Super-Resolution", CVPR 2020 (https://arxiv.org/abs/2006.04139), Sec. 4.1,
and the official `train.sh` / `option.py` (researchmm/TTSR): x4, 40x40 LR
patches with 160x160 references, batch 9, flips and rotations (LR/HR and the
reference augmented independently); Adam (0.9, 0.999, eps 1e-8) at 1e-4 for
the main network and 1e-5 for the LTE, constant; `L = L_rec + 1e-2 L_per
(VGG19 relu5_1, MSE) + 1e-2 L_tpl + 1e-3 L_adv (WGAN-GP, penalty 10, critic
Adam (0, 0.9) 1e-4, 2 critic steps per generator step)`, the first 2 epochs
on L_rec only; 2 + 50 epochs of CUFED (1,319 steps each at batch 9).
TTSR-rec (`--variant rec`) trains L_rec only, 200 epochs (`--steps 263800`).
The trainer: `keras_sr.training.refsr` (TensorFlow and JAX).

Training references: CUFED is not bundled, so by default every patch gets a
synthetic reference, a random homography view of its own image around the
patch (`keras_sr.data.reference_views`, C2-Matching's construction);
`--reference cufed5:K` / `pairs:FILE` uses given references
(`keras_sr.data.reference_sources`). `--variant gan` needs ImageNet VGG19
weights for the perceptual loss (`--vgg-weights FILE`; see
`keras_sr.training.perceptual`); the LTE starts from scratch unless
`--lte-weights VGG19.npz` (TTSR initializes it from ImageNet VGG19).

Without `--data`: an embedded CPU demo. It trains a small TTSR-rec
(4+4+2+1 residual blocks, 32 features, LTE widths 32/64/128, i.e. about
0.85M parameters instead of 6.7M) for 500 steps of batch 4 with 24x24 LR
patches and 96x96 synthetic references, at 5x the paper's learning rates
(5e-4, LTE 5e-5) for the short budget, on the scikit-image photographs
(without the motorcycle stereo pair), validates on chelsea and coffee, and
then super-resolves scikit-image's `motorcycle_left` (x4 LR by
`keras_sr.degradation.degrade`) with `motorcycle_right` as the reference and
with an unrelated reference (`chelsea`), printing PSNR/SSIM (Y, border 4)
beside bicubic and writing `comparison.png` and `final.keras` into the run
directory. It takes about 12 CPU-minutes (one run: 712 s of CPU time,
19 min wall clock on a shared 2-core machine); its numbers show the
pipeline works, not TTSR's published quality (one run: motorcycle 25.39 dB /
0.780 with the right view vs. bicubic 25.36 / 0.751).

Example:
    $ python -m recipes.ttsr --out runs/ttsr_demo                                         # CPU demo
    $ python -m recipes.ttsr --variant rec --data CUFED/train/input --steps 263800 --out runs/ttsr_rec
    $ python -m recipes.ttsr --data CUFED/train/input --vgg-weights vgg19_imagenet.weights.h5 --out runs/ttsr
    $ python -m recipes.ttsr --resume --out runs/ttsr
"""

import dataclasses
import json
import os
import sys

from keras_sr.training.recipe import field
from keras_sr.training.cli import recipe_main, run_recipe, recipe_from_args
from keras_sr.training.refsr import RefSRRecipe, predict_refsr
from keras_sr.data.sources import default_images
from keras_sr.degradation import degrade
from keras_sr.fileio import atomic_write_text
from keras_sr.image_io import save_image
from keras_sr.scoring import score_pair
from keras_sr.training.report import comparison_image, format_scores
from keras_sr.upscalers import bicubic_upscaler


__all__ = ["TTSRRecipe", "main", "run_demo_evaluation", "DEMO_EXCLUDED"]

DEMO_EXCLUDED = ("motorcycle_left", "motorcycle_right")  # the demo's test pair stays out of its training images


@dataclasses.dataclass(frozen=True)
class TTSRRecipe(RefSRRecipe):
    """Train TTSR (Yang et al., CVPR 2020): texture transformer RefSR, x4; variants rec (TTSR-rec) and gan (TTSR).

    Paper/official defaults: LR 40x40, reference 160x160, batch 9, Adam 1e-4 (LTE 1e-5), losses rec 1 +
    perceptual 1e-2 (VGG19 relu5_1) + TPL 1e-2 + WGAN-GP 1e-3 (penalty 10), 2 reconstruction-only epochs.
    References: synthetic views of each patch's own image (--reference synthetic), or --reference cufed5:K /
    pairs:FILE. --variant gan needs --vgg-weights FILE (ImageNet VGG19; keras-sr downloads nothing).

    Without --data: a CPU demo (small TTSR-rec, 500 steps on the scikit-image photographs), then
    motorcycle_left (x4) super-resolved with the stereo view motorcycle_right as the reference and with an
    unrelated reference (chelsea), PSNR/SSIM beside bicubic, comparison.png and final.keras in the run dir.
    """

    run_name = "ttsr"

    model: str = field("ttsr", "registered model name", flag=False)
    # TTSR's network (model_config)
    num_res_blocks: tuple = field((16, 16, 8, 4), "residual blocks of SFE and stages 1, 2, 3")
    n_feats: int = field(64, "features of the main network")
    texture_widths: tuple = field((64, 128, 256), "LTE widths at relu1_1, relu2_1, relu3_1 (VGG19's)")
    lte_weights: str = field("", "ImageNet VGG19 .npz to initialize the LTE (TTSR does; empty: from scratch)")

    @classmethod
    def scale_defaults(cls, scale):
        if int(scale) != 4:
            raise ValueError(f"TTSRRecipe: TTSR is an x4 architecture, got --scale {scale}.")
        return {}

    def model_config(self):
        config = {"scale": self.scale, "num_res_blocks": tuple(self.num_res_blocks), "n_feats": self.n_feats,
                  "texture_widths": tuple(self.texture_widths)}
        if self.lte_weights:
            config["vgg_weights"] = self.lte_weights
        return config

    @classmethod
    def demo_defaults(cls, scale):
        return {"variant": "rec", "num_res_blocks": (4, 4, 2, 1), "n_feats": 32, "texture_widths": (32, 64, 128),
                "patch_size": 24, "batch_size": 4, "steps": 500, "init_steps": 0, "steps_per_epoch": 25,
                "learning_rate": 5e-4, "lte_learning_rate": 5e-5, "val_every": 500, "checkpoint_every": 100,
                "val_images": 0}


def _demo_data():
    train, val = default_images()
    train = [p for p in train if os.path.splitext(os.path.basename(p))[0] not in DEMO_EXCLUDED]
    return train, val


def run_demo_evaluation(result, log=print, label=None):
    """The stereo-pair check: motorcycle_left (x4 LR) with motorcycle_right vs. an unrelated reference (chelsea)."""
    import numpy as np
    import skimage.data

    recipe = result.recipe
    scale = recipe.scale
    # the recipes of other RefSR models reuse this check under their own name
    label = label or getattr(recipe, "display_name", None) or "TTSR"
    left, right, _ = skimage.data.stereo_motorcycle()
    unrelated = np.asarray(skimage.data.chelsea())
    hr, lr = degrade(np.asarray(left), scale, "motorcycle_left")
    bicubic = bicubic_upscaler(lr, scale)
    sr_right = predict_refsr(result.model, lr, np.asarray(right), scale)
    sr_unrelated = predict_refsr(result.model, lr, unrelated, scale)
    rows = {}
    for row, image in (("bicubic", bicubic), (f"{label}, reference motorcycle_right", sr_right),
                       (f"{label}, unrelated reference (chelsea)", sr_unrelated)):
        psnr, ssim = score_pair(image, hr, scale)
        rows[row] = {"psnr": psnr, "ssim": ssim}
    table = format_scores(rows, title=f"motorcycle_left x{scale} (LR {lr.shape[1]}x{lr.shape[0]}), PSNR/SSIM on Y, "
                                      f"border {scale}:")
    print()
    print(table)
    panel = comparison_image(lr, hr, sr_right, scale, labels=("LR (nearest)", "bicubic", f"{label} (ref: right view)",
                                                              "HR"))
    path = os.path.join(result.run_dir, "comparison.png")
    save_image(path, panel)
    atomic_write_text(os.path.join(result.run_dir, "demo.json"), json.dumps(rows, indent=2))
    log(f"comparison: {path}")
    return rows


def run_ttsr(recipe_cls, args, log=print):
    """`run_recipe`; without `--data` on the demo images, then the motorcycle stereo evaluation."""
    if args.data:
        return run_recipe(recipe_cls, args, log)

    recipe = recipe_from_args(recipe_cls, args)  # the demo budget (no --data)
    train, val = _demo_data()
    args.data = train
    if not args.val_data:
        args.val_data = val
    log(f"demo: training images {[os.path.basename(p) for p in train]}, held out "
        f"{[os.path.basename(p) for p in args.val_data]}")
    result = run_recipe(recipe_cls, args, log, recipe=recipe)
    run_demo_evaluation(result, log, label=getattr(recipe_cls, "demo_label", "TTSR"))
    return result


main = recipe_main(TTSRRecipe, prog="recipes.ttsr", run=run_ttsr)

if __name__ == "__main__":
    sys.exit(main())
