"""Write HR image folders into keras-sr TFRecord shards with a JSON manifest.

Each record holds the HR image (PNG), its LR image for every requested scale
made by the evaluation protocol (`keras_sr.degradation.degrade`: modcrop +
MATLAB bicubic `imresize` on uint8), the name and shape, and optional
reference images (see `keras_sr.tfrecords.schema`). Shards roll over at
`shard_mb` megabytes. Writing is atomic: every shard is written to a
temporary file and renamed, and `manifest.json` is written last, so a killed
run leaves either the old complete set or files that the next run replaces.
Re-running with the same inputs and settings is a no-op (the manifest keeps a
fingerprint of file names, sizes and modification times); with different
inputs the shards are rewritten and stale ones removed.

Command line (`python -m tools.make_tfrecords`, or `keras-sr make-tfrecords`):

    python -m tools.make_tfrecords --hr T91/HR BSD200/HR --scale 2 3 4 --out shards/291 --shard-mb 100

Example:
    >>> manifest = write_shards(["T91/HR"], "shards/t91", scales=[2, 3, 4])
    >>> manifest["num_records"], [s["path"] for s in manifest["shards"]][:1]
    (91, ['train-00000.tfrecord'])
"""

import collections
import concurrent.futures
import glob
import hashlib
import json
import logging
import multiprocessing
import os
import sys

from keras_sr.data.sources import ImageTooSmall
from keras_sr.degradation import degrade
from keras_sr.fileio import atomic_path
from keras_sr.image_io import IMAGE_EXTENSIONS, ImageError, check_min_size, dataset_name, list_images, load_image
from keras_sr.tfrecords import schema


__all__ = ["collect_images", "write_shards", "add_arguments", "run", "main"]

logger = logging.getLogger("keras_sr.tfrecords")

RECORD_OVERHEAD = 16  # TFRecord framing bytes per record (length, two CRCs)


def collect_images(inputs):
    """`[(name, path), ...]` for image folders/files; names are unique, relative, with `/`.

    With several folders, names are prefixed with each folder's dataset name
    (`T91/HR/x.png` -> `T91/x.png`, as `keras_sr.image_io.dataset_name`).
    """
    inputs = [os.fspath(i) for i in ([inputs] if isinstance(inputs, (str, os.PathLike)) else inputs)]
    if not inputs:
        raise ImageError("no HR inputs given.")
    folders = [e for e in inputs if os.path.isdir(e)]
    files = [e for e in inputs if not os.path.isdir(e)]
    for entry in files:
        if not os.path.isfile(entry):
            raise ImageError(f"{entry}: folder or file not found.")
    items = []
    for entry in folders:
        prefix = dataset_name(entry) + "/" if len(folders) > 1 else ""
        for path in list_images(entry):
            items.append((prefix + os.path.relpath(path, entry).replace(os.sep, "/"), path))
    if files:  # names relative to the files' common folder
        root = os.path.commonpath([os.path.dirname(os.path.abspath(f)) for f in files])
        items += [(os.path.relpath(os.path.abspath(f), root).replace(os.sep, "/"), f) for f in files]
    seen = {}
    for name, path in items:
        if name in seen:
            raise ImageError(f"{path}: the name {name!r} is also used by {seen[name]}; rename one.")
        seen[name] = path
    return items


def _refs_for(path, ref_dir):
    """Reference images for HR `path`: files in `ref_dir` named `<stem>.*` or `<stem>_*.*`, sorted."""
    if not ref_dir:
        return []
    stem = os.path.splitext(os.path.basename(path))[0]
    found = glob.glob(os.path.join(glob.escape(ref_dir), glob.escape(stem) + ".*"))
    found += glob.glob(os.path.join(glob.escape(ref_dir), glob.escape(stem) + "_*.*"))
    own = os.path.abspath(path)
    return sorted({p for p in found if p.lower().endswith(IMAGE_EXTENSIONS) and os.path.abspath(p) != own})


def _prepare(task):
    """Worker: load, check, degrade and PNG-encode one image (no TensorFlow). Raises ImageError."""
    name, path, scales, min_size, ref_paths = task
    hr = load_image(path)
    try:
        check_min_size(hr, min_size, path, f"scales {scales}")
    except ImageError as err:
        raise ImageTooSmall(str(err)) from None
    lr_parts = {}
    for s in scales:
        _, lr = degrade(hr, s, path)
        lr_parts[s] = (schema.encode_png(lr), lr.shape[0], lr.shape[1])
    refs = [(os.path.basename(p), schema.encode_png(load_image(p))) for p in ref_paths]
    return {"name": name, "hr_png": schema.encode_png(hr), "hr_shape": hr.shape, "lr_parts": lr_parts,
            "refs": refs, "hr_bytes": int(hr.size)}


