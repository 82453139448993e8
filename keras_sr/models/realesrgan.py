"""Real-ESRGAN's networks: SRVGGNetCompact (realesr-general-x4v3) and the U-Net discriminator with spectral norm.

Wang et al., "Real-ESRGAN: Training Real-World Blind Super-Resolution with
Pure Synthetic Data", ICCVW 2021 (https://arxiv.org/abs/2107.10833); layouts
as read in the official code (xinntao/Real-ESRGAN `realesrgan/archs/srvgg_arch.py`,
`realesrgan/archs/discriminator_arch.py`). The generator of RealESRGAN_x4plus /
x2plus is `rrdbnet` (`keras_sr.models.rrdbnet`, pixel-unshuffle at x2).

`srvgg_compact` (`SRVGGNetCompact`): conv 3x3 -> PReLU, `num_conv` x [conv 3x3
-> PReLU] (per-channel PReLU slopes, PyTorch's init 0.25), conv 3x3 to
`3 s^2` channels, pixel shuffle, plus the nearest-upsampled input (the network
learns the residual). All convolutions run at LR resolution. Defaults: the
`realesr-general-x4v3` configuration (64 features, 32 convs, x4: 1,213,296
parameters; `num_conv=16` is realesr-animevideov3). Images are mapped to
[0, 1] as the official works there; inputs and outputs are RGB in [0, 255].

`unet_discriminator_sn` (`UNetDiscriminatorSN`): conv0 3x3 (bias) ->
three 4x4 stride-2 convs (64 -> 128 -> 256 -> 512) -> three [bilinear x2 ->
conv 3x3] (512 -> 256 -> 128 -> 64) with skip additions of the matching
encoder features -> two conv 3x3 (64) -> conv 3x3 to one logit per pixel.
LeakyReLU(0.2) after every conv but the last; every conv but the first and
last is spectrally normalized (`keras_sr.layers.SpectralNormalization`, PyTorch
semantics) and has no bias. 4,376,897 trainable parameters at `filters=64`,
as the official (the power-iteration vectors `u`, `v` are non-trainable, as
PyTorch's buffers). Bilinear upsampling is `align_corners=False`
(`keras.layers.UpSampling2D(interpolation="bilinear")`, half-pixel centres).
Height and width must be multiples of 8.

Example:
    >>> from keras_sr import models
    >>> g = models.build("srvgg_compact", scale=4)                # 1,213,296 params
    >>> d = models.build("unet_discriminator_sn", input_size=256)  # (B, 256, 256, 1) logits
"""

import keras

from keras_sr.layers.depth_to_space import DepthToSpace
from keras_sr.layers.spectral_normalization import SpectralNormalization
from keras_sr.models import register

__all__ = ["srvgg_compact", "unet_discriminator_sn", "ACTIVATIONS"]

ACTIVATIONS = ("prelu", "relu", "leakyrelu")


def _activation(kind, name):
    if kind == "prelu":
        return keras.layers.PReLU(alpha_initializer=keras.initializers.Constant(0.25), shared_axes=[1, 2], name=name)
    if kind == "relu":
        return keras.layers.ReLU(name=name)
    return keras.layers.LeakyReLU(negative_slope=0.1, name=name)


