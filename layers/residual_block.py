"""ResidualBlock: `x + res_scale * conv(relu(conv(x)))`, EDSR's block without batch norm.

Lim et al., "Enhanced Deep Residual Networks for Single Image
Super-Resolution" (CVPRW 2017), Fig. 2: batch normalization removed, and the
residual scaled by `res_scale` (0.1 for the 256-channel EDSR) to keep
training of wide models stable.

Example:
    >>> block = ResidualBlock(filters=64, res_scale=0.1)
    >>> y = block(keras.random.normal((1, 16, 16, 64)))   # same shape
    >>> block.count_params()                              # 2 * (9 * 64 * 64 + 64)
"""

import keras

__all__ = ["ResidualBlock"]


@keras.saving.register_keras_serializable(package="keras_sr")
class ResidualBlock(keras.layers.Layer):
    """conv(k x k) -> ReLU -> conv(k x k), scaled by `res_scale`, plus the input.

    Args:
        filters: channels (the input must have the same number).
        kernel_size: 3 in EDSR.
        res_scale: residual scaling (1.0 baseline, 0.1 full EDSR).
        kernel_initializer, bias_initializer: for both convs.
    """

    def __init__(self, filters, kernel_size=3, res_scale=1.0, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", **kwargs):
        super().__init__(**kwargs)
        self.filters = int(filters)
        self.kernel_size = int(kernel_size)
        self.res_scale = float(res_scale)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)
        common = dict(padding="same", kernel_initializer=self.kernel_initializer,
                      bias_initializer=self.bias_initializer, dtype=self.dtype_policy)
        self.conv1 = keras.layers.Conv2D(self.filters, self.kernel_size, activation="relu", name="conv1", **common)
        self.conv2 = keras.layers.Conv2D(self.filters, self.kernel_size, name="conv2", **common)

    def build(self, input_shape):
        if input_shape[-1] != self.filters:
            raise ValueError(f"ResidualBlock({self.filters}) needs {self.filters} input channels, got {input_shape[-1]}.")
        if not self.conv1.built:
            self.conv1.build(input_shape)
        if not self.conv2.built:
            self.conv2.build(tuple(input_shape[:-1]) + (self.filters,))

    def call(self, inputs):
        residual = self.conv2(self.conv1(inputs))
        if self.res_scale != 1.0:
            residual = residual * self.res_scale
        return inputs + residual

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update({
            "filters": self.filters,
            "kernel_size": self.kernel_size,
            "res_scale": self.res_scale,
            "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
            "bias_initializer": keras.initializers.serialize(self.bias_initializer),
        })
        return config
