"""The bicubic baseline as a registered model, so tools and recipes compare against it uniformly.

A functional model around `keras_sr.layers.BicubicResize` (MATLAB-faithful
`imresize`, float, no intermediate rounding); `tools.evaluate --model bicubic`
uses the numpy uint8 version (`keras_sr.upscalers.bicubic_upscaler`), which
rounds between the two passes exactly as MATLAB does for uint8 images; the two
differ by at most one 8-bit level per pixel.

Example:
    >>> from keras_sr import models
    >>> model = models.build("bicubic", scale=4)
    >>> model(keras.ops.ones((1, 10, 10, 3))).shape     # (1, 40, 40, 3)
"""

import keras

from keras_sr.layers.bicubic_resize import BicubicResize
from keras_sr.models import register


__all__ = ["bicubic"]


@register("bicubic")
def bicubic(scale=4, channels=3, name=None):
    """MATLAB bicubic `x scale` upsampling as a functional model with no weights."""
    if int(scale) < 1:
        raise ValueError(f"bicubic scale must be a positive integer, got {scale!r}.")
    inputs = keras.Input((None, None, channels), name="lr")
    outputs = BicubicResize(int(scale), name="bicubic")(inputs)
    return keras.Model(inputs, outputs, name=name or f"bicubic_x{int(scale)}")
