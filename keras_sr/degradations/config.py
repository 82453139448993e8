"""The settings of Real-ESRGAN's second-order degradation model and the per-batch draw of its random choices.

Wang et al., "Real-ESRGAN", ICCVW 2021 (https://arxiv.org/abs/2107.10833),
Sec. 3.1-3.2 and Fig. 2; the values of the official option files
(xinntao/Real-ESRGAN `options/train_realesrgan_x4plus.yml`, identical in
`train_realesrnet_x4plus.yml` and the x2plus files, and the dataset keys read
by `realesrgan/data/realesrgan_dataset.py`). `DegradationConfig()` is that
configuration.

`sample_batch(rng, config, batch, hr_shape)` draws every random choice of one
batch from a `numpy.random.Generator`: what the official splits between the
dataset (`__getitem__`: the three kernels per image) and the model
(`feed_data`: the rest). Which choices are per image and which per batch
follows the official code:

* per image: the first and second blur kernels and the final sinc filter;
  the noise sigma / Poisson scale and colour-or-grey; both JPEG qualities;
* per batch: the up/down/keep choice, factor and mode of both random resizes,
  Gaussian or Poisson noise in each stage, whether the second blur runs
  (`second_blur_prob`), the final resize mode, and the order of the last
  stage (resize + sinc then JPEG, or JPEG then resize + sinc, 1/2 each).

The per-batch sizes vary, so the official "training pair pool" (queue)
mixes pairs of different batches (`keras_sr.degradations.pool`).

Example:
    >>> rng = np.random.default_rng([0, 0, 17])              # (seed, epoch, index)
    >>> params = sample_batch(rng, DegradationConfig(), 12, (400, 400))
    >>> params.kernel1.shape, params.size1                    # (12, 21, 21), e.g. (148, 148)
"""

import dataclasses
import typing

import numpy as np

from keras_sr.degradations.kernels import KernelSettings, pulse_kernel, random_final_sinc, random_kernel
from keras_sr.degradations.resize import RESIZE_MODES, scaled_size

__all__ = ["DegradationConfig", "BatchParams", "sample_batch", "UPDOWN"]

UPDOWN = ("up", "down", "keep")


