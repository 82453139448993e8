"""C2-Matching's contrastive training pairs: an HR crop, its LR-upsampled copy, a homography view, the targets.

Jiang et al., "Robust Reference-based Super-Resolution via C2-Matching", CVPR 2021, Sec. 3.2, and the
official `contras_dataset.py`. The view is `keras_sr.data.reference_views` (our documented CUFED substitute);
`correspondence_targets` gives each input feature location (pixel `4 i`, official `grid_positions * 4`) its
reference feature location `round(p / 4)`, valid when it falls more than 10 px inside the reference
(official `warp`). Trained by `keras_sr.training.contrastive_correspondence`.

Example:
    >>> ds = ContrastivePairDataset(["T91/HR"], patch_size=160, batch_size=8, seed=10)
    >>> (batch,) = ds[0]
    >>> index, valid = correspondence_targets(batch["transform"], (160, 160), (160, 160))
"""

import os

import numpy as np

from keras_sr.data.reference_views import project_points
from keras_sr.data.refsr_dataset import RefSRPatchDataset
from keras_sr.image_io import list_images

__all__ = ["ContrastivePairDataset", "correspondence_targets", "resolve_images"]


def correspondence_targets(transform, input_size, ref_size, stride=4, border=10.0):
    """Every input feature location's true reference feature location, from the view's homography.

    Args:
        transform: `(3, 3)` or `(B, 3, 3)`: reference pixel (x, y) -> input pixel (x, y).
        input_size, ref_size: `(h, w)` of the input and reference images (pixels).
        stride: feature stride (4 at conv3_1).
        border: correspondences closer than this (pixels) to the reference's edge are invalid.

    Returns:
        `(index, valid)`: int32 `(B, N)` indices into the flattened `(h_r / stride) x (w_r / stride)`
        reference feature grid, and float32 `(B, N)` 1/0, for the `N = (h / stride) * (w / stride)`
        input feature locations in row-major order (location `(i, j)` is pixel `(stride j, stride i)`).
    """
    transform = np.asarray(transform, np.float64)
    squeeze = transform.ndim == 2
    transforms = transform[None] if squeeze else transform
    h1, w1 = int(input_size[0]) // stride, int(input_size[1]) // stride
    ref_h, ref_w = int(ref_size[0]), int(ref_size[1])
    h2, w2 = ref_h // stride, ref_w // stride
    ys, xs = np.meshgrid(np.arange(h1), np.arange(w1), indexing="ij")
    points = np.stack([xs.ravel(), ys.ravel()], axis=1) * float(stride)
    indices, valids = [], []
    for t in transforms:
        ref_xy = project_points(np.linalg.inv(t), points)
        x, y = ref_xy[:, 0], ref_xy[:, 1]
        valid = (x > border) & (x < ref_w - border) & (y > border) & (y < ref_h - border) & np.isfinite(x + y)
        fx = np.clip(np.round(np.nan_to_num(x) / stride), 0, w2 - 1).astype(np.int64)
        fy = np.clip(np.round(np.nan_to_num(y) / stride), 0, h2 - 1).astype(np.int64)
        indices.append((fy * w2 + fx).astype(np.int32))
        valids.append(valid.astype(np.float32))
    index, valid = np.stack(indices), np.stack(valids)
    return (index[0], valid[0]) if squeeze else (index, valid)


def resolve_images(images):

    if isinstance(images, (str, os.PathLike, np.ndarray)):
        images = [images]
    found = []
    for item in images:
        if isinstance(item, np.ndarray):
            found.append(item)
        elif os.path.isdir(item):
            found.extend(list_images(item))
        else:
            found.append(os.fspath(item))
    if not found:
        raise ValueError("ContrastivePairDataset: no training images given.")
    return found


class ContrastivePairDataset(RefSRPatchDataset):
    """Batches of (HR crop, LR-upsampled crop, homography view, transform, targets) for the contrastive stages.

    `RefSRPatchDataset` with C2-Matching's data rules (`joint_augment`, `enlarge_small`).
    Batch `index` of epoch `e` depends only on `(seed, e, index)`. Each sample:
    a random image, a random flip/rotation of it, a `patch_size` crop `img_in` (images
    smaller than the crop are enlarged first, as the official data resizes every
    image to 160 px), `img_in_up = imresize(imresize(img_in, 1/scale), scale)`
    (MATLAB bicubic), and `img_ref, T = synthesize_reference(image, target_box=crop)`.

    `__getitem__` returns `(inputs,)`, inputs a dict of float32 arrays: `img_in`, `img_in_up`,
    `img_ref` `(B, P, P, 3)` in [0, 255]; `transform` `(B, 3, 3)` (reference-patch (x, y) ->
    input-patch (x, y)); `target_index` int32 and `valid` float32 `(B, (P / stride) ** 2)`
    (`correspondence_targets`).

    Example:
        >>> ds = ContrastivePairDataset(["T91/HR"], patch_size=160, batch_size=8, seed=10)
        >>> (batch,) = ds[0]
        >>> batch["img_ref"].shape, batch["target_index"].shape      # (8, 160, 160, 3), (8, 1600)
    """

    def __init__(self, images, patch_size=160, batch_size=8, scale=4, steps_per_epoch=1000, seed=0,
                 view_params=None, augment=True, stride=4, border=10.0, **kwargs):
        patch_size, scale, stride = int(patch_size), int(scale), int(stride)
        if patch_size % (stride * scale) or patch_size < 4 * stride:
            raise ValueError(f"ContrastivePairDataset: patch_size {patch_size} must be a multiple of "
                             f"stride x scale = {stride * scale} and at least {4 * stride}.")
        super().__init__(resolve_images(images), ("lr_up", "ref"), patch_size=patch_size // scale,
                         batch_size=batch_size, scale=scale, steps_per_epoch=steps_per_epoch, augment=augment,
                         seed=seed, view_params=view_params, return_transforms=True, joint_augment=True,
                         enlarge_small=True, **kwargs)
        self.stride = stride
        self.border = float(border)

    def batch(self, index, epoch=None):
        """The inputs dict of batch `index` of `epoch` (default: the current epoch)."""
        epoch = self.epoch if epoch is None else int(epoch)
        rng = np.random.default_rng([self.seed, epoch, int(index)])
        samples = [self.sample(rng) for _ in range(self.batch_size)]
        hr, transform = np.stack([s[1] for s in samples]), np.stack([s[2] for s in samples])
        up, ref = (np.stack([s[0][name] for s in samples]) for name in ("lr_up", "ref"))
        index_, valid = correspondence_targets(transform, hr.shape[1:3], ref.shape[1:3], self.stride, self.border)
        return {"img_in": hr.astype(np.float32), "img_in_up": up.astype(np.float32),
                "img_ref": ref.astype(np.float32), "transform": transform.astype(np.float32),
                "target_index": index_, "valid": valid}

    def __getitem__(self, index):
        if not 0 <= index < self.steps_per_epoch:
            raise IndexError(f"batch {index} out of range (steps_per_epoch={self.steps_per_epoch}).")
        return (self.batch(index),)
