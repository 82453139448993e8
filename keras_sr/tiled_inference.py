"""Upscale whole images of any size: tiled inference, gray / RGBA / 16-bit / EXIF inputs.

`upscale(image, model, scale=None, tile=None, overlap=16)` runs an SR model on
an image array (or an image file) and returns the upscaled image in the same
layout and dtype:

* Tiling: the image is cut into `tile x tile` cores; each core is run with
  `overlap` extra LR pixels of real image context on every side (fewer only
  at the image border, where the whole image sees the same border). Outputs
  are blended with linear (feathered) weights across a band of `overlap`
  pixels centred on each seam (`blend="linear"`), or each tile keeps just its
  core (`blend="crop"`). When the context left at every kept pixel covers the
  model's receptive-field radius (`overlap // 2` for linear, `overlap` for
  crop) the result equals whole-image inference up to float rounding; memory
  is bounded by `batch` tiles of `(tile + 2 * overlap)^2` pixels. All windows have the same size (edge windows
  are shifted inward), so tiles of a `keras.Model` run `batch` at a time.
* Grayscale `(H, W)` / `(H, W, 1)`: upscaled as RGB (gray copied to R, G, B),
  returned as gray (mean of the output channels), same shape layout.
* RGBA / gray+alpha: color through the model, alpha by MATLAB bicubic
  (`keras_sr.imresize.imresize`), re-attached.
* uint8 -> uint8; uint16 (16-bit) -> uint16: values are scaled to [0, 255]
  float for the model and back to [0, 65535] (no 8-bit quantization between);
  float input is taken as [0, 255] and returned as unclipped float32.
* Files: `read_image(path)` keeps alpha and 16-bit gray and applies the EXIF
  orientation (the `keras_sr.image_io` convention); errors are `ImageError`
  naming the file.

`model` is a `keras.Model`, anything `keras_sr.upscalers.load_upscaler`
accepts ("bicubic", a registered name with `weights=`, a preset, a `.keras`
file, a SavedModel folder), or an `upscaler(lr, scale)` callable it returned.
"bicubic" here is MATLAB bicubic in float (no 8-bit rounding between passes,
so 16-bit inputs keep their precision).

Example:
    >>> sr = upscale(lr_uint8, "edsr_baseline_x4", tile=256)      # uint8 (4H, 4W, 3)
    >>> sr16 = upscale(read_image("scan16.png"), model, tile=128)  # uint16 stays uint16
    >>> sr = upscale("photo.jpg", "bicubic", scale=2)
"""

import os
import sys

import numpy as np

from keras_sr.fileio import atomic_path, atomic_write_bytes
from keras_sr.image_io import open_image, pil_to_rgb_array
from keras_sr.imresize import imresize
from keras_sr.models.loading import resolve_model
from keras_sr.upscalers import bicubic_upscaler, keras_predict, load_upscaler, model_scale


__all__ = ["upscale", "read_image", "write_image", "tile_windows"]


# --------------------------------------------------------------------------- files


def read_image(path):
    """Image file -> numpy array keeping what `upscale` handles: gray, alpha, 16-bit gray.

    EXIF orientation is applied. Returns uint8 `(H, W)`, `(H, W, 2)` (gray +
    alpha), `(H, W, 3)` or `(H, W, 4)`, or uint16 `(H, W)` for 16-bit gray.
    Other modes follow `keras_sr.image_io.load_image` (RGB uint8).
    """
    path = os.fspath(path)
    with open_image(path) as image:
        mode = image.mode
        if mode in ("I;16", "I;16B", "I;16L", "I;16N"):
            return np.asarray(image).astype(np.uint16)
        if mode == "I":
            array = np.asarray(image)
            if array.max(initial=0) > 255:
                return np.clip(array, 0, 65535).astype(np.uint16)
            return np.clip(array, 0, 255).astype(np.uint8)
        if mode == "L":
            return np.asarray(image, dtype=np.uint8)
        if mode == "1":
            return np.asarray(image.convert("L"), dtype=np.uint8)
        if mode == "LA":
            return np.asarray(image, dtype=np.uint8)
        if mode in ("RGBA", "PA", "P") and (mode != "P" or "transparency" in image.info):
            return np.asarray(image.convert("RGBA"), dtype=np.uint8)
        return pil_to_rgb_array(image, path)


def write_image(path, image):
    """Save an array from `upscale` as PNG (atomically): uint8 gray/LA/RGB/RGBA or uint16 gray.

    16-bit color images are written as 16-bit PNG by a small built-in encoder
    (Pillow cannot write them).
    """
    from PIL import Image

    array = np.asarray(image)
    if array.ndim == 3 and array.shape[-1] == 1:
        array = array[..., 0]
    if array.dtype == np.uint16 and array.ndim == 3:
        atomic_write_bytes(path, _png16_bytes(array))
        return
    pil = Image.fromarray(array if array.dtype == np.uint16 else array.astype(np.uint8))
    with atomic_path(path) as tmp:
        pil.save(tmp, format="PNG")


