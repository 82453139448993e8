"""MinibatchStddev: the discriminator's minibatch standard-deviation feature (ProGAN; StyleGAN2's grouped form).

Karras et al., "Progressive Growing of GANs" (ICLR 2018), Sec. 3, and the
StyleGAN2 discriminator (CVPR 2020, App. B): over groups of `group_size`
samples, the per-feature standard deviation, averaged over space and the
channels of each of `channel_groups` groups, is appended as extra channels.
Grouping as mmagic's `ModMBStddevLayer` (stylegan2_modules.py: sample `n` is
in group position `n // M` of `M = N / G` groups, population variance, eps 1e-8).

Example:
    >>> layer = MinibatchStddev(group_size=4)
    >>> y = layer(keras.random.normal((8, 4, 4, 512)))     # (8, 4, 4, 513)
    >>> MinibatchStddev(group_size=4, channel_groups=2)     # two extra channels
"""

import keras
from keras import ops

__all__ = ["MinibatchStddev"]


@keras.saving.register_keras_serializable(package="keras_sr")
class MinibatchStddev(keras.layers.Layer):
    """(N, H, W, C) -> (N, H, W, C + channel_groups); the batch must be <= group_size or a multiple of it.

    Args:
        group_size: samples per group (4).
        channel_groups: channel groups, one feature each (1).
        eps: added to the variance (1e-8).
    """

    def __init__(self, group_size=4, channel_groups=1, eps=1e-8, **kwargs):
        super().__init__(**kwargs)
        self.group_size = int(group_size)
        self.channel_groups = int(channel_groups)
        self.eps = float(eps)

    def call(self, inputs):
        shape = ops.shape(inputs)
        n, h, w, c = shape[0], shape[1], shape[2], inputs.shape[-1]
        if c % self.channel_groups:
            raise ValueError(f"MinibatchStddev: {c} channels are not divisible by channel_groups "
                             f"{self.channel_groups}.")
        g = ops.minimum(n, self.group_size) if not isinstance(n, int) else min(n, self.group_size)
        x = ops.cast(inputs, "float32")
        y = ops.reshape(x, (g, -1, h, w, self.channel_groups, c // self.channel_groups))
        y = ops.var(y, axis=0)                                        # (M, H, W, Cg, C')
        y = ops.sqrt(y + self.eps)
        y = ops.mean(y, axis=(1, 2, 4))                                # (M, Cg)
        y = ops.tile(y[:, None, None, :], (g, h, w, 1))                # sample n takes group member n % M
        return ops.concatenate([inputs, ops.cast(y, inputs.dtype)], axis=-1)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:3]) + (input_shape[3] + self.channel_groups,)

    def get_config(self):
        config = super().get_config()
        config.update({"group_size": self.group_size, "channel_groups": self.channel_groups, "eps": self.eps})
        return config
