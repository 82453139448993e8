"""Continuous-coordinate helpers of the arbitrary-scale models (LIIF, Meta-SR), `keras.ops` only.

Coordinates follow LIIF (Chen, Liu, Wang, "Learning Continuous Image
Representation with Local Implicit Image Function", CVPR 2021;
yinboc/liif `utils.make_coord`): an image of `n` pixels along an axis spans
[-1, 1], pixel `i` has its centre at `-1 + (2 i + 1) / n`, and a query's
`coord[..., 0]` is the row (y) and `coord[..., 1]` the column (x). A query's
`cell` is the size of one output pixel in the same units (`2 / H`, `2 / W`).

* `make_coord(h, w)`: the pixel centres of an `h x w` grid, `(h * w, 2)`, numpy (the upscalers
  and data pipelines use it); `make_cell(h, w, n)` the matching cells.
* `nearest_index(coord, n)`: the index of the pixel whose cell contains `coord`, as
  `F.grid_sample(mode="nearest", align_corners=False)` picks it (see its docstring for the tie rule).
* `gather_pixels(feat, iy, ix)`: `feat[b, iy[b, q], ix[b, q]]`, `(B, Q, C)`, for dynamic sizes.
* `unfold_3x3(feat)`: each pixel's 3 x 3 neighbourhood (zero padded) stacked on channels in
  `F.unfold` order (channel-major: `c * 9 + ky * 3 + kx`), `(B, H, W, 9 C)`.

Example:
    >>> coord = make_coord(4, 6)[None]                      # (1, 24, 2) pixel centres
    >>> iy = nearest_index(keras.ops.convert_to_tensor(coord[..., 0]), 4)
    >>> patches = unfold_3x3(keras.ops.ones((1, 4, 6, 8)))  # (1, 4, 6, 72)
"""

import numpy as np
from keras import ops

__all__ = ["make_coord", "make_cell", "nearest_index", "pixel_center", "gather_pixels", "unfold_3x3"]


def make_coord(h, w, dtype=np.float32):
    """Pixel centres of an `h x w` image in [-1, 1], row-major, `(h * w, 2)` as `(y, x)`."""
    h, w = int(h), int(w)
    if h < 1 or w < 1:
        raise ValueError(f"make_coord needs a positive size, got {h}x{w}.")
    ys = -1.0 + (2.0 * np.arange(h, dtype=np.float64) + 1.0) / h
    xs = -1.0 + (2.0 * np.arange(w, dtype=np.float64) + 1.0) / w
    grid = np.stack(np.meshgrid(ys, xs, indexing="ij"), axis=-1)
    return grid.reshape(-1, 2).astype(dtype)


def make_cell(h, w, n=None, dtype=np.float32):
    """The cell of every query of an `h x w` output: `(n, 2)` rows of `(2 / h, 2 / w)` (`n = h * w` by default)."""
    n = int(h) * int(w) if n is None else int(n)
    return np.tile(np.asarray([[2.0 / int(h), 2.0 / int(w)]], dtype), (n, 1))


def nearest_index(coord, n):
    """Index of the pixel (of `n` along the axis) whose cell holds `coord` in [-1, 1], clipped to `[0, n - 1]`.

    `F.grid_sample(nearest, align_corners=False)`'s rule exactly: `((c + 1) n - 1) / 2` rounded to the
    nearest integer, half to even, so a query exactly on a cell border (LIIF without its local
    ensemble, whose 1e-6 shift keeps the ensemble's queries off the borders: an odd output size over
    an even input size puts the middle query on one) takes the pixel the official code takes.
    """
    n_float = ops.cast(n, coord.dtype)
    index = ops.round(((coord + 1.0) * n_float - 1.0) * 0.5)
    index = ops.clip(index, 0.0, n_float - 1.0)
    return ops.cast(index, "int32")


def pixel_center(index, n, dtype="float32"):
    """The coordinate of pixel `index`'s centre on an axis of `n` pixels: `-1 + (2 index + 1) / n`."""
    return -1.0 + (2.0 * ops.cast(index, dtype) + 1.0) / ops.cast(n, dtype)


def gather_pixels(feat, iy, ix):
    """`feat[b, iy[b, q], ix[b, q], :]` for `feat (B, H, W, C)`, integer `iy, ix (B, Q)`: `(B, Q, C)`."""
    shape = ops.shape(feat)
    batch, h, w, c = shape[0], shape[1], shape[2], shape[3]
    flat = ops.reshape(feat, (-1, c))
    offsets = ops.arange(batch, dtype="int32")[:, None] * (h * w)
    index = offsets + iy * w + ix
    return ops.reshape(ops.take(flat, ops.reshape(index, (-1,)), axis=0), (batch, -1, c))


def unfold_3x3(feat):
    """The zero-padded 3 x 3 neighbourhood of every pixel on channels, in `F.unfold` order: `(B, H, W, 9 C)`."""
    shape = ops.shape(feat)
    h, w = shape[1], shape[2]
    padded = ops.pad(feat, ((0, 0), (1, 1), (1, 1), (0, 0)))
    shifted = [padded[:, dy:dy + h, dx:dx + w, :] for dy in range(3) for dx in range(3)]
    stacked = ops.stack(shifted, axis=-1)  # (B, H, W, C, 9): channel-major as F.unfold
    return ops.reshape(stacked, (shape[0], h, w, -1))
