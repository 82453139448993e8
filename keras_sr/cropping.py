"""`modcrop` and border shaving, the two crops of the SR evaluation protocol.

Example:
    >>> hr = modcrop(img, 3)          # H and W become multiples of 3
    >>> core = shave(hr, 3)           # drop 3 pixels on every side
"""

import numpy as np

__all__ = ["modcrop", "shave"]


def modcrop(img, scale):
    """Crop the bottom/right so H and W are multiples of `scale` (MATLAB's modcrop)."""
    img = np.asarray(img)
    scale = int(scale)
    if scale < 1:
        raise ValueError(f"scale must be >= 1, got {scale}.")
    h, w = img.shape[:2]
    return img[: h - h % scale, : w - w % scale, ...]


def shave(img, border):
    """Remove `border` pixels from each side of the two leading axes."""
    border = int(border)
    if border <= 0:
        return np.asarray(img)
    img = np.asarray(img)
    if img.shape[0] <= 2 * border or img.shape[1] <= 2 * border:
        raise ValueError(f"Image of shape {img.shape} is too small to crop a border of {border}.")
    return img[border:-border, border:-border, ...]