@dataclasses.dataclass(frozen=True)
class DegradationConfig:
    """Real-ESRGAN's degradation settings (defaults: the official x4plus / x2plus option files)."""

    scale: int = 4
    # the first degradation
    kernel1: KernelSettings = KernelSettings()
    resize_prob: tuple = (0.2, 0.7, 0.1)          # up, down, keep
    resize_range: tuple = (0.15, 1.5)
    gaussian_noise_prob: float = 0.5
    noise_range: tuple = (1.0, 30.0)              # sigma, 0-255 units
    poisson_scale_range: tuple = (0.05, 3.0)
    gray_noise_prob: float = 0.4
    jpeg_range: tuple = (30, 95)
    # the second degradation
    second_blur_prob: float = 0.8
    kernel2: KernelSettings = KernelSettings(blur_sigma=(0.2, 1.5))
    resize_prob2: tuple = (0.3, 0.4, 0.3)
    resize_range2: tuple = (0.3, 1.2)
    gaussian_noise_prob2: float = 0.5
    noise_range2: tuple = (1.0, 25.0)
    poisson_scale_range2: tuple = (0.05, 2.5)
    gray_noise_prob2: float = 0.4
    jpeg_range2: tuple = (30, 95)
    # the final stage
    final_sinc_prob: float = 0.8
    # USM sharpening of the ground truth (BasicSR `USMSharp`: radius 50 -> 51 taps, sigma 8; weight 0.5, threshold 10)
    usm_weight: float = 0.5
    usm_threshold: float = 10.0
    usm_radius: int = 50

    def replace(self, **changes):
        return dataclasses.replace(self, **changes)

    def canvas(self, hr_shape):
        """Static `(stage-1 canvas, stage-2 canvas, LR)` `(h, w)` sizes of the device path for HR `hr_shape`.

        The canvases hold the largest resize of each stage, rounded up to a multiple of 16 (whole JPEG MCUs).
        """
        h, w = (int(v) for v in hr_shape)
        if h % self.scale or w % self.scale:
            raise ValueError(f"HR size {h}x{w} is not a multiple of the scale {self.scale}.")
        up1, up2 = self.resize_range[1], self.resize_range2[1]

        def c16(v):
            return -(-int(v) // 16) * 16

        s1 = (c16(max(h, scaled_size(h, up1))), c16(max(w, scaled_size(w, up1))))
        lh, lw = h // self.scale, w // self.scale
        s2 = (c16(max(lh, int(lh * max(up2, 1.0)))), c16(max(lw, int(lw * max(up2, 1.0)))))
        return s1, s2, (lh, lw)


@dataclasses.dataclass
class BatchParams:
    """Every random choice of one batch (numpy), for the host and the device pipelines."""

    kernel1: np.ndarray                 # (B, 21, 21) float32
    kernel2: np.ndarray                 # (B, 21, 21): a pulse when the second blur is skipped
    sinc: np.ndarray                    # (B, 21, 21): a pulse when no final sinc
    resize1: typing.Tuple[str, float]   # (mode, factor): F.interpolate(scale_factor=factor)
    size1: typing.Tuple[int, int]
    resize2: typing.Tuple[str, float]   # (mode, factor): size int(h / s * factor)
    size2: typing.Tuple[int, int]
    final_mode: str
    gaussian1: bool                     # Gaussian (True) or Poisson noise, first stage
    sigma1: np.ndarray                  # (B,) 0-255 units
    poisson1: np.ndarray                # (B,) Poisson scale
    gray1: np.ndarray                   # (B,) bool
    jpeg1: np.ndarray                   # (B,) integer qualities (float32)
    gaussian2: bool
    sigma2: np.ndarray
    poisson2: np.ndarray
    gray2: np.ndarray
    jpeg2: np.ndarray
    jpeg_first: bool                    # last stage: JPEG then resize + sinc (True) or resize + sinc then JPEG
    noise_seed: np.ndarray              # (2,) int32: the device path's noise
    info: dict = dataclasses.field(default_factory=dict)


def _resize_factor(rng, probs, factor_range):
    updown = UPDOWN[int(rng.choice(3, p=np.asarray(probs) / np.sum(probs)))]
    if updown == "up":
        factor = rng.uniform(1.0, factor_range[1])
    elif updown == "down":
        factor = rng.uniform(factor_range[0], 1.0)
    else:
        factor = 1.0
    return str(RESIZE_MODES[int(rng.integers(3))]), float(factor)


def _quality(rng, quality_range, batch):
    return np.round(rng.uniform(quality_range[0], quality_range[1], batch)).astype(np.float32)


def sample_batch(rng, config, batch, hr_shape):
    """Draw every random choice of one batch of `batch` HR images of `hr_shape` `(h, w)`: a `BatchParams`."""
    h, w = (int(v) for v in hr_shape)
    kernels1, kernels2, sincs, info = [], [], [], {"kernel1": [], "kernel2": [], "sinc": []}
    for _ in range(batch):
        k1, i1 = random_kernel(rng, config.kernel1)
        k2, i2 = random_kernel(rng, config.kernel2)
        ks, i3 = random_final_sinc(rng, config.final_sinc_prob)
        kernels1.append(k1), kernels2.append(k2), sincs.append(ks)
        info["kernel1"].append(i1), info["kernel2"].append(i2), info["sinc"].append(i3)
    resize1 = _resize_factor(rng, config.resize_prob, config.resize_range)
    size1 = (scaled_size(h, resize1[1]), scaled_size(w, resize1[1]))
    gaussian1 = bool(rng.uniform() < config.gaussian_noise_prob)
    sigma1 = rng.uniform(*config.noise_range, batch).astype(np.float32)
    poisson1 = rng.uniform(*config.poisson_scale_range, batch).astype(np.float32)
    gray1 = rng.uniform(size=batch) < config.gray_noise_prob
    jpeg1 = _quality(rng, config.jpeg_range, batch)
    second_blur = bool(rng.uniform() < config.second_blur_prob)
    kernel2 = np.stack(kernels2) if second_blur else np.broadcast_to(pulse_kernel(), (batch, 21, 21)).copy()
    resize2 = _resize_factor(rng, config.resize_prob2, config.resize_range2)
    lh, lw = h // config.scale, w // config.scale
    size2 = (max(1, int(h / config.scale * resize2[1])), max(1, int(w / config.scale * resize2[1])))
    gaussian2 = bool(rng.uniform() < config.gaussian_noise_prob2)
    sigma2 = rng.uniform(*config.noise_range2, batch).astype(np.float32)
    poisson2 = rng.uniform(*config.poisson_scale_range2, batch).astype(np.float32)
    gray2 = rng.uniform(size=batch) < config.gray_noise_prob2
    jpeg_first = bool(rng.uniform() >= 0.5)
    final_mode = str(RESIZE_MODES[int(rng.integers(3))])
    jpeg2 = _quality(rng, config.jpeg_range2, batch)
    noise_seed = rng.integers(0, 2**31 - 1, 2).astype(np.int32)
    info.update(second_blur=second_blur, lr_size=(lh, lw))
    return BatchParams(np.stack(kernels1), kernel2, np.stack(sincs), resize1, size1, resize2, size2, final_mode,
                       gaussian1, sigma1, poisson1, gray1, jpeg1, gaussian2, sigma2, poisson2, gray2, jpeg2,
                       jpeg_first, noise_seed, info)
