"""The seed's offline patch flows (`tools.data_aug`): aligned LR/HR patch folders, or one HDF5 file.

For every input image, every `--scales` factor (the image is first resized by
it with MATLAB bicubic: 1.0, 0.7, 0.5 in VDSR's 291-image recipe), every
`--rotations` angle (counter-clockwise, multiples of 90) and every `--flips`
code (0 none, 1 left-right, 2 up-down, 3 both), and every upscaling factor
`-uf`:

1. HR = the augmented image, modcropped to a multiple of `uf`;
2. LR = `imresize(HR, 1/uf)` on uint8 (the evaluation protocol's `degrade`);
   with `--same_size` LR is upsampled back to HR size (`--upsampling bicubic`,
   MATLAB `imresize`; or `nearest`), the input of SRCNN/VDSR-style models;
3. patches of `--width` x `--height` HR pixels are taken every `--stride`
   pixels, row-major from the top-left: `range(0, H - height + 1, stride)` x
   `range(0, W - width + 1, stride)` (`keras_sr.data.patches.patch_grid`).
   Without `--same_size` the LR patch is the window divided by `uf`, so the
   width, height and stride must be multiples of every `uf`;
4. `--single_y` stores only the BT.601 Y channel (rounded to uint8).

Outputs:

* patch folders: `OUTPUT/x{uf}/lr/NAME.png` and `OUTPUT/x{uf}/hr/NAME.png`,
  `NAME = {image}_s{scale}_r{rot}_f{flip}_{y}_{x}`, plus `patch_pairs.json`
  (settings and counts);
* `--use_h5py`: one HDF5 file (`OUTPUT` if it ends in `.h5`, else
  `OUTPUT/train.h5`) with uint8 datasets `lr` (N, h, w, C) and `hr`
  (N, H, W, C) and `scale` (N,), all `-uf` mixed when `--same_size` or a
  single `-uf`; otherwise one group per factor (`x2/lr`, `x2/hr`, ...).
  Written to a temporary file and renamed when complete.

`keras_sr.data.py_dataset.SRPatchDataset` reads both.

Example:
    $ python -m tools.data_aug --input T91/HR --output patches/t91 --width 41 --height 41 --stride 41 \\
        -uf 2 3 4 --scales 1.0 0.7 0.5 --rotations 0 90 180 270 --flips 0 1 2 3 --upsampling bicubic \\
        --single_y --same_size
    >>> summary = write_patch_pairs(["T91/HR"], "patches/t91", width=41, height=41, stride=41, factors=[3])
"""

import json
import logging
import os
import shutil
import sys

import numpy as np

from keras_sr.color import rgb_to_y
from keras_sr.data.patches import patch_grid
from keras_sr.data.sources import PATCH_PAIRS_MANIFEST, ImageTooSmall
from keras_sr.degradation import degrade
from keras_sr.fileio import atomic_path, atomic_write_text
from keras_sr.image_io import ImageError, check_min_size, list_images, load_image, save_image
from keras_sr.imresize import imresize
from keras_sr.metrics import to_uint8


__all__ = ["image_variants", "degrade_pair", "patch_pairs_of", "count_patches", "write_patch_pairs",
           "add_arguments", "run", "main"]

logger = logging.getLogger("keras_sr.data")

FLIP_CODES = {0: "none", 1: "left-right", 2: "up-down", 3: "both"}
UPSAMPLING = ("bicubic", "nearest")


def _flip(img, code):
    if code not in FLIP_CODES:
        raise ValueError(f"flip code must be one of {sorted(FLIP_CODES)}, got {code}.")
    if code in (1, 3):
        img = img[:, ::-1]
    if code in (2, 3):
        img = img[::-1]
    return img


def _scale_tag(scale):
    return f"{scale:g}".replace(".", "p")


