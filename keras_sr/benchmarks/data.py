"""Input pipeline throughput: patches/s of the tf.data TFRecord reader and of the PyDataset loader.

Writes (once, idempotently) TFRecord shards of the given HR folders, then
times steady-state batches of `--patch-size` LR patches at `--scale`, after a
warm-up that fills the in-memory cache. Prints a table and the machine load,
since other processes on a small machine change the figures.

    python -m tools.benchmark data --hr ../shared/data/T91/HR ../shared/data/BSD200/HR --scale 4 --patch-size 48
"""

import gc
import hashlib
import os
import tempfile
import time

from keras_sr.tfrecords.writer import write_shards


__all__ = ["add_arguments", "run"]


def add_arguments(parser):
    parser.add_argument("--hr", nargs="+", required=True, help="HR image folders (e.g. T91/HR BSD200/HR)")
    parser.add_argument("--scale", type=int, default=4)
    parser.add_argument("--patch-size", type=int, default=48, help="LR patch side (default 48)")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--steps", type=int, default=200, help="timed batches per loader")
    parser.add_argument("--warmup", type=int, default=None,
                        help="untimed batches first (default: tf.data one full pass over the images, which fills "
                             "the in-memory cache; PyDataset 20 after preloading)")
    parser.add_argument("--shards", default=None, help="shard folder (default: a cache folder in the temp dir)")
    parser.add_argument("--shard-mb", type=float, default=100)
    parser.add_argument("--patches-per-image", type=int, nargs="+", default=[16], help="tf.data crops per decode")
    parser.add_argument("--cache", nargs="+", choices=["auto", "off"], default=["auto"],
                        help="tf.data: in-memory cache of decoded images (auto) and/or streaming decode (off)")
    parser.add_argument("--no-jit", action="store_true", help="tf.data: plain gather instead of XLA")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2], help="PyDataset worker counts to time")
    parser.add_argument("--use-multiprocessing", action="store_true", help="PyDataset workers are processes")
    parser.add_argument("--loaders", nargs="+", choices=["tfdata", "pydataset"], default=["tfdata", "pydataset"])
    return parser


def _load():
    return os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")


def _cpu_seconds():
    """CPU time of this process, all threads (not process workers, which are counted when they exit)."""
    return time.process_time()


def _time_iterator(iterator, warmup, steps):
    """`(first batch s, timed wall s, timed CPU s)`."""
    start = time.perf_counter()
    next(iterator)
    first = time.perf_counter() - start
    for _ in range(warmup):
        next(iterator)
    start, cpu = time.perf_counter(), _cpu_seconds()
    for _ in range(steps):
        next(iterator)
    return first, time.perf_counter() - start, _cpu_seconds() - cpu


def _tfdata_rows(args, shards, num_images):
    from keras_sr.tfrecords.reader import ReaderStats, make_dataset

    rows = []
    for cache in args.cache:
        for k in args.patches_per_image:
            stats = ReaderStats()
            dataset = make_dataset(shards, args.scale, args.patch_size, args.batch_size, patches_per_image=k,
                                   skip_small=True, stats=stats, jit=not args.no_jit,
                                   cache="auto" if cache == "auto" else False)
            load = _load()
            warmup = args.warmup if args.warmup is not None else -(-num_images * k // args.batch_size) + 10
            first, seconds, cpu = _time_iterator(iter(dataset), warmup, args.steps)
            mode = "decoded images cached" if cache == "auto" else "streaming, PNG decode"
            rows.append((f"tf.data ({mode}), {k} crops/decode{', no XLA' if args.no_jit else ''}", args.steps,
                         seconds, cpu, first, f"{stats.skipped_small} small-image skips (counted per pass)", load))
            del dataset  # stop its background threads before the next measurement
            gc.collect()
    return rows


def _pydataset_rows(args):
    from keras_sr.data.py_dataset import SRPatchDataset

    rows = []
    for workers in args.workers:
        start = time.perf_counter()
        dataset = SRPatchDataset(args.hr, args.scale, args.patch_size, args.batch_size,
                                 steps_per_epoch=(args.warmup or 20) + args.steps + 1, skip_small=True, workers=workers,
                                 use_multiprocessing=args.use_multiprocessing, preload=True)
        setup = time.perf_counter() - start
        load = _load()
        if workers <= 1:
            iterator = (dataset[i] for i in range(len(dataset)))
        else:  # the enqueuer `model.fit` uses
            from keras.src.trainers.data_adapters.py_dataset_adapter import PyDatasetAdapter

            adapter = PyDatasetAdapter(dataset, shuffle=False)
            adapter.on_epoch_begin()
            iterator = iter(adapter.get_numpy_iterator())
        first, seconds, cpu = _time_iterator(iterator, 20 if args.warmup is None else args.warmup, args.steps)
        kind = "processes" if args.use_multiprocessing else "threads"
        rows.append((f"PyDataset, {workers} worker{'s' if workers > 1 else ''}"
                     + (f" ({kind})" if workers > 1 else ""), args.steps, seconds,
                     float("nan") if args.use_multiprocessing and workers > 1 else cpu, first,
                     f"preload {setup:.1f} s, {dataset.source.skipped_small} small images skipped", load))
        if workers > 1:
            adapter.on_epoch_end()
        del iterator, dataset
        gc.collect()
    return rows


def run(args):
    shards = args.shards
    if shards is None:
        key = hashlib.sha1(repr((sorted(os.path.abspath(h) for h in args.hr), args.scale)).encode()).hexdigest()[:12]
        shards = os.path.join(tempfile.gettempdir(), f"keras_sr_bench_shards_{key}")
    rows = []
    if "tfdata" in args.loaders:
        start = time.perf_counter()
        manifest = write_shards(args.hr, shards, [args.scale], shard_mb=args.shard_mb, workers=os.cpu_count() or 1,
                                log=lambda msg: None)
        print(f"shards: {shards} ({manifest['num_records']} images, {len(manifest['shards'])} shards, "
              f"ready in {time.perf_counter() - start:.1f} s)")
        rows += _tfdata_rows(args, shards, manifest["num_records"])
    if "pydataset" in args.loaders:
        rows += _pydataset_rows(args)
    print(f"\n{args.patch_size}x{args.patch_size} LR patches at x{args.scale}, batch {args.batch_size}, "
          f"{args.steps} timed batches after the warm-up; {os.cpu_count()} CPU cores")
    print("| loader | patches/s | batches/s | CPU us/patch | first batch (s) | 1-min load avg | notes |")
    print("|---|---|---|---|---|---|---|")
    for name, steps, seconds, cpu, first, notes, load in rows:
        patches = steps * args.batch_size
        print(f"| {name} | {patches / seconds:.0f} | {steps / seconds:.1f} | {cpu / patches * 1e6:.0f} | {first:.2f} | "
              f"{load:.2f} | {notes} |")
    print("CPU us/patch: process CPU time (all threads) per timed patch; a load average above the core count "
          "means other processes shared the CPUs.")
    return rows
