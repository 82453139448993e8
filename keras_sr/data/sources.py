"""Where training and validation images come from: `resolve_data` and `load_validation_pairs`.

`--data` (and `resolve_data(data)`) accepts, alone or several together:

* nothing (`None`): the embedded default, natural photographs bundled inside
  the scikit-image wheel (`skimage.data`), split deterministically into
  training images and the held-out validation images `chelsea` and `coffee`.
  A fresh machine can run every recipe with no download.
* image folders (PNG, JPEG, BMP, ...; recursive, sorted), one or several;
* a TFRecord manifest (`manifest.json` from `tools.make_tfrecords`), the folder
  holding it, or a shard pattern (`shards/train-*.tfrecord`);
* an HDF5 file or a patch-pair folder written by `tools.data_aug`;
* `tfds:NAME` (e.g. `tfds:div2k/bicubic_x4`) with the optional
  `tensorflow-datasets` extra: its HR images are written once as PNG files
  into a cache folder and then used as an image folder. Offline or without
  the extra this fails with a message saying so.

Validation images are whole images, degraded by the evaluation protocol
(`keras_sr.degradation.degrade`: modcrop + MATLAB bicubic).

Example:
    >>> split = resolve_data()                      # skimage photos
    >>> split.kind, len(split.train), [os.path.basename(p) for p in split.val]
    ('images', 8, ['chelsea.png', 'coffee.png'])
    >>> pairs = load_validation_pairs(split.val, scale=4)   # [(lr, hr), ...] uint8
"""

import dataclasses
import glob
import json
import logging
import os

from keras_sr.degradation import degrade
from keras_sr.fileio import atomic_write_text
from keras_sr.image_io import (IMAGE_EXTENSIONS, ImageError, check_min_size, list_images, load_image, probe_size,
                               save_image)
from keras_sr.tfrecords.schema import MANIFEST_NAME


__all__ = [
    "DEFAULT_TRAIN_IMAGES",
    "DEFAULT_VAL_IMAGES",
    "DataSourceError",
    "ImageTooSmall",
    "usable_images",
    "DataSplit",
    "default_images",
    "classify_source",
    "resolve_data",
    "load_validation_pairs",
]

logger = logging.getLogger("keras_sr.data")

# Natural photographs shipped inside the scikit-image wheel (skimage/data/), by name.
# Not used: microscopy, astronomy, medical and synthetic images, logos and text.
DEFAULT_TRAIN_IMAGES = {
    "astronaut": "astronaut.png",
    "brick": "brick.png",
    "camera": "camera.png",
    "grass": "grass.png",
    "gravel": "gravel.png",
    "motorcycle_left": "motorcycle_left.png",
    "motorcycle_right": "motorcycle_right.png",
    "rocket": "rocket.jpg",
}
DEFAULT_VAL_IMAGES = {"chelsea": "chelsea.png", "coffee": "coffee.png"}

H5_EXTENSIONS = (".h5", ".hdf5")
TFRECORD_EXTENSIONS = (".tfrecord", ".tfrecords")
PATCH_PAIRS_MANIFEST = "patch_pairs.json"


class DataSourceError(ValueError):
    """A `--data` entry that cannot be used; the message names it and says why."""


class ImageTooSmall(ImageError):
    """An image smaller than a loader needs (patch, scale); loaders may skip these under a flag."""


