"""Real-ESRGAN's second-order degradation model as a data stage (Wang et al., ICCVW 2021).

Modules (the package import itself loads none of them):

* `kernels`: blur kernels (isotropic / anisotropic Gaussian, generalized Gaussian, plateau) and the sinc filter,
  numpy, with the official sampling;
* `resize`: PyTorch `F.interpolate` (area / bilinear / bicubic) as matrices;
* `config`: `DegradationConfig` (the official probabilities and ranges) and `sample_batch`, every random choice of
  a batch from a numpy generator seeded by `(seed, epoch, index)`;
* `jpeg`: Pillow's exact JPEG (host) and a libjpeg emulation in keras.ops (device), tested against Pillow;
* `host`: the pipeline in numpy / scipy / Pillow (PyDataset and tf.data workers);
* `device`: the same pipeline in keras.ops on static shapes (inside the compiled train step);
* `pool`: the training-pair pool (device: pure keras.ops; host: seeded blocks);
* `dataset`: `RealESRGANDataset`, the PyDataset of HR crops and their random choices (or degraded pairs);
* `stage`: `DeviceDegradation`, the in-step half (degrade, crop, pool, USM);
* `tf_data`: `as_tf_dataset`, the same batches as a `tf.data.Dataset` (TensorFlow only).

Example:
    >>> from keras_sr.degradations.dataset import RealESRGANDataset
    >>> lr, hr_usm, hr = RealESRGANDataset(["DF2K/HR"], mode="host", hr_size=400, gt_size=256)[0]
"""
