"""`RealESRGANDataset`: Real-ESRGAN training batches from HR images, degraded on the host or on the device.

The data stage of xinntao/Real-ESRGAN (`realesrgan/data/realesrgan_dataset.py`
and `RealESRGANModel.feed_data`): HR images are cropped (or reflect-101
padded) to `hr_size` x `hr_size` (the official `crop_pad_size`, 400) and
flipped left-right with probability 1/2 (`use_hflip: True`, `use_rot:
False`); all random choices of the batch are drawn (`sample_batch`); then

* `mode="host"`: the batch is degraded here (numpy / scipy / Pillow,
  `keras_sr.degradations.host`), a `gt_size` crop is taken (one window for
  the batch, on the scale grid, as `paired_random_crop`), the pool mixes
  batches (`queue_size`, `keras_sr.degradations.pool.block_order`) and the
  batch is `(lr, hr_usm, hr)` float32 in [0, 255]: the LR input, the
  USM-sharpened target of the L1 / perceptual losses (sharpened after the
  crop, as the official re-sharpens after its pool), and the discriminator's
  real images;
* `mode="device"`: the batch is `{"hr": (B, hr_size, hr_size, 3) in [0, 255],
  "crop": (top, left), **device_inputs}` and `DeviceDegradation` (inside the
  compiled train step) degrades, crops, pools and sharpens it.

Batch `i` of epoch `e` depends only on `(seed, e, i)` (`np.random.default_rng([seed, e, i])`), whatever the
workers; in host mode the pool deals a block of `queue_size / batch_size` batches from
`default_rng([seed, e, block, 1])`. `as_tf_dataset` (`keras_sr.degradations.tf_data`) wraps it for tf.data.

Example:
    >>> ds = RealESRGANDataset(["DF2K/HR"], DegradationConfig(scale=4), batch_size=12, steps_per_epoch=1000, seed=0)
    >>> batch = ds[0]                                 # device mode: the HR crops and every random choice
    >>> lr, hr_usm, hr = RealESRGANDataset(["DF2K/HR"], mode="host", hr_size=96, gt_size=64)[0]
"""

import os
import threading

import numpy as np

import keras

from keras_sr.degradations.config import DegradationConfig, sample_batch
from keras_sr.degradations.device import device_inputs
from keras_sr.degradations.host import degrade_batch, usm_sharpen
from keras_sr.degradations.pool import block_order
from keras_sr.image_io import ImageError, list_images, load_image

__all__ = ["RealESRGANDataset", "MODES", "crop_or_pad"]

MODES = ("device", "host")


def crop_or_pad(image, size, rng):
    """Reflect-101 pad to at least `size` (bottom / right, as `cv2.copyMakeBorder`), then a random `size` crop."""
    h, w = image.shape[:2]
    if h < size or w < size:
        image = np.pad(image, ((0, max(0, size - h)), (0, max(0, size - w)), (0, 0)), mode="reflect")
        h, w = image.shape[:2]
    top = int(rng.integers(0, h - size + 1))
    left = int(rng.integers(0, w - size + 1))
    return image[top:top + size, left:left + size]


def _expand(paths):
    out = []
    for p in [paths] if isinstance(paths, (str, bytes)) or hasattr(paths, "__fspath__") else paths:
        out.extend(list_images(p) if os.path.isdir(p) else [os.fspath(p)])
    if not out:
        raise ImageError(f"no HR images in {paths!r}.")
    return out


