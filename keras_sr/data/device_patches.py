"""Device-resident training patches: the decoded images uploaded once, crops and flips drawn on the device.

The PyDataset loader (`keras_sr.data.py_dataset`) crops and augments in numpy
on the host and copies every batch to the accelerator (16 HR patches of
192x192x3 float32 are 7 MB per step); on a GPU that host work, not the
network, bounds `model.fit` (EDSR-baseline x4 on an H200: 133 steps/s with
the PyDataset loader, 245 with plain `fit` on in-memory arrays). When the
training images fit in device memory (T91 + BSD200, 291 images, are about
130 MB decoded), `DevicePatchBank` holds them on the device as two flat uint8
buffers (HR and the LR made once per image exactly as the PyDataset loader
makes it: modcrop + MATLAB bicubic, `ImageSource.pair`) plus tables of offsets
and sizes, and `sample(arrays, step)` draws a batch with `keras.ops` only:

* per sample `b` of step `t`, four integers come from a counter-based hash of
  `(seed, t, b, k)` (`hash_ints`, int32 arithmetic that wraps the same way on
  numpy, JAX, TensorFlow and PyTorch): the image (uniform over images), `top`
  in `[0, lr_h - p]`, `left` in `[0, lr_w - p]` and the augmentation code in
  `[0, 8)` (0 without `augment`), so batch `t` depends only on `(seed, t)`;
* the LR window at `(top, left)` and the HR window `scale` times larger at
  `(top*s, left*s)` are read with one gather each, through the tables of
  `keras_sr.data.patches.augment_index_table`, so the crop and the flip /
  rotation are the very rules of `keras_sr.data.patches` (`extract_patch_pair`)
  that every other loader follows: `choices(t)` gives the same draws in numpy
  and `tests/test_data_device_patches.py` checks the pixels against
  `extract_patch_pair` on the same images;
* `y_only` stores the BT.601 Y channel of the whole images as float32
  (`keras_sr.color.rgb_to_y` is per pixel, so Y of a crop is the crop of Y).

Difference from the PyDataset loader: it visits the images in a fresh
permutation every epoch, this draws the image of every sample uniformly (the
same distribution per sample, no epoch structure); the draws themselves differ.

`batches(seed)` is the training input `model.fit` takes: an endless generator
of on-device `(lr, hr)` float32 batches, each from one compiled call of
`sample` (`jax.jit` on JAX, `tf.function` on TensorFlow, eager on PyTorch),
with the buffers passed as arguments (never baked into the program as
constants). No numpy work, no host-to-device copy and no synchronization per
step. `choose_loader` (used by `keras_sr.training.data.make_train_data`)
picks this path when the images fit in `budget_mb` of device memory and says
why in one line.

Example:
    >>> bank = DevicePatchBank.from_paths(["T91/HR", "BSD200/HR"], scale=4, patch_size=48, batch_size=16)
    >>> lr, hr = next(bank.batches(seed=0))      # (16, 48, 48, 3), (16, 192, 192, 3) float32 on the device
    >>> model.fit(bank.batches(seed=0), steps_per_epoch=1000, epochs=10)
"""

import logging
import os

import numpy as np

from keras_sr.data.patches import NUM_AUGMENTATIONS, augment_index_table
from keras_sr.data.sources import usable_images
from keras_sr.image_io import probe_size
from keras_sr.image_io import list_images
from keras_sr.color import rgb_to_y

__all__ = ["DevicePatchBank", "hash_ints", "hash_ints_numpy", "device_memory_mb", "estimate_bank_mb",
           "choose_loader", "DEFAULT_BUDGET_FRACTION", "CPU_BUDGET_MB"]

logger = logging.getLogger("keras_sr.data")

