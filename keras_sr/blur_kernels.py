"""Gaussian blur kernels and the blur + bicubic + noise degradation of blind SR (DASR), numpy only.

Wang et al., "Unsupervised Degradation Representation Learning for Blind
Super-Resolution", CVPR 2021 (https://arxiv.org/abs/2104.00416), Sec. 4.1,
and the official code (The-Learning-And-Vision-Atelier-LAVA/DASR,
`utils/util.py`: `isotropic_gaussian_kernel`, `anisotropic_gaussian_kernel`,
`cal_sigma`, `BatchBlur`, `SRMDPreprocessing`), written anew here:

* kernels are `size x size` (21 in the official code) on the grid
  `arange(size) - size // 2`, `exp(-(x^2 + y^2) / (2 sigma^2))` (isotropic) or
  `exp(-0.5 [x y] Sigma^-1 [x y]^T)` with `Sigma = R(theta) diag(l1^2, l2^2)
  R(theta)^T` (anisotropic; `x` runs along the columns, `y` down the rows),
  normalised to sum 1;
* `blur`: reflection padding by `size // 2` (`nn.ReflectionPad2d`, numpy's
  "reflect") and a 'valid' correlation (`F.conv2d`), as `BatchBlur`; done by
  FFT, exact to float64 rounding;
* `blur_downsample`: blur, then MATLAB bicubic `imresize(x, 1/s)` on the float
  image (`keras_sr.imresize`), then Gaussian noise of level `noise` (0-255
  units) and rounding to uint8, as `SRMDPreprocessing`. Width 0 is the plain
  bicubic protocol (`keras_sr.degradation.degrade`), as the official code
  skips the blur at `sig == 0`. One difference, kept on purpose: the official
  torch bicubic clamps indices at the image border (replicate), keras-sr's
  `imresize` mirrors as MATLAB does; only the outermost LR pixels differ;
* `random_kernel`: the training draw, `sigma ~ U[0.2, 4.0]` (isotropic) or
  `l1, l2 ~ U[0.2, 4.0]`, `theta ~ U[0, pi)` (anisotropic), official options;
* `Degradation` / `parse_degradation`: a fixed evaluation degradation from a
  text spec, the `--degradation` flag of `tools.evaluate`:
  `gaussian:1.2` (isotropic width), `aniso:L1,L2,THETA_DEGREES`, either with
  `+noise:N`; `bicubic` (or `gaussian:0`) is the protocol's LR. Noise at
  evaluation is seeded by the image name, so a table is reproducible.

Example:
    >>> k = isotropic_gaussian_kernel(21, 1.2)                      # (21, 21), sums to 1
    >>> hr, lr = parse_degradation("gaussian:2.4")(hr, 4)            # uint8 LR of a blurred HR
    >>> lr = blur_downsample(hr, anisotropic_gaussian_kernel(21, 0.2, 4.0, 0.0), 4, noise=10.0, rng=rng)
"""

import dataclasses
import math
import zlib

import numpy as np

from keras_sr.cropping import modcrop
from keras_sr.degradation import degrade
from keras_sr.image_io import check_min_size
from keras_sr.imresize import imresize

__all__ = ["KERNEL_SIZE", "BLUR_TYPES", "kernel_grid", "isotropic_gaussian_kernel", "anisotropic_covariance",
           "anisotropic_gaussian_kernel", "random_kernel", "blur", "blur_downsample", "Degradation",
           "parse_degradation"]

KERNEL_SIZE = 21  # official --blur_kernel
BLUR_TYPES = ("iso_gaussian", "aniso_gaussian")


def kernel_grid(size):
    """`(x, y)` integer offsets of a `size x size` kernel: `x` varies along columns, `y` along rows."""
    size = int(size)
    if size < 1:
        raise ValueError(f"kernel size must be >= 1, got {size}.")
    ax = np.arange(size, dtype=np.float64) - size // 2
    return np.meshgrid(ax, ax)  # xx[i, j] = ax[j], yy[i, j] = ax[i]


def isotropic_gaussian_kernel(size, sigma):
    """`exp(-(x^2 + y^2) / (2 sigma^2))` on the `size x size` grid, normalised to sum 1 (float64)."""
    sigma = float(sigma)
    if not sigma > 0:
        raise ValueError(f"Gaussian kernel width must be > 0, got {sigma!r} (width 0 is no blur).")
    xx, yy = kernel_grid(size)
    kernel = np.exp(-(xx ** 2 + yy ** 2) / (2.0 * sigma ** 2))
    return kernel / kernel.sum()


