"""Upscaling in bounded memory: tiles blended into row bands that go to the output file as they finish.

`keras_sr.tiled_inference.upscale` returns the whole upscaled image, and on
the way holds full-size float32 sums and weights and a float64 copy: about
40 bytes per output pixel (a 4000x3000 photo at x4 is 192 M output pixels).
`upscale_to_file` computes the same tiles in the same order and batches,
but keeps only the rows that a later tile can still touch:

* each batch of tiles is added (linear or crop weights, float32, the same
  operations in the same order as `upscale`) into a band buffer of
  `(rows, width * scale)` float32 sums and weights;
* rows that no later tile reaches are divided, reduced to gray, joined with
  their alpha (MATLAB bicubic of the alpha rows only, float64 per band),
  rounded to uint8/uint16 and handed to `keras_sr.png_stream.PNGRowWriter`
  (or `keras_sr.tiff_stream.TIFFRowWriter` for a `.tif`/`.tiff` target),
  then dropped;
* the buffer so spans about two tile rows, and every temporary is bounded by
  `flush_rows` rows.

The streamed output equals `upscale(image, model, tile=..., ...)` bit for
bit (gray, RGB, uint8, uint16); the alpha channel equals it up to float64
rounding of the bicubic sums (the same uint8 values in the tests).

`tile="auto"` picks the tile from a memory budget (`max_memory`, default
`DEFAULT_MEMORY_FRACTION` of the machine's available memory): the largest of
`AUTO_TILES` whose estimated model working set (`batch` windows of
`(tile + 2 * overlap)^2` LR pixels times `model_bytes_per_pixel`, from the
model's layer output shapes) plus the band buffer fits, with the band buffer
itself at most `BAND_BUFFER_CAP` (384 MiB) whatever the budget; the image is
run whole when the chosen tile covers it. What is not counted: the Python and
TensorFlow runtime (about 0.7 GB) and the decoded input image (3 bytes per LR
pixel for 8-bit RGB); the model estimate is an estimate (3x its largest layer
output per pixel, which holds for the feed-forward SR models here).

Example:
    >>> info = upscale_to_file("photo.jpg", "up/photo_x4.png", "edsr_baseline_x4")        # tile auto
    >>> info = upscale_to_file(lr_uint8, "up/a.tif", "fsrcnn_x3", tile=256, max_memory="1G")
    >>> for row0, rows in iter_upscaled_rows(lr_uint8, runner, tile=128): ...
"""

import math
import os
import re

import numpy as np
from keras_sr.tiled_inference import tile_windows
from keras_sr.imresize import _taps, output_length
from keras_sr.tiled_inference import _ramp, _Runner, tile_windows, upscale
from keras_sr.png_stream import PNGRowWriter
from keras_sr.tiff_stream import TIFFRowWriter
from keras_sr.tiled_inference import _Runner, read_image

__all__ = ["upscale_to_file", "row_writer", "OUTPUT_FORMATS", "iter_upscaled_rows", "plan_tile", "parse_memory", "default_memory_budget",
           "model_bytes_per_pixel", "AUTO_TILES", "DEFAULT_MEMORY_FRACTION", "BAND_BUFFER_CAP"]

AUTO_TILES = (512, 384, 256, 192, 128, 96, 64, 48, 32)
DEFAULT_MEMORY_FRACTION = 0.25
BAND_BUFFER_CAP = 384 << 20  # band sums + flush temporaries, whatever the budget (the goal: < 1 GB besides the model)
_FALLBACK_AVAILABLE = 4 << 30
_FLUSH_ROWS = 32


# --------------------------------------------------------------------------- memory budget


def parse_memory(text):
    """Bytes of a size such as "800M", "1.5G", "2GiB", "1000000" (plain bytes); ValueError otherwise."""
    if isinstance(text, (int, float)):
        return int(text)
    match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([kmgt]?)(i?b)?\s*", str(text), re.IGNORECASE)
    if not match:
        raise ValueError(f"memory size {text!r}: expected a number with an optional K/M/G/T suffix, e.g. 800M, 2G.")
    power = " kmgt".index(match.group(2).lower() or " ")
    return int(float(match.group(1)) * (1024 ** power))


def default_memory_budget(fraction=DEFAULT_MEMORY_FRACTION):
    """`fraction` of MemAvailable (/proc/meminfo; 4 GiB when unknown), in bytes."""
    available = _FALLBACK_AVAILABLE
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    available = int(line.split()[1]) * 1024
                    break
    except OSError:
        pass
    return int(available * fraction)


