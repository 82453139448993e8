"""GLEAN recipe: `python -m recipes.glean --scale 16 --data FFHQ/images --vgg-weights vgg16.weights.h5 --bank FILE.pth`.

Chan et al., "GLEAN: Generative Latent Bank for Large-Factor Image
Super-Resolution" (CVPR 2021), Sec. 4, and mmagic's configs (read:
`configs/_base_/models/base_glean.py`, `configs/glean/glean_x16_2xb8_cat.py`,
`glean_x8_2xb8_cat.py`, `glean_x16_2xb8_ffhq.py`), on keras-sr's GAN trainer
(`keras_sr.training.gan`): generator `glean` with its StyleGAN2 latent bank
frozen, discriminator `stylegan2_discriminator` on the whole HR image;
`L_G = 1.0 * MSE + 1e-2 * perceptual + 1e-2 * GAN` (mmagic: `MSELoss`
loss_weight 1.0, `PerceptualLoss` VGG16 layer '21' = conv4_3 before its ReLU,
MSE criterion, perceptual_weight 1e-2; `GANLoss` vanilla, loss_weight 1e-2);
Adam (0.9, 0.99) at 1e-4 for both networks, batch 16 (2 GPUs x 8), 300k
iterations, horizontal flips; whole images (LR = out_size / scale, HR =
out_size: 256 for cats, 1024 for FFHQ).

Where keras-sr differs (marked): the pixel loss runs on [0, 1] images, where
mmagic's MSE on [-1, 1] images is 4x larger, so the weight is 4.0 for the same
objective; the VGG16 features are of the [0, 255] images preprocessed for the
weights file (mmagic feeds its [-1, 1] images to a VGG that normalises [0, 1]
inputs: the 1e-2 weight is kept, its scale is not the same); mmagic's cosine
schedule (T_max 600k, eta_min 1e-7, stopped at 300k) is approximated by keras-sr's
cosine over 300k steps down to 5e-5 (the value mmagic reaches at 300k); flips
only (`--augment` adds 90-degree rotations, off by default as mmagic has none).

The bank: `--bank FILE` is a released StyleGAN2 generator (mmagic's
`stylegan2-<cat|ffhq>-config-f-official_*.pth` or rosinality's `.pt`; the user
supplies it), loaded through `keras_sr.convert` into the bank before training
(mmagic starts the discriminator from the same file's `discriminator.*`: convert it with
`keras-sr convert FILE.pth --model stylegan2_discriminator --out d.keras` and pass
`--pretrained-discriminator d.keras`; without it the discriminator starts from scratch). Without `--bank` the bank is
random and frozen, which defeats GLEAN's purpose: the recipe says so.

Without `--data` it is a CPU-sized demo on the embedded photographs (8 -> 64,
x8): a bank of 32 channels, a 2-RRDB encoder, batch 4, 100 steps, a random
bank (say so); the perceptual loss still needs `--vgg-weights` ('random' for
a smoke run only).

Example:
    $ python -m recipes.glean --scale 8 --out-size 256 --data cats/train --val-data cats/test \\
          --vgg-weights vgg16_imagenet.weights.h5 --bank stylegan2-cat-config-f-official.pth
    >>> GLEANRecipe.for_scale(16).model_config()["out_size"]
    256
"""

import dataclasses
import sys

from keras_sr.training.cli import recipe_main
from keras_sr.training.gan import GANRecipe
from keras_sr.training.recipe import field
from keras_sr.convert import read_checkpoint
from keras_sr.convert.stylegan2 import load_stylegan2

__all__ = ["GLEANRecipe", "main", "load_bank"]


