"""Aligned patch sampling and dihedral augmentation: the one definition of both.

Every training loader of keras-sr (the tf.data reader in `keras_sr.tfrecords`,
the `SRPatchDataset` PyDataset, the HDF5 and patch-pair flows) crops and
augments by the rules below, so that the same coordinates and the same
augmentation code give the same pixels whichever loader runs:

* The crop is chosen in LR coordinates: `top` in `[0, lr_h - p]`, `left` in
  `[0, lr_w - p]` (inclusive), drawn uniformly. The HR crop is the same window
  times `factor` (the scale, or 1 when LR was upsampled back to HR size):
  `hr[top*f : (top+p)*f, left*f : (left+p)*f]`. Crops are therefore always on
  the scale grid, as in EDSR/BasicSR's `paired_random_crop`.
* Augmentation is one of the 8 symmetries of the square, coded `aug` in
  `[0, 8)`: first a left-right flip if `aug >= 4`, then `aug % 4`
  counter-clockwise quarter turns (`np.rot90(x, aug % 4)`). Code 0 is the
  identity. `augment_index_map` gives the same transform as a gather table,
  which the tf.data reader uses (so both follow one definition).
* Random choices come from a numpy `Generator`, in the order
  `top, left, aug` (`sample_choice`).

Example:
    >>> rng = np.random.default_rng(0)
    >>> top, left, aug = sample_choice(rng, lr.shape, patch_size=48, augment=True)
    >>> lr_patch, hr_patch = extract_patch_pair(lr, hr, top, left, aug, 48, factor=4)
"""

import numpy as np

__all__ = [
    "NUM_AUGMENTATIONS",
    "sample_crop",
    "sample_augment",
    "sample_choice",
    "crop_pair",
    "augment",
    "augment_index_map",
    "augment_index_table",
    "extract_patch_pair",
    "patch_grid",
]

NUM_AUGMENTATIONS = 8  # identity, 3 rotations, and the same after a left-right flip


def sample_crop(rng, lr_height, lr_width, patch_size):
    """Top-left corner `(top, left)` of a `patch_size` LR window, uniform over valid positions."""
    if lr_height < patch_size or lr_width < patch_size:
        raise ValueError(f"LR image {lr_width}x{lr_height} is smaller than the {patch_size}x{patch_size} patch.")
    top = int(rng.integers(0, lr_height - patch_size + 1))
    left = int(rng.integers(0, lr_width - patch_size + 1))
    return top, left


def sample_augment(rng):
    """A uniformly drawn augmentation code in `[0, 8)`."""
    return int(rng.integers(0, NUM_AUGMENTATIONS))


def sample_choice(rng, lr_shape, patch_size, augment=True):
    """`(top, left, aug)` for one patch; `aug` is 0 when `augment` is False."""
    top, left = sample_crop(rng, lr_shape[0], lr_shape[1], patch_size)
    return top, left, sample_augment(rng) if augment else 0


def crop_pair(lr, hr, top, left, patch_size, factor):
    """The LR window at `(top, left)` and the HR window `factor` times larger at `(top*f, left*f)`."""
    f = int(factor)
    lr_patch = lr[top : top + patch_size, left : left + patch_size]
    hr_patch = hr[top * f : (top + patch_size) * f, left * f : (left + patch_size) * f]
    if lr_patch.shape[:2] != (patch_size, patch_size) or hr_patch.shape[:2] != (patch_size * f, patch_size * f):
        raise ValueError(
            f"crop at LR ({top}, {left}) of size {patch_size} leaves the image "
            f"(LR {lr.shape[:2]}, HR {hr.shape[:2]}, factor {f}).")
    return lr_patch, hr_patch


def augment(patch, aug):
    """Apply symmetry `aug` (flip left-right if `aug >= 4`, then `aug % 4` quarter turns) to `(H, W, ...)`."""
    aug = int(aug)
    if not 0 <= aug < NUM_AUGMENTATIONS:
        raise ValueError(f"augmentation code must be in [0, {NUM_AUGMENTATIONS}), got {aug}.")
    if aug >= 4:
        patch = patch[:, ::-1]
    return np.rot90(patch, aug % 4, axes=(0, 1))


def augment_index_map(size, aug):
    """`(size, size, 2)` int32 table: output pixel `(i, j)` = input pixel `table[i, j]` under `augment`."""
    rows, cols = np.meshgrid(np.arange(size), np.arange(size), indexing="ij")
    return np.ascontiguousarray(augment(np.stack([rows, cols], axis=-1), aug)).astype(np.int32)


def augment_index_table(size):
    """`(8, size, size, 2)` int32: `augment_index_map` for every code, for vectorized gathers."""
    return np.stack([augment_index_map(size, aug) for aug in range(NUM_AUGMENTATIONS)])


def extract_patch_pair(lr, hr, top, left, aug, patch_size, factor):
    """Crop the aligned pair at LR `(top, left)` and apply augmentation `aug` to both (contiguous copies)."""
    lr_patch, hr_patch = crop_pair(lr, hr, top, left, patch_size, factor)
    return np.ascontiguousarray(augment(lr_patch, aug)), np.ascontiguousarray(augment(hr_patch, aug))


def patch_grid(height, width, patch_height, patch_width, stride):
    """Top-left corners of the sliding-window patches (row-major), as the SRCNN/VDSR scripts take them.

    `range(0, H - ph + 1, stride) x range(0, W - pw + 1, stride)`; empty when the image is smaller.
    """
    if stride < 1:
        raise ValueError(f"stride must be >= 1, got {stride}.")
    ys = range(0, height - patch_height + 1, stride)
    xs = range(0, width - patch_width + 1, stride)
    return [(y, x) for y in ys for x in xs]
