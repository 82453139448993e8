"""DASR: blind SR with an unsupervised (contrastive) degradation representation.

Wang, Wang, Dong, Xu, Yang, An, Guo, "Unsupervised Degradation Representation
Learning for Blind Super-Resolution", CVPR 2021
(https://arxiv.org/abs/2104.00416). Layout of the official code
(The-Learning-And-Vision-Atelier-LAVA/DASR, `model/blindsr.py`: `Encoder`,
`DASR`, `DAG`, `DAB`, `DA_conv`, `CA_layer`), written anew:

* the degradation encoder (`keras_sr.layers.DegradationEncoder`, layer
  "encoder") maps the LR image to a 256-d representation (six conv + BN +
  LeakyReLU, global average pooling);
* the generator (nested functional model "generator", inputs
  `[lr, representation]`): `compress` (256 -> 64 linear, no bias, LeakyReLU
  0.1) -> MeanShift (DIV2K mean) -> head conv -> 5 degradation-aware groups
  (`DegradationAwareGroup`, 5 DABs each, every DA conv driven by the
  compressed representation) -> conv + long skip -> sub-pixel upsampler ->
  tail conv -> MeanShift back.

Input LR RGB in [0, 255], any size; output `scale` times larger. At
inference the model takes only the LR image (kind "sisr"): the encoder
infers the degradation from it. Training (the encoder's MoCo contrastive
warm-up, then L1 + contrastive) is `keras_sr.training.dasr` / `recipes.dasr`.

Parameters at the official configuration (x4): 5,837,699 = generator
4,690,499 + encoder 1,147,200, the official count of the trainable
generator and query encoder without its MLP head (counted from the official
`BlindSR` with PyTorch: `G` 4,690,523 less the two frozen MeanShift convs'
24, `E.encoder_q.E` 1,147,200); the paper's "5.8M". keras-sr's MeanShift has
no weights; its batch norms hold 1,792 moving statistics besides (PyTorch
buffers, not parameters).

Example:
    >>> from keras_sr import models
    >>> model = models.build("dasr", scale=4)
    >>> sr = model(keras.ops.ones((1, 24, 24, 3)) * 128.0)        # (1, 96, 96, 3)
"""

import keras

from keras_sr.layers.da_conv import torch_default_initializer
from keras_sr.layers.degradation_aware_group import DegradationAwareGroup
from keras_sr.layers.degradation_encoder import DegradationEncoder
from keras_sr.layers.mean_shift import DIV2K_RGB_MEAN, MeanShift
from keras_sr.layers.subpixel_upsampling import SubPixelUpsampling
from keras_sr.models import register

__all__ = ["dasr", "dasr_generator", "official_parameter_count", "OFFICIAL_PARAMETERS"]

OFFICIAL_PARAMETERS = 5_837_699  # x4: generator 4,690,499 + encoder 1,147,200 (PyTorch count, see module docstring)


def official_parameter_count(scale=4, filters=64, num_groups=5, num_blocks=5, kernel_size=3, reduction=8,
                             encoder_widths=(64, 128, 256)):
    """Trainable parameters of the official generator + encoder (no MLP head, no MeanShift), by formula."""

    def conv(cin, cout, k=kernel_size, bias=True):
        return k * k * cin * cout + (cout if bias else 0)

    f, k2, r = filters, kernel_size * kernel_size, encoder_widths[-1]
    da = f * f + f * f * k2 + conv(f, f, 1) + f * (f // reduction) + (f // reduction) * f
    dab = 2 * da + 2 * conv(f, f)
    dag = num_blocks * dab + conv(f, f)
    up = conv(f, 9 * f) if scale == 3 else (int(scale).bit_length() - 1) * conv(f, 4 * f)
    generator = conv(3, f) + r * f + num_groups * dag + conv(f, f) + up + conv(f, 3)
    w0, w1, w2 = encoder_widths
    widths = [(3, w0), (w0, w0), (w0, w1), (w1, w1), (w1, w2), (w2, w2)]
    encoder = sum(conv(a, b, 3) + 2 * b for a, b in widths)  # conv + BN gamma/beta
    return generator + encoder


def dasr_generator(scale=4, filters=64, num_groups=5, num_blocks=5, kernel_size=3, reduction=8,
                   representation_channels=256, rgb_mean=DIV2K_RGB_MEAN, kernel_initializer=None, name="generator"):
    """The degradation-aware SR network: `[lr (B,H,W,3), representation (B,R)] -> sr`."""
    init = kernel_initializer or torch_default_initializer()
    conv = dict(padding="same", kernel_initializer=init)
    lr = keras.Input((None, None, 3), name="lr")
    representation = keras.Input((int(representation_channels),), name="representation")
    r = keras.layers.Dense(filters, use_bias=False, kernel_initializer=init, name="compress")(representation)
    r = keras.layers.LeakyReLU(negative_slope=0.1, name="compress_act")(r)
    x = MeanShift(rgb_mean, sign=-1, name="sub_mean")(lr)
    head = keras.layers.Conv2D(filters, kernel_size, name="head", **conv)(x)
    x = head
    for i in range(num_groups):
        x = DegradationAwareGroup(filters, num_blocks, kernel_size, reduction, init, name=f"dag_{i}")([x, r])
    x = keras.layers.Conv2D(filters, kernel_size, name="body_end", **conv)(x)
    x = keras.layers.Add(name="long_skip")([x, head])
    x = SubPixelUpsampling(scale, filters, kernel_initializer=init, name="upsample")(x)
    x = keras.layers.Conv2D(3, kernel_size, name="tail", dtype="float32", **conv)(x)
    sr = MeanShift(rgb_mean, sign=1, name="add_mean", dtype="float32")(x)
    return keras.Model([lr, representation], sr, name=name)


@register("dasr", scales=(2, 3, 4),
          test_config=dict(scale=2, filters=8, num_groups=1, num_blocks=1, reduction=4, encoder_widths=[8, 8, 16]))
def dasr(scale=4, filters=64, num_groups=5, num_blocks=5, kernel_size=3, reduction=8, encoder_widths=(64, 128, 256),
         rgb_mean=DIV2K_RGB_MEAN, kernel_initializer=None, name=None):
    """Build DASR (encoder + degradation-aware generator) as a functional `keras.Model` on `(None, None, 3)` LR.

    Args:
        scale: 2, 3 or 4.
        filters: generator feature channels (64; also the compressed representation's size).
        num_groups, num_blocks: DAGs and DABs per DAG (5, 5).
        kernel_size: conv and dynamic-kernel size (3).
        reduction: DA conv channel-attention reduction (8).
        encoder_widths: the degradation encoder's widths (64, 128, 256); the last is the representation size.
        rgb_mean: dataset RGB mean in [0, 1] (DIV2K's, as the official code).
        kernel_initializer: for every weight (default: PyTorch's default init, as the official code trains with).
        name: model name (default `dasr_x<scale>`).
    """
    if int(scale) not in (2, 3, 4):
        raise ValueError(f"DASR supports scales 2, 3 and 4, got {scale!r}.")
    widths = tuple(int(w) for w in encoder_widths)
    lr = keras.Input((None, None, 3), name="lr")
    representation = DegradationEncoder(widths, kernel_initializer=kernel_initializer, name="encoder")(lr)
    generator = dasr_generator(int(scale), int(filters), int(num_groups), int(num_blocks), int(kernel_size),
                               int(reduction), widths[-1], rgb_mean, kernel_initializer)
    sr = generator([lr, representation])
    return keras.Model(lr, sr, name=name or f"dasr_x{int(scale)}")