def anisotropic_covariance(lambda_1, lambda_2, theta):
    """`R(theta) diag(l1^2, l2^2) R(theta)^T` (official `cal_sigma`), `theta` in radians."""
    c, s = math.cos(theta), math.sin(theta)
    rotation = np.array([[c, -s], [s, c]])
    return rotation @ np.diag([float(lambda_1) ** 2, float(lambda_2) ** 2]) @ rotation.T


def anisotropic_gaussian_kernel(size, lambda_1, lambda_2, theta):
    """The anisotropic Gaussian `exp(-0.5 [x y] Sigma^-1 [x y]^T)`, normalised (`theta` in radians)."""
    if not (float(lambda_1) > 0 and float(lambda_2) > 0):
        raise ValueError(f"anisotropic Gaussian eigen-widths must be > 0, got {lambda_1!r}, {lambda_2!r}.")
    xx, yy = kernel_grid(size)
    xy = np.stack([xx, yy], axis=-1)
    inverse = np.linalg.inv(anisotropic_covariance(lambda_1, lambda_2, theta))
    kernel = np.exp(-0.5 * np.einsum("...i,ij,...j->...", xy, inverse, xy))
    return kernel / kernel.sum()


def random_kernel(rng, blur_type="iso_gaussian", size=KERNEL_SIZE, sig_min=0.2, sig_max=4.0, lambda_min=0.2,
                  lambda_max=4.0):
    """One training kernel drawn as the official `random_gaussian_kernel` (uniform widths, theta in [0, pi))."""
    if blur_type == "iso_gaussian":
        return isotropic_gaussian_kernel(size, rng.uniform(sig_min, sig_max))
    if blur_type == "aniso_gaussian":
        theta = rng.uniform(0.0, math.pi)
        l1, l2 = rng.uniform(lambda_min, lambda_max), rng.uniform(lambda_min, lambda_max)
        return anisotropic_gaussian_kernel(size, l1, l2, theta)
    raise ValueError(f"blur_type must be one of {BLUR_TYPES}, got {blur_type!r}.")


def blur(images, kernels):
    """Reflection-padded 'valid' correlation of `images` with `kernels` (official `BatchBlur`), float64.

    Args:
        images: `(H, W, C)` or `(N, H, W, C)`, any real dtype.
        kernels: `(k, k)` (one for all) or `(N, k, k)` (one per image), odd `k`.
    """
    images = np.asarray(images, np.float64)
    kernels = np.asarray(kernels, np.float64)
    single = images.ndim == 3
    if single:
        images = images[None]
    if images.ndim != 4:
        raise ValueError(f"blur expects (H, W, C) or (N, H, W, C) images, got shape {images.shape}.")
    if kernels.ndim == 2:
        kernels = np.broadcast_to(kernels, (images.shape[0],) + kernels.shape)
    size = kernels.shape[-1]
    if kernels.shape[-2] != size or size % 2 != 1 or kernels.shape[0] != images.shape[0]:
        raise ValueError(f"blur: kernels of shape {kernels.shape} do not fit images {images.shape} "
                         "(odd square kernels, one per image or one for all).")
    pad = size // 2
    n, h, w, _ = images.shape
    if pad >= min(h, w):
        raise ValueError(f"blur: a {size}x{size} kernel needs images larger than {pad} pixels, got {w}x{h}.")
    padded = np.pad(images, ((0, 0), (pad, pad), (pad, pad), (0, 0)), mode="reflect")
    shape = padded.shape[1:3]
    # Circular convolution with the flipped kernel equals the linear one on the valid window.
    spectrum = np.fft.rfft2(padded, s=shape, axes=(1, 2))
    kernel_spectrum = np.fft.rfft2(kernels[:, ::-1, ::-1], s=shape, axes=(1, 2))
    full = np.fft.irfft2(spectrum * kernel_spectrum[..., None], s=shape, axes=(1, 2))
    out = full[:, size - 1:size - 1 + h, size - 1:size - 1 + w]
    return out[0] if single else out


def blur_downsample(hr, kernel, scale, noise=0.0, rng=None):
    """uint8 LR of `hr` (`(H, W, C)`, H and W multiples of `scale`): blur, bicubic `1/scale`, noise, round.

    `kernel` None skips the blur. `noise` is the Gaussian noise's standard
    deviation on the 0-255 range (needs `rng`, a numpy Generator).
    """
    x = np.asarray(hr, np.float64)
    if kernel is not None:
        x = blur(x, kernel)
    lr = imresize(x, 1.0 / int(scale))
    if noise:
        if rng is None:
            raise ValueError("blur_downsample: noise > 0 needs an rng (numpy Generator).")
        lr = lr + rng.standard_normal(lr.shape) * float(noise)
    return np.clip(np.round(lr), 0, 255).astype(np.uint8)


