"""Write Real-ESRGAN-degraded LR images from HR folders, seeded: `python -m tools.degrade --data HR/ --out LR/`.

Every HR image (modcropped to the scale) goes through the second-order
degradation of Real-ESRGAN (`keras_sr.degradations.host`: the official
probabilities and ranges of `DegradationConfig`, Pillow's JPEG) with its own
random choices from `numpy.random.default_rng([seed, i])` (`i`: the image's
index in the sorted list), so the same command writes the same LR set. The LR
image keeps the HR's relative path (as PNG) under `--out`; `degradations.json`
records the seed and each image's choices (kernels, resizes, noise, JPEG
qualities, order). By default the HR itself is degraded; `--sharpen` degrades
its USM-sharpened version, as Real-ESRGAN's training does.

`--benchmark N` instead measures the pipeline's throughput in training pairs
per second (400x400 crops -> 256x256 / 64x64 pairs at x4, batch 12, as the
official): the host path (numpy / scipy / Pillow, this process) and the device
path (`DeviceDegradation`, compiled on the current Keras backend and device),
over N batches after one warm-up batch.

Example:
    $ python -m tools.degrade --data Set14/HR --out Set14_realesrgan_x4 --scale 4 --seed 0
    $ python -m tools.degrade --data /work/shared/data/BSD200 --benchmark 3
"""

import argparse
import json
import os
import sys
import time

import numpy as np

from keras_sr.cropping import modcrop
from keras_sr.degradations.config import DegradationConfig, sample_batch
from keras_sr.degradations.host import degrade_batch, usm_sharpen
from keras_sr.image_io import ImageError, list_images, load_image, save_image

__all__ = ["main", "degrade_image", "degrade_folder", "benchmark"]


def _jsonable(value):
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return _jsonable(value.tolist())
    if isinstance(value, (np.floating, float)):
        return round(float(value), 6)
    if isinstance(value, (np.integer, np.bool_)):
        return value.item()
    return value


def degrade_image(hr, scale, seed, index, config=None, sharpen=False):
    """`(lr uint8, record)` of one HR image (uint8, modcropped here) with the choices of `(seed, index)`."""
    config = (config or DegradationConfig()).replace(scale=int(scale))
    hr = modcrop(np.asarray(hr, np.uint8), scale)
    rng = np.random.default_rng([int(seed), int(index)])
    x = hr[None].astype(np.float32) / 255.0
    if sharpen:
        x = usm_sharpen(x, config.usm_weight, config.usm_threshold, config.usm_radius)
    params = sample_batch(rng, config, 1, hr.shape[:2])
    lr = degrade_batch(x, params, rng)[0]
    record = {"hr_size": list(hr.shape[:2]), "lr_size": list(lr.shape[:2]), "kernel1": params.info["kernel1"][0],
              "kernel2": params.info["kernel2"][0] if params.info["second_blur"] else None,
              "sinc": params.info["sinc"][0], "resize1": params.resize1, "resize2": params.resize2,
              "final_resize": params.final_mode,
              "noise1": ("gaussian" if params.gaussian1 else "poisson", float(params.sigma1[0] if params.gaussian1
                                                                              else params.poisson1[0]),
                         "gray" if params.gray1[0] else "color"),
              "noise2": ("gaussian" if params.gaussian2 else "poisson", float(params.sigma2[0] if params.gaussian2
                                                                              else params.poisson2[0]),
                         "gray" if params.gray2[0] else "color"),
              "jpeg": [float(params.jpeg1[0]), float(params.jpeg2[0])],
              "order": "jpeg, resize + sinc" if params.jpeg_first else "resize + sinc, jpeg"}
    return np.clip(np.round(lr * 255.0), 0, 255).astype(np.uint8), _jsonable(record)


def _inputs(data):
    pairs = []
    for entry in data:
        if os.path.isdir(entry):
            pairs.extend((p, os.path.relpath(p, entry)) for p in list_images(entry))
        elif os.path.isfile(entry):
            pairs.append((entry, os.path.basename(entry)))
        else:
            raise ImageError(f"{entry}: no such file or folder.")
    return sorted(pairs, key=lambda pair: pair[1])


