"""SRGAN recipe: `python -m recipes.srgan --scale 4 --vgg-weights FILE --pretrained RUN/final.weights.h5`.

Ledig et al., "Photo-Realistic Single Image Super-Resolution Using a
Generative Adversarial Network", CVPR 2017 (https://arxiv.org/abs/1609.04802),
Sec. 2.2 and 3.2: the SRResNet generator (16 residual blocks with batch norm
and PReLU, the "srgan" variant) initialized from the MSE-trained SRResNet
(`recipes.srresnet`, `--pretrained`), the paper's discriminator on 96x96 HR
crops, batch 16; the perceptual loss `l_SR = l_VGG54 + 1e-3 * l_Gen`: the
content loss is the mean squared distance of VGG19 `relu5_4` features (the
activation of the 4th conv before the 5th max-pool, "VGG54"), rescaled by
1/12.75 ("VGG losses of a scale comparable to the MSE loss"), no pixel loss,
and the standard adversarial loss with the non-saturating `-log D(G(I_LR))`;
Adam (beta_1 0.9) for both networks, 1e-4 for 1e5 updates then 1e-5 for
another 1e5 (`lr_milestones` 100000, `lr_gamma` 0.1). The per-scale rule
keeps the HR crop at 96 (LR 24 at x4).

The perceptual loss needs ImageNet VGG19 weights (`--vgg-weights`, see
`recipes.esrgan` or the error message for the one-line command that makes
the file); without them the recipe stops and says so.

Without `--data`: a CPU-sized demo (a 4-block, 32-channel SRResNet and a
32-channel discriminator on 64x64 HR crops, 48x48 at x3, batch 8, 200 steps
at a constant 1e-4), still with `--vgg-weights`. Held-out PSNR/SSIM are
printed beside bicubic; they do not measure perceptual quality (no LPIPS
weights here).

Example:
    $ python -m recipes.srresnet --scale 4 --data DIV2K/HR --out runs/srresnet_x4           # MSE first
    $ python -m recipes.srgan --scale 4 --data DIV2K/HR --out runs/srgan_x4 \\
          --vgg-weights vgg19_imagenet.weights.h5 --pretrained runs/srresnet_x4/final.weights.h5
"""

import dataclasses
import sys

from keras_sr.training.cli import recipe_main
from keras_sr.training.gan import GANRecipe
from keras_sr.training.recipe import field

__all__ = ["SRGANRecipe", "main", "HR_PATCH", "VGG_RESCALE"]

HR_PATCH = 96
VGG_RESCALE = 1.0 / 12.75  # SRGAN Sec. 3.2: feature maps rescaled by 1/12.75
DEMO_LR_PATCH = {2: 32, 3: 16, 4: 16, 8: 8}  # HR 64 / 48 / 64 / 64: multiples of 16 for the discriminator


@dataclasses.dataclass(frozen=True)
class SRGANRecipe(GANRecipe):
    """Train SRGAN (Ledig et al., CVPR 2017): SRResNet + discriminator, VGG54 content loss, standard GAN loss."""

    run_name = "srgan"

    model: str = field("srresnet", "registered generator name", flag=False)
    discriminator: str = field("srgan_discriminator", "registered discriminator name", flag=False)
    variant: str = field("srgan", "SRResNet variant (srgan: the paper's, batch norm + PReLU; msrresnet: BasicSR's)",
                         choices=("srgan", "msrresnet"))
    steps: int = field(200_000, "optimizer steps (each: one generator and one discriminator step)")
    learning_rate: float = field(1e-4, "initial generator learning rate (Adam)")
    d_learning_rate: float = field(1e-4, "initial discriminator learning rate (Adam, same schedule)")
    lr_milestones: tuple = field((100_000,), "steps where both learning rates are multiplied by lr_gamma")
    lr_gamma: float = field(0.1, "decay factor at each milestone (1e-4 -> 1e-5)")
    gan_loss: str = field("standard", "adversarial loss", choices=("ragan", "standard"))
    loss: str = field("l2", "pixel loss (only with --pixel-weight > 0: SRGAN-MSE uses MSE)",
                      choices=("l1", "charbonnier", "l2"))
    pixel_weight: float = field(0.0, "weight of the pixel loss (0: the VGG54 model)")
    perceptual_weight: float = field(1.0, "weight of the VGG54 content loss")
    adversarial_weight: float = field(1e-3, "weight of the adversarial loss")
    perceptual_layer: str = field("relu5_4", "VGG19 layer (VGG54: after the activation)")
    perceptual_criterion: str = field("l2", "distance of the VGG features", choices=("l1", "l2"))
    feature_scale: float = field(VGG_RESCALE, "VGG features are multiplied by this (1/12.75)")
    num_blocks: int = field(16, "residual blocks")
    filters: int = field(64, "channels")

    @classmethod
    def scale_defaults(cls, scale):
        return {"patch_size": HR_PATCH // int(scale)}

    @classmethod
    def demo_defaults(cls, scale):
        return {"patch_size": DEMO_LR_PATCH[int(scale)], "batch_size": 8, "steps": 200, "schedule": "constant",
                "num_blocks": 4, "filters": 32, "d_filters": 32, "d_dense_units": 64, "val_every": 100,
                "checkpoint_every": 50, "steps_per_epoch": 25, "val_images": 0}

    def model_config(self):
        return {"scale": self.scale, "variant": self.variant, "num_blocks": self.num_blocks, "filters": self.filters}


main = recipe_main(SRGANRecipe, prog="recipes.srgan")

if __name__ == "__main__":
    sys.exit(main())
