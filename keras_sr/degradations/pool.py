"""Real-ESRGAN's training-pair pool ("queue"): more degradation diversity in a batch, on the device or the host.

A batch shares its resize factors and modes (xinntao/Real-ESRGAN
`RealESRGANModel._dequeue_and_enqueue`); the pool keeps `queue_size` (180)
degraded pairs: while it fills, batches pass through and are stored; once
full, each step shuffles the pool, returns its first `B` pairs and puts the
new batch in their place.

* `pool_init` / `pool_step`: that pool as a pure keras.ops function of
  `(state, lr, hr, seed) -> (lr, hr, state)` with a static-shape state
  (`lr_pool`, `hr_pool`, `count`), for the compiled train step (TensorFlow
  and JAX alike); the shuffle is a stateless random permutation of `seed`.
  Like the official pool it is not in the checkpoint: a resumed run refills it.
* `block_order(rng, blocks, batch)`: the host loaders' pool, a function of
  `(seed, epoch, block)` so that a `PyDataset` batch still depends only on
  `(seed, epoch, index)`: the pairs of `queue_size / B` consecutive batches
  are degraded as a block and dealt out in a seeded random order, each pair
  exactly once (the mixing of a full pool, without its history).

Example:
    >>> state = pool_init(180, (64, 64, 3), (256, 256, 3))
    >>> lr, hr, state = pool_step(state, lr, hr, seed)          # inside the step
    >>> order = block_order(np.random.default_rng(0), 15, 12)   # (15, 12) indices into the 180 pairs
"""

import numpy as np

from keras import ops

from keras_sr.degradations.device import derive_seed, stateless_uniform

__all__ = ["pool_init", "pool_step", "block_order"]


def pool_init(queue_size, lr_shape, hr_shape):
    """An empty pool state: `{"lr": (Q, *lr_shape), "hr": (Q, *hr_shape), "count": 0}` (numpy, float32)."""
    return {"lr": np.zeros((int(queue_size),) + tuple(lr_shape), np.float32),
            "hr": np.zeros((int(queue_size),) + tuple(hr_shape), np.float32),
            "count": np.zeros((), np.int32)}


def _permutation(seed, n):
    return ops.argsort(stateless_uniform(derive_seed(seed, 99), (n,)))


def pool_step(state, lr, hr, seed):
    """One step of the pool: `(lr_out, hr_out, new_state)`; `seed`: int32 `(2,)` (keras.ops, static shapes)."""
    pool_lr, pool_hr, count = (ops.convert_to_tensor(state[k]) for k in ("lr", "hr", "count"))
    q, b = pool_lr.shape[0], lr.shape[0]
    if q % b:
        raise ValueError(f"queue size {q} must be a multiple of the batch size {b}.")
    lr = ops.cast(lr, pool_lr.dtype)
    hr = ops.cast(hr, pool_hr.dtype)

    def fill():
        zero = ops.zeros((), "int32")
        new_lr = ops.slice_update(pool_lr, [count] + [zero] * (len(pool_lr.shape) - 1), lr)
        new_hr = ops.slice_update(pool_hr, [count] + [zero] * (len(pool_hr.shape) - 1), hr)
        return lr, hr, new_lr, new_hr, ops.cast(count + b, "int32")

    def swap():
        order = _permutation(seed, q)
        shuffled_lr, shuffled_hr = ops.take(pool_lr, order, axis=0), ops.take(pool_hr, order, axis=0)
        out_lr, out_hr = shuffled_lr[:b], shuffled_hr[:b]
        new_lr = ops.concatenate([lr, shuffled_lr[b:]], axis=0)
        new_hr = ops.concatenate([hr, shuffled_hr[b:]], axis=0)
        return out_lr, out_hr, new_lr, new_hr, count

    out_lr, out_hr, new_lr, new_hr, new_count = ops.cond(count >= q, swap, fill)
    return out_lr, out_hr, {"lr": new_lr, "hr": new_hr, "count": ops.cast(new_count, "int32")}


def block_order(rng, blocks, batch):
    """`(blocks, batch)`: which of the `blocks * batch` pairs of a block each batch of it gets (a seeded shuffle)."""
    return rng.permutation(int(blocks) * int(batch)).reshape(int(blocks), int(batch))
