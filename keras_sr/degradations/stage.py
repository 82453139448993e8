"""`DeviceDegradation`: the in-step half of Real-ESRGAN's data stage (keras.ops, static shapes, compiled).

What xinntao/Real-ESRGAN does on the GPU in `RealESRGANModel.feed_data`, as
one pure function the GAN trainer (`keras_sr.training.gan`) calls inside its
compiled step, before the generator: USM-sharpen the HR crops, degrade them
(`keras_sr.degradations.device.degrade`), crop the `gt_size` training pair
(one window for the batch, drawn by the data stage), pass it through the
training-pair pool (`keras_sr.degradations.pool.pool_step`) and sharpen the
HR crop again for the L1 / perceptual target. Its input is a
`RealESRGANDataset(mode="device")` batch; its output `(lr, hr_usm, hr)` in
[0, 255], and the new pool state.

Example:
    >>> stage = DeviceDegradation(config, batch_size=12, gt_size=256, queue_size=180)
    >>> state = stage.init_state()
    >>> (lr, target, real), state = stage(batch, state)           # inside tf.function / jax.jit
"""

from keras import ops

from keras_sr.degradations.device import DEVICE_KEYS, degrade, derive_seed, usm_sharpen
from keras_sr.degradations.pool import pool_init, pool_step

__all__ = ["DeviceDegradation"]


class DeviceDegradation:
    """`(batch, pool_state) -> ((lr, hr_usm, hr), pool_state)` in keras.ops; see the module docstring."""

    def __init__(self, config, batch_size, gt_size, queue_size=180):
        self.config = config
        self.scale = int(config.scale)
        self.batch_size, self.gt_size, self.queue_size = int(batch_size), int(gt_size), int(queue_size or 0)
        if self.queue_size and self.queue_size % self.batch_size:
            raise ValueError(f"queue_size {queue_size} must be a multiple of batch_size {batch_size}.")

    def init_state(self):
        """The empty pool (numpy arrays; `{}` without a pool)."""
        if not self.queue_size:
            return {}
        lr = self.gt_size // self.scale
        return pool_init(self.queue_size, (lr, lr, 3), (self.gt_size, self.gt_size, 3))

    def _sharpen(self, x):
        c = self.config
        return usm_sharpen(x, c.usm_weight, c.usm_threshold, c.usm_radius)

    def __call__(self, batch, state):
        hr = ops.cast(batch["hr"], "float32") / 255.0
        lr = degrade(self._sharpen(hr), {k: batch[k] for k in DEVICE_KEYS})
        crop = ops.cast(batch["crop"], "int32")
        top, left = crop[0], crop[1]
        zero = ops.zeros((), "int32")
        b, g, s = hr.shape[0], self.gt_size, self.scale
        hr = ops.slice(hr, [zero, top, left, zero], [b, g, g, 3])
        lr = ops.slice(lr, [zero, top // s, left // s, zero], [b, g // s, g // s, 3])
        if self.queue_size:
            lr, hr, state = pool_step(state, lr, hr, derive_seed(batch["noise_seed"], 50))
        return (lr * 255.0, self._sharpen(hr) * 255.0, hr * 255.0), state
