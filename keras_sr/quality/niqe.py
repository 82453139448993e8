"""NIQE, the "completely blind" natural image quality evaluator, with the official pristine model.

Mittal, Soundararajan & Bovik, "Making a 'Completely Blind' Image Quality
Analyzer", IEEE Signal Processing Letters 20(3), 2013; reference MATLAB code
`niqe_release.zip` (live.ece.utexas.edu: `computequality.m`,
`computefeature.m`, `estimateaggdparam.m`, `modelparameters.mat`). Lower is
better. The algorithm, as the reference code runs it:

1. the image is the Y channel (BT.601, rounded to integers as MATLAB's uint8
   `rgb2ycbcr`), `crop_border` pixels cut, cropped to whole 96x96 blocks;
2. at two scales (the image, then MATLAB `imresize(., 0.5)` with
   antialiasing), MSCN coefficients `(I - mu) / (sigma + 1)` with a 7x7
   Gaussian window (`fspecial('gaussian', 7, 7/6)`, replicated border);
3. per block (96x96, then 48x48; no overlap) 18 features: the generalized
   Gaussian fit of the MSCN values (shape, mean of the two scales) and for the
   4 neighbour products (shifts (0,1), (1,0), (1,1), (1,-1), circular within
   the block) the asymmetric GGD fit (shape, mean, left and right scale); the
   shape is found on the grid 0.2:0.001:10 as the reference does;
4. a multivariate Gaussian is fitted to the 36-dim features of all blocks
   (mean ignoring NaNs, covariance of the rows without NaNs) and compared with
   the pristine model: `sqrt((mu_p - mu)^T pinv((C_p + C) / 2) (mu_p - mu))`.

The pristine mean (36) and covariance (36x36) are the numbers of the
reference `modelparameters.mat`, as BasicSR ships them
(XPixelGroup/BasicSR, `basicsr/metrics/niqe_pris_params.npz`, Apache-2.0),
stored here as `niqe_pristine.npz` (`mu`, `cov`). BasicSR reports MATLAB
R2021a's value for its test image `baboon.png` as 5.72957338; this module
gives the same to 1e-3 (tests/test_quality_niqe.py, run where the BasicSR
checkout is present; the image is not committed, its licence is unclear).

Example:
    >>> niqe(sr_uint8, crop_border=4)          # RGB or grey uint8 / float in [0, 255]
    >>> niqe_of_y(y_float)                     # an already prepared 2D luma image
"""

import functools
import os

import numpy as np
from keras_sr.imresize import imresize
from keras_sr.color import rgb_to_y

__all__ = ["niqe", "niqe_of_y", "niqe_features", "pristine_model", "BLOCK_SIZE"]

BLOCK_SIZE = 96  # the reference code's recommended block size (the pristine model was built with it)
PRISTINE_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "niqe_pristine.npz")


@functools.lru_cache(maxsize=1)
def pristine_model():
    """`(mu (36,), cov (36, 36))` of the official pristine model."""
    with np.load(PRISTINE_FILE) as data:
        return data["mu"].copy(), data["cov"].copy()


@functools.lru_cache(maxsize=1)
def _shape_grid():
    from scipy.special import gamma

    grid = np.arange(0.2, 10.001, 0.001)
    ratio = gamma(2.0 / grid) ** 2 / (gamma(1.0 / grid) * gamma(3.0 / grid))
    return grid, ratio


def _gaussian_window(size=7, sigma=7.0 / 6.0):
    ax = np.arange(size, dtype=np.float64) - (size - 1) / 2.0
    g = np.exp(-(ax[:, None] ** 2 + ax[None, :] ** 2) / (2.0 * sigma**2))
    return g / g.sum()


