"""SpatialAdaptation: MASA-SR's spatial adaptation module (SAM), reference features remapped to the LR statistics.

Lu, Li, Jiang, Tai, Jia, "MASA-SR: Matching Acceleration and Spatial
Adaptation for Reference-Based Image Super-Resolution", CVPR 2021
(https://arxiv.org/abs/2106.02299), Sec. 3.2, and the official `SAM`
(github.com/dvlab-research/MASA-SR, `models/archs/MASA_arch.py`,
`use_residual=True, learnable=True`):

    style = relu(conv3x3(concat(lr, ref)))
    gamma = conv3x3(style) + std(lr),  beta = conv3x3(style) + mean(lr)
    out   = instance_norm(ref) * gamma + beta

`instance_norm` is PyTorch's `InstanceNorm2d(affine=False)` (biased variance,
eps 1e-5); `std(lr)` / `mean(lr)` are per-channel statistics over the
spatial positions, the standard deviation unbiased as `torch.std` (its
gradient is zero, not NaN, for a constant channel). The gamma
and beta convolutions start at zero (official initialization), so the
module starts as the pure statistics transfer.

Example:
    >>> sam = SpatialAdaptation(64)
    >>> adapted = sam([lr_features, warped_reference])   # the reference's shape
"""

import math

import keras
from keras import ops

__all__ = ["SpatialAdaptation", "masa_conv_initializer"]


def masa_conv_initializer(kernel_size, filters, gain=1.0):
    """MASA-SR's conv init: normal(0, 0.5 * sqrt(2 / (k * k * out_channels))) times `gain` (official `weight_init`)."""
    return keras.initializers.RandomNormal(stddev=float(gain) * 0.5 * math.sqrt(2.0 / (kernel_size ** 2 * filters)))


@keras.saving.register_keras_serializable(package="keras_sr")
class SpatialAdaptation(keras.layers.Layer):
    """`[lr, ref] -> ref` remapped to the LR features' spatial statistics (MASA-SR's SAM).

    Args:
        filters: channels of `lr` and `ref` (64 in MASA-SR).
        epsilon: of the instance normalization (1e-5).
        kernel_initializer: of the shared conv (default: MASA-SR's normal init).

    Example:
        >>> sam = SpatialAdaptation(8)
        >>> sam([keras.random.normal((1, 6, 7, 8)), keras.random.normal((1, 6, 7, 8))]).shape   # (1, 6, 7, 8)
    """

    def __init__(self, filters, epsilon=1e-5, kernel_initializer=None, **kwargs):
        super().__init__(**kwargs)
        self.filters = int(filters)
        self.epsilon = float(epsilon)
        self.kernel_initializer = keras.initializers.get(kernel_initializer or masa_conv_initializer(3, self.filters))
        conv = dict(padding="same", dtype=self.dtype_policy)
        self.conv_shared = keras.layers.Conv2D(self.filters, 3, activation="relu", kernel_initializer=self.kernel_initializer,
                                               name="conv_shared", **conv)
        self.conv_gamma = keras.layers.Conv2D(self.filters, 3, kernel_initializer="zeros", name="conv_gamma", **conv)
        self.conv_beta = keras.layers.Conv2D(self.filters, 3, kernel_initializer="zeros", name="conv_beta", **conv)

    def build(self, input_shape):
        lr, ref = input_shape
        if lr[-1] != self.filters or ref[-1] != self.filters:
            raise ValueError(f"SpatialAdaptation({self.filters}) needs {self.filters} channels, got {lr[-1]}, {ref[-1]}.")
        self.conv_shared.build((None, None, None, 2 * self.filters))
        self.conv_gamma.build((None, None, None, self.filters))
        self.conv_beta.build((None, None, None, self.filters))

    def call(self, inputs):
        lr, ref = inputs
        mean = ops.mean(ref, axis=(1, 2), keepdims=True)
        variance = ops.mean(ops.square(ref - mean), axis=(1, 2), keepdims=True)
        normed = (ref - mean) / ops.sqrt(variance + self.epsilon)
        style = self.conv_shared(ops.concatenate([lr, ref], axis=-1))
        lr_mean = ops.mean(lr, axis=(1, 2), keepdims=True)
        count = ops.cast(ops.shape(lr)[1] * ops.shape(lr)[2], lr.dtype)
        lr_var = ops.sum(ops.square(lr - lr_mean), axis=(1, 2), keepdims=True) / (count - 1.0)
        # sqrt with a zero (not NaN) gradient where the variance is 0 (a dead ReLU channel): same values.
        positive = lr_var > 0
        lr_std = ops.where(positive, ops.sqrt(ops.where(positive, lr_var, ops.ones_like(lr_var))), 0.0)
        gamma = self.conv_gamma(style) + lr_std
        beta = self.conv_beta(style) + lr_mean
        return normed * gamma + beta

    def compute_output_shape(self, input_shape):
        return input_shape[1]

    def get_config(self):
        config = super().get_config()
        config.update({"filters": self.filters, "epsilon": self.epsilon,
                       "kernel_initializer": keras.initializers.serialize(self.kernel_initializer)})
        return config
