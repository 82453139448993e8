"""FSRCNN: SRCNN accelerated, working on the LR image with a deconvolution tail.

Dong, Loy, Tang, "Accelerating the Super-Resolution Convolutional Neural
Network", ECCV 2016 (https://arxiv.org/abs/1608.00367). On the LR Y channel:
feature extraction `conv 5x5, d` -> shrinking `conv 1x1, s` -> `m` mapping
layers `conv 3x3, s` -> expanding `conv 1x1, d` -> deconvolution `9x9`,
stride = scale, to the HR image. Every convolution is followed by a PReLU
with one slope per channel (Caffe's default `channel_shared: false`, slopes
start at 0.25); convolutions start from He's initialization, the
deconvolution from a Gaussian with standard deviation 0.001.

FSRCNN(d=56, s=12, m=4): the paper counts 12,464 weights (its Table 1 formula
`25d + sd + 9ms^2 + ds + 81d`); with biases (173) and PReLU slopes (172) the
model has 12,809 parameters, for every scale.

The deconvolution uses `padding="same"` (output exactly `scale` times the
input; crops 3 rows/columns before at x3, as the official x3 model's `pad: 3`).
For x2 and x4 no integer crop centres a 9x9 kernel on the HR grid: Keras crops
3 (x2) and 2 (x4), half an HR pixel from the ideal alignment, and the
official even-scale models crop differently (their outputs are not exactly
2H / 4H); a model trained here is consistent with itself.

Example:
    >>> from keras_sr import models
    >>> model = models.build("fsrcnn", scale=3)                     # FSRCNN(56, 12, 4), Y
    >>> sr = model(keras.ops.ones((1, 16, 16, 1)) * 128.0)          # (1, 48, 48, 1)
"""

import keras

from keras_sr.models import register
from keras_sr.models.classic_io import check_channels, check_scale, initializer, lr_input, pixel_output

__all__ = ["fsrcnn", "SCALES"]

SCALES = (2, 3, 4)


def _conv_prelu(x, filters, kernel_size, kernel_initializer, name):
    x = keras.layers.Conv2D(filters, kernel_size, padding="same", name=name,
                            kernel_initializer=initializer(kernel_initializer, "he_normal"))(x)
    return keras.layers.PReLU(alpha_initializer=keras.initializers.Constant(0.25), shared_axes=[1, 2],
                              name=f"{name}_prelu")(x)


@register("fsrcnn")
def fsrcnn(scale=3, channels=1, d=56, s=12, m=4, kernel_initializer=None, name="fsrcnn"):
    """Build FSRCNN(d, s, m) as a functional `keras.Model` on [0, 255] LR images.

    Args:
        scale: 2, 3 or 4 (the deconvolution stride).
        channels: 1 for the Y channel (the paper), 3 for RGB.
        d: LR feature dimension (56; FSRCNN-s uses 32).
        s: shrinking dimension (12; FSRCNN-s uses 5).
        m: number of mapping layers (4; FSRCNN-s uses 1).
        kernel_initializer: None for the paper's initialization (above), or
            a Keras initializer for every convolution kernel.
        name: model name.
    """
    scale = check_scale("FSRCNN", scale, SCALES)
    channels = check_channels("FSRCNN", channels)
    d, s, m = int(d), int(s), int(m)
    inputs, x = lr_input(channels)
    x = _conv_prelu(x, d, 5, kernel_initializer, "feature_extraction")
    x = _conv_prelu(x, s, 1, kernel_initializer, "shrinking")
    for index in range(m):
        x = _conv_prelu(x, s, 3, kernel_initializer, f"mapping_{index + 1}")
    x = _conv_prelu(x, d, 1, kernel_initializer, "expanding")
    deconv_init = initializer(kernel_initializer, keras.initializers.RandomNormal(stddev=1e-3))
    x = keras.layers.Conv2DTranspose(channels, 9, strides=scale, padding="same", kernel_initializer=deconv_init,
                                     name="deconvolution")(x)
    return keras.Model(inputs, pixel_output()(x), name=name)
