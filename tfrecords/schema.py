"""The keras-sr TFRecord schema (version 1) and its JSON manifest.

One `tf.train.Example` per HR image:

| key | type | meaning |
|---|---|---|
| `schema_version` | int64 | `SCHEMA_VERSION` (1) |
| `name` | bytes | the image's path relative to its source folder |
| `hr/png`, `hr/height`, `hr/width`, `hr/channels` | bytes, int64 x3 | the HR image, RGB uint8, as loaded by `keras_sr.image_io.load_image` (not modcropped) |
| `scales` | int64 list | the scales stored below |
| `lr/x{s}/png`, `lr/x{s}/height`, `lr/x{s}/width` | bytes, int64 x2 | LR = `imresize(modcrop(hr, s), 1/s)` on uint8 (the evaluation protocol's `degrade`) |
| `ref/count`, `ref/png`, `ref/name` | int64, bytes list, bytes list | optional reference images (reference-based SR); count 0 otherwise |

The LR of scale `s` covers `modcrop(hr, s)`: the top-left `(h*s, w*s)` of HR.
A crop chosen in LR coordinates therefore always has its HR window inside
the image. The manifest (`manifest.json` beside the shards) records the
format, schema version, degradation, scales, and every shard with its record
count and byte size; readers check it before reading.

This module imports TensorFlow only inside the functions that build or parse
examples.

Example:
    >>> raw = make_example("baby.png", hr, {4: imresize(modcrop(hr, 4), 1 / 4)})
    >>> record = parse_example(raw)           # dict of numpy arrays
    >>> manifest = read_manifest("shards/manifest.json")
"""

import io
import json
import os

import numpy as np

from keras_sr.fileio import atomic_write_text


__all__ = [
    "SCHEMA_VERSION",
    "FORMAT",
    "MANIFEST_NAME",
    "DEGRADATION",
    "SchemaError",
    "lr_key",
    "encode_png",
    "decode_png",
    "make_example",
    "build_example",
    "parse_example",
    "feature_spec",
    "read_manifest",
    "write_manifest",
    "shard_paths",
    "check_scale",
]

SCHEMA_VERSION = 1
FORMAT = "keras_sr.tfrecords"
MANIFEST_NAME = "manifest.json"
DEGRADATION = {
    "name": "bicubic",
    "implementation": "keras_sr.imresize.imresize (MATLAB imresize, antialiased, uint8)",
    "hr": "modcrop(hr, scale)",
}
PNG_COMPRESS_LEVEL = 3  # decode speed barely depends on it; level 3 writes ~3x faster than 6


class SchemaError(ValueError):
    """A manifest or record that does not follow this schema; the message names the file."""


def lr_key(scale, field="png"):
    """Feature key of the LR image of `scale`: `lr/x4/png`, `lr/x4/height`, ..."""
    return f"lr/x{int(scale)}/{field}"


def encode_png(image):
    """uint8 `(H, W, 3)` or `(H, W)` -> PNG bytes (Pillow)."""
    from PIL import Image

    image = np.asarray(image)
    if image.dtype != np.uint8:
        raise TypeError(f"encode_png expects uint8, got {image.dtype}.")
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG", compress_level=PNG_COMPRESS_LEVEL)
    return buffer.getvalue()


def decode_png(data):
    """PNG bytes -> uint8 array (Pillow), RGB stays `(H, W, 3)`."""
    from PIL import Image

    with Image.open(io.BytesIO(data)) as image:
        return np.asarray(image.convert("RGB") if image.mode not in ("RGB", "L") else image)


