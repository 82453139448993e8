"""The Real-ESRGAN degradation in keras.ops, on static shapes: it runs on the device inside a compiled train step.

The same pipeline as `keras_sr.degradations.host` (xinntao/Real-ESRGAN
`RealESRGANModel.feed_data`, which degrades on the GPU): per-image blur by a
grouped (depthwise) convolution with per-image kernels, resizes by the
host-built `F.interpolate` matrices, Gaussian / Poisson noise from the
backend's stateless generator, the keras.ops JPEG emulation
(`keras_sr.degradations.jpeg.jpeg_emulation`), the final resize + sinc / JPEG
order switch, rounding to 8 bits; plus BasicSR's USM sharpening.

Static shapes: the random resizes change the image size from batch to batch,
which would recompile a jitted step every time. Each stage therefore works on
a fixed canvas (`DegradationConfig.canvas`: the largest size of that stage,
whole 16-pixel MCUs): the resize matrices are embedded in it (rows past the
drawn size repeat the last row, columns past it are zero), the second blur
pads by reflection about the drawn size through gather indices, and the
Poisson level count sees only the drawn region. Everything the host drew is a
tensor input (`device_inputs`), so one compiled program serves every batch.
Inside the drawn region the result equals the host pipeline's for the same
noise (tested without noise and JPEG); outside it nothing reaches the output
except through the JPEG blocks and noise of the edge MCUs, which see repeated
edge pixels as a JPEG encoder's padding.

Noise comes from `noise_seed` (two int32 drawn with the batch's other
choices), so a batch is a function of `(seed, epoch, index)` on the device
too: TensorFlow `tf.random.stateless_*`, JAX `jax.random` keys, PyTorch a
seeded `torch.Generator`. Not the same numbers as numpy's, so host and device
batches differ in their noise, not in its distribution.

Example:
    >>> inputs = device_inputs(params, config, (256, 256))     # numpy, in the data stage
    >>> lr = degrade(hr01, inputs, config)                      # keras.ops, in the step: (B, 64, 64, 3) in [0, 1]
    >>> target = usm_sharpen(hr01)
"""

import numpy as np

import keras
from keras import ops

from keras_sr.degradations.host import usm_kernel
from keras_sr.degradations.jpeg import jpeg_emulation
from keras_sr.degradations.resize import resize_matrix

__all__ = ["device_inputs", "degrade", "usm_sharpen", "filter2d", "reflect_indices", "DEVICE_KEYS", "derive_seed",
           "stateless_uniform"]

DEVICE_KEYS = ("kernel1", "kernel2", "sinc", "r1h", "r1w", "pad1h", "pad1w", "mask1", "r2h", "r2w", "mask2", "r3h",
               "r3w", "gaussian1", "sigma1", "poisson1", "gray1", "jpeg1", "gaussian2", "sigma2", "poisson2", "gray2",
               "jpeg2", "jpeg_first", "noise_seed")


def reflect_indices(size, pad, length=None):
    """Gather indices padding an axis of `size` valid entries by `pad` on each side by reflection (`F.pad` reflect).

    `length`: the canvas length (default `size`); the result has `length + 2 pad` indices, those past the valid
    region reflect on (they never reach a valid output).
    """
    length = int(length or size)
    positions = np.arange(-pad, length + pad)
    if size == 1:
        return np.zeros_like(positions).astype(np.int32)
    period = 2 * (size - 1)
    m = np.mod(positions, period)
    return np.where(m < size, m, period - m).astype(np.int32)


def device_inputs(params, config, hr_shape):
    """The tensors (numpy arrays) the device pipeline needs for one batch of `BatchParams`."""
    (c1h, c1w), (c2h, c2w), (lh, lw) = config.canvas(hr_shape)
    h, w = (int(v) for v in hr_shape)
    (h1, w1), (h2, w2) = params.size1, params.size2
    mode1, factor1 = params.resize1
    mask1 = np.zeros((c1h, c1w), np.float32)
    mask1[:h1, :w1] = 1
    mask2 = np.zeros((c2h, c2w), np.float32)
    mask2[:h2, :w2] = 1
    f32 = np.float32
    return {
        "kernel1": params.kernel1.astype(f32), "kernel2": params.kernel2.astype(f32), "sinc": params.sinc.astype(f32),
        "r1h": resize_matrix(h, h1, mode1, 1.0 / factor1, canvas_out=c1h),
        "r1w": resize_matrix(w, w1, mode1, 1.0 / factor1, canvas_out=c1w),
        "pad1h": reflect_indices(h1, 10, c1h), "pad1w": reflect_indices(w1, 10, c1w), "mask1": mask1,
        "r2h": resize_matrix(h1, h2, params.resize2[0], canvas_out=c2h, canvas_in=c1h),
        "r2w": resize_matrix(w1, w2, params.resize2[0], canvas_out=c2w, canvas_in=c1w),
        "mask2": mask2,
        "r3h": resize_matrix(h2, lh, params.final_mode, canvas_in=c2h),
        "r3w": resize_matrix(w2, lw, params.final_mode, canvas_in=c2w),
        "gaussian1": np.array(params.gaussian1), "sigma1": params.sigma1.astype(f32),
        "poisson1": params.poisson1.astype(f32), "gray1": params.gray1.astype(f32), "jpeg1": params.jpeg1.astype(f32),
        "gaussian2": np.array(params.gaussian2), "sigma2": params.sigma2.astype(f32),
        "poisson2": params.poisson2.astype(f32), "gray2": params.gray2.astype(f32), "jpeg2": params.jpeg2.astype(f32),
        "jpeg_first": np.array(params.jpeg_first), "noise_seed": params.noise_seed.astype(np.int32),
    }


