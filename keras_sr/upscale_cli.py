"""`keras-sr upscale`: upscale image files or folders with any model, tiled for large images.

Outputs are PNG files `<out>/<stem>_x<scale>.png`, or uncompressed TIFF files
`<stem>_x<scale>.tif` with `--format tiff` (folders keep their
sub-folder layout below `--out`). Existing outputs are skipped with a message
unless `--overwrite`; an unreadable input is reported by name and the other
files still run (exit status 2 at the end). Inputs keep gray, alpha and 16-bit
gray (see `keras_sr.tiled_inference`); EXIF orientation is applied.

Memory stays bounded whatever the image size: tiles are blended into row
bands that are written to the PNG or TIFF as they finish
(`keras_sr.streamed_upscale`), and `--tile auto` (the default) picks the tile
from `--max-memory` (default: a quarter of the available memory), running a
small image whole. `--tile 0` runs every image whole, in memory.

Example:
    $ keras-sr upscale photos/ --model bicubic --scale 2 --out up/
    $ keras-sr upscale big.png --model runs/edsr_x4/final.keras --tile 256 --overlap 16 --out up/
    $ keras-sr upscale huge.jpg --model edsr_baseline_x4 --max-memory 2G --out up/
    $ keras-sr upscale scan.png --model edsr_baseline_x4 --format tiff --out up/
    $ keras-sr upscale a.jpg --model edsr --weights runs/edsr_x4/final.weights.h5 --scale 4 --out up/ --overwrite
"""

import os
import sys
import time

from keras_sr.image_io import IMAGE_EXTENSIONS, ImageError, list_images
from keras_sr.tiled_inference import _Runner, read_image, upscale, write_image
from keras_sr.streamed_upscale import parse_memory
from keras_sr.streamed_upscale import upscale_to_file
from keras_sr.tiled_inference import _Runner, read_image

__all__ = ["add_arguments", "run", "plan_outputs"]


def add_arguments(parser):
    parser.add_argument("inputs", nargs="+", metavar="IMAGE_OR_DIR", help="image files and/or folders (recursive)")
    parser.add_argument("--model", required=True,
                        help="bicubic, a registered model (with --weights), a preset, a .keras file or a SavedModel")
    parser.add_argument("--scale", type=int, default=None, help="upscaling factor (checked against the model)")
    parser.add_argument("--weights", default=None, help=".weights.h5 for a registered model name")
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument("--tile", type=_tile, default="auto",
                        help="LR tile size in pixels, 0 for the whole image at once, or auto (default): the largest "
                             "tile whose estimated memory fits --max-memory (a small image runs whole)")
    parser.add_argument("--max-memory", type=_memory, default=None, metavar="SIZE",
                        help="memory budget of --tile auto, e.g. 800M, 2G (default: a quarter of the available "
                             "memory); not counted: the Python/TensorFlow runtime and the decoded input image")
    parser.add_argument("--overlap", type=int, default=16, help="LR context pixels around each tile (default 16)")
    parser.add_argument("--blend", choices=("linear", "crop"), default="linear",
                        help="linear: cross-fade tiles across the overlap (default); crop: keep tile centres")
    parser.add_argument("--batch", type=int, default=4, help="tiles per model call (default 4)")
    parser.add_argument("--format", choices=("png", "tiff"), default="png",
                        help="output files: png (default, deflate) or tiff (uncompressed baseline TIFF, <stem>_x<scale>.tif)")
    parser.add_argument("--overwrite", action="store_true", help="replace existing output files")
    return parser


def _tile(text):
    import argparse

    if text == "auto":
        return "auto"
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a tile size in pixels, 0 or auto, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"tile must be >= 0, got {value}")
    return value or None


def _memory(text):
    import argparse


    try:
        return parse_memory(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def plan_outputs(inputs, out, scale, ext=".png"):
    """[(input_path, output_path)] for files and folders; `ImageError` on missing inputs or name clashes."""
    pairs = []
    for item in inputs:
        if os.path.isdir(item):
            for path in list_images(item):
                rel = os.path.relpath(os.path.dirname(path), item)
                stem = os.path.splitext(os.path.basename(path))[0]
                pairs.append((path, os.path.normpath(os.path.join(out, rel, f"{stem}_x{scale}{ext}"))))
        elif os.path.exists(item):
            if not item.lower().endswith(IMAGE_EXTENSIONS):
                print(f"warning: {item}: unusual extension, trying to read it as an image", file=sys.stderr)
            stem = os.path.splitext(os.path.basename(item))[0]
            pairs.append((item, os.path.join(out, f"{stem}_x{scale}{ext}")))
        else:
            raise ImageError(f"{item}: no such file or folder.")
    seen = {}
    for source, target in pairs:
        key = os.path.abspath(target)
        if key in seen:
            raise ImageError(f"{source} and {seen[key]} would both be written to {target}; rename one of them.")
        seen[key] = source
    return pairs


def _progress(i, total, message):
    print(f"[{i}/{total}] {message}", file=sys.stderr, flush=True)


def run(args):

    try:
        runner = _Runner(args.model, scale=args.scale, weights=args.weights)
    except ValueError as err:  # unknown model, wrong scale: one clear line, exit status 2
        raise ImageError(f"--model {args.model}: {err}") from err
    ext = ".tif" if getattr(args, "format", "png") == "tiff" else ".png"
    pairs = plan_outputs(args.inputs, args.out, runner.scale, ext)
    existing = [target for _, target in pairs if os.path.exists(target)]
    if existing and not args.overwrite:
        print(f"{len(existing)} of {len(pairs)} outputs already exist and are kept (pass --overwrite to replace "
              f"them), e.g. {existing[0]}", file=sys.stderr)
    failures, written, skipped = [], 0, 0
    total = len(pairs)
    for i, (source, target) in enumerate(pairs, 1):
        if os.path.exists(target) and not args.overwrite:
            skipped += 1
            _progress(i, total, f"{source}: skipped, {target} exists")
            continue
        start = time.perf_counter()
        try:
            image = read_image(source)
            result = upscale_to_file(image, target, runner, tile=getattr(args, "tile", "auto"),
                                     overlap=args.overlap, batch=args.batch, blend=args.blend,
                                     max_memory=getattr(args, "max_memory", None),
                                     log=lambda message, i=i: _progress(i, total, f"{source}: {message}"))
        except ImageError as err:
            failures.append(str(err))
            _progress(i, total, f"error: {err}")
            continue
        except (ValueError, TypeError) as err:
            failures.append(f"{source}: {err}")
            _progress(i, total, f"error: {source}: {err}")
            continue
        written += 1
        h, w = image.shape[:2]
        how = "whole image" if result["tile"] is None else f"tile {result['tile']}"
        _progress(i, total, f"{source} ({w}x{h}) -> {target} ({result['shape'][1]}x{result['shape'][0]}, {how}, "
                            f"{time.perf_counter() - start:.2f} s)")
    print(f"upscaled {written}, skipped {skipped} existing, failed {len(failures)} -> {args.out}", file=sys.stderr)
    if failures:
        raise ImageError(f"{len(failures)} of {total} files failed: " + "; ".join(failures))
