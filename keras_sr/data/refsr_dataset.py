"""Training batches for reference-based SR (TTSR, C2-Matching): LR/HR patches with a reference per patch.

TTSR (Yang et al., CVPR 2020, Sec. 4.1; official `dataset/cufed.py`) trains
on CUFED's 160x160 HR crops (40x40 LR at x4) each paired with a 160x160
reference of the same scene. CUFED is not available here; the substitute
(`keras_sr.data.reference_views`, after C2-Matching's homography views) makes
each patch's reference from its own HR image: a random view
(`synthesize_reference`) around the patch's box, so the reference overlaps
the patch under a known homography. A `ReferenceSource`
(`keras_sr.data.reference_sources`: CUFED5 groups, pairs files) gives real
references instead: then a random `ref_patch_size` crop of the given
reference is used and the correspondence is unknown.

Per patch, as the official loader: LR = MATLAB bicubic x1/scale of the HR
patch (`keras_sr.imresize`), `lr_up` = LR bicubic x scale, `ref_down_up` =
reference down and up by `scale`; flips and 90-degree rotations drawn once
for LR/HR and independently for the reference (TTSR's `RandomFlip` /
`RandomRotate` augment them separately). All images are float32 in [0, 255].
Batch `i` of epoch `e` depends only on `(seed, e, i)`.

Several references per sample (`num_refs=K`, for the multi-reference models
whose inputs are `refs` / `refs_down_up`, `(B, K, R, R, 3)`): K independent
synthetic views around the patch, or the first K of a source's `references(i)`
(each its own random crop and augmentation).

`return_transforms=True` adds `inputs["transform"]` (B, 3, 3): the homography
mapping reference-patch pixel centres (x, y) to HR-patch pixel centres (after
both augmentations), the ground-truth correspondence for C2-Matching's
contrastive stage. That stage's data (`ContrastivePairDataset`) is this loader
with `joint_augment=True` (one flip/rotation of the whole image before the crop
and its view, so the reference keeps the patch's orientation up to the view's
own +/-15 degrees) and `enlarge_small=True` (images smaller than the patch are
enlarged, as the official data resizes every image to 160 px).

Example:
    >>> from keras_sr.models.ttsr import INPUT_NAMES
    >>> data = RefSRPatchDataset(paths, INPUT_NAMES, patch_size=40, batch_size=9)
    >>> inputs, hr = data[0]          # inputs["lr"] (9, 40, 40, 3), inputs["ref"] (9, 160, 160, 3), hr (9, 160, 160, 3)
"""

import collections
import logging
import math

import numpy as np

import keras

from keras_sr.data.patches import augment as augment_image
from keras_sr.data.reference_views import ViewParams, synthesize_reference
from keras_sr.data.sources import ImageTooSmall, usable_images
from keras_sr.image_io import load_image
from keras_sr.imresize import imresize
from keras_sr.models.refsr_inputs import (KNOWN_INPUTS, check_input_names, make_inputs, prepare_batch_item,
                                          takes_reference_stack)


logger = logging.getLogger("keras_sr.data")

__all__ = ["RefSRPatchDataset", "make_inputs", "prepare_batch_item", "augment_with_matrix", "KNOWN_INPUTS"]


def _augment_matrix(flip_x, flip_y, rot, height, width):
    """3x3 map of pixel centres (x, y) of an (height, width) image to the augmented image (flips, then rot90 k)."""
    m = np.eye(3)
    if flip_x:
        m = np.array([[-1.0, 0, width - 1], [0, 1, 0], [0, 0, 1]]) @ m
    if flip_y:
        m = np.array([[1.0, 0, 0], [0, -1, height - 1], [0, 0, 1]]) @ m
    h, w = height, width
    for _ in range(rot):  # np.rot90 (counter-clockwise): (x, y) -> (y, w - 1 - x); the shape becomes (w, h)
        m = np.array([[0.0, 1, 0], [-1, 0, w - 1], [0, 0, 1]]) @ m
        h, w = w, h
    return m


