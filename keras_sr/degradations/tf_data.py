"""`as_tf_dataset`: a `RealESRGANDataset` as a `tf.data.Dataset` (TensorFlow only; imported lazily).

Element `i` of epoch `e` is `dataset[i]` of that epoch (host mode: `(lr, hr_usm, hr)`; device mode: the dict of
HR crops and random choices), so the tf.data path yields the PyDataset's batches, reproducible per
`(seed, epoch, index)`; `tf.data` runs the numpy / Pillow work in its own threads (`num_parallel_calls`).

Example:
    >>> ds = as_tf_dataset(RealESRGANDataset(["DF2K/HR"], mode="host"), epochs=10)
    >>> for lr, hr_usm, hr in ds.take(2): ...
"""

import numpy as np

from keras_sr.degradations.dataset import RealESRGANDataset  # noqa: F401 - the type this wraps

__all__ = ["as_tf_dataset"]


def as_tf_dataset(dataset, epochs=1, num_parallel_calls=None):
    """`epochs * len(dataset)` batches of `dataset` in order, computed by `tf.numpy_function` workers."""
    import tensorflow as tf

    sample = dataset.__getitem__(0)
    keys = sorted(sample) if isinstance(sample, dict) else None
    values = [sample[k] for k in keys] if keys else list(sample)
    n = len(dataset)

    def load(step):
        epoch, index = divmod(int(step), n)
        batch = dataset.host_batch(index, epoch) if dataset.mode == "host" else dataset.device_batch(index, epoch)
        items = [batch[k] for k in keys] if keys else list(batch)
        return [np.asarray(v, dtype=s.dtype) for v, s in zip(items, values)]

    def fetch(step):
        out = tf.numpy_function(load, [step], [tf.as_dtype(v.dtype) for v in values])
        for tensor, value in zip(out, values):
            tensor.set_shape(value.shape)
        return dict(zip(keys, out)) if keys else tuple(out)

    steps = tf.data.Dataset.range(int(epochs) * n)
    return steps.map(fetch, num_parallel_calls=num_parallel_calls or tf.data.AUTOTUNE, deterministic=True)
