"""JPEG compression for the degradation pipeline: exact (Pillow, host) and an emulation in keras.ops (device).

Real-ESRGAN (Wang et al., ICCVW 2021, Sec. 3.1 "JPEG compression") compresses
at a random quality in [30, 95] twice. The official code runs BasicSR's
`DiffJPEG(differentiable=False)` on the GPU (`basicsr/utils/diffjpeg.py`, from
mlomnitz/DiffJPEG), which differs from a real encoder (its docstring: "slightly
different from cv2"): un-rounded, unclamped quantization tables, zero padding,
nearest-neighbour chroma upsampling. keras-sr offers two:

* `pillow_jpeg(image, quality)` (host, numpy/Pillow): a real encode and decode
  by Pillow's libjpeg at the integer quality: exact by construction. The
  PyDataset / tf.data degradation path uses it.
* `jpeg_emulation(images, quality)` (device, keras.ops, not differentiable:
  rounds): libjpeg's baseline pipeline re-implemented on a batch with one
  quality per image: 8-bit RGB -> YCbCr (JFIF, rounded) -> 4:2:0 by 2x2
  averaging with libjpeg's alternating rounding bias -> level shift, 8x8 DCT,
  quantization by the IJG tables scaled as `jpeg_set_quality` does
  (`5000 / q` below 50, `200 - 2 q` above; `(t s + 50) // 100` clipped to
  [1, 255]) -> dequantization, inverse DCT, 8-bit clamp -> "fancy" triangle
  chroma upsampling (3/4, 1/4 weights, libjpeg's `h2v2_fancy_upsample`
  rounding) -> RGB. Partial blocks are filled by repeating the last row and
  column, as libjpeg does. What differs from libjpeg: floating-point DCTs
  instead of its scaled-integer `JDCT_ISLOW` ones, so a few coefficients
  round the other way; the test measures
  the difference to Pillow at the same quality (`tests/test_realesrgan.py`).

Quality is rounded to an integer in both (the official draws a float in
[30, 95]; libjpeg takes an integer).

Example:
    >>> out = pillow_jpeg(image_uint8, 50)                            # uint8, as Pillow decodes it
    >>> out = jpeg_emulation(batch_0_255, keras.ops.convert_to_tensor([30.0, 95.0]))   # float, integer levels
    >>> quant_tables(50)[0][0, 0]                                      # 16
"""

import io

import numpy as np

__all__ = ["LUMA_TABLE", "CHROMA_TABLE", "quant_tables", "pillow_jpeg", "jpeg_emulation", "dct_matrix"]

# ITU T.81 Annex K tables K.1 / K.2 (row = vertical frequency), the IJG defaults.
LUMA_TABLE = np.array([
    [16, 11, 10, 16, 24, 40, 51, 61], [12, 12, 14, 19, 26, 58, 60, 55], [14, 13, 16, 24, 40, 57, 69, 56],
    [14, 17, 22, 29, 51, 87, 80, 62], [18, 22, 37, 56, 68, 109, 103, 77], [24, 35, 55, 64, 81, 104, 113, 92],
    [49, 64, 78, 87, 103, 121, 120, 101], [72, 92, 95, 98, 112, 100, 103, 99]], np.float32)
CHROMA_TABLE = np.full((8, 8), 99, np.float32)
CHROMA_TABLE[:4, :4] = [[17, 18, 24, 47], [18, 21, 26, 66], [24, 26, 56, 99], [47, 66, 99, 99]]


def _quality_scale(quality):
    q = np.clip(np.round(np.asarray(quality, np.float64)), 1, 100)
    return np.where(q < 50, np.floor(5000 / q), 200 - 2 * q)


def quant_tables(quality):
    """`(luma, chroma)` 8x8 tables of libjpeg's `jpeg_set_quality(quality, force_baseline=TRUE)`."""
    scale = _quality_scale(quality)
    return tuple(np.clip(np.floor((t * scale + 50) / 100), 1, 255).astype(np.float32)
                 for t in (LUMA_TABLE, CHROMA_TABLE))


def pillow_jpeg(image, quality):
    """Encode `image` (uint8 `(H, W, 3)`) as JPEG at integer `quality` with Pillow and decode it (uint8)."""
    from PIL import Image  # Pillow: where it is used

    buffer = io.BytesIO()
    Image.fromarray(np.asarray(image, np.uint8)).save(buffer, format="JPEG", quality=int(round(float(quality))))
    buffer.seek(0)
    with Image.open(buffer) as decoded:
        return np.asarray(decoded.convert("RGB"))


def dct_matrix():
    """The 8x8 JPEG DCT matrix `D[u, x] = C(u) / 2 cos((2x + 1) u pi / 16)`: `F = D f D^T`, `f = D^T F D`."""
    u = np.arange(8)[:, None]
    x = np.arange(8)[None, :]
    d = 0.5 * np.cos((2 * x + 1) * u * np.pi / 16)
    d[0] *= 1 / np.sqrt(2)
    return d.astype(np.float32)


# keras.ops emulation -------------------------------------------------------------------------------------------


def _edge_extend(x, axis, size):
    from keras import ops

    n = x.shape[axis]
    if size == n:
        return x
    return ops.take(x, np.minimum(np.arange(size), n - 1).astype("int32"), axis=axis)


