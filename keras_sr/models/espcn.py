"""ESPCN: efficient sub-pixel convolutional network.

Shi, Caballero, Huszar, Totz, Aitken, Bishop, Rueckert, Wang, "Real-Time
Single Image and Video Super-Resolution Using an Efficient Sub-Pixel
Convolutional Neural Network", CVPR 2016 (https://arxiv.org/abs/1609.05158).
Three convolutions on the LR image, `(f1, n1) = (5, 64)`, `(f2, n2) = (3, 32)`
with tanh, and `f3 = 3` to `C * r^2` channels, then one periodic shuffle
(`keras_sr.layers.DepthToSpace(r)`) to the HR image. The authors released no
code; the layout is the paper's (Sec. 3.2/4.1: l = 3, tanh, Y channel).

Parameters (Y channel): 5*5*1*64 + 64 + 3*3*64*32 + 32 + 3*3*32*r^2 + r^2 =
21,284 (x2), 22,729 (x3), 24,752 (x4).

Example:
    >>> from keras_sr import models
    >>> model = models.build("espcn", scale=3)
    >>> sr = model(keras.ops.ones((1, 16, 16, 1)) * 128.0)          # (1, 48, 48, 1)
"""

import keras

from keras_sr.layers.depth_to_space import DepthToSpace
from keras_sr.models import register
from keras_sr.models.classic_io import check_channels, check_scale, initializer, lr_input, pixel_output

__all__ = ["espcn", "SCALES"]

SCALES = (2, 3, 4)


@register("espcn")
def espcn(scale=3, channels=1, filters=(64, 32), kernel_sizes=(5, 3, 3), kernel_initializer=None, name="espcn"):
    """Build ESPCN as a functional `keras.Model` on [0, 255] LR images.

    Args:
        scale: 2, 3 or 4 (the shuffle factor r).
        channels: 1 for the Y channel (the paper), 3 for RGB.
        filters: `(n1, n2)`, (64, 32) in the paper.
        kernel_sizes: `(f1, f2, f3)`, (5, 3, 3) in the paper.
        kernel_initializer: None for Glorot uniform (the paper states none),
            or a Keras initializer for every convolution kernel.
        name: model name.
    """
    scale = check_scale("ESPCN", scale, SCALES)
    channels = check_channels("ESPCN", channels)
    n1, n2 = (int(n) for n in filters)
    f1, f2, f3 = (int(k) for k in kernel_sizes)
    inputs, x = lr_input(channels)
    x = keras.layers.Conv2D(n1, f1, padding="same", activation="tanh", name="conv_1",
                            kernel_initializer=initializer(kernel_initializer, "glorot_uniform"))(x)
    x = keras.layers.Conv2D(n2, f2, padding="same", activation="tanh", name="conv_2",
                            kernel_initializer=initializer(kernel_initializer, "glorot_uniform"))(x)
    x = keras.layers.Conv2D(channels * scale * scale, f3, padding="same", name="subpixel_conv",
                            kernel_initializer=initializer(kernel_initializer, "glorot_uniform"))(x)
    x = DepthToSpace(scale, name="pixel_shuffle")(x)
    return keras.Model(inputs, pixel_output()(x), name=name)
