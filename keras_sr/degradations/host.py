"""The Real-ESRGAN degradation of a batch on the host: numpy, scipy and Pillow (an exact JPEG).

The order of xinntao/Real-ESRGAN `RealESRGANModel.feed_data` (Wang et al.,
ICCVW 2021, Fig. 2), on images in [0, 1]:

    USM(hr) -> blur k1 -> resize (up/down/keep, factor, mode) -> noise -> clip -> JPEG q1
      -> [blur k2 with prob. 0.8] -> resize to (h / s) * factor2 -> noise -> clip
      -> either  resize to h / s -> sinc -> clip -> JPEG q2
         or      clip -> JPEG q2 -> resize to h / s -> sinc
      -> round to 8 bits

(the degraded image starts from the USM-sharpened HR, as the official; the
blur pads by reflection as `filter2D`, resizes are PyTorch's
`F.interpolate` as matrices, `keras_sr.degradations.resize`). The random
choices come from a `BatchParams` (`keras_sr.degradations.config`); the
noise itself from the `numpy.random.Generator` passed in, so a batch is a
function of its seed. JPEG is Pillow's at the drawn integer quality.

Noise, as BasicSR's `random_add_gaussian_noise_pt` / `random_add_poisson_noise_pt`:
Gaussian `N(0, sigma / 255)` per channel, or one grey field for all three;
Poisson `(P(x v) / v - x) * scale` with `v = 2^ceil(log2(#distinct 8-bit
values))` of the image (of its grey version for grey noise). Where the
official draws one grey Gaussian field shared by the whole batch (its
`torch.randn(h, w)`), keras-sr draws one per image.

Example:
    >>> params = sample_batch(rng, DegradationConfig(), 4, (96, 96))
    >>> lr = degrade_batch(usm_sharpen(hr01), params, rng)      # (4, 24, 24, 3) in [0, 1], 8-bit levels
"""

import numpy as np

from keras_sr.degradations.jpeg import pillow_jpeg
from keras_sr.degradations.resize import apply_resize, resize_matrix

__all__ = ["filter2d", "usm_sharpen", "usm_kernel", "gaussian_noise", "poisson_noise", "distinct_levels",
           "degrade_batch", "resize_batch", "to_gray"]


def usm_kernel(radius=50):
    """The 1-D Gaussian of BasicSR's `USMSharp` (`cv2.getGaussianKernel(radius | 1, 0)`: sigma from the size)."""
    size = int(radius) + (1 - int(radius) % 2)
    sigma = 0.3 * ((size - 1) * 0.5 - 1) + 0.8
    x = np.arange(size) - (size - 1) / 2
    g = np.exp(-(x ** 2) / (2 * sigma ** 2))
    return (g / g.sum()).astype(np.float32)


def _reflect_pad(x, pad):
    return np.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)), mode="reflect")