def _keras_model(runner):
    return getattr(runner, "model", None) or getattr(getattr(runner, "upscaler", None), "model", None)


def model_bytes_per_pixel(runner, probe=16):
    """Estimated working-set bytes of the model per LR pixel of a tile (see the module docstring)."""
    scale = int(runner.scale)
    per_pixel = 3 * 4 * 3 + scale * scale * 3 * 4 * 3  # the tile, its output and the blend temporaries
    per_pixel += scale * scale * 3 * 8 * 4  # a Y-channel model's float64 YCbCr / Cb-Cr bicubic arrays per tile
    model = _keras_model(runner)
    if model is None:  # bicubic and other numpy upscalers: a few float64 HR arrays
        return per_pixel + scale * scale * 3 * 8 * 4
    import keras

    largest = 0
    try:
        channels = int(model.input_shape[-1])
        outputs = []
        for layer in model.layers:
            try:
                outputs.extend(keras.tree.flatten(layer.output))
            except (AttributeError, ValueError):  # a layer called more than once has no single output
                continue
        probe_model = keras.Model(model.inputs, outputs)
        specs = probe_model.compute_output_spec(keras.KerasTensor((1, probe, probe, channels)))
        for spec in keras.tree.flatten(specs):
            if len(spec.shape) == 4:
                largest = max(largest, int(np.prod(spec.shape[1:])) / (probe * probe))
    except Exception:  # noqa: BLE001 - not a plain functional graph: assume a wide model
        largest = 256 * scale * scale
    return int(per_pixel + 3 * 4 * largest)


def _band_rows(windows, batch, scale):
    """Most HR rows the band buffer holds while streaming `windows` in batches of `batch`."""
    base, top, most = 0, 0, 0
    for i in range(0, len(windows), batch):
        top = max(top, max(w[0].stop for w in windows[i:i + batch]) * scale)
        most = max(most, top - base)
        base = windows[i + batch][0].start * scale if i + batch < len(windows) else top
    return most


def plan_tile(height, width, scale, pixel_bytes, overlap=16, batch=4, budget=None, channels=3):
    """`(tile, estimate_bytes)`: the largest `AUTO_TILES` entry that fits `budget` (None: whole image fits).

    `estimate_bytes` = model working set of one batch + band buffer + flush temporaries.
    """

    budget = default_memory_budget() if budget is None else int(budget)
    out_width = width * scale
    flush = _FLUSH_ROWS * out_width * (3 * 4 * 2 + 4 * 8 * 2 + channels * 2 * 14)

    def estimate(tile):
        """(total, band buffers) bytes."""
        if tile >= height and tile >= width:  # whole image, in memory (tiled_inference.upscale)
            buffers = height * width * scale * scale * 4 * 12
            return height * width * pixel_bytes + buffers, buffers
        windows = tile_windows(height, width, tile, overlap)
        side = min(tile + 2 * overlap, height) * min(tile + 2 * overlap, width)
        buffers = _band_rows(windows, batch, scale) * out_width * 16 + flush
        return min(batch, len(windows)) * side * pixel_bytes + buffers, buffers

    whole = max(height, width)
    candidates = [t for t in AUTO_TILES if t < whole]
    if whole <= AUTO_TILES[0]:
        candidates = [whole] + candidates
    for tile in candidates:
        cost, buffers = estimate(tile)
        if cost <= budget and buffers <= BAND_BUFFER_CAP:
            return (None if tile >= whole else tile), cost
    tile = candidates[-1] if candidates else AUTO_TILES[-1]
    return (None if tile >= whole else tile), estimate(tile)[0]


# --------------------------------------------------------------------------- streaming


def _alpha_taps(length, scale):

    out = output_length(length, scale)
    idx, weights = _taps(length, out, scale, True, np, np.float64)
    return idx.astype(np.int64), weights


def _band_matrix(idx, weights, start, stop):
    """Dense weights of outputs [start, stop) over their inputs [lo, hi); returns (matrix, lo, hi)."""
    idx, weights = idx[start:stop], weights[start:stop]
    lo, hi = int(idx.min()), int(idx.max()) + 1
    matrix = np.zeros((stop - start, hi - lo), np.float64)
    rows = np.broadcast_to(np.arange(stop - start)[:, None], idx.shape)
    np.add.at(matrix, (rows, idx - lo), weights)
    return matrix, lo, hi