def _fingerprint(items, settings):
    digest = hashlib.sha256(json.dumps(settings, sort_keys=True).encode())
    for name, path in items:
        stat = os.stat(path)
        digest.update(f"{name}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()


def _up_to_date(out_dir, fingerprint):
    path = os.path.join(out_dir, schema.MANIFEST_NAME)
    try:
        manifest = schema.read_manifest(path)
    except schema.SchemaError:
        return None
    if manifest.get("fingerprint") != fingerprint:
        return None
    for entry in manifest["shards"]:
        shard_path = os.path.join(out_dir, entry["path"])
        if not os.path.isfile(shard_path) or os.path.getsize(shard_path) != entry["bytes"]:
            return None
    return manifest


def _prepared(tasks, workers):
    """Yield `(task, result_or_ImageError)` in input order."""
    if workers <= 1:
        for task in tasks:
            try:
                yield task, _prepare(task)
            except ImageError as err:
                yield task, err
        return
    context = multiprocessing.get_context("spawn")  # TensorFlow may be loaded in this process
    window = 4 * workers  # results waiting in memory stay bounded
    with concurrent.futures.ProcessPoolExecutor(workers, mp_context=context) as pool:
        pending = collections.deque()
        for task in tasks:
            pending.append((task, pool.submit(_prepare, task)))
            if len(pending) >= window:
                yield _result(*pending.popleft())
        while pending:
            yield _result(*pending.popleft())


def _result(task, future):
    try:
        return task, future.result()
    except ImageError as err:
        return task, err


def write_shards(hr_inputs, out_dir, scales, shard_mb=100, prefix="train", min_size=None, skip_small=False,
                 skip_unreadable=False, ref_dir=None, workers=1, force=False, log=None):
    """Write (or confirm up to date) TFRecord shards and `manifest.json` in `out_dir`.

    Args:
        hr_inputs: HR image folder(s) or files.
        out_dir: output folder (created).
        scales: integer scales whose LR images are stored.
        shard_mb: target shard size in MiB (a shard holds at least one record).
        prefix: shard file prefix (`train-00000.tfrecord`, ...).
        min_size: smallest accepted HR side in pixels (default: the largest
            scale). Smaller images raise `ImageError` naming the file, or are
            skipped and counted with `skip_small=True`.
        skip_unreadable: skip (and count) corrupt, empty or unreadable files
            instead of raising `ImageError`.
        ref_dir: optional folder of reference images (`<stem>.*`, `<stem>_*.*`).
        workers: processes that decode/degrade/encode images.
        force: rewrite even when the manifest says the shards are up to date.
        log: callable for progress lines (default: the module logger).

    Returns:
        The manifest dict (also written to `out_dir/manifest.json`).
    """
    import tensorflow as tf

    log = log or logger.info
    scales = sorted({int(s) for s in scales})
    if not scales or scales[0] < 1:
        raise ValueError(f"scales must be positive integers, got {scales}.")
    min_size = int(min_size or scales[-1])
    inputs = [hr_inputs] if isinstance(hr_inputs, (str, os.PathLike)) else list(hr_inputs)
    items = collect_images(inputs)
    settings = {"schema_version": schema.SCHEMA_VERSION, "scales": scales, "shard_mb": shard_mb, "prefix": prefix,
                "min_size": min_size, "skip_small": skip_small, "skip_unreadable": skip_unreadable,
                "ref_dir": os.path.abspath(ref_dir) if ref_dir else None, "degradation": schema.DEGRADATION}
    fingerprint = _fingerprint(items, settings)
    os.makedirs(out_dir, exist_ok=True)
    if not force:
        manifest = _up_to_date(out_dir, fingerprint)
        if manifest is not None:
            log(f"{out_dir}: {manifest['num_records']} records in {len(manifest['shards'])} shard(s) are up to date.")
            return manifest

    tasks = [(name, path, scales, min_size, _refs_for(path, ref_dir)) for name, path in items]
    limit = int(shard_mb * 1024 * 1024)
    shards, skipped = [], []
    totals = {"records": 0, "hr_bytes": 0, "refs": 0}

    def records():
        for (name, path, *_), result in _prepared(tasks, max(1, int(workers))):
            if isinstance(result, ImageError):
                too_small = isinstance(result, ImageTooSmall)
                if (too_small and skip_small) or (not too_small and skip_unreadable):
                    skipped.append({"name": name, "reason": str(result)})
                    continue
                raise result
            totals["hr_bytes"] += result["hr_bytes"]
            totals["refs"] += len(result["refs"])
            yield schema.build_example(result["name"], result["hr_png"], result["hr_shape"], result["lr_parts"],
                                       result["refs"])

    stream = records()
    pending = next(stream, None)
    while pending is not None:
        shard_name = f"{prefix}-{len(shards):05d}.tfrecord"
        count = size = 0
        with atomic_path(os.path.join(out_dir, shard_name)) as tmp:
            with tf.io.TFRecordWriter(tmp) as writer:
                while pending is not None and (count == 0 or size + len(pending) + RECORD_OVERHEAD <= limit):
                    writer.write(pending)
                    size += len(pending) + RECORD_OVERHEAD
                    count += 1
                    pending = next(stream, None)
        shard_bytes = os.path.getsize(os.path.join(out_dir, shard_name))
        shards.append({"path": shard_name, "records": count, "bytes": shard_bytes})
        totals["records"] += count
        log(f"{shard_name}: {count} records, {shards[-1]['bytes'] / 2**20:.1f} MiB")
    if not shards:
        raise ImageError(f"{', '.join(map(os.fspath, inputs))}: no usable images ({len(skipped)} skipped).")
    if skipped:
        log(f"skipped {len(skipped)} image(s): " + "; ".join(s["reason"] for s in skipped[:5])
            + (" ..." if len(skipped) > 5 else ""))

    manifest = {
        "format": schema.FORMAT,
        "schema_version": schema.SCHEMA_VERSION,
        "scales": scales,
        "degradation": schema.DEGRADATION,
        "shards": shards,
        "num_records": totals["records"],
        "num_reference_images": totals["refs"],
        "decoded_hr_bytes": totals["hr_bytes"],
        "skipped": skipped,
        "sources": [os.path.abspath(os.fspath(i)) for i in inputs],
        "fingerprint": fingerprint,
        "settings": settings,
    }
    manifest_path = os.path.join(out_dir, schema.MANIFEST_NAME)
    schema.write_manifest(manifest_path, manifest)
    keep = {s["path"] for s in shards}
    for stale in glob.glob(os.path.join(glob.escape(out_dir), f"{glob.escape(prefix)}-*.tfrecord")):
        if os.path.basename(stale) not in keep:
            os.remove(stale)
    manifest["_path"] = os.path.abspath(manifest_path)
    return manifest


def add_arguments(parser):
    """Flags of `tools.make_tfrecords` / `keras-sr make-tfrecords`."""
    parser.add_argument("--hr", nargs="+", required=True, help="HR image folder(s) or files")
    parser.add_argument("--scale", type=int, nargs="+", required=True, help="scales whose LR images are stored")
    parser.add_argument("--out", required=True, help="output folder for shards and manifest.json")
    parser.add_argument("--shard-mb", type=float, default=100, help="target shard size in MiB (default 100)")
    parser.add_argument("--prefix", default="train", help="shard file prefix (default: train)")
    parser.add_argument("--min-size", type=int, default=None, help="smallest HR side accepted (default: largest scale)")
    parser.add_argument("--skip-small", action="store_true", help="skip images below --min-size instead of failing")
    parser.add_argument("--skip-unreadable", action="store_true", help="skip corrupt/empty files instead of failing")
    parser.add_argument("--ref", default=None, help="folder of reference images <stem>.* / <stem>_*.* (RefSR)")
    parser.add_argument("--workers", type=int, default=min(4, os.cpu_count() or 1), help="image processes")
    parser.add_argument("--force", action="store_true", help="rewrite even if the manifest is up to date")
    return parser


def run(args):
    manifest = write_shards(args.hr, args.out, args.scale, shard_mb=args.shard_mb, prefix=args.prefix,
                            min_size=args.min_size, skip_small=args.skip_small, skip_unreadable=args.skip_unreadable,
                            ref_dir=args.ref, workers=args.workers, force=args.force,
                            log=lambda msg: print(msg, file=sys.stderr, flush=True))
    print(f"{manifest['_path']}: {manifest['num_records']} records, {len(manifest['shards'])} shard(s), "
          f"scales {manifest['scales']}, {len(manifest['skipped'])} skipped")
    return manifest