def filter2d(images, kernels):
    """Correlate `(B, H, W, C)` with per-image `(B, k, k)` kernels (or one `(k, k)`), reflect padding (`filter2D`)."""
    from scipy import signal  # scipy: the FFT correlation of the host path

    x = np.asarray(images, np.float32)
    kernels = np.asarray(kernels, np.float32)
    if kernels.ndim == 2:
        kernels = np.broadcast_to(kernels, (x.shape[0],) + kernels.shape)
    k = kernels.shape[-1]
    padded = _reflect_pad(x, k // 2)
    out = np.empty_like(x)
    for i in range(x.shape[0]):
        flipped = kernels[i, ::-1, ::-1, None]
        out[i] = signal.fftconvolve(padded[i], flipped, mode="valid", axes=(0, 1))
    return out


def _separable(images, g):
    from scipy import ndimage

    x = ndimage.correlate1d(np.asarray(images, np.float32), g, axis=1, mode="mirror")
    return ndimage.correlate1d(x, g, axis=2, mode="mirror")


def usm_sharpen(images, weight=0.5, threshold=10.0, radius=50):
    """BasicSR's `USMSharp` on `(B, H, W, C)` in [0, 1]: `m * clip(x + w (x - blur)) + (1 - m) x`, soft mask `m`."""
    x = np.asarray(images, np.float32)
    g = usm_kernel(radius)
    residual = x - _separable(x, g)
    mask = (np.abs(residual) * 255 > threshold).astype(np.float32)
    soft = _separable(mask, g)
    sharp = np.clip(x + weight * residual, 0, 1)
    return soft * sharp + (1 - soft) * x


def resize_batch(images, size, mode, scale=None):
    """`F.interpolate(images, size, mode)` on `(B, H, W, C)` (`scale`: 1 / scale_factor when given)."""
    _, h, w, _ = images.shape
    return apply_resize(images, resize_matrix(h, size[0], mode, scale), resize_matrix(w, size[1], mode, scale))


def to_gray(images):
    """torchvision's `rgb_to_grayscale`: `0.2989 R + 0.587 G + 0.114 B`, `(..., 1)`."""
    return (0.2989 * images[..., 0] + 0.587 * images[..., 1] + 0.114 * images[..., 2])[..., None]


def gaussian_noise(shape, sigma, gray, rng):
    """`(B, H, W, C)` noise: `N(0, sigma_b / 255)`, one field for all channels where `gray_b`."""
    b = shape[0]
    sigma = np.asarray(sigma, np.float32).reshape(b, 1, 1, 1) / 255.0
    color = rng.standard_normal(shape, dtype=np.float32) * sigma
    grey = rng.standard_normal(shape[:3] + (1,), dtype=np.float32) * sigma
    g = np.asarray(gray, bool).reshape(b, 1, 1, 1)
    return np.where(g, grey, color)


def distinct_levels(images):
    """Per image: `2 ** ceil(log2(number of distinct 8-bit levels))` (BasicSR's Poisson `vals`)."""
    q = np.clip(np.round(images * 255.0), 0, 255).astype(np.int64).reshape(images.shape[0], -1)
    counts = np.array([len(np.unique(row)) for row in q], np.float64)
    return (2.0 ** np.ceil(np.log2(counts))).astype(np.float32)


def poisson_noise(images, scale, gray, rng):
    """BasicSR's Poisson noise `(P(x v) / v - x) * scale` per image, from the grey image where `gray`."""
    b = images.shape[0]
    x = np.clip(np.round(images * 255.0), 0, 255) / 255.0
    vals = distinct_levels(x).reshape(b, 1, 1, 1)
    color = rng.poisson(x * vals) / vals - x
    g = np.clip(np.round(to_gray(images) * 255.0), 0, 255) / 255.0
    gvals = distinct_levels(g).reshape(b, 1, 1, 1)
    grey = rng.poisson(g * gvals) / gvals - g
    noise = np.where(np.asarray(gray, bool).reshape(b, 1, 1, 1), grey, color)
    return (noise * np.asarray(scale, np.float32).reshape(b, 1, 1, 1)).astype(np.float32)


def _add_noise(x, gaussian, sigma, poisson, gray, rng):
    if gaussian:
        x = x + gaussian_noise(x.shape, sigma, gray, rng)
    else:
        x = x + poisson_noise(x, poisson, gray, rng)
    return np.clip(x, 0, 1)


def _jpeg(x, qualities):
    x = np.clip(x, 0, 1)
    q8 = np.clip(np.round(x * 255.0), 0, 255).astype(np.uint8)
    return np.stack([pillow_jpeg(img, q) for img, q in zip(q8, qualities)]).astype(np.float32) / 255.0


def degrade_batch(sharp, params, rng, jpeg=None, noise=True):
    """The degraded LR batch of USM-sharpened HR `sharp` `(B, H, W, 3)` in [0, 1]: float32 8-bit levels in [0, 1].

    `jpeg(images01, qualities) -> images01`: the JPEG step (default Pillow; False: none). `noise=False`: no noise
    (tests compare with the device pipeline).
    """
    jpeg = _jpeg if jpeg is None else (jpeg or (lambda x, q: np.clip(x, 0, 1)))
    if not noise:
        def _noise(x, *args):
            return np.clip(x, 0, 1)
    else:
        _noise = _add_noise
    x = np.asarray(sharp, np.float32)
    _, h, w, _ = x.shape
    lr_size = params.info["lr_size"]
    x = filter2d(x, params.kernel1)
    mode, factor = params.resize1
    x = resize_batch(x, params.size1, mode, scale=1.0 / factor)
    x = _noise(x, params.gaussian1, params.sigma1, params.poisson1, params.gray1, rng)
    x = jpeg(x, params.jpeg1)
    x = filter2d(x, params.kernel2)
    x = resize_batch(x, params.size2, params.resize2[0])
    x = _noise(x, params.gaussian2, params.sigma2, params.poisson2, params.gray2, rng)
    if params.jpeg_first:
        x = jpeg(x, params.jpeg2)
        x = filter2d(resize_batch(x, lr_size, params.final_mode), params.sinc)
    else:
        x = filter2d(resize_batch(x, lr_size, params.final_mode), params.sinc)
        x = jpeg(x, params.jpeg2)
    return np.clip(np.round(x * 255.0), 0, 255).astype(np.float32) / 255.0
