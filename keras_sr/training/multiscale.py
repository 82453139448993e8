"""Mixed-scale training batches for pre-upsampling models: one set of weights for x2, x3 and x4.

VDSR (Kim et al., CVPR 2016, Sec. 3.4 "single model for multiple scales")
and DRRN (Tai et al., CVPR 2017, Sec. 4.1) train ONE network on bicubic
upsampled patches of every scale mixed together. keras-sr's pre-upsampling
models hold no scale-dependent weight: `scale=None` takes the bicubic image,
`scale=N` adds the parameter-free `BicubicResize(N)` in front, and both have
the same variables. So the engine trains the `scale=None` network on
`(bicubic, hr)` pairs of size `hr_patch` drawn from every scale, and
validates and exports the `scale=N` model with the same weights.

`make_mixed_scale_data(split, recipe, scales, hr_patch)`:

1. one loader per scale from the engine's usual loaders
   (`keras_sr.training.data.make_train_data`: tf.data or the PyDataset one)
   with an LR window of `ceil(hr_patch / s) + 2 * MARGIN` pixels, so the
   bicubic upsampling of the window equals the bicubic upsampling of the
   whole LR image on the `hr_patch` crop taken MARGIN LR pixels inside it
   (the cubic kernel reaches 2 LR pixels): the pairs are those of the
   papers' offline flow (upsample the whole image, then cut sub-images);
2. each window is upsampled with MATLAB bicubic (the separable weight
   matrices of `keras_sr.imresize`, static for the fixed window size) and the
   bicubic and HR patches are cropped to `hr_patch`;
3. every batch holds every scale: the global batch is split as evenly as
   possible (64 over x2/x3/x4: 22/21/21 rows) and interleaved, row `j` coming
   from `scales[j % len(scales)]` (`batch_layout`), so per-replica slices of
   the batch also mix the scales.

Stored same-size pairs (`tools.data_aug ... --same_size`, an HDF5 file or
patch folder whose LR patches are already bicubic-upsampled, the papers'
flow) are cropped to `hr_patch` without upsampling; the HDF5 `scale` column
selects each scale's rows.

Example:
    >>> split = resolve_data(["T91/HR", "BSD200/HR"])
    >>> batches = make_mixed_scale_data(split, recipe, scales=(2, 3, 4), hr_patch=41, seed=0)
    >>> x, y = next(iter(batches))          # (64, 41, 41, 1) bicubic, (64, 41, 41, 1) HR
    >>> batch_layout((2, 3, 4), 64)[:4]     # [2, 3, 4, 2]
"""

import dataclasses
import math

import numpy as np

import keras

from keras_sr.imresize import resize_weights
from keras_sr.data.py_dataset import open_source
from keras_sr.training.data import make_train_data

__all__ = ["MARGIN", "batch_layout", "split_batch", "lr_window", "upsampling_matrix", "MixedScaleBatches",
           "make_mixed_scale_data"]

MARGIN = 2  # LR pixels: the reach of MATLAB's cubic kernel when enlarging


