"""DRCN: deeply-recursive convolutional network with recursive supervision.

Kim, Lee, Lee, "Deeply-Recursive Convolutional Network for Image
Super-Resolution", CVPR 2016 (https://arxiv.org/abs/1511.04491). On the
bicubic-upsampled Y channel:

* embedding net: two 3x3 convolutions (256 filters, ReLU);
* inference net: ONE 3x3 convolution (256 filters, ReLU) applied
  `recursions` = 16 times with shared weights (the same Keras layer called
  16 times in the functional graph), giving H_1 ... H_16;
* reconstruction net, shared by every recursion: 3x3 conv (256, ReLU) then
  3x3 conv to the image channels, plus the skip connection from the input:
  `y_d = x + f_rec(H_d)`;
* recursive supervision: the output is `sum_d w_d * y_d` with learned
  ensemble weights `w_d` (`keras_sr.layers.LearnedWeightedSum`, start 1/16).

With `intermediate_outputs=True` the model returns a dict
`{"output": y, "recursion_1": y_1, ..., "recursion_16": y_16}`; the paper's
loss is `alpha / D * sum_d l(y_d) + (1 - alpha) * l(y)` (compile with a loss
per key and `loss_weights`). Both settings build the same layers, so weights
trained with the dict outputs load into the single-output model.

Parameters: 2*3*3*256 (first and last conv) + 3 * 3*3*256*256 = 1,774,080
weights ("1.77M"), + 1,025 biases + 16 ensemble weights = 1,775,121.

The last reconstruction conv is linear: the paper writes a ReLU on the
output of its basic model, but with the input skip the conv predicts a
signed residual.

Example:
    >>> from keras_sr import models
    >>> model = models.build("drcn", scale=3, filters=32, recursions=4)
    >>> sr = model(keras.ops.ones((1, 12, 12, 1)) * 128.0)          # (1, 36, 36, 1)
"""

import keras

from keras_sr.layers.learned_weighted_sum import LearnedWeightedSum
from keras_sr.models import register
from keras_sr.models.classic_io import check_channels, check_scale, initializer, pixel_output, upsampled_input

__all__ = ["drcn", "SCALES"]

SCALES = (2, 3, 4)


def _conv(filters, kernel_initializer, name, activation="relu"):
    return keras.layers.Conv2D(filters, 3, padding="same", activation=activation, name=name,
                               kernel_initializer=initializer(kernel_initializer, "he_normal"))


@register("drcn")
def drcn(scale=None, channels=1, filters=256, recursions=16, intermediate_outputs=False, kernel_initializer=None,
         name="drcn"):
    """Build DRCN as a functional `keras.Model` on [0, 255] images.

    Args:
        scale: None for a bicubic-upsampled input (the paper's setting), or
            2, 3 or 4 for bicubic upsampling inside the model.
        channels: 1 for the Y channel (the paper), 3 for RGB.
        filters: width of every hidden convolution (256).
        recursions: applications D of the shared inference conv (16).
        intermediate_outputs: also return each recursion's prediction (for
            recursive supervision) in a dict; False returns the final image.
        kernel_initializer: None for the paper's initialization (He), or
            a Keras initializer for every convolution kernel.
        name: model name.
    """
    if scale is not None:
        scale = check_scale("DRCN", scale, SCALES)
    channels = check_channels("DRCN", channels)
    filters, recursions = int(filters), int(recursions)
    if recursions < 1:
        raise ValueError(f"DRCN recursions must be >= 1, got {recursions}.")
    inputs, upsampled = upsampled_input(channels, scale)
    h = _conv(filters, kernel_initializer, "embedding_1")(upsampled)
    h = _conv(filters, kernel_initializer, "embedding_2")(h)
    inference = _conv(filters, kernel_initializer, "inference_recursive")
    reconstruction_hidden = _conv(filters, kernel_initializer, "reconstruction_1")
    reconstruction_out = _conv(channels, kernel_initializer, "reconstruction_2", activation=None)
    to_pixels = pixel_output()
    predictions = []
    for index in range(recursions):
        h = inference(h)
        residual = reconstruction_out(reconstruction_hidden(h))
        predictions.append(keras.layers.Add(name=f"recursion_{index + 1}")([upsampled, residual]))
    if recursions > 1:
        final = LearnedWeightedSum(name="ensemble")(predictions)
    else:
        final = predictions[0]
    output = to_pixels(final)
    if not intermediate_outputs:
        return keras.Model(inputs, output, name=name)
    outputs = {"output": output}
    outputs.update({f"recursion_{i + 1}": to_pixels(p) for i, p in enumerate(predictions)})
    return keras.Model(inputs, outputs, name=name)
