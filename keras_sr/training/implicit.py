"""Recipes of the arbitrary-scale models (LIIF, Meta-SR) on the one `fit` engine.

LIIF and Meta-SR train on `(lr, coord, cell) -> rgb` query batches at scales
drawn per image or per batch (`keras_sr.data.implicit_dataset.ImplicitSRDataset`),
so `ImplicitRecipe` is an ordinary `Recipe` (trainer "fit": run folder,
atomic checkpoints, exact `--resume`, `log.csv`, EMA, mixed precision, the
recipe command line) with the engine's hooks filled in:

* `train_data(split, ...)`: the query batches (batch `i` of epoch `e` depends
  only on `(seed, e, i)`, so a resumed run draws the batches of an
  uninterrupted one);
* `prepare_network(network)`: `freeze_encoder` trains the decoder only;
* `init_from_target(network, source)`: `--init-from` an SR network copies its
  body into the encoder (by layer name); a run of the same model copies every
  weight;
* `eval_scales`: the scales `--eval-data` scores after training (integer and
  real, in- and out-of-distribution).

Validation during training and the held-out scores run at `scale` through the
query upscaler (`keras_sr.models.query_inference`), as `tools.evaluate` does.
The papers count epochs: LIIF halves the learning rate every 200 epochs of
1000 batches, i.e. at steps 200k, 400k, 600k and 800k of 1,000,000.

Example:
    >>> recipe = LIIFRecipe.for_scale(4, steps=2000, patch_size=24)
    >>> result = engine.train(recipe, data=["DIV2K/HR"], out="runs/liif")
    >>> result.final["psnr"]                  # held-out x4 through the query upscaler
"""

import dataclasses

from keras_sr.data.implicit_dataset import ImplicitSRDataset
from keras_sr.data.sources import usable_images
from keras_sr.training.recipe import Recipe, field

__all__ = ["ImplicitRecipe", "epoch_milestones"]


def epoch_milestones(every_epochs, epochs, steps_per_epoch):
    """Steps where a learning rate decayed "every `every_epochs` epochs" is multiplied by gamma."""
    return tuple(k * every_epochs * steps_per_epoch for k in range(1, (epochs - 1) // every_epochs + 1))


@dataclasses.dataclass(frozen=True)
class ImplicitRecipe(Recipe):
    """Fields shared by the arbitrary-scale recipes (defaults: LIIF's `train_edsr-baseline-liif.yaml`)."""

    model: str = field("liif", "registered model name", flag=False)
    scale: int = field(4, "the scale held-out validation runs at (training scales: scale_min..scale_max)")
    encoder: str = field("edsr_baseline", "LIIF encoder", choices=("edsr_baseline", "rdn"))
    normalization: str = field("liif", "encoder input normalisation (mean_shift: to start from a keras-sr EDSR)",
                               choices=("liif", "mean_shift", "none"))
    num_blocks: int = field(0, "encoder blocks (0: the encoder's default)")
    filters: int = field(0, "encoder channels (0: the encoder's default)")
    patch_size: int = field(48, "LR patch size (HR crop: round(patch_size * training scale))")
    scale_min: float = field(1.0, "smallest training scale (continuous, drawn per image)")
    scale_max: float = field(4.0, "largest training scale")
    scales: tuple = field((), "a discrete set of training scales instead (Meta-SR: 1.1 ... 4.0)")
    scale_per: str = field("image", "draw the scale per image (LIIF) or per batch (Meta-SR)", choices=("image", "batch"))
    sample_q: int = field(2304, "query pixels per image (0: every HR pixel)")
    batch_size: int = field(16, "images per batch")
    steps: int = field(1_000_000, "optimizer steps (LIIF: 1000 epochs of 1000 batches)")
    steps_per_epoch: int = field(1000, "steps per Keras epoch (LIIF: 800 DIV2K images x 20 repeats / 16)")
    lr_milestones: tuple = field(epoch_milestones(200, 1000, 1000), "steps where the learning rate is multiplied "
                                 "by lr_gamma (LIIF: every 200 epochs)")
    freeze_encoder: bool = field(False, "train only the decoder (the encoder keeps its --init-from weights)")
    eval_scales: tuple = field((2, 3, 4, 6, 8, 12), "scales --eval-data scores after training")
    val_images: int = field(0, "held-out validation images (0: all)")

    refuses = {"init_preset": "--init preset: arbitrary-scale models ship no preset; --init-from a preset name "
                              "copies an SR network's body into the encoder"}

    def validated(self):
        super().validated()
        if not self.scales and not 1.0 <= self.scale_min <= self.scale_max:
            raise ValueError(f"{type(self).__name__}: need 1 <= scale_min <= scale_max, got {self.scale_min}, "
                             f"{self.scale_max}")
        return self

    def model_config(self):
        config = {"encoder": self.encoder, "normalization": self.normalization}
        if self.num_blocks:
            config["num_blocks"] = self.num_blocks
        if self.filters:
            config["filters"] = self.filters
        return config

    @property
    def hr_patch_size(self):
        """The largest HR crop a batch takes (the patch at the largest training scale)."""
        return int(round(self.patch_size * (max(self.scales) if self.scales else self.scale_max)))

    def run_dir_name(self):
        return self.model

    # Engine hooks -------------------------------------------------------------------------------------------
    def train_data(self, split, seed=0, steps_per_epoch=None, loader=None, log=None):
        """`ImplicitSRDataset` query batches over the split's images (images too small for the crop are skipped)."""
        if split.kind != "images":
            raise ValueError(f"--data: arbitrary-scale training reads image folders, got {split.kind}.")
        need = self.hr_patch_size
        images, _, _, _ = usable_images(list(split.train), need, self.scale_max, self.patch_size, skip_small=True,
                                        too_small=lambda name, w, h: f"{name}: {w}x{h}")
        return ImplicitSRDataset(images, patch_size=self.patch_size, batch_size=self.batch_size,
                                 sample_q=self.sample_q, scale_min=self.scale_min, scale_max=self.scale_max,
                                 scales=self.scales or None, scale_per=self.scale_per, augment=self.augment,
                                 steps_per_epoch=steps_per_epoch or self.epoch_steps, seed=seed,
                                 workers=max(1, int(self.workers or 1)))

    def prepare_network(self, network):
        """Called on the built network before it is compiled: `freeze_encoder` freezes the encoder."""
        if self.freeze_encoder:
            network.get_layer("encoder").trainable = False

    def init_from_target(self, network, source):
        """Where `--init-from` copies into: every weight from a run of this model, else the encoder only."""
        names = {layer.name for layer in source.layers}
        return network if {"encoder", "decoder"} <= names else network.get_layer("encoder")
