"""RED-Net: very deep residual encoder-decoder with symmetric skip connections.

Mao, Shen, Yang, "Image Restoration Using Very Deep Convolutional
Encoder-Decoder Networks with Symmetric Skip Connections", NIPS 2016
(https://arxiv.org/abs/1603.09056). RED30 for super-resolution, on the
bicubic-upsampled grey/Y image, as the official Caffe deploy file
(`REDNet_ch1.prototxt`, as ported by public reimplementations): 15 convs then
15 transposed convs, all 3x3, stride 1, 128 feature maps, ReLU; every second
transposed conv (1, 3, ..., 13) gets its mirrored conv's features added
(`d_i = relu(relu(deconv_i(.)) + c_{15-i})`), and the last transposed conv
(linear, to the image channels) predicts the residual that is added to the
input (the official test code adds the input back).

RED30 parameters (1 channel): 3*3*1*128 + 28 * 3*3*128*128 + 3*3*128*1 =
4,131,072 weights + 3,713 biases = 4,134,785 ("4.1M").

`num_layers` is the depth of each half (RED10: 5, RED20: 10, RED30: 15).

Example:
    >>> from keras_sr import models
    >>> model = models.build("rednet", scale=2, filters=16, num_layers=5)     # a small RED10
    >>> sr = model(keras.ops.ones((1, 12, 12, 1)) * 128.0)                    # (1, 24, 24, 1)
"""

import keras

from keras_sr.models import register
from keras_sr.models.classic_io import check_channels, check_scale, initializer, pixel_output, upsampled_input

__all__ = ["rednet", "SCALES"]

SCALES = (2, 3, 4)


@register("rednet")
def rednet(scale=None, channels=1, num_layers=15, filters=128, skip_step=2, kernel_initializer=None, name="rednet"):
    """Build RED-Net (RED30 by default) as a functional `keras.Model` on [0, 255] images.

    Args:
        scale: None for a bicubic-upsampled input (the paper's setting), or
            2, 3 or 4 for bicubic upsampling inside the model.
        channels: 1 for grey/Y (the paper's SR experiments), 3 for RGB.
        num_layers: convolutions (= transposed convolutions) per half (15).
        filters: feature maps (128).
        skip_step: a symmetric skip every `skip_step` layers (2).
        kernel_initializer: None for the paper's initialization (He), or
            a Keras initializer for every convolution kernel.
        name: model name.
    """
    if scale is not None:
        scale = check_scale("RED-Net", scale, SCALES)
    channels = check_channels("RED-Net", channels)
    num_layers, filters, skip_step = int(num_layers), int(filters), int(skip_step)
    if num_layers < 1 or skip_step < 1:
        raise ValueError(f"RED-Net needs num_layers >= 1 and skip_step >= 1, got {num_layers}, {skip_step}.")
    inputs, upsampled = upsampled_input(channels, scale)
    encoded = []
    x = upsampled
    for index in range(1, num_layers + 1):
        x = keras.layers.Conv2D(filters, 3, padding="same", activation="relu", name=f"conv_{index}",
                                kernel_initializer=initializer(kernel_initializer, "he_normal"))(x)
        encoded.append(x)
    for index in range(1, num_layers):
        x = keras.layers.Conv2DTranspose(filters, 3, padding="same", activation="relu", name=f"deconv_{index}",
                                         kernel_initializer=initializer(kernel_initializer, "he_normal"))(x)
        if index % skip_step == 1 % skip_step:
            x = keras.layers.Add(name=f"skip_{index}")([x, encoded[num_layers - index - 1]])
            x = keras.layers.ReLU(name=f"skip_{index}_relu")(x)
    residual = keras.layers.Conv2DTranspose(channels, 3, padding="same", name=f"deconv_{num_layers}",
                                            kernel_initializer=initializer(kernel_initializer, "he_normal"))(x)
    x = keras.layers.Add(name="add_input")([upsampled, residual])
    return keras.Model(inputs, pixel_output()(x), name=name)
