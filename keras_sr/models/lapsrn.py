"""LapSRN: deep Laplacian pyramid network, progressive x2 reconstruction.

Lai, Huang, Ahuja, Yang, "Deep Laplacian Pyramid Networks for Fast and
Accurate Super-Resolution", CVPR 2017 (https://arxiv.org/abs/1704.03915).
Layout of the official MatConvNet model (`phoenix104104/LapSRN`,
`init_LapSRN.m` with `init_opts.m`: f = 3, n = 64, depth = 10, LeakyReLU 0.2):

* feature extraction branch: input conv 3x3 (64) on the LR image, then per
  pyramid level: `depth` convs 3x3 (64), a 3x3 stride-2 transposed conv (64,
  crop [0 1 0 1] = Keras `padding="same"`), each followed by LeakyReLU(0.2),
  and a 3x3 conv to the image channels (the level's residual); the features
  flow on to the next level;
* image reconstruction branch: per level a 4x4 stride-2 transposed conv of
  the previous level's image (no bias, bilinear initialization,
  `keras_sr.layers.BilinearKernel`), plus the level's residual.

One model with `log2(scale)` levels gives every intermediate scale: with
`intermediate_outputs=True` it returns `{"x2": ..., "x4": ..., "x8": ...}`
(LapSRN's loss is a Charbonnier term per level against the HR image
downscaled to that level; the loss itself is the training engine's), else
only the `scale` output. Both settings have the same layers and weights.

Parameters (Y): input conv 3*3*64 + 64 = 640, per level 10 * (3*3*64*64 +
64) + (3*3*64*64 + 64) + (3*3*64 + 1) + 4*4 = 406,801: x2 407,441, x4
814,242, x8 1,221,043 (the official `count_network_parameters`; the
weights alone are 812,768 at x4, the "812K" usually quoted).

Example:
    >>> from keras_sr import models
    >>> model = models.build("lapsrn", scale=4, intermediate_outputs=True)
    >>> out = model(keras.ops.ones((1, 12, 12, 1)) * 128.0)    # {"x2": (1, 24, 24, 1), "x4": (1, 48, 48, 1)}
"""

import keras

from keras_sr.layers.bilinear_kernel import BilinearKernel
from keras_sr.models import register
from keras_sr.models.classic_io import check_channels, check_scale, initializer, lr_input, pixel_output

__all__ = ["lapsrn", "SCALES"]

SCALES = (2, 4, 8)


def _leaky(name):
    return keras.layers.LeakyReLU(negative_slope=0.2, name=name)


@register("lapsrn")
def lapsrn(scale=4, channels=1, filters=64, depth=10, intermediate_outputs=False, kernel_initializer=None,
           name="lapsrn"):
    """Build LapSRN as a functional `keras.Model` on [0, 255] LR images.

    Args:
        scale: 2, 4 or 8 (1, 2 or 3 pyramid levels).
        channels: 1 for the Y channel (the paper), 3 for RGB.
        filters: feature width (64).
        depth: convolutions per level in the feature branch (10).
        intermediate_outputs: return a dict with every level's image
            (`"x2"`, `"x4"`, ...); False returns only the `scale` image.
        kernel_initializer: None for the official initialization (input conv
            N(0, 0.001), the others He), or a Keras initializer for every
            convolution kernel except the bilinear image upsamplers.
        name: model name.
    """
    scale = check_scale("LapSRN", scale, SCALES)
    channels = check_channels("LapSRN", channels)
    filters, depth = int(filters), int(depth)
    levels = scale.bit_length() - 1
    inputs, image = lr_input(channels)
    input_init = initializer(kernel_initializer, keras.initializers.RandomNormal(stddev=1e-3))
    features = keras.layers.Conv2D(filters, 3, padding="same", kernel_initializer=input_init, name="input_conv")(image)
    features = _leaky("input_lrelu")(features)
    to_pixels = pixel_output()
    outputs = {}
    for level in range(1, levels + 1):
        prefix = f"level_{level}"
        for index in range(1, depth + 1):
            features = keras.layers.Conv2D(filters, 3, padding="same", name=f"{prefix}_conv_{index}",
                                           kernel_initializer=initializer(kernel_initializer, "he_normal"))(features)
            features = _leaky(f"{prefix}_lrelu_{index}")(features)
        features = keras.layers.Conv2DTranspose(
            filters, 3, strides=2, padding="same", name=f"{prefix}_feature_upsampling",
            kernel_initializer=initializer(kernel_initializer, "he_normal"))(features)
        features = _leaky(f"{prefix}_upsampling_lrelu")(features)
        residual = keras.layers.Conv2D(channels, 3, padding="same", name=f"{prefix}_residual",
                                       kernel_initializer=initializer(kernel_initializer, "he_normal"))(features)
        upsampled = keras.layers.Conv2DTranspose(channels, 4, strides=2, padding="same", use_bias=False,
                                                 kernel_initializer=BilinearKernel(),
                                                 name=f"{prefix}_image_upsampling")(image)
        image = keras.layers.Add(name=f"{prefix}_output")([upsampled, residual])
        if intermediate_outputs or level == levels:
            outputs[f"x{2 ** level}"] = to_pixels(image)
    if not intermediate_outputs:
        return keras.Model(inputs, outputs[f"x{scale}"], name=name)
    return keras.Model(inputs, outputs, name=name)
