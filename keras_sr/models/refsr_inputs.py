"""The input dicts of reference-based SR models, built from whole LR and reference images.

RefSR models (TTSR, C2-Matching) take named inputs (`lr`, `lr_up`, `ref`,
`ref_down_up`, `ref_down`) made from one LR image and one reference by MATLAB
bicubic (`keras_sr.imresize`). The preparation lives with the models (each
model's `prepare_inputs`, registered in its spec); the training loader
(`keras_sr.data.refsr_dataset.RefSRPatchDataset`) builds its patches with the
same `prepare_batch_item`, so the data layer imports this module and never the
reverse.

Example:
    >>> from keras_sr.models.refsr_inputs import make_inputs
    >>> batch = make_inputs(("lr", "lr_up", "ref", "ref_down_up"), lr_uint8, ref_uint8, scale=4)
    >>> sorted(batch)                                      # batches of one, float32 in [0, 255]
"""

import numpy as np

from keras_sr.imresize import imresize

__all__ = ["KNOWN_INPUTS", "check_input_names", "prepare_batch_item", "make_inputs"]

KNOWN_INPUTS = ("lr", "lr_up", "ref", "ref_down_up", "ref_down")


def check_input_names(input_names):
    """`input_names` as a tuple; an error names any name this module cannot prepare."""
    names = tuple(input_names)
    unknown = [n for n in names if n not in KNOWN_INPUTS]
    if unknown:
        raise ValueError(f"refsr_dataset: unknown input name(s) {unknown}; known: {KNOWN_INPUTS}.")
    return names


def prepare_batch_item(input_names, lr, ref, scale):
    """The per-sample input dict (float32, [0, 255]) for `input_names` from uint8 `lr` and `ref`."""
    scale = int(scale)
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
    return {k: np.asarray(v, np.float32) for k, v in out.items()}


def make_inputs(input_names, lr, ref, scale=4):
    """A batch of one (dict keyed by `input_names`) for whole images `lr`, `ref` (RGB uint8), as the loader does.

    The reference is cropped to a multiple of `scale` (`ttsr.prepare_inputs` is this with TTSR's inputs).

    Example:
        >>> batch = make_inputs(ttsr.INPUT_NAMES, lr, ref)
        >>> sr = model(batch)                    # (1, 4h, 4w, 3)
    """
    names = check_input_names(input_names)
    lr, ref = np.asarray(lr), np.asarray(ref)
    for label, image in (("lr", lr), ("ref", ref)):
        if image.ndim != 3 or image.shape[-1] != 3:
            raise ValueError(f"{label} must be an RGB (H, W, 3) image, got shape {image.shape}.")
    scale = int(scale)
    ref = ref[:ref.shape[0] - ref.shape[0] % scale, :ref.shape[1] - ref.shape[1] % scale]
    if min(ref.shape[:2]) < 4 * scale or min(lr.shape[:2]) < 4:
        raise ValueError(f"images too small (lr {lr.shape[:2]}, ref {ref.shape[:2]}).")
    return {k: v[None] for k, v in prepare_batch_item(names, lr, ref, scale).items()}