def make_example(name, hr, lrs, refs=()):
    """Serialized `tf.train.Example` of one HR image, its LR images `{scale: lr}` and optional refs.

    `refs` is a sequence of `(name, rgb_uint8)` reference images.
    """
    hr = np.asarray(hr)
    if hr.dtype != np.uint8 or hr.ndim != 3 or hr.shape[-1] != 3:
        raise SchemaError(f"{name}: HR must be RGB uint8 (H, W, 3), got {hr.dtype} {hr.shape}.")
    lr_parts = {}
    for s in sorted(int(s) for s in lrs):
        lr = np.asarray(lrs[s])
        expected = (hr.shape[0] // s, hr.shape[1] // s, 3)
        if lr.dtype != np.uint8 or lr.shape != expected:
            raise SchemaError(f"{name}: LR for x{s} must be uint8 {expected}, got {lr.dtype} {lr.shape}.")
        lr_parts[s] = (encode_png(lr), lr.shape[0], lr.shape[1])
    ref_parts = [(ref_name, encode_png(np.asarray(ref))) for ref_name, ref in refs]
    return build_example(name, encode_png(hr), hr.shape, lr_parts, ref_parts)


def build_example(name, hr_png, hr_shape, lr_parts, ref_parts=()):
    """Serialized example from already encoded parts.

    `lr_parts` maps scale -> `(png, height, width)`; `ref_parts` is a list of
    `(name, png)`. `make_example` is the array version.
    """
    import tensorflow as tf

    def int64(*values):
        return tf.train.Feature(int64_list=tf.train.Int64List(value=[int(v) for v in values]))

    def data(*values):
        return tf.train.Feature(bytes_list=tf.train.BytesList(value=list(values)))

    scales = sorted(int(s) for s in lr_parts)
    feature = {
        "schema_version": int64(SCHEMA_VERSION),
        "name": data(os.fspath(name).encode("utf-8")),
        "hr/png": data(hr_png),
        "hr/height": int64(hr_shape[0]),
        "hr/width": int64(hr_shape[1]),
        "hr/channels": int64(hr_shape[2] if len(hr_shape) > 2 else 1),
        "scales": int64(*scales),
        "ref/count": int64(len(ref_parts)),
        "ref/png": data(*[png for _, png in ref_parts]),
        "ref/name": data(*[os.fspath(n).encode("utf-8") for n, _ in ref_parts]),
    }
    for s in scales:
        png, height, width = lr_parts[s]
        feature[lr_key(s)] = data(png)
        feature[lr_key(s, "height")] = int64(height)
        feature[lr_key(s, "width")] = int64(width)
    return tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()


def feature_spec(scale, with_hr=True, with_refs=False):
    """`tf.io.parse_single_example` spec for training/validation reads at `scale`."""
    import tensorflow as tf

    spec = {
        "schema_version": tf.io.FixedLenFeature([], tf.int64),
        "name": tf.io.FixedLenFeature([], tf.string),
        "hr/height": tf.io.FixedLenFeature([], tf.int64),
        "hr/width": tf.io.FixedLenFeature([], tf.int64),
        lr_key(scale): tf.io.FixedLenFeature([], tf.string),
        lr_key(scale, "height"): tf.io.FixedLenFeature([], tf.int64),
        lr_key(scale, "width"): tf.io.FixedLenFeature([], tf.int64),
    }
    if with_hr:
        spec["hr/png"] = tf.io.FixedLenFeature([], tf.string)
    if with_refs:
        spec["ref/png"] = tf.io.VarLenFeature(tf.string)
        spec["ref/name"] = tf.io.VarLenFeature(tf.string)
    return spec


def parse_example(raw, where="<record>"):
    """Eager, numpy parse of one serialized example into a dict (all scales, refs decoded)."""
    import tensorflow as tf

    try:
        example = tf.train.Example.FromString(bytes(raw))
    except Exception as err:  # protobuf's DecodeError
        raise SchemaError(f"{where}: not a tf.train.Example ({err}).") from err
    f = example.features.feature

    def one_int(key):
        if key not in f:
            raise SchemaError(f"{where}: missing feature {key!r}.")
        return int(f[key].int64_list.value[0])

    version = one_int("schema_version")
    if version > SCHEMA_VERSION:
        raise SchemaError(f"{where}: schema version {version} is newer than this reader's {SCHEMA_VERSION}.")
    record = {
        "schema_version": version,
        "name": f["name"].bytes_list.value[0].decode("utf-8"),
        "hr": decode_png(f["hr/png"].bytes_list.value[0]),
        "scales": [int(s) for s in f["scales"].int64_list.value],
        "lr": {},
        "refs": [],
    }
    for s in record["scales"]:
        record["lr"][s] = decode_png(f[lr_key(s)].bytes_list.value[0])
    names = [n.decode("utf-8") for n in f["ref/name"].bytes_list.value] if "ref/name" in f else []
    pngs = list(f["ref/png"].bytes_list.value) if "ref/png" in f else []
    record["refs"] = [(n, decode_png(p)) for n, p in zip(names, pngs)]
    return record


def read_manifest(path):
    """Load and check a manifest (a `.json` file or the folder holding `manifest.json`)."""
    path = os.fspath(path)
    if os.path.isdir(path):
        path = os.path.join(path, MANIFEST_NAME)
    if not os.path.isfile(path):
        raise SchemaError(f"{path}: manifest not found (write shards with `python -m tools.make_tfrecords`).")
    try:
        with open(path, encoding="utf-8") as f:
            manifest = json.load(f)
    except (OSError, json.JSONDecodeError) as err:
        raise SchemaError(f"{path}: unreadable manifest ({err}).") from err
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        found = manifest.get("format") if isinstance(manifest, dict) else None
        raise SchemaError(f"{path}: not a keras-sr TFRecord manifest (format {found!r}).")
    version = manifest.get("schema_version")
    if not isinstance(version, int) or version > SCHEMA_VERSION:
        raise SchemaError(
            f"{path}: schema version {version!r} is not supported (this reader knows 1..{SCHEMA_VERSION}).")
    manifest["_path"] = os.path.abspath(path)
    return manifest


def write_manifest(path, manifest):
    """Write a manifest atomically (without private `_` keys)."""
    clean = {k: v for k, v in manifest.items() if not k.startswith("_")}
    atomic_write_text(path, json.dumps(clean, indent=2, sort_keys=True) + "\n")


def shard_paths(manifest):
    """Absolute shard paths of a manifest, with their record counts: `[(path, records), ...]`."""
    folder = os.path.dirname(manifest["_path"])
    return [(os.path.join(folder, s["path"]), int(s["records"])) for s in manifest["shards"]]


def check_scale(manifest, scale):
    """Raise `SchemaError` naming the manifest when `scale` is not stored in it."""
    scales = [int(s) for s in manifest.get("scales", [])]
    if int(scale) not in scales:
        raise SchemaError(
            f"{manifest.get('_path', '<manifest>')}: no LR images for x{int(scale)} in these shards "
            f"(stored scales: {scales}); re-run `python -m tools.make_tfrecords --scale ... {int(scale)}`.")
