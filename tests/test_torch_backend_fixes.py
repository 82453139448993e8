"""`keras_sr.torch_backend_fixes`: one-channel convolutions train at batch size 1 on the PyTorch backend.

Runs under KERAS_BACKEND=torch (tests/test_torch_backend.py starts it so); on other
backends only the no-op check runs. Without the fix, every training test here fails on
torch 2.13's CPU kernels with "slow_conv2d: grad_weight must be contiguous" (or the
transposed convolution's twin of that message).
"""

import numpy as np
import pytest

import keras

from keras_sr.torch_backend_fixes import apply_torch_fixes

ON_TORCH = keras.backend.backend() == "torch"
torch_only = pytest.mark.skipif(not ON_TORCH, reason="PyTorch-backend fix (tests/test_torch_backend.py runs it)")


def test_fix_applies_on_torch_only():
    assert apply_torch_fixes() is ON_TORCH
    if ON_TORCH:
        from keras.src.backend.torch import nn as torch_nn

        assert torch_nn._transpose_conv_kernel.keras_sr_fix
        assert torch_nn._maybe_convert_to_channels_last.keras_sr_fix
        apply_torch_fixes()  # idempotent: no double wrapping
        assert not getattr(torch_nn._transpose_conv_kernel.__wrapped__, "keras_sr_fix", False)


def _kernel_gradient(layer, x, weights):
    """d/d(kernel) of sum(weights * layer(x)), by the torch backend's autograd."""
    import torch

    layer.kernel.value.grad = None
    loss = torch.sum(torch.as_tensor(weights) * layer(torch.as_tensor(x)))
    loss.backward()
    return layer.kernel.value.grad.detach().cpu().numpy().copy()


# (layer, input channels, image size): the failing cases measured on torch 2.13 CPU.
CASES = [
    (lambda: keras.layers.Conv2D(1, 3, padding="same"), 4, 16),
    (lambda: keras.layers.Conv2D(1, 2, padding="same"), 64, 4),
    (lambda: keras.layers.Conv2D(1, 3, strides=2, padding="same"), 2, 6),
    (lambda: keras.layers.Conv2DTranspose(4, 3, strides=2, padding="same"), 1, 4),
    (lambda: keras.layers.Conv2DTranspose(2, 2, strides=2, padding="same"), 1, 6),
]


@torch_only
@pytest.mark.parametrize("case", range(len(CASES)))
def test_one_image_kernel_gradient_equals_the_batched_one(case, rng):
    """Batch 1 (the path the fix reroutes) against batch 2 of the same image (torch's other kernel), halved."""
    apply_torch_fixes()
    make, channels, size = CASES[case]
    layer = make()
    x = rng.normal(size=(1, size, size, channels)).astype("float32")
    layer.build(x.shape)
    weights = rng.normal(size=tuple(keras.ops.shape(layer(x)))).astype("float32")
    single = _kernel_gradient(layer, x, weights)
    double = _kernel_gradient(layer, np.concatenate([x, x]), np.concatenate([weights, weights]))
    np.testing.assert_allclose(single, double / 2, rtol=1e-4, atol=1e-4)


@torch_only
def test_one_channel_conv_gradient_matches_numpy(rng):
    """The 3x3 'same' Conv2D(1) kernel gradient equals the correlation of the padded input with the weights."""
    apply_torch_fixes()
    layer = keras.layers.Conv2D(1, 3, padding="same", use_bias=False)
    x = rng.normal(size=(1, 8, 8, 4)).astype("float32")
    layer.build(x.shape)
    weights = rng.normal(size=(1, 8, 8, 1)).astype("float32")
    padded = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
    expected = np.zeros((3, 3, 4, 1), np.float32)
    for a in range(3):
        for b in range(3):
            expected[a, b, :, 0] = np.einsum("nijc,nij->c", padded[:, a:a + 8, b:b + 8], weights[..., 0])
    np.testing.assert_allclose(_kernel_gradient(layer, x, weights), expected, rtol=1e-4, atol=1e-4)


@torch_only
@pytest.mark.parametrize("name, config, lr_size", [
    ("vdsr", dict(depth=3, filters=4), 8),
    ("drcn", dict(filters=4, recursions=2), 4),
    ("lapsrn", dict(scale=4, filters=4, depth=1), 4),
])
def test_y_models_fit_one_image_batches(name, config, lr_size):
    """Y-channel models end in a one-channel convolution; `fit` at batch size 1 changes every kernel."""
    from keras_sr import models

    model = models.build(name, **config)
    x = np.random.default_rng(0).uniform(0, 255, (1, lr_size, lr_size, 1)).astype("float32")
    y = model.predict(x, verbose=0) + 1.0
    model.compile(optimizer=keras.optimizers.SGD(1e-3), loss="mse")
    before = [keras.ops.convert_to_numpy(w).copy() for w in model.trainable_weights]
    model.fit(x, y, batch_size=1, epochs=1, verbose=0)
    after = [keras.ops.convert_to_numpy(w) for w in model.trainable_weights]
    changed = [w.path for w, b, a in zip(model.trainable_weights, before, after) if not np.array_equal(b, a)]
    assert any("kernel" in path for path in changed), changed