def _alpha_rows(read_rows, row_taps, col_taps, start, stop, column_block=2048):
    """Rows [start, stop) of `imresize(alpha, scale)` as float32 (MATLAB bicubic in float64, rows then columns).

    `read_rows(lo, hi)` returns the LR alpha rows [lo, hi) as float64; only the
    rows and columns the band needs are read and multiplied.
    """
    matrix, lo, hi = _band_matrix(*row_taps, start, stop)
    rows = np.tensordot(matrix, read_rows(lo, hi), axes=(1, 0))  # (n, w)
    out_width = col_taps[0].shape[0]
    out = np.empty((stop - start, out_width), np.float32)
    for c0 in range(0, out_width, column_block):
        c1 = min(c0 + column_block, out_width)
        cols, clo, chi = _band_matrix(*col_taps, c0, c1)
        out[:, c0:c1] = np.tensordot(rows[:, clo:chi], cols, axes=(1, 1))
    return out


def _check_image(image):
    image = np.asarray(image)
    if image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[-1] not in (1, 2, 3, 4)):
        raise ValueError(f"upscale expects (H, W) or (H, W, 1|2|3|4), got shape {image.shape}.")
    if image.dtype == np.uint8:
        return image, 255.0
    if image.dtype == np.uint16:
        return image, 65535.0
    if np.issubdtype(image.dtype, np.floating):
        return image, None
    raise TypeError(f"upscale supports uint8, uint16 and float images, got {image.dtype}.")


def iter_upscaled_rows(image, runner, tile, overlap=16, batch=4, blend="linear", flush_rows=_FLUSH_ROWS):
    """Yield `(first_row, rows)` of the upscaled image top to bottom, as `upscale` would return it.

    `runner` is a `keras_sr.tiled_inference._Runner` (or anything `upscale`
    accepts as `model`); `tile=None` or a tile covering the image runs the
    whole image at once (in memory, as `upscale`).
    """

    image, peak = _check_image(image)
    runner = runner if isinstance(runner, _Runner) else _Runner(runner)
    batch = max(1, int(batch))
    h, w = image.shape[:2]
    s = runner.scale
    if tile is None or (h <= tile and w <= tile):
        out = upscale(image, runner, tile=None, overlap=overlap, batch=batch, blend=blend)
        for start in range(0, out.shape[0], flush_rows):
            yield start, out[start:start + flush_rows]
        return
    if blend not in ("linear", "crop"):
        raise ValueError(f"blend must be 'linear' or 'crop', got {blend!r}.")
    channels = 1 if image.ndim == 2 else image.shape[-1]
    has_alpha = channels in (2, 4)
    gray = channels - has_alpha == 1
    feather = overlap // 2 if blend == "linear" else 0
    windows = tile_windows(h, w, int(tile), int(overlap))
    scale_in = None if peak is None else np.float32(255.0 / peak)
    alpha_taps = (_alpha_taps(h, s), _alpha_taps(w, s)) if has_alpha else None

    def window_input(wr, wc):
        x = image[wr, wc].astype(np.float32).reshape(wr.stop - wr.start, wc.stop - wc.start, channels)
        if scale_in is not None:
            x = x * scale_in
        color = x[..., :-1] if has_alpha else x
        return np.ascontiguousarray(np.repeat(color, 3, axis=-1) if gray else color)

    def read_alpha(lo, hi):  # as `upscale`: the float32 [0, 255]-scaled input's alpha, then float64
        alpha = image[lo:hi].reshape(hi - lo, w, channels)[..., -1].astype(np.float32)
        return (alpha if scale_in is None else alpha * scale_in).astype(np.float64)

    def finish(sums, weights, start):
        out = sums / weights
        if gray:
            out = out.mean(axis=-1, keepdims=True)
        if has_alpha:
            alpha = _alpha_rows(read_alpha, *alpha_taps, start, start + out.shape[0])
            out = np.concatenate([out, alpha[..., None]], axis=-1)
        if image.ndim == 2:
            out = out[..., 0]
        if peak is None:
            return out.astype(np.float32)
        out = np.clip(out.astype(np.float64) * (peak / 255.0), 0.0, peak)
        return np.floor(out + 0.5).astype(image.dtype)

    out_width = w * s
    sums = np.zeros((0, out_width, 3), np.float32)
    weights = np.zeros((0, out_width, 1), np.float32)
    base = 0  # HR row of sums[0]
    for i in range(0, len(windows), batch):
        group = windows[i:i + batch]
        results = runner.run([window_input(wr, wc) for wr, wc, _, _ in group], batch)
        top = max(wr.stop for wr, _, _, _ in group) * s
        if top - base > sums.shape[0]:
            grow = top - base - sums.shape[0]
            sums = np.concatenate([sums, np.zeros((grow, out_width, 3), np.float32)])
            weights = np.concatenate([weights, np.zeros((grow, out_width, 1), np.float32)])
        for (wr, wc, cr, cc), result in zip(group, results):
            weight = np.outer(_ramp(wr, cr, h, feather, s), _ramp(wc, cc, w, feather, s))[..., None]
            rows = slice(wr.start * s - base, wr.stop * s - base)
            cols = slice(wc.start * s, wc.stop * s)
            sums[rows, cols] += result[..., :3] * weight
            weights[rows, cols] += weight
        done = windows[i + batch][0].start * s if i + batch < len(windows) else h * s
        for start in range(base, done, flush_rows):
            stop = min(start + flush_rows, done)
            yield start, finish(sums[start - base:stop - base], weights[start - base:stop - base], start)
        if done > base:
            sums, weights = sums[done - base:], weights[done - base:]
            base = done


