"""`SRPatchDataset`: (lr, hr) training batches with numpy only (no TensorFlow), as a `keras.utils.PyDataset`.

The TensorFlow-free loader, so training runs on the JAX and PyTorch backends
where TensorFlow is absent. Three kinds of source:

* whole images (paths or folders): HR is modcropped, LR made once per image
  and scale by `keras_sr.imresize.imresize` (the evaluation protocol's
  `degrade`) and cached in memory (optionally also on disk, `lr_cache_dir`);
  decoded HR images are cached while they fit in `cache_limit_mb`;
* an HDF5 file from `tools.data_aug --use_h5py` (datasets `lr`, `hr`,
  optional `scale`, or groups `x{s}/lr`, `x{s}/hr`);
* a patch-pair folder from `tools.data_aug` (`x{s}/lr/*.png`, `x{s}/hr/*.png`).

Crops and augmentation follow `keras_sr.data.patches` (the tf.data reader in
`keras_sr.tfrecords.reader` follows the same rules): the window is drawn in LR
coordinates, the HR window is `factor` times it, then one of the 8
flips/rotations. Batches are float32 in [0, 255], `(B, p, p, C)` and
`(B, p*f, p*f, C)`; `y_only=True` gives the BT.601 Y channel `(..., 1)`.

With `seed`, batch `i` of epoch `e` depends only on `(seed, e, i)`, whatever
the number of workers.

Example:
    >>> ds = SRPatchDataset(["T91/HR"], scale=4, patch_size=48, batch_size=16, steps_per_epoch=1000, seed=0)
    >>> lr, hr = ds[0]                 # (16, 48, 48, 3), (16, 192, 192, 3) float32
    >>> model.fit(ds, epochs=10)       # any Keras backend
"""

import hashlib
import logging
import math
import os
import threading

import keras
import numpy as np

from keras_sr.color import rgb_to_y
from keras_sr.data.patches import augment as apply_augment, crop_pair, sample_choice
from keras_sr.data.sources import DataSourceError, ImageTooSmall, classify_source, usable_images
from keras_sr.degradation import degrade
from keras_sr.fileio import atomic_path
from keras_sr.image_io import ImageError, list_images, load_image, save_image


__all__ = ["SRPatchDataset", "ImageSource", "HDF5Source", "PatchFolderSource", "open_source"]

logger = logging.getLogger("keras_sr.data")

DEFAULT_CACHE_LIMIT_MB = 2048