def degrade_folder(data, out, scale=4, seed=0, sharpen=False, log=print):
    """Degrade every image of `data` (folders / files) into `out`; returns the manifest dict."""
    pairs = _inputs(data)
    records = {}
    for index, (path, rel) in enumerate(pairs):
        hr = load_image(path)
        if min(hr.shape[:2]) < 8 * scale:
            raise ImageError(f"{path}: image is {hr.shape[1]}x{hr.shape[0]}, too small to degrade at x{scale} "
                             f"(needs at least {8 * scale} pixels a side).")
        lr, record = degrade_image(hr, scale, seed, index, sharpen=sharpen)
        name = os.path.splitext(rel)[0] + ".png"
        save_image(os.path.join(out, name), lr)
        records[name] = {"hr": os.path.abspath(path), **record}
        if log:
            log(f"{index + 1}/{len(pairs)} {name}: {record['hr_size']} -> {record['lr_size']}")
    manifest = {"seed": int(seed), "scale": int(scale), "sharpen": bool(sharpen),
                "pipeline": "keras_sr.degradations.host (Real-ESRGAN second-order, Pillow JPEG)", "images": records}
    with open(os.path.join(out, "degradations.json"), "w") as f:
        json.dump(manifest, f, indent=1)
    return manifest


def benchmark(data, batches=3, batch_size=12, hr_size=400, gt_size=256, scale=4, seed=0, log=print):
    """Pairs per second of the host and device paths (see the module docstring): a dict."""
    import keras

    from keras_sr.degradations.dataset import RealESRGANDataset
    from keras_sr.degradations.stage import DeviceDegradation

    config = DegradationConfig(scale=scale)
    common = dict(hr_size=hr_size, gt_size=gt_size, batch_size=batch_size, steps_per_epoch=batches + 1, seed=seed)
    host = RealESRGANDataset(data, config, mode="host", queue_size=0, **common)
    host.host_batch(0)
    start = time.perf_counter()
    for i in range(1, batches + 1):
        host.host_batch(i)
    host_rate = batches * batch_size / (time.perf_counter() - start)
    log(f"host path (numpy/scipy/Pillow, one process): {host_rate:.2f} pairs/s")

    dev = RealESRGANDataset(data, config, mode="device", **common)
    stage = DeviceDegradation(config, batch_size, gt_size, queue_size=0)
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        compiled = tf.function(stage, jit_compile=bool(tf.config.list_physical_devices("GPU")))
    elif backend == "jax":
        import jax

        compiled = jax.jit(stage)
    else:
        compiled = stage
    start = time.perf_counter()
    batch_list = [dev.device_batch(i) for i in range(batches + 1)]
    draw_rate = (batches + 1) * batch_size / (time.perf_counter() - start)
    (lr, _, _), _ = compiled(batch_list[0], {})
    keras.ops.convert_to_numpy(lr)
    start = time.perf_counter()
    for batch in batch_list[1:]:
        (lr, _, _), _ = compiled(batch, {})
    keras.ops.convert_to_numpy(lr)
    device_rate = batches * batch_size / (time.perf_counter() - start)
    where = "GPU" if _has_gpu(backend) else "CPU"
    log(f"device path ({backend}, {where}, compiled): {device_rate:.2f} pairs/s; its host side (crops and random "
        f"choices): {draw_rate:.2f} pairs/s")
    return {"host_pairs_per_s": host_rate, "device_pairs_per_s": device_rate, "device_draw_pairs_per_s": draw_rate,
            "backend": backend, "device": where, "batch_size": batch_size, "hr_size": hr_size, "gt_size": gt_size,
            "scale": scale, "batches": batches}


def _has_gpu(backend):
    if backend == "tensorflow":
        import tensorflow as tf

        return bool(tf.config.list_physical_devices("GPU"))
    if backend == "jax":
        import jax

        return jax.default_backend() == "gpu"
    import torch

    return torch.cuda.is_available()


def main(argv=None):
    parser = argparse.ArgumentParser(prog="tools.degrade", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", nargs="+", required=True, help="HR image folders or files")
    parser.add_argument("--out", help="output folder of the LR images (and degradations.json)")
    parser.add_argument("--scale", type=int, default=4, choices=(1, 2, 3, 4), help="downscaling factor")
    parser.add_argument("--seed", type=int, default=0, help="random seed (image i uses (seed, i))")
    parser.add_argument("--sharpen", action="store_true", help="degrade the USM-sharpened HR (as in training)")
    parser.add_argument("--benchmark", type=int, default=0, metavar="N",
                        help="measure the pipeline's pairs/s over N batches instead of writing images")
    parser.add_argument("--json", help="--benchmark: write the numbers to this JSON file")
    args = parser.parse_args(argv)
    try:
        if args.benchmark:
            result = benchmark(args.data, batches=args.benchmark, scale=args.scale, seed=args.seed)
            if args.json:
                with open(args.json, "w") as f:
                    json.dump(result, f, indent=1)
            return 0
        if not args.out:
            parser.error("--out is required (or --benchmark N)")
        degrade_folder(args.data, args.out, args.scale, args.seed, args.sharpen)
    except ImageError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
