"""The engine's input choice: tf.data on TensorFlow, the PyDataset loader on JAX and PyTorch.

This module only picks and configures the loaders of `keras_sr.data` and
`keras_sr.tfrecords` (it loads no images itself):

* TensorFlow backend: `keras_sr.tfrecords.reader.make_dataset`. TFRecord
  sources are read directly; image folders / files are first written once
  into TFRecord shards by `keras_sr.tfrecords.writer.write_shards` in a cache
  folder keyed by the file list (re-runs are no-ops), then read.
* JAX / PyTorch backends (or `loader="pydataset"`): `keras_sr.data.py_dataset.SRPatchDataset`
  (also for HDF5 files and patch-pair folders on every backend). TFRecord
  shards are always read by tf.data (Keras feeds its batches to any backend).
* `loader="device"`: `keras_sr.data.device_patches.DevicePatchBank`, the
  decoded images uploaded once and the crops/flips drawn in a compiled call
  (no host work per step); `loader="auto"` (what `engine.train` asks for)
  takes it on JAX / PyTorch when the images fit in device memory
  (`device_patches.choose_loader`) and logs which path runs and why.

Example:
    >>> split = resolve_data(None)
    >>> train = make_train_data(split, recipe, seed=0, steps_per_epoch=100)
    >>> model.fit(train, steps_per_epoch=100)
"""

import hashlib
import os

import keras
from keras_sr.data.device_patches import choose_loader, DevicePatchBank
from keras_sr.data.py_dataset import SRPatchDataset
from keras_sr.tfrecords.writer import write_shards

__all__ = ["cache_root", "default_loader", "make_train_data", "shard_images", "corrupt_record_counter"]


def cache_root():
    """Where derived data (TFRecord shards of image folders) is cached: `$KERAS_SR_CACHE` or `~/.keras/keras_sr`."""
    return os.environ.get("KERAS_SR_CACHE") or os.path.join(os.path.expanduser("~"), ".keras", "keras_sr")


def default_loader():
    return "tfdata" if keras.backend.backend() == "tensorflow" else "pydataset"


def shard_images(paths, scale, log=None):
    """TFRecord shards of image files (written once per file list and scale); returns the shard folder."""

    paths = sorted(os.path.abspath(p) for p in paths)
    key = hashlib.sha1("\n".join(paths).encode("utf-8")).hexdigest()[:16]
    out = os.path.join(cache_root(), "shards", f"{key}_x{int(scale)}")
    if log:
        log(f"TFRecord shards of {len(paths)} training images: {out}")
    write_shards(paths, out, scales=[int(scale)], skip_small=True)
    return out


def corrupt_record_counter(recipe, split):
    """A `ReaderStats` counting the records `--skip-corrupt` skips (None without the flag or TFRecord input)."""
    if not getattr(recipe, "skip_corrupt", False) or split is None or split.kind not in ("tfrecord", "images"):
        return None
    from keras_sr.tfrecords.reader import ReaderStats

    return ReaderStats()


def _workers(requested):
    if requested:
        return int(requested)
    return max(1, min(8, os.cpu_count() or 1))


def make_train_data(split, recipe, seed=None, steps_per_epoch=None, loader=None, log=None, patch_size=None,
                    batch_size=None, stats=None):
    """Training batches `(lr, hr)` float32 for `model.fit` from a resolved `DataSplit`.

    With the recipe's `skip_corrupt`, corrupt TFRecord records are skipped and
    counted in `stats` (a `corrupt_record_counter()`) instead of stopping the run.
    """
    patch_size = int(patch_size or recipe.patch_size)
    batch_size = int(batch_size or recipe.batch_size)
    if loader == "auto":
        loader, reason = choose_loader(split, recipe, "auto", patch_size=patch_size)
        if log:
            log(f"training data path: {loader} ({reason})")
    loader = loader or default_loader()
    if split.kind == "tfrecord":
        loader = "tfdata"  # shards are read by tf.data whatever the backend (Keras converts the batches)
    elif split.kind != "images":
        loader = "pydataset"  # HDF5 / patch-pair folders
    if loader == "tfdata":
        from keras_sr.tfrecords.reader import make_dataset

        source = split.train if split.kind == "tfrecord" else shard_images(split.train, recipe.scale, log)
        return make_dataset(source, recipe.scale, patch_size, batch_size, augment=recipe.augment,
                            y_only=recipe.y_only, seed=seed, skip_small=True,
                            skip_corrupt=bool(getattr(recipe, "skip_corrupt", False)), stats=stats)
    if loader == "device":
        bank = DevicePatchBank.from_paths(split.train, recipe.scale, patch_size, batch_size, augment=recipe.augment,
                                          y_only=recipe.y_only)
        if log:
            log(f"device-resident patches: {bank.describe()}")
        return bank.batches(seed=seed)
    if loader != "pydataset":
        raise ValueError(f"Unknown loader {loader!r}; choose from tfdata, pydataset, device, auto.")

    workers = _workers(recipe.workers)
    return SRPatchDataset(split.train, recipe.scale, patch_size, batch_size, steps_per_epoch=steps_per_epoch,
                          augment=recipe.augment, y_only=recipe.y_only, seed=seed, workers=workers, skip_small=True)
