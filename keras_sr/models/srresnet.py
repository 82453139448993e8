"""SRResNet (the SRGAN generator), BasicSR's MSRResNet, and the SRGAN discriminator.

Ledig et al., "Photo-Realistic Single Image Super-Resolution Using a Generative
Adversarial Network", CVPR 2017 (https://arxiv.org/abs/1609.04802), Fig. 4.
No official code was released; the "srgan" variant follows the paper figure:

    conv 9x9 (64) -> PReLU -> 16 x [conv 3x3 -> BN -> PReLU -> conv 3x3 -> BN, + skip]
      -> conv 3x3 -> BN, + long skip -> 2 x [conv 3x3 (256) -> pixel shuffle x2 -> PReLU]
      -> conv 9x9 to RGB

with the paper's data ranges (LR scaled to [0, 1], HR predicted in [-1, 1]).
The "msrresnet" variant is the modified SRResNet of Wang et al. (ESRGAN,
https://arxiv.org/abs/1809.00219) as implemented in BasicSR
(`basicsr/archs/srresnet_arch.py`, `MSRResNet`): no batch norm, 3x3 convs,
LeakyReLU(0.1), a bilinear-upsampled input added to the output; 1,517,571
parameters at x4 (the "SRResNet 1.5M" commonly cited); it is the default.

Parameters at x4 (trainable): srgan 1,550,659 (+4,224 BN moving statistics),
msrresnet 1,517,571. Inputs and outputs of the generators are RGB in [0, 255].

The discriminator (`srgan_discriminator`) is the paper's VGG-like network for
96x96 HR crops; it returns one logit per image (the paper's final sigmoid is
left to the loss, for numerical stability).

Example:
    >>> from keras_sr import models
    >>> generator = models.build("srresnet", scale=4, variant="srgan")   # SRGAN generator
    >>> critic = models.build("srgan_discriminator", input_size=96)
"""

import keras

from keras_sr.layers.depth_to_space import DepthToSpace
from keras_sr.layers.residual_block import ResidualBlock
from keras_sr.layers.subpixel_upsampling import upsampling_steps
from keras_sr.models import register


__all__ = ["srresnet", "srgan_discriminator", "VARIANTS"]

VARIANTS = ("srgan", "msrresnet")
SCALES = (2, 3, 4, 8)

# PyTorch's BatchNorm2d defaults (momentum 0.1 on the new value, eps 1e-5).
_BATCH_NORM = dict(momentum=0.9, epsilon=1e-5)


def _prelu(name):
    # One slope per channel (He et al. 2015), initialized to 0.25 as PyTorch's PReLU.
    return keras.layers.PReLU(alpha_initializer=keras.initializers.Constant(0.25), shared_axes=[1, 2], name=name)


def _srgan_generator(scale, num_blocks, filters, kernel_initializer):
    conv = dict(padding="same", kernel_initializer=kernel_initializer)
    inputs = keras.Input((None, None, 3), name="lr")
    x = keras.layers.Rescaling(1.0 / 255.0, name="to_unit_range")(inputs)
    x = keras.layers.Conv2D(filters, 9, name="head", **conv)(x)
    head = _prelu("head_prelu")(x)
    x = head
    for index in range(num_blocks):
        block_input = x
        x = keras.layers.Conv2D(filters, 3, name=f"block_{index}_conv1", **conv)(x)
        x = keras.layers.BatchNormalization(name=f"block_{index}_bn1", **_BATCH_NORM)(x)
        x = _prelu(f"block_{index}_prelu")(x)
        x = keras.layers.Conv2D(filters, 3, name=f"block_{index}_conv2", **conv)(x)
        x = keras.layers.BatchNormalization(name=f"block_{index}_bn2", **_BATCH_NORM)(x)
        x = keras.layers.Add(name=f"block_{index}_add")([block_input, x])
    x = keras.layers.Conv2D(filters, 3, name="body_end", **conv)(x)
    x = keras.layers.BatchNormalization(name="body_end_bn", **_BATCH_NORM)(x)
    x = keras.layers.Add(name="long_skip")([x, head])
    for index, r in enumerate(upsampling_steps(scale)):
        x = keras.layers.Conv2D(filters * r * r, 3, name=f"upsample_{index}_conv", **conv)(x)
        x = DepthToSpace(r, name=f"upsample_{index}_shuffle")(x)
        x = _prelu(f"upsample_{index}_prelu")(x)
    # The last conv and the range mapping run in float32 under mixed precision.
    x = keras.layers.Conv2D(3, 9, name="tail", dtype="float32", **conv)(x)
    outputs = keras.layers.Rescaling(127.5, offset=127.5, name="from_signed_unit_range", dtype="float32")(x)
    return inputs, outputs


