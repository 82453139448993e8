"""Data sources and loaders of keras-sr (numpy only; TensorFlow pipelines live in `keras_sr.tfrecords`).

* `keras_sr.data.sources`: `resolve_data` (`--data`: the embedded scikit-image
  photographs, folders, TFRecord manifests, HDF5, patch pairs, `tfds:`) and
  `load_validation_pairs` (whole images by the evaluation protocol).
* `keras_sr.data.patches`: the one definition of aligned crops and flips/rotations.
* `keras_sr.data.py_dataset`: `SRPatchDataset`, a `keras.utils.PyDataset` for any backend.
* `keras_sr.data.patch_pairs`: the seed's offline patch flows (`tools.data_aug`).

Example:
    >>> split = resolve_data()
    >>> train = SRPatchDataset(split.train, scale=4, patch_size=48, batch_size=16, steps_per_epoch=1000)
    >>> val = load_validation_pairs(split.val, scale=4)
"""
