"""MeanShift: subtract or add back the dataset's RGB mean (EDSR, Lim et al. CVPRW 2017).

EDSR normalizes its 0-255 input by the DIV2K RGB mean `(0.4488, 0.4371,
0.4040) * 255` at the head (`sign=-1`) and adds it back at the tail
(`sign=+1`). The official code does this with a frozen 1x1 conv (12
parameters each); here it is a constant offset with no weights, so the model
has exactly the official trainable parameters.

Example:
    >>> sub, add = MeanShift(sign=-1), MeanShift(sign=1)
    >>> x = keras.ops.ones((1, 8, 8, 3)) * 128.0
    >>> add(sub(x))                                   # == x
"""

import keras
from keras import ops

__all__ = ["MeanShift", "DIV2K_RGB_MEAN"]

DIV2K_RGB_MEAN = (0.4488, 0.4371, 0.4040)


@keras.saving.register_keras_serializable(package="keras_sr")
class MeanShift(keras.layers.Layer):
    """`x + sign * rgb_range * rgb_mean / rgb_std`, then `/ rgb_std` when subtracting (EDSR's MeanShift).

    Args:
        rgb_mean: per-channel mean in [0, 1] (DIV2K's by default).
        rgb_std: per-channel std in [0, 1] (1 in EDSR).
        sign: -1 to subtract the mean (head), +1 to add it back (tail).
        rgb_range: pixel range of the images (255 in keras-sr).
    """

    def __init__(self, rgb_mean=DIV2K_RGB_MEAN, rgb_std=(1.0, 1.0, 1.0), sign=-1, rgb_range=255.0, **kwargs):
        super().__init__(**kwargs)
        if sign not in (-1, 1):
            raise ValueError(f"MeanShift sign must be -1 or +1, got {sign!r}.")
        if len(rgb_mean) != len(rgb_std):
            raise ValueError("MeanShift rgb_mean and rgb_std must have the same length.")
        self.rgb_mean = tuple(float(v) for v in rgb_mean)
        self.rgb_std = tuple(float(v) for v in rgb_std)
        self.sign = int(sign)
        self.rgb_range = float(rgb_range)
        self.supports_masking = True

    def call(self, inputs):
        # As the official 1x1 conv: weight = eye / std, bias = sign * range * mean / std.
        std = ops.convert_to_tensor(self.rgb_std, dtype=inputs.dtype)
        bias = ops.convert_to_tensor([self.sign * self.rgb_range * m / s for m, s in zip(self.rgb_mean, self.rgb_std)],
                                     dtype=inputs.dtype)
        return inputs / std + bias

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update({"rgb_mean": list(self.rgb_mean), "rgb_std": list(self.rgb_std), "sign": self.sign,
                       "rgb_range": self.rgb_range})
        return config