DEFAULT_BUDGET_FRACTION = 0.25  # of the accelerator's memory the training images may take
CPU_BUDGET_MB = 2048  # without an accelerator: the PyDataset loader's default image cache
_MIX_1 = 0x7FEB352D
_MIX_2 = 0x846CA68B - (1 << 32)  # as int32
_LOW31 = 0x7FFFFFFF


# -- counter-based random integers (one definition, numpy and keras.ops) -----------------------------------------

def _mix_numpy(x):
    x = x.astype(np.int32)
    with np.errstate(over="ignore"):
        x = x ^ ((x >> 16) & 0xFFFF)
        x = (x * np.int32(_MIX_1)).astype(np.int32)
        x = x ^ ((x >> 15) & 0x1FFFF)
        x = (x * np.int32(_MIX_2)).astype(np.int32)
        x = x ^ ((x >> 16) & 0xFFFF)
    return x


def hash_ints_numpy(seed, step, sample, stream):
    """Non-negative int32 hash of `(seed, step, sample, stream)` (numpy twin of `hash_ints`)."""
    x = _mix_numpy(np.asarray(seed, np.int32) ^ np.int32(0x5BD1E995))
    x = _mix_numpy(x ^ np.asarray(step, np.int32))
    x = _mix_numpy(x ^ (np.asarray(sample, np.int32) * np.int32(4) + np.int32(stream)))
    return x & np.int32(_LOW31)


def _mix_ops(x):
    from keras import ops

    x = ops.bitwise_xor(x, ops.bitwise_and(ops.right_shift(x, 16), 0xFFFF))
    x = ops.multiply(x, ops.convert_to_tensor(_MIX_1, "int32"))
    x = ops.bitwise_xor(x, ops.bitwise_and(ops.right_shift(x, 15), 0x1FFFF))
    x = ops.multiply(x, ops.convert_to_tensor(_MIX_2, "int32"))
    return ops.bitwise_xor(x, ops.bitwise_and(ops.right_shift(x, 16), 0xFFFF))


def hash_ints(seed, step, sample, stream):
    """`hash_ints_numpy` with `keras.ops` (int32 tensors; `sample` may be a vector, the result has its shape)."""
    from keras import ops

    seed = ops.cast(ops.convert_to_tensor(seed), "int32")
    x = _mix_ops(ops.bitwise_xor(seed, ops.convert_to_tensor(0x5BD1E995, "int32")))
    x = _mix_ops(ops.bitwise_xor(x, ops.cast(ops.convert_to_tensor(step), "int32")))
    sample = ops.cast(ops.convert_to_tensor(sample), "int32")
    x = _mix_ops(ops.bitwise_xor(x, sample * 4 + int(stream)))
    return ops.bitwise_and(x, _LOW31)


# -- memory budget and the loader choice --------------------------------------------------------------------------

def device_memory_mb():
    """`(megabytes, name)` of the first accelerator of the current backend, or `(None, "CPU")` without one."""
    import keras

    backend = keras.backend.backend()
    try:
        if backend == "jax":
            import jax

            device = jax.devices()[0]
            if device.platform != "cpu":
                stats = device.memory_stats() or {}
                if stats.get("bytes_limit"):
                    return stats["bytes_limit"] / 2**20, device.device_kind
        elif backend == "torch":
            import torch

            if torch.cuda.is_available():
                props = torch.cuda.get_device_properties(0)
                return props.total_memory / 2**20, props.name
        elif backend == "tensorflow":
            import tensorflow as tf

            gpus = tf.config.list_physical_devices("GPU")
            if gpus:
                info = tf.config.experimental.get_memory_info("GPU:0")  # current use only; no total
                return None, f"GPU ({info.get('peak', 0) / 2**20:.0f} MB peak so far)"
    except Exception as err:  # noqa: BLE001 - a probe; the PyDataset path is always safe
        logger.warning("device memory probe failed (%s); assuming a CPU", err)
    return None, "CPU"


