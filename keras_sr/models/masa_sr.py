"""MASA-SR: Matching Acceleration and Spatial Adaptation for Reference-Based Image Super-Resolution (x4).

Lu, Li, Jiang, Tai, Jia, CVPR 2021 (https://arxiv.org/abs/2106.02299). A port
of the official `MASA` network (github.com/dvlab-research/MASA-SR,
`models/archs/MASA_arch.py`, `train.py` defaults: `nf` 64, encoder blocks
4+4+4, decoder blocks 2+2+2+12+8+4, `lr_block_size` 8, `ref_down_block_size`
1.5, dilations 1/2/3, `num_nbr` 1), same layers and parameter count:

* inputs: `lr` (h x w, multiples of 8), `lr_up` (LR bicubic x4, the base
  the network's output is added to), `ref` (Hr x Wr, multiples of 16) and
  `ref_down` (the reference bicubic down x4); RGB in [0, 255] (the official
  network works on [0, 1]: rescaled inside). `prepare_inputs(lr, ref)`
  pads and makes them;
* `encoder`: one shared feature encoder (3x3 conv, 4 residual blocks, then
  twice a stride-2 conv and 4 blocks; L1, L2, L3 at 1, 1/2, 1/4) applied to
  the LR, the reference-down and the reference (961,920 parameters);
* `mem` (`MatchAndExtraction`): coarse block matching, fine patch matching
  in a region, and extraction of the reference features at x1, x2, x4 (no
  weights);
* the decoder: the LR pyramid fused back to LR size, then at x1 the
  SAM-adapted (`SpatialAdaptation`, one module shared by the three scales as
  official `pAda`) reference merged by a conv and 12 blocks, at x2 and x4
  a `DualResidualAggregation` and 8 / 4 blocks, and a 3x3 conv to RGB added to
  `lr_up` (3,066,371 parameters).

Total 4,028,291 parameters, the official `sum(p.numel())` of `MASA`
(the paper's 4.03M). Differences from the official code, all outside the
learned layers: the base image is keras-sr's MATLAB bicubic `lr_up` (official:
PyTorch bicubic, `F.interpolate(mode="bicubic")`), the reference-down image
MATLAB bicubic (official: PIL bicubic), and `prepare_inputs` pads the LR at the
bottom/right (official: the HR image centred, before its downscaling).

Example:
    >>> from keras_sr import models
    >>> model = models.build("masa_sr")
    >>> inputs, (h, w) = prepare_inputs(lr_uint8, ref_uint8)
    >>> sr = model(inputs)[:, :h, :w]                          # [0, 255]
"""

import numpy as np

import keras

from keras_sr.imresize import imresize
from keras_sr.layers.bilinear_upsampling import BilinearUpsampling
from keras_sr.layers.dual_residual_aggregation import DualResidualAggregation
from keras_sr.layers.masa_matching import MatchAndExtraction, region_diameter
from keras_sr.layers.residual_block import ResidualBlock
from keras_sr.layers.spatial_adaptation import SpatialAdaptation, masa_conv_initializer
from keras_sr.models import register
from keras_sr.models.refsr_inputs import ceil_to, pad_edge, rgb_pair


__all__ = ["masa_sr", "prepare_inputs", "official_parameter_count", "INPUT_NAMES", "LR_MULTIPLE", "REF_MULTIPLE"]

INPUT_NAMES = ("lr", "lr_up", "ref", "ref_down")
SCALE = 4
LR_MULTIPLE = 8    # the block size of the coarse matching
REF_MULTIPLE = 16  # the official test pads the reference to a multiple of 16
MIN_LR_SIZE = 16   # two blocks per axis: the smallest LR whose region fits a reference of the HR size


def official_parameter_count(nf=64, n_blocks=(4, 4, 4), n_blocks_dec=(2, 2, 2, 12, 8, 4), in_channels=3):
    """Parameters of the official `MASA` (`Encoder` + `Decoder`), by formula from `MASA_arch.py`."""

    def conv(cin, cout, k=3):
        return k * k * cin * cout + cout

    block = 2 * conv(nf, nf)
    encoder = conv(in_channels, nf) + 2 * conv(nf, nf) + sum(n_blocks) * block
    sam = conv(2 * nf, nf) + 2 * conv(nf, nf)
    dram = 4 * conv(nf, nf) + conv(2 * nf, nf)
    decoder = conv(nf, nf) + 3 * conv(2 * nf, nf) + 2 * dram + sam + sum(n_blocks_dec) * block + conv(nf, in_channels)
    return encoder + decoder


