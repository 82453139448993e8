"""Blur: StyleGAN2's FIR filter with padding, zero-insertion upsampling and stride (`upfirdn2d`), keras.ops only.

Karras et al., "Analyzing and Improving the Image Quality of StyleGAN" (CVPR
2020), Sec. 2 / App. B: bilinear-like FIR filtering `[1, 3, 3, 1]` after every
upsampling (and before every downsampling) in the generator and the
discriminator. `upfirdn2d(x, kernel, up, down, pad)` follows the semantics of
the official `upfirdn_2d` (and mmcv's `upfirdn2d`, which mmagic's StyleGAN2 and
GLEAN call): insert `up - 1` zeros after every pixel, pad by `pad = (before,
after)` on both spatial axes, convolve every channel with the (flipped) 2-D
kernel, keep every `down`-th pixel. Written here from that definition (NHWC,
a depthwise convolution), not copied.

`make_kernel([1, 3, 3, 1])` is the separable 4x4 kernel normalised to sum 1;
layers that upsample multiply it by `up ** 2` (the zeros inserted would
otherwise darken the image), as the official code does.

Example:
    >>> blur = Blur(kernel=(1, 3, 3, 1), pad=(2, 1), up=2)        # the to-RGB skip upsampling
    >>> y = blur(keras.random.normal((1, 8, 8, 3)))                 # (1, 16, 16, 3)
    >>> upfirdn2d(x, make_kernel((1, 3, 3, 1)), pad=(1, 1))          # the blur after a transposed conv
"""

import numpy as np

import keras
from keras import ops

__all__ = ["Blur", "make_kernel", "upfirdn2d"]


def make_kernel(taps):
    """The 2-D FIR kernel of 1-D `taps` (outer product; a 2-D array is used as is), normalised to sum 1."""
    k = np.asarray(taps, dtype=np.float64)
    if k.ndim == 1:
        k = np.outer(k, k)
    return (k / k.sum()).astype(np.float32)


def upfirdn2d(x, kernel, up=1, down=1, pad=(0, 0)):
    """Upsample (zero insertion) -> pad -> FIR filter -> downsample, on NHWC `x`, every channel alike.

    Args:
        x: (N, H, W, C) tensor.
        kernel: 2-D numpy kernel (kh, kw), used as a true convolution (flipped).
        up, down: integer factors.
        pad: (before, after) zero padding, on both spatial axes (after the zero insertion).

    Output size per axis: `(in * up + pad[0] + pad[1] - kh) // down + 1`.
    """
    up, down = int(up), int(down)
    channels = x.shape[-1]
    if up > 1:
        n, h, w = ops.shape(x)[0], ops.shape(x)[1], ops.shape(x)[2]
        x = ops.reshape(x, (n, h, 1, w, 1, channels))
        x = ops.pad(x, ((0, 0), (0, 0), (0, up - 1), (0, 0), (0, up - 1), (0, 0)))
        x = ops.reshape(x, (n, h * up, w * up, channels))
    p0, p1 = int(pad[0]), int(pad[1])
    if p0 < 0 or p1 < 0:
        raise ValueError(f"upfirdn2d: negative padding {pad} is not supported.")
    if p0 or p1:
        x = ops.pad(x, ((0, 0), (p0, p1), (p0, p1), (0, 0)))
    k = np.asarray(kernel, np.float32)[::-1, ::-1]  # convolution, not correlation
    depthwise = np.tile(k[:, :, None, None], (1, 1, channels, 1))
    depthwise = ops.cast(ops.convert_to_tensor(depthwise), x.dtype)
    return ops.depthwise_conv(x, depthwise, strides=down, padding="valid")


@keras.saving.register_keras_serializable(package="keras_sr")
class Blur(keras.layers.Layer):
    """`upfirdn2d` with a fixed FIR kernel as a layer (no weights).

    Args:
        kernel: 1-D taps (e.g. `(1, 3, 3, 1)`), or a nested list for a 2-D kernel.
        pad: (before, after) padding.
        up: zero-insertion upsampling factor; the kernel is multiplied by `up ** 2` (set `gain` to override).
        down: downsampling factor.
        gain: kernel multiplier (default `up ** 2`).
    """

    def __init__(self, kernel=(1, 3, 3, 1), pad=(0, 0), up=1, down=1, gain=None, **kwargs):
        super().__init__(**kwargs)
        self.kernel_taps = np.asarray(kernel, np.float64).tolist()
        self.pad = (int(pad[0]), int(pad[1]))
        self.up = int(up)
        self.down = int(down)
        self.gain = float(self.up ** 2 if gain is None else gain)
        self._kernel = make_kernel(self.kernel_taps) * self.gain

    def call(self, inputs):
        return upfirdn2d(inputs, self._kernel, self.up, self.down, self.pad)

    def _size(self, n):
        if n is None:
            return None
        return (n * self.up + self.pad[0] + self.pad[1] - self._kernel.shape[0]) // self.down + 1

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self._size(input_shape[1]), self._size(input_shape[2]), input_shape[3])

    def get_config(self):
        config = super().get_config()
        config.update({"kernel": self.kernel_taps, "pad": list(self.pad), "up": self.up, "down": self.down,
                       "gain": self.gain})
        return config
