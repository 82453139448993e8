"""Real-ESRGAN recipe: `python -m recipes.realesrgan --scale 4 --vgg-weights FILE --pretrained ESRNET.weights.h5`.

Wang et al., "Real-ESRGAN", ICCVW 2021 (https://arxiv.org/abs/2107.10833),
Sec. 3.3 and 4.1, and xinntao/Real-ESRGAN `options/train_realesrgan_x4plus.yml`
(`x2plus`: the same at scale 2) with `RealESRGANModel.optimize_parameters`:
the Real-ESRNet setup (`recipes.realesrnet`: RRDBNet, on-the-fly second-order
degradations, pool 180, batch 12, EMA 0.999, Adam (0.9, 0.99)) plus the
U-Net discriminator with spectral normalization (`unet_discriminator_sn`),
both networks at 1e-4 for 400k iterations; the generator loss
`L1 + perceptual + 0.1 * GAN` with L1 (weight 1) and the perceptual loss
(L1 of VGG19 features before the activation, layer weights conv1_2 0.1,
conv2_2 0.1, conv3_4 1, conv4_4 1, conv5_4 1) against the USM-sharpened HR
(`l1_gt_usm`, `percep_gt_usm`), the vanilla GAN loss (`gan_type: vanilla`:
binary cross-entropy on the per-pixel logits) with the unsharpened HR as the
real images (`gan_gt_usm: False`). The official run starts from
RealESRNet_x4plus (`--pretrained`, the `recipes.realesrnet` run).

The perceptual loss needs ImageNet VGG19 weights, which keras-sr does not
download (see `recipes.esrgan`); without `--vgg-weights` the recipe stops and
says so.

Without `--data` it is a CPU-sized demo on the embedded photographs: a
2-block, 16-channel RRDBNet and an 8-channel U-Net discriminator, 96x96
degradation crops, 64x64 HR patches, batch 4, pool 8, 60 steps.

Example:
    $ python -m recipes.realesrgan --scale 4 --data DF2K/HR --out runs/realesrgan_x4 \\
          --vgg-weights vgg19_imagenet.weights.h5 --pretrained runs/realesrnet_x4/final.weights.h5
    $ python -m recipes.realesrgan --vgg-weights vgg19_imagenet.weights.h5     # CPU demo
"""

import dataclasses
import sys

from keras_sr.training.cli import recipe_main
from keras_sr.training.recipe import field

from keras_sr.recipes.realesrnet import RealESRNetRecipe

__all__ = ["RealESRGANRecipe", "main", "PERCEPTUAL_LAYERS", "parse_layer_weights"]

PERCEPTUAL_LAYERS = "conv1_2:0.1,conv2_2:0.1,conv3_4:1,conv4_4:1,conv5_4:1"


def parse_layer_weights(text):
    """`"conv1_2:0.1,conv5_4:1"` -> `{"conv1_2": 0.1, "conv5_4": 1.0}` (a bare name weighs 1)."""
    weights = {}
    for item in filter(None, (part.strip() for part in str(text).split(","))):
        name, _, weight = item.partition(":")
        try:
            weights[name.strip()] = float(weight) if weight else 1.0
        except ValueError as err:
            raise ValueError(f"perceptual_layers: {item!r} is not NAME:WEIGHT") from err
    if not weights:
        raise ValueError("perceptual_layers: no layer given")
    return weights


@dataclasses.dataclass(frozen=True)
class RealESRGANRecipe(RealESRNetRecipe):
    """Train Real-ESRGAN (Wang et al., ICCVW 2021): RRDBNet + U-Net SN discriminator, L1 + perceptual + 0.1 GAN."""

    run_name = "realesrgan"

    discriminator: str = field("unet_discriminator_sn", "registered discriminator name", flag=False)
    steps: int = field(400_000, "optimizer steps (each: one generator and one discriminator step)")
    learning_rate: float = field(1e-4, "initial generator learning rate (Adam)")
    d_learning_rate: float = field(1e-4, "initial discriminator learning rate (Adam, same schedule)")
    lr_milestones: tuple = field((400_000,), "steps where both learning rates are halved")
    gan_loss: str = field("standard", "adversarial loss (vanilla GAN: binary cross-entropy)",
                          choices=("ragan", "standard"))
    pixel_weight: float = field(1.0, "weight of the L1 loss (against the USM-sharpened HR)")
    perceptual_weight: float = field(1.0, "weight of the VGG19 perceptual loss (against the USM-sharpened HR)")
    adversarial_weight: float = field(0.1, "weight of the generator's GAN loss")
    perceptual_layers: str = field(PERCEPTUAL_LAYERS, "VGG19 layers and weights of the perceptual loss (before the "
                                                      "activation), NAME:WEIGHT,...")
    perceptual_criterion: str = field("l1", "distance of the VGG features", choices=("l1", "l2"))

    @classmethod
    def demo_defaults(cls, scale):
        return {**super().demo_defaults(scale), "d_filters": 8, "learning_rate": 1e-4}

    def validated(self):
        super().validated()
        parse_layer_weights(self.perceptual_layers)
        return self

    def perceptual_layer_weights(self):
        return parse_layer_weights(self.perceptual_layers)


main = recipe_main(RealESRGANRecipe, prog="recipes.realesrgan")

if __name__ == "__main__":
    sys.exit(main())
