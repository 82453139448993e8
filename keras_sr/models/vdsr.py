"""VDSR: very deep residual network on the bicubic-upsampled image.

Kim, Lee, Lee, "Accurate Image Super-Resolution Using Very Deep Convolutional
Networks", CVPR 2016 (https://arxiv.org/abs/1511.04587). `depth` = 20
3x3 convolutions of 64 filters (ReLU after all but the last) predict the
residual that is added to the bicubic input; He initialization. One model is
trained on x2, x3 and x4 together (`scale=None` takes any bicubic input);
the adjustable gradient clipping is the training engine's.

Parameters: 3*3*1*64 + 18 * 3*3*64*64 + 3*3*64*1 = 664,704 weights ("665K")
plus 1,217 biases = 665,921.

Example:
    >>> from keras_sr import models
    >>> model = models.build("vdsr", scale=4)                       # LR in, bicubic inside
    >>> sr = model(keras.ops.ones((1, 16, 16, 1)) * 128.0)          # (1, 64, 64, 1)
"""

import keras

from keras_sr.models import register
from keras_sr.models.classic_io import check_channels, check_scale, initializer, pixel_output, upsampled_input

__all__ = ["vdsr", "SCALES"]

SCALES = (2, 3, 4)


@register("vdsr")
def vdsr(scale=None, channels=1, depth=20, filters=64, kernel_initializer=None, name="vdsr"):
    """Build VDSR as a functional `keras.Model` on [0, 255] images.

    Args:
        scale: None for a bicubic-upsampled input of any scale (the paper's
            multi-scale model), or 2, 3 or 4 for bicubic upsampling inside.
        channels: 1 for the Y channel (the paper), 3 for RGB.
        depth: number of convolutions (20).
        filters: width of the hidden convolutions (64).
        kernel_initializer: None for the paper's initialization (above), or
            a Keras initializer for every convolution kernel.
        name: model name.
    """
    if scale is not None:
        scale = check_scale("VDSR", scale, SCALES)
    channels = check_channels("VDSR", channels)
    depth, filters = int(depth), int(filters)
    if depth < 2:
        raise ValueError(f"VDSR depth must be >= 2, got {depth}.")
    inputs, upsampled = upsampled_input(channels, scale)
    x = upsampled
    for index in range(depth - 1):
        x = keras.layers.Conv2D(filters, 3, padding="same", activation="relu", name=f"conv_{index + 1}",
                                kernel_initializer=initializer(kernel_initializer, "he_normal"))(x)
    residual = keras.layers.Conv2D(channels, 3, padding="same", name=f"conv_{depth}",
                                   kernel_initializer=initializer(kernel_initializer, "he_normal"))(x)
    x = keras.layers.Add(name="add_bicubic")([upsampled, residual])
    return keras.Model(inputs, pixel_output()(x), name=name)
