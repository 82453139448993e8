"""SparseMaskConv: SMSR's sparse mask block (SMB), L convolutions split by learned channel masks.

Wang, Wang, Liang, Xu, Zhang, Xu, An, "Exploring Sparsity in Image
Super-Resolution for Efficient Inference", CVPR 2021
(https://arxiv.org/abs/2006.09603), Sec. 3.2-3.4; official code
LongguangWang/SMSR `model/smsr.py` (`SMB`). Each of the L 3x3 convolutions (no
bias) has, per output channel, two logits `[dense, sparse]` (the layer's
`channel_mask_logits`, shape `(C, L, 2)`, uniform in [0, 1) at init as
`torch.rand`). A *dense* channel is computed at every position, a *sparse*
one only where the spatial mask `M` (from `SparseMaskModule`) is 1. With input
channel masks `D_in, S_in` (the previous layer's, all dense for the first
layer) and output masks `D, S`, a layer computes

    a = conv(x * D_in),  b = conv(x * S_in)
    y = relu(a * D + a * S * M + b * M)

i.e. dense->dense everywhere and every other part (dense->sparse,
sparse->dense, sparse->sparse) only at the masked positions: what the
official sparse convolution (`_sparse_conv`) computes. The outputs of all L
layers are concatenated and fused by a 1x1 convolution (with bias).

* Training (dense, differentiable): `[D, S]` are Gumbel-softmax samples of the
  logits at temperature tau (one sample per call, shared by the batch) and M
  is the soft mask; every part is computed densely and masked.
* Inference: hard masks, `S = logit_sparse > logit_dense` (the official
  `softmax(3).round()`) and `M` in {0, 1}; the same formula then equals the
  sparse computation exactly; it is still run densely here (an emulation), and
  the FLOPs of the sparse computation are counted from the masks
  (`sparse_macs`).

The official training code splits each layer's *input* by that layer's own
output masks (`fea * ch_mask[:, :, i:i+1, :1]`), while its sparse inference
(`_prepare`) splits it by the previous layer's masks; here both use the
previous layer's masks (the layer's input channels are the previous layer's
outputs), so training and inference compute the same function.

Inputs `[x (B, H, W, C_in), M (B, H, W, 1), tau (B, 1)]`; outputs
`[y (B, H, W, C), sparsity (B, 1)]`, the sparsity being SMSR's regularization
term for this block: the mean over channels, layers and positions of
`M * S + D` (the share of the L*C feature maps computed; official
`sparsity`).

Example:
    >>> smb = SparseMaskConv(filters=64, num_layers=4)
    >>> y, sparsity = smb([x, spatial_mask, tau], training=True)
    >>> smb.sparse_macs(hard_mask)           # multiply-accumulates of the sparse inference
"""

import numpy as np

import keras
from keras import ops

__all__ = ["SparseMaskConv", "gumbel_softmax"]


def gumbel_softmax(logits, tau, seed, axis=-1):
    """`softmax((logits + g) / tau)` with Gumbel noise `g = -log(-log(u))`, `u ~ U(0, 1)` (SMSR's `gumbel_softmax`)."""
    logits = ops.cast(logits, "float32")
    u = keras.random.uniform(ops.shape(logits), minval=1e-10, maxval=1.0, dtype="float32", seed=seed)
    g = -ops.log(-ops.log(u))
    return ops.softmax((logits + g) / tau, axis=axis)