def augment_with_matrix(images, flip_x, flip_y, rot):
    """Apply the same flips and `rot` quarter turns to each HxWxC image; returns `(images, 3x3 matrix)`."""
    height, width = images[0].shape[:2]
    out = []
    for image in images:
        if flip_x:
            image = image[:, ::-1]
        if flip_y:
            image = image[::-1]
        out.append(np.ascontiguousarray(np.rot90(image, rot)))
    return out, _augment_matrix(flip_x, flip_y, rot, height, width)


def _draw_augment(rng, enabled):
    if not enabled:
        return False, False, 0
    return bool(rng.integers(2)), bool(rng.integers(2)), int(rng.integers(4))


def _translation(dx, dy):
    return np.array([[1.0, 0.0, dx], [0.0, 1.0, dy], [0.0, 0.0, 1.0]])


class RefSRPatchDataset(keras.utils.PyDataset):
    """Random `(inputs, hr)` RefSR batches: an LR/HR patch and its reference per sample (numpy only).

    Args:
        paths: HR image paths (references synthesized around each patch); may be None with `source`.
        input_names: the model's input names (`ttsr.INPUT_NAMES`, `c2_matching.INPUT_NAMES`).
        patch_size: LR patch side (TTSR: 40).
        batch_size: samples per batch (TTSR: 9).
        scale: integer scale (4).
        ref_patch_size: reference side (default `patch_size * scale`, TTSR's 160).
        steps_per_epoch: batches per epoch (`len`).
        augment: flips and 90-degree rotations (LR/HR together, the reference independently).
        seed: batch `i` of epoch `e` is drawn from `(seed, e, i)`.
        view_params: `reference_views.ViewParams` of the synthetic views (default ranges).
        return_transforms: add `inputs["transform"]`, reference-patch (x, y) -> HR-patch (x, y), (B, 3, 3).
        source: a `ReferenceSource` (`hr(i)`, `reference(i, lr=None)`, `name(i)`, `len`) with given references.
        joint_augment: augment the whole image once before the crop and its synthesized view (instead of the
            HR patch and the reference independently).
        enlarge_small: enlarge images smaller than the HR patch (PIL bicubic, short side = patch) instead of
            raising `ImageTooSmall`.
        num_refs: references per sample (K > 1 needs stack inputs `refs` / `refs_down_up`).
        skip_small: leave out (and log a count of) path images smaller than the HR patch instead of raising
            `ImageTooSmall` (the trainers' choice, as the SISR loaders skip them: T91 has 78x78 images).
        cache_limit_mb: decoded (and enlarged) images kept in memory, least recently used dropped first (the
            291 training images take about 104 MB).
        **pydataset_kwargs: `workers`, `use_multiprocessing`, `max_queue_size` of `keras.utils.PyDataset`.

    `paths` may hold decoded uint8 RGB arrays too. Images smaller than the HR
    patch raise `ImageTooSmall` naming the file when the dataset is made (file
    headers are read up front), not steps into training (unless `enlarge_small`
    or `skip_small`); unreadable files raise `ImageError` naming the file.
    """

    def __init__(self, paths, input_names, patch_size=40, batch_size=9, scale=4, ref_patch_size=None,
                 steps_per_epoch=1000, augment=True, seed=0, view_params=None, return_transforms=False, source=None,
                 joint_augment=False, enlarge_small=False, skip_small=False, cache_limit_mb=1024, num_refs=1,
                 **pydataset_kwargs):
        super().__init__(**pydataset_kwargs)
        self.input_names = check_input_names(input_names)
        self.num_refs = int(num_refs)
        if self.num_refs < 1:
            raise ValueError(f"RefSRPatchDataset: num_refs must be >= 1, got {num_refs}.")
        if self.num_refs > 1 and not takes_reference_stack(self.input_names):
            raise ValueError(f"RefSRPatchDataset: inputs {self.input_names} take one reference; num_refs "
                             f"{self.num_refs} needs a multi-reference model (inputs 'refs' / 'refs_down_up').")
        if self.num_refs > 1 and return_transforms:
            raise ValueError("RefSRPatchDataset: return_transforms needs num_refs=1.")
        self.patch_size = int(patch_size)
        self.batch_size = int(batch_size)
        self.scale = int(scale)
        self.hr_size = self.patch_size * self.scale
        self.ref_size = int(ref_patch_size or self.hr_size)
        if self.ref_size % self.scale:
            raise ValueError(f"RefSRPatchDataset: ref_patch_size {self.ref_size} is not a multiple of scale "
                             f"{self.scale}.")
        self.steps_per_epoch = int(steps_per_epoch)
        self.augment = bool(augment)
        self.seed = int(seed)
        self.view_params = view_params if view_params is not None else ViewParams()
        self.return_transforms = bool(return_transforms)
        self.joint_augment = bool(joint_augment)
        self.enlarge_small = bool(enlarge_small)
        self.skipped_small = 0
        self.source = source
        if source is not None and (self.return_transforms or self.joint_augment):
            raise ValueError("RefSRPatchDataset: return_transforms and joint_augment need synthesized references "
                             "(paths); the correspondence of a given reference (source=...) is unknown.")
        if source is None:
            if not paths:
                raise ValueError("RefSRPatchDataset: no training images (paths is empty and no source given).")
            self.paths = [p if isinstance(p, np.ndarray) else str(p) for p in paths]
            if not self.enlarge_small:
                self.paths, self.skipped_small = self._usable(self.paths, bool(skip_small))
            self.count = len(self.paths)
        else:
            self.paths = None
            self.count = len(source)
            if not self.count:
                raise ValueError("RefSRPatchDataset: the reference source is empty.")
        self.epoch = 0
        self._cache_limit = int(cache_limit_mb) * 2**20
        self._cache = collections.OrderedDict()
        self._cache_bytes = 0

    def __getstate__(self):  # picklable for PyDataset workers: no decoded images
        state = dict(self.__dict__)
        state["_cache"] = collections.OrderedDict()
        state["_cache_bytes"] = 0
        return state

    def __len__(self):
        return self.steps_per_epoch

    def on_epoch_end(self):
        self.epoch += 1

    # Images ----------------------------------------------------------------------------------------
    def _usable(self, paths, skip_small):
        """`(kept paths, number skipped)`: images smaller than the HR patch left out (skip_small) or ImageTooSmall."""
        kept, _, small, _ = usable_images(
            paths, self.hr_size, self.scale, self.patch_size, skip_small=skip_small,
            too_small=lambda name, width, height: (
                f"{name}: image is {width}x{height}, too small for {self.hr_size}x{self.hr_size} HR patches "
                f"(patch_size {self.patch_size} x scale {self.scale}); skip_small=True leaves such images out."))
        if not kept:
            raise ImageTooSmall(f"RefSRPatchDataset: all {len(small)} training images are smaller than the "
                                f"{self.hr_size}x{self.hr_size} HR patch (patch_size {self.patch_size} x scale "
                                f"{self.scale}), e.g. {small[0]}.")
        return kept, len(small)

    def _name(self, index):
        if self.source is not None:
            return self.source.name(index)
        path = self.paths[index]
        return f"image {index}" if isinstance(path, np.ndarray) else path

    def _decode(self, index):
        if self.source is not None:
            return np.asarray(self.source.hr(index))
        path = self.paths[index]
        if not isinstance(path, np.ndarray):
            return load_image(path)
        if path.dtype != np.uint8 or path.ndim != 3 or path.shape[-1] != 3:
            raise ValueError(f"RefSRPatchDataset: image {index} must be uint8 RGB (H, W, 3), got "
                             f"{path.dtype} {path.shape}.")
        return path

    def _load(self, index):
        if index in self._cache:
            self._cache.move_to_end(index)
            return self._cache[index]
        image = self._decode(index)
        if min(image.shape[:2]) < self.hr_size and self.enlarge_small:
            from PIL import Image

            factor = self.hr_size / min(image.shape[:2])
            size = (max(self.hr_size, math.ceil(image.shape[1] * factor)),
                    max(self.hr_size, math.ceil(image.shape[0] * factor)))
            image = np.asarray(Image.fromarray(image).resize(size, Image.BICUBIC))
        if image.shape[0] < self.hr_size or image.shape[1] < self.hr_size:
            raise ImageTooSmall(f"{self._name(index)}: image is {image.shape[1]}x{image.shape[0]}, too small for "
                                f"{self.hr_size}x{self.hr_size} HR patches (patch_size {self.patch_size} x scale "
                                f"{self.scale}).")
        self._cache[index] = image
        self._cache_bytes += image.nbytes
        while self._cache_bytes > self._cache_limit and len(self._cache) > 1:
            self._cache_bytes -= self._cache.popitem(last=False)[1].nbytes
        return image

    def _given_references(self, index, rng, lr_full):
        if self.num_refs == 1:
            return [self._crop_reference(self.source.reference(index, lr=lr_full), index, rng)]
        refs = self.source.references(index, lr=lr_full)
        if len(refs) < self.num_refs:
            raise ValueError(f"{self._name(index)}: {len(refs)} reference(s), num_refs {self.num_refs} asked.")
        return [self._crop_reference(ref, index, rng) for ref in refs[:self.num_refs]]

    def _crop_reference(self, ref, index, rng):
        ref = np.asarray(ref)
        if ref.ndim != 3 or ref.shape[-1] != 3:
            raise ValueError(f"{self._name(index)}: the reference must be RGB (H, W, 3), got {ref.shape}.")
        r = self.ref_size
        if ref.shape[0] < r or ref.shape[1] < r:  # reflect-pad small references (TTSR zero-pads CUFED's)
            pad_h, pad_w = max(0, r - ref.shape[0]), max(0, r - ref.shape[1])
            ref = np.pad(ref, ((0, pad_h), (0, pad_w), (0, 0)), mode="symmetric")
        top = int(rng.integers(ref.shape[0] - r + 1))
        left = int(rng.integers(ref.shape[1] - r + 1))
        return ref[top:top + r, left:left + r]

    # Samples ---------------------------------------------------------------------------------------
    def sample(self, rng):
        """One `(inputs_dict, hr, transform_or_None)` sample drawn with `rng`."""
        index = int(rng.integers(self.count))
        image = self._load(index)
        joint = self.joint_augment and self.augment
        if joint:
            image = np.ascontiguousarray(augment_image(image, int(rng.integers(8))))
        s = self.hr_size
        top = int(rng.integers(image.shape[0] - s + 1))
        left = int(rng.integers(image.shape[1] - s + 1))
        hr = image[top:top + s, left:left + s]
        transform = None
        if self.source is None:
            refs = []
            for k in range(self.num_refs):
                ref, to_source = synthesize_reference(image, rng, target_box=(top, left, s, s),
                                                      ref_size=(self.ref_size, self.ref_size), params=self.view_params)
                refs.append(ref)
                if k == 0:
                    transform = _translation(-left, -top) @ to_source  # reference pixel -> HR-patch pixel
        else:
            lr_full = None
            if getattr(self.source, "needs_lr", False):
                lr_full = imresize(image[:image.shape[0] // self.scale * self.scale,
                                         :image.shape[1] // self.scale * self.scale], 1.0 / self.scale)
            refs = self._given_references(index, rng, lr_full)
        (hr,), hr_aug = augment_with_matrix([hr], *_draw_augment(rng, self.augment and not joint))
        augmented = []
        for k, ref in enumerate(refs):
            (ref,), ref_aug = augment_with_matrix([ref], *_draw_augment(rng, self.augment and not joint))
            augmented.append(ref)
            if k == 0 and transform is not None:
                transform = hr_aug @ transform @ np.linalg.inv(ref_aug)
                transform = transform / transform[2, 2]
        lr = imresize(hr, 1.0 / self.scale)
        ref = augmented[0] if self.num_refs == 1 else augmented
        return prepare_batch_item(self.input_names, lr, ref, self.scale), hr, transform

    def __getitem__(self, index):
        rng = np.random.default_rng([self.seed, self.epoch, int(index)])
        samples = [self.sample(rng) for _ in range(self.batch_size)]
        inputs = {name: np.stack([s[0][name] for s in samples]) for name in self.input_names}
        hr = np.stack([s[1] for s in samples]).astype(np.float32)
        if self.return_transforms:
            inputs["transform"] = np.stack([s[2] for s in samples]).astype(np.float32)
        return inputs, hr