def _conv(filters, name, strides=1, activation=None, gain=1.0):
    return keras.layers.Conv2D(filters, 3, strides=strides, padding="same" if strides == 1 else "valid",
                               activation=activation, kernel_initializer=masa_conv_initializer(3, filters, gain),
                               name=name)


def _blocks(x, count, filters, prefix):
    init = masa_conv_initializer(3, filters, gain=0.1)  # official weight_init: residual blocks scaled by 0.1
    for i in range(count):
        x = ResidualBlock(filters, kernel_initializer=init, name=f"{prefix}_{i}")(x)
    return x


def _encoder(nf, n_blocks):
    """The official `Encoder` (shared by the LR, the reference-down and the reference)."""
    image = keras.Input((None, None, 3), name="image")
    l1 = _blocks(_conv(nf, "enc_conv_l1", activation="relu")(image), n_blocks[0], nf, "enc_blk_l1")
    x = keras.layers.ZeroPadding2D(1, name="enc_pad_l2")(l1)  # PyTorch's stride-2 conv with padding 1
    l2 = _blocks(_conv(nf, "enc_conv_l2", strides=2, activation="relu")(x), n_blocks[1], nf, "enc_blk_l2")
    x = keras.layers.ZeroPadding2D(1, name="enc_pad_l3")(l2)
    l3 = _blocks(_conv(nf, "enc_conv_l3", strides=2, activation="relu")(x), n_blocks[2], nf, "enc_blk_l3")
    return keras.Model(image, [l1, l2, l3], name="encoder")


def _spec_inputs(lr, ref, scale=SCALE):
    """The registry spec's `prepare_inputs`: `(inputs, (out_h, out_w))` (see `prepare_inputs`)."""
    return prepare_inputs(lr, ref, scale)


@register("masa_sr", kind="refsr", inputs=INPUT_NAMES, scales=(SCALE,), prepare_inputs=_spec_inputs,
          test_config=dict(nf=4, n_blocks=(1, 1, 1), n_blocks_dec=(1, 1, 1, 1, 1, 1)))
