"""Resizing as matrices: PyTorch `F.interpolate` (area, bilinear, bicubic; `align_corners=False`) in numpy.

The official Real-ESRGAN pipeline resizes with `torch.nn.functional.interpolate`
(xinntao/Real-ESRGAN `realesrgan/models/realesrgan_model.py`, `feed_data`):
"area" (adaptive average pooling), "bilinear" and "bicubic" (Keys' cubic
with `a = -0.75`), no antialiasing, half-pixel centres. A separable resize is
`out = R_h @ x @ R_w^T`; `resize_matrix` builds `R` for one axis, so the host
(numpy) and device (keras.ops) paths resize identically on every backend:
the device path multiplies by the same matrices.

Sampling positions follow PyTorch: `src = s (dst + 0.5) - 0.5` with
`s = in / out`, or `s = 1 / scale_factor` when the size came from a scale
factor (`F.interpolate(x, scale_factor=f)`, the first stage's resize:
the output size is `floor(in * f)`); bilinear clamps negative `src` to 0;
bicubic clamps the tap indices to the border.

`canvas_out` / `canvas_in` embed the matrix in a larger fixed shape (the
device path's static canvas): columns past `in_size` are zero and rows past
`out_size` repeat the last row (the edge extension JPEG encoders apply to a
partial block).

Example:
    >>> r = resize_matrix(100, 60, "bicubic")               # (60, 100)
    >>> out = apply_resize(image, resize_matrix(h, 60, "area"), resize_matrix(w, 80, "area"))
    >>> scaled_size(400, 0.37)                               # 148: floor(400 * 0.37)
"""

import math

import numpy as np

__all__ = ["RESIZE_MODES", "resize_matrix", "apply_resize", "scaled_size"]

RESIZE_MODES = ("area", "bilinear", "bicubic")
_CUBIC_A = -0.75  # PyTorch's bicubic


def scaled_size(size, factor):
    """PyTorch's output size for `scale_factor=factor`: `floor(size * factor)` (at least 1)."""
    return max(1, int(math.floor(float(size) * float(factor))))


def _cubic(t):
    a = _CUBIC_A
    t = np.abs(t)
    return np.where(t <= 1, ((a + 2) * t - (a + 3)) * t * t + 1,
                    np.where(t < 2, ((a * t - 5 * a) * t + 8 * a) * t - 4 * a, 0.0))


def resize_matrix(in_size, out_size, mode, scale=None, canvas_out=None, canvas_in=None):
    """`(canvas_out or out_size, canvas_in or in_size)` float32 matrix resizing one axis as `F.interpolate`.

    `scale`: the input/output coordinate ratio (default `in_size / out_size`; `1 / scale_factor` for a resize
    given by a scale factor).
    """
    n_in, n_out = int(in_size), int(out_size)
    if mode not in RESIZE_MODES:
        raise ValueError(f"resize mode must be one of {RESIZE_MODES}, got {mode!r}.")
    matrix = np.zeros((n_out, n_in), np.float64)
    rows = np.arange(n_out)
    if mode == "area":  # adaptive average pooling
        starts = np.floor(rows * n_in / n_out).astype(int)
        ends = np.ceil((rows + 1) * n_in / n_out).astype(int)
        for i, (a, b) in enumerate(zip(starts, ends)):
            matrix[i, a:b] = 1.0 / (b - a)
    else:
        s = n_in / n_out if scale is None else float(scale)
        src = s * (rows + 0.5) - 0.5
        if mode == "bilinear":
            src = np.maximum(src, 0.0)
            i0 = np.floor(src).astype(int)
            frac = src - i0
            i0 = np.minimum(i0, n_in - 1)
            i1 = np.minimum(i0 + 1, n_in - 1)
            np.add.at(matrix, (rows, i0), 1.0 - frac)
            np.add.at(matrix, (rows, i1), frac)
        else:
            i0 = np.floor(src).astype(int)
            frac = src - i0
            for tap in (-1, 0, 1, 2):
                index = np.clip(i0 + tap, 0, n_in - 1)
                np.add.at(matrix, (rows, index), _cubic(frac - tap))
    if canvas_out is not None or canvas_in is not None:
        co, ci = int(canvas_out or n_out), int(canvas_in or n_in)
        if co < n_out or ci < n_in:
            raise ValueError(f"canvas {co}x{ci} is smaller than the resize {n_out}x{n_in}.")
        full = np.zeros((co, ci), np.float64)
        full[:n_out, :n_in] = matrix
        full[n_out:, :n_in] = matrix[-1]
        matrix = full
    return matrix.astype(np.float32)


def apply_resize(images, rows, cols):
    """`rows @ x @ cols^T` on `(H, W, C)` or `(B, H, W, C)` float arrays (numpy)."""
    x = np.asarray(images, np.float32)
    if x.ndim == 3:
        return np.einsum("oh,hwc,pw->opc", rows, x, cols, optimize=True)
    return np.einsum("oh,bhwc,pw->bopc", rows, x, cols, optimize=True)
