"""PixelNorm: ProGAN's pixelwise feature normalisation, `x / (||x||_2 / sqrt(C) + eps)` over the last axis.

Karras et al., "Progressive Growing of GANs" (ICLR 2018), Sec. 4.2; StyleGAN
normalises the input latent z with it before the mapping network. eps 1e-6 as
mmagic's `pixel_norm` (pggan_modules.py).

Example:
    >>> z = PixelNorm()(keras.random.normal((4, 512)))     # every row has RMS ~1
    >>> PixelNorm(eps=1e-8)
    >>> PixelNorm().get_config()["eps"]
"""

import keras
from keras import ops

__all__ = ["PixelNorm"]


@keras.saving.register_keras_serializable(package="keras_sr")
class PixelNorm(keras.layers.Layer):
    """Normalise the last axis to unit root-mean-square.

    Args:
        eps: added to the RMS (1e-6).
    """

    def __init__(self, eps=1e-6, **kwargs):
        super().__init__(**kwargs)
        self.eps = float(eps)

    def call(self, inputs):
        rms = ops.sqrt(ops.mean(ops.square(inputs), axis=-1, keepdims=True))
        return inputs / (rms + self.eps)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update({"eps": self.eps})
        return config