@dataclasses.dataclass(frozen=True)
class Degradation:
    """A fixed blind-SR test degradation, `(hr, scale, path) -> (hr_cropped, lr)` like `degradation.degrade`.

    `sigma` > 0: isotropic width; else `lambdas` + `theta_degrees`: anisotropic; neither: no blur.
    `noise`: Gaussian noise level on 0-255 (seeded by the image name).
    """

    sigma: float = 0.0
    lambdas: tuple = None
    theta_degrees: float = 0.0
    noise: float = 0.0
    kernel_size: int = KERNEL_SIZE

    @property
    def kernel(self):
        """The blur kernel, or None (no blur)."""
        if self.lambdas is not None:
            return anisotropic_gaussian_kernel(self.kernel_size, *self.lambdas, math.radians(self.theta_degrees))
        if self.sigma > 0:
            return isotropic_gaussian_kernel(self.kernel_size, self.sigma)
        return None

    @property
    def is_bicubic(self):
        """True when this is the evaluation protocol's plain MATLAB-bicubic LR."""
        return self.kernel is None and not self.noise

    def describe(self):
        if self.lambdas is not None:
            text = (f"anisotropic Gaussian blur {self.kernel_size}x{self.kernel_size} (lambda {self.lambdas[0]:g}, "
                    f"{self.lambdas[1]:g}, theta {self.theta_degrees:g} deg)")
        elif self.sigma > 0:
            text = f"isotropic Gaussian blur {self.kernel_size}x{self.kernel_size} (sigma {self.sigma:g})"
        else:
            text = "no blur"
        text += " + MATLAB bicubic"
        return text + (f" + Gaussian noise {self.noise:g}" if self.noise else "")

    def __call__(self, hr, scale, path="<array>"):
        if self.is_bicubic:
            return degrade(hr, scale, path)
        scale = int(scale)
        check_min_size(hr, max(scale, self.kernel_size // 2 + 1), path, f"blurred x{scale} downscaling")
        hr = modcrop(np.asarray(hr, np.uint8), scale)
        rng = np.random.default_rng(zlib.crc32(str(path).encode())) if self.noise else None
        return hr, blur_downsample(hr, self.kernel, scale, self.noise, rng)


def _number(text, spec):
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"--degradation {spec!r}: {text!r} is not a number.") from None
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"--degradation {spec!r}: {text!r} must be a finite number >= 0.")
    return value


def parse_degradation(spec):
    """`Degradation` of a spec: `bicubic`, `gaussian:SIGMA`, `aniso:L1,L2,THETA_DEG`, each with `+noise:N`.

    Example:
        >>> parse_degradation("gaussian:1.2").sigma, parse_degradation("aniso:0.2,4,0+noise:10").noise
        (1.2, 10.0)
    """
    text = str(spec).strip().lower()
    blur_part, _, noise_part = text.partition("+")
    noise = 0.0
    if noise_part:
        kind, _, value = noise_part.partition(":")
        if kind.strip() != "noise" or not value:
            raise ValueError(f"--degradation {spec!r}: after '+' expected noise:LEVEL, got {noise_part!r}.")
        noise = _number(value, spec)
    kind, _, args = blur_part.partition(":")
    kind = kind.strip()
    if kind in ("bicubic", "none") and not args:
        return Degradation(noise=noise)
    if kind in ("gaussian", "iso", "iso_gaussian") and args:
        return Degradation(sigma=_number(args, spec), noise=noise)
    if kind in ("aniso", "aniso_gaussian"):
        values = [v for v in args.split(",")]
        if len(values) != 3:
            raise ValueError(f"--degradation {spec!r}: aniso takes L1,L2,THETA_DEGREES (three numbers).")
        l1, l2, theta = (_number(v, spec) for v in values)
        if not (l1 > 0 and l2 > 0):
            raise ValueError(f"--degradation {spec!r}: anisotropic widths must be > 0.")
        return Degradation(lambdas=(l1, l2), theta_degrees=theta, noise=noise)
    raise ValueError(f"--degradation {spec!r}: expected bicubic, gaussian:SIGMA or aniso:L1,L2,THETA_DEG "
                     "(optionally +noise:LEVEL).")
