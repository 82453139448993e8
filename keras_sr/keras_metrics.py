"""PSNR and SSIM as Keras metrics, for validation during training on any backend.

Same protocol as `keras_sr.metrics` (the numpy reference): inputs are float
images in [0, 255], rounded to 8-bit levels (half away from zero) and
clipped, converted to BT.601 Y (default) or kept RGB, `crop_border` pixels
removed; PSNR and SSIM (11x11 Gaussian, sigma 1.5, K1 0.01, K2 0.03) are
computed per image and averaged over images, as SR papers report them.

Example:
    >>> model.compile(optimizer="adam", loss="mae", metrics=[PSNRMetric(crop_border=4)])
    >>> m = SSIMMetric(crop_border=4); m.update_state(hr, sr); float(m.result())
"""

import keras
from keras import ops

from keras_sr.color import rgb_to_y_ops
from keras_sr.metrics import gaussian_kernel_1d

__all__ = ["PSNRMetric", "SSIMMetric", "prepare_for_metric_ops"]


def prepare_for_metric_ops(x, crop_border, y_only):
    """Round to 8-bit levels, optional Y, crop: `(N, H, W, C)` float32 tensor."""
    x = ops.floor(ops.clip(ops.cast(x, "float32"), 0.0, 255.0) + 0.5)
    if y_only and x.shape[-1] == 3:
        x = rgb_to_y_ops(x)
    if crop_border:
        x = x[:, crop_border:-crop_border, crop_border:-crop_border, :]
    return x


class _ImageMeanMetric(keras.metrics.Metric):
    """Mean over images of a per-image score."""

    def __init__(self, crop_border=0, y_only=True, name=None, dtype=None, **kwargs):
        super().__init__(name=name, dtype=dtype, **kwargs)
        self.crop_border = int(crop_border)
        self.y_only = bool(y_only)
        self.total = self.add_variable(shape=(), initializer="zeros", name="total", dtype="float32")
        self.count = self.add_variable(shape=(), initializer="zeros", name="count", dtype="float32")

    def per_image(self, y_true, y_pred):  # pragma: no cover - abstract
        raise NotImplementedError

    def update_state(self, y_true, y_pred, sample_weight=None):
        a = prepare_for_metric_ops(y_true, self.crop_border, self.y_only)
        b = prepare_for_metric_ops(y_pred, self.crop_border, self.y_only)
        scores = self.per_image(a, b)
        self.total.assign_add(ops.sum(scores))
        self.count.assign_add(ops.cast(ops.shape(scores)[0], "float32"))

    def result(self):
        return ops.divide_no_nan(self.total, self.count)

    def reset_state(self):
        self.total.assign(0.0)
        self.count.assign(0.0)

    def get_config(self):
        config = super().get_config()
        config.update({"crop_border": self.crop_border, "y_only": self.y_only})
        return config


@keras.saving.register_keras_serializable(package="keras_sr")
class PSNRMetric(_ImageMeanMetric):
    """Mean per-image PSNR (dB) on 8-bit-rounded Y or RGB with a cropped border."""

    def __init__(self, crop_border=0, y_only=True, name="psnr", dtype=None, **kwargs):
        super().__init__(crop_border=crop_border, y_only=y_only, name=name, dtype=dtype, **kwargs)

    def per_image(self, a, b):
        mse = ops.mean(ops.square(a - b), axis=(1, 2, 3))
        # Identical images would give +inf; cap at 100 dB so means stay finite.
        return ops.minimum(10.0 * ops.log10(255.0**2 / ops.maximum(mse, 1e-10)), 100.0)


@keras.saving.register_keras_serializable(package="keras_sr")
class SSIMMetric(_ImageMeanMetric):
    """Mean per-image SSIM (Gaussian 11x11, sigma 1.5), averaged over channels."""

    def __init__(self, crop_border=0, y_only=True, name="ssim", dtype=None, **kwargs):
        super().__init__(crop_border=crop_border, y_only=y_only, name=name, dtype=dtype, **kwargs)
        self._g1d = gaussian_kernel_1d(11, 1.5).astype("float32")

    def _blur(self, x):
        """'valid' separable Gaussian filtering of (N*C, H, W, 1)."""
        g = ops.convert_to_tensor(self._g1d)
        x = ops.conv(x, ops.reshape(g, (11, 1, 1, 1)), padding="valid")
        return ops.conv(x, ops.reshape(g, (1, 11, 1, 1)), padding="valid")

    def per_image(self, a, b):
        shape = ops.shape(a)
        channels = a.shape[-1]

        def planes(x):  # (N, H, W, C) -> (N*C, H, W, 1), float64-free
            x = ops.transpose(x, (0, 3, 1, 2))
            return ops.reshape(x, (-1, shape[1], shape[2], 1))

        a, b = planes(a), planes(b)
        c1, c2 = (0.01 * 255.0) ** 2, (0.03 * 255.0) ** 2
        mu_a, mu_b = self._blur(a), self._blur(b)
        var_a = self._blur(a * a) - mu_a * mu_a
        var_b = self._blur(b * b) - mu_b * mu_b
        cov = self._blur(a * b) - mu_a * mu_b
        ssim_map = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a * mu_a + mu_b * mu_b + c1) * (var_a + var_b + c2))
        per_plane = ops.mean(ssim_map, axis=(1, 2, 3))
        return ops.mean(ops.reshape(per_plane, (-1, channels)), axis=1)