def usable_images(images, need, scale, patch_size, too_small, skip_small=False, skip_unreadable=False):
    """The training images at least `need` x `need` pixels, sizes read from the file headers (no decoding).

    Args:
        images: image paths, or in-memory `(H, W, C)` arrays (named "image <index>").
        need: the smallest height and width a loader can crop from (its HR patch).
        scale, patch_size: for the log line about skipped images.
        too_small: `(name, width, height) -> str`, the `ImageTooSmall` message for the first small
            image when `skip_small` is False.
        skip_small: leave small images out (counted and logged) instead of raising.
        skip_unreadable: leave images whose header cannot be read out instead of raising `ImageError`.

    Returns:
        `(kept, pixels, small, unreadable)`: the usable images in order, their total number of RGB
        values (`sum(H * W * 3)`, for cache budgets), and the names of the images left out.

    Example:
        >>> kept, _, small, _ = usable_images(paths, 96, 4, 24, lambda n, w, h: f"{n}: {w}x{h}", skip_small=True)
    """
    kept, small, unreadable, pixels = [], [], [], 0
    for index, image in enumerate(images):
        in_memory = hasattr(image, "shape")
        name = f"image {index}" if in_memory else image
        try:
            height, width = image.shape[:2] if in_memory else probe_size(image)
        except ImageError:
            if not skip_unreadable:
                raise
            unreadable.append(name)
            continue
        if height < need or width < need:
            if not skip_small:
                raise ImageTooSmall(too_small(name, width, height))
            small.append(name)
            continue
        kept.append(image)
        pixels += height * width * 3
    if small:
        logger.warning("skipped %d image(s) smaller than %dx%d pixels (x%d, %d-pixel LR patches), e.g. %s",
                       len(small), need, need, scale, patch_size, small[0])
    if unreadable:
        logger.warning("skipped %d unreadable image(s), e.g. %s", len(unreadable), unreadable[0])
    return kept, pixels, small, unreadable


@dataclasses.dataclass
class DataSplit:
    """Resolved training / validation data.

    Attributes:
        train: image paths (kind `images`); the manifest path or shard pattern,
            or a list of them (kind `tfrecord`); the HDF5 file (kind `hdf5`);
            the patch-pair folder (kind `patch_pairs`).
        val: whole validation images (paths), or a TFRecord manifest path; may
            be empty when nothing was held out or given.
        kind: `images`, `tfrecord`, `hdf5` or `patch_pairs`.
        description: one line for logs.
    """

    train: object
    val: object
    kind: str
    description: str = ""

    @property
    def is_tfrecord(self):
        return self.kind == "tfrecord"


def default_images():
    """`(train_paths, val_paths)` of the embedded scikit-image photographs."""
    try:
        import skimage.data
    except ImportError as err:  # pragma: no cover - scikit-image is a dependency
        raise DataSourceError("the default data needs scikit-image (pip install scikit-image).") from err
    folder = skimage.data.data_dir

    def paths(table):
        found = [os.path.join(folder, f) for f in table.values() if os.path.isfile(os.path.join(folder, f))]
        if not found:
            raise DataSourceError(f"{folder}: none of the bundled sample images {sorted(table)} were found.")
        return found

    return paths(DEFAULT_TRAIN_IMAGES), paths(DEFAULT_VAL_IMAGES)


def _is_pattern(entry):
    return any(c in entry for c in "*?[")


def _find_manifest(entry):
    """The manifest path if `entry` is a TFRecord manifest or a folder holding one, else None."""
    if entry.endswith(".json") and os.path.isfile(entry):
        return entry
    candidate = os.path.join(entry, MANIFEST_NAME)
    return candidate if os.path.isdir(entry) and os.path.isfile(candidate) else None


def _is_patch_pair_folder(entry):
    if not os.path.isdir(entry):
        return False
    if os.path.isfile(os.path.join(entry, PATCH_PAIRS_MANIFEST)):
        return True
    if os.path.isdir(os.path.join(entry, "lr")) and os.path.isdir(os.path.join(entry, "hr")):
        return True
    return any(os.path.isdir(os.path.join(d, "lr")) and os.path.isdir(os.path.join(d, "hr"))
               for d in glob.glob(os.path.join(entry, "x[0-9]*")))


def classify_source(entry):
    """Kind of one `--data` entry: `tfds`, `tfrecord`, `hdf5`, `patch_pairs`, `images` or `image_file`."""
    entry = os.fspath(entry)
    if entry.startswith("tfds:"):
        return "tfds"
    if _is_pattern(entry) or entry.lower().endswith(TFRECORD_EXTENSIONS):
        return "tfrecord"
    if not os.path.exists(entry):
        raise DataSourceError(f"{entry}: no such file or folder.")
    if _find_manifest(entry):
        return "tfrecord"
    if entry.lower().endswith(H5_EXTENSIONS):
        return "hdf5"
    if _is_patch_pair_folder(entry):
        return "patch_pairs"
    if os.path.isdir(entry):
        return "images"
    if entry.lower().endswith(IMAGE_EXTENSIONS):
        return "image_file"
    raise DataSourceError(f"{entry}: not an image folder, image, TFRecord manifest/shard, HDF5 file or tfds: name.")


