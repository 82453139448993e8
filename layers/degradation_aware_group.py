"""Degradation-aware block (DAB) and group (DAG) of DASR's SR network.

Wang et al., "Unsupervised Degradation Representation Learning for Blind
Super-Resolution", CVPR 2021 (https://arxiv.org/abs/2104.00416), Sec. 3.3,
Fig. 3; the layout of the official `DAB` and `DAG`
(The-Learning-And-Vision-Atelier-LAVA/DASR, `model/blindsr.py`), written anew:

* DAB on `[x, r]`: `lrelu(DA(x, r))`, `lrelu(conv3x3)`, `lrelu(DA(., r))`,
  `conv3x3`, plus `x` (LeakyReLU slope 0.1);
* DAG: `num_blocks` DABs (all seeing the same `r`), a 3x3 conv, plus the
  group's input.

Example:
    >>> group = DegradationAwareGroup(64, num_blocks=5)
    >>> y = group([keras.random.normal((1, 12, 12, 64)), keras.random.normal((1, 64))])
    >>> y.shape  # (1, 12, 12, 64)
"""

import keras
from keras import ops

from keras_sr.layers.da_conv import DAConv, torch_default_initializer

__all__ = ["DegradationAwareBlock", "DegradationAwareGroup"]


def _conv(filters, kernel_size, initializer, name, dtype):
    return keras.layers.Conv2D(filters, kernel_size, padding="same", kernel_initializer=initializer, name=name,
                               dtype=dtype)


@keras.saving.register_keras_serializable(package="keras_sr")
class DegradationAwareBlock(keras.layers.Layer):
    """DAB: two DA convs and two 3x3 convs with a residual connection, on `[x, r]`.

    Args:
        filters: feature channels (64).
        kernel_size: conv and dynamic-kernel size (3).
        reduction: DA conv channel-attention reduction (8).
        kernel_initializer: for every weight (default PyTorch's).
    """

    def __init__(self, filters, kernel_size=3, reduction=8, kernel_initializer=None, **kwargs):
        super().__init__(**kwargs)
        self.filters = int(filters)
        self.kernel_size = int(kernel_size)
        self.reduction = int(reduction)
        self.kernel_initializer = keras.initializers.get(kernel_initializer or torch_default_initializer())
        init, dtype = self.kernel_initializer, self.dtype_policy
        da = dict(kernel_size=self.kernel_size, reduction=self.reduction, kernel_initializer=init, dtype=dtype)
        self.da_conv1 = DAConv(self.filters, name="da_conv1", **da)
        self.da_conv2 = DAConv(self.filters, name="da_conv2", **da)
        self.conv1 = _conv(self.filters, self.kernel_size, init, "conv1", dtype)
        self.conv2 = _conv(self.filters, self.kernel_size, init, "conv2", dtype)

    def build(self, input_shape):
        feature_shape, representation_shape = (tuple(s) for s in input_shape)
        self.da_conv1.build([feature_shape, representation_shape])
        self.conv1.build(feature_shape)
        self.da_conv2.build([feature_shape, representation_shape])
        self.conv2.build(feature_shape)

    def call(self, inputs):
        x, r = inputs
        out = ops.leaky_relu(self.da_conv1([x, r]), 0.1)
        out = ops.leaky_relu(self.conv1(out), 0.1)
        out = ops.leaky_relu(self.da_conv2([out, r]), 0.1)
        return self.conv2(out) + x

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[0])

    def get_config(self):
        config = super().get_config()
        config.update({"filters": self.filters, "kernel_size": self.kernel_size, "reduction": self.reduction,
                       "kernel_initializer": keras.initializers.serialize(self.kernel_initializer)})
        return config


@keras.saving.register_keras_serializable(package="keras_sr")
class DegradationAwareGroup(keras.layers.Layer):
    """DAG: `num_blocks` DABs, a 3x3 conv and a residual connection, on `[x, r]`.

    Args:
        filters, kernel_size, reduction, kernel_initializer: as `DegradationAwareBlock`.
        num_blocks: DABs in the group (5).
    """

    def __init__(self, filters, num_blocks=5, kernel_size=3, reduction=8, kernel_initializer=None, **kwargs):
        super().__init__(**kwargs)
        self.filters = int(filters)
        self.num_blocks = int(num_blocks)
        self.kernel_size = int(kernel_size)
        self.reduction = int(reduction)
        if self.num_blocks < 1:
            raise ValueError(f"DegradationAwareGroup needs num_blocks >= 1, got {num_blocks}.")
        self.kernel_initializer = keras.initializers.get(kernel_initializer or torch_default_initializer())
        init, dtype = self.kernel_initializer, self.dtype_policy
        self.blocks = [DegradationAwareBlock(self.filters, self.kernel_size, self.reduction, init, name=f"dab_{i}",
                                             dtype=dtype) for i in range(self.num_blocks)]
        self.conv = _conv(self.filters, self.kernel_size, init, "conv", dtype)

    def build(self, input_shape):
        feature_shape, representation_shape = (tuple(s) for s in input_shape)
        for block in self.blocks:
            block.build([feature_shape, representation_shape])
        self.conv.build(feature_shape)

    def call(self, inputs):
        x, r = inputs
        out = x
        for block in self.blocks:
            out = block([out, r])
        return self.conv(out) + x

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[0])

    def get_config(self):
        config = super().get_config()
        config.update({"filters": self.filters, "num_blocks": self.num_blocks, "kernel_size": self.kernel_size,
                       "reduction": self.reduction,
                       "kernel_initializer": keras.initializers.serialize(self.kernel_initializer)})
        return config
