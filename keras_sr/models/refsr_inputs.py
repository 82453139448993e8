"""The input dicts of reference-based SR models, built from whole LR and reference images.

RefSR models (TTSR, C2-Matching) take named inputs (`lr`, `lr_up`, `ref`,
`ref_down_up`, `ref_down`) made from one LR image and one reference by MATLAB
bicubic (`keras_sr.imresize`). Multi-reference models (SRNTT's pooled
matching, CIMR-SR) take a stack of `K` references instead: `refs` and
`refs_down_up`, `(B, K, Hr, Wr, 3)`; `ref` may then be a list of images. The
references of a stack are cropped to multiples of the scale and brought to a
common size by symmetric (mirror) padding to the largest height and width
(**keras-sr's choice**: mirrored borders only add mirrored patches of the same
reference, where zero padding would add patches that match nothing).

Models that take one reference get several through a documented reduction:
`best_reference(lr, refs, scale)` picks the reference whose bicubic-downscaled
copy best matches the LR image (`reference_similarity`: mean over textured
5x5 LR patches of the best normalized cross-correlation with the reference's
patches, on Y; **keras-sr's choice**, cheap and model-independent). The preparation lives with the models (each
model's `prepare_inputs`, registered in its spec); the training loader
(`keras_sr.data.refsr_dataset.RefSRPatchDataset`) builds its patches with the
same `prepare_batch_item`, so the data layer imports this module and never the
reverse.

Example:
    >>> from keras_sr.models.refsr_inputs import make_inputs
    >>> batch = make_inputs(("lr", "lr_up", "ref", "ref_down_up"), lr_uint8, ref_uint8, scale=4)
    >>> sorted(batch)                                      # batches of one, float32 in [0, 255]
    >>> make_inputs(("lr", "lr_up", "refs", "refs_down_up"), lr, [ref1, ref2])["refs"].shape   # (1, 2, H, W, 3)
"""

import numpy as np

from keras_sr.color import rgb_to_y
from keras_sr.imresize import imresize

__all__ = ["KNOWN_INPUTS", "STACK_INPUTS", "check_input_names", "takes_reference_stack", "prepare_batch_item",
           "make_inputs", "stack_references", "reference_similarity", "best_reference", "rgb_pair", "ceil_to",
           "pad_edge"]

STACK_INPUTS = ("refs", "refs_down_up")  # (K, Hr, Wr, 3) per sample: several references
KNOWN_INPUTS = ("lr", "lr_up", "ref", "ref_down_up", "ref_down") + STACK_INPUTS


def check_input_names(input_names):
    """`input_names` as a tuple; an error names any name this module cannot prepare."""
    names = tuple(input_names)
    unknown = [n for n in names if n not in KNOWN_INPUTS]
    if unknown:
        raise ValueError(f"refsr_dataset: unknown input name(s) {unknown}; known: {KNOWN_INPUTS}.")
    return names


def takes_reference_stack(input_names):
    """True when the inputs hold a stack of references (`refs`, `refs_down_up`): a multi-reference model."""
    return any(name in STACK_INPUTS for name in input_names)


def _as_list(ref):
    refs = list(ref) if isinstance(ref, (list, tuple)) else [ref]
    if not refs:
        raise ValueError("no reference given (an empty list of references).")
    return refs


def prepare_batch_item(input_names, lr, ref, scale):
    """The per-sample input dict (float32, [0, 255]) for `input_names` from uint8 `lr` and `ref`.

    `ref` is one image or, for the stack inputs (`refs`, `refs_down_up`), a list of same-size images;
    a single-reference model given a list of several raises (reduce them first: `best_reference`).
    """
    scale = int(scale)
    refs = _as_list(ref)
    if len(refs) > 1 and not takes_reference_stack(input_names):
        raise ValueError(f"inputs {tuple(input_names)} take one reference, got {len(refs)} (reduce them first, "
                         "e.g. keras_sr.models.refsr_inputs.best_reference).")
    ref = refs[0]
    out = {}
    for name in input_names:
        if name == "lr":
            out[name] = lr
        elif name == "lr_up":
            out[name] = imresize(lr, scale)
        elif name == "ref":
            out[name] = ref
        elif name == "ref_down":
            out[name] = imresize(ref, 1.0 / scale)
        elif name == "ref_down_up":
            out[name] = imresize(imresize(ref, 1.0 / scale), scale)
        elif name == "refs":
            out[name] = np.stack(refs)
        elif name == "refs_down_up":
            out[name] = np.stack([imresize(imresize(r, 1.0 / scale), scale) for r in refs])
    return {k: np.asarray(v, np.float32) for k, v in out.items()}


def stack_references(refs, scale):
    """Same-size references: each cropped to a multiple of `scale`, then mirror-padded to the largest size."""
    scale = int(scale)
    refs = [np.asarray(r) for r in _as_list(refs)]
    for i, r in enumerate(refs):
        if r.ndim != 3 or r.shape[-1] != 3:
            raise ValueError(f"reference {i} must be an RGB (H, W, 3) image, got shape {r.shape}.")
    refs = [r[:r.shape[0] - r.shape[0] % scale, :r.shape[1] - r.shape[1] % scale] for r in refs]
    height, width = max(r.shape[0] for r in refs), max(r.shape[1] for r in refs)
    return [np.pad(r, ((0, height - r.shape[0]), (0, width - r.shape[1]), (0, 0)), mode="symmetric")
            if r.shape[:2] != (height, width) and min(r.shape[:2]) > 0 else r for r in refs]