def _blocks(x):
    """`(B, H, W)` -> `(B, H/8, W/8, 8, 8)`."""
    from keras import ops

    b, h, w = x.shape
    x = ops.reshape(x, (-1, h // 8, 8, w // 8, 8))
    return ops.transpose(x, (0, 1, 3, 2, 4))


def _unblocks(x):
    from keras import ops

    _, nh, nw, _, _ = x.shape
    x = ops.transpose(x, (0, 1, 3, 2, 4))
    return ops.reshape(x, (-1, nh * 8, nw * 8))


def _code_plane(plane, table):
    """Level shift, DCT, quantize by `table` (B, 8, 8), dequantize, inverse DCT, clamp: an 8-bit plane again."""
    from keras import ops

    d = ops.convert_to_tensor(dct_matrix())
    blocks = _blocks(plane - 128.0)
    coeffs = ops.einsum("ux,bijxy,vy->bijuv", d, blocks, d)
    table = table[:, None, None]
    coeffs = ops.sign(coeffs) * ops.floor(ops.abs(coeffs) / table + 0.5) * table  # libjpeg: half away from 0
    pixels = ops.einsum("ux,bijuv,vy->bijxy", d, coeffs, d)
    return ops.clip(ops.floor(_unblocks(pixels) + 128.5), 0.0, 255.0)  # libjpeg's IDCT rounds halves up


def _downsample(c):
    """libjpeg `h2v2_downsample`: `(sum of 2x2 + bias) >> 2` with bias 1, 2, 1, 2, ... along a row."""
    from keras import ops

    b, h, w = c.shape
    s = ops.sum(ops.reshape(c, (-1, h // 2, 2, w // 2, 2)), axis=(2, 4))
    bias = ops.convert_to_tensor(np.tile([1.0, 2.0], w // 4 + 1)[: w // 2].astype(np.float32))
    return ops.floor((s + bias) / 4.0)


def _fancy_upsample(c):
    """libjpeg `h2v2_fancy_upsample`: triangle filter, `(3 a + b)` vertically, then `(3 s + t + 8 | 7) >> 4`."""
    from keras import ops

    _, h, w = c.shape
    up = ops.take(c, np.maximum(np.arange(h) - 1, 0).astype("int32"), axis=1)
    down = ops.take(c, np.minimum(np.arange(h) + 1, h - 1).astype("int32"), axis=1)
    rows = ops.reshape(ops.stack([3 * c + up, 3 * c + down], axis=2), (-1, 2 * h, w))  # column sums
    left = ops.take(rows, np.maximum(np.arange(w) - 1, 0).astype("int32"), axis=2)
    right = ops.take(rows, np.minimum(np.arange(w) + 1, w - 1).astype("int32"), axis=2)
    even = ops.floor((3 * rows + left + 8) / 16)
    odd = ops.floor((3 * rows + right + 7) / 16)
    # The first and last output columns use the column sum alone: (4 s + 8) >> 4 and (4 s + 7) >> 4.
    even = ops.concatenate([ops.floor((4 * rows[:, :, :1] + 8) / 16), even[:, :, 1:]], axis=2)
    odd = ops.concatenate([odd[:, :, :-1], ops.floor((4 * rows[:, :, -1:] + 7) / 16)], axis=2)
    return ops.reshape(ops.stack([even, odd], axis=3), (-1, 2 * h, 2 * w))


def jpeg_emulation(images, quality):
    """libjpeg-style baseline JPEG (4:2:0) of `images` `(B, H, W, 3)` in [0, 255] at per-image `quality` `(B,)`.

    Static shapes (runs inside compiled steps); returns float32 integer levels in [0, 255] of the input size.
    """
    from keras import ops

    x = ops.clip(ops.round(ops.cast(images, "float32")), 0.0, 255.0)
    _, h, w, _ = x.shape
    hp, wp = -(-h // 16) * 16, -(-w // 16) * 16
    x = _edge_extend(_edge_extend(x, 1, hp), 2, wp)
    r, g, b = x[..., 0], x[..., 1], x[..., 2]
    # libjpeg's fixed-point rounding: Y halves up, Cb / Cr halves down (its `ONE_HALF - 1`)
    y = ops.floor(0.299 * r + 0.587 * g + 0.114 * b + 0.5)
    cb = ops.ceil(-0.168735892 * r - 0.331264108 * g + 0.5 * b + 127.5)
    cr = ops.ceil(0.5 * r - 0.418687589 * g - 0.081312411 * b + 127.5)
    q = ops.clip(ops.round(ops.cast(quality, "float32")), 1.0, 100.0)
    scale = ops.where(q < 50, ops.floor(5000.0 / q), 200.0 - 2.0 * q)[:, None, None]
    luma = ops.clip(ops.floor((ops.convert_to_tensor(LUMA_TABLE) * scale + 50.0) / 100.0), 1.0, 255.0)
    chroma = ops.clip(ops.floor((ops.convert_to_tensor(CHROMA_TABLE) * scale + 50.0) / 100.0), 1.0, 255.0)
    y = _code_plane(y, luma)
    cb = _fancy_upsample(_code_plane(_downsample(cb), chroma)) - 128.0
    cr = _fancy_upsample(_code_plane(_downsample(cr), chroma)) - 128.0
    rgb = ops.stack([y + 1.402 * cr, y - 0.344136286 * cb - 0.714136286 * cr, y + 1.772 * cb], axis=-1)
    return ops.clip(ops.floor(rgb + 0.5), 0.0, 255.0)[:, :h, :w]
