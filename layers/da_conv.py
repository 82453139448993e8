"""Degradation-aware convolution (DA conv) of DASR: per-sample dynamic depthwise kernels + channel modulation.

Wang et al., "Unsupervised Degradation Representation Learning for Blind
Super-Resolution", CVPR 2021 (https://arxiv.org/abs/2104.00416), Sec. 3.3 and
Fig. 4; the layout of the official `DA_conv` and `CA_layer`
(The-Learning-And-Vision-Atelier-LAVA/DASR, `model/blindsr.py`), written anew:

* branch 1: a two-layer MLP (no biases, LeakyReLU 0.1) maps the degradation
  representation `r` (B, R) to one `k x k` kernel per sample and channel;
  the features are convolved depthwise with their own sample's kernels
  (zero padding `k // 2`, cross-correlation as `F.conv2d`), LeakyReLU 0.1,
  then a 1x1 convolution (with bias);
* branch 2: channel attention from `r`: `sigmoid(W2 lrelu(W1 r))` (no
  biases, `C -> C // reduction -> C`) scales the input features;
* output = branch 1 + branch 2.

The MLP's output is laid out as the official `view(-1, 1, k, k)`: for sample
`b` and channel `c`, entries `[c*k*k : (c+1)*k*k]` are its kernel, row-major.

Example:
    >>> layer = DAConv(64, kernel_size=3, reduction=8)
    >>> y = layer([keras.random.normal((2, 12, 12, 64)), keras.random.normal((2, 64))])
    >>> y.shape  # (2, 12, 12, 64)
"""

import keras
from keras import ops

__all__ = ["DAConv", "dynamic_depthwise_conv", "torch_default_initializer"]


def torch_default_initializer():
    """PyTorch's default Conv2d/Linear weight init (kaiming_uniform, a=sqrt(5)): U(+-1/sqrt(fan_in))."""
    return keras.initializers.VarianceScaling(scale=1.0 / 3.0, mode="fan_in", distribution="uniform")


def dynamic_depthwise_conv(x, kernels):
    """Depthwise cross-correlation of `x` (B, H, W, C) with one kernel per sample, `kernels` (B, k, k, C).

    Zero padding `k // 2` ("same" size). As the official code, the batch is folded into the channels,
    `F.conv2d(x.view(1, B*C, H, W), kernels, groups=B*C, padding=k//2)`: one depthwise convolution of a
    single image with `B * C` channels.
    """
    shape = ops.shape(x)
    b, h, w, c = shape[0], shape[1], shape[2], shape[3]
    k = int(kernels.shape[1])
    # B*C as a static number when the batch size is known (a batch-1 export): TFLite's builtin depthwise
    # convolution needs a static channel count.
    folded_channels = b * c if isinstance(b, int) and isinstance(c, int) else -1
    folded = ops.reshape(ops.transpose(x, (1, 2, 0, 3)), (1, h, w, folded_channels))   # (1, H, W, B*C)
    filters = ops.reshape(ops.transpose(kernels, (1, 2, 0, 3)), (k, k, folded_channels, 1))  # (k, k, B*C, 1)
    out = ops.depthwise_conv(folded, filters, strides=1, padding="same")
    return ops.transpose(ops.reshape(out, (h, w, b, c)), (2, 0, 1, 3))


@keras.saving.register_keras_serializable(package="keras_sr")
class DAConv(keras.layers.Layer):
    """DA conv: `conv1x1(lrelu(dyn_depthwise(x, MLP(r)))) + x * CA(r)` on `[x (B,H,W,C), r (B,R)]`.

    Args:
        filters: output channels (the official `channels_out`; DASR keeps `C`).
        kernel_size: side of the dynamic depthwise kernels (3).
        reduction: channel-attention reduction (8).
        kernel_initializer: for the MLPs and the 1x1 conv (default PyTorch's).
    """

    def __init__(self, filters, kernel_size=3, reduction=8, kernel_initializer=None, **kwargs):
        super().__init__(**kwargs)
        self.filters = int(filters)
        self.kernel_size = int(kernel_size)
        self.reduction = int(reduction)
        if self.kernel_size < 1 or self.kernel_size % 2 != 1:
            raise ValueError(f"DAConv kernel_size must be odd and >= 1, got {kernel_size}.")
        if self.reduction < 1:
            raise ValueError(f"DAConv reduction must be >= 1, got {reduction}.")
        self.kernel_initializer = keras.initializers.get(kernel_initializer or torch_default_initializer())

    def build(self, input_shape):
        feature_shape, representation_shape = input_shape
        channels, rep = feature_shape[-1], representation_shape[-1]
        if channels is None or rep is None:
            raise ValueError("DAConv needs known channel and representation sizes.")
        if channels != self.filters:
            raise ValueError(f"DAConv: the channel attention scales the input, so filters ({self.filters}) must "
                             f"equal the input channels ({channels}).")
        hidden = channels // self.reduction
        if hidden < 1:
            raise ValueError(f"DAConv reduction {self.reduction} leaves no channels out of {channels}.")
        self.channels = int(channels)
        init = self.kernel_initializer
        k2 = self.kernel_size * self.kernel_size
        self.kernel_hidden = self.add_weight(name="kernel_hidden", shape=(rep, rep), initializer=init)
        self.kernel_out = self.add_weight(name="kernel_out", shape=(rep, channels * k2), initializer=init)
        self.conv = keras.layers.Conv2D(self.filters, 1, kernel_initializer=init, name="conv", dtype=self.dtype_policy)
        self.conv.build(tuple(feature_shape))
        self.ca_down = self.add_weight(name="ca_down", shape=(rep, hidden), initializer=init)
        self.ca_up = self.add_weight(name="ca_up", shape=(hidden, self.filters), initializer=init)

    def call(self, inputs):
        x, r = inputs
        k = self.kernel_size
        flat = ops.matmul(ops.leaky_relu(ops.matmul(r, self.kernel_hidden), 0.1), self.kernel_out)
        kernels = ops.transpose(ops.reshape(flat, (-1, self.channels, k, k)), (0, 2, 3, 1))  # (B, k, k, C)
        out = self.conv(ops.leaky_relu(dynamic_depthwise_conv(x, kernels), 0.1))
        gate = ops.sigmoid(ops.matmul(ops.leaky_relu(ops.matmul(r, self.ca_down), 0.1), self.ca_up))
        return out + x * gate[:, None, None, :]

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[0][:-1]) + (self.filters,)

    def get_config(self):
        config = super().get_config()
        config.update({"filters": self.filters, "kernel_size": self.kernel_size, "reduction": self.reduction,
                       "kernel_initializer": keras.initializers.serialize(self.kernel_initializer)})
        return config
