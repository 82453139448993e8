"""Shared base of the classic SISR recipes (SRCNN, FSRCNN, ESPCN, VDSR, DRCN, DRRN, LapSRN, RED, SRDenseNet).

The classic papers train on the BT.601 luma (Y) of the 91-image set (Yang et
al.) or of "291" (91 + BSD200), with an L2 loss, and report PSNR on Y. Their
solvers are Caffe/MatConvNet SGD schedules that run for days (SRCNN: 8e8
back-propagations); keras-sr trains the same architectures with Adam and a
cosine decay, the usual modern reimplementation choice, and says so in each
recipe. What each recipe keeps from its paper is listed in its docstring:
patch size, batch, loss, the data set named by `paper_data`, and the paper's
offline augmentation as a `tools.data_aug` command (`paper_data_aug`).

Data: `--data ../shared/data/T91/HR` reads random aligned crops (flips and
90-degree rotations) from whole images through the engine's loaders; the
paper's offline sub-image flow is the `tools.data_aug` command that
`python -m recipes.<name> --help` prints (`paper_data_aug`), then
`--data patches.h5`. Validation: `--val-data ../shared/data/Set5/HR` scores
Set5 with the evaluation protocol during training.

Example:
    >>> recipe = FSRCNNRecipe.for_scale(3, steps=1000)
    >>> recipe.y_only, recipe.loss, recipe.model_config()
    (True, 'l2', {'scale': 3, 'channels': 1, 'd': 56, 's': 12, 'm': 4})
"""

import dataclasses

from keras_sr.training.recipe import Recipe, field

__all__ = ["YChannelRecipe"]


@dataclasses.dataclass(frozen=True)
class YChannelRecipe(Recipe):
    """A classic SISR recipe: Y channel, L2 loss, Adam with cosine decay, the 91-image training set."""

    y_only: bool = field(True, "train on the Y channel only", flag=False)
    loss: str = field("l2", "pixel loss", choices=("l1", "charbonnier", "l2"))
    learning_rate: float = field(1e-3, "initial learning rate (Adam)")
    schedule: str = field("cosine", "learning-rate schedule", choices=("step", "cosine", "constant"))
    min_learning_rate: float = field(1e-5, "cosine schedule: final learning rate")
    batch_size: int = field(128, "global batch size (split over replicas)")
    steps: int = field(100_000, "optimizer steps")
    val_every: int = field(2_000, "validate on the held-out images every N steps (and at the end)")
    checkpoint_every: int = field(2_000, "write a checkpoint every N steps (and at the end)")
    val_images: int = field(0, "held-out images used for validation (0: all)")

    # The paper's training data, for the docs and `--help` (the recipe does not download anything).
    paper_data = "T91 (the 91 images of Yang et al.)"

    @classmethod
    def paper_data_aug(cls, scale):
        """The paper's offline sub-image extraction as `tools.data_aug` arguments (None: random crops only)."""
        return None

    @classmethod
    def describe(cls):
        text = super().describe()
        extra = f"\n\nPaper training data: {cls.paper_data}."
        aug = cls.paper_data_aug(3)
        if aug:
            extra += ("\nThe paper's sub-images (x3 shown): python -m tools.data_aug --input T91/HR "
                      f"--output patches/{cls.model_name()}_x3.h5 {' '.join(aug)} --use_h5py, then --data patches/"
                      f"{cls.model_name()}_x3.h5")
        return text + extra

    @classmethod
    def demo_defaults(cls, scale):
        return {"batch_size": 32, "steps": 600, "val_every": 200, "checkpoint_every": 100, "steps_per_epoch": 50}

    def model_config(self):
        return {"scale": self.scale, "channels": 1}