def masa_sr(scale=4, nf=64, n_blocks=(4, 4, 4), n_blocks_dec=(2, 2, 2, 12, 8, 4), block_size=8, ref_block_scale=1.5,
            dilations=(1, 2, 3), chunk_size=1024, name="masa_sr"):
    """Build MASA-SR as a functional `keras.Model` with dict inputs `lr`, `lr_up`, `ref`, `ref_down`.

    Args:
        scale: 4 (the architecture is x4 only).
        nf: features (official 64).
        n_blocks: encoder residual blocks at L1, L2, L3 (4, 4, 4).
        n_blocks_dec: decoder residual blocks at L3, L2, L1, x1, x2, x4 (2, 2, 2, 12, 8, 4).
        block_size, ref_block_scale, dilations: the matching (`MatchAndExtraction`; 8, 1.5, (1, 2, 3)).
        chunk_size: blocks per step of the coarse matching.
        name: model name.

    Returns:
        A model mapping the RGB [0, 255] inputs to the x4 SR image in [0, 255] (not clipped, as official).
    """
    if int(scale) != SCALE:
        raise ValueError(f"MASA-SR is an x4 architecture, got scale={scale!r}.")
    nf = int(nf)
    n_blocks = tuple(int(n) for n in n_blocks)
    n_blocks_dec = tuple(int(n) for n in n_blocks_dec)
    if len(n_blocks) != 3 or len(n_blocks_dec) != 6:
        raise ValueError(f"masa_sr: n_blocks needs 3 numbers and n_blocks_dec 6, got {n_blocks}, {n_blocks_dec}.")

    inputs = {key: keras.Input((None, None, 3), name=key) for key in INPUT_NAMES}
    unit = {key: keras.layers.Rescaling(1.0 / 255.0, name=f"{key}_to_unit")(inputs[key]) for key in INPUT_NAMES}
    encoder = _encoder(nf, n_blocks)
    lr_l1, lr_l2, lr_l3 = encoder(unit["lr"])
    ref_down_l1, _, _ = encoder(unit["ref_down"])
    ref_l1, ref_l2, ref_l3 = encoder(unit["ref"])
    warp_x1, warp_x2, warp_x4 = MatchAndExtraction(block_size, ref_block_scale, dilations, chunk_size, dtype="float32",
                                                   name="mem")([lr_l1, ref_down_l1, ref_l3, ref_l2, ref_l1])

    def concat(tensors, name):
        return keras.layers.Concatenate(name=name)(tensors)

    # Decoder: the LR pyramid back to LR size.
    f3 = _blocks(_conv(nf, "dec_conv_l3", activation="relu")(lr_l3), n_blocks_dec[0], nf, "dec_blk_l3")
    f3 = BilinearUpsampling(2, name="dec_up_l3")(f3)
    f2 = _conv(nf, "dec_conv_l2", activation="relu")(concat([f3, lr_l2], "dec_cat_l2"))
    f2 = BilinearUpsampling(2, name="dec_up_l2")(_blocks(f2, n_blocks_dec[1], nf, "dec_blk_l2"))
    f1 = _conv(nf, "dec_conv_l1", activation="relu")(concat([f2, lr_l1], "dec_cat_l1"))
    f1 = _blocks(f1, n_blocks_dec[2], nf, "dec_blk_l1")

    # x1, x2, x4 with the reference (one SAM shared by the three scales, as the official pAda).
    sam = SpatialAdaptation(nf, name="sam")
    x1 = _conv(nf, "merge_warp_x1", activation="relu")(concat([sam([f1, warp_x1]), f1], "cat_x1"))
    x1 = _blocks(x1, n_blocks_dec[3], nf, "blk_x1")
    adapted = sam([BilinearUpsampling(2, name="up_x1")(x1), warp_x2])
    x2 = _blocks(DualResidualAggregation(nf, name="dram_x2")([x1, adapted]), n_blocks_dec[4], nf, "blk_x2")
    adapted = sam([BilinearUpsampling(2, name="up_x2")(x2), warp_x4])
    x4 = _blocks(DualResidualAggregation(nf, name="dram_x4")([x2, adapted]), n_blocks_dec[5], nf, "blk_x4")
    out = _conv(3, "conv_out")(x4)
    out = keras.layers.Add(name="add_base")([out, unit["lr_up"]])
    outputs = keras.layers.Rescaling(255.0, dtype="float32", name="to_pixels")(out)
    return keras.Model(inputs, outputs, name=name)


def prepare_inputs(lr, ref, scale=SCALE):
    """`(inputs, (out_h, out_w))` for one LR image and one reference (RGB HWC, uint8 or float).

    The LR is edge-padded at the bottom/right to a multiple of 8 (at least 16); the reference is
    edge-padded to a multiple of 16 (the official test's padding) and at least the padded HR size (so
    every block's matching region fits in it). `lr_up` = MATLAB bicubic x4 of the padded LR,
    `ref_down` = MATLAB bicubic /4 of the padded reference. Crop the output to `[:out_h, :out_w]`.
    """
    lr, ref = rgb_pair(lr, ref)
    scale = int(scale)
    if scale != SCALE:
        raise ValueError(f"MASA-SR is an x4 architecture, got scale={scale!r}.")
    out_h, out_w = lr.shape[0] * scale, lr.shape[1] * scale
    lr_h = max(MIN_LR_SIZE, ceil_to(lr.shape[0], LR_MULTIPLE))
    lr_w = max(MIN_LR_SIZE, ceil_to(lr.shape[1], LR_MULTIPLE))
    ref_h = max(ceil_to(ref.shape[0], REF_MULTIPLE), lr_h * scale)
    ref_w = max(ceil_to(ref.shape[1], REF_MULTIPLE), lr_w * scale)
    lr = pad_edge(lr, lr_h, lr_w)
    ref = pad_edge(ref, ref_h, ref_w)
    for axis, (size, blocks) in enumerate(((ref_h // scale, lr_h // LR_MULTIPLE), (ref_w // scale, lr_w // LR_MULTIPLE))):
        if size < region_diameter(size, blocks) + 2:  # cannot happen with the padding above; kept as a guard
            raise ValueError(f"prepare_inputs: reference too small for MASA-SR's matching region (axis {axis}).")
    batch = {"lr": lr, "lr_up": imresize(lr, scale), "ref": ref, "ref_down": imresize(ref, 1.0 / scale)}
    return {k: np.asarray(v, np.float32)[None] for k, v in batch.items()}, (out_h, out_w)
