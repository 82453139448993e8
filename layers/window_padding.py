"""Pad an image to a multiple of the attention window, and crop the upscaled result back (SwinIR, HAT).

The official SwinIR and HAT code (`check_image_size`) reflect-pads the bottom and right of the input
to a multiple of the window size, runs the network, and crops the output to `scale * (H, W)`. These
two layers do the same with `keras.ops`, from the actual (possibly dynamic) input size, so the models
accept any H and W on TensorFlow, JAX and PyTorch. They are a pair and live in one file.

Reflect padding needs the pad to be smaller than the side, as in PyTorch: an input side shorter than
about half the window (e.g. 4 pixels at window 8) fails, as the official code does.

Example:
    >>> padded = PadToMultiple(8)(keras.ops.ones((1, 13, 20, 3)))         # (1, 16, 24, 3)
    >>> CropToScaledSize(2)([keras.ops.ones((1, 32, 48, 3)), keras.ops.ones((1, 13, 20, 3))]).shape
    (1, 26, 40, 3)
"""

import keras
from keras import ops

__all__ = ["PadToMultiple", "CropToScaledSize"]


@keras.saving.register_keras_serializable(package="keras_sr")
class PadToMultiple(keras.layers.Layer):
    """Pad H and W at the bottom and right to the next multiple of `multiple` (reflect, as the official code).

    Args:
        multiple: the window size.
        mode: `"reflect"` (official), `"symmetric"` or `"constant"` (zeros).
    """

    def __init__(self, multiple, mode="reflect", **kwargs):
        super().__init__(**kwargs)
        if int(multiple) < 1:
            raise ValueError(f"PadToMultiple: multiple must be >= 1, got {multiple}.")
        if mode not in ("reflect", "symmetric", "constant"):
            raise ValueError(f"PadToMultiple: mode must be 'reflect', 'symmetric' or 'constant', got {mode!r}.")
        self.multiple = int(multiple)
        self.mode = mode

    def call(self, inputs):
        # Slices, flips and concatenation instead of `ops.pad`: Keras 3.15's torch backend cannot
        # reflect-pad H and W of a 4-D tensor when the channel pad is zero.
        return self._pad_axis(self._pad_axis(inputs, 1), 2)

    def _pad_axis(self, x, axis):
        m = self.multiple
        n = ops.shape(x)[axis]
        pad = (m - n % m) % m

        def take(start, stop):
            return x[:, start:stop] if axis == 1 else x[:, :, start:stop]

        if self.mode == "reflect":  # rows n-2, n-3, ..., n-1-pad
            extra = ops.flip(take(n - 1 - pad, n - 1), axis=axis)
        elif self.mode == "symmetric":  # rows n-1, ..., n-pad
            extra = ops.flip(take(n - pad, n), axis=axis)
        else:
            extra = ops.zeros_like(take(n - pad, n))
        return ops.concatenate([x, extra], axis=axis)

    def compute_output_shape(self, input_shape):
        m = self.multiple

        def padded(n):
            return None if n is None else n + (m - n % m) % m

        return (input_shape[0], padded(input_shape[1]), padded(input_shape[2]), input_shape[3])

    def get_config(self):
        config = super().get_config()
        config.update({"multiple": self.multiple, "mode": self.mode})
        return config


@keras.saving.register_keras_serializable(package="keras_sr")
class CropToScaledSize(keras.layers.Layer):
    """`[image, reference] -> image[:, :scale * H_ref, :scale * W_ref]`: undo `PadToMultiple` after upscaling.

    Args:
        scale: the model's upscaling factor.
    """

    def __init__(self, scale, **kwargs):
        super().__init__(**kwargs)
        self.scale = int(scale)

    def call(self, inputs):
        image, reference = inputs
        shape = ops.shape(reference)
        return image[:, :shape[1] * self.scale, :shape[2] * self.scale, :]

    def compute_output_shape(self, input_shape):
        image, reference = input_shape

        def scaled(n):
            return None if n is None else n * self.scale

        return (image[0], scaled(reference[1]), scaled(reference[2]), image[3])

    def get_config(self):
        config = super().get_config()
        config.update({"scale": self.scale})
        return config
