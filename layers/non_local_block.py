"""NonLocalBlock: the embedded-Gaussian non-local block (Wang, Girshick, Gupta, He, CVPR 2018).

`y = x + W_z(softmax(theta(x) phi(x)^T) g(x))` with 1x1 convolutions `theta`,
`phi`, `g` to `inner` channels and `W_z` back to the input's channels
(https://arxiv.org/abs/1711.07971, Sec. 3.2). SSEN (Shim et al., CVPR 2020)
puts non-local blocks in its dynamic offset estimator. `W_z` starts at zero
(the paper zero-initializes the BN after it), so a fresh block is the
identity. Memory is `B * (H W)^2` attention weights: use it on coarse maps.

Example:
    >>> block = NonLocalBlock(inner=32)
    >>> y = block(keras.ops.ones((1, 8, 8, 64)))       # (1, 8, 8, 64)
    >>> block.count_params()                           # 3 * (64 * 32 + 32) + 32 * 64 + 64
"""

import keras
from keras import ops

__all__ = ["NonLocalBlock"]


@keras.saving.register_keras_serializable(package="keras_sr")
class NonLocalBlock(keras.layers.Layer):
    """Embedded-Gaussian non-local block with a residual connection.

    Args:
        inner: channels of theta/phi/g (default: half the input channels).
        kernel_initializer: for theta, phi and g ("glorot_uniform"); W_z is zero-initialized.
    """

    def __init__(self, inner=None, kernel_initializer="glorot_uniform", **kwargs):
        super().__init__(**kwargs)
        self.inner = None if inner is None else int(inner)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)

    def build(self, input_shape):
        channels = int(input_shape[-1])
        inner = self.inner or max(1, channels // 2)
        common = dict(kernel_initializer=self.kernel_initializer, dtype=self.dtype_policy)
        self.theta = keras.layers.Conv2D(inner, 1, name="theta", **common)
        self.phi = keras.layers.Conv2D(inner, 1, name="phi", **common)
        self.g = keras.layers.Conv2D(inner, 1, name="g", **common)
        self.w_z = keras.layers.Conv2D(channels, 1, kernel_initializer="zeros", dtype=self.dtype_policy, name="w_z")
        for conv in (self.theta, self.phi, self.g):
            conv.build(input_shape)
        self.w_z.build(tuple(input_shape[:-1]) + (inner,))

    def call(self, inputs):
        shape = ops.shape(inputs)
        batch, height, width = shape[0], shape[1], shape[2]

        def flat(x):
            return ops.reshape(x, (batch, height * width, x.shape[-1]))

        theta, phi, g = flat(self.theta(inputs)), flat(self.phi(inputs)), flat(self.g(inputs))
        attention = ops.softmax(ops.matmul(theta, ops.swapaxes(phi, 1, 2)), axis=-1)
        y = ops.reshape(ops.matmul(attention, g), (batch, height, width, g.shape[-1]))
        return inputs + self.w_z(y)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update({"inner": self.inner,
                       "kernel_initializer": keras.initializers.serialize(self.kernel_initializer)})
        return config
