"""FAKD recipe: `python -m recipes.fakd --scale 4 --data DIV2K/HR --teacher runs/rcan_x4` (an RCAN student).

He, Wu, Xu, Ji, Hu, "FAKD: Feature-Affinity Based Knowledge Distillation for
Efficient Image Super-Resolution", ICIP 2020; official code
github.com/Vincent-Hoo/Knowledge-Distillation-for-Super-resolution (read:
`code/train.py`, `code/loss.py`, `code/feature_transformation.py`,
`code/models/rcan.py`, `code/option.py`, `code/scripts/train_rcan_SA_x*.sh`).

Kept from the official code:

* teacher: RCAN, 10 groups of 20 RCABs, 64 channels (15,592,355 parameters
  at x4 here; the official count adds two frozen 12-parameter MeanShift convs,
  15.59M); student: RCAN with 6 RCABs per group (`--num-blocks 6`,
  5,171,315 here, 5.17M), trained from scratch;
* loss `(1 - alpha) * L1(S, HR) + alpha * L1(S, T) + 10 * sum_k L1(A(S_k), A(T_k))`
  with alpha 0.5 (`--alpha 0.5 --feature_distilation_type 10*SA`) and `A`
  the spatial affinity (`keras_sr.training.distillation.spatial_affinity`);
* the features (`--features [1,2,3]`): the outputs of residual groups 3 and 7
  (`group_2`, `group_6`) and of the body, which the official code records as
  `body_tail`'s output and then adds the head to in place (`res += x`), so
  the stored map is the long skip's output (`long_skip`); at x3 the official
  script uses `[2,3]` only (`group_6`, `long_skip`);
* DIV2K, 16 LR patches of 48x48 per batch (`--patch_size` 96/144/192/384 HR
  at x2/x3/x4/x8), flips and rotations, Adam (0.9, 0.999, 1e-8), learning
  rate 1e-4 halved at epoch 150 of 200 (`--decay 150-300-450-600 --gamma
  0.5 --epochs 200`, 1000 updates an epoch: `batch_size * test_every / 800`
  images, 20 repeats): 200,000 steps, halved at 150,000.

Published (the paper's Table, Set5 x4 PSNR): student alone 32.321 dB,
student with FAKD 32.462 dB, teacher 32.638 dB (not reproduced here: no RCAN
teacher is shipped and DIV2K training needs a GPU).

No teacher is shipped: train one with `python -m recipes.rcan` and pass its
run directory (or `final.keras`) as `--teacher`, or convert the official
`RCAN_BIX4.pt` (the checkpoint FAKD's `train.py` loads as its teacher) with
`keras-sr convert RCAN_BIX4.pt --out rcan_x4.keras` and pass that file. Without `--data`: a CPU demo
on the embedded photographs, a small RCAN student (2 groups of 4 RCABs, 32
channels) distilled from the shipped `edsr_baseline_x<scale>` preset, its
group outputs and long skip paired with EDSR's `block_7`, `block_15` and
`long_skip` (the affinity needs equal spatial sizes only).

Example:
    $ python -m recipes.fakd --scale 4                                  # CPU demo
    $ python -m recipes.fakd --scale 4 --data DIV2K/HR --val-data Set5/HR --teacher runs/rcan_x4 --out runs/fakd_x4
    >>> FAKDRecipe.for_scale(4).model_config()["num_blocks"]
    6
"""

import dataclasses
import sys

from keras_sr.recipes.rcan import RCANRecipe
from keras_sr.training.cli import recipe_main
from keras_sr.training.recipe import field

__all__ = ["FAKDRecipe", "main", "PAPER_FEATURES"]

# The official scripts' `--features`: [1,2,3] at x2/x4/x8, [2,3] at x3 (train_rcan_SA_x*.sh).
PAPER_FEATURES = {2: "group_2,group_6,long_skip", 3: "group_6,long_skip", 4: "group_2,group_6,long_skip",
                  8: "group_2,group_6,long_skip"}


@dataclasses.dataclass(frozen=True)
class FAKDRecipe(RCANRecipe):
    """Distil an RCAN student (10 groups of 6 RCABs) from an RCAN teacher with FAKD (He et al., ICIP 2020)."""

    num_blocks: int = field(6, "RCABs per group of the student (the teacher: 20)")
    steps: int = field(200_000, "optimizer steps (200 epochs of 1000 updates)")
    lr_milestones: tuple = field((150_000,), "steps where the learning rate is halved (epoch 150 of 200)")
    distill_alpha: float = field(0.5, "(1 - a) * L1 to HR + a * L1 to the teacher's output (FAKD's alpha 0.5)")
    distill_feature_loss: str = field("affinity", "feature loss (FAKD: the spatial affinity)",
                                      choices=("affinity", "attention", "l1"))
    distill_feature_weight: float = field(10.0, "weight of each affinity term (FAKD's 10)")

    @classmethod
    def run_prefix(cls):
        return "fakd"

    def run_dir_name(self):
        return "fakd"

    @classmethod
    def scale_defaults(cls, scale):
        return {**super().scale_defaults(scale), "distill_features": PAPER_FEATURES.get(int(scale), "")}

    @classmethod
    def demo_defaults(cls, scale):
        return {**super().demo_defaults(scale), "teacher": f"edsr_baseline_x{int(scale)}",
                "distill_features": "group_0:block_7,group_1:block_15,long_skip"}

    def check_files(self, resuming=False):
        if not self.teacher:
            raise SystemExit("error: FAKD distils from a teacher: pass --teacher (a trained RCAN x"
                             f"{self.scale}: the run directory or final.keras of python -m recipes.rcan --scale "
                             f"{self.scale} ...)")


main = recipe_main(FAKDRecipe, prog="recipes.fakd")

if __name__ == "__main__":
    sys.exit(main())