class ImageSource:
    """Whole HR images; `pair(i)` -> `(lr, hr)` uint8 with `hr = modcrop(hr, scale)`, LR cached."""

    kind = "images"

    def __init__(self, paths, scale, patch_size, skip_small=False, skip_unreadable=False, cache_images="auto",
                 cache_limit_mb=DEFAULT_CACHE_LIMIT_MB, lr_cache_dir=None):
        self.scale = self.factor = int(scale)
        self.channels = 3
        self.lr_cache_dir = lr_cache_dir
        need = max(int(patch_size or 1) * self.scale, self.scale)
        self.paths, total, small, unreadable = usable_images(
            paths, need, self.scale, patch_size, skip_small=skip_small, skip_unreadable=skip_unreadable,
            too_small=lambda name, width, height: (
                f"{name}: image is {width}x{height}, too small for {patch_size}x{patch_size} LR patches "
                f"at x{self.scale} (needs at least {need}x{need}); pass skip_small=True to skip it."))
        self.skipped_small, self.skipped_unreadable = len(small), len(unreadable)
        if not self.paths:
            raise ImageError(f"no usable training images ({len(small)} too small, {len(unreadable)} unreadable"
                             f"{', e.g. ' + (small + unreadable)[0] if small or unreadable else ''}).")
        budget = cache_limit_mb * 2**20
        self.cache_hr = bool(cache_images) if cache_images != "auto" else total * (1 + 1 / self.scale**2) <= budget
        self._hr, self._lr = {}, {}
        self._lock = threading.Lock()

    def __len__(self):
        return len(self.paths)

    def name(self, i):
        return self.paths[i]

    def _lr_cache_path(self, path):
        stat = os.stat(path)
        identity = f"{os.path.abspath(path)}\0{stat.st_size}\0{stat.st_mtime_ns}\0x{self.scale}\0matlab-bicubic-v1"
        key = hashlib.sha1(identity.encode()).hexdigest()
        return os.path.join(self.lr_cache_dir, f"{key}_x{self.scale}.png")

    def _make_lr(self, path, hr):
        if self.lr_cache_dir:
            cached = self._lr_cache_path(path)
            if os.path.isfile(cached):
                lr = load_image(cached)
                if lr.shape == (hr.shape[0] // self.scale, hr.shape[1] // self.scale, 3):
                    return lr
        lr = degrade(hr, self.scale, path)[1]
        if self.lr_cache_dir:
            with atomic_path(cached) as tmp:
                save_image(tmp, lr)
        return lr

    def pair(self, i):
        hr = self._hr.get(i)
        if hr is None:
            path = self.paths[i]
            hr = load_image(path)
            hr = hr[: hr.shape[0] - hr.shape[0] % self.scale, : hr.shape[1] - hr.shape[1] % self.scale]
            if self.cache_hr:
                with self._lock:
                    self._hr[i] = hr
        lr = self._lr.get(i)
        if lr is None:
            lr = self._make_lr(self.paths[i], hr)
            with self._lock:
                self._lr[i] = lr
        return lr, hr

    def preload(self):
        for i in range(len(self)):
            self.pair(i)

    def __getstate__(self):  # picklable for process workers (spawn)
        state = dict(self.__dict__)
        del state["_lock"]
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._lock = threading.Lock()


def _h5py():
    try:
        import h5py
    except ImportError as err:  # pragma: no cover - h5py is a dependency
        raise DataSourceError("HDF5 data needs h5py (pip install h5py).") from err
    return h5py


class HDF5Source:
    """Stored patch pairs in an HDF5 file: datasets `lr`, `hr` (N, h, w, C) uint8 (+ `scale`), or `x{s}/...`."""

    kind = "hdf5"

    def __init__(self, path, scale, cache_limit_mb=DEFAULT_CACHE_LIMIT_MB):
        self.path = os.fspath(path)
        h5py = _h5py()
        if not os.path.isfile(self.path) or os.path.getsize(self.path) == 0:
            raise DataSourceError(f"{self.path}: HDF5 file missing or empty.")
        scales = [int(scale)] if np.isscalar(scale) else [int(s) for s in scale]
        try:
            with h5py.File(self.path, "r") as f:
                if "lr" in f and "hr" in f:
                    self.group = ""
                    rows = np.arange(f["lr"].shape[0])
                    if "scale" in f:
                        stored = f["scale"][...]
                        rows = rows[np.isin(stored, scales)]
                        if rows.size == 0:
                            raise DataSourceError(f"{self.path}: no patches for x{scales} (stored scales: "
                                                  f"{sorted(set(stored.tolist()))}).")
                else:
                    groups = [g for g in (f"x{s}" for s in scales) if g in f]
                    if len(groups) != 1:
                        wanted = ", ".join(f"x{s}" for s in scales)
                        raise DataSourceError(f"{self.path}: no patches for {wanted} (expected datasets lr/hr or "
                                              f"one group x<scale>/; found {sorted(f.keys())}).")
                    self.group = groups[0] + "/"
                    rows = np.arange(f[self.group + "lr"].shape[0])
                lr_shape, hr_shape = f[self.group + "lr"].shape, f[self.group + "hr"].shape
                nbytes = f[self.group + "lr"].nbytes + f[self.group + "hr"].nbytes
        except OSError as err:
            raise DataSourceError(f"{self.path}: not a readable HDF5 file ({err}).") from err
        if len(lr_shape) != 4 or len(hr_shape) != 4 or lr_shape[0] != hr_shape[0]:
            raise DataSourceError(f"{self.path}: lr {lr_shape} and hr {hr_shape} must be (N, h, w, C) with equal N.")
        if hr_shape[1] % lr_shape[1] or hr_shape[1] // lr_shape[1] != hr_shape[2] // lr_shape[2]:
            raise DataSourceError(f"{self.path}: hr {hr_shape[1:3]} is not an integer multiple of lr {lr_shape[1:3]}.")
        self.rows = rows
        self.scale = scales[0]
        self.factor = hr_shape[1] // lr_shape[1]
        self.channels = lr_shape[3]
        self.lr_shape, self.hr_shape = lr_shape[1:], hr_shape[1:]
        self._in_memory = nbytes <= cache_limit_mb * 2**20
        self._arrays = None
        self._file = None
        self._pid = None

    def __len__(self):
        return len(self.rows)

    def name(self, i):
        return f"{self.path}[{self.rows[i]}]"

    def _open(self):
        if self._file is None or self._pid != os.getpid():  # h5py handles do not survive fork
            self._file = _h5py().File(self.path, "r")
            self._pid = os.getpid()
        return self._file

    def pair(self, i):
        row = int(self.rows[i])
        if self._in_memory:
            if self._arrays is None:
                f = self._open()
                self._arrays = (f[self.group + "lr"][...], f[self.group + "hr"][...])
            return self._arrays[0][row], self._arrays[1][row]
        f = self._open()
        return f[self.group + "lr"][row], f[self.group + "hr"][row]

    def preload(self):
        if self._in_memory:
            self.pair(0)

    def __getstate__(self):
        state = dict(self.__dict__)
        state["_file"] = None
        return state


def _load_patch(path):
    """A patch PNG: grayscale stays one channel `(h, w, 1)` (Y patches); everything else RGB by `load_image`."""
    from PIL import Image

    with Image.open(path) as image:
        mode = image.mode
    if mode == "L":
        with Image.open(path) as image:
            return np.asarray(image)[..., None]
    return load_image(path)


class PatchFolderSource:
    """Patch pairs written by `tools.data_aug`: `x{s}/lr/NAME.png` with `x{s}/hr/NAME.png` (or `lr/`, `hr/`)."""

    kind = "patch_pairs"

    def __init__(self, folder, scale, cache_limit_mb=DEFAULT_CACHE_LIMIT_MB):
        folder = os.fspath(folder)
        self.scale = int(scale)
        base = os.path.join(folder, f"x{self.scale}")
        if not os.path.isdir(base):
            if os.path.isdir(os.path.join(folder, "lr")):
                base = folder
            else:
                found = sorted(d for d in os.listdir(folder) if d.startswith("x"))
                raise DataSourceError(f"{folder}: no patches for x{self.scale} (found: {found}).")
        lr_dir, hr_dir = os.path.join(base, "lr"), os.path.join(base, "hr")
        lr_files = {os.path.relpath(p, lr_dir): p for p in list_images(lr_dir)}
        hr_files = {os.path.relpath(p, hr_dir): p for p in list_images(hr_dir)}
        missing = sorted(set(lr_files) ^ set(hr_files))
        if missing:
            raise DataSourceError(f"{base}: lr/ and hr/ do not match, e.g. {missing[0]} is only in one of them.")
        names = sorted(lr_files)
        self.pairs = [(lr_files[n], hr_files[n]) for n in names]
        lr, hr = _load_patch(self.pairs[0][0]), _load_patch(self.pairs[0][1])
        if hr.shape[0] % lr.shape[0]:
            raise DataSourceError(f"{self.pairs[0][1]}: HR {hr.shape[:2]} is not a multiple of LR {lr.shape[:2]}.")
        self.factor = hr.shape[0] // lr.shape[0]
        self.channels = lr.shape[-1]
        self.lr_shape, self.hr_shape = lr.shape, hr.shape
        self._cache = {} if (lr.nbytes + hr.nbytes) * len(names) <= cache_limit_mb * 2**20 else None

    def __len__(self):
        return len(self.pairs)

    def name(self, i):
        return self.pairs[i][1]

    def pair(self, i):
        if self._cache is not None and i in self._cache:
            return self._cache[i]
        lr_path, hr_path = self.pairs[i]
        lr, hr = _load_patch(lr_path), _load_patch(hr_path)
        if lr.shape[:2] != self.lr_shape[:2] or hr.shape[:2] != self.hr_shape[:2] or lr.shape[-1] != self.channels:
            raise ImageError(f"{lr_path}: patch shapes {lr.shape}/{hr.shape} differ from the first pair's "
                             f"{self.lr_shape}/{self.hr_shape}.")
        if self._cache is not None:
            self._cache[i] = (lr, hr)
        return lr, hr

    def preload(self):
        for i in range(len(self)):
            self.pair(i)


def open_source(paths, scale, patch_size=None, skip_small=False, skip_unreadable=False, cache_images="auto",
                cache_limit_mb=DEFAULT_CACHE_LIMIT_MB, lr_cache_dir=None):
    """The right source for image paths / folders, an HDF5 file, or a patch-pair folder."""
    entries = [os.fspath(paths)] if isinstance(paths, (str, os.PathLike)) else [os.fspath(p) for p in paths]
    if not entries:
        raise DataSourceError("no training data given (empty list of paths).")
    if len(entries) == 1:
        kind = classify_source(entries[0])
        if kind == "hdf5":
            return HDF5Source(entries[0], scale, cache_limit_mb)
        if kind == "patch_pairs":
            return PatchFolderSource(entries[0], scale, cache_limit_mb)
    images = []
    for entry in entries:
        if os.path.isdir(entry):
            images.extend(list_images(entry))
        else:
            images.append(entry)
    return ImageSource(images, scale, patch_size, skip_small, skip_unreadable, cache_images, cache_limit_mb,
                       lr_cache_dir)


class SRPatchDataset(keras.utils.PyDataset):
    """Random aligned `(lr, hr)` patch batches for `model.fit`, numpy only.

    Args:
        paths: image paths or folders, an HDF5 file, or a patch-pair folder.
        scale: integer scale (selects the LR images / stored patches).
        patch_size: LR patch side; None for stored patch pairs means whole patches.
        batch_size: patches per batch.
        steps_per_epoch: batches per epoch (default: one visit of every image
            or stored patch).
        augment: random flips and 90-degree rotations (the 8 symmetries).
        y_only: BT.601 Y channel only (`(..., 1)`); required for Y-only stored patches.
        seed: deterministic batches (batch `i` of epoch `e` from `(seed, e, i)`).
        workers, use_multiprocessing, max_queue_size: `keras.utils.PyDataset`'s.
        skip_small: skip (and log a count of) images smaller than
            `patch_size * scale` instead of raising `ImageError` naming the file.
        skip_unreadable: skip (and count) corrupt/empty files instead of raising.
        cache_images: keep decoded HR images in memory: True, False, "auto"
            (when they fit in `cache_limit_mb`). LR images are always cached.
        lr_cache_dir: also keep the LR images as PNG files here (keyed by path,
            size, mtime and scale), so later runs skip the bicubic downscaling.
        preload: decode everything at construction (default: with
            multiprocessing, so forked workers inherit the caches).
    """

    def __init__(self, paths, scale, patch_size, batch_size, steps_per_epoch=None, augment=True, y_only=False,
                 seed=None, workers=1, use_multiprocessing=False, max_queue_size=10, skip_small=False,
                 skip_unreadable=False, cache_images="auto", cache_limit_mb=DEFAULT_CACHE_LIMIT_MB, lr_cache_dir=None,
                 preload=None):
        super().__init__(workers=workers, use_multiprocessing=use_multiprocessing, max_queue_size=max_queue_size)
        self.scale = int(scale)
        self.batch_size = int(batch_size)
        self.augment = bool(augment)
        self.y_only = bool(y_only)
        self.seed = seed
        self.source = open_source(paths, scale, patch_size, skip_small, skip_unreadable, cache_images,
                                  cache_limit_mb, lr_cache_dir)
        self.factor = self.source.factor
        if patch_size is None:
            if self.source.kind == "images":
                raise ValueError("patch_size is required for whole-image sources.")
            patch_size = self.source.lr_shape[0]
            if self.source.lr_shape[0] != self.source.lr_shape[1]:
                raise ValueError(f"stored patches are {self.source.lr_shape[:2]}: give a square patch_size.")
        self.patch_size = int(patch_size)
        if self.source.kind != "images":
            h, w = self.source.lr_shape[:2]
            if self.patch_size > min(h, w):
                raise ImageTooSmall(f"{self.source.name(0)}: stored LR patches are {w}x{h}, smaller than the "
                                    f"requested {self.patch_size}x{self.patch_size} patch.")
        if self.source.channels == 1 and not self.y_only:
            raise ValueError(f"{self.source.name(0)}: the stored patches are Y only (single channel); "
                             "pass y_only=True.")
        self.channels = 1 if self.y_only else 3
        self.steps_per_epoch = int(steps_per_epoch or max(1, math.ceil(len(self.source) / self.batch_size)))
        self._epoch = 0
        self._order = self._permutation(0)
        if preload if preload is not None else use_multiprocessing:
            self.source.preload()

    # -- keras.utils.PyDataset

    def __len__(self):
        return self.steps_per_epoch

    def on_epoch_end(self):
        self._epoch += 1
        self._order = self._permutation(self._epoch)

    def __getitem__(self, index):
        if not 0 <= index < self.steps_per_epoch:
            raise IndexError(f"batch {index} out of range (steps_per_epoch={self.steps_per_epoch}).")
        p, f = self.patch_size, self.factor
        lr_batch = np.empty((self.batch_size, p, p, self.channels), np.float32)
        hr_batch = np.empty((self.batch_size, p * f, p * f, self.channels), np.float32)
        for b, (item, top, left, aug) in enumerate(self.batch_choices(index)):
            lr_batch[b], hr_batch[b] = self.patch_pair(item, top, left, aug)
        return lr_batch, hr_batch

    # -- sampling

    def _permutation(self, epoch):
        rng = np.random.default_rng(None if self.seed is None else [int(self.seed), epoch])
        return rng.permutation(len(self.source))

    def batch_choices(self, index):
        """`[(item, top, left, aug), ...]` for batch `index` of the current epoch."""
        rng = np.random.default_rng(None if self.seed is None else [int(self.seed), self._epoch, int(index), 1])
        n = len(self._order)
        choices = []
        for b in range(self.batch_size):
            item = int(self._order[(index * self.batch_size + b) % n])
            lr, _ = self.source.pair(item)
            top, left, aug = sample_choice(rng, lr.shape, self.patch_size, self.augment)
            choices.append((item, top, left, aug))
        return choices

    def patch_pair(self, item, top, left, aug):
        """The float32 `(lr, hr)` patch of source item `item` at LR `(top, left)` with augmentation `aug`."""
        lr, hr = self.source.pair(item)
        lr, hr = crop_pair(lr, hr, top, left, self.patch_size, self.factor)
        lr, hr = apply_augment(lr, aug), apply_augment(hr, aug)
        if self.y_only and lr.shape[-1] == 3:
            return rgb_to_y(lr)[..., None].astype(np.float32), rgb_to_y(hr)[..., None].astype(np.float32)
        return lr.astype(np.float32), hr.astype(np.float32)
