"""DRRN: deep recursive residual network (shared-weight residual units).

Tai, Yang, Liu, "Image Super-Resolution via Deep Recursive Residual Network",
CVPR 2017. Layout of the official Caffe model (`tyshiwo/DRRN_CVPR17`,
`caffe_files/DRRN_B1U25_52C128`, `..._train.prototxt`): pre-activation
everywhere (`BatchNorm + Scale -> ReLU -> conv`, 128 filters, 3x3), on the
bicubic-upsampled Y channel.

* each recursive block b: an entry conv `h0 = conv(BN-ReLU(x))`, then U
  residual units `h_u = h0 + conv_b(BN-ReLU(conv_a(BN-ReLU(h_{u-1}))))`
  where `conv_a`/`conv_b` are shared by the U units of the block (one Keras
  layer each, called U times); the BatchNorm/Scale layers are NOT shared
  (each unit has its own, as in the prototxt);
* reconstruction `conv(BN-ReLU(h_U))` to the image channels, plus the input.

DRRN_B1U25 (d = (1 + 2U)B + 1 = 52 layers): 3*3*1*128 + 2 * 3*3*128*128 +
3*3*128*1 = 297,216 weights ("297K"), + 385 biases = 297,601 convolution
parameters; the 52 BatchNorm layers add 13,058 trainable scales/offsets
(Caffe `Scale`) and 13,058 moving statistics (Caffe `BatchNorm`), 323,717 in
all. `batch_norm=False` drops them (the BN-free variant several
reimplementations train).

Example:
    >>> from keras_sr import models
    >>> model = models.build("drrn", scale=2, filters=16, num_units=3)
    >>> sr = model(keras.ops.ones((1, 12, 12, 1)) * 128.0)          # (1, 24, 24, 1)
"""

import keras

from keras_sr.models import register
from keras_sr.models.classic_io import check_channels, check_scale, initializer, pixel_output, upsampled_input

__all__ = ["drrn", "SCALES"]

SCALES = (2, 3, 4)


def _pre_activation(x, batch_norm, name):
    if batch_norm:
        x = keras.layers.BatchNormalization(epsilon=1e-5, name=f"{name}_bn")(x)
    return keras.layers.ReLU(name=f"{name}_relu")(x)


def _conv(filters, kernel_initializer, name):
    return keras.layers.Conv2D(filters, 3, padding="same", name=name,
                               kernel_initializer=initializer(kernel_initializer, "he_normal"))


@register("drrn")
def drrn(scale=None, channels=1, num_blocks=1, num_units=25, filters=128, batch_norm=True, kernel_initializer=None,
         name="drrn"):
    """Build DRRN_B{num_blocks}U{num_units} as a functional `keras.Model` on [0, 255] images.

    Args:
        scale: None for a bicubic-upsampled input (the paper's setting), or
            2, 3 or 4 for bicubic upsampling inside the model.
        channels: 1 for the Y channel (the paper), 3 for RGB.
        num_blocks: recursive blocks B (1).
        num_units: residual units U per block (25).
        filters: convolution width (128).
        batch_norm: the official pre-activation BatchNorm (True).
        kernel_initializer: None for the paper's initialization (MSRA/He), or
            a Keras initializer for every convolution kernel.
        name: model name.
    """
    if scale is not None:
        scale = check_scale("DRRN", scale, SCALES)
    channels = check_channels("DRRN", channels)
    num_blocks, num_units, filters = int(num_blocks), int(num_units), int(filters)
    if num_blocks < 1 or num_units < 1:
        raise ValueError(f"DRRN needs num_blocks >= 1 and num_units >= 1, got B{num_blocks}U{num_units}.")
    inputs, upsampled = upsampled_input(channels, scale)
    h = upsampled
    for block in range(1, num_blocks + 1):
        prefix = f"block_{block}"
        h0 = _pre_activation(h, batch_norm, f"{prefix}_entry")
        h0 = _conv(filters, kernel_initializer, f"{prefix}_entry_conv")(h0)
        conv_a = _conv(filters, kernel_initializer, f"{prefix}_shared_conv_a")
        conv_b = _conv(filters, kernel_initializer, f"{prefix}_shared_conv_b")
        h = h0
        for unit in range(1, num_units + 1):
            r = conv_a(_pre_activation(h, batch_norm, f"{prefix}_unit_{unit}_a"))
            r = conv_b(_pre_activation(r, batch_norm, f"{prefix}_unit_{unit}_b"))
            h = keras.layers.Add(name=f"{prefix}_unit_{unit}_add")([h0, r])
    residual = _conv(channels, kernel_initializer, "reconstruction")(_pre_activation(h, batch_norm, "reconstruction"))
    x = keras.layers.Add(name="add_bicubic")([upsampled, residual])
    return keras.Model(inputs, pixel_output()(x), name=name)