def _aggd_fit(x):
    """Asymmetric GGD fit (reference `estimateaggdparam`): `(shape, left scale, right scale)`."""
    from scipy.special import gamma

    x = x.ravel()
    grid, ratio = _shape_grid()
    left = np.sqrt(np.mean(x[x < 0] ** 2)) if np.any(x < 0) else np.nan
    right = np.sqrt(np.mean(x[x > 0] ** 2)) if np.any(x > 0) else np.nan
    g = left / right
    rhat = np.mean(np.abs(x)) ** 2 / np.mean(x**2)
    rhat_norm = rhat * (g**3 + 1) * (g + 1) / (g**2 + 1) ** 2
    shape = grid[np.argmin((ratio - rhat_norm) ** 2)] if np.isfinite(rhat_norm) else np.nan
    factor = np.sqrt(gamma(1.0 / shape) / gamma(3.0 / shape)) if np.isfinite(shape) else np.nan
    return shape, left * factor, right * factor


def _block_features(block):
    from scipy.special import gamma

    shape, left, right = _aggd_fit(block)
    feats = [shape, (left + right) / 2.0]
    for shift in ((0, 1), (1, 0), (1, 1), (1, -1)):
        shape, left, right = _aggd_fit(block * np.roll(block, shift, axis=(0, 1)))
        mean = (right - left) * gamma(2.0 / shape) / gamma(1.0 / shape)
        feats.extend([shape, mean, left, right])
    return feats


def _mscn(img, window):
    from scipy.ndimage import convolve

    mu = convolve(img, window, mode="nearest")
    sigma = np.sqrt(np.abs(convolve(img * img, window, mode="nearest") - mu * mu))
    return (img - mu) / (sigma + 1.0)


def niqe_features(y, block_size=BLOCK_SIZE):
    """(n_blocks, 36) features of a 2D luma image in [0, 255] (cropped to whole blocks here)."""

    y = np.asarray(y, np.float64)
    if y.ndim != 2:
        raise ValueError(f"NIQE: expected a 2D luma image, got shape {y.shape}.")
    rows, cols = y.shape[0] // block_size, y.shape[1] // block_size
    if rows < 1 or cols < 1:
        raise ValueError(f"NIQE needs at least one {block_size}x{block_size} block, "
                         f"the image is {y.shape[1]}x{y.shape[0]}.")
    img = y[:rows * block_size, :cols * block_size]
    window = _gaussian_window()
    per_scale = []
    for level in (1, 2):
        mscn = _mscn(img, window)
        size = block_size // level
        per_scale.append(np.array([_block_features(mscn[r * size:(r + 1) * size, c * size:(c + 1) * size])
                                   for c in range(cols) for r in range(rows)]))
        if level == 1:
            img = imresize(img / 255.0, 0.5) * 255.0
    return np.concatenate(per_scale, axis=1)


def niqe_of_y(y, block_size=BLOCK_SIZE):
    """NIQE of a 2D luma image in [0, 255] (float; the reference rounds it to integers first, see `niqe`)."""
    feats = niqe_features(y, block_size)
    mu_p, cov_p = pristine_model()
    mu = np.nanmean(feats, axis=0)
    clean = feats[~np.isnan(feats).any(axis=1)]
    if len(clean) < 2:
        raise ValueError(f"NIQE: {len(clean)} block(s) with finite features; the covariance needs at least 2 "
                         f"(the image needs at least two {block_size}x{block_size} blocks with texture).")
    cov = np.cov(clean, rowvar=False)
    diff = mu_p - mu
    return float(np.sqrt(diff @ np.linalg.pinv((cov_p + cov) / 2.0) @ diff))


def niqe(img, crop_border=0, block_size=BLOCK_SIZE):
    """NIQE of an RGB (Y is used) or grey image, uint8 or float in [0, 255], `crop_border` pixels cut each side."""

    img = np.asarray(img)
    if img.ndim == 3 and img.shape[-1] == 3:
        y = rgb_to_y(img)
    elif img.ndim == 3 and img.shape[-1] == 1:
        y = img[..., 0].astype(np.float64)
    elif img.ndim == 2:
        y = img.astype(np.float64)
    else:
        raise ValueError(f"NIQE: expected an RGB or grey image, got shape {img.shape}.")
    if crop_border:
        y = y[crop_border:-crop_border, crop_border:-crop_border]
    return niqe_of_y(np.round(y), block_size)