@keras.saving.register_keras_serializable(package="keras_sr")
class SparseMaskConv(keras.layers.Layer):
    """SMSR's sparse mask block: `num_layers` masked 3x3 convolutions and a 1x1 fusion.

    Args:
        filters: channels C of every convolution (64).
        num_layers: masked convolutions L (4).
        kernel_size: their kernel size (3).
        kernel_initializer: for every kernel (PyTorch's default is Kaiming-uniform; glorot here).
        seed: seed of the Gumbel noise.
    """

    def __init__(self, filters=64, num_layers=4, kernel_size=3, kernel_initializer="glorot_uniform", seed=None,
                 **kwargs):
        super().__init__(**kwargs)
        self.filters, self.num_layers, self.kernel_size = int(filters), int(num_layers), int(kernel_size)
        if self.filters < 1 or self.num_layers < 1 or self.kernel_size % 2 != 1:
            raise ValueError(f"SparseMaskConv needs filters, num_layers >= 1 and an odd kernel size, got "
                             f"{filters!r}, {num_layers!r}, {kernel_size!r}.")
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def build(self, input_shape):
        channels = input_shape[0][-1]
        if channels is None:
            raise ValueError("SparseMaskConv needs a known channel dimension.")
        k, c = self.kernel_size, self.filters
        self.kernels = [self.add_weight(name=f"conv_{i}_kernel", shape=(k, k, channels if i == 0 else c, c),
                                        initializer=self.kernel_initializer) for i in range(self.num_layers)]
        self.collect_kernel = self.add_weight(name="collect_kernel", shape=(1, 1, c * self.num_layers, c),
                                              initializer=self.kernel_initializer)
        self.collect_bias = self.add_weight(name="collect_bias", shape=(c,), initializer="zeros")
        self.channel_mask_logits = self.add_weight(name="channel_mask_logits", shape=(c, self.num_layers, 2),
                                                   initializer=keras.initializers.RandomUniform(0.0, 1.0))

    def channel_masks(self, tau=1.0, training=False):
        """`(dense, sparse)`, each `(C, L)`: Gumbel-softmax samples in training, hard 0/1 at inference."""
        logits = ops.cast(self.channel_mask_logits, "float32")
        if training:
            soft = gumbel_softmax(logits, tau, self.seed_generator)
            return soft[..., 0], soft[..., 1]
        sparse = ops.cast(logits[..., 1] > logits[..., 0], "float32")
        return 1.0 - sparse, sparse

    def hard_channel_masks(self):
        """The inference channel masks as a numpy bool array `(C, L)`: True where the channel is sparse."""
        logits = np.asarray(keras.ops.convert_to_numpy(self.channel_mask_logits), np.float32)
        return logits[..., 1] > logits[..., 0]

    def _conv(self, x, kernel):
        return ops.conv(x, ops.cast(kernel, x.dtype), strides=1, padding="same")

    def call(self, inputs, training=False):
        x, spatial, tau = inputs
        tau = ops.mean(ops.cast(tau, "float32"))
        dense, sparse = self.channel_masks(tau, training)
        dtype = x.dtype
        dense, sparse, spatial = ops.cast(dense, dtype), ops.cast(sparse, dtype), ops.cast(spatial, dtype)
        outputs, features = [], x
        for i, kernel in enumerate(self.kernels):
            d_out, s_out = dense[:, i], sparse[:, i]
            if i == 0:
                a = self._conv(features, kernel)
                y = a * d_out + a * s_out * spatial
            else:
                a = self._conv(features * dense[:, i - 1], kernel)
                b = self._conv(features * sparse[:, i - 1], kernel)
                y = a * d_out + (a * s_out + b) * spatial
            features = ops.relu(y)
            outputs.append(features)
        out = self._conv(ops.concatenate(outputs, axis=-1), self.collect_kernel) + ops.cast(self.collect_bias, dtype)
        # Regularization term: share of the L*C maps computed, per image (official `sparsity`, averaged).
        share = ops.mean(ops.cast(spatial, "float32"), axis=(1, 2, 3))[:, None]
        sparsity = share * ops.mean(ops.cast(sparse, "float32")) + ops.mean(ops.cast(dense, "float32"))
        return out, sparsity

    def compute_output_shape(self, input_shape):
        x = input_shape[0]
        return (x[0], x[1], x[2], self.filters), (x[0], 1)

    # FLOPs (multiply-accumulates) --------------------------------------------------------------------------
    def count_macs(self, input_shapes):
        """Dense MACs of one call on `input_shapes` (`[x, M, tau]` shapes, batch first), as one plain pass."""
        b, h, w, cin = input_shapes[0]
        k2, c = self.kernel_size ** 2, self.filters
        per_pixel = k2 * cin * c + (self.num_layers - 1) * k2 * c * c + self.num_layers * c * c
        return int(b) * int(h) * int(w) * per_pixel

    def sparse_macs(self, spatial_mask):
        """MACs of the official sparse inference for one image's hard spatial mask `(H, W)` (or `(H, W, 1)`).

        Per layer: dense->dense `HW k^2 d_in d_out`, dense->sparse `N k^2 d_in s_out` and
        sparse->(dense, sparse) `N k^2 s_in (d_out + s_out)` for N masked positions; the 1x1
        fusion `HW D C + N S C` for the D dense and S sparse channels of all layers.
        """
        mask = np.asarray(spatial_mask).reshape(np.shape(spatial_mask)[0], np.shape(spatial_mask)[1]) > 0.5
        hw, n = mask.size, int(mask.sum())
        sparse = self.hard_channel_masks()
        k2, c = self.kernel_size ** 2, self.filters
        cin = int(self.kernels[0].shape[2])
        total = 0
        d_in, s_in = cin, 0
        for i in range(self.num_layers):
            s_out = int(sparse[:, i].sum())
            d_out = c - s_out
            total += hw * k2 * d_in * d_out + n * k2 * d_in * s_out + n * k2 * s_in * (d_out + s_out)
            d_in, s_in = d_out, s_out
        s_all = int(sparse.sum())
        total += hw * (c * self.num_layers - s_all) * c + n * s_all * c
        return total

    def get_config(self):
        config = super().get_config()
        config.update({"filters": self.filters, "num_layers": self.num_layers, "kernel_size": self.kernel_size,
                       "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
                       "seed": self.seed})
        return config