# Backend-stateless random numbers -------------------------------------------------------------------------------


def derive_seed(seed, k):
    """The `k`-th int32 `(2,)` seed derived from `seed` (one per random draw of a batch)."""
    return ops.cast(seed, "int32") + ops.convert_to_tensor(np.array([0, 7919 * k], np.int32))


def _normal(seed, shape):
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        return tf.random.stateless_normal(shape, seed=seed, dtype=tf.float32)
    if backend == "jax":
        import jax

        key = jax.random.fold_in(jax.random.fold_in(jax.random.PRNGKey(0), seed[0]), seed[1])
        return jax.random.normal(key, shape, dtype="float32")
    import torch

    generator = torch.Generator(device="cpu").manual_seed(int(seed[0]) * 2**31 + int(seed[1]))
    return torch.randn(shape, generator=generator).to(ops.convert_to_tensor(0.0).device)


def stateless_uniform(seed, shape):
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        return tf.random.stateless_uniform(shape, seed=seed, dtype=tf.float32)
    if backend == "jax":
        import jax

        key = jax.random.fold_in(jax.random.fold_in(jax.random.PRNGKey(2), seed[0]), seed[1])
        return jax.random.uniform(key, shape, dtype="float32")
    import torch

    generator = torch.Generator(device="cpu").manual_seed(int(seed[0]) * 2**31 + int(seed[1]))
    return torch.rand(shape, generator=generator).to(ops.convert_to_tensor(0.0).device)


def _poisson(seed, lam):
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        return tf.random.stateless_poisson(tf.shape(lam), seed=seed, lam=lam, dtype=tf.float32)
    if backend == "jax":
        import jax

        key = jax.random.fold_in(jax.random.fold_in(jax.random.PRNGKey(1), seed[0]), seed[1])
        return jax.random.poisson(key, lam, lam.shape).astype("float32")
    import torch

    generator = torch.Generator(device="cpu").manual_seed(int(seed[0]) * 2**31 + int(seed[1]))
    return torch.poisson(lam.cpu(), generator=generator).to(lam.device)


# Image operations ----------------------------------------------------------------------------------------------


