"""Synthetic reference views for reference-based SR: another view of the same scene.

The CUFED training set of TTSR (Yang et al., CVPR 2020) and C2-Matching
(Jiang et al., CVPR 2021) is not available here. Our substitute makes the
reference from the target's own image, as C2-Matching makes the second view
that trains its contrastive teacher (Sec. 3.2, "we apply homography
transformations ... to obtain the transformed image"): a crop that overlaps
the target under a random homography (zoom 0.8-1.25, rotation +/-15 degrees,
a shift of at most a quarter of the target, mild perspective) followed by
brightness, contrast and saturation jitter. The homography is returned with
the view, so the true correspondence of every reference pixel is known
(`project_points`): the contrastive stage uses it as ground truth.

Coordinates are (x, y) pixel centres; a transform `T` maps reference
coordinates to source-image coordinates (`source ~ T @ [x, y, 1]`). Outside
the source image the view continues the image by reflection, so references
have no black borders.

Example:
    >>> rng = np.random.default_rng(0)
    >>> ref, transform = synthesize_reference(hr, rng, target_box=(top, left, 160, 160))
    >>> source_xy = project_points(transform, [[0.0, 0.0], [159.0, 159.0]])
"""

import dataclasses
import math

import numpy as np
from PIL import Image

__all__ = ["ViewParams", "random_view_transform", "warp_view", "jitter_colors", "synthesize_reference",
           "project_points"]


@dataclasses.dataclass(frozen=True)
class ViewParams:
    """Ranges of the random view. `zoom` > 1 shows the scene larger (the reference covers less of it)."""

    zoom: tuple = (0.8, 1.25)
    rotation_degrees: float = 15.0
    max_shift: float = 0.25          # of the target box's height / width
    perspective: float = 0.1         # largest corner displacement from perspective, as a fraction of the size
    brightness: float = 0.2          # factor in [1 - b, 1 + b]
    contrast: float = 0.2            # blend with the mean grey in [1 - c, 1 + c]
    saturation: float = 0.2          # blend with the grey image in [1 - s, 1 + s]

    def __post_init__(self):
        low, high = self.zoom
        if not 0 < low <= high:
            raise ValueError(f"ViewParams.zoom must be 0 < low <= high, got {self.zoom}")
        for name in ("rotation_degrees", "max_shift", "perspective", "brightness", "contrast", "saturation"):
            if getattr(self, name) < 0:
                raise ValueError(f"ViewParams.{name} must be >= 0, got {getattr(self, name)}")

    @classmethod
    def identity(cls):
        """No geometric or colour change: the view is the target crop itself."""
        return cls(zoom=(1.0, 1.0), rotation_degrees=0.0, max_shift=0.0, perspective=0.0, brightness=0.0,
                   contrast=0.0, saturation=0.0)


def _translation(dx, dy):
    return np.array([[1.0, 0.0, dx], [0.0, 1.0, dy], [0.0, 0.0, 1.0]])


def random_view_transform(rng, ref_size, target_box, params=ViewParams()):
    """A random homography (3x3, reference -> source coordinates) for a `ref_size` (h, w) view of `target_box`.

    `target_box` is (top, left, height, width) in the source image. The
    reference's centre lands within `max_shift` of the box's centre; the
    reference spans the box's size divided by the zoom, rotated and with a
    perspective tilt whose corners move by at most `perspective` of the size.
    """
    top, left, box_h, box_w = (float(v) for v in target_box)
    ref_h, ref_w = (float(v) for v in ref_size)
    zoom = math.exp(rng.uniform(math.log(params.zoom[0]), math.log(params.zoom[1])))
    angle = math.radians(rng.uniform(-params.rotation_degrees, params.rotation_degrees))
    shift_x = rng.uniform(-params.max_shift, params.max_shift) * box_w
    shift_y = rng.uniform(-params.max_shift, params.max_shift) * box_h
    # perspective in normalized coordinates u = (x - cx) / (w / 2): w' = 1 + px u + py v, so a corner's
    # denominator moves by at most |px| + |py|, about the relative corner displacement
    px, py = rng.uniform(-params.perspective / 2, params.perspective / 2, size=2)

    cx_ref, cy_ref = (ref_w - 1) / 2, (ref_h - 1) / 2
    normalize = np.diag([2.0 / max(ref_w, 1.0), 2.0 / max(ref_h, 1.0), 1.0]) @ _translation(-cx_ref, -cy_ref)
    tilt = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [px, py, 1.0]])
    # back to pixels at the box's scale: a reference pixel covers (box / ref) / zoom source pixels
    scale = np.diag([box_w / zoom / 2.0, box_h / zoom / 2.0, 1.0])
    c, s = math.cos(angle), math.sin(angle)
    rotation = np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])
    cx_box, cy_box = left + (box_w - 1) / 2, top + (box_h - 1) / 2
    place = _translation(cx_box + shift_x, cy_box + shift_y)
    transform = place @ rotation @ scale @ tilt @ normalize
    return transform / transform[2, 2]


