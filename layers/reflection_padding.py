"""ReflectionPadding2D: PyTorch's `nn.ReflectionPad2d` for NHWC tensors, in `keras.ops`, dynamic sizes allowed.

The VGG encoder of RefVAE (Liu, Siu, Wang, CVPRW 2021; official `network.py`
`encoder4`, taken from the linear style-transfer code) pads every 3x3
convolution by reflection instead of zeros. Reflection repeats the rows and
columns next to the border without the border itself (a row `[0, 1, 2]`
padded by 1 is `[1, 0, 1, 2, 1]`), so a side must be longer than the pad.
`ops.pad(mode="reflect")` on TensorFlow and JAX; slices, flips and
concatenation on torch (Keras 3.15's torch backend cannot reflect-pad H and W
of a 4-D tensor with `ops.pad`).

Example:
    >>> pad = ReflectionPadding2D(1)
    >>> pad(keras.ops.ones((1, 6, 7, 3))).shape               # (1, 8, 9, 3)
"""

import keras
from keras import ops

__all__ = ["ReflectionPadding2D"]


@keras.saving.register_keras_serializable(package="keras_sr")
class ReflectionPadding2D(keras.layers.Layer):
    """`(B, H, W, C) -> (B, H + 2p, W + 2p, C)`, reflected about the edge pixels (no weights).

    Args:
        padding: pixels added on each of the four sides (p >= 1; each side must be longer than p).
    """

    def __init__(self, padding=1, **kwargs):
        super().__init__(**kwargs)
        if int(padding) != padding or int(padding) < 1:
            raise ValueError(f"ReflectionPadding2D: padding must be a positive integer, got {padding!r}.")
        self.padding = int(padding)

    def _pad_axis(self, x, axis):
        p = self.padding

        def take(start, stop):
            return x[:, start:stop] if axis == 1 else x[:, :, start:stop]

        n = ops.shape(x)[axis]
        head = ops.flip(take(1, p + 1), axis=axis)
        tail = ops.flip(take(n - 1 - p, n - 1), axis=axis)
        return ops.concatenate([head, x, tail], axis=axis)

    def call(self, inputs):
        if keras.backend.backend() != "torch":  # one op (the JAX harness runs the eager call op by op)
            p = self.padding
            return ops.pad(inputs, [(0, 0), (p, p), (p, p), (0, 0)], mode="reflect")
        return self._pad_axis(self._pad_axis(inputs, 1), 2)

    def compute_output_shape(self, input_shape):
        n, h, w, c = input_shape
        p = 2 * self.padding
        return (n, None if h is None else h + p, None if w is None else w + p, c)

    def get_config(self):
        config = super().get_config()
        config.update({"padding": self.padding})
        return config
