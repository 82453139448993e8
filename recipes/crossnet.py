"""CrossNet recipe: `python -m recipes.crossnet [--data DIR ...] [--steps N]`.

Zheng, Ji, Wang, Liu, Fang, "CrossNet: An End-to-end Reference-based Super
Resolution Network using Cross-scale Warping", ECCV 2018
(https://arxiv.org/abs/1807.10547), and the official `train_multi_warping.py`
/ README (htzheng/ECCV2018_CrossNet_RefSR): Charbonnier loss (epsilon 1e-3 on
[0, 1] images), Adam at 1e-4 multiplied by 0.2 every 150,000 iterations
(`--step_size 150000 --gamma 0.2`) up to `max_iter` 1,000,000, batch 4 (the
README's "batchsize of 4"), whole-view crops (the light-field datasets' 320 x
512; here square 320 x 320 HR patches, `--patch-size 80` at x4, with a
reference of the same size: CrossNet concatenates the two). The official
Adam also has `weight_decay=5e-5`, an L2 term coupled to the gradient that
the keras-sr optimizers (AdamW's decoupled decay) do not reproduce, so the
default here is 0. CrossNet has one loss: `--variant rec` only. The network:
`keras_sr.models.crossnet` (the flow always from `lr_up` and the reference;
see its docstring).

Without `--data`: an embedded CPU demo (narrow FlowNet 8-64 and 16 features,
300 steps of batch 4 with 32 x 32 LR patches, learning rate 5e-4 constant),
then `recipes.ttsr`'s motorcycle stereo check. It shows the pipeline only.

Example:
    $ python -m recipes.crossnet --out runs/crossnet_demo                                 # CPU demo
    $ python -m recipes.crossnet --data CUFED/train/input --out runs/crossnet
"""

import dataclasses
import sys
import typing

from keras_sr.recipes.ttsr import run_ttsr
from keras_sr.training.cli import recipe_main
from keras_sr.training.recipe import field
from keras_sr.training.refsr import RefSRRecipe

__all__ = ["CrossNetRecipe", "main"]


@dataclasses.dataclass(frozen=True)
class CrossNetRecipe(RefSRRecipe):
    """Train CrossNet (Zheng et al., ECCV 2018): flow-based multiscale warping RefSR (x4 here).

    Official: Charbonnier, Adam 1e-4 x0.2 every 150k iterations to 1M, batch 4, HR crops with a same-size
    reference. Without --data: a CPU demo (narrow CrossNet, 300 steps on the scikit-image photographs).
    """

    run_name: typing.ClassVar[str] = "crossnet"
    demo_label: typing.ClassVar[str] = "CrossNet"

    model: str = field("crossnet", "registered model name", flag=False)
    variant: str = field("rec", "losses: rec (Charbonnier; CrossNet has no other)", choices=("rec",))
    patch_size: int = field(80, "LR patch size (HR patch = 4x; the HR side must be a multiple of 64)")
    batch_size: int = field(4, "batch size (official README: 4)")
    steps: int = field(1_000_000, "optimizer steps (official max_iter)")
    init_steps: int = field(0, "unused (no GAN stage)", flag=False)
    loss: str = field("charbonnier", "pixel loss (official CharbonnierLoss)", choices=("l1", "charbonnier", "l2"))
    charbonnier_epsilon: float = field(1e-3, "Charbonnier epsilon on [0, 1] images (official 0.001)")
    schedule: str = field("step", "learning-rate schedule", choices=("step", "cosine", "constant"))
    lr_milestones: tuple = field(tuple(range(150_000, 1_000_000, 150_000)), "step schedule milestones (every 150k)")
    lr_gamma: float = field(0.2, "step schedule decay (official gamma 0.2)")
    tpl_weight: float = field(0.0, "texture loss weight (CrossNet: none)", flag=False)
    lte_learning_rate: float = field(1e-4, "unused (CrossNet has no LTE)", flag=False)
    val_every: int = field(50_000, "validate every N steps")
    checkpoint_every: int = field(5_000, "checkpoint every N steps (official snapshot 5000)")
    steps_per_epoch: int = field(1_000, "steps per log line / loader epoch")
    # CrossNet's network (model_config)
    flow_widths: tuple = field((64, 128, 256, 512, 512, 1024), "FlowNet widths of conv1 .. conv6")
    features: int = field(64, "encoder/decoder features")

    @classmethod
    def scale_defaults(cls, scale):
        if int(scale) != 4:
            raise ValueError(f"CrossNetRecipe: keras-sr's CrossNet is built for x4, got --scale {scale}.")
        return {}

    def validated(self):
        super().validated()
        name = type(self).__name__
        if self.hr_patch_size % 64:
            raise ValueError(f"{name}: the HR patch ({self.hr_patch_size}) must be a multiple of 64 (FlowNet's six "
                             f"stride-2 levels): use a patch_size that is a multiple of 16")
        if self.ref_size != self.hr_patch_size:
            raise ValueError(f"{name}: the reference must be the HR patch size ({self.hr_patch_size}); got "
                             f"ref_patch_size {self.ref_size}")
        if self.tpl_weight:
            raise ValueError(f"{name}: CrossNet has no texture (TPL) loss; tpl_weight must be 0")
        return self

    def model_config(self):
        return {"scale": self.scale, "flow_widths": tuple(self.flow_widths), "features": self.features}

    @classmethod
    def demo_defaults(cls, scale):
        return {"flow_widths": (8, 16, 32, 32, 32, 64), "features": 16, "patch_size": 32, "batch_size": 4,
                "steps": 300, "schedule": "constant", "learning_rate": 5e-4, "steps_per_epoch": 25, "val_every": 300,
                "checkpoint_every": 100, "val_images": 0}


main = recipe_main(CrossNetRecipe, prog="recipes.crossnet", run=run_ttsr)

if __name__ == "__main__":
    sys.exit(main())
