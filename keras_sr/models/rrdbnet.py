"""RRDBNet (the ESRGAN generator) and ESRGAN's VGG-style discriminator.

Wang et al., "ESRGAN: Enhanced Super-Resolution Generative Adversarial
Networks", ECCV Workshops 2018 (https://arxiv.org/abs/1809.00219). Layout of
the official code (xinntao/ESRGAN `RRDBNet_arch.py`; BasicSR
`rrdbnet_arch.py` / `discriminator_arch.py`):

    conv_first 3x3 -> 23 RRDBs (3 dense blocks of 5 convs, gc 32, LeakyReLU 0.2,
      residual scaling 0.2) -> trunk conv, + skip from conv_first
      -> 2 x [nearest x2 -> conv 3x3 -> LeakyReLU 0.2] -> HR conv -> LeakyReLU -> conv_last

16,697,987 parameters at x4, as the official model. Images are mapped to [0, 1]
as in the official code; inputs and outputs are RGB in [0, 255]. As in
BasicSR, x2 and x1 models pixel-unshuffle the input (by 2 or 4) and keep the
x4 trunk; `pixel_unshuffle=False` gives the old-arch alternative (one
nearest + conv step per factor 2: none at x1, one at x2), and x8 has three
such steps (old-arch x8 files). `plus=True` is ESRGAN+ (Rakotonirina and
Rasoanaivo, ICASSP 2020; ncarraz/ESRGANplus): the dense blocks' extra 1x1
residual paths (`ResidualDenseBlock(plus=True)`); its training-time Gaussian
noise adds no weights and is off at inference. The convolutions inside the
RRDBs start from Kaiming-normal weights scaled by 0.1 and zero biases, as the
official `initialize_weights(..., 0.1)`.

`esrgan_discriminator` is the VGG-style discriminator for 128x128 crops
(`Discriminator_VGG_128` / BasicSR `VGGStyleDiscriminator`): ten convs with
batch norm and LeakyReLU(0.2), five of them 4x4 with stride 2, then dense 100
-> LeakyReLU -> dense 1 (a logit; ESRGAN's relativistic average loss is
computed from the logits of real and fake batches). `num_stages=6` is BasicSR's 256x256 variant;
`keras_sr.convert` reads BasicSR's and the old BasicSR's discriminator files into it
(`keras_sr.convert.esrgan_discriminator`).

Example:
    >>> from keras_sr import models
    >>> generator = models.build("rrdbnet", scale=4)               # 16,697,987 params
    >>> critic = models.build("esrgan_discriminator")              # 128x128 inputs
"""

import keras

from keras_sr.layers.residual_dense_block import ResidualInResidualDenseBlock
from keras_sr.layers.space_to_depth import SpaceToDepth
from keras_sr.models import register


__all__ = ["rrdbnet", "esrgan_discriminator", "esrgan_dense_initializer"]

SCALES = (1, 2, 4, 8)

# PyTorch's BatchNorm2d defaults (momentum 0.1 on the new value, eps 1e-5).
_BATCH_NORM = dict(momentum=0.9, epsilon=1e-5)


def esrgan_dense_initializer(seed=None):
    """`kaiming_normal_(w) * 0.1` (fan-in, gain sqrt 2): variance 0.02 / fan_in, as ESRGAN's RRDB convs."""
    return keras.initializers.VarianceScaling(scale=0.02, mode="fan_in", distribution="untruncated_normal", seed=seed)


