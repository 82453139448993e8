"""The evaluation protocol at non-integer scales (LIIF / Meta-SR's arbitrary magnification), numpy only.

Integer scales keep keras-sr's protocol unchanged (`modcrop`, MATLAB
`imresize(hr, 1/s)`, border = s). For a real scale `s` the sizes follow LIIF's
`datasets/wrappers.py` (`SRImplicitDownsampled`) and `test.py` / `utils.calc_psnr`:

* LR size `h = floor(H / s + 1e-9)` (and `w`), HR cropped to its top-left `round(h * s) x round(w * s)`
  (Python's `round`, half to even, as the official wrapper); for integer `s` this is `modcrop`;
* LR = MATLAB bicubic `imresize(hr_crop, output_shape=(h, w))` (MATLAB's per-axis scale `h / H'`;
  keras-sr's protocol stays MATLAB, LIIF downsamples with PIL bicubic for its x6+ benchmark rows);
* every upscaler returns `round(h * s) x round(w * s)` (`sr_size`); the bicubic baseline is
  `imresize(lr, output_shape=sr_size(...))`;
* PSNR/SSIM border: LIIF shaves `scale` pixels on benchmarks (`calc_psnr(..., dataset="benchmark")`), which
  its code can only do for integers; keras-sr shaves `ceil(s)` (the integer scale's border for integers).

Example:
    >>> hr_crop, lr = degrade_to_scale(hr, 2.5)        # hr 256 x 256 -> lr 102 x 102, hr_crop 255 x 255
    >>> sr_size(102, 102, 2.5), eval_border(2.5)        # ((255, 255), 3)
"""

import math

import numpy as np
from keras_sr.imresize import imresize

__all__ = ["parse_scale", "scale_key", "is_integer_scale", "lr_size", "sr_size", "degrade_to_scale", "eval_border"]


def parse_scale(text):
    """A `--scale` value: `int` for integral scales ("4", "4.0"), else `float` ("2.5"); must be >= 1."""
    try:
        value = float(text)
    except (TypeError, ValueError):
        raise ValueError(f"--scale: {text!r} is not a number.") from None
    if not math.isfinite(value) or value < 1.0:
        raise ValueError(f"--scale: {text!r} must be a finite number >= 1.")
    return scale_key(value)


def scale_key(scale):
    """`int(scale)` when the scale is integral, else `float(scale)` (the key of evaluation results)."""
    return int(round(scale)) if is_integer_scale(scale) else float(scale)


def is_integer_scale(scale):
    return abs(float(scale) - round(float(scale))) < 1e-9


def lr_size(h, w, scale):
    """LIIF's LR size for an `h x w` HR image: `floor(h / s + 1e-9)`, `floor(w / s + 1e-9)`."""
    return int(math.floor(h / scale + 1e-9)), int(math.floor(w / scale + 1e-9))


def sr_size(h, w, scale):
    """The output size of an upscaler at `scale` for an `h x w` LR image: `round(h * s)`, `round(w * s)`."""
    if is_integer_scale(scale):
        return h * int(round(scale)), w * int(round(scale))
    return int(round(h * float(scale))), int(round(w * float(scale)))


def degrade_to_scale(hr, scale):
    """`(hr_crop, lr)` uint8 at a real `scale` (module docstring); integer scales give modcrop + imresize."""

    hr = np.asarray(hr)
    h, w = lr_size(hr.shape[0], hr.shape[1], scale)
    if h < 1 or w < 1:
        raise ValueError(f"an image of {hr.shape[1]}x{hr.shape[0]} has no LR image at x{scale}.")
    out_h, out_w = sr_size(h, w, scale)
    hr = hr[:out_h, :out_w]
    return hr, imresize(hr, output_shape=(h, w))


def eval_border(scale):
    """Pixels cropped on each side before PSNR/SSIM: `s` for integers, `ceil(s)` otherwise."""
    return int(math.ceil(float(scale) - 1e-9))