def estimate_bank_mb(paths, scale, patch_size, y_only=False):
    """Decoded size in MB of the usable images (HR + LR, header sizes only) and their count."""


    paths = [paths] if isinstance(paths, (str, os.PathLike)) else list(paths)
    paths = [p for e in paths for p in (list_images(e) if os.path.isdir(e) else [os.fspath(e)])]
    need = max(int(patch_size) * int(scale), int(scale))
    kept, _, _, _ = usable_images(paths, need, scale, patch_size, lambda *a: "", skip_small=True,
                                  skip_unreadable=True)
    per_value = 4 / 3 if y_only else 1.0  # float32 Y vs uint8 RGB
    total = 0.0
    for path in kept:
        h, w = probe_size(path)
        h, w = h - h % scale, w - w % scale
        total += h * w * 3 * per_value * (1 + 1 / scale**2)
    return total / 2**20, len(kept)


def choose_loader(split, recipe, requested="auto", budget_mb=None, patch_size=None):
    """`(loader, reason)`: "device" when the images fit in device memory, else the backend's host loader.

    `requested` "tfdata" / "pydataset" / "device" is kept (a reason says so);
    "auto" (or None) chooses: TensorFlow keeps tf.data (its own pipeline runs
    in the graph); on JAX and PyTorch image sources go on the device when their
    decoded size is at most `budget_mb` (default `DEFAULT_BUDGET_FRACTION` of
    the accelerator's memory, `CPU_BUDGET_MB` without one), else the PyDataset
    loader; HDF5, patch-pair and TFRecord sources keep their loaders.
    """
    import keras

    if requested not in (None, "auto"):
        return requested, f"--loader {requested} requested"
    backend = keras.backend.backend()
    if split.kind == "tfrecord":
        return "tfdata", "TFRecord shards are read by tf.data"
    if split.kind != "images":
        return "pydataset", f"{split.kind} sources are read by the PyDataset loader"
    if backend == "tensorflow":
        return "tfdata", "TensorFlow backend: tf.data runs in the graph"
    memory, name = device_memory_mb()
    if budget_mb is None:
        budget_mb = CPU_BUDGET_MB if memory is None else DEFAULT_BUDGET_FRACTION * memory
        where = f"{name}" if memory is None else f"{DEFAULT_BUDGET_FRACTION:.0%} of {name}'s {memory:,.0f} MB"
    else:
        where = f"{name}, budget given"
    size, count = estimate_bank_mb(split.train, recipe.scale, patch_size or recipe.patch_size, recipe.y_only)
    if size <= budget_mb:
        return "device", (f"{count} images, {size:,.0f} MB decoded, fit the {budget_mb:,.0f} MB budget ({where}): "
                          "uploaded once, crops and flips drawn in the compiled step")
    return "pydataset", (f"{count} images, {size:,.0f} MB decoded, exceed the {budget_mb:,.0f} MB device budget "
                         f"({where}): host loader")


# -- the bank ----------------------------------------------------------------------------------------------------

