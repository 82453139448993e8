"""SRKD: the teacher and student networks of SR knowledge distillation (Gao et al., ACCV 2018).

Gao, Zhao, Li, Tong, "Image Super-Resolution Using Knowledge Distillation",
ACCV 2018 (LNCS 11362). No official code was released. The two networks as
the issue's seed describes the paper:

* teacher: conv + ReLU, 10 residual blocks, one deconvolution to the HR image;
* student: conv + ReLU, 3 residual blocks of depthwise-separable
  convolutions (MobileNet-style), one deconvolution.

keras-sr's choices where that description leaves the layout open (the paper's
text was not available to check them):

* 64 channels in both networks and 3x3 kernels;
* a residual block is `x + conv(ReLU(conv(x)))` (EDSR's `ResidualBlock`, no
  batch norm); the student's (`SeparableResidualBlock`) uses 3x3 depthwise +
  1x1 pointwise convolutions (one bias) for both;
* the deconvolution is `Conv2DTranspose(channels, 2 * scale, strides=scale,
  padding="same")` (an even kernel: every HR pixel gets the same number of
  taps, no checkerboard), no activation;
* no global skip; the network works in [0, 1] inside (`Rescaling`, as the
  classic models), images are [0, 255] in and out; RGB by default.

Layer names for distillation (`--distill-features`): `head`, `block_0` ...
`block_{n-1}` (the residual blocks' outputs), `upsample`.

Parameters (RGB, 64 channels, k = 2 * scale):
    teacher: 1,792 + 10 * 73,856 + (64 * 3 * k^2 + 3) = 743,427 (x2), 747,267 (x3), 752,643 (x4);
    student: 1,792 + 3 * 9,472 + (64 * 3 * k^2 + 3) = 33,283 (x2), 37,123 (x3), 42,499 (x4).

Example:
    >>> from keras_sr import models
    >>> student = models.build("srkd", scale=4, variant="student")          # 42,499 parameters
    >>> sr = student(keras.ops.ones((1, 16, 16, 3)) * 128.0)                # (1, 64, 64, 3)
"""

import keras

from keras_sr.layers.residual_block import ResidualBlock
from keras_sr.layers.separable_residual_block import SeparableResidualBlock
from keras_sr.models import register
from keras_sr.models.classic_io import check_channels, check_scale, lr_input, pixel_output

__all__ = ["srkd", "VARIANTS", "SCALES", "srkd_parameters"]

SCALES = (2, 3, 4)
VARIANTS = {"teacher": 10, "student": 3}  # residual blocks


def srkd_parameters(variant, scale, channels=3, filters=64, num_blocks=None):
    """The parameter count of `srkd(...)` from the layer shapes (the docstring's formula)."""
    blocks = VARIANTS[variant] if num_blocks is None else int(num_blocks)
    f, k = int(filters), 2 * int(scale)
    head = 9 * channels * f + f
    conv = 9 * f * f + f if variant == "teacher" else 9 * f + f * f + f
    return head + blocks * 2 * conv + k * k * f * channels + channels


@register("srkd", scales=SCALES, test_config=dict(scale=2, variant="student", filters=4, num_blocks=1))
def srkd(scale=4, variant="student", channels=3, filters=64, num_blocks=None, kernel_initializer="glorot_uniform",
         name=None):
    """Build the SRKD teacher or student as a functional `keras.Model` on [0, 255] LR images.

    Args:
        scale: 2, 3 or 4 (the deconvolution's stride).
        variant: "teacher" (10 residual blocks) or "student" (3 depthwise-separable blocks).
        channels: 3 (RGB) or 1 (Y).
        filters: channels of the body (64).
        num_blocks: residual blocks (None: the variant's 10 / 3).
        kernel_initializer: for every convolution kernel.
        name: model name (default `srkd_<variant>_x<scale>`).
    """
    scale = check_scale("SRKD", scale, SCALES)
    channels = check_channels("SRKD", channels)
    if variant not in VARIANTS:
        raise ValueError(f"SRKD variant must be one of {', '.join(VARIANTS)}, got {variant!r}.")
    blocks = VARIANTS[variant] if num_blocks is None else int(num_blocks)
    filters = int(filters)
    inputs, x = lr_input(channels)
    x = keras.layers.Conv2D(filters, 3, padding="same", activation="relu", kernel_initializer=kernel_initializer,
                            name="head")(x)
    for index in range(blocks):
        if variant == "teacher":
            x = ResidualBlock(filters, kernel_initializer=kernel_initializer, name=f"block_{index}")(x)
        else:
            x = SeparableResidualBlock(filters, kernel_initializer=kernel_initializer, name=f"block_{index}")(x)
    x = keras.layers.Conv2DTranspose(channels, 2 * scale, strides=scale, padding="same", dtype="float32",
                                     kernel_initializer=kernel_initializer, name="upsample")(x)
    return keras.Model(inputs, pixel_output()(x), name=name or f"srkd_{variant}_x{scale}")
