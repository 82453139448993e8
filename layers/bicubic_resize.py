"""BicubicResize: MATLAB-faithful bicubic resizing as a serializable Keras layer.

Wraps `keras_sr.imresize.imresize_ops` (MATLAB's `imresize(x, scale,
'bicubic')` with antialiasing and mirrored borders; float, no rounding), so a
bicubic baseline or a bicubic-upsampled input (SRCNN, VDSR) can live inside a
functional model that loads with `safe_mode=True`.

Example:
    >>> up = BicubicResize(scale=4)
    >>> y = up(keras.ops.ones((1, 12, 12, 3)) * 100.0)   # (1, 48, 48, 3), all 100
    >>> BicubicResize.from_config(up.get_config()).scale  # 4.0
"""

import math

import keras

from keras_sr.imresize import imresize_ops

__all__ = ["BicubicResize"]


@keras.saving.register_keras_serializable(package="keras_sr")
class BicubicResize(keras.layers.Layer):
    """Resize NHWC images by `scale` with MATLAB's bicubic rule.

    Args:
        scale: resize factor (4 enlarges four times, 0.25 shrinks).
        antialias: widen the kernel when shrinking (MATLAB's default).
    """

    def __init__(self, scale, antialias=True, **kwargs):
        super().__init__(**kwargs)
        if scale is None or float(scale) <= 0:
            raise ValueError(f"BicubicResize scale must be positive, got {scale!r}.")
        self.scale = float(scale)
        self.antialias = bool(antialias)

    def call(self, inputs):
        return imresize_ops(inputs, self.scale, antialias=self.antialias)

    def compute_output_shape(self, input_shape):
        def size(n):
            return None if n is None else int(math.ceil(self.scale * n))

        return (input_shape[0], size(input_shape[1]), size(input_shape[2]), input_shape[3])

    def get_config(self):
        config = super().get_config()
        config.update({"scale": self.scale, "antialias": self.antialias})
        return config