@register("srvgg_compact", test_config=dict(scale=2, num_feat=4, num_conv=1))
def srvgg_compact(scale=4, num_feat=64, num_conv=32, act_type="prelu", kernel_initializer="glorot_uniform",
                  name=None):
    """Build SRVGGNetCompact on `(None, None, 3)` RGB in [0, 255].

    Args:
        scale: 1, 2, 3 or 4 (the pixel shuffle factor).
        num_feat: feature channels (64).
        num_conv: body convolutions (32: realesr-general-x4v3; 16: realesr-animevideov3).
        act_type: "prelu" (official), "relu" or "leakyrelu" (slope 0.1, as the official option).
        kernel_initializer: for every convolution.
        name: model name (default `srvgg_compact_x<scale>`).
    """
    scale = int(scale)
    if scale not in (1, 2, 3, 4):
        raise ValueError(f"srvgg_compact supports scales 1-4, got {scale!r}.")
    if act_type not in ACTIVATIONS:
        raise ValueError(f"act_type must be one of {ACTIVATIONS}, got {act_type!r}.")
    conv = dict(padding="same", kernel_initializer=kernel_initializer)
    inputs = keras.Input((None, None, 3), name="lr")
    x0 = keras.layers.Rescaling(1.0 / 255.0, name="to_unit_range")(inputs)
    x = keras.layers.Conv2D(int(num_feat), 3, name="body_0", **conv)(x0)
    x = _activation(act_type, "body_1")(x)
    for i in range(int(num_conv)):
        x = keras.layers.Conv2D(int(num_feat), 3, name=f"body_{2 * i + 2}", **conv)(x)
        x = _activation(act_type, f"body_{2 * i + 3}")(x)
    x = keras.layers.Conv2D(3 * scale * scale, 3, name=f"body_{2 * int(num_conv) + 2}", dtype="float32", **conv)(x)
    if scale > 1:
        x = DepthToSpace(scale, name="pixel_shuffle", dtype="float32")(x)
        base = keras.layers.UpSampling2D(scale, interpolation="nearest", name="nearest_base", dtype="float32")(x0)
    else:
        base = x0
    x = keras.layers.Add(name="residual", dtype="float32")([x, base])
    outputs = keras.layers.Rescaling(255.0, name="from_unit_range", dtype="float32")(x)
    return keras.Model(inputs, outputs, name=name or f"srvgg_compact_x{scale}")


@register("unet_discriminator_sn", kind="discriminator", test_config=dict(input_size=16, filters=2))
def unet_discriminator_sn(input_size=None, filters=64, skip_connection=True, kernel_initializer="glorot_uniform",
                          name=None):
    """Real-ESRGAN's U-Net discriminator on `(input_size, input_size, 3)` RGB in [0, 255]: per-pixel logits.

    Args:
        input_size: height and width (None: any multiple of 8).
        filters: base channels `num_feat` (64).
        skip_connection: add the encoder features in the decoder (official True).
        kernel_initializer: for every convolution.
        name: model name (default `unet_discriminator_sn`).
    """
    if input_size is not None and (int(input_size) < 8 or int(input_size) % 8):
        raise ValueError(f"unet_discriminator_sn input_size must be a positive multiple of 8, got {input_size}.")
    nf = int(filters)
    size = None if input_size is None else int(input_size)
    inputs = keras.Input((size, size, 3), name="image")

    def conv(x, channels, kernel, stride, index, spectral=True):
        layer = keras.layers.Conv2D(channels, kernel, strides=stride, padding="same", use_bias=not spectral,
                                    kernel_initializer=kernel_initializer, name=f"conv{index}")
        if spectral:
            layer = SpectralNormalization(layer, name=f"conv{index}_sn")
        return layer(x)

    def lrelu(x, index):
        return keras.layers.LeakyReLU(negative_slope=0.2, name=f"lrelu{index}")(x)

    x = keras.layers.Rescaling(1.0 / 255.0, name="to_unit_range")(inputs)
    x0 = lrelu(conv(x, nf, 3, 1, 0, spectral=False), 0)
    x1 = lrelu(conv(x0, 2 * nf, 4, 2, 1), 1)
    x2 = lrelu(conv(x1, 4 * nf, 4, 2, 2), 2)
    x3 = lrelu(conv(x2, 8 * nf, 4, 2, 3), 3)
    x = x3
    for index, (channels, skip) in enumerate(((4 * nf, x2), (2 * nf, x1), (nf, x0)), start=4):
        x = keras.layers.UpSampling2D(2, interpolation="bilinear", name=f"up{index}")(x)
        x = lrelu(conv(x, channels, 3, 1, index), index)
        if skip_connection:
            x = keras.layers.Add(name=f"skip{index}")([x, skip])
    x = lrelu(conv(x, nf, 3, 1, 7), 7)
    x = lrelu(conv(x, nf, 3, 1, 8), 8)
    outputs = keras.layers.Conv2D(1, 3, padding="same", kernel_initializer=kernel_initializer, dtype="float32",
                                  name="conv9")(x)
    return keras.Model(inputs, outputs, name=name or "unet_discriminator_sn")
