"""SRCNN: the first CNN for single-image super-resolution.

Dong, Loy, He, Tang, "Image Super-Resolution Using Deep Convolutional
Networks", TPAMI 2016 (https://arxiv.org/abs/1501.00092; ECCV 2014 version
"Learning a Deep Convolutional Network for Image Super-Resolution"). Three
convolutions on the bicubic-upsampled Y channel: patch extraction `f1 x f1`
(n1 = 64, ReLU), non-linear mapping `f2 x f2` (n2 = 32, ReLU), reconstruction
`f3 x f3` (linear). The paper's main networks are 9-5-5 and 9-1-5; weights
start from a Gaussian with standard deviation 0.001, biases at 0.

| variant | kernel_sizes | weights (paper) | parameters with biases |
|---------|--------------|-----------------|------------------------|
| 9-5-5   | (9, 5, 5)    | 57,184          | 57,281                 |
| 9-1-5   | (9, 1, 5)    | 8,032           | 8,129                  |

Padding: `padding="same"` (default) keeps the size, as the official test code
(`imfilter(..., 'same')`, zero padding) does at inference. The paper trains
with `padding="valid"`: no padding, 33x33 sub-images give 33 - (f1 + f2 +
f3 - 3) pixel outputs (17 for 9-5-5, 21 for 9-1-5), and the loss compares
them with the centre of the label; a valid-padding model's output is smaller
than its input by that border.

Example:
    >>> from keras_sr import models
    >>> model = models.build("srcnn", scale=3)                      # 9-5-5, Y, LR in
    >>> sr = model(keras.ops.ones((1, 16, 16, 1)) * 128.0)          # (1, 48, 48, 1)
"""

import keras

from keras_sr.models import register
from keras_sr.models.classic_io import check_channels, check_scale, initializer, pixel_output, upsampled_input

__all__ = ["srcnn", "SCALES"]

SCALES = (2, 3, 4)


@register("srcnn")
def srcnn(scale=None, channels=1, kernel_sizes=(9, 5, 5), filters=(64, 32), padding="same", kernel_initializer=None,
          name="srcnn"):
    """Build SRCNN as a functional `keras.Model` on [0, 255] images.

    Args:
        scale: None for a bicubic-upsampled input (the paper's setting), or
            2, 3 or 4 to put MATLAB-bicubic upsampling inside the model.
        channels: 1 for the Y channel (the paper), 3 for RGB (the paper's
            RGB experiment, Sec. 4.4).
        kernel_sizes: `(f1, f2, f3)`; (9, 5, 5) or (9, 1, 5) in the paper.
        filters: `(n1, n2)`; (64, 32) in the paper.
        padding: "same" (output size = input size) or "valid" (the paper's
            training, output smaller by `f1 + f2 + f3 - 3`).
        kernel_initializer: None for the paper's initialization (above), or
            a Keras initializer for every convolution kernel.
        name: model name.
    """
    if scale is not None:
        scale = check_scale("SRCNN", scale, SCALES)
    channels = check_channels("SRCNN", channels)
    f1, f2, f3 = (int(k) for k in kernel_sizes)
    n1, n2 = (int(n) for n in filters)
    if padding not in ("same", "valid"):
        raise ValueError(f"SRCNN padding must be 'same' or 'valid', got {padding!r}.")
    inputs, x = upsampled_input(channels, scale)

    def init():
        return initializer(kernel_initializer, keras.initializers.RandomNormal(stddev=1e-3))

    x = keras.layers.Conv2D(n1, f1, padding=padding, activation="relu", kernel_initializer=init(),
                            name="patch_extraction")(x)
    x = keras.layers.Conv2D(n2, f2, padding=padding, activation="relu", kernel_initializer=init(),
                            name="nonlinear_mapping")(x)
    x = keras.layers.Conv2D(channels, f3, padding=padding, kernel_initializer=init(), name="reconstruction")(x)
    return keras.Model(inputs, pixel_output()(x), name=name)