class RealESRGANDataset(keras.utils.PyDataset):
    """Real-ESRGAN batches (see the module docstring) as a `keras.utils.PyDataset`.

    Args:
        paths: HR image files or folders.
        config: a `DegradationConfig` (its `scale` is the SR scale).
        hr_size: the crop the degradation runs on (official 400).
        gt_size: the HR training crop after the degradation (official 256; a multiple of the scale).
        batch_size, steps_per_epoch, seed: as the other loaders.
        mode: "device" or "host" (see the module docstring).
        queue_size: the pool (official 180; a multiple of `batch_size`; 0: off). Host mode only here; the
            device pool lives in `DeviceDegradation`.
        hflip: random left-right flips.
        jpeg: host mode's JPEG (None: Pillow; or `f(images01, qualities)`).
    """

    def __init__(self, paths, config=None, hr_size=400, gt_size=256, batch_size=12, steps_per_epoch=1000, seed=0,
                 mode="device", queue_size=180, hflip=True, jpeg=None, workers=1, **kwargs):
        super().__init__(workers=workers, **kwargs)
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}.")
        self.config = config or DegradationConfig()
        self.scale = int(self.config.scale)
        self.paths = _expand(paths)
        self.hr_size, self.gt_size = int(hr_size), int(gt_size)
        if self.gt_size > self.hr_size or self.gt_size % self.scale or self.hr_size % self.scale:
            raise ValueError(f"gt_size {gt_size} and hr_size {hr_size} must be multiples of the scale {self.scale} "
                             "with gt_size <= hr_size.")
        if self.hr_size < 52:
            raise ValueError(f"hr_size {hr_size}: the USM sharpening's 51-tap blur needs at least 52 pixels.")
        self.batch_size, self.steps = int(batch_size), int(steps_per_epoch)
        self.seed, self.mode, self.hflip, self.jpeg = int(seed), mode, bool(hflip), jpeg
        self.queue_size = int(queue_size or 0)
        if self.queue_size and self.queue_size % self.batch_size:
            raise ValueError(f"queue_size {queue_size} must be a multiple of batch_size {batch_size}.")
        self.epoch = 0
        self._images, self._blocks = {}, {}
        self._lock = threading.Lock()

    def __len__(self):
        return self.steps

    def on_epoch_end(self):
        self.epoch += 1
        with self._lock:
            self._blocks.clear()

    def _image(self, i):
        image = self._images.get(i)
        if image is None:
            image = load_image(self.paths[i])
            with self._lock:
                self._images[i] = image
        return image

    def hr_batch(self, rng):
        """`(B, hr_size, hr_size, 3)` float32 in [0, 1]: random images, crops (or pads) and flips."""
        crops = []
        for _ in range(self.batch_size):
            image = crop_or_pad(self._image(int(rng.integers(len(self.paths)))), self.hr_size, rng)
            if self.hflip and rng.uniform() < 0.5:
                image = image[:, ::-1]
            crops.append(image)
        return np.stack(crops).astype(np.float32) / 255.0

    def draw(self, index, epoch=None):
        """`(hr01, params, crop, rng)` of batch `index`: everything random about it, from `(seed, epoch, index)`."""
        rng = np.random.default_rng([self.seed, self.epoch if epoch is None else epoch, int(index)])
        hr = self.hr_batch(rng)
        params = sample_batch(rng, self.config, self.batch_size, hr.shape[1:3])
        top = int(rng.integers(0, (self.hr_size - self.gt_size) // self.scale + 1)) * self.scale
        left = int(rng.integers(0, (self.hr_size - self.gt_size) // self.scale + 1)) * self.scale
        return hr, params, (top, left), rng

    def _host_pair(self, index, epoch):
        hr, params, (top, left), rng = self.draw(index, epoch)
        kwargs = {} if self.jpeg is None else {"jpeg": self.jpeg}
        lr = degrade_batch(usm_sharpen(hr, self.config.usm_weight, self.config.usm_threshold, self.config.usm_radius),
                           params, rng, **kwargs)
        s, g = self.scale, self.gt_size
        return lr[:, top // s:(top + g) // s, left // s:(left + g) // s], hr[:, top:top + g, left:left + g]

    def _block(self, block, epoch):
        key = (epoch, block)
        with self._lock:
            cached = self._blocks.get(key)
        if cached is None:
            k = self.queue_size // self.batch_size
            pairs = [self._host_pair(block * k + j, epoch) for j in range(k)]
            lr = np.concatenate([p[0] for p in pairs])
            hr = np.concatenate([p[1] for p in pairs])
            order = block_order(np.random.default_rng([self.seed, epoch, block, 1]), k, self.batch_size)
            cached = (lr, hr, order)
            with self._lock:
                self._blocks = {kk: v for kk, v in self._blocks.items() if kk[1] >= block - 1}
                self._blocks[key] = cached
        return cached

    def host_batch(self, index, epoch=None):
        """`(lr, hr_usm, hr)` float32 in [0, 255] of batch `index` (degraded here, pooled)."""
        epoch = self.epoch if epoch is None else epoch
        if self.queue_size:
            k = self.queue_size // self.batch_size
            lr, hr, order = self._block(index // k, epoch)
            rows = order[index % k]
            lr, hr = lr[rows], hr[rows]
        else:
            lr, hr = self._host_pair(index, epoch)
        c = self.config
        sharp = usm_sharpen(hr, c.usm_weight, c.usm_threshold, c.usm_radius)
        return lr * 255.0, sharp * 255.0, hr * 255.0

    def device_batch(self, index, epoch=None):
        """`{"hr", "crop", **device_inputs}` of batch `index` (numpy) for `DeviceDegradation`."""
        hr, params, crop, _ = self.draw(index, epoch)
        return {"hr": hr * 255.0, "crop": np.asarray(crop, np.int32),
                **device_inputs(params, self.config, hr.shape[1:3])}

    def __getitem__(self, index):
        if self.mode == "host":
            return self.host_batch(index)
        return self.device_batch(index)
