"""Inputs, outputs and scale checks shared by the classic SISR models (SRCNN ... SRDenseNet).

keras-sr models take and return images in [0, 255]; the classic papers train
on [0, 1] intensities (MATLAB's `im2double`). Each classic model therefore
starts with `Rescaling(1/255)` and ends with `Rescaling(255)`, so its
weights, residuals and initializations live in the papers' range.

Pre-upsampling models (SRCNN, VDSR, DRCN, DRRN, RED-Net) work on the bicubic
upsampled image, as in the papers. Their builders take `scale`:

* `scale=None`: the input is already bicubic-upsampled (any size in, same size
  out), the papers' setting; one VDSR serves every scale.
* `scale=N`: the model starts with `keras_sr.layers.BicubicResize(N)`
  (MATLAB-faithful bicubic in `keras.ops`), so it maps an LR image to an
  N-times larger one like every other keras-sr model (what
  `keras_sr.upscalers.load_upscaler` and the evaluation expect).

Example:
    >>> inputs, x = upsampled_input(channels=1, scale=3)   # LR in, [0, 1] bicubic x3 inside
    >>> outputs = pixel_output()(x)                        # back to [0, 255]
    >>> model = keras.Model(inputs, outputs)               # a 'bicubic x3' Y model
"""

import keras

from keras_sr.layers.bicubic_resize import BicubicResize


__all__ = ["check_scale", "lr_input", "upsampled_input", "pixel_output", "check_channels", "initializer"]


def check_scale(model, scale, allowed):
    """`int(scale)` if it is one of `allowed`, else a ValueError naming the model."""
    try:
        value = int(scale)
    except (TypeError, ValueError):
        value = None
    if value is None or value != scale or value not in allowed:
        raise ValueError(f"{model} supports scales {tuple(allowed)}, got {scale!r}.")
    return value


def check_channels(model, channels):
    """`int(channels)` for 1 (Y) or 3 (RGB), else a ValueError naming the model."""
    if channels not in (1, 3):
        raise ValueError(f"{model} takes 1 (Y) or 3 (RGB) channels, got {channels!r}.")
    return int(channels)


def initializer(override, paper_default):
    """The kernel initializer to use: the builder's `kernel_initializer` override, else the paper's.

    Builders take `kernel_initializer=None` (each paper's initialization) or
    any Keras initializer identifier, applied to every learned convolution
    kernel (LapSRN's bilinear image upsamplers excepted).
    """
    return keras.initializers.get(paper_default if override is None else override)


def lr_input(channels):
    """`(keras.Input, tensor in [0, 1])` for a model fed the low-resolution image."""
    inputs = keras.Input((None, None, channels), name="lr")
    return inputs, keras.layers.Rescaling(1.0 / 255.0, name="to_unit_range")(inputs)


def upsampled_input(channels, scale=None):
    """`(keras.Input, bicubic-upsampled tensor in [0, 1])` for a pre-upsampling model.

    With `scale=None` the input is taken to be upsampled already; with an
    integer `scale` the model upsamples its LR input itself.
    """
    if scale is None:
        inputs = keras.Input((None, None, channels), name="bicubic")
        return inputs, keras.layers.Rescaling(1.0 / 255.0, name="to_unit_range")(inputs)
    inputs = keras.Input((None, None, channels), name="lr")
    x = keras.layers.Rescaling(1.0 / 255.0, name="to_unit_range")(inputs)
    return inputs, BicubicResize(scale, name="bicubic_upsampling")(x)


def pixel_output():
    """The `Rescaling(255)` layer that maps [0, 1] predictions back to [0, 255].

    Models with several outputs (DRCN, LapSRN) call this one layer on each
    output, so the layer set does not depend on which outputs are exposed.
    """
    return keras.layers.Rescaling(255.0, name="to_pixel_range")
