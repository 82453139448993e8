"""Channel attention (squeeze-and-excitation) as used by RCAN.

Zhang et al., "Image Super-Resolution Using Very Deep Residual Channel
Attention Networks", ECCV 2018 (https://arxiv.org/abs/1807.02758), after Hu et
al., "Squeeze-and-Excitation Networks", CVPR 2018.
"""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="keras_sr")
class ChannelAttention(keras.layers.Layer):
    """Rescale each channel by a gate computed from its global average.

    `s = sigmoid(W_up · relu(W_down · mean_hw(x) + b_down) + b_up)`, output
    `x * s`. `W_down` maps C to `C // reduction` channels; the two maps are the
    1x1 convolutions of RCAN's `CALayer` (same parameters: `2 * C * (C // r) +
    C // r + C`).

    Args:
        reduction: channel reduction ratio r (RCAN: 16).
        kernel_initializer, bias_initializer: initializers of the two maps.

    Example:
        >>> layer = ChannelAttention(reduction=16)
        >>> y = layer(keras.random.normal((2, 8, 8, 64)))
        >>> y.shape  # (2, 8, 8, 64)
    """

    def __init__(self, reduction=16, kernel_initializer="glorot_uniform", bias_initializer="zeros", **kwargs):
        super().__init__(**kwargs)
        if int(reduction) < 1:
            raise ValueError(f"reduction must be >= 1, got {reduction}.")
        self.reduction = int(reduction)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)

    def build(self, input_shape):
        channels = input_shape[-1]
        if channels is None:
            raise ValueError("ChannelAttention needs a known channel dimension.")
        hidden = channels // self.reduction
        if hidden < 1:
            raise ValueError(f"reduction {self.reduction} leaves no channels out of {channels}.")
        self.down_kernel = self.add_weight(
            name="down_kernel", shape=(channels, hidden), initializer=self.kernel_initializer
        )
        self.down_bias = self.add_weight(name="down_bias", shape=(hidden,), initializer=self.bias_initializer)
        self.up_kernel = self.add_weight(name="up_kernel", shape=(hidden, channels), initializer=self.kernel_initializer)
        self.up_bias = self.add_weight(name="up_bias", shape=(channels,), initializer=self.bias_initializer)

    def call(self, inputs):
        pooled = ops.mean(inputs, axis=(1, 2), keepdims=True)
        hidden = ops.relu(ops.matmul(pooled, self.down_kernel) + self.down_bias)
        gate = ops.sigmoid(ops.matmul(hidden, self.up_kernel) + self.up_bias)
        return inputs * gate

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "reduction": self.reduction,
                "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
                "bias_initializer": keras.initializers.serialize(self.bias_initializer),
            }
        )
        return config
