"""A work-around for a PyTorch CPU limitation that Keras's torch backend runs into (Keras 3.15, torch 2.13).

Keras's torch convolutions permute the Keras kernel `(kh, kw, in, out)` to torch's
`(out, in, kh, kw)` (a view, not a copy) and, for channels-last data, convert
inputs and kernels to `torch.channels_last` memory format. When that torch kernel
has size 1 in its first dimension (a `Conv2D` with one output channel, which ends
every Y-channel model: SRCNN, VDSR, DRCN, LapSRN, ...; or a `Conv2DTranspose`
with one input channel) and the batch holds one image, PyTorch's CPU backward
takes `slow_conv2d` / `slow_conv_transpose2d`, which reject that layout:

    RuntimeError: slow_conv2d: grad_weight must be contiguous

so `model.fit` fails on the PyTorch backend for such models at batch size 1
(measured: 3x3 and 2x2 kernels, 4 to 64 input channels, 4x4 to 64x64 images;
batches of 2 or more take another kernel and train).

`apply_torch_fixes()` gives exactly those tensors, torch tensors with a leading
size-1 dimension, PyTorch's own default layout (a contiguous NCHW copy, and no
channels-last conversion). Values and gradients are unchanged: only the memory
layout of a one-channel kernel (a few hundred floats) or of a one-image batch
differs. It is a no-op on the TensorFlow and JAX backends, and when a future
Keras renames the two private helpers it wraps (the backend test then shows
whether the bug is still there).

keras-sr applies it when `keras_sr.layers` is imported and before every model
is built, so users need not call it.

Example:
    >>> import os; os.environ["KERAS_BACKEND"] = "torch"
    >>> from keras_sr.torch_backend_fixes import apply_torch_fixes
    >>> apply_torch_fixes()   # True on the torch backend, False elsewhere
"""

import functools

_APPLIED = False


def _leading_singleton(tensor):
    return getattr(tensor, "ndim", 0) >= 3 and tensor.shape[0] == 1


def _contiguous_if_leading_singleton(transpose_kernel):
    @functools.wraps(transpose_kernel)
    def wrapper(kernel):
        kernel = transpose_kernel(kernel)
        return kernel.contiguous() if _leading_singleton(kernel) else kernel

    wrapper.keras_sr_fix = True
    return wrapper


def _keep_layout_if_leading_singleton(to_channels_last):
    @functools.wraps(to_channels_last)
    def wrapper(tensor):
        return tensor if _leading_singleton(tensor) else to_channels_last(tensor)

    wrapper.keras_sr_fix = True
    return wrapper


def apply_torch_fixes():
    """Patch Keras's torch convolution helpers once; returns whether the fix is active (torch backend only)."""
    global _APPLIED
    if _APPLIED:
        return True
    import keras

    if keras.backend.backend() != "torch":
        return False
    from keras.src.backend.torch import nn as torch_nn

    wrappers = {"_transpose_conv_kernel": _contiguous_if_leading_singleton,
                "_maybe_convert_to_channels_last": _keep_layout_if_leading_singleton}
    if not all(callable(getattr(torch_nn, name, None)) for name in wrappers):
        return False
    for name, wrap in wrappers.items():
        original = getattr(torch_nn, name)
        if not getattr(original, "keras_sr_fix", False):
            setattr(torch_nn, name, wrap(original))
    _APPLIED = True
    return True
