"""SRDenseNet: dense blocks with dense skip connections and a deconvolution tail.

Tong, Li, Liu, Gao, "Image Super-Resolution Using Dense Skip Connections",
ICCV 2017. On the LR Y channel: a 3x3 conv (128 = growth * layers, ReLU) for
low-level features; `num_blocks` = 8 dense blocks of `num_layers` = 8 3x3
convs with growth rate 16 (ReLU; each conv sees the concatenation of the
block's previous outputs, the first one the block input; a block outputs the
concatenation of its 8 layers, 128 maps); a 1x1 bottleneck conv (256, ReLU);
`log2(scale)` 3x3 stride-2 transposed convs (256, ReLU); a 3x3 linear
reconstruction conv. The three skip variants of the paper (Fig. 2):

* `skip="h"` (SRDenseNet_H): blocks chained, only the last block's output
  (high-level features) reaches the bottleneck;
* `skip="hl"` (SRDenseNet_HL): low-level features concatenated with the last
  block's output;
* `skip="all"` (SRDenseNet_All, the paper's best): dense skip connections,
  every block takes the concatenation of the low-level features and all
  earlier block outputs, and all of them (128 + 8 * 128 = 1152 maps) reach
  the bottleneck.

The authors released no code. Where the paper leaves a detail open this
follows the public reimplementations: the block input feeds only the first
conv of a block; the bottleneck is used in every variant (so H and HL also
end in 256 maps before the deconvolutions); the deconvolutions use 3x3
kernels (`deconv_kernel_size`). The paper evaluates x4 (two x2
deconvolutions); x2 and x8 use one and three.

Parameters (Y, x4, biases included): All 2,659,585, HL 1,914,113, H
1,881,345 (see tests/test_models_classic.py for the formula).

Example:
    >>> from keras_sr import models
    >>> model = models.build("srdensenet", scale=4, skip="all", num_blocks=2, num_layers=2)
    >>> sr = model(keras.ops.ones((1, 12, 12, 1)) * 128.0)          # (1, 48, 48, 1)
"""

import keras

from keras_sr.models import register
from keras_sr.models.classic_io import check_channels, check_scale, initializer, lr_input, pixel_output

__all__ = ["srdensenet", "SCALES", "SKIP_VARIANTS"]

SCALES = (2, 4, 8)
SKIP_VARIANTS = ("h", "hl", "all")


def _concat(tensors, name):
    return tensors[0] if len(tensors) == 1 else keras.layers.Concatenate(name=name)(tensors)


def _dense_block(x, num_layers, growth_rate, kernel_initializer, name):
    """8 conv-ReLU layers; layer j sees [y_1 .. y_{j-1}] (the first: the block input); returns [y_1 .. y_n]."""
    outputs = []
    for index in range(1, num_layers + 1):
        layer_input = x if index == 1 else _concat(outputs, f"{name}_concat_{index}")
        conv = keras.layers.Conv2D(growth_rate, 3, padding="same", activation="relu", name=f"{name}_conv_{index}",
                                   kernel_initializer=initializer(kernel_initializer, "he_normal"))
        outputs.append(conv(layer_input))
    return _concat(outputs, f"{name}_output")


@register("srdensenet")
def srdensenet(scale=4, channels=1, skip="all", num_blocks=8, num_layers=8, growth_rate=16, bottleneck=256,
               deconv_kernel_size=3, kernel_initializer=None, name="srdensenet"):
    """Build SRDenseNet as a functional `keras.Model` on [0, 255] LR images.

    Args:
        scale: 4 (the paper), or 2 / 8 (one / three x2 deconvolutions).
        channels: 1 for the Y channel (the paper), 3 for RGB.
        skip: "all" (SRDenseNet_All), "hl" (SRDenseNet_HL) or "h" (SRDenseNet_H).
        num_blocks: dense blocks (8).
        num_layers: convs per dense block (8).
        growth_rate: maps added by each conv (16).
        bottleneck: maps after the 1x1 bottleneck and in the deconvolutions (256).
        deconv_kernel_size: kernel of the stride-2 transposed convs (3).
        kernel_initializer: None for the paper's initialization (He), or
            a Keras initializer for every convolution kernel.
        name: model name.
    """
    scale = check_scale("SRDenseNet", scale, SCALES)
    channels = check_channels("SRDenseNet", channels)
    skip = str(skip).lower()
    if skip not in SKIP_VARIANTS:
        raise ValueError(f"SRDenseNet skip must be one of {SKIP_VARIANTS}, got {skip!r}.")
    num_blocks, num_layers, growth_rate = int(num_blocks), int(num_layers), int(growth_rate)
    bottleneck, deconv_kernel_size = int(bottleneck), int(deconv_kernel_size)
    inputs, x = lr_input(channels)
    low = keras.layers.Conv2D(growth_rate * num_layers, 3, padding="same", activation="relu", name="low_level_conv",
                              kernel_initializer=initializer(kernel_initializer, "he_normal"))(x)
    levels = [low]
    block_output = low
    for block in range(1, num_blocks + 1):
        block_input = _concat(levels, f"block_{block}_input") if skip == "all" else block_output
        block_output = _dense_block(block_input, num_layers, growth_rate, kernel_initializer, f"block_{block}")
        levels.append(block_output)
    if skip == "all":
        features = _concat(levels, "dense_skip_concat")
    elif skip == "hl":
        features = _concat([low, block_output], "low_high_concat")
    else:
        features = block_output
    x = keras.layers.Conv2D(bottleneck, 1, activation="relu", name="bottleneck",
                            kernel_initializer=initializer(kernel_initializer, "he_normal"))(features)
    for index in range(1, scale.bit_length()):
        x = keras.layers.Conv2DTranspose(bottleneck, deconv_kernel_size, strides=2, padding="same",
                                         activation="relu", name=f"deconv_{index}",
                                         kernel_initializer=initializer(kernel_initializer, "he_normal"))(x)
    x = keras.layers.Conv2D(channels, 3, padding="same", name="reconstruction",
                            kernel_initializer=initializer(kernel_initializer, "he_normal"))(x)
    return keras.Model(inputs, pixel_output()(x), name=name)
