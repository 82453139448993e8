"""MATLAB-faithful bicubic `imresize`, in numpy and in `keras.ops`.

The SR literature makes low-resolution images with MATLAB's
`imresize(img, 1/s, 'bicubic')`, which antialiases when shrinking (the cubic
kernel is widened by `1/scale`) and mirrors the image at its borders. This
module reproduces it exactly (the weight and index rules of MATLAB's
`imresize.m`, as BasicSR's `matlab_functions.py` also ports them), vectorized
as two dense separable weight matrices: `out = W_h @ img @ W_w^T`.

Two entry points share one weight builder:

* `imresize(img, scale)`: numpy. float input -> float64 output (no clipping);
  uint8 input -> uint8 output rounded and saturated after each pass, as
  MATLAB's `imresizemex` does for uint8 images.
* `imresize_ops(x, scale)`: `keras.ops`, for tensors (batched NHWC or a single
  HWC image) on any backend; differentiable, no rounding. With the TensorFlow
  backend it also runs inside `tf.data` with dynamic image sizes.

Example:
    >>> hr = np.random.default_rng(0).integers(0, 256, (96, 96, 3), np.uint8)
    >>> lr = imresize(hr, 1 / 4)            # (24, 24, 3) uint8, as MATLAB
    >>> up = imresize(lr, 4)                # bicubic baseline, (96, 96, 3)
"""

import math

import numpy as np

__all__ = ["imresize", "imresize_ops", "output_length", "resize_weights"]

_KERNEL_WIDTH = 4.0  # the cubic kernel's support, [-2, 2]


def _cast(xp, value, dtype):
    """`value` as `dtype` for numpy or keras.ops."""
    return value.astype(dtype) if xp is np else xp.cast(value, dtype)


def _cubic(x, xp):
    """Keys' cubic convolution kernel with a = -0.5 (MATLAB's 'bicubic')."""
    absx = xp.abs(x)
    absx2 = absx * absx
    absx3 = absx2 * absx
    inner = (1.5 * absx3 - 2.5 * absx2 + 1.0) * _cast(xp, absx <= 1.0, x.dtype)
    outer = (-0.5 * absx3 + 2.5 * absx2 - 4.0 * absx + 2.0) * _cast(
        xp, (absx > 1.0) & (absx <= 2.0), x.dtype)
    return inner + outer


def output_length(in_length, scale):
    """MATLAB's output size rule: `ceil(scale * in_length)`."""
    return int(math.ceil(scale * in_length))


def _taps(in_length, out_length, scale, antialias, xp, dtype):
    """Per-output-pixel source indices (0-based, mirrored) and weights.

    Returns `(indices, weights)`, each `(out_length, P)`.
    """
    kernel_width = _KERNEL_WIDTH
    shrink = scale < 1 and antialias
    if shrink:
        kernel_width = kernel_width / scale
    p = int(math.ceil(kernel_width)) + 2
    x = _cast(xp, xp.arange(1, out_length + 1), dtype)
    # Centre of output pixel x in input coordinates (1-based, MATLAB).
    u = x / scale + 0.5 * (1.0 - 1.0 / scale)
    left = xp.floor(u - kernel_width / 2.0)
    offsets = _cast(xp, xp.arange(p), dtype)
    indices = left[:, None] + offsets[None, :]  # 1-based
    distance = u[:, None] - indices
    if shrink:
        weights = scale * _cubic(distance * scale, xp)
    else:
        weights = _cubic(distance, xp)
    weights = weights / xp.sum(weights, axis=1, keepdims=True)
    # MATLAB's symmetric border: aux = [1:n, n:-1:1]; idx = aux(mod(i-1, 2n)+1).
    zero_based = indices - 1.0
    in_length = float(in_length) if xp is np else xp.cast(in_length, dtype)
    period = 2.0 * in_length
    m = zero_based - period * xp.floor(zero_based / period)
    mirrored = xp.where(m < in_length, m, period - 1.0 - m)
    return mirrored, weights


def resize_weights(in_length, out_length, scale, antialias=True, xp=np, dtype=None):
    """Dense `(out_length, in_length)` matrix `W` with `out = W @ in`.

    `xp` is `numpy` (default) or `keras.ops`; with `keras.ops` the lengths may
    be symbolic only on the TensorFlow backend.
    """
    if xp is np:
        dtype = dtype or np.float64
        idx, w = _taps(in_length, out_length, scale, antialias, np, dtype)
        matrix = np.zeros((out_length, in_length), dtype)
        rows = np.broadcast_to(np.arange(out_length)[:, None], idx.shape)
        # Taps that mirror onto the same source pixel accumulate, as in MATLAB.
        np.add.at(matrix, (rows, idx.astype(np.int64)), w)
        return matrix
    dtype = dtype or "float32"
    idx, w = _taps(in_length, out_length, scale, antialias, xp, dtype)
    columns = _cast(xp, xp.arange(in_length), dtype)
    hits = _cast(xp, xp.equal(idx[:, :, None], columns[None, None, :]), dtype)
    return xp.sum(w[:, :, None] * hits, axis=1)


