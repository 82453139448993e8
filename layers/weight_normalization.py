"""Weight normalization wrapper (replacement for tensorflow-addons' wrapper).

Salimans & Kingma, "Weight Normalization: A Simple Reparameterization to
Accelerate Training of Deep Neural Networks", NeurIPS 2016
(https://arxiv.org/abs/1602.07868). Used by WDSR (Yu et al. 2018,
https://arxiv.org/abs/1808.08718) through `torch.nn.utils.weight_norm`.
"""

import keras
from keras import ops

_SUPPORTED = (keras.layers.Conv1D, keras.layers.Conv2D, keras.layers.Conv3D, keras.layers.Dense)


@keras.saving.register_keras_serializable(package="keras_sr")
class WeightNormalization(keras.layers.Wrapper):
    """Reparameterize a layer's kernel as `w = g * v / ||v||`.

    The wrapped layer's own kernel variable is the direction `v`; the wrapper
    adds one magnitude `g` per output unit. Norms are taken over every kernel
    axis but the last (the output axis), as `torch.nn.utils.weight_norm(dim=0)`
    does. Initialization is data-independent: `g = ||v||` at build time, so a
    freshly built wrapper computes exactly what the wrapped layer would. The
    bias and activation of the wrapped layer are applied as usual. Trainable
    parameters: those of the wrapped layer plus `units` (as in PyTorch:
    `weight_v`, `weight_g`, `bias`).

    Supported layers: `Conv1D`, `Conv2D`, `Conv3D` (any strides, padding,
    dilation, groups, data format) and `Dense`.

    Args:
        layer: the layer to wrap.
        epsilon: lower bound on `||v||^2` (guards an all-zero direction).

    Example:
        >>> conv = WeightNormalization(keras.layers.Conv2D(32, 3, padding="same"))
        >>> y = conv(keras.random.normal((1, 8, 8, 3)))
        >>> y.shape  # (1, 8, 8, 32)
    """

    def __init__(self, layer, epsilon=1e-12, **kwargs):
        if not isinstance(layer, _SUPPORTED) or type(layer).__name__.endswith("Transpose"):
            raise ValueError(
                "WeightNormalization supports Conv1D, Conv2D, Conv3D and Dense layers; "
                f"got {type(layer).__name__}."
            )
        super().__init__(layer, **kwargs)
        self.epsilon = float(epsilon)

    def build(self, input_shape):
        super().build(input_shape)
        kernel = self.layer.kernel
        self._norm_axes = tuple(range(len(kernel.shape) - 1))
        self.g = self.add_weight(name="g", shape=(kernel.shape[-1],), initializer="ones", dtype=kernel.dtype)
        # Data-independent initialization (Salimans & Kingma 2016, sec. 2.1 without data): g = ||v||.
        self.g.assign(ops.sqrt(ops.sum(ops.square(kernel), axis=self._norm_axes)))

    def normalized_kernel(self):
        """The effective kernel `g * v / ||v||` (same shape as the wrapped kernel)."""
        # In float32 (also under mixed precision, where epsilon and small norms underflow in float16).
        v = ops.cast(self.layer.kernel, "float32")
        g = ops.cast(self.g, "float32")
        squared_norm = ops.sum(ops.square(v), axis=self._norm_axes, keepdims=True)
        kernel = v * (g * ops.rsqrt(ops.maximum(squared_norm, self.epsilon)))
        return ops.cast(kernel, self.compute_dtype)

    def call(self, inputs):
        layer = self.layer
        kernel = self.normalized_kernel()
        if isinstance(layer, keras.layers.Dense):
            outputs = ops.matmul(inputs, kernel)
            if layer.use_bias:
                outputs = outputs + layer.bias
        else:
            outputs = layer.convolution_op(inputs, kernel)
            if layer.use_bias:
                if layer.data_format == "channels_last":
                    bias_shape = (1,) * (layer.rank + 1) + (layer.filters,)
                else:
                    bias_shape = (1, layer.filters) + (1,) * layer.rank
                outputs = outputs + ops.reshape(layer.bias, bias_shape)
        if layer.activation is not None:
            outputs = layer.activation(outputs)
        return outputs

    def compute_output_shape(self, input_shape):
        return self.layer.compute_output_shape(input_shape)

    def get_config(self):
        config = super().get_config()
        config["epsilon"] = self.epsilon
        return config
