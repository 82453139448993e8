"""Local Attribution Maps (LAM): which LR pixels an SR network uses for one HR window.

Gu & Dong, "Interpreting Super-Resolution Networks with Local Attribution
Maps", CVPR 2021 (https://arxiv.org/abs/2011.11036; official code
X-Lowlevel-Vision/LAM_Demo, `SaliencyModel/BackProp.py`, `attributes.py`,
`utils.py`, and the LAM Colab notebook). Defaults are the official demo's:

* target `D(F(I))`: the sum over a `window x window` HR window (16x16, top-left
  corner `(x, y)` in HR pixels) of the output's gradient magnitude
  `sqrt((F[i, j] - F[i+1, j])^2 + (F[i, j] - F[i, j+1])^2)`, summed over channels
  (official `attr_grad`, `reduce='sum'`);
* path: the LR image blurred by an isotropic Gaussian (9x9 kernel, sigma going
  linearly from the maximum 1.2 down to 0 in 50 steps; OpenCV's
  `BORDER_REFLECT_101` border, as `cv2.filter2D`); the path derivative of step
  `i` is the image filtered by `(k_{i+1} - k_i) * steps` (official
  `GaussianBlurPath`), and the images along the path are the ones filtered by
  `k_{i+1}` (i = 0 .. steps-1, so the last is the unblurred LR image);
* attribution = mean over the path of `gradient x path derivative`; the map is
  its channel sum, in absolute value, divided by its maximum (official
  `grad_abs_norm`);
* Diffusion Index `DI = (1 - Gini(map)) * 100` (official `gini`: values
  shifted to be non-negative, plus 1e-7, Gini of the sorted values).

Deviation: where the output is exactly flat (both differences 0) the official
`torch.pow(., 1/2)` has an infinite derivative, the backward pass turns it into
NaN, and the official code then zeroes every NaN gradient, i.e. all inputs that
reach that pixel lose their attribution for that path step. We give the square
root a zero gradient there instead (a subgradient), so only the flat pixel's own
term drops out. For natural images and trained models flat outputs are rare and
the two agree; for piecewise-constant outputs (nearest upsampling) only ours is
meaningful.

Our models take [0, 255] images (the official demo feeds [0, 1]): the
attribution scales by a constant, which the normalisation and the DI remove.

Gradients go through the model's `keras.ops` graph with the active backend's
autodiff (TensorFlow GradientTape, `jax.grad`, `torch.autograd`), imported
lazily. Several path steps are differentiated in one batch: the objective is
summed over the batch, and since SR models treat samples independently
(inference mode) each sample's gradient is its own.

Example:
    >>> model = keras_sr.models.from_preset("edsr_baseline_x4")
    >>> result = local_attribution_map(model, lr_uint8, x=120, y=64)   # window on the HR image
    >>> print(result.diffusion_index, result.attribution.shape)        # LR-sized map in [0, 1]
"""

import dataclasses

import numpy as np

__all__ = ["LAMResult", "gaussian_kernel", "blur_path", "window_gradient_objective", "input_gradients",
           "local_attribution_map", "gini", "diffusion_index", "SIGMA", "STEPS", "KERNEL_SIZE", "WINDOW"]

SIGMA = 1.2  # official demo: the blur of the path's start
STEPS = 50  # official demo: `fold`
KERNEL_SIZE = 9  # official demo: `l`
WINDOW = 16  # official demo: `window_size`


@dataclasses.dataclass
class LAMResult:
    """Output of `local_attribution_map`.

    attribution: (h, w) LR map, |channel sum| / max, in [0, 1].
    raw: (h, w, c) mean of gradient x path derivative (signed, per channel).
    diffusion_index: (1 - Gini(attribution)) * 100.
    sr: the model's output for the unblurred LR image, (H, W, c) float.
    window: (x, y, size) in HR pixels.
    """

    attribution: np.ndarray
    raw: np.ndarray
    diffusion_index: float
    sr: np.ndarray
    window: tuple


