"""RCAN: Residual Channel Attention Networks.

Zhang, Li, Li, Wang, Zhong, Fu, "Image Super-Resolution Using Very Deep
Residual Channel Attention Networks", ECCV 2018 (https://arxiv.org/abs/1807.02758).
Mean shift -> 3x3 head -> G residual groups (each B residual channel attention
blocks and a conv, with a short skip) -> conv, plus the long skip from the head
-> sub-pixel upsampler -> 3x3 conv -> mean shift back. Layout and defaults
follow the official code (EDSR-PyTorch `src/model/rcan.py`): 10 groups x 20
RCABs, 64 filters, reduction 16. Inputs and outputs are RGB in [0, 255].

Parameters (trainable; the official model also holds two frozen 12-parameter
MeanShift convs, which keras-sr implements as constants):
x2 15,444,643 / x3 15,629,283 / x4 15,592,355 (official: +24, x4 15,592,379).

`pixel_unshuffle=True` (scale 1 or 2) is the community `unshuffle_mod`
variant that spandrel reads (neosr / chaiNNer models): the mean-shifted input
is pixel-unshuffled by 4 / scale before the head conv and the body upsamples
x4; height and width must then be multiples of 4 / scale.

Example:
    >>> from keras_sr import models
    >>> model = models.build("rcan", scale=4)                 # 15.59M
    >>> sr = model(keras.ops.ones((1, 24, 24, 3)) * 128.0)    # (1, 96, 96, 3)
"""

import keras

from keras_sr.layers.mean_shift import DIV2K_RGB_MEAN, MeanShift
from keras_sr.layers.residual_channel_attention import ResidualGroup
from keras_sr.layers.space_to_depth import SpaceToDepth
from keras_sr.layers.subpixel_upsampling import SubPixelUpsampling
from keras_sr.models import register

__all__ = ["rcan"]

SCALES = (2, 3, 4, 8)


@register("rcan")
def rcan(
    scale=4,
    num_groups=10,
    num_blocks=20,
    filters=64,
    reduction=16,
    rgb_mean=DIV2K_RGB_MEAN,
    kernel_initializer="glorot_uniform",
    pixel_unshuffle=False,
    name=None,
):
    """Build RCAN as a functional `keras.Model` taking `(None, None, 3)` RGB in [0, 255].

    Args:
        scale: 2, 3, 4 or 8; 1 or 2 with `pixel_unshuffle`.
        num_groups: residual groups G (10).
        num_blocks: RCABs per group B (20).
        filters: channels (64).
        reduction: channel attention reduction ratio r (16).
        rgb_mean: dataset RGB mean in [0, 1] (DIV2K's).
        kernel_initializer: for every convolution.
        pixel_unshuffle: unshuffle the input by 4 / scale and upsample x4 (scale 1 or 2).
        name: model name (default `rcan_x<scale>`).
    """
    if int(scale) not in ((1, 2) if pixel_unshuffle else SCALES):
        raise ValueError(f"RCAN supports scales {(1, 2) if pixel_unshuffle else SCALES}"
                         f"{' with pixel_unshuffle' if pixel_unshuffle else ''}, got {scale!r}.")
    scale, filters = int(scale), int(filters)
    conv = dict(padding="same", kernel_initializer=kernel_initializer)
    inputs = keras.Input((None, None, 3), name="lr")
    x = MeanShift(rgb_mean, sign=-1, name="sub_mean")(inputs)
    if pixel_unshuffle:
        x = SpaceToDepth(4 // scale, name="pixel_unshuffle")(x)
    head = keras.layers.Conv2D(filters, 3, name="head", **conv)(x)
    x = head
    for index in range(int(num_groups)):
        x = ResidualGroup(
            num_blocks=num_blocks, reduction=reduction, kernel_initializer=kernel_initializer, name=f"group_{index}"
        )(x)
    x = keras.layers.Conv2D(filters, 3, name="body_end", **conv)(x)
    x = keras.layers.Add(name="long_skip")([x, head])
    x = SubPixelUpsampling(4 if pixel_unshuffle else scale, filters, kernel_initializer=kernel_initializer,
                           name="upsample")(x)
    # The last conv and the mean add run in float32 under mixed precision: 0-255 outputs need the mantissa.
    x = keras.layers.Conv2D(3, 3, name="tail", dtype="float32", **conv)(x)
    outputs = MeanShift(rgb_mean, sign=1, name="add_mean", dtype="float32")(x)
    return keras.Model(inputs, outputs, name=name or f"rcan_x{scale}")