def _holdout(paths, val_split):
    """Deterministic, evenly spread held-out subset; `(train, val)`."""
    n = len(paths)
    if val_split in (None, 0, "none"):
        return list(paths), []
    if val_split == "auto":
        count = 0 if n < 20 else max(1, min(10, round(0.05 * n)))
    elif isinstance(val_split, float) and 0 < val_split < 1:
        count = max(1, round(val_split * n))
    else:
        count = int(val_split)
    if count <= 0:
        return list(paths), []
    if count >= n:
        raise DataSourceError(f"cannot hold out {count} validation images from {n}.")
    picks = sorted({min(n - 1, int((i + 0.5) * n / count)) for i in range(count)})
    val = [paths[i] for i in picks]
    chosen = set(picks)
    return [p for i, p in enumerate(paths) if i not in chosen], val


def _image_paths(entries):
    paths = []
    for entry in entries:
        if os.path.isdir(entry):
            paths.extend(list_images(entry))
        else:
            paths.append(entry)
    return paths


def _tfds_images(name, cache_dir=None):
    """Write the HR images of `tfds:NAME` (train / validation) as PNG files once; `(train, val)` paths."""
    try:
        import tensorflow_datasets as tfds
    except ImportError as err:
        raise DataSourceError(
            f"tfds:{name}: needs tensorflow-datasets (pip install 'keras-sr[tfds]'), which is not installed.") from err

    root = os.path.join(cache_dir or os.path.join(os.path.expanduser("~"), ".keras", "keras_sr", "tfds"),
                        name.replace("/", "_"))
    done = os.path.join(root, "done.json")
    if os.path.isfile(done):
        with open(done, encoding="utf-8") as f:
            listing = json.load(f)
        return ([os.path.join(root, p) for p in listing["train"]], [os.path.join(root, p) for p in listing["val"]])
    try:
        builder = tfds.builder(name)
        builder.download_and_prepare()
    except Exception as err:  # tfds raises many types when the network is missing
        raise DataSourceError(
            f"tfds:{name}: could not be downloaded or prepared ({type(err).__name__}: {err}). Offline? "
            "Use an image folder or TFRecord shards instead.") from err
    listing = {}
    for split, key in (("train", "train"), ("validation", "val")):
        if split not in builder.info.splits:
            listing[key] = []
            continue
        names = []
        for i, example in enumerate(tfds.as_numpy(builder.as_dataset(split=split))):
            image = example["hr"] if "hr" in example else example["image"]
            rel = os.path.join(key, f"{i:05d}.png")
            save_image(os.path.join(root, rel), image)
            names.append(rel)
        listing[key] = names
    atomic_write_text(done, json.dumps(listing))
    return ([os.path.join(root, p) for p in listing["train"]], [os.path.join(root, p) for p in listing["val"]])


def _resolve_val(val_data):
    entries = [val_data] if isinstance(val_data, (str, os.PathLike)) else list(val_data)
    entries = [os.fspath(e) for e in entries]
    kinds = {classify_source(e) for e in entries}
    if kinds == {"tfrecord"} and len(entries) == 1:
        return entries[0]
    if not kinds <= {"images", "image_file"}:
        raise DataSourceError(f"validation data must be image folders/files or one TFRecord manifest, got {entries}.")
    return _image_paths(entries)