@dataclasses.dataclass(frozen=True)
class GLEANRecipe(GANRecipe):
    """Train GLEAN (Chan et al., CVPR 2021): StyleGAN2 latent bank, MSE + VGG16 perceptual + GAN (mmagic's weights)."""

    run_name = "glean"

    model: str = field("glean", "registered generator name", flag=False)
    discriminator: str = field("stylegan2_discriminator", "registered discriminator name", flag=False)
    out_size: int = field(256, "output (and bank) size: 256 (cat, car, ...) or 1024 (FFHQ)")
    batch_size: int = field(16, "global batch size (mmagic: 2 GPUs x 8)")
    steps: int = field(300_000, "optimizer steps (each: one generator and one discriminator step)")
    learning_rate: float = field(1e-4, "initial generator learning rate (Adam)")
    d_learning_rate: float = field(1e-4, "initial discriminator learning rate (Adam)")
    beta_2: float = field(0.99, "Adam beta_2 (mmagic: betas (0.9, 0.99))")
    schedule: str = field("cosine", "learning-rate schedule", choices=("step", "cosine", "constant"))
    min_learning_rate: float = field(5e-5, "cosine floor (mmagic's cosine reaches ~5e-5 at 300k of T_max 600k)")
    gan_loss: str = field("standard", "adversarial loss (mmagic: vanilla GAN)", choices=("ragan", "standard"))
    loss: str = field("l2", "pixel loss (mmagic: MSE)", choices=("l1", "charbonnier", "l2"))
    pixel_weight: float = field(4.0, "MSE weight on [0, 1] images (= mmagic's 1.0 on [-1, 1] images)")
    perceptual_weight: float = field(1e-2, "weight of the VGG16 conv4_3 perceptual loss (mmagic: 1e-2)")
    adversarial_weight: float = field(1e-2, "weight of the generator's GAN loss (mmagic: 1e-2)")
    perceptual_layer: str = field("conv4_3", "VGG16 layer (mmagic's '21': conv4_3 before the ReLU)")
    perceptual_criterion: str = field("l2", "distance of the VGG features (mmagic: mse)", choices=("l1", "l2"))
    vgg_variant: str = field("vgg16", "VGG of the perceptual loss", choices=("vgg16", "vgg19"))
    augment: bool = field(False, "flips and 90-degree rotations (off: whole aligned images; flips only)")
    style_channels: int = field(512, "StyleGAN2 latent size")
    channel_multiplier: int = field(2, "StyleGAN2 channel multiplier (config F: 2)")
    max_channels: int = field(512, "StyleGAN2 channel cap (512)")
    rrdb_channels: int = field(64, "encoder RRDB channels")
    num_rrdbs: int = field(23, "encoder RRDBs")
    growth_rate: int = field(32, "encoder RRDB growth channels")
    decoder_channels: int = field(64, "the decoder's last conv width")
    bank: str = field("", "released StyleGAN2 generator weights (.pth / .pt / .safetensors) for the latent bank")
    val_images: int = field(10, "held-out images (whole images of out_size; other sizes run tile by tile)")

    @classmethod
    def scale_defaults(cls, scale):
        return {"patch_size": 256 // int(scale)}

    @classmethod
    def for_scale(cls, scale, **overrides):
        if overrides.get("patch_size") is None:  # whole images: the LR patch is out_size / scale
            overrides["patch_size"] = int(overrides.get("out_size") or 256) // int(scale)
        return super().for_scale(scale, **overrides)

    @classmethod
    def demo_defaults(cls, scale):
        return {"out_size": 64, "patch_size": 64 // int(scale), "batch_size": 4, "steps": 100, "schedule": "constant",
                "style_channels": 32, "max_channels": 32, "rrdb_channels": 16, "num_rrdbs": 2, "growth_rate": 8,
                "decoder_channels": 16, "d_filters": 32, "val_every": 100, "checkpoint_every": 50,
                "steps_per_epoch": 25, "val_images": 1}

    def validated(self):
        super().validated()
        if self.hr_patch_size != self.out_size:
            raise ValueError(f"GLEANRecipe: GLEAN trains on whole images: patch_size x scale must be out_size "
                             f"{self.out_size}, got {self.patch_size} x {self.scale} = {self.hr_patch_size}")
        if self.batch_size > 4 and self.batch_size % 4:
            raise ValueError(f"GLEANRecipe: the StyleGAN2 discriminator's minibatch-stddev groups of 4 need a batch "
                             f"<= 4 or a multiple of 4, got {self.batch_size}")
        return self

    def check_files(self, resuming=False):
        import os

        super().check_files(resuming)
        if self.bank and not resuming and not os.path.isfile(self.bank):
            raise SystemExit(f"error: GLEANRecipe: --bank {self.bank}: file not found (a released StyleGAN2 "
                             "generator, e.g. mmagic's stylegan2-cat-config-f-official_*.pth)")

    def model_config(self):
        return {"scale": self.scale, "out_size": self.out_size, "style_channels": self.style_channels,
                "channel_multiplier": self.channel_multiplier, "max_channels": self.max_channels,
                "rrdb_channels": self.rrdb_channels, "num_rrdbs": self.num_rrdbs, "growth_rate": self.growth_rate,
                "decoder_channels": self.decoder_channels}

    def prepare_generator(self, generator, log):
        """Called by the GAN trainer on the new generator: the released StyleGAN2 weights into the bank."""
        if self.bank:
            load_bank(generator, self.bank, log)
        else:
            log("latent bank: random and frozen (no --bank): GLEAN needs a released StyleGAN2 generator")

    def discriminator_config(self):
        return {"input_size": self.hr_patch_size, "channel_multiplier": self.channel_multiplier,
                "max_channels": self.d_filters or self.max_channels}


def load_bank(generator, path, log=print):
    """Load a released StyleGAN2 generator file into GLEAN's `bank_*` layers (`keras_sr.convert.stylegan2`)."""

    state = read_checkpoint(path)
    load_stylegan2(generator, state)
    state.check_all_used()
    log(f"latent bank: StyleGAN2 weights from {path}")


main = recipe_main(GLEANRecipe, prog="recipes.glean")

if __name__ == "__main__":
    sys.exit(main())
