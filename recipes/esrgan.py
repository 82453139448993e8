"""ESRGAN recipe: `python -m recipes.esrgan --scale 4 --vgg-weights FILE --pretrained RUN/final.weights.h5`.

Wang et al., "ESRGAN: Enhanced Super-Resolution Generative Adversarial
Networks", ECCV Workshops 2018 (https://arxiv.org/abs/1809.00219), Sec. 4.1,
and the official code (xinntao/ESRGAN, BasicSR `train_ESRGAN_x4`): the
generator RRDBNet (23 RRDBs, 64 channels, growth 32) starts from the
PSNR-oriented model (`recipes.rrdbnet`, `--pretrained`); the VGG-style
discriminator sees 128x128 HR crops; batch 16; the generator loss
`L_G = L_percep + 5e-3 * L_G^Ra + 1e-2 * L1` with the perceptual loss the L1
distance of VGG19 `conv5_4` features *before* the activation, the
relativistic average GAN loss (`keras_sr.training.perceptual`), and L1 on
[0, 1] images; Adam (beta_1 0.9, beta_2 0.999) for both networks at 1e-4,
halved at 50k, 100k, 200k and 300k of 400k iterations. Flips and 90-degree
rotations. The per-scale rule keeps the HR crop at 128 (LR 32 at x4, 64 at
x2; RRDBNet supports x1, x2, x4).

The perceptual loss needs ImageNet VGG19 weights, which keras-sr does not
download: make the file once on a machine with internet access,

    python -c "import keras; keras.applications.VGG19(weights='imagenet', \
        include_top=False).save_weights('vgg19_imagenet.weights.h5')"

and pass `--vgg-weights vgg19_imagenet.weights.h5` (Keras's cached
`~/.keras/models/vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5` works
too). Without it the recipe stops and says so.

Without `--data` it is a CPU-sized demo on the embedded photographs: a
3-block, 32-channel RRDBNet and a 32-channel discriminator on 64x64 HR
crops, batch 8, 200 steps at constant 1e-4 (still needs `--vgg-weights`).
Held-out PSNR/SSIM are reported beside bicubic; they do not measure the
perceptual quality a GAN aims at (no LPIPS: its weights are not available).

Example:
    $ python -m recipes.rrdbnet --scale 4 --data DIV2K/HR --out runs/rrdbnet_x4          # PSNR-oriented first
    $ python -m recipes.esrgan --scale 4 --data DIV2K/HR --out runs/esrgan_x4 \\
          --vgg-weights vgg19_imagenet.weights.h5 --pretrained runs/rrdbnet_x4/final.weights.h5
    $ python -m recipes.esrgan --resume --out runs/esrgan_x4                                 # both networks
"""

import dataclasses
import sys

from keras_sr.training.cli import recipe_main
from keras_sr.training.gan import GANRecipe
from keras_sr.training.recipe import field

__all__ = ["ESRGANRecipe", "main", "HR_PATCH"]

HR_PATCH = 128


@dataclasses.dataclass(frozen=True)
class ESRGANRecipe(GANRecipe):
    """Train ESRGAN (Wang et al., ECCVW 2018): RRDBNet + VGG-style discriminator, RaGAN, perceptual conv5_4."""

    run_name = "esrgan"

    model: str = field("rrdbnet", "registered generator name", flag=False)
    discriminator: str = field("esrgan_discriminator", "registered discriminator name", flag=False)
    steps: int = field(400_000, "optimizer steps (each: one generator and one discriminator step)")
    learning_rate: float = field(1e-4, "initial generator learning rate (Adam)")
    d_learning_rate: float = field(1e-4, "initial discriminator learning rate (Adam, same schedule)")
    lr_milestones: tuple = field((50_000, 100_000, 200_000, 300_000), "steps where both learning rates are halved")
    gan_loss: str = field("ragan", "adversarial loss", choices=("ragan", "standard"))
    loss: str = field("l1", "pixel loss", choices=("l1", "charbonnier", "l2"))
    pixel_weight: float = field(1e-2, "weight of the L1 pixel loss (eta)")
    perceptual_weight: float = field(1.0, "weight of the VGG19 conv5_4 perceptual loss")
    adversarial_weight: float = field(5e-3, "weight of the relativistic adversarial loss (lambda)")
    perceptual_layer: str = field("conv5_4", "VGG19 layer (before the activation, as the paper)")
    perceptual_criterion: str = field("l1", "distance of the VGG features", choices=("l1", "l2"))
    num_blocks: int = field(23, "RRDBs in the trunk")
    filters: int = field(64, "trunk channels")
    growth_rate: int = field(32, "channels per dense conv")

    @classmethod
    def scale_defaults(cls, scale):
        return {"patch_size": HR_PATCH // int(scale)}

    @classmethod
    def demo_defaults(cls, scale):
        return {"patch_size": 64 // int(scale), "batch_size": 8, "steps": 200, "schedule": "constant",
                "num_blocks": 3, "filters": 32, "growth_rate": 16, "d_filters": 32, "d_dense_units": 64,
                "val_every": 100, "checkpoint_every": 50, "steps_per_epoch": 25, "val_images": 0}

    def model_config(self):
        return {"scale": self.scale, "num_blocks": self.num_blocks, "filters": self.filters,
                "growth_rate": self.growth_rate}


main = recipe_main(ESRGANRecipe, prog="recipes.esrgan")

if __name__ == "__main__":
    sys.exit(main())