def rgb_pair(lr, ref, where="prepare_inputs"):
    """`(lr, ref)` as float32 arrays; a `ValueError` naming the one that is not an RGB (H, W, 3) image."""
    lr, ref = np.asarray(lr, np.float32), np.asarray(ref, np.float32)
    for label, image in (("lr", lr), ("ref", ref)):
        if image.ndim != 3 or image.shape[-1] != 3:
            raise ValueError(f"{where}: {label} must be an RGB (H, W, 3) image, got shape {image.shape}.")
    return lr, ref


def ceil_to(n, multiple):
    """The smallest multiple of `multiple` that is >= `n`."""
    return -(-int(n) // multiple) * multiple


def pad_edge(image, height, width):
    """`image` (H, W, C) edge-padded, or cropped, at the bottom/right to `height` x `width`."""
    return np.pad(image, [(0, max(0, height - image.shape[0])), (0, max(0, width - image.shape[1])), (0, 0)],
                  mode="edge")[:height, :width]


def make_inputs(input_names, lr, ref, scale=4):
    """A batch of one (dict keyed by `input_names`) for whole images `lr`, `ref` (RGB uint8), as the loader does.

    The reference is cropped to a multiple of `scale` (`ttsr.prepare_inputs` is this with TTSR's inputs).

    Example:
        >>> batch = make_inputs(ttsr.INPUT_NAMES, lr, ref)
        >>> sr = model(batch)                    # (1, 4h, 4w, 3)
    """
    names = check_input_names(input_names)
    lr = np.asarray(lr)
    if lr.ndim != 3 or lr.shape[-1] != 3:
        raise ValueError(f"lr must be an RGB (H, W, 3) image, got shape {lr.shape}.")
    scale = int(scale)
    refs = _as_list(ref)
    for i, image in enumerate(refs):
        image = np.asarray(image)
        if image.ndim != 3 or image.shape[-1] != 3:
            label = "ref" if len(refs) == 1 else f"reference {i}"
            raise ValueError(f"{label} must be an RGB (H, W, 3) image, got shape {image.shape}.")
    refs = stack_references(refs, scale)
    if min(min(r.shape[:2]) for r in refs) < 4 * scale or min(lr.shape[:2]) < 4:
        raise ValueError(f"images too small (lr {lr.shape[:2]}, ref {[r.shape[:2] for r in refs]}).")
    return {k: v[None] for k, v in prepare_batch_item(names, lr, refs if len(refs) > 1 else refs[0],
                                                      scale).items()}


def _normalized_patches(y, size, stride):
    h, w = y.shape
    rows = range(0, h - size + 1, stride)
    cols = range(0, w - size + 1, stride)
    patches = np.stack([y[r:r + size, c:c + size].ravel() for r in rows for c in cols])
    patches = patches - patches.mean(axis=1, keepdims=True)
    std = np.sqrt((patches ** 2).mean(axis=1))
    return patches / np.maximum(np.linalg.norm(patches, axis=1, keepdims=True), 1e-8), std


def _stride_for(h, w, size, limit):
    count = max(1, (h - size + 1) * (w - size + 1))
    return max(1, int(np.ceil(np.sqrt(count / limit))))


def reference_similarity(lr, ref, scale, patch_size=5, max_queries=4096, max_keys=8192, min_std=2.0):
    """How well `ref` matches `lr`: mean best normalized cross-correlation of textured LR patches.

    The reference is bicubic-downscaled by `scale` to the LR's resolution (MATLAB bicubic); both are
    taken on Y (BT.601); 5x5 patches, mean removed and L2-normalized; for every LR patch whose standard
    deviation is at least `min_std` grey levels, the best correlation over the reference's patches;
    the result is their mean in [-1, 1] (0 when the LR has no textured patch). Query and key patches
    are taken on strided grids so at most `max_queries` x `max_keys` correlations are computed.
    """
    scale = int(scale)
    ref = np.asarray(ref)
    ref = ref[:ref.shape[0] - ref.shape[0] % scale, :ref.shape[1] - ref.shape[1] % scale]
    y_lr = np.asarray(rgb_to_y(np.asarray(lr, np.uint8)), np.float64)
    y_ref = np.asarray(rgb_to_y(imresize(np.asarray(ref, np.uint8), 1.0 / scale)), np.float64)
    size = int(patch_size)
    if min(y_lr.shape) < size or min(y_ref.shape) < size:
        return 0.0
    queries, std = _normalized_patches(y_lr, size, _stride_for(*y_lr.shape, size, max_queries))
    queries = queries[std >= min_std]
    if not len(queries):
        return 0.0
    keys, _ = _normalized_patches(y_ref, size, _stride_for(*y_ref.shape, size, max_keys))
    return float(np.mean(np.max(queries @ keys.T, axis=1)))


def best_reference(lr, refs, scale):
    """`(index, scores)`: the reference of `refs` with the highest `reference_similarity` to `lr` (first on ties).

    The documented reduction of several references for models that take one.
    """
    refs = _as_list(refs)
    scores = [reference_similarity(lr, r, scale) for r in refs]
    return int(np.argmax(scores)), scores