def _msrresnet_generator(scale, num_blocks, filters, kernel_initializer):
    conv = dict(padding="same", kernel_initializer=kernel_initializer)
    inputs = keras.Input((None, None, 3), name="lr")
    lr = keras.layers.Rescaling(1.0 / 255.0, name="to_unit_range")(inputs)
    x = keras.layers.Conv2D(filters, 3, name="conv_first", **conv)(lr)
    x = keras.layers.LeakyReLU(negative_slope=0.1, name="conv_first_lrelu")(x)
    for index in range(num_blocks):
        x = ResidualBlock(filters, kernel_initializer=kernel_initializer, name=f"block_{index}")(x)
    for index, r in enumerate(upsampling_steps(scale)):
        x = keras.layers.Conv2D(filters * r * r, 3, name=f"upconv_{index}", **conv)(x)
        x = DepthToSpace(r, name=f"upsample_{index}_shuffle")(x)
        x = keras.layers.LeakyReLU(negative_slope=0.1, name=f"upsample_{index}_lrelu")(x)
    x = keras.layers.Conv2D(filters, 3, name="conv_hr", **conv)(x)
    x = keras.layers.LeakyReLU(negative_slope=0.1, name="conv_hr_lrelu")(x)
    # The last conv, the skip and the range mapping run in float32 under mixed precision.
    x = keras.layers.Conv2D(3, 3, name="conv_last", dtype="float32", **conv)(x)
    base = keras.layers.UpSampling2D(scale, interpolation="bilinear", name="bilinear_base", dtype="float32")(lr)
    x = keras.layers.Add(name="add_base", dtype="float32")([x, base])
    outputs = keras.layers.Rescaling(255.0, name="from_unit_range", dtype="float32")(x)
    return inputs, outputs


@register("srresnet")
def srresnet(scale=4, variant="msrresnet", num_blocks=16, filters=64, kernel_initializer="glorot_uniform", name=None):
    """Build SRResNet as a functional `keras.Model` taking `(None, None, 3)` RGB in [0, 255].

    Args:
        scale: 2, 3, 4 or 8 (x2 sub-pixel steps; one x3 step for 3).
        variant: "msrresnet" (default: BasicSR's modified SRResNet without batch
            norm, the only SRResNet with official code, 1.52M at x4) or "srgan"
            (Ledig et al.'s figure, with batch norm and PReLU, 1.55M at x4).
        num_blocks: residual blocks (16).
        filters: channels (64).
        kernel_initializer: for every convolution.
        name: model name (default `srresnet_x<scale>` / `msrresnet_x<scale>`).
    """
    if variant not in VARIANTS:
        raise ValueError(f"Unknown SRResNet variant {variant!r}; choose from {', '.join(VARIANTS)}.")
    if int(scale) not in SCALES:
        raise ValueError(f"SRResNet supports scales {SCALES}, got {scale!r}.")
    build = _srgan_generator if variant == "srgan" else _msrresnet_generator
    inputs, outputs = build(int(scale), int(num_blocks), int(filters), kernel_initializer)
    default_name = f"srresnet_x{int(scale)}" if variant == "srgan" else f"msrresnet_x{int(scale)}"
    return keras.Model(inputs, outputs, name=name or default_name)


@register("srgan_discriminator", kind="discriminator")
def srgan_discriminator(input_size=96, filters=64, dense_units=1024, kernel_initializer="glorot_uniform", name=None):
    """The SRGAN discriminator (Ledig et al. 2017, Fig. 4) on `(input_size, input_size, 3)` RGB in [0, 255].

    conv 3x3 (64) -> LeakyReLU(0.2), then seven conv 3x3 -> BN -> LeakyReLU(0.2)
    with (filters, stride) = (64, 2), (128, 1), (128, 2), (256, 1), (256, 2),
    (512, 1), (512, 2), then dense 1024 -> LeakyReLU(0.2) -> dense 1 (a logit).
    Images are mapped to [-1, 1] first (the paper's HR range). The
    convolutions before batch norm have no bias (batch norm's offset replaces it).

    Args:
        input_size: height and width of the crops, a multiple of 16 (96 in the paper).
        filters: channels of the first stage (64); doubled every two convs.
        dense_units: width of the hidden dense layer (1024).
        kernel_initializer: for every convolution and dense layer.
        name: model name (default `srgan_discriminator_<input_size>`).
    """
    input_size = int(input_size)
    if input_size < 16 or input_size % 16:
        raise ValueError(f"srgan_discriminator input_size must be a positive multiple of 16, got {input_size}.")
    inputs = keras.Input((input_size, input_size, 3), name="image")
    x = keras.layers.Rescaling(1.0 / 127.5, offset=-1.0, name="to_signed_unit_range")(inputs)
    x = keras.layers.Conv2D(filters, 3, padding="same", kernel_initializer=kernel_initializer, name="conv_0")(x)
    x = keras.layers.LeakyReLU(negative_slope=0.2, name="conv_0_lrelu")(x)
    stages = [(filters, 2), (2 * filters, 1), (2 * filters, 2), (4 * filters, 1), (4 * filters, 2),
              (8 * filters, 1), (8 * filters, 2)]
    for index, (channels, stride) in enumerate(stages, start=1):
        x = keras.layers.Conv2D(
            channels, 3, strides=stride, padding="same", use_bias=False, kernel_initializer=kernel_initializer,
            name=f"conv_{index}",
        )(x)
        x = keras.layers.BatchNormalization(name=f"conv_{index}_bn", **_BATCH_NORM)(x)
        x = keras.layers.LeakyReLU(negative_slope=0.2, name=f"conv_{index}_lrelu")(x)
    x = keras.layers.Flatten(name="flatten")(x)
    x = keras.layers.Dense(dense_units, kernel_initializer=kernel_initializer, name="dense")(x)
    x = keras.layers.LeakyReLU(negative_slope=0.2, name="dense_lrelu")(x)
    outputs = keras.layers.Dense(1, kernel_initializer=kernel_initializer, dtype="float32", name="logit")(x)
    return keras.Model(inputs, outputs, name=name or f"srgan_discriminator_{input_size}")
