"""ConstantInput: StyleGAN2's learned 4x4 input tensor, repeated over the batch of its (style) input.

Karras et al., "A Style-Based Generator Architecture for GANs" (CVPR 2019),
Sec. 2: the synthesis network starts from a learned constant instead of the
latent; mmagic's `ConstantInput` (stylegan1_modules.py), initialised N(0, 1).

Example:
    >>> const = ConstantInput(512)
    >>> x = const(latents)                  # latents (N, L, 512) or (N, 512) -> (N, 4, 4, 512)
    >>> const.count_params()                # 4 * 4 * 512
"""

import keras
from keras import ops

__all__ = ["ConstantInput"]


@keras.saving.register_keras_serializable(package="keras_sr")
class ConstantInput(keras.layers.Layer):
    """Any batch-first tensor -> the learned `(size, size, channels)` tensor for each batch element.

    Args:
        channels: channels of the constant.
        size: spatial size (4).
    """

    def __init__(self, channels, size=4, **kwargs):
        super().__init__(**kwargs)
        self.channels = int(channels)
        self.size = int(size)

    def build(self, input_shape):
        self.constant = self.add_weight(shape=(1, self.size, self.size, self.channels), name="constant",
                                        initializer=keras.initializers.RandomNormal(stddev=1.0))

    def call(self, inputs):
        batch = ops.shape(inputs)[0]
        value = ops.cast(self.constant, self.compute_dtype)
        return ops.broadcast_to(value, (batch, self.size, self.size, self.channels))

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.size, self.size, self.channels)

    def get_config(self):
        config = super().get_config()
        config.update({"channels": self.channels, "size": self.size})
        return config