OUTPUT_FORMATS = {"png": (".png",), "tiff": (".tif", ".tiff")}


def row_writer(target):
    """The streaming writer for `target`'s extension: `TIFFRowWriter` for .tif/.tiff, else `PNGRowWriter`."""
    return TIFFRowWriter if os.fspath(target).lower().endswith(OUTPUT_FORMATS["tiff"]) else PNGRowWriter


def upscale_to_file(image, target, model, scale=None, weights=None, tile="auto", overlap=16, batch=4,
                    blend="linear", max_memory=None, log=None):
    """Upscale `image` (array or file) into the PNG or TIFF `target`, streaming row bands; returns what it did.

    Args:
        image: uint8 / uint16 array or an image file (`tiled_inference.read_image`).
        target: output path (written atomically): `.tif`/`.tiff` an uncompressed TIFF
            (`keras_sr.tiff_stream`), anything else a PNG (`keras_sr.png_stream`).
        model: anything `tiled_inference.upscale` accepts, or a `_Runner`.
        tile: LR tile side, None (whole image, in memory) or "auto" (from `max_memory`).
        max_memory: budget for "auto" in bytes or as "800M" / "2G" (default: `default_memory_budget()`).
        log: `callable(str)` told the tile chosen by "auto".

    Returns:
        `{"shape": (H, W[, C]) of the output, "tile": tile used (None: whole), "estimate_bytes": ...}`.
    """

    if isinstance(image, (str, os.PathLike)):
        image = read_image(image)
    image, peak = _check_image(image)
    if peak is None:
        raise TypeError("upscale_to_file writes PNG or TIFF: give a uint8 or uint16 image (float images: use upscale()).")
    runner = model if isinstance(model, _Runner) else _Runner(model, scale=scale, weights=weights)
    h, w = image.shape[:2]
    s = runner.scale
    channels = 1 if image.ndim == 2 else image.shape[-1]
    estimate = None
    if tile == "auto":
        budget = default_memory_budget() if max_memory is None else parse_memory(max_memory)
        tile, estimate = plan_tile(h, w, s, model_bytes_per_pixel(runner), overlap, batch, budget, channels)
        if log:
            log(f"--tile auto: {'whole image' if tile is None else f'tile {tile}'} for {w}x{h} at x{s} "
                f"(estimated {estimate / 2 ** 20:.0f} MiB of a {budget / 2 ** 20:.0f} MiB budget)")
    elif tile is not None:
        tile = int(tile)
        if tile < 1:
            raise ValueError(f"tile must be >= 1, 'auto' or None, got {tile}.")
    with row_writer(target)(target, w * s, h * s, channels, image.dtype) as out:
        for _, rows in iter_upscaled_rows(image, runner, tile, overlap, batch, blend):
            out.write_rows(rows)
    shape = (h * s, w * s) if image.ndim == 2 else (h * s, w * s, channels)
    return {"shape": shape, "tile": tile, "estimate_bytes": estimate}