def _png16_bytes(array):
    """Minimal 16-bit PNG encoder for `(H, W, C)` uint16, C in 2 (gray+alpha), 3 or 4."""
    import struct
    import zlib

    h, w, c = array.shape
    color_type = {2: 4, 3: 2, 4: 6}[c]
    rows = np.ascontiguousarray(array.astype(">u2")).view(np.uint8).reshape(h, w * c * 2)
    raw = np.concatenate([np.zeros((h, 1), np.uint8), rows], axis=1).tobytes()  # filter 0 per row

    def chunk(kind, data):
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", w, h, 16, color_type, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw, 6)) + chunk(b"IEND", b"")


# --------------------------------------------------------------------------- tiling


def _axis_windows(length, tile, overlap):
    """[(window_start, window_stop, core_start, core_stop)] covering [0, length) on one axis."""
    size = min(tile + 2 * overlap, length)
    windows = []
    for core_start in range(0, length, tile):
        core_stop = min(core_start + tile, length)
        start = min(max(core_start - overlap, 0), length - size)
        windows.append((start, start + size, core_start, core_stop))
    return windows


def tile_windows(height, width, tile, overlap):
    """All `(window_rows, window_cols, core_rows, core_cols)` slices of a `height x width` image.

    Cores partition the image into `tile x tile` blocks; every window has the
    same size `min(tile + 2*overlap, side)` and holds its core with at least
    `overlap` pixels of context on each side that is not the image border.
    """
    if tile < 1 or overlap < 0:
        raise ValueError(f"tile must be >= 1 and overlap >= 0, got tile={tile}, overlap={overlap}.")
    out = []
    for r0, r1, cr0, cr1 in _axis_windows(height, tile, overlap):
        for c0, c1, cc0, cc1 in _axis_windows(width, tile, overlap):
            out.append((slice(r0, r1), slice(c0, c1), slice(cr0, cr1), slice(cc0, cc1)))
    return out


# --------------------------------------------------------------------------- models


class _Runner:
    """`run(list of (h, w, 3) float32 [0, 255]) -> list of (sh, sw, 3)` plus the model's `scale`."""

    def __init__(self, model, scale=None, weights=None):
        self.batched = None
        if isinstance(model, str) and model == "bicubic" and weights is None:  # no Keras needed
            if scale is None:
                raise ValueError("scale is required for bicubic (e.g. scale=4 / --scale 4).")
            self.upscaler, self.scale = _float_bicubic, int(scale)
            return
        if isinstance(model, (str, os.PathLike)) or _is_keras_model(model):
            built = resolve_model(model, scale=scale, weights=weights)  # None: a SavedModel folder
            if built is not None and int(built.input_shape[-1]) == 3:  # batch tiles of RGB Keras models
                self.batched = keras_predict(built)
                self.model = built  # the memory planner reads its layer shapes (keras_sr.streamed_upscale)
                self.scale = model_scale(self.batched, 3)
                if scale is not None and int(scale) != self.scale:
                    raise ValueError(f"{built.name} is an x{self.scale} model, asked for x{scale}.")
                return
            upscaler = load_upscaler(model if built is None else built, scale=scale)
            if built is not None:
                upscaler.label = os.fspath(model) if isinstance(model, (str, os.PathLike)) else built.name
        elif callable(model):
            upscaler = model
        else:
            raise TypeError(f"model must be a keras.Model, a model reference or an upscaler, got {type(model).__name__}.")
        if upscaler is bicubic_upscaler:
            upscaler = _float_bicubic
        self.upscaler = upscaler
        self.scale = getattr(upscaler, "scale", None)
        if self.scale is None:
            self.scale = scale
        elif scale is not None and int(scale) != int(self.scale):
            raise ValueError(f"{getattr(upscaler, 'label', 'model')} upscales x{self.scale}, asked for x{scale}.")
        if self.scale is None:
            raise ValueError("scale is required for this model (e.g. scale=4 / --scale 4).")
        self.scale = int(self.scale)

    def run(self, tiles, batch):
        if self.batched is None:
            return [np.asarray(self.upscaler(t, self.scale), np.float32) for t in tiles]
        outputs = []
        for i in range(0, len(tiles), batch):
            outputs.extend(np.asarray(self.batched(np.stack(tiles[i:i + batch])), np.float32))
        return outputs


def _is_keras_model(model):
    keras = sys.modules.get("keras")  # a keras.Model exists only once Keras is imported
    return keras is not None and isinstance(model, keras.Model)


def _float_bicubic(lr, scale):
    """MATLAB bicubic in float (no uint8 rounding between the passes)."""
    return imresize(np.asarray(lr, np.float64), scale)


