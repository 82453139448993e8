"""LIIF recipe: `python -m recipes.liif` (CPU demo) or `python -m recipes.liif --data DIV2K/HR`.

Official setup (Chen et al., CVPR 2021; yinboc/liif
`configs/train-div2k/train_edsr-baseline-liif.yaml`): DIV2K HR, LR patches
of 48, the scale drawn from U(1, 4) for every image (the official wrapper
draws it per image, not per batch), the LR made by **PIL bicubic** as the
official code (keras-sr's evaluation stays MATLAB), 2,304 query pixels per
image, batch 16, L1, Adam 1e-4 halved every 200 epochs, 1000 epochs of 1000
batches (800 images x 20 repeats / 16), random h/v/diagonal flips.

Training runs on the `fit` engine (`keras_sr.training.implicit`): run folder,
atomic checkpoints, `--resume`, `log.csv`, held-out validation at `--scale`
through the query upscaler; `--eval-data DIR` scores the final model at every
`--eval-scales` value.

Without `--data` it is a CPU demo on the scikit-image photographs (`chelsea`
and `coffee` held out): the EDSR-baseline encoder starts from the shipped
`edsr_baseline_x4` preset's body (`--init-from edsr_baseline_x4`, the demo's
default, with EDSR's mean-shift input normalisation so the body sees what it
was trained on) and stays frozen, the MLP decoder trains for 1,500 batches of
6 LR patches of 24 with 576 queries each (scales U(1, 4) as the official run),
Adam 1e-3 with cosine decay to 0 (about 13 minutes on a 2-core CPU; 200 steps
ended 0.5 dB below bicubic, 1,500 end about 0.3 dB above it); then held-out
PSNR/SSIM beside bicubic at x4 (every HR pixel is one MLP query, which is
what makes LIIF's inference slow on a CPU).

Example:
    $ python -m recipes.liif --out runs/liif_demo
    $ python -m recipes.liif --data DIV2K/train_HR --encoder rdn --out runs/liif_rdn
    $ python -m recipes.liif --resume --out runs/liif_rdn
"""

import dataclasses
import sys

from keras_sr.training.cli import recipe_main, run_recipe
from keras_sr.training.implicit import ImplicitRecipe
from keras_sr.training.recipe import field

__all__ = ["LIIFRecipe", "main", "DEMO_INIT_FROM"]

DEMO_INIT_FROM = "edsr_baseline_x4"  # the demo's encoder: the shipped preset's body


@dataclasses.dataclass(frozen=True)
class LIIFRecipe(ImplicitRecipe):
    """Train LIIF (Chen et al., CVPR 2021) with the official setup; without --data, a CPU demo."""

    model: str = field("liif", "registered model name", flag=False)

    @classmethod
    def demo_defaults(cls, scale):
        return {"normalization": "mean_shift", "freeze_encoder": True, "patch_size": 24, "batch_size": 6,
                "sample_q": 576, "steps": 1500, "steps_per_epoch": 250, "learning_rate": 1e-3, "schedule": "cosine",
                "val_every": 500, "checkpoint_every": 250, "eval_scales": (4,)}


def _run(recipe_cls, args):
    if not args.data and args.init_from is None and not args.resume:
        args.init_from = DEMO_INIT_FROM
    return run_recipe(recipe_cls, args)


main = recipe_main(LIIFRecipe, prog="recipes.liif", run=_run)

if __name__ == "__main__":
    sys.exit(main())
