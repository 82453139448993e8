"""SparseMaskModule: SMSR's sparse mask module (SMM): spatial mask, sparse mask block, channel attention.

Wang, Wang, Liang, Xu, Zhang, Xu, An, "Exploring Sparsity in Image
Super-Resolution for Efficient Inference", CVPR 2021
(https://arxiv.org/abs/2006.09603), Sec. 3.2; official code
LongguangWang/SMSR `model/smsr.py` (`SMM`). The spatial mask comes from a
small CNN on the module's input: `conv 3x3 (C/4) -> ReLU -> avgpool 2 ->
conv 3x3 (C/4) -> ReLU -> transposed conv 3x3 stride 2 (2 channels)`
(PyTorch `padding=1, output_padding=1`: the `2h x 2w` map starting one pixel
into the full transposed output, reproduced here by a valid transposed conv
and a crop). Its two channels `[keep-dense, sparse]` become, in training, a
Gumbel softmax over them at temperature tau (channel 1 is the soft mask); at
inference the hard mask `channel_1 > channel_0`. Then `SparseMaskConv` (the
SMB) with that mask, channel attention (reduction 16) and the skip:
`out = CA(SMB(x, M)) + x`.

The official mask CNN needs an even input size (avgpool 2 then x2 back; its
test code crops LR images to even sizes). Here the mask CNN's input gets one
zero row and column at the bottom/right and the mask is cropped back to
`H x W`: identical to the official for even sizes (the pad is what the
convolution's own zero padding sees, and the pooling drops it), and defined
for odd sizes.

Inputs `[x (B, H, W, C), tau (B, 1)]`; outputs `[out (B, H, W, C), M (B, H, W, 1),
sparsity (B, 1)]` (M soft in training, 0/1 at inference).

Example:
    >>> smm = SparseMaskModule(filters=64)
    >>> out, mask, sparsity = smm([x, tau], training=False)     # mask in {0, 1}
    >>> smm.body.sparse_macs(mask[0])
"""

import keras
from keras import ops

from keras_sr.layers.channel_attention import ChannelAttention
from keras_sr.layers.sparse_mask_conv import SparseMaskConv, gumbel_softmax

__all__ = ["SparseMaskModule"]


@keras.saving.register_keras_serializable(package="keras_sr")
class SparseMaskModule(keras.layers.Layer):
    """SMSR's SMM: `CA(SMB(x, spatial_mask(x))) + x`, with the spatial mask and its sparsity term.

    Args:
        filters: channels C (64; the input must have C channels).
        num_layers: masked convolutions of the SMB (4).
        reduction: channel attention reduction (16).
        kernel_initializer: for every convolution.
        seed: seed of the Gumbel noise (spatial and channel masks).
    """

    def __init__(self, filters=64, num_layers=4, reduction=16, kernel_initializer="glorot_uniform", seed=None,
                 **kwargs):
        super().__init__(**kwargs)
        self.filters, self.num_layers, self.reduction = int(filters), int(num_layers), int(reduction)
        if self.filters < 4:
            raise ValueError(f"SparseMaskModule needs filters >= 4 (the mask CNN has filters // 4), got {filters!r}.")
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)
        hidden = self.filters // 4
        conv = dict(padding="same", kernel_initializer=self.kernel_initializer)
        self.mask_conv_1 = keras.layers.Conv2D(hidden, 3, name="mask_conv_1", **conv)
        self.mask_pool = keras.layers.AveragePooling2D(2, name="mask_pool")
        self.mask_conv_2 = keras.layers.Conv2D(hidden, 3, name="mask_conv_2", **conv)
        self.mask_up = keras.layers.Conv2DTranspose(2, 3, strides=2, padding="valid", name="mask_up",
                                                    kernel_initializer=self.kernel_initializer)
        self.body = SparseMaskConv(self.filters, self.num_layers, kernel_initializer=kernel_initializer,
                                   seed=None if seed is None else int(seed) + 1, name="body")
        self.attention = ChannelAttention(self.reduction, name="attention")

    def build(self, input_shape):
        x_shape = tuple(input_shape[0])
        if x_shape[-1] != self.filters:
            raise ValueError(f"SparseMaskModule(filters={self.filters}) got {x_shape[-1]} input channels.")
        hidden = self.filters // 4
        self.mask_conv_1.build(x_shape)
        self.mask_conv_2.build((None, None, None, hidden))
        self.mask_up.build((None, None, None, hidden))
        self.body.build([x_shape, x_shape[:-1] + (1,), (None, 1)])
        self.attention.build(x_shape)

    def mask_logits(self, x):
        """`(B, H, W, 2)` logits `[dense, sparse]` of the spatial mask."""
        shape = ops.shape(x)
        h, w = shape[1], shape[2]
        y = ops.pad(x, [[0, 0], [0, 1], [0, 1], [0, 0]])
        y = ops.relu(self.mask_conv_1(y))
        y = self.mask_pool(y)
        y = ops.relu(self.mask_conv_2(y))
        y = self.mask_up(y)
        return y[:, 1:1 + h, 1:1 + w, :]

    def call(self, inputs, training=False):
        x, tau = inputs
        logits = ops.cast(self.mask_logits(x), "float32")
        if training:
            t = ops.reshape(ops.cast(tau, "float32"), (-1, 1, 1, 1))
            mask = gumbel_softmax(logits, t, self.seed_generator)[..., 1:2]
        else:
            mask = ops.cast(logits[..., 1:2] > logits[..., 0:1], "float32")
        out, sparsity = self.body([x, ops.cast(mask, x.dtype), tau], training=training)
        out = self.attention(out) + x
        return out, mask, sparsity

    def compute_output_shape(self, input_shape):
        x = tuple(input_shape[0])
        return x, x[:-1] + (1,), (x[0], 1)

    def get_config(self):
        config = super().get_config()
        config.update({"filters": self.filters, "num_layers": self.num_layers, "reduction": self.reduction,
                       "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
                       "seed": self.seed})
        return config