def _ramp(window, core, length, feather, scale):
    """Per-HR-pixel weights of one window on one axis: 1 inside its core, linear across the seams."""
    x = window.start + (np.arange((window.stop - window.start) * scale) + 0.5) / scale  # LR coordinates
    if feather == 0:
        return ((x >= core.start) & (x < core.stop)).astype(np.float32)
    left = np.ones_like(x) if core.start == 0 else np.clip((x - core.start + feather) / (2 * feather), 0, 1)
    right = np.ones_like(x) if core.stop == length else np.clip((core.stop + feather - x) / (2 * feather), 0, 1)
    return (left * right).astype(np.float32)


def _upscale_rgb(rgb, runner, tile, overlap, batch, blend):
    """float32 (H, W, 3) in [0, 255] -> float32 (sH, sW, 3), whole or tiled."""
    h, w = rgb.shape[:2]
    s = runner.scale
    if tile is None or (h <= tile and w <= tile):
        return runner.run([rgb], 1)[0][..., :3]
    if blend not in ("linear", "crop"):
        raise ValueError(f"blend must be 'linear' or 'crop', got {blend!r}.")
    feather = overlap // 2 if blend == "linear" else 0
    windows = tile_windows(h, w, int(tile), int(overlap))
    out = np.zeros((h * s, w * s, 3), np.float32)
    total = np.zeros((h * s, w * s, 1), np.float32)
    for i in range(0, len(windows), batch):
        group = windows[i:i + batch]
        results = runner.run([rgb[wr, wc] for wr, wc, _, _ in group], batch)
        for (wr, wc, cr, cc), result in zip(group, results):
            weight = np.outer(_ramp(wr, cr, h, feather, s), _ramp(wc, cc, w, feather, s))[..., None]
            rows, cols = slice(wr.start * s, wr.stop * s), slice(wc.start * s, wc.stop * s)
            out[rows, cols] += result[..., :3] * weight
            total[rows, cols] += weight
    return out / total


def upscale(image, model, scale=None, tile=None, overlap=16, batch=4, weights=None, blend="linear"):
    """Upscale `image` with `model`; see the module docstring for inputs and tiling.

    Args:
        image: numpy array `(H, W)`, `(H, W, 1|2|3|4)` of uint8, uint16 or
            float ([0, 255]), or an image file path (read by `read_image`).
        model: `keras.Model`, a `load_upscaler` reference, or an upscaler.
        scale: the model's scale (checked), required for "bicubic".
        tile: LR tile side in pixels, or None for whole-image inference.
        overlap: LR context pixels around each tile.
        batch: tiles per model call (keras.Model inputs).
        blend: "linear" (default): neighbouring tiles are cross-faded over
            `overlap` LR pixels centred on their seam, so no seam shows even
            for models whose receptive field exceeds the overlap; exact
            (equal to whole-image output) when the receptive-field radius is
            at most `overlap - overlap // 2`. "crop": each tile keeps only its
            core; exact when the radius is at most `overlap`.
        weights: `.weights.h5` for a registered model name.

    Returns:
        The upscaled image, same channel layout and dtype as the input (float
        input -> float32).
    """
    if isinstance(image, (str, os.PathLike)):
        image = read_image(image)
    image = np.asarray(image)
    if image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[-1] not in (1, 2, 3, 4)):
        raise ValueError(f"upscale expects (H, W) or (H, W, 1|2|3|4), got shape {image.shape}.")
    if image.dtype == np.uint8:
        peak = 255.0
    elif image.dtype == np.uint16:
        peak = 65535.0
    elif np.issubdtype(image.dtype, np.floating):
        peak = None
    else:
        raise TypeError(f"upscale supports uint8, uint16 and float images, got {image.dtype}.")
    runner = model if isinstance(model, _Runner) else _Runner(model, scale=scale, weights=weights)

    channels = 1 if image.ndim == 2 else image.shape[-1]
    x = image.astype(np.float32).reshape(image.shape[0], image.shape[1], channels)
    if peak is not None:
        x = x * np.float32(255.0 / peak)
    color, alpha = (x[..., :-1], x[..., -1]) if channels in (2, 4) else (x, None)
    gray = color.shape[-1] == 1
    rgb = np.repeat(color, 3, axis=-1) if gray else color
    out = _upscale_rgb(np.ascontiguousarray(rgb), runner, tile, overlap, max(1, int(batch)), blend)
    if gray:
        out = out.mean(axis=-1, keepdims=True)
    if alpha is not None:
        up_alpha = imresize(alpha.astype(np.float64), runner.scale).astype(np.float32)
        out = np.concatenate([out, up_alpha[..., None]], axis=-1)
    if image.ndim == 2:
        out = out[..., 0]
    if peak is None:
        return out.astype(np.float32)
    out = np.clip(out.astype(np.float64) * (peak / 255.0), 0.0, peak)
    return np.floor(out + 0.5).astype(image.dtype)
