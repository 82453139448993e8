"""Blur kernels of the Real-ESRGAN degradation model, in numpy: Gaussian, generalized Gaussian, plateau, sinc.

Wang et al., "Real-ESRGAN: Training Real-World Blind Super-Resolution with
Pure Synthetic Data", ICCVW 2021 (https://arxiv.org/abs/2107.10833), Sec. 3.1
Eq. 2-4; the formulas as read in BasicSR `basicsr/data/degradations.py`
(`bivariate_Gaussian`, `bivariate_generalized_Gaussian`, `bivariate_plateau`,
`circular_lowpass_kernel`, `random_mixed_kernels`) and the sampling of
xinntao/Real-ESRGAN `realesrgan/data/realesrgan_dataset.py`:

* every kernel lives on the integer grid `x, y in [-(k//2), k//2]` of an odd
  size `k`, with `Sigma = R(theta) diag(sx^2, sy^2) R(theta)^T`, `d = [x y]
  Sigma^-1 [x y]^T`, and is normalized to sum 1:
  Gaussian `exp(-d / 2)`, generalized Gaussian `exp(-d^beta / 2)`,
  plateau `1 / (1 + d^beta)`; "iso" kinds have `sx = sy`, `theta = 0`;
* the sinc (ringing) filter is the circular low-pass `wc J1(wc r) / (2 pi r)`
  (its centre `wc^2 / (4 pi)`), normalized to sum 1;
* `random_kernel(rng, ...)` draws one kernel as the official dataset does:
  the size uniformly from {7, 9, ..., 21}; with `sinc_prob` a sinc filter
  with `wc ~ U(pi/3, pi)` (size < 13) or `U(pi/5, pi)`, else a kernel kind
  by `kernel_prob`, `sx, sy ~ U(blur_sigma)`, `theta ~ U(-pi, pi)`, and
  `beta` from `U(lo, 1)` or `U(1, hi)` with probability 1/2 each; then
  zero-padded to 21 x 21.

All randomness comes from the `numpy.random.Generator` passed in.

Example:
    >>> k = gaussian_kernel(21, 2.0, 1.0, 0.3)            # (21, 21), sums to 1
    >>> s = sinc_kernel(np.pi / 3, 13, pad_to=21)
    >>> k = random_kernel(np.random.default_rng(0), KernelSettings())
"""

import dataclasses
import math

import numpy as np

__all__ = ["KERNEL_KINDS", "KernelSettings", "mesh_grid", "sigma_matrix", "gaussian_kernel",
           "generalized_gaussian_kernel", "plateau_kernel", "sinc_kernel", "pulse_kernel", "random_kernel",
           "random_final_sinc", "KERNEL_SIZES", "MAX_KERNEL_SIZE"]

KERNEL_KINDS = ("iso", "aniso", "generalized_iso", "generalized_aniso", "plateau_iso", "plateau_aniso")
KERNEL_SIZES = tuple(2 * v + 1 for v in range(3, 11))  # 7 .. 21 (the official, hard-coded range)
MAX_KERNEL_SIZE = 21


@dataclasses.dataclass(frozen=True)
class KernelSettings:
    """The kernel options of one degradation stage (defaults: the first stage of train_realesrgan_x4plus.yml)."""

    kernel_prob: tuple = (0.45, 0.25, 0.12, 0.03, 0.12, 0.03)  # over KERNEL_KINDS
    sinc_prob: float = 0.1
    blur_sigma: tuple = (0.2, 3.0)
    betag_range: tuple = (0.5, 4.0)
    betap_range: tuple = (1.0, 2.0)


