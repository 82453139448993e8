"""Spectral normalization with PyTorch's `torch.nn.utils.spectral_norm` semantics (keras.ops, our own wrapper).

Miyato et al., "Spectral Normalization for Generative Adversarial Networks",
ICLR 2018 (https://arxiv.org/abs/1802.05957): the kernel is divided by its
largest singular value `sigma`, estimated by power iteration on the kernel
matrix `W` (output units x everything else). As in PyTorch's
`spectral_norm(module)` (the one Real-ESRGAN's `UNetDiscriminatorSN` uses):

* `u` (output space) and `v` (input space) are persisted, non-trainable
  weights, initialized to normalized standard-normal vectors;
* every *training* call runs `power_iterations` (1) steps
  `v = normalize(W^T u)`, `u = normalize(W v)` (`normalize(x) = x /
  max(||x||, eps)`, eps 1e-12) and stores them; inference calls do not;
* `sigma = u^T W v` with `u`, `v` held constant (no gradient through them),
  and the layer runs with `W / sigma`.

`W` is the kernel reshaped to `(fan_in, units)` and transposed, so `v`
follows Keras's `(kh, kw, in)` flattening order; `torch_v_permutation` maps
PyTorch's `(in, kh, kw)` order onto it (for converted checkpoints).

Why not `keras.layers.SpectralNormalization`: in Keras 3.15 it writes the
normalized kernel back into the wrapped layer's kernel variable on every
training call (so the stored weights are `W / sigma` and the optimizer's next
update applies to the normalized kernel) and keeps no `v`; PyTorch keeps the
raw weight and normalizes on the fly. The tests compare this wrapper with a
numpy power iteration and with `torch.nn.utils.spectral_norm`.

Example:
    >>> conv = SpectralNormalization(keras.layers.Conv2D(64, 4, strides=2, padding="same", use_bias=False))
    >>> y = conv(keras.random.normal((1, 16, 16, 3)), training=True)     # one power iteration, u and v updated
    >>> float(conv.sigma())                                              # the current estimate of ||W||_2
"""

import numpy as np

import keras
from keras import ops

__all__ = ["SpectralNormalization", "torch_v_permutation"]

_SUPPORTED = (keras.layers.Conv1D, keras.layers.Conv2D, keras.layers.Conv3D, keras.layers.Dense)


def torch_v_permutation(kernel_shape):
    """Index map `p` with `v_keras = v_torch[p]` for a Keras conv kernel `(kh, kw, in, out)` (torch: `(in, kh, kw)`)."""
    *spatial, fan_in, _ = kernel_shape
    torch_index = np.arange(fan_in * int(np.prod(spatial))).reshape((fan_in, *spatial))
    return np.moveaxis(torch_index, 0, -1).reshape(-1)


def _normalize(x, epsilon):
    return x / ops.maximum(ops.sqrt(ops.sum(ops.square(x))), epsilon)


@keras.saving.register_keras_serializable(package="keras_sr")
class SpectralNormalization(keras.layers.Wrapper):
    """Run a `Conv*D` / `Dense` layer with its kernel divided by a power-iteration estimate of its spectral norm.

    Args:
        layer: the layer to wrap (its kernel stays the raw, trainable weight).
        power_iterations: power-iteration steps per training call (PyTorch's `n_power_iterations`, 1).
        epsilon: the normalization's lower bound on a vector norm (1e-12).
    """

    def __init__(self, layer, power_iterations=1, epsilon=1e-12, **kwargs):
        if not isinstance(layer, _SUPPORTED) or type(layer).__name__.endswith("Transpose"):
            raise ValueError(f"SpectralNormalization supports Conv1D, Conv2D, Conv3D and Dense; got "
                             f"{type(layer).__name__}.")
        super().__init__(layer, **kwargs)
        if int(power_iterations) < 1:
            raise ValueError(f"power_iterations must be >= 1, got {power_iterations}.")
        self.power_iterations = int(power_iterations)
        self.epsilon = float(epsilon)

    def build(self, input_shape):
        super().build(input_shape)
        kernel_shape = tuple(self.layer.kernel.shape)
        units, fan_in = kernel_shape[-1], int(np.prod(kernel_shape[:-1]))

        def unit_normal(shape, dtype=None):
            x = keras.random.normal(shape, dtype="float32", seed=self.seed_generator)
            return _normalize(x, self.epsilon)

        self.seed_generator = keras.random.SeedGenerator(0)
        self.u = self.add_weight(name="u", shape=(units,), initializer=unit_normal, trainable=False, dtype="float32")
        self.v = self.add_weight(name="v", shape=(fan_in,), initializer=unit_normal, trainable=False, dtype="float32")

    def _matrix(self):
        kernel = self._float32(self.layer.kernel)
        return ops.transpose(ops.reshape(kernel, (-1, kernel.shape[-1])))  # (units, fan_in)

    def sigma(self, w=None):
        """`u^T W v` with the stored (or given) vectors held constant."""
        w = self._matrix() if w is None else w
        u, v = ops.stop_gradient(self._float32(self.u)), ops.stop_gradient(self._float32(self.v))
        return ops.sum(u * ops.matmul(w, v))

    @staticmethod
    def _float32(variable):
        # `.value`: the stored float32 value, not the copy Keras autocasts to the compute dtype inside `call`
        return ops.cast(variable.value, "float32")

    def normalized_kernel(self, training=False):
        """`W / sigma` in the kernel's shape; with `training`, after `power_iterations` updates of `u` and `v`."""
        w = self._matrix()
        if training:
            u, v = self._float32(self.u), self._float32(self.v)
            frozen = ops.stop_gradient(w)
            for _ in range(self.power_iterations):
                v = _normalize(ops.matmul(u, frozen), self.epsilon)
                u = _normalize(ops.matmul(frozen, v), self.epsilon)
            self.u.assign(ops.stop_gradient(u))
            self.v.assign(ops.stop_gradient(v))
        kernel = self._float32(self.layer.kernel) / self.sigma(w)
        return ops.cast(kernel, self.compute_dtype)

    def call(self, inputs, training=False):
        layer = self.layer
        kernel = self.normalized_kernel(bool(training))
        if isinstance(layer, keras.layers.Dense):
            outputs = ops.matmul(inputs, kernel)
            if layer.use_bias:
                outputs = outputs + layer.bias
        else:
            outputs = layer.convolution_op(inputs, kernel)
            if layer.use_bias:
                shape = (1,) * (layer.rank + 1) + (layer.filters,) if layer.data_format == "channels_last" else \
                    (1, layer.filters) + (1,) * layer.rank
                outputs = outputs + ops.reshape(layer.bias, shape)
        if layer.activation is not None:
            outputs = layer.activation(outputs)
        return outputs

    def compute_output_shape(self, input_shape):
        return self.layer.compute_output_shape(input_shape)

    def get_config(self):
        config = super().get_config()
        config.update({"power_iterations": self.power_iterations, "epsilon": self.epsilon})
        return config
