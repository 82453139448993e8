"""RGB <-> YCbCr exactly as MATLAB's `rgb2ycbcr` / `ycbcr2rgb` (ITU-R BT.601).

Studio swing: Y in [16, 235] and Cb, Cr in [16, 240] for 8-bit data. This is
the color conversion behind every "PSNR on Y" number in the SR literature.
We implement it here instead of depending on tensorflow-io (whose compiled
ops no longer load on current TensorFlow).

MATLAB's class rules are kept: uint8 in -> uint8 out (rounded half away from
zero, saturated); float in [0, 1] -> float in [0, 1].

Example:
    >>> ycc = rgb2ycbcr(rgb_uint8)            # uint8, Y in [16, 235]
    >>> rgb = ycbcr2rgb(ycc)                  # back, within one level
    >>> y = rgb_to_y(rgb_uint8)               # float64 Y in [16, 235]
"""

import numpy as np

__all__ = ["rgb2ycbcr", "ycbcr2rgb", "rgb_to_y", "rgb_to_y_ops", "rgb_to_ycbcr_ops", "ycbcr_to_rgb_ops", "YCBCR_MATRIX", "YCBCR_OFFSET"]

# Rows: Y, Cb, Cr. Applied to RGB in [0, 255], divided by 255 (MATLAB's T).
YCBCR_MATRIX = np.array(
    [
        [65.481, 128.553, 24.966],
        [-37.797, -74.203, 112.0],
        [112.0, -93.786, -18.214],
    ]
)
YCBCR_OFFSET = np.array([16.0, 128.0, 128.0])


def _to_unit(img):
    img = np.asarray(img)
    if img.ndim < 1 or img.shape[-1] != 3:
        raise ValueError(f"Expected a trailing channel axis of size 3, got shape {img.shape}.")
    if img.dtype == np.uint8:
        return img.astype(np.float64) / 255.0, True
    if np.issubdtype(img.dtype, np.floating):
        return img.astype(np.float64), False
    raise TypeError(f"Expected uint8 or float image, got {img.dtype}.")


def _from_unit(x, as_uint8):
    if as_uint8:
        return np.floor(np.clip(x * 255.0, 0.0, 255.0) + 0.5).astype(np.uint8)
    return x


def rgb2ycbcr(img):
    """MATLAB `rgb2ycbcr`: uint8 -> uint8, float [0, 1] -> float [0, 1]."""
    unit, as_uint8 = _to_unit(img)
    # MATLAB: ycbcr = offset + T * rgb, with rgb in [0, 1] and T / 255 per level.
    ycc = (unit @ YCBCR_MATRIX.T + YCBCR_OFFSET) / 255.0
    return _from_unit(ycc, as_uint8)


def ycbcr2rgb(img):
    """MATLAB `ycbcr2rgb`, the inverse of `rgb2ycbcr` (same class rules)."""
    unit, as_uint8 = _to_unit(img)
    inverse = np.linalg.inv(YCBCR_MATRIX) * 255.0
    rgb = (unit * 255.0 - YCBCR_OFFSET) @ inverse.T / 255.0
    return _from_unit(rgb, as_uint8)


def rgb_to_y(img):
    """Luma Y in [16, 235] as float64, from RGB uint8 or float in [0, 255].

    No rounding: PSNR/SSIM on Y are computed on this float channel (BasicSR,
    and MATLAB's `rgb2ycbcr(im2double(x)) * 255`).
    """
    img = np.asarray(img)
    if img.shape[-1] != 3:
        raise ValueError(f"Expected RGB with a trailing axis of 3, got shape {img.shape}.")
    return img.astype(np.float64) @ YCBCR_MATRIX[0] / 255.0 + YCBCR_OFFSET[0]


def rgb_to_y_ops(x):
    """`rgb_to_y` for `keras.ops` tensors `(..., 3)` in [0, 255]; keeps a channel axis."""
    from keras import ops

    weights = ops.convert_to_tensor((YCBCR_MATRIX[0] / 255.0).astype("float32"))
    x = ops.cast(x, "float32")
    return ops.sum(x * weights, axis=-1, keepdims=True) + YCBCR_OFFSET[0]


def rgb_to_ycbcr_ops(rgb):
    """MATLAB `rgb2ycbcr` (BT.601, `keras_sr.color`) for `keras.ops` tensors `(..., 3)` in [0, 255].

    Returns float32 YCbCr in 0-255 units (Y in [16, 235]), not rounded, as
    `keras_sr.color.rgb2ycbcr(rgb / 255) * 255`.
    """
    from keras import ops

    matrix = ops.convert_to_tensor((YCBCR_MATRIX.T / 255.0).astype("float32"))
    return ops.matmul(ops.cast(rgb, "float32"), matrix) + ops.convert_to_tensor(YCBCR_OFFSET.astype("float32"))


def ycbcr_to_rgb_ops(ycbcr):
    """MATLAB `ycbcr2rgb` (`keras_sr.color`) for `keras.ops` tensors `(..., 3)` in 0-255 units; not clipped."""
    from keras import ops

    inverse = ops.convert_to_tensor((np.linalg.inv(YCBCR_MATRIX) * 255.0).T.astype("float32"))
    return ops.matmul(ops.cast(ycbcr, "float32") - ops.convert_to_tensor(YCBCR_OFFSET.astype("float32")), inverse)