def gaussian_kernel(size, sigma, epsilon=1e-5):
    """Isotropic 2D Gaussian `size x size`, normalised; sigma 0 gives (almost) a delta (official epsilon)."""
    ax = np.arange(-size // 2 + 1, size // 2 + 1, dtype=np.float64)
    xx, yy = np.meshgrid(ax, ax)
    k = np.exp(-(xx**2 + yy**2) / (2.0 * (sigma + epsilon) ** 2))
    return k / k.sum()


def _filter_reflect101(img, kernel):
    """`cv2.filter2D(img, -1, kernel)`: correlation, border reflected without repeating the edge (float64)."""
    kh, kw = kernel.shape
    ph, pw = kh // 2, kw // 2
    h, w = img.shape[:2]
    if h <= ph or w <= pw:
        raise ValueError(f"LAM blur path: the LR image ({w}x{h}) must be larger than half the {kw}x{kh} kernel.")
    padded = np.pad(img, ((ph, kh - 1 - ph), (pw, kw - 1 - pw), (0, 0)), mode="reflect")
    out = np.zeros(img.shape, np.float64)
    for i in range(kh):
        for j in range(kw):
            if kernel[i, j] != 0.0:
                out += kernel[i, j] * padded[i:i + h, j:j + w]
    return out


def blur_path(lr, sigma=SIGMA, steps=STEPS, kernel_size=KERNEL_SIZE):
    """`(images, derivatives)`, each `(steps, h, w, c)` float32: the Gaussian blur path of `lr` (h, w, c)."""
    lr = np.asarray(lr, np.float64)
    if lr.ndim != 3:
        raise ValueError(f"LAM blur path: expected an (h, w, channels) image, got shape {lr.shape}.")
    if steps < 1:
        raise ValueError(f"LAM blur path: steps must be >= 1, got {steps}.")
    sigmas = np.linspace(sigma, 0.0, steps + 1)
    kernels = [gaussian_kernel(kernel_size, s) for s in sigmas]
    images = np.stack([_filter_reflect101(lr, kernels[i + 1]) for i in range(steps)])
    derivs = np.stack([_filter_reflect101(lr, (kernels[i + 1] - kernels[i]) * steps) for i in range(steps)])
    return images.astype(np.float32), derivs.astype(np.float32)


def window_gradient_objective(sr, x, y, window=WINDOW):
    """Official `attr_grad`: summed gradient magnitude of `sr` (n, H, W, c) in the window at (x, y) (keras.ops)."""
    from keras import ops

    dh = ops.square(sr[:, :-1, :, :] - sr[:, 1:, :, :])  # (n, H-1, W, c)
    dw = ops.square(sr[:, :, :-1, :] - sr[:, :, 1:, :])  # (n, H, W-1, c)
    sq = dh[:, :, :-1, :] + dw[:, :-1, :, :]  # (n, H-1, W-1, c)
    positive = sq > 0
    # sqrt with gradient 0 where the output is flat (the official sqrt gives NaN there, see the module docstring).
    mag = ops.where(positive, ops.sqrt(ops.where(positive, sq, ops.ones_like(sq))), ops.zeros_like(sq))
    return ops.sum(mag[:, y:y + window, x:x + window, :])


def input_gradients(fn, batch):
    """d sum(fn(batch)) / d batch as numpy, with the active Keras backend's autodiff."""
    import keras

    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        x = tf.convert_to_tensor(batch)
        with tf.GradientTape() as tape:
            tape.watch(x)
            value = fn(x)
        return tape.gradient(value, x).numpy()
    if backend == "jax":
        import jax
        import jax.numpy as jnp

        return np.asarray(jax.grad(fn)(jnp.asarray(batch)))
    if backend == "torch":
        import torch

        x = keras.ops.convert_to_tensor(batch).detach().clone().requires_grad_(True)
        fn(x).backward()
        return x.grad.detach().cpu().numpy()
    raise ValueError(f"LAM: gradients on the {backend!r} Keras backend are not supported (tensorflow, jax, torch).")


def _check_window(x, y, window, sr_shape):
    h, w = int(sr_shape[0]), int(sr_shape[1])
    if window < 1 or x < 0 or y < 0 or x + window > w - 1 or y + window > h - 1:
        raise ValueError(f"LAM window {window}x{window} at (x={x}, y={y}) does not fit inside the {w}x{h} SR output "
                         f"(the gradient magnitude map is {w - 1}x{h - 1}).")


def local_attribution_map(model, lr, x, y, window=WINDOW, sigma=SIGMA, steps=STEPS, kernel_size=KERNEL_SIZE,
                          batch_size=10):
    """LAM of `model` (a Keras SR model on [0, 255] images) for the HR window at `(x, y)`.

    Args:
        model: keras.Model mapping (n, h, w, c) to (n, s*h, s*w, c).
        lr: (h, w, c) LR image in the model's range (uint8 or float, [0, 255]).
        x, y: top-left corner of the window in HR (SR output) pixels.
        window: window side in HR pixels (official: 16).
        sigma, steps, kernel_size: the blur path (official: 1.2, 50, 9).
        batch_size: path steps differentiated together.
    Returns:
        LAMResult.
    """
    from keras import ops

    lr = np.asarray(lr, np.float32)
    if lr.ndim == 2:
        lr = lr[..., None]
    channels = int(model.input_shape[-1])
    if lr.ndim != 3 or lr.shape[-1] != channels:
        raise ValueError(f"LAM: the model takes {channels}-channel images, got an LR image of shape {lr.shape}.")
    x, y, window = int(x), int(y), int(window)
    sr = ops.convert_to_numpy(model(lr[None], training=False))[0]
    _check_window(x, y, window, sr.shape)
    images, derivs = blur_path(lr, sigma, steps, kernel_size)

    def objective(batch):
        return window_gradient_objective(model(batch, training=False), x, y, window)

    total = np.zeros(lr.shape, np.float64)
    for start in range(0, steps, batch_size):
        grads = input_gradients(objective, images[start:start + batch_size])
        grads = np.nan_to_num(grads.astype(np.float64), nan=0.0)
        total += np.sum(grads * derivs[start:start + batch_size], axis=0)
    raw = total / steps
    attribution = np.abs(raw.sum(axis=-1))
    peak = attribution.max()
    attribution = attribution / peak if peak > 0 else attribution
    return LAMResult(attribution, raw, diffusion_index(attribution), sr, (x, y, window))


def gini(values):
    """Gini coefficient of the flattened values (official LAM `gini`: shift to >= 0, add 1e-7, sorted form)."""
    a = np.sort(np.asarray(values, np.float64).ravel())
    if a.size == 0:
        raise ValueError("gini: empty array.")
    if a[0] < 0:
        a = a - a[0]
    a = a + 1e-7
    n = a.size
    index = np.arange(1, n + 1)
    return float(np.sum((2 * index - n - 1) * a) / (n * np.sum(a)))


def diffusion_index(attribution):
    """LAM's Diffusion Index: (1 - Gini(attribution)) * 100; higher = the model uses a wider area."""
    return (1.0 - gini(attribution)) * 100.0