class DevicePatchBank:
    """Training images as flat device buffers, and the compiled draw of `(lr, hr)` patch batches.

    Args:
        pairs: `[(lr, hr), ...]` uint8 `(h, w, 3)` / `(h*s, w*s, 3)` (HR modcropped, LR its MATLAB bicubic).
        scale: the factor between LR and HR.
        patch_size: LR patch side (every image must be at least that large in LR).
        batch_size: patches per batch.
        augment: draw one of the 8 flips/rotations per patch (`keras_sr.data.patches`).
        y_only: BT.601 Y only, `(..., 1)`.
        names: image names for error messages.

    Example:
        >>> bank = DevicePatchBank.from_paths(["T91/HR"], scale=3, patch_size=17, batch_size=64, y_only=True)
        >>> arrays = bank.device_arrays()
        >>> lr, hr = bank.sample(arrays, step=0, seed=0)
    """

    def __init__(self, pairs, scale, patch_size, batch_size, augment=True, y_only=False, names=None):

        self.scale, self.patch_size, self.batch_size = int(scale), int(patch_size), int(batch_size)
        self.augment, self.y_only = bool(augment), bool(y_only)
        if not pairs:
            raise ValueError("DevicePatchBank: no training images.")
        names = list(names) if names is not None else [f"image {i}" for i in range(len(pairs))]
        p, s = self.patch_size, self.scale
        lr_parts, hr_parts, shapes = [], [], []
        for name, (lr, hr) in zip(names, pairs):
            if lr.ndim != 3 or lr.shape[-1] != 3 or hr.shape != (lr.shape[0] * s, lr.shape[1] * s, 3):
                raise ValueError(f"{name}: LR {lr.shape} and HR {hr.shape} are not an RGB pair at x{s}.")
            if min(lr.shape[:2]) < p:
                raise ValueError(f"{name}: LR image {lr.shape[1]}x{lr.shape[0]} is smaller than the {p}x{p} patch.")
            if self.y_only:
                lr, hr = rgb_to_y(lr)[..., None].astype(np.float32), rgb_to_y(hr)[..., None].astype(np.float32)
            lr_parts.append(np.ascontiguousarray(lr).reshape(-1))
            hr_parts.append(np.ascontiguousarray(hr).reshape(-1))
            shapes.append(lr.shape[:2])
        self.channels = 1 if self.y_only else 3
        self.count = len(shapes)
        sizes = np.array(shapes, np.int64)
        lr_off = np.concatenate([[0], np.cumsum([a.size for a in lr_parts])[:-1]])
        hr_off = np.concatenate([[0], np.cumsum([a.size for a in hr_parts])[:-1]])
        total = sum(a.size for a in hr_parts)
        if total >= 2**31:
            raise ValueError(f"DevicePatchBank: {total} HR values exceed int32 indexing; use the PyDataset loader.")
        self.lr_flat, self.hr_flat = np.concatenate(lr_parts), np.concatenate(hr_parts)
        self.tables = {"lr_h": sizes[:, 0].astype(np.int32), "lr_w": sizes[:, 1].astype(np.int32),
                       "lr_off": lr_off.astype(np.int32), "hr_off": hr_off.astype(np.int32)}
        self.nbytes = self.lr_flat.nbytes + self.hr_flat.nbytes
        self._compiled = None

    @classmethod
    def from_source(cls, source, patch_size, batch_size, augment=True, y_only=False):
        """From a `keras_sr.data.py_dataset.ImageSource` (its LR: modcrop + MATLAB bicubic, cached there)."""
        pairs = [source.pair(i) for i in range(len(source))]
        return cls(pairs, source.scale, patch_size, batch_size, augment, y_only,
                   names=[source.name(i) for i in range(len(source))])

    @classmethod
    def from_paths(cls, paths, scale, patch_size, batch_size, augment=True, y_only=False, skip_small=True,
                   lr_cache_dir=None):
        """From image paths / folders, small images skipped (logged) as by the PyDataset loader."""
        from keras_sr.data.py_dataset import ImageSource

        entries = [paths] if isinstance(paths, (str, os.PathLike)) else list(paths)
        images = [p for e in entries for p in (list_images(e) if os.path.isdir(e) else [os.fspath(e)])]
        source = ImageSource(images, scale, patch_size, skip_small=skip_small, cache_images=False,
                             lr_cache_dir=lr_cache_dir)
        return cls.from_source(source, patch_size, batch_size, augment, y_only)

    # -- draws ---------------------------------------------------------------------------------------------------

    def choices(self, step, seed):
        """`[(item, top, left, aug), ...]` of batch `step` (numpy; the draws `sample` makes on the device)."""
        b = np.arange(self.batch_size, dtype=np.int32)
        item = hash_ints_numpy(seed, step, b, 0) % self.count
        h = self.tables["lr_h"][item] - self.patch_size + 1
        w = self.tables["lr_w"][item] - self.patch_size + 1
        top = hash_ints_numpy(seed, step, b, 1) % h
        left = hash_ints_numpy(seed, step, b, 2) % w
        aug = hash_ints_numpy(seed, step, b, 3) % NUM_AUGMENTATIONS if self.augment else np.zeros_like(b)
        return [tuple(int(v) for v in row) for row in zip(item, top, left, aug)]

    def device_arrays(self):
        """The buffers and tables as backend tensors (on the default device), uploaded once."""
        from keras import ops

        p, s = self.patch_size, self.scale
        arrays = {"lr": self.lr_flat, "hr": self.hr_flat, **self.tables,
                  "lr_map": augment_index_table(p), "hr_map": augment_index_table(p * s)}
        return {k: ops.convert_to_tensor(v) for k, v in arrays.items()}

    def _gather(self, flat, index_map, offset, width, top, left):
        from keras import ops

        c = self.channels
        rows = index_map[..., 0] + top[:, None, None]
        cols = index_map[..., 1] + left[:, None, None]
        pixel = offset[:, None, None] + (rows * width[:, None, None] + cols) * c
        index = pixel[..., None] + ops.arange(c, dtype="int32")
        shape = ops.shape(index)
        return ops.cast(ops.reshape(ops.take(flat, ops.reshape(index, (-1,))), shape), "float32")

    def sample(self, arrays, step, seed):
        """Batch `step` as float32 `(lr, hr)`, `(B, p, p, C)` and `(B, p*s, p*s, C)`, with `keras.ops` only."""
        from keras import ops

        p, s = self.patch_size, self.scale
        b = ops.arange(self.batch_size, dtype="int32")
        item = ops.mod(hash_ints(seed, step, b, 0), self.count)
        lr_h, lr_w = ops.take(arrays["lr_h"], item), ops.take(arrays["lr_w"], item)
        top = ops.mod(hash_ints(seed, step, b, 1), lr_h - (p - 1))
        left = ops.mod(hash_ints(seed, step, b, 2), lr_w - (p - 1))
        if self.augment:
            aug = ops.mod(hash_ints(seed, step, b, 3), NUM_AUGMENTATIONS)
        else:
            aug = ops.zeros_like(b)
        lr_map = ops.take(arrays["lr_map"], aug, axis=0)
        hr_map = ops.take(arrays["hr_map"], aug, axis=0)
        lr = self._gather(arrays["lr"], lr_map, ops.take(arrays["lr_off"], item), lr_w, top, left)
        hr = self._gather(arrays["hr"], hr_map, ops.take(arrays["hr_off"], item), lr_w * s, top * s, left * s)
        return lr, hr

    def compiled_sample(self):
        """`fn(arrays, step, seed) -> (lr, hr)` compiled for the backend (buffers are arguments, not constants)."""
        if self._compiled is None:
            import keras

            backend = keras.backend.backend()
            if backend == "jax":
                import jax

                self._compiled = jax.jit(self.sample)
            elif backend == "tensorflow":
                import tensorflow as tf

                self._compiled = tf.function(self.sample, reduce_retracing=True)
            else:
                self._compiled = self.sample
        return self._compiled

    def batches(self, seed=0, first_step=0, arrays=None):
        """Endless generator of on-device `(lr, hr)` batches `first_step, first_step + 1, ...` for `model.fit`."""
        arrays = self.device_arrays() if arrays is None else arrays
        sample = self.compiled_sample()
        seed = np.int32(0 if seed is None else int(seed) % 2**31)
        step = int(first_step)
        while True:
            yield sample(arrays, np.int32(step % 2**31), seed)
            step += 1

    def describe(self):
        return (f"{self.count} images, {self.nbytes / 2**20:,.1f} MB on the device, x{self.scale}, "
                f"LR patch {self.patch_size}, batch {self.batch_size}, {'Y' if self.y_only else 'RGB'}")