def _check_scale(scale, output_shape, in_shape):
    if output_shape is not None:
        out_h, out_w = int(output_shape[0]), int(output_shape[1])
        if scale is None:
            return out_h / in_shape[0], out_w / in_shape[1], out_h, out_w
        raise ValueError("Give `scale` or `output_shape`, not both.")
    if scale is None or scale <= 0:
        raise ValueError(f"`scale` must be a positive number, got {scale!r}.")
    return scale, scale, output_length(in_shape[0], scale), output_length(in_shape[1], scale)


def _round_uint8(x):
    """MATLAB's uint8 conversion: saturate, then round half away from zero."""
    return np.floor(np.clip(x, 0.0, 255.0) + 0.5).astype(np.uint8)


def imresize(img, scale=None, output_shape=None, antialias=True):
    """Resize an image exactly as MATLAB's `imresize(img, scale, 'bicubic')`.

    Args:
        img: `(H, W)` or `(H, W, C)` numpy array, uint8 or float.
        scale: resize factor (`1/4` to shrink by four, `4` to enlarge).
        output_shape: `(out_h, out_w)` instead of `scale`.
        antialias: widen the kernel when shrinking (MATLAB's default).

    Returns:
        uint8 for uint8 input (rounded after each pass, like MATLAB), else
        float64. Rows are resized first, then columns, as MATLAB does for
        equal scales.
    """
    img = np.asarray(img)
    if img.ndim not in (2, 3):
        raise ValueError(f"imresize expects (H, W) or (H, W, C), got shape {img.shape}.")
    is_uint8 = img.dtype == np.uint8
    if img.dtype not in (np.uint8,) and not np.issubdtype(img.dtype, np.floating):
        raise TypeError(f"imresize supports uint8 and float images, got {img.dtype}.")
    h, w = img.shape[:2]
    scale_h, scale_w, out_h, out_w = _check_scale(scale, output_shape, (h, w))
    x = img.astype(np.float64)
    w_h = resize_weights(h, out_h, scale_h, antialias)
    x = np.tensordot(w_h, x, axes=(1, 0))  # (out_h, W, C)
    if is_uint8:
        x = _round_uint8(x).astype(np.float64)
    w_w = resize_weights(w, out_w, scale_w, antialias)
    x = np.tensordot(w_w, x, axes=(1, 1))  # (out_w, out_h, C)
    x = np.swapaxes(x, 0, 1)
    return _round_uint8(x) if is_uint8 else x


def imresize_ops(x, scale, antialias=True):
    """`imresize` for `keras.ops` tensors: `(H, W, C)` or `(N, H, W, C)`.

    Float in, float out (no rounding), differentiable; the result equals the
    float64 numpy `imresize` up to float32 precision.

    Example:
        >>> hr = keras.random.uniform((2, 64, 64, 3)) * 255
        >>> lr = imresize_ops(hr, 1 / 2)    # (2, 32, 32, 3)
    """
    from keras import ops

    x = ops.convert_to_tensor(x)
    if "float" not in str(x.dtype):
        x = ops.cast(x, "float32")
    batched = len(x.shape) == 4
    if not batched:
        x = x[None]
    shape = ops.shape(x)
    h, w = shape[1], shape[2]
    static = isinstance(h, int) and isinstance(w, int)
    if static:
        out_h, out_w = output_length(h, scale), output_length(w, scale)
        w_h = ops.convert_to_tensor(resize_weights(h, out_h, scale, antialias).astype("float32"))
        w_w = ops.convert_to_tensor(resize_weights(w, out_w, scale, antialias).astype("float32"))
    else:  # symbolic sizes (tf.data with the TensorFlow backend)
        out_h = ops.cast(ops.ceil(ops.cast(h, "float64") * scale), "int32")
        out_w = ops.cast(ops.ceil(ops.cast(w, "float64") * scale), "int32")
        w_h = resize_weights(h, out_h, scale, antialias, xp=ops)
        w_w = resize_weights(w, out_w, scale, antialias, xp=ops)
    w_h = ops.cast(w_h, x.dtype)
    w_w = ops.cast(w_w, x.dtype)
    y = ops.einsum("oh,nhwc->nowc", w_h, x)
    y = ops.einsum("pw,nowc->nopc", w_w, y)
    return y if batched else y[0]
