"""Inference of input-adaptive SR networks with the computation they need: ClassSR routing, SMSR sparsity.

* `classsr_upscale(model, lr)`: ClassSR's test procedure (Kong et al., CVPR
  2021; official `ClassSR_Model.test`, `crop_cpu` and `combine`): the LR image
  is cut into 32x32 sub-images with stride 28, the Class-Module classifies
  each, each goes through its class's branch only (batched by class), and the
  SR sub-images are put back with overlaps averaged. The official grid starts
  every `stride` pixels and drops the rows/columns after the last full
  sub-image (its PSNR is on the cropped image); here a last sub-image aligned
  with the border is added where the grid falls short, so the whole image is
  super-resolved and scored by the evaluation protocol. MACs: the classifier
  on every sub-image plus each sub-image's branch, beside the large branch
  alone on the same sub-images (`route="large"` runs that baseline).
* `smsr_upscale(model, lr)`: SMSR's hard-mask inference (run densely, equal to
  the sparse computation) and the MACs of the sparse inference counted from
  its masks (`SparseMaskConv.sparse_macs`) beside the dense network's.

MACs come from `keras_sr.analysis.flops.count_macs` (multiply-accumulates of
convolutions and dense layers).

Example:
    >>> result = classsr_upscale(model, lr)                 # model: a "classsr" model
    >>> result.sr.shape, result.class_counts, result.macs / result.baseline_macs
    >>> smsr_upscale(smsr_model, lr).macs_ratio            # sparse / dense MACs
"""

import dataclasses

import numpy as np

import keras

from keras_sr.analysis.flops import count_macs
from keras_sr.models.smsr import mask_model, module_layers

__all__ = ["patch_starts", "split_patches", "merge_patches", "RoutedResult", "classsr_upscale", "SparseResult",
           "smsr_upscale", "classsr_parts"]


def patch_starts(length, patch, stride):
    """Start offsets of `patch`-long windows every `stride` pixels, plus one at `length - patch` if needed."""
    if length <= patch:
        return [0]
    starts = list(range(0, length - patch + 1, stride))
    if starts[-1] + patch < length:
        starts.append(length - patch)
    return starts


def split_patches(image, patch, stride):
    """`(patches (N, p, p, C), positions [(y, x)])` of an `(H, W, C)` image (p = min(patch, H, W) per axis)."""
    h, w = image.shape[:2]
    ph, pw = min(patch, h), min(patch, w)
    positions = [(y, x) for y in patch_starts(h, ph, stride) for x in patch_starts(w, pw, stride)]
    return np.stack([image[y:y + ph, x:x + pw] for y, x in positions]), positions


def merge_patches(patches, positions, shape, scale):
    """Put SR sub-images back at `scale` times their LR positions into an `shape` image, overlaps averaged."""
    out = np.zeros(shape, np.float64)
    count = np.zeros(shape[:2] + (1,), np.float64)
    for sr, (y, x) in zip(patches, positions):
        ph, pw = sr.shape[:2]
        out[y * scale:y * scale + ph, x * scale:x * scale + pw] += sr
        count[y * scale:y * scale + ph, x * scale:x * scale + pw] += 1.0
    return (out / np.maximum(count, 1.0)).astype(np.float32)


def classsr_parts(model):
    """`(classifier, [branch_1, ...])`: the nested models of a ClassSR model."""
    names = [layer.name for layer in model.layers]
    if "classifier" not in names:
        raise ValueError(f"{model.name} has no 'classifier' layer: not a ClassSR model.")
    branches = [model.get_layer(n) for n in sorted((n for n in names if n.startswith("branch_")),
                                                   key=lambda n: int(n.split("_")[1]))]
    return model.get_layer("classifier"), branches


@dataclasses.dataclass
class RoutedResult:
    """A ClassSR output: the SR image, each sub-image's class, and the MACs spent vs the large branch alone."""

    sr: np.ndarray
    classes: np.ndarray
    num_classes: int
    macs: int
    baseline_macs: int

    @property
    def class_counts(self):
        return [int((self.classes == k).sum()) for k in range(self.num_classes)]

    @property
    def macs_ratio(self):
        return self.macs / self.baseline_macs


