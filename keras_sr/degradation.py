"""How keras-sr makes LR images from HR images: the degradations of the evaluation protocol.

Numpy only (no Keras): the bottom layer of keras-sr, beside `imresize`,
`color`, `metrics`, `cropping` and `image_io`. Data loaders, TFRecord writers,
validation and scoring all take their LR images from here, so training and
evaluation degrade images the same way.

* `degrade(hr, scale)`: `modcrop` + MATLAB-faithful bicubic `imresize(hr, 1/s)`
  on uint8 (`keras_sr.imresize`), the SISR protocol that reproduces the
  published bicubic table.
* `pil_bicubic_degrade(hr, scale)`: `modcrop` + PIL bicubic
  `Image.resize((w // s, h // s), Image.BICUBIC)`, the CUFED5 protocol of the
  official TTSR test loader (researchmm/TTSR `dataset/cufed.py`, `TestSet`)
  and of C2-Matching's CUFED5 set.
* `degrade_for(method)`: the function of an LR method name ("matlab", "pil").

Example:
    >>> hr, lr = degrade(load_image("Set5/HR/baby.png"), 4)    # (512, 512, 3), (128, 128, 3) uint8
    >>> hr, lr = degrade_for("pil")(hr, 4)
    >>> LR_METHODS["matlab"]
"""

import math

import numpy as np

from keras_sr.arbitrary_scale import degrade_to_scale, is_integer_scale
from keras_sr.cropping import modcrop
from keras_sr.image_io import check_min_size
from keras_sr.imresize import imresize


__all__ = ["LR_METHODS", "degrade", "pil_bicubic_degrade", "degrade_for"]

LR_METHODS = {
    "matlab": "MATLAB bicubic (keras_sr.imresize, antialiased)",
    "pil": "PIL bicubic Image.resize((w//s, h//s), Image.BICUBIC) (TTSR/C2-Matching CUFED5 protocol)",
}


def degrade(hr, scale, path="<array>"):
    """modcrop + MATLAB bicubic downscale; returns `(hr_cropped, lr)` as uint8.

    A non-integer `scale` (arbitrary-scale models) follows LIIF's sizes (`keras_sr.arbitrary_scale`).
    """
    check_min_size(hr, math.ceil(scale), path, f"x{scale} downscaling")
    if not is_integer_scale(scale):
        return degrade_to_scale(hr, scale)
    hr = modcrop(hr, scale)
    return hr, imresize(hr, 1.0 / scale)


def pil_bicubic_degrade(hr, scale, path="<array>"):
    """modcrop + PIL bicubic downscale (the CUFED5 protocol); returns `(hr_cropped, lr)` uint8."""
    from PIL import Image  # Pillow: imported where it is used, as keras_sr.image_io does

    check_min_size(hr, scale, path, f"x{scale} downscaling")
    hr = modcrop(np.asarray(hr, np.uint8), scale)
    h, w = hr.shape[:2]
    lr = np.asarray(Image.fromarray(hr).resize((w // scale, h // scale), Image.BICUBIC))
    return hr, lr


def degrade_for(lr_method):
    """The `(hr, scale, path) -> (hr_cropped, lr)` function of `lr_method` ("matlab" or "pil")."""
    if lr_method == "pil":
        return pil_bicubic_degrade
    if lr_method == "matlab":
        return degrade
    raise ValueError(f"unknown LR method {lr_method!r}: expected one of {sorted(LR_METHODS)}.")
