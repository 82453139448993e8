"""Reading images for SR: one conversion rule, clear errors that name the file.

Every image enters keras-sr as RGB uint8 `(H, W, 3)` by this rule:

* EXIF orientation is applied (a phone photo is used the way it is shown).
* Grayscale (L, 1-bit, LA) -> the gray value copied to R, G and B.
* Palette (P) -> its RGB colors.
* RGBA / LA -> the alpha channel is dropped (the color channels are kept as
  stored, as OpenCV's `IMREAD_COLOR` does in BasicSR's loaders).
* 16-bit grayscale (I;16, or mode I holding values above 255) -> 8-bit by
  `round(v / 257)`; other 32-bit integer (I) and float (F) images are clipped
  to [0, 255]. 16-bit RGB PNGs are reduced to 8 bits by Pillow's decoder,
  which keeps the high byte (`v >> 8`).
* CMYK, YCbCr, LAB -> Pillow's conversion to RGB.

Errors are `ImageError` (a `ValueError`) and always name the file: missing,
zero bytes, not an image / corrupt / truncated, too small.

Example:
    >>> img = load_image("Set5/HR/baby.png")            # (512, 512, 3) uint8
    >>> files = list_images("Set5/HR")                   # sorted, recursive
    >>> check_min_size(img, 4, "baby.png", "the x4 scale")
"""

import contextlib
import os

import numpy as np

from keras_sr.metrics import to_uint8


__all__ = ["IMAGE_EXTENSIONS", "ImageError", "open_image", "pil_to_rgb_array", "load_image", "probe_size", "list_images", "check_min_size", "save_image",
           "dataset_name"]

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".pgm")


class ImageError(ValueError):
    """A problem with an input image or folder; the message names the path."""


def _sixteen_bit_to_uint8(array):
    return np.floor(np.clip(array.astype(np.float64), 0, 65535) / 257.0 + 0.5).astype(np.uint8)


def pil_to_rgb_array(image, path):
    """A decoded `PIL.Image` as RGB uint8 `(H, W, 3)` by the module's conversion rule."""
    mode = image.mode
    if mode in ("I;16", "I;16B", "I;16L", "I;16N"):
        gray = _sixteen_bit_to_uint8(np.asarray(image))
        return np.repeat(gray[..., None], 3, axis=-1)
    if mode == "I":
        array = np.asarray(image)
        # Pillow opens 16-bit grayscale PNGs as mode I; values above 255 mean 16-bit data.
        gray = _sixteen_bit_to_uint8(array) if array.max(initial=0) > 255 else np.clip(array, 0, 255).astype(np.uint8)
        return np.repeat(gray[..., None], 3, axis=-1)
    if mode == "F":
        gray = np.floor(np.clip(np.asarray(image), 0, 255) + 0.5).astype(np.uint8)
        return np.repeat(gray[..., None], 3, axis=-1)
    if mode in ("RGBA", "LA", "PA"):
        image = image.convert(mode[:-1])  # drop alpha
    rgb = np.asarray(image.convert("RGB"), dtype=np.uint8)
    if rgb.ndim != 3 or rgb.shape[-1] != 3:
        raise ImageError(f"{path}: unsupported image mode {mode!r}.")
    return rgb


@contextlib.contextmanager
def open_image(path):
    """Open and decode an image file with Pillow, EXIF orientation applied.

    Yields the loaded `PIL.Image`; every failure (missing, folder, 0 bytes,
    unknown format, corrupt or truncated data) is an `ImageError` naming `path`.
    """
    from PIL import Image, ImageOps, UnidentifiedImageError

    path = os.fspath(path)
    if not os.path.exists(path):
        raise ImageError(f"{path}: file not found.")
    if os.path.isdir(path):
        raise ImageError(f"{path}: is a folder, expected an image file.")
    if os.path.getsize(path) == 0:
        raise ImageError(f"{path}: empty file (0 bytes).")
    try:
        with Image.open(path) as image:
            image.load()
            decoded = ImageOps.exif_transpose(image)
    except UnidentifiedImageError as err:
        raise ImageError(f"{path}: not a readable image (corrupt or unknown format).") from err
    except (OSError, SyntaxError, ValueError) as err:
        raise ImageError(f"{path}: corrupt or truncated image ({err}).") from err
    yield decoded


def probe_size(path):
    """`(height, width)` of an image from its header (EXIF rotation applied); ImageError for bad files."""
    from PIL import Image, UnidentifiedImageError

    if not os.path.isfile(path):
        raise ImageError(f"{path}: file not found.")
    if os.path.getsize(path) == 0:
        raise ImageError(f"{path}: empty file (0 bytes).")
    try:
        with Image.open(path) as image:
            width, height = image.size
            orientation = image.getexif().get(0x0112, 1)
    except UnidentifiedImageError as err:
        raise ImageError(f"{path}: not a readable image (corrupt or unknown format).") from err
    except (OSError, SyntaxError, ValueError) as err:
        raise ImageError(f"{path}: corrupt or truncated image ({err}).") from err
    return (width, height) if orientation in (5, 6, 7, 8) else (height, width)


def load_image(path):
    """Load an image file as RGB uint8 `(H, W, 3)` by the module's conversion rule."""
    with open_image(path) as image:
        return pil_to_rgb_array(image, os.fspath(path))


def save_image(path, img):
    """Save an RGB/gray uint8 array (float input is rounded) with Pillow."""
    from PIL import Image

    array = to_uint8(img)
    if array.ndim == 3 and array.shape[-1] == 1:
        array = array[..., 0]
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    Image.fromarray(array).save(path)


def list_images(folder, recursive=True):
    """Sorted image paths under `folder`; `ImageError` if missing or empty."""
    folder = os.fspath(folder)
    if os.path.isfile(folder):
        raise ImageError(f"{folder}: is a file, expected a folder of images.")
    if not os.path.isdir(folder):
        raise ImageError(f"{folder}: folder not found.")
    found = []
    for root, dirs, files in os.walk(folder):
        dirs.sort()
        found.extend(os.path.join(root, f) for f in files if f.lower().endswith(IMAGE_EXTENSIONS))
        if not recursive:
            break
    if not found:
        raise ImageError(f"{folder}: no images found (looked for {', '.join(IMAGE_EXTENSIONS)}).")
    return sorted(found)


def check_min_size(img, min_size, path, purpose):
    """Raise `ImageError` naming `path` if `img` is smaller than `min_size` on a side."""
    h, w = np.shape(img)[:2]
    if h < min_size or w < min_size:
        raise ImageError(f"{path}: image is {w}x{h}, too small for {purpose} (needs at least {min_size}x{min_size}).")


def dataset_name(folder):
    """`.../Set5/HR` -> `Set5`; otherwise the folder's own name (how results tables name a dataset)."""
    parts = os.path.normpath(os.path.abspath(folder)).split(os.sep)
    if parts[-1].upper() in ("HR", "GT") and len(parts) > 1:
        return parts[-2]
    return parts[-1]