def resolve_data(data=None, val_data=None, val_split="auto", tfds_cache_dir=None):
    """Resolve `--data` into a `DataSplit` of training and validation data.

    Args:
        data: None (the embedded scikit-image photographs), or a path / list of
            paths / patterns / `tfds:` names (see the module docstring).
        val_data: validation image folders/files or a TFRecord manifest; when
            None, the default split's held-out images, tfds' validation split,
            or (image folders) a held-out subset by `val_split`.
        val_split: for image folders without `val_data`: "auto" (5 %, at most
            10 images, none when fewer than 20 images), a fraction, a count, or
            0/None for no held-out images.
        tfds_cache_dir: where `tfds:` images are written (default
            `~/.keras/keras_sr/tfds`).

    Returns:
        `DataSplit(train, val, kind, description)`.
    """
    if data is None or (not isinstance(data, (str, os.PathLike)) and len(data) == 0):
        train, val = default_images()
        description = f"embedded scikit-image photographs ({len(train)} train, {len(val)} val)"
        split = DataSplit(train, val, "images", description)
        if val_data is not None:
            split.val = _resolve_val(val_data)
        return split
    entries = [os.fspath(data)] if isinstance(data, (str, os.PathLike)) else [os.fspath(d) for d in data]
    kinds = [classify_source(e) for e in entries]
    kind_set = set(kinds)
    val = None
    if kind_set == {"tfds"}:
        if len(entries) != 1:
            raise DataSourceError(f"give one tfds: name at a time, got {entries}.")
        train, val = _tfds_images(entries[0][len("tfds:"):], tfds_cache_dir)
        split = DataSplit(train, val, "images", f"{entries[0]} ({len(train)} train, {len(val)} val)")
    elif kind_set <= {"images", "image_file"}:
        paths = _image_paths(entries)
        if val_data is None:
            train, val = _holdout(paths, val_split)
        else:
            train = paths
        split = DataSplit(train, val or [], "images", f"{len(train)} training images from {', '.join(entries)}")
    elif kind_set == {"tfrecord"}:
        train = entries[0] if len(entries) == 1 else entries
        split = DataSplit(train, [], "tfrecord", f"TFRecord shards: {', '.join(entries)}")
    elif kind_set == {"hdf5"} and len(entries) == 1:
        split = DataSplit(entries[0], [], "hdf5", f"HDF5 patches: {entries[0]}")
    elif kind_set == {"patch_pairs"} and len(entries) == 1:
        split = DataSplit(entries[0], [], "patch_pairs", f"patch-pair folder: {entries[0]}")
    else:
        raise DataSourceError(
            "--data mixes kinds that cannot be combined: "
            + ", ".join(f"{e} ({k})" for e, k in zip(entries, kinds))
            + ". Image folders may be combined; TFRecord, HDF5, patch-pair and tfds sources stand alone.")
    if val_data is not None:
        split.val = _resolve_val(val_data)
    elif val is not None:
        split.val = val
    if split.kind == "images" and not split.train:
        raise DataSourceError(f"no training images left in {entries} after holding out validation images.")
    return split


def _is_tfrecord_val(paths):
    if not isinstance(paths, (str, os.PathLike)):
        return False
    entry = os.fspath(paths)
    return _is_pattern(entry) or entry.lower().endswith(TFRECORD_EXTENSIONS) or _find_manifest(entry) is not None


def load_validation_pairs(paths, scale, max_images=None, min_size=None, skip_small=False):
    """Whole validation images as `[(lr_uint8, hr_uint8), ...]` by `keras_sr.degradation.degrade`.

    Args:
        paths: image paths, an image folder, or a TFRecord manifest / shard
            pattern (read with `keras_sr.tfrecords.reader`, needs TensorFlow).
        scale: integer scale; HR is modcropped to a multiple of it.
        max_images: keep only the first N images.
        min_size: smallest accepted HR side (default `scale`); smaller images
            raise `ImageError` naming the file, or are skipped (and counted in
            a log line) with `skip_small=True`.
    """
    scale = int(scale)
    if _is_tfrecord_val(paths):
        from keras_sr.tfrecords.reader import iter_validation_pairs

        pairs = []
        for lr, hr in iter_validation_pairs(os.fspath(paths), scale):
            pairs.append((lr, hr))
            if max_images and len(pairs) >= max_images:
                break
        return pairs
    if isinstance(paths, (str, os.PathLike)):
        paths = list_images(paths) if os.path.isdir(paths) else [os.fspath(paths)]
    pairs, skipped = [], 0
    for path in paths:
        hr = load_image(path)
        try:
            check_min_size(hr, max(scale, min_size or scale), path, f"validation at x{scale}")
        except ImageError:
            if not skip_small:
                raise
            skipped += 1
            continue
        hr, lr = degrade(hr, scale, path)
        pairs.append((lr, hr))
        if max_images and len(pairs) >= max_images:
            break
    if skipped:
        logger.warning("skipped %d validation image(s) smaller than %d pixels", skipped, max(scale, min_size or scale))
    return pairs
