"""DASR's training batches: two patches of each image under one random blur (+ noise), as a `PyDataset`.

Wang et al., "Unsupervised Degradation Representation Learning for Blind
Super-Resolution", CVPR 2021, Sec. 3.2 / 4.1, and the official data flow
(The-Learning-And-Vision-Atelier-LAVA/DASR: `data/multiscalesrdata.py`
`get_patch` takes two random HR crops of every (augmented) image;
`utils/util.py` `SRMDPreprocessing` degrades both with the same random
kernel and noise level), written anew on `keras_sr.blur_kernels`:

for every image of a batch, two random `patch_size * scale` HR crops with
one shared flip/rotation; one kernel (`random_kernel`: isotropic width
`U[sig_min, sig_max]`, or anisotropic) and one noise level `U[0, noise]`
per image; each crop blurred (reflection padding), MATLAB-bicubic
downsampled, noised and rounded. The patches of one image share a
degradation and differ in content: the positive pair of the contrastive
loss. Batches are `({"query": lr_q, "key": lr_k}, hr_q)` float32 in
[0, 255], `(B, p, p, 3)` and `(B, p*s, p*s, 3)`.

With `seed`, batch `i` of epoch `e` depends only on `(seed, e, i)` (resumable
by index, whatever the number of workers).

Example:
    >>> ds = BlindPairDataset(["T91/HR"], scale=4, patch_size=48, batch_size=32, steps_per_epoch=1000, seed=0)
    >>> x, hr = ds[0]      # x["query"], x["key"]: (32, 48, 48, 3); hr: (32, 192, 192, 3)
"""

import threading

import keras
import numpy as np

from keras_sr.blur_kernels import BLUR_TYPES, KERNEL_SIZE, blur_downsample, random_kernel
from keras_sr.data.patches import augment as apply_augment, sample_augment
from keras_sr.data.sources import usable_images
from keras_sr.image_io import ImageError, load_image

__all__ = ["BlindPairDataset"]


class BlindPairDataset(keras.utils.PyDataset):
    """`({"query", "key"}, hr)` batches of DASR (see the module docstring), numpy only, any backend.

    Args:
        paths: HR image files.
        scale, patch_size, batch_size: LR patch side `patch_size`, HR `patch_size * scale`.
        steps_per_epoch: batches per epoch (`len`).
        seed: batch `i` of epoch `e` from `(seed, e, i)`; None: fresh randomness.
        augment: one of the 8 flips/rotations per image, shared by its two patches.
        blur_type: "iso_gaussian" or "aniso_gaussian"; `kernel_size`, `sig_min`, `sig_max`,
            `lambda_min`, `lambda_max`: the official `--blur_kernel`, `--sig_*`, `--lambda_*`.
        noise: the largest Gaussian noise level (0-255); each image draws `U[0, noise]`.
        workers: PyDataset worker threads.
    """

    def __init__(self, paths, scale, patch_size, batch_size, steps_per_epoch, seed=None, augment=True,
                 blur_type="iso_gaussian", kernel_size=KERNEL_SIZE, sig_min=0.2, sig_max=4.0, lambda_min=0.2,
                 lambda_max=4.0, noise=0.0, workers=1, cache_limit_mb=2048, max_queue_size=10):
        super().__init__(workers=workers, use_multiprocessing=False, max_queue_size=max_queue_size)
        if blur_type not in BLUR_TYPES:
            raise ValueError(f"blur_type must be one of {BLUR_TYPES}, got {blur_type!r}.")
        self.scale, self.patch_size, self.batch_size = int(scale), int(patch_size), int(batch_size)
        self.steps_per_epoch = int(steps_per_epoch)
        self.seed, self.augment = seed, bool(augment)
        self.kernel_args = dict(blur_type=blur_type, size=int(kernel_size), sig_min=float(sig_min),
                                sig_max=float(sig_max), lambda_min=float(lambda_min), lambda_max=float(lambda_max))
        self.noise = float(noise)
        need = self.patch_size * self.scale
        self.paths, pixels, small, _ = usable_images(
            list(paths), need, self.scale, self.patch_size, skip_small=True,
            too_small=lambda name, w, h: f"{name}: {w}x{h} is smaller than the {need}x{need} HR patch.")
        if not self.paths:
            raise ImageError(f"no training image is at least {need}x{need} pixels ({len(small)} too small) for "
                             f"{self.patch_size}-pixel LR patches at x{self.scale}.")
        self.cache = pixels <= cache_limit_mb * 2**20
        self._images, self._lock, self._epoch = {}, threading.Lock(), 0

    def __len__(self):
        return self.steps_per_epoch

    def on_epoch_end(self):
        self._epoch += 1

    def _image(self, i):
        image = self._images.get(i)
        if image is None:
            image = load_image(self.paths[i])
            if self.cache:
                with self._lock:
                    self._images[i] = image
        return image

    def sample(self, rng):
        """One image's `(lr_query, lr_key, hr_query, kernel)`: two crops, one degradation."""
        image = self._image(int(rng.integers(len(self.paths))))
        h, w = image.shape[:2]
        size = self.patch_size * self.scale
        aug = sample_augment(rng) if self.augment else 0
        crops = []
        for _ in range(2):
            top, left = int(rng.integers(0, h - size + 1)), int(rng.integers(0, w - size + 1))
            crops.append(np.ascontiguousarray(apply_augment(image[top:top + size, left:left + size], aug)))
        kernel = random_kernel(rng, **self.kernel_args)
        level = rng.uniform(0.0, self.noise) if self.noise else 0.0
        lrs = [blur_downsample(crop, kernel, self.scale, level, rng) for crop in crops]
        return lrs[0], lrs[1], crops[0], kernel

    def __getitem__(self, index):
        rng = np.random.default_rng(None if self.seed is None else [int(self.seed), self._epoch, int(index)])
        samples = [self.sample(rng) for _ in range(self.batch_size)]
        query, key, hr = (np.stack([s[k] for s in samples]).astype(np.float32) for k in range(3))
        return {"query": query, "key": key}, hr
