"""ModulatedToRGB: StyleGAN2's to-RGB output skip, a 1x1 modulated conv (no demodulation) + bias + upsampled skip.

Karras et al., "Analyzing and Improving the Image Quality of StyleGAN" (CVPR
2020), Fig. 7b ("skip" generator): every resolution adds its RGB image to the
previous one upsampled by `upfirdn2d(skip, [1,3,3,1] * 4, up=2, pad=(2, 1))`.
Layout as mmagic's `ModulatedToRGB` / `UpsampleUpFIRDn` (open-mmlab/mmagic
`stylegan2_modules.py`); our layers.

Example:
    >>> to_rgb = ModulatedToRGB()
    >>> rgb = to_rgb([features_16, style, rgb_8])     # (N, 16, 16, 3): this level's RGB + the upsampled skip
    >>> rgb4 = ModulatedToRGB(upsample=False)([features_4, style])
"""

import keras
from keras import ops

from keras_sr.layers.blur import make_kernel, upfirdn2d
from keras_sr.layers.modulated_conv import ModulatedConv2D

__all__ = ["ModulatedToRGB"]


@keras.saving.register_keras_serializable(package="keras_sr")
class ModulatedToRGB(keras.layers.Layer):
    """Inputs `[x, style]` or `[x, style, skip]` -> `modconv1x1(x, style) + bias (+ up2(skip))`.

    Args:
        filters: output channels (3).
        upsample: upsample the skip x2 (False for the 4x4 level, which has no skip).
        blur_kernel: FIR taps of the skip upsampling.
        style_index: see `ModulatedConv2D` (a `(N, L, S)` style input).
    """

    def __init__(self, filters=3, upsample=True, blur_kernel=(1, 3, 3, 1), style_index=None, **kwargs):
        super().__init__(**kwargs)
        self.style_index = None if style_index is None else int(style_index)
        self.filters = int(filters)
        self.upsample = bool(upsample)
        self.blur_kernel = tuple(float(t) for t in blur_kernel)
        self.conv = ModulatedConv2D(self.filters, 1, demodulate=False, style_index=self.style_index, dtype=self.dtype_policy, name="conv")
        self._up_kernel = make_kernel(self.blur_kernel) * 4.0
        p = len(self.blur_kernel) - 2
        self._up_pad = ((p + 1) // 2 + 1, p // 2)

    def build(self, input_shape):
        self.conv.build(list(input_shape[:2]))
        self.bias = self.add_weight(shape=(self.filters,), name="bias", initializer="zeros")

    def call(self, inputs):
        x = self.conv([inputs[0], inputs[1]]) + ops.cast(self.bias, self.compute_dtype)
        if len(inputs) > 2 and inputs[2] is not None:
            skip = inputs[2]
            if self.upsample:
                skip = upfirdn2d(skip, self._up_kernel, up=2, pad=self._up_pad)
            x = x + ops.cast(skip, x.dtype)
        return x

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[0][:3]) + (self.filters,)

    def get_config(self):
        config = super().get_config()
        config.update({"style_index": self.style_index, "filters": self.filters, "upsample": self.upsample, "blur_kernel": list(self.blur_kernel)})
        return config