def mesh_grid(kernel_size):
    """`(k, k, 2)` grid of `(x, y)` offsets from the centre (x along columns)."""
    k = int(kernel_size)
    if k % 2 != 1:
        raise ValueError(f"kernel size must be odd, got {k}.")
    ax = np.arange(-(k // 2), k // 2 + 1, dtype=np.float64)
    xx, yy = np.meshgrid(ax, ax)
    return np.stack([xx, yy], axis=-1)


def sigma_matrix(sig_x, sig_y, theta):
    """`R(theta) diag(sig_x^2, sig_y^2) R(theta)^T`."""
    c, s = math.cos(theta), math.sin(theta)
    rotation = np.array([[c, -s], [s, c]])
    return rotation @ np.diag([sig_x ** 2, sig_y ** 2]) @ rotation.T


def _quadratic(kernel_size, sig_x, sig_y, theta, isotropic):
    grid = mesh_grid(kernel_size)
    sigma = np.diag([sig_x ** 2, sig_x ** 2]) if isotropic else sigma_matrix(sig_x, sig_y, theta)
    inverse = np.linalg.inv(sigma)
    return np.einsum("hwi,ij,hwj->hw", grid, inverse, grid)


def _normalized(kernel):
    return (kernel / np.sum(kernel)).astype(np.float32)


def gaussian_kernel(kernel_size, sig_x, sig_y=None, theta=0.0, isotropic=None):
    """Bivariate Gaussian `exp(-d / 2)`; isotropic when `sig_y` is None (or `isotropic=True`)."""
    isotropic = sig_y is None if isotropic is None else isotropic
    return _normalized(np.exp(-0.5 * _quadratic(kernel_size, sig_x, sig_y, theta, isotropic)))


def generalized_gaussian_kernel(kernel_size, sig_x, sig_y=None, theta=0.0, beta=1.0, isotropic=None):
    """Generalized Gaussian `exp(-d^beta / 2)` (beta 1: the Gaussian)."""
    isotropic = sig_y is None if isotropic is None else isotropic
    return _normalized(np.exp(-0.5 * np.power(_quadratic(kernel_size, sig_x, sig_y, theta, isotropic), beta)))


def plateau_kernel(kernel_size, sig_x, sig_y=None, theta=0.0, beta=1.0, isotropic=None):
    """Plateau-shaped `1 / (1 + d^beta)`."""
    isotropic = sig_y is None if isotropic is None else isotropic
    return _normalized(1.0 / (np.power(_quadratic(kernel_size, sig_x, sig_y, theta, isotropic), beta) + 1.0))


def _bessel_j1(x):
    from scipy import special  # scipy: only where a sinc filter is made

    return special.j1(x)


def sinc_kernel(cutoff, kernel_size, pad_to=0):
    """The 2-D circular low-pass (sinc) filter of cut-off `cutoff` radians, zero-padded to `pad_to`."""
    k = int(kernel_size)
    if k % 2 != 1:
        raise ValueError(f"kernel size must be odd, got {k}.")
    r = np.sqrt(np.sum(mesh_grid(k) ** 2, axis=-1))
    with np.errstate(divide="ignore", invalid="ignore"):
        kernel = cutoff * _bessel_j1(cutoff * r) / (2 * np.pi * r)
    kernel[k // 2, k // 2] = cutoff ** 2 / (4 * np.pi)
    kernel = kernel / np.sum(kernel)
    if pad_to and pad_to > k:
        pad = (int(pad_to) - k) // 2
        kernel = np.pad(kernel, pad)
    return kernel.astype(np.float32)


def pulse_kernel(size=MAX_KERNEL_SIZE):
    """The identity filter (a centred 1): "no sinc filter" in the final stage."""
    kernel = np.zeros((size, size), np.float32)
    kernel[size // 2, size // 2] = 1.0
    return kernel


def _beta(rng, beta_range):
    lo, hi = beta_range
    return rng.uniform(lo, 1.0) if rng.uniform() < 0.5 else rng.uniform(1.0, hi)


def random_kernel(rng, settings, pad_to=MAX_KERNEL_SIZE):
    """One blur kernel of a degradation stage, drawn as the official dataset does; `(pad_to, pad_to)` float32.

    Returns `(kernel, info)` with `info` the kind and its parameters (for logs and tests).
    """
    size = int(rng.choice(KERNEL_SIZES))
    if rng.uniform() < settings.sinc_prob:
        cutoff = rng.uniform(np.pi / 3, np.pi) if size < 13 else rng.uniform(np.pi / 5, np.pi)
        return sinc_kernel(cutoff, size, pad_to=pad_to), {"kind": "sinc", "size": size, "cutoff": cutoff}
    probs = np.asarray(settings.kernel_prob, np.float64)
    kind = KERNEL_KINDS[int(rng.choice(len(KERNEL_KINDS), p=probs / probs.sum()))]
    lo, hi = settings.blur_sigma
    sig_x = rng.uniform(lo, hi)
    isotropic = kind.endswith("iso") and not kind.endswith("aniso")
    if isotropic:
        sig_y, theta = sig_x, 0.0
    else:
        sig_y, theta = rng.uniform(lo, hi), rng.uniform(-np.pi, np.pi)
    info = {"kind": kind, "size": size, "sig_x": sig_x, "sig_y": sig_y, "theta": theta}
    if kind.startswith("generalized"):
        info["beta"] = beta = _beta(rng, settings.betag_range)
        kernel = generalized_gaussian_kernel(size, sig_x, sig_y, theta, beta, isotropic=isotropic)
    elif kind.startswith("plateau"):
        info["beta"] = beta = _beta(rng, settings.betap_range)
        kernel = plateau_kernel(size, sig_x, sig_y, theta, beta, isotropic=isotropic)
    else:
        kernel = gaussian_kernel(size, sig_x, sig_y, theta, isotropic=isotropic)
    pad = (pad_to - size) // 2
    return np.pad(kernel, pad), info


def random_final_sinc(rng, final_sinc_prob, pad_to=MAX_KERNEL_SIZE):
    """The final-stage filter: with `final_sinc_prob` a sinc (size from KERNEL_SIZES, `wc ~ U(pi/3, pi)`), else a pulse."""
    if rng.uniform() < final_sinc_prob:
        size = int(rng.choice(KERNEL_SIZES))
        cutoff = rng.uniform(np.pi / 3, np.pi)
        return sinc_kernel(cutoff, size, pad_to=pad_to), {"kind": "sinc", "size": size, "cutoff": cutoff}
    return pulse_kernel(pad_to), {"kind": "pulse"}