def _run(submodel, batch, batch_size):
    outputs = [np.asarray(keras.ops.convert_to_numpy(submodel(batch[i:i + batch_size], training=False)))
               for i in range(0, len(batch), batch_size)]
    return np.concatenate(outputs, axis=0)


def classsr_upscale(model, lr, patch=32, stride=28, scale=4, route="classify", batch_size=64, transposed="input",
                    macs_cache=None):
    """ClassSR inference over overlapping sub-images (see the module docstring); returns a `RoutedResult`.

    Args:
        model: a built "classsr" model.
        lr: `(H, W, 3)` LR image, [0, 255] (uint8 or float).
        patch, stride: sub-image size and step in LR pixels (32 and 28, the official test options).
        route: "classify" (the Class-Module decides), "large" (every sub-image to the last branch), or a
            branch index (0-based) for every sub-image.
        transposed: MACs convention of transposed convolutions (`keras_sr.analysis.flops.count_macs`).
        macs_cache: a dict reused across images (MACs per sub-model and sub-image size).
    """
    classifier, branches = classsr_parts(model)
    patches, positions = split_patches(np.asarray(lr, np.float32), patch, stride)
    if route == "classify":
        classes = np.argmax(_run(classifier, patches, batch_size), axis=-1)
    else:
        index = len(branches) - 1 if route == "large" else int(route)
        if not 0 <= index < len(branches):
            raise ValueError(f"route must be 'classify', 'large' or 0..{len(branches) - 1}, got {route!r}.")
        classes = np.full(len(patches), index)
    sr_patches = np.zeros((len(patches), patches.shape[1] * scale, patches.shape[2] * scale, 3), np.float32)
    for k, branch in enumerate(branches):
        chosen = np.flatnonzero(classes == k)
        if len(chosen):
            sr_patches[chosen] = _run(branch, patches[chosen], batch_size)
    cache = {} if macs_cache is None else macs_cache

    def macs(sub):
        key = (sub.name, patches.shape[1:], transposed)
        if key not in cache:
            cache[key] = count_macs(sub, patches.shape[1:], transposed=transposed).total
        return cache[key]

    spent = sum(macs(branch) * int((classes == k).sum()) for k, branch in enumerate(branches))
    if route == "classify":
        spent += macs(classifier) * len(patches)
    h, w = lr.shape[:2]
    sr = merge_patches(sr_patches, positions, (h * scale, w * scale, 3), scale)
    return RoutedResult(sr, classes, len(branches), int(spent), int(macs(branches[-1]) * len(patches)))


@dataclasses.dataclass
class SparseResult:
    """An SMSR output with its hard spatial masks and the MACs of sparse vs dense inference."""

    sr: np.ndarray
    spatial_masks: list
    macs: int
    dense_macs: int
    channel_sparsity: float

    @property
    def macs_ratio(self):
        return self.macs / self.dense_macs

    @property
    def spatial_density(self):
        """Mean share of positions where the sparse channels are computed, over the modules."""
        return float(np.mean([m.mean() for m in self.spatial_masks]))


def smsr_upscale(model, lr, transposed="input"):
    """SMSR hard-mask inference of one `(H, W, 3)` LR image and its sparse / dense MACs (`SparseResult`)."""
    masked = mask_model(model)
    batch = np.asarray(lr, np.float32)[None]
    outputs = masked(batch, training=False)
    sr = np.asarray(keras.ops.convert_to_numpy(outputs[0]))[0]
    masks = [np.asarray(keras.ops.convert_to_numpy(m))[0, ..., 0] for m in outputs[1:]]
    report = count_macs(model, inputs=batch, transposed=transposed)
    dense = report.total
    sparse = dense
    channels = []
    for module, mask in zip(module_layers(model), masks):
        sparse += module.body.sparse_macs(mask) - report.within(f"{module.name}/body")
        channels.append(module.body.hard_channel_masks().ravel())
    return SparseResult(sr, masks, int(sparse), int(dense), float(np.mean(np.concatenate(channels))))
