"""SRKD recipe: `python -m recipes.srkd --variant teacher ...`, then `--variant student --teacher RUN`.

Gao, Zhao, Li, Tong, "Image Super-Resolution Using Knowledge Distillation",
ACCV 2018. No official code was released, and the paper's text was not
available to this implementation: the networks are built as issue 23's seed
describes them (`keras_sr.models.srkd`: teacher conv + ReLU, 10 residual
blocks, deconvolution; student conv + ReLU, 3 depthwise-separable residual
blocks, deconvolution), and the distillation follows the seed's "loss on the
outputs and on intermediate features". Which of the paper's choices this
follows, and which are keras-sr's:

* from the seed (the paper's): the two architectures; a two-stage run, the
  teacher trained on HR alone, then the student with the frozen teacher; the
  student supervised by the HR image, the teacher's output and the teacher's
  intermediate features;
* keras-sr's choices (the paper's exact settings not checked):
  the feature term compares spatial statistic maps (`--distill-feature-loss
  attention`: the channel mean of squares at each position, normalised to
  unit mean; channel counts need not match) of student block k with teacher
  block round(10k / 3) - 1: `block_0:block_2, block_1:block_6,
  block_2:block_9`; weights `0.5 * L1(HR) + 0.5 * L1(teacher) + 1.0 * sum_k`;
  training as EDSR's paper setup (the base `Recipe`): 16 RGB LR patches of
  48x48, L1, Adam 1e-4 halved at 200,000 of 300,000 steps.

`--variant teacher` trains the teacher without distillation (a `--teacher` is
dropped: the recipe record shows `"teacher": ""`).
`--variant student` needs `--teacher`: the teacher's run directory (or any
x<scale> model with `--distill-features` naming its layers). Without
`--data`: a CPU demo on the embedded photographs, the student distilled from
the shipped `edsr_baseline_x<scale>` preset (student blocks 1-3 paired with
EDSR's `block_4`, `block_9`, `block_15`).

Example:
    $ python -m recipes.srkd --scale 4                                                 # CPU demo
    $ python -m recipes.srkd --scale 4 --variant teacher --data T91/HR BSD200/HR --out runs/srkd_teacher_x4
    $ python -m recipes.srkd --scale 4 --data T91/HR BSD200/HR --teacher runs/srkd_teacher_x4 --out runs/srkd_x4
    >>> SRKDRecipe.for_scale(4).model_config()
    {'scale': 4, 'variant': 'student', 'channels': 3, 'filters': 64, 'num_blocks': None}
"""

import dataclasses
import sys

from keras_sr.training.cli import recipe_main
from keras_sr.training.recipe import Recipe, field

__all__ = ["SRKDRecipe", "main", "TEACHER_BLOCK_OF"]

# Student block k (0-based) -> the teacher block at the same relative depth, round(10 (k + 1) / 3) - 1.
TEACHER_BLOCK_OF = {k: round(10 * (k + 1) / 3) - 1 for k in range(3)}
FEATURES = ",".join(f"block_{k}:block_{t}" for k, t in TEACHER_BLOCK_OF.items())


@dataclasses.dataclass(frozen=True)
class SRKDRecipe(Recipe):
    """Train the SRKD teacher, or distil the SRKD student from it (Gao et al., ACCV 2018)."""

    model: str = field("srkd", "registered model name", flag=False)
    variant: str = field("student", "teacher (10 residual blocks, trained alone) or student (3 depthwise-separable "
                                    "blocks, distilled from --teacher)", choices=("teacher", "student"))
    channels: int = field(3, "image channels (3: RGB, 1: Y)")
    filters: int = field(64, "channels of the body")
    num_blocks: int = field(0, "residual blocks (0: the variant's, 10 or 3)")
    distill_features: str = field(FEATURES, "student_layer:teacher_layer pairs (student block k <-> teacher block "
                                            "round(10 (k + 1) / 3) - 1)")
    distill_feature_loss: str = field("attention", "feature loss (spatial statistic maps)",
                                      choices=("affinity", "attention", "l1"))
    distill_feature_weight: float = field(1.0, "weight of each feature term")

    @classmethod
    def demo_defaults(cls, scale):
        return {"patch_size": 24, "batch_size": 16, "steps": 300, "learning_rate": 1e-3, "schedule": "cosine",
                "val_every": 100, "checkpoint_every": 100, "steps_per_epoch": 25, "val_images": 0,
                "teacher": f"edsr_baseline_x{int(scale)}", "distill_features": "block_0:block_4,block_1:block_9,"
                                                                              "block_2:block_15"}

    def run_dir_name(self):
        return f"srkd_{self.variant}"

    def validated(self):
        """Checked values; the teacher variant trains alone, so its `teacher` is cleared (the demo sets one)."""
        super().validated()
        if self.variant == "teacher" and (self.teacher or self.teacher_weights):
            return dataclasses.replace(self, teacher="", teacher_weights="")
        return self

    def check_files(self, resuming=False):
        if self.variant == "student" and not self.teacher:
            raise SystemExit(f"error: the SRKD student distils from a teacher: pass --teacher (e.g. the run of "
                             f"python -m recipes.srkd --variant teacher --scale {self.scale} ...)")

    def model_config(self):
        return {"scale": self.scale, "variant": self.variant, "channels": self.channels, "filters": self.filters,
                "num_blocks": self.num_blocks or None}


main = recipe_main(SRKDRecipe, prog="recipes.srkd")

if __name__ == "__main__":
    sys.exit(main())