def image_variants(img, scales=(1.0,), rotations=(0,), flips=(0,)):
    """Yield `(tag, variant)` for every scale x rotation x flip of an RGB uint8 image."""
    for scale in scales:
        if scale <= 0:
            raise ValueError(f"--scales must be positive, got {scale}.")
        scaled = img if scale == 1 else imresize(img, float(scale))
        for rotation in rotations:
            if rotation % 90:
                raise ValueError(f"--rotations must be multiples of 90 degrees, got {rotation}.")
            rotated = np.rot90(scaled, (rotation // 90) % 4)
            for flip in flips:
                yield f"s{_scale_tag(scale)}_r{rotation}_f{flip}", np.ascontiguousarray(_flip(rotated, flip))


def degrade_pair(hr, factor, same_size=False, upsampling="bicubic", single_y=False):
    """`(lr, hr)` uint8 images of one variant: modcrop, bicubic downscale, optional upsampling and Y."""
    hr, lr = degrade(hr, factor)
    if same_size:
        if upsampling == "bicubic":
            lr = imresize(lr, factor)
        elif upsampling == "nearest":
            lr = np.repeat(np.repeat(lr, factor, axis=0), factor, axis=1)
        else:
            raise ValueError(f"--upsampling must be one of {UPSAMPLING}, got {upsampling!r}.")
    if single_y:
        lr, hr = to_uint8(rgb_to_y(lr))[..., None], to_uint8(rgb_to_y(hr))[..., None]
    return lr, hr


def _check_grid(width, height, stride, factors, same_size):
    for name, value in (("--width", width), ("--height", height), ("--stride", stride)):
        if value < 1:
            raise ValueError(f"{name} must be >= 1, got {value}.")
        if not same_size:
            for factor in factors:
                if value % factor:
                    raise ValueError(f"{name} {value} is not a multiple of -uf {factor}: LR patches would not align. "
                                     "Use multiples of every -uf, or --same_size.")


def patch_pairs_of(lr, hr, factor, width, height, stride, same_size):
    """Yield `(y, x, lr_patch, hr_patch)` for the sliding-window patches of one aligned pair."""
    lr_factor = 1 if same_size else factor
    for y, x in patch_grid(hr.shape[0], hr.shape[1], height, width, stride):
        ly, lx = y // lr_factor, x // lr_factor
        yield y, x, lr[ly : ly + height // lr_factor, lx : lx + width // lr_factor], hr[y : y + height, x : x + width]


def count_patches(height_px, width_px, factor, width, height, stride):
    """Number of patches of an HR image (before modcrop) at factor `uf`."""
    return len(patch_grid(height_px - height_px % factor, width_px - width_px % factor, height, width, stride))


class _FolderWriter:
    def __init__(self, output, factors):
        self.output = output
        manifest = os.path.join(output, PATCH_PAIRS_MANIFEST)
        if os.path.isfile(manifest):  # a previous run of ours: clear its patches so counts stay exact
            with open(manifest, encoding="utf-8") as f:
                previous = json.load(f)
            for factor in previous.get("factors", []):
                shutil.rmtree(os.path.join(output, f"x{factor}"), ignore_errors=True)
            os.remove(manifest)
        for factor in factors:
            for part in ("lr", "hr"):
                os.makedirs(os.path.join(output, f"x{factor}", part), exist_ok=True)

    def add(self, factor, name, lr, hr):
        for part, patch in (("lr", lr), ("hr", hr)):
            with atomic_path(os.path.join(self.output, f"x{factor}", part, name + ".png")) as tmp:
                save_image(tmp, patch)

    def close(self, summary):
        atomic_write_text(os.path.join(self.output, PATCH_PAIRS_MANIFEST), json.dumps(summary, indent=2) + "\n")
        return self.output


class _HDF5Writer:
    BLOCK = 1024

    def __init__(self, path, factors, mixed):
        import h5py

        self.path = path
        self.mixed = mixed
        self._atomic = atomic_path(path)
        self._tmp = self._atomic.__enter__()
        self.file = h5py.File(self._tmp, "w")
        self.buffers = {}
        self.datasets = {}

    def _group(self, factor):
        return "" if self.mixed else f"x{factor}/"

    def add(self, factor, name, lr, hr):
        key = self._group(factor)
        self.buffers.setdefault(key, ([], [], []))
        lrs, hrs, scales = self.buffers[key]
        lrs.append(lr)
        hrs.append(hr)
        scales.append(factor)
        if len(lrs) >= self.BLOCK:
            self._flush(key)

    def _flush(self, key):
        lrs, hrs, scales = self.buffers[key]
        if not lrs:
            return
        arrays = {"lr": np.stack(lrs), "hr": np.stack(hrs), "scale": np.asarray(scales, np.int16)}
        if key not in self.datasets:
            self.datasets[key] = {}
            for part, array in arrays.items():
                chunks = (min(64, array.shape[0]),) + array.shape[1:]
                self.datasets[key][part] = self.file.create_dataset(
                    key + part, data=array, maxshape=(None,) + array.shape[1:], chunks=chunks)
        else:
            for part, array in arrays.items():
                dataset = self.datasets[key][part]
                if dataset.shape[1:] != array.shape[1:]:
                    raise ValueError(f"{self.path}: patch shapes differ within {key or 'the file'} "
                                     f"({dataset.shape[1:]} vs {array.shape[1:]}).")
                start = dataset.shape[0]
                dataset.resize(start + array.shape[0], axis=0)
                dataset[start:] = array
        self.buffers[key] = ([], [], [])

    def close(self, summary):
        for key in list(self.buffers):
            self._flush(key)
        self.file.attrs["keras_sr_patch_pairs"] = json.dumps(summary)
        self.file.close()
        self._atomic.__exit__(None, None, None)
        return self.path

    def abort(self):
        self.file.close()
        self._atomic.__exit__(RuntimeError, RuntimeError("aborted"), None)


def write_patch_pairs(inputs, output, width=41, height=41, stride=41, factors=(2, 3, 4), scales=(1.0,),
                      rotations=(0,), flips=(0,), upsampling="bicubic", single_y=False, same_size=False,
                      use_h5py=False, skip_small=False, skip_unreadable=False, log=None):
    """Run the seed's patch flow; returns a summary dict (counts per factor, written path, skipped files)."""
    log = log or logger.info
    factors = [int(f) for f in factors]
    if not factors or min(factors) < 1:
        raise ValueError(f"-uf must be positive integers, got {factors}.")
    if upsampling not in UPSAMPLING:
        raise ValueError(f"--upsampling must be one of {UPSAMPLING}, got {upsampling!r}.")
    _check_grid(width, height, stride, factors, same_size)
    inputs = [os.fspath(i) for i in ([inputs] if isinstance(inputs, (str, os.PathLike)) else inputs)]
    items = []  # (path, unique stem)
    for entry in inputs:
        for path in list_images(entry) if os.path.isdir(entry) else [entry]:
            rel = os.path.relpath(path, entry) if os.path.isdir(entry) else os.path.basename(path)
            items.append((path, os.path.splitext(rel)[0].replace(os.sep, "_")))
    paths = [p for p, _ in items]
    mixed = same_size or len(factors) == 1
    if use_h5py:
        h5_path = output if output.lower().endswith((".h5", ".hdf5")) else os.path.join(output, "train.h5")
        writer = _HDF5Writer(h5_path, factors, mixed)
    else:
        writer = _FolderWriter(output, factors)
    counts = {f"x{f}": 0 for f in factors}
    skipped = []
    need = max(max(height, width), max(factors))
    try:
        for path, stem in items:
            try:
                img = load_image(path)
                try:
                    check_min_size(img, need, path, f"{width}x{height} patches")
                except ImageError as err:
                    raise ImageTooSmall(str(err)) from None
            except ImageTooSmall as err:
                if not skip_small:
                    raise
                skipped.append({"path": path, "reason": str(err)})
                continue
            except ImageError as err:
                if not skip_unreadable:
                    raise
                skipped.append({"path": path, "reason": str(err)})
                continue
            for tag, variant in image_variants(img, scales, rotations, flips):
                for factor in factors:
                    if min(variant.shape[:2]) < factor:
                        continue
                    lr, hr = degrade_pair(variant, factor, same_size, upsampling, single_y)
                    for y, x, lr_patch, hr_patch in patch_pairs_of(lr, hr, factor, width, height, stride, same_size):
                        writer.add(factor, f"{stem}_{tag}_{y:04d}_{x:04d}", lr_patch, hr_patch)
                        counts[f"x{factor}"] += 1
        if not sum(counts.values()):
            raise ImageError(f"{', '.join(inputs)}: no {width}x{height} patches could be taken "
                             f"({len(skipped)} of {len(paths)} image(s) skipped).")
    except BaseException:
        if use_h5py:
            writer.abort()
        raise
    if skipped:
        log(f"skipped {len(skipped)} image(s): " + "; ".join(s["reason"] for s in skipped[:3])
            + (" ..." if len(skipped) > 3 else ""))
    summary = {
        "factors": factors, "width": width, "height": height, "stride": stride, "scales": list(scales),
        "rotations": list(rotations), "flips": list(flips), "upsampling": upsampling, "single_y": single_y,
        "same_size": same_size, "counts": counts, "num_patches": sum(counts.values()), "num_images": len(paths),
        "skipped": skipped, "layout": ("mixed" if mixed else "per-factor") if use_h5py else "x{uf}/{lr,hr}/*.png",
    }
    summary["output"] = writer.close(summary)
    log(f"{summary['output']}: {summary['num_patches']} patch pairs {counts}")
    return summary


def add_arguments(parser):
    """The seed's flags of `tools.data_aug`."""
    parser.add_argument("--input", nargs="+", required=True, help="HR image folder(s) or files")
    parser.add_argument("--output", required=True, help="output folder (or .h5 file with --use_h5py)")
    parser.add_argument("--width", type=int, default=41, help="HR patch width in pixels (default 41)")
    parser.add_argument("--height", type=int, default=41, help="HR patch height in pixels (default 41)")
    parser.add_argument("--stride", type=int, default=41, help="patch stride in HR pixels (default 41)")
    parser.add_argument("-uf", "--upscale-factors", dest="uf", type=int, nargs="+", default=[2, 3, 4],
                        help="upscaling factors (default 2 3 4)")
    parser.add_argument("--scales", type=float, nargs="+", default=[1.0], help="image downsizing factors (default 1.0)")
    parser.add_argument("--rotations", type=int, nargs="+", default=[0], help="rotations in degrees (0 90 180 270)")
    parser.add_argument("--flips", type=int, nargs="+", default=[0],
                        help="flips: 0 none, 1 left-right, 2 up-down, 3 both")
    parser.add_argument("--upsampling", choices=UPSAMPLING, default="bicubic",
                        help="how --same_size upsamples LR back to HR size (default bicubic, MATLAB imresize)")
    parser.add_argument("--single_y", action="store_true", help="store the Y channel only (BT.601)")
    parser.add_argument("--same_size", action="store_true", help="LR upsampled back to HR size (SRCNN/VDSR input)")
    parser.add_argument("--use_h5py", action="store_true", help="write one HDF5 file (datasets lr, hr, scale)")
    parser.add_argument("--skip_small", action="store_true", help="skip images smaller than a patch (else error)")
    parser.add_argument("--skip_unreadable", action="store_true", help="skip corrupt/empty files (else error)")
    return parser


def run(args):
    return write_patch_pairs(args.input, args.output, width=args.width, height=args.height, stride=args.stride,
                             factors=args.uf, scales=args.scales, rotations=args.rotations, flips=args.flips,
                             upsampling=args.upsampling, single_y=args.single_y, same_size=args.same_size,
                             use_h5py=args.use_h5py, skip_small=args.skip_small, skip_unreadable=args.skip_unreadable,
                             log=lambda msg: print(msg, file=sys.stderr, flush=True))
