"""DASR's degradation encoder: six conv + batch-norm + LeakyReLU layers and global average pooling.

Wang et al., "Unsupervised Degradation Representation Learning for Blind
Super-Resolution", CVPR 2021 (https://arxiv.org/abs/2104.00416), Sec. 3.2,
Fig. 2; the layout of the official `Encoder.E`
(The-Learning-And-Vision-Atelier-LAVA/DASR, `model/blindsr.py`), written anew:
3x3 convs (with biases) of widths `w0, w0, w1, w1, w2, w2` (64, 64, 128, 128,
256, 256), the third and fifth with stride 2 and zero padding 1 on every side
(as `nn.Conv2d(..., stride=2, padding=1)`; Keras' "same" would pad only the
bottom/right of even sizes), each followed by batch norm (PyTorch's
momentum 0.1 and epsilon 1e-5) and LeakyReLU 0.1, then the spatial mean: the
`w2`-dimensional degradation representation of an LR image (RGB, 0-255).

The official encoder also has a two-layer MLP head used only by the
contrastive loss (`keras_sr.training.dasr`); it is not part of this layer.

Example:
    >>> encoder = DegradationEncoder((64, 128, 256))
    >>> r = encoder(keras.random.uniform((2, 48, 48, 3)) * 255.0)
    >>> r.shape  # (2, 256)
"""

import keras
from keras import ops

from keras_sr.layers.da_conv import torch_default_initializer

__all__ = ["DegradationEncoder"]


@keras.saving.register_keras_serializable(package="keras_sr")
class DegradationEncoder(keras.layers.Layer):
    """LR image (B, H, W, 3) -> degradation representation (B, widths[-1]).

    Args:
        widths: the three conv widths (64, 128, 256); each is used twice.
        kernel_initializer: for the convs (default PyTorch's).
    """

    def __init__(self, widths=(64, 128, 256), kernel_initializer=None, **kwargs):
        super().__init__(**kwargs)
        self.widths = tuple(int(w) for w in widths)
        if len(self.widths) != 3 or min(self.widths) < 1:
            raise ValueError(f"DegradationEncoder widths must be three positive integers, got {widths!r}.")
        self.kernel_initializer = keras.initializers.get(kernel_initializer or torch_default_initializer())
        self.strides = (1, 1, 2, 1, 2, 1)
        dtype = self.dtype_policy
        self.convs, self.norms = [], []
        for i, (width, stride) in enumerate(zip([w for w in self.widths for _ in range(2)], self.strides)):
            self.convs.append(keras.layers.Conv2D(width, 3, strides=stride, padding="same" if stride == 1 else "valid",
                                                  kernel_initializer=self.kernel_initializer, name=f"conv_{i}",
                                                  dtype=dtype))
            self.norms.append(keras.layers.BatchNormalization(momentum=0.9, epsilon=1e-5, name=f"bn_{i}",
                                                              dtype=dtype))

    def build(self, input_shape):
        shape = tuple(input_shape)
        for conv, norm, stride in zip(self.convs, self.norms, self.strides):
            if stride != 1:
                shape = shape[:1] + tuple(None if s is None else s + 2 for s in shape[1:3]) + shape[3:]
            conv.build(shape)
            shape = conv.compute_output_shape(shape)
            norm.build(shape)

    def call(self, inputs, training=None):
        x = inputs
        for conv, norm, stride in zip(self.convs, self.norms, self.strides):
            if stride != 1:
                x = ops.pad(x, [[0, 0], [1, 1], [1, 1], [0, 0]])
            x = ops.leaky_relu(norm(conv(x), training=training), 0.1)
        return ops.mean(x, axis=(1, 2))

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.widths[-1])

    def get_config(self):
        config = super().get_config()
        config.update({"widths": list(self.widths),
                       "kernel_initializer": keras.initializers.serialize(self.kernel_initializer)})
        return config