@register("rrdbnet")
def rrdbnet(
    scale=4,
    num_blocks=23,
    filters=64,
    growth_rate=32,
    kernel_initializer="glorot_uniform",
    dense_kernel_initializer=None,
    pixel_unshuffle=True,
    plus=False,
    name=None,
):
    """Build RRDBNet as a functional `keras.Model` taking `(None, None, 3)` RGB in [0, 255].

    Args:
        scale: 4 (the official model), 8 (three upsampling steps), or 2 / 1
            (BasicSR: pixel-unshuffle the input by 2 / 4; height and width must
            then be multiples of 2 / 4).
        num_blocks: RRDBs in the trunk (23).
        filters: trunk channels nf (64).
        growth_rate: channels per dense conv gc (32).
        kernel_initializer: for the convolutions outside the RRDBs.
        dense_kernel_initializer: for the convolutions inside the RRDBs
            (default `esrgan_dense_initializer()`).
        pixel_unshuffle: for scale 1 / 2: unshuffle the input and keep the x4
            trunk (True, BasicSR), or upsample log2(scale) times (False, old arch).
        plus: ESRGAN+ dense blocks (extra 1x1 residual paths).
        name: model name (default `rrdbnet_x<scale>`).
    """
    if int(scale) not in SCALES:
        raise ValueError(f"RRDBNet supports scales {SCALES}, got {scale!r}.")
    scale, filters = int(scale), int(filters)
    if dense_kernel_initializer is None:
        dense_kernel_initializer = esrgan_dense_initializer()
    conv = dict(padding="same", kernel_initializer=kernel_initializer)
    inputs = keras.Input((None, None, 3), name="lr")
    x = keras.layers.Rescaling(1.0 / 255.0, name="to_unit_range")(inputs)
    unshuffle = 4 // scale if scale < 4 and pixel_unshuffle else 1
    if unshuffle > 1:
        x = SpaceToDepth(unshuffle, name="pixel_unshuffle")(x)
    features = keras.layers.Conv2D(filters, 3, name="conv_first", **conv)(x)
    x = features
    for index in range(int(num_blocks)):
        x = ResidualInResidualDenseBlock(
            growth_rate=growth_rate,
            plus=plus,
            kernel_initializer=dense_kernel_initializer,
            name=f"rrdb_{index}",
        )(x)
    x = keras.layers.Conv2D(filters, 3, name="trunk_conv", **conv)(x)
    x = keras.layers.Add(name="trunk_skip")([features, x])
    for index in range(1, (scale * unshuffle).bit_length()):
        x = keras.layers.UpSampling2D(2, interpolation="nearest", name=f"nearest_{index}")(x)
        x = keras.layers.Conv2D(filters, 3, activation="leaky_relu", name=f"upconv_{index}", **conv)(x)
    x = keras.layers.Conv2D(filters, 3, activation="leaky_relu", name="hr_conv", **conv)(x)
    # The last conv and the range mapping run in float32 under mixed precision.
    x = keras.layers.Conv2D(3, 3, name="conv_last", dtype="float32", **conv)(x)
    outputs = keras.layers.Rescaling(255.0, name="from_unit_range", dtype="float32")(x)
    return keras.Model(inputs, outputs, name=name or f"rrdbnet_x{scale}")


@register("esrgan_discriminator", kind="discriminator")
def esrgan_discriminator(input_size=128, filters=64, dense_units=100, kernel_initializer="glorot_uniform", name=None,
                         num_stages=5):
    """ESRGAN's VGG-style discriminator on `(input_size, input_size, 3)` RGB in [0, 255].

    Per stage k = 0..4 (channels nf, 2nf, 4nf, 8nf, 8nf): conv 3x3 stride 1,
    then conv 4x4 stride 2, each followed by batch norm (except the very first
    conv, which has a bias instead) and LeakyReLU(0.2); then flatten -> dense
    100 -> LeakyReLU(0.2) -> dense 1. Images are mapped to [0, 1] first.

    Args:
        input_size: height and width of the crops (128 officially; any multiple of 2 ** num_stages).
        filters: nf (64).
        dense_units: hidden dense width (100).
        kernel_initializer: for every convolution and dense layer.
        name: model name (default `esrgan_discriminator_<input_size>`).
        num_stages: stride-2 stages (5; 6 is BasicSR's `VGGStyleDiscriminator(input_size=256)` and old
            BasicSR's `Discriminator_VGG_192`: one more 8nf stage `conv5_*`).
    """
    input_size = int(input_size)
    num_stages = int(num_stages)
    if num_stages < 4:
        raise ValueError(f"esrgan_discriminator num_stages must be >= 4, got {num_stages}.")
    multiple = 2 ** num_stages
    if input_size < multiple or input_size % multiple:
        raise ValueError(f"esrgan_discriminator input_size must be a positive multiple of {multiple}, got {input_size}.")
    inputs = keras.Input((input_size, input_size, 3), name="image")
    x = keras.layers.Rescaling(1.0 / 255.0, name="to_unit_range")(inputs)
    stage_filters = [filters, 2 * filters, 4 * filters] + [8 * filters] * (num_stages - 3)
    for stage, channels in enumerate(stage_filters):
        for step, (kernel_size, stride) in enumerate(((3, 1), (4, 2))):
            first = stage == 0 and step == 0
            x = keras.layers.Conv2D(
                channels, kernel_size, strides=stride, padding="same", use_bias=first,
                kernel_initializer=kernel_initializer, name=f"conv{stage}_{step}",
            )(x)
            if not first:
                x = keras.layers.BatchNormalization(name=f"bn{stage}_{step}", **_BATCH_NORM)(x)
            x = keras.layers.LeakyReLU(negative_slope=0.2, name=f"lrelu{stage}_{step}")(x)
    x = keras.layers.Flatten(name="flatten")(x)
    x = keras.layers.Dense(dense_units, kernel_initializer=kernel_initializer, name="linear1")(x)
    x = keras.layers.LeakyReLU(negative_slope=0.2, name="linear1_lrelu")(x)
    outputs = keras.layers.Dense(1, kernel_initializer=kernel_initializer, dtype="float32", name="linear2")(x)
    return keras.Model(inputs, outputs, name=name or f"esrgan_discriminator_{input_size}")