def project_points(transform, points):
    """Map (N, 2) reference (x, y) points to source coordinates with `transform`."""
    points = np.asarray(points, np.float64).reshape(-1, 2)
    homogeneous = np.concatenate([points, np.ones((len(points), 1))], axis=1) @ np.asarray(transform).T
    return homogeneous[:, :2] / homogeneous[:, 2:3]


def _reflect_margin(image, transform, ref_size):
    """How much reflection padding the view needs: the projected reference corners' overshoot, capped."""
    h, w = image.shape[:2]
    ref_h, ref_w = ref_size
    corners = project_points(transform, [[0, 0], [ref_w - 1, 0], [0, ref_h - 1], [ref_w - 1, ref_h - 1]])
    overshoot = max(0.0, -corners.min(), corners[:, 0].max() - (w - 1), corners[:, 1].max() - (h - 1))
    return int(min(math.ceil(overshoot) + 2, max(h, w) - 1))


def warp_view(image, transform, ref_size, resample="bicubic"):
    """Render the `ref_size` (h, w) view `transform` of `image` (uint8 HxWxC), reflecting outside the image."""
    image = np.asarray(image)
    if image.dtype != np.uint8 or image.ndim != 3:
        raise ValueError(f"warp_view expects a uint8 HxWxC image, got {image.dtype} {image.shape}")
    ref_h, ref_w = (int(v) for v in ref_size)
    margin = _reflect_margin(image, transform, (ref_h, ref_w))
    if margin > 0:
        image = np.pad(image, ((margin, margin), (margin, margin), (0, 0)), mode="symmetric")
        transform = _translation(margin, margin) @ transform
    # PIL maps output pixel corner coordinates; ours are pixel centres: shift by half a pixel each side
    pil_transform = _translation(0.5, 0.5) @ transform @ _translation(-0.5, -0.5)
    coefficients = (pil_transform / pil_transform[2, 2]).reshape(-1)[:8]
    method = {"bicubic": Image.BICUBIC, "bilinear": Image.BILINEAR, "nearest": Image.NEAREST}[resample]
    channels = image.shape[2]
    pil = Image.fromarray(image[..., 0] if channels == 1 else image)
    view = pil.transform((ref_w, ref_h), Image.PERSPECTIVE, tuple(coefficients), resample=method)
    view = np.asarray(view)
    return view[..., None] if channels == 1 else view


def jitter_colors(image, rng, params=ViewParams()):
    """Random brightness, contrast and saturation (each a factor within its range) of a uint8 RGB image."""
    x = np.asarray(image, np.float32)
    if params.brightness:
        x = x * rng.uniform(1 - params.brightness, 1 + params.brightness)
    if params.contrast:
        mean = x.mean()
        x = mean + (x - mean) * rng.uniform(1 - params.contrast, 1 + params.contrast)
    if params.saturation and x.shape[-1] == 3:
        grey = x @ np.array([0.299, 0.587, 0.114], np.float32)
        x = grey[..., None] + (x - grey[..., None]) * rng.uniform(1 - params.saturation, 1 + params.saturation)
    return np.clip(np.rint(x), 0, 255).astype(np.uint8)


def synthesize_reference(image, rng, target_box=None, ref_size=None, params=ViewParams()):
    """A synthetic reference for the `target_box` (top, left, h, w; default: all) of `image`.

    Returns `(reference, transform)`: the uint8 view of size `ref_size`
    (default: the box's size) and its reference -> source homography.
    """
    image = np.asarray(image)
    h, w = image.shape[:2]
    if target_box is None:
        target_box = (0, 0, h, w)
    if ref_size is None:
        ref_size = target_box[2:]
    transform = random_view_transform(rng, ref_size, target_box, params)
    view = warp_view(image, transform, ref_size)
    return jitter_colors(view, rng, params), transform
