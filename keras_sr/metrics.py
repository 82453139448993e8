"""PSNR and SSIM as the SR literature computes them (numpy, float64).

Protocol (BasicSR's `calculate_psnr`/`calculate_ssim`, the MATLAB scripts of
EDSR/RCAN): images are 8-bit (SR outputs are rounded to uint8 first), the
border of `crop_border` pixels (= scale) is cropped, and the score is taken on
the BT.601 luma Y in [16, 235] (default) or on RGB. SSIM uses the 11x11
Gaussian window with sigma 1.5, K1 = 0.01, K2 = 0.03, L = 255, valid region
only; on RGB it is the mean over the three channels.

Example:
    >>> psnr(sr_uint8, hr_uint8, crop_border=4)           # on Y
    >>> ssim(sr_uint8, hr_uint8, crop_border=4, y_only=False)
"""

import numpy as np

from keras_sr.color import rgb_to_y
from keras_sr.cropping import shave

__all__ = ["psnr", "ssim", "to_uint8", "gaussian_kernel_1d", "prepare_for_metric"]


def to_uint8(img):
    """Round a float image in [0, 255] to uint8 (half away from zero, saturated)."""
    img = np.asarray(img)
    if img.dtype == np.uint8:
        return img
    return np.floor(np.clip(img.astype(np.float64), 0.0, 255.0) + 0.5).astype(np.uint8)


def prepare_for_metric(img, crop_border, y_only):
    """uint8 rounding, optional Y conversion, border crop -> float64 (H, W, C)."""
    img = to_uint8(img)
    if img.ndim == 2:
        img = img[..., None]
    if y_only:
        if img.shape[-1] == 3:
            img = rgb_to_y(img)[..., None]
        elif img.shape[-1] != 1:
            raise ValueError(f"Y-channel metric needs RGB or one channel, got {img.shape}.")
    return shave(img.astype(np.float64), crop_border)


def _check_pair(a, b):
    if np.shape(a) != np.shape(b):
        raise ValueError(f"Image shapes differ: {np.shape(a)} vs {np.shape(b)}.")


def psnr(img, ref, crop_border=0, y_only=True):
    """PSNR in dB between two 8-bit images (float inputs are rounded first)."""
    _check_pair(img, ref)
    a = prepare_for_metric(img, crop_border, y_only)
    b = prepare_for_metric(ref, crop_border, y_only)
    mse = np.mean((a - b) ** 2)
    if mse == 0:
        return float("inf")
    return float(10.0 * np.log10(255.0**2 / mse))


def gaussian_kernel_1d(size=11, sigma=1.5):
    """Normalized 1D Gaussian; SSIM's 2D window is its outer product."""
    coords = np.arange(size, dtype=np.float64) - (size - 1) / 2.0
    g = np.exp(-(coords**2) / (2.0 * sigma**2))
    return g / g.sum()


def _filter_valid(x, g1d):
    """Separable 'valid' filtering of a 2D array with a 1D kernel on both axes."""
    k = len(g1d)
    rows = np.lib.stride_tricks.sliding_window_view(x, k, axis=0) @ g1d
    return np.lib.stride_tricks.sliding_window_view(rows, k, axis=1) @ g1d


def _ssim_channel(a, b, g1d):
    c1 = (0.01 * 255.0) ** 2
    c2 = (0.03 * 255.0) ** 2
    mu_a = _filter_valid(a, g1d)
    mu_b = _filter_valid(b, g1d)
    var_a = _filter_valid(a * a, g1d) - mu_a**2
    var_b = _filter_valid(b * b, g1d) - mu_b**2
    cov = _filter_valid(a * b, g1d) - mu_a * mu_b
    num = (2 * mu_a * mu_b + c1) * (2 * cov + c2)
    den = (mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2)
    return float(np.mean(num / den))


def ssim(img, ref, crop_border=0, y_only=True):
    """SSIM (Wang et al. 2004) between two 8-bit images, mean over channels."""
    _check_pair(img, ref)
    a = prepare_for_metric(img, crop_border, y_only)
    b = prepare_for_metric(ref, crop_border, y_only)
    if min(a.shape[:2]) < 11:
        raise ValueError(f"SSIM needs at least 11x11 pixels after cropping, got {a.shape[:2]}.")
    g1d = gaussian_kernel_1d(11, 1.5)
    return float(np.mean([_ssim_channel(a[..., c], b[..., c], g1d) for c in range(a.shape[-1])]))
