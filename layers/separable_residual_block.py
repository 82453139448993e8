"""SeparableResidualBlock: `x + sep(relu(sep(x)))`, a residual block of depthwise-separable convolutions.

The student of Gao et al., "Image Super-Resolution Using Knowledge
Distillation" (ACCV 2018) replaces the teacher's residual blocks by blocks of
depthwise-separable convolutions (Howard et al., MobileNets, 2017): each
convolution is a k x k depthwise convolution followed by a 1 x 1 pointwise
one (`keras.layers.SeparableConv2D`, one bias). Layout as EDSR's block
(`ResidualBlock`): conv -> ReLU -> conv, plus the input, no batch norm.

Example:
    >>> block = SeparableResidualBlock(filters=64)
    >>> y = block(keras.random.normal((1, 16, 16, 64)))   # same shape
    >>> block.count_params()                              # 2 * (9 * 64 + 64 * 64 + 64) = 9,472
"""

import keras

__all__ = ["SeparableResidualBlock"]


@keras.saving.register_keras_serializable(package="keras_sr")
class SeparableResidualBlock(keras.layers.Layer):
    """separable conv (k x k) -> ReLU -> separable conv (k x k), plus the input.

    Args:
        filters: channels (the input must have the same number).
        kernel_size: the depthwise kernel (3).
        kernel_initializer: for the depthwise and pointwise kernels.
        bias_initializer: for the biases.
    """

    def __init__(self, filters, kernel_size=3, kernel_initializer="glorot_uniform", bias_initializer="zeros",
                 **kwargs):
        super().__init__(**kwargs)
        self.filters = int(filters)
        self.kernel_size = int(kernel_size)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)
        common = dict(padding="same", depthwise_initializer=self.kernel_initializer,
                      pointwise_initializer=self.kernel_initializer, bias_initializer=self.bias_initializer,
                      dtype=self.dtype_policy)
        self.conv1 = keras.layers.SeparableConv2D(self.filters, self.kernel_size, activation="relu", name="conv1",
                                                  **common)
        self.conv2 = keras.layers.SeparableConv2D(self.filters, self.kernel_size, name="conv2", **common)

    def build(self, input_shape):
        if input_shape[-1] != self.filters:
            raise ValueError(f"SeparableResidualBlock({self.filters}) needs {self.filters} input channels, "
                             f"got {input_shape[-1]}.")
        if not self.conv1.built:
            self.conv1.build(input_shape)
        if not self.conv2.built:
            self.conv2.build(tuple(input_shape[:-1]) + (self.filters,))

    def call(self, inputs):
        return inputs + self.conv2(self.conv1(inputs))

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update({
            "filters": self.filters,
            "kernel_size": self.kernel_size,
            "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
            "bias_initializer": keras.initializers.serialize(self.bias_initializer),
        })
        return config