def split_batch(batch_size, count):
    """Rows per scale: `batch_size` split as evenly as possible, the first scales taking the remainder."""
    batch_size, count = int(batch_size), int(count)
    if batch_size < count:
        raise ValueError(f"a batch of {batch_size} cannot hold {count} scales; use batch_size >= {count}.")
    return [batch_size // count + (k < batch_size % count) for k in range(count)]


def batch_layout(scales, batch_size):
    """The scale of every row of a mixed batch: row `j` is from `scales[j % len(scales)]`."""
    scales = [int(s) for s in scales]
    split_batch(batch_size, len(scales))
    return [scales[j % len(scales)] for j in range(int(batch_size))]


def _interleave_order(sizes):
    """Permutation of the concatenated per-scale rows that gives row j from part `j % n`."""
    n = len(sizes)
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    return np.array([starts[j % n] + j // n for j in range(int(sum(sizes)))], np.int32)


def lr_window(hr_patch, scale, available=None, margin=MARGIN):
    """`(lr_size, offset)`: the LR window to crop at `scale` and the HR offset of the `hr_patch` crop in it.

    `available` is the side of stored LR patches (None for whole images);
    the margin shrinks to fit them.
    """
    hr_patch, scale = int(hr_patch), int(scale)
    need = math.ceil(hr_patch / scale)
    if available is not None:
        if available < need:
            raise ValueError(f"stored LR patches of {available} pixels are smaller than the {need} needed for "
                             f"{hr_patch}-pixel HR patches at x{scale}.")
        margin = min(margin, (int(available) - need) // 2)
    return need + 2 * margin, margin * scale


def upsampling_matrix(lr_size, scale):
    """`(lr_size * scale, lr_size)` float32 MATLAB-bicubic weights: `up = W @ x @ W.T` per channel."""
    return resize_weights(int(lr_size), int(lr_size) * int(scale), float(scale)).astype(np.float32)


@dataclasses.dataclass
class _Part:
    scale: int
    rows: int
    data: object
    matrix: object  # None: the stored LR patches are bicubic already (same-size pairs)
    offset: int


class MixedScaleBatches(keras.utils.PyDataset):
    """Mixed-scale `(bicubic, hr)` batches from per-scale PyDataset loaders (numpy; any backend).

    Args:
        parts: per scale, `(scale, loader, matrix, offset)`: an `SRPatchDataset`
            of `(lr, hr)` windows, its bicubic matrix (None for same-size
            pairs) and the HR offset of the crop.
        hr_patch: side of the bicubic and HR patches returned.
        workers: `keras.utils.PyDataset` workers (threads).
    """

    def __init__(self, parts, hr_patch, workers=1, max_queue_size=10):
        super().__init__(workers=workers, use_multiprocessing=False, max_queue_size=max_queue_size)
        self.parts = list(parts)
        self.hr_patch = int(hr_patch)
        self.order = _interleave_order([p.rows for p in self.parts])
        self.scales = [p.scale for p in self.parts]

    def __len__(self):
        return min(len(p.data) for p in self.parts)

    def on_epoch_end(self):
        for part in self.parts:
            part.data.on_epoch_end()

    def __getitem__(self, index):
        xs, ys = [], []
        h = self.hr_patch
        for part in self.parts:
            lr, hr = part.data[index]
            if part.matrix is not None:
                lr = np.einsum("oh,nhwc->nowc", part.matrix, lr)
                lr = np.einsum("pw,nowc->nopc", part.matrix, lr)
            o = part.offset
            xs.append(lr[:, o:o + h, o:o + h])
            ys.append(hr[:, o:o + h, o:o + h])
        x = np.concatenate(xs)[self.order].astype(np.float32)
        y = np.concatenate(ys)[self.order].astype(np.float32)
        return x, y


def _tf_mixed(parts, hr_patch):
    import tensorflow as tf

    h = int(hr_patch)

    def prepare(part):
        matrix = None if part.matrix is None else tf.constant(part.matrix)
        o = part.offset

        def fn(lr, hr):
            if matrix is not None:
                lr = tf.einsum("oh,nhwc->nowc", matrix, lr)
                lr = tf.einsum("pw,nowc->nopc", matrix, lr)
            return lr[:, o:o + h, o:o + h], hr[:, o:o + h, o:o + h]

        return part.data.map(fn, num_parallel_calls=tf.data.AUTOTUNE)

    order = tf.constant(_interleave_order([p.rows for p in parts]))

    def merge(*pairs):
        x = tf.concat([p[0] for p in pairs], axis=0)
        y = tf.concat([p[1] for p in pairs], axis=0)
        return tf.gather(x, order), tf.gather(y, order)

    zipped = tf.data.Dataset.zip(tuple(prepare(p) for p in parts))
    return zipped.map(merge, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)


def _stored_window(split, scale):
    """`(factor, lr_side)` of stored patch pairs at `scale`, or `(scale, None)` for whole images / shards."""
    if split.kind not in ("hdf5", "patch_pairs"):
        return int(scale), None

    source = open_source(split.train, int(scale))
    return int(source.factor), int(min(source.lr_shape[:2]))


def make_mixed_scale_data(split, recipe, scales, hr_patch, seed=None, steps_per_epoch=None, loader=None, log=None):
    """Batches of `(bicubic, hr)` float32 patches of side `hr_patch`, every scale of `scales` in every batch.

    Args:
        split: a resolved `keras_sr.data.sources.DataSplit`.
        recipe: the recipe (batch size, augmentation, Y channel, workers; its
            own `scale` is not used here).
        scales: the scales mixed (e.g. `(2, 3, 4)`).
        hr_patch: side of the patches the network sees (VDSR: 41).
        seed, steps_per_epoch, loader, log: as `make_train_data` (each scale's
            loader gets its own seed).

    Returns:
        a `tf.data.Dataset` (tf.data loader) or a `MixedScaleBatches` PyDataset.
    """

    scales = [int(s) for s in scales]
    if not scales or len(set(scales)) != len(scales) or min(scales) < 1:
        raise ValueError(f"scales must be distinct positive integers, got {scales}.")
    rows = split_batch(recipe.batch_size, len(scales))
    parts, notes = [], []
    for k, (scale, count) in enumerate(zip(scales, rows)):
        factor, available = _stored_window(split, scale)
        if factor == 1:  # same-size stored pairs: the LR patch is the bicubic input already
            if available < hr_patch:
                raise ValueError(f"stored patches are {available} pixels, smaller than the {hr_patch}-pixel patch.")
            size, offset, matrix = int(hr_patch), 0, None
        elif factor == scale:
            size, offset = lr_window(hr_patch, scale, available)
            matrix = upsampling_matrix(size, scale)
        else:
            raise ValueError(f"x{scale}: the stored patch pairs have an LR/HR factor of {factor}, neither {scale} "
                             "nor 1 (same-size pairs).")
        sub = dataclasses.replace(recipe, scale=scale)
        data = make_train_data(split, sub, seed=None if seed is None else int(seed) + 100_003 * k,
                               steps_per_epoch=steps_per_epoch, loader=loader, log=log, patch_size=size,
                               batch_size=count)
        parts.append(_Part(scale, count, data, matrix, offset))
        notes.append(f"x{scale}: {count} rows, LR window {size}" + (" (same-size pairs)" if matrix is None else ""))
    if log:
        log(f"mixed-scale batches of {recipe.batch_size} {hr_patch}x{hr_patch} bicubic/HR patches: " + "; ".join(notes))
    if isinstance(parts[0].data, keras.utils.PyDataset):
        return MixedScaleBatches(parts, hr_patch, workers=parts[0].data.workers)
    return _tf_mixed(parts, hr_patch)