def filter2d(images, kernels, rows=None, cols=None):
    """Per-image correlation of `(B, H, W, C)` with `(B, k, k)` kernels, padded by the gather indices `rows`/`cols`
    (default: reflection about the full size; BasicSR `filter2D`)."""
    b, h, w, c = images.shape
    k = kernels.shape[-1]
    rows = reflect_indices(h, k // 2) if rows is None else rows
    cols = reflect_indices(w, k // 2) if cols is None else cols
    x = ops.take(ops.take(images, rows, axis=1), cols, axis=2)
    ph, pw = x.shape[1], x.shape[2]
    x = ops.reshape(ops.transpose(x, (1, 2, 0, 3)), (1, ph, pw, b * c))
    kernel = ops.repeat(ops.transpose(ops.cast(kernels, x.dtype), (1, 2, 0))[..., None], c, axis=3)
    kernel = ops.reshape(kernel, (k, k, b * c, 1))
    y = ops.depthwise_conv(x, kernel, strides=1, padding="valid")
    return ops.transpose(ops.reshape(y, (ph - k + 1, pw - k + 1, b, c)), (2, 0, 1, 3))


def _separable(x, g):
    """Correlate along H and W with the 1-D kernel `g`, reflect padding (a depthwise conv per channel)."""
    _, h, w, c = x.shape
    k = len(g)
    x = ops.take(x, reflect_indices(h, k // 2), axis=1)
    x = ops.depthwise_conv(x, ops.convert_to_tensor(np.tile(g.reshape(k, 1, 1, 1), (1, 1, c, 1))), padding="valid")
    x = ops.take(x, reflect_indices(w, k // 2), axis=2)
    return ops.depthwise_conv(x, ops.convert_to_tensor(np.tile(g.reshape(1, k, 1, 1), (1, 1, c, 1))), padding="valid")


def usm_sharpen(images, weight=0.5, threshold=10.0, radius=50):
    """BasicSR's `USMSharp` on `(B, H, W, C)` in [0, 1] (keras.ops; H and W must exceed radius / 2)."""
    x = ops.cast(images, "float32")
    g = usm_kernel(radius)
    residual = x - _separable(x, g)
    mask = ops.cast(ops.abs(residual) * 255.0 > threshold, "float32")
    soft = _separable(mask, g)
    sharp = ops.clip(x + weight * residual, 0.0, 1.0)
    return soft * sharp + (1.0 - soft) * x


def _resize(x, rows, cols):
    return ops.einsum("oh,bhwc,pw->bopc", rows, x, cols)


def _levels(x, mask):
    """Per image `2 ** ceil(log2(#distinct 8-bit levels))` over the region `mask` `(H, W)` (x: `(B, H, W, C)`)."""
    b, h, w, c = x.shape
    q = ops.cast(ops.clip(ops.round(x * 255.0), 0, 255), "int32")
    ids = q + 256 * ops.reshape(ops.arange(b, dtype="int32"), (b, 1, 1, 1))
    weights = ops.broadcast_to(ops.reshape(mask, (1, h, w, 1)), (b, h, w, c))
    counts = ops.segment_sum(ops.reshape(weights, (-1,)), ops.reshape(ids, (-1,)), num_segments=256 * b)
    distinct = ops.sum(ops.cast(ops.reshape(counts, (b, 256)) > 0, "float32"), axis=1)
    return ops.power(2.0, ops.ceil(ops.log2(ops.maximum(distinct, 1.0))))


def _gray(x):
    return 0.2989 * x[..., 0:1] + 0.587 * x[..., 1:2] + 0.114 * x[..., 2:3]


def _add_noise(x, gaussian, sigma, poisson, gray, mask, seed):
    b = x.shape[0]
    gray = ops.reshape(gray, (b, 1, 1, 1))

    def gaussian_branch():
        s = ops.reshape(sigma, (b, 1, 1, 1)) / 255.0
        color = _normal(derive_seed(seed, 1), x.shape) * s
        grey = _normal(derive_seed(seed, 2), x.shape[:3] + (1,)) * s
        return x + gray * grey + (1.0 - gray) * color

    def poisson_branch():
        q = ops.clip(ops.round(x * 255.0), 0.0, 255.0) / 255.0
        vals = ops.reshape(_levels(q, mask), (b, 1, 1, 1))
        color = _poisson(derive_seed(seed, 3), q * vals) / vals - q
        g = ops.clip(ops.round(_gray(x) * 255.0), 0.0, 255.0) / 255.0
        gvals = ops.reshape(_levels(g, mask), (b, 1, 1, 1))
        grey = _poisson(derive_seed(seed, 4), g * gvals) / gvals - g
        return x + (gray * grey + (1.0 - gray) * color) * ops.reshape(poisson, (b, 1, 1, 1))

    return ops.clip(ops.cond(ops.cast(gaussian, "bool"), gaussian_branch, poisson_branch), 0.0, 1.0)


def _jpeg(x, quality):
    return jpeg_emulation(ops.clip(x, 0.0, 1.0) * 255.0, quality) / 255.0


def degrade(hr, inputs, noise=True, jpeg=True):
    """The LR batch of USM-sharpened HR `hr` `(B, H, W, 3)` in [0, 1] from `device_inputs` (tensors or numpy).

    `noise=False` / `jpeg=False` skip those steps (tests compare with the host pipeline).
    """
    t = {k: ops.convert_to_tensor(v) for k, v in inputs.items()}
    x = ops.cast(hr, "float32")
    seed = t["noise_seed"]
    x = filter2d(x, t["kernel1"])
    x = _resize(x, t["r1h"], t["r1w"])
    if noise:
        x = _add_noise(x, t["gaussian1"], t["sigma1"], t["poisson1"], t["gray1"], t["mask1"], derive_seed(seed, 10))
    else:
        x = ops.clip(x, 0.0, 1.0)
    if jpeg:
        x = _jpeg(x, t["jpeg1"])
    x = filter2d(x, t["kernel2"], t["pad1h"], t["pad1w"])
    x = _resize(x, t["r2h"], t["r2w"])
    if noise:
        x = _add_noise(x, t["gaussian2"], t["sigma2"], t["poisson2"], t["gray2"], t["mask2"], derive_seed(seed, 20))
    else:
        x = ops.clip(x, 0.0, 1.0)

    def resize_sinc(y):
        return filter2d(_resize(y, t["r3h"], t["r3w"]), t["sinc"])

    def jpeg_then_resize():
        return resize_sinc(_jpeg(x, t["jpeg2"]) if jpeg else ops.clip(x, 0.0, 1.0))

    def resize_then_jpeg():
        y = resize_sinc(x)
        return _jpeg(y, t["jpeg2"]) if jpeg else ops.clip(y, 0.0, 1.0)

    x = ops.cond(ops.cast(t["jpeg_first"], "bool"), jpeg_then_resize, resize_then_jpeg)
    return ops.clip(ops.round(x * 255.0), 0.0, 255.0) / 255.0
