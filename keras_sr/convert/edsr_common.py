"""Pieces shared by the EDSR-PyTorch layouts (EDSR, MDSR, RCAN): MeanShift, ResBlock, Upsampler.

EDSR-PyTorch (`src/model/common.py`) holds the mean subtraction as a frozen 1x1
convolution (`sub_mean` / `add_mean`: weight `eye / std`, bias
`sign * rgb_range * mean / std`); keras-sr's `MeanShift` is the same map with
constants. The converter reads the mean back from the bias, checks that the
weight is the identity (std 1, as every released model) and that `rgb_range` is
255 (keras-sr models take [0, 255]), and marks both tensors used.
`Upsampler` is an `nn.Sequential` of `conv (r^2 F) -> PixelShuffle(r)` steps
(indices 0, 2, 4 for x2 steps, 0 for x3): keras-sr's `SubPixelUpsampling` with the
output channels permuted to TensorFlow's depth_to_space order.

Example:
    >>> scale = upsampler_scale(state, "tail.0.", filters=64)     # 2, 3, 4 or 8
    >>> load_upsampler(model.get_layer("upsample"), state, "tail.0.", scale)
"""

import numpy as np

from keras_sr.convert.registry import CheckpointMismatch, indices, load_conv
from keras_sr.layers.subpixel_upsampling import pytorch_to_dcr_permutation, upsampling_steps

__all__ = ["mean_shift_mean", "check_mean_shift", "upsampler_scale", "load_upsampler", "load_res_block"]


def mean_shift_mean(state, other="add_mean"):
    """The RGB mean in [0, 1] that `add_mean.bias` holds (read for detection; nothing marked used)."""
    return tuple(float(m) for m in state.peek(f"{other}.bias") / 255.0)


def check_mean_shift(state, rgb_mean, prefix="sub_mean", other="add_mean"):
    """Check EDSR-PyTorch's `sub_mean` / `add_mean` convs against the model's `rgb_mean` and mark them used."""
    for name in (prefix, other):
        weight = state.take(f"{name}.weight", shape=(3, 3, 1, 1))[:, :, 0, 0]
        if not np.allclose(weight, np.eye(3), atol=1e-6):
            raise CheckpointMismatch(f"{state.source}: {name}.weight is not the identity (rgb_std != 1); "
                                     "keras-sr's MeanShift takes std 1 as every released EDSR/RCAN model")
    sub = state.take(f"{prefix}.bias", shape=(3,))
    add = state.take(f"{other}.bias", shape=(3,))
    if not np.allclose(sub, -add, rtol=1e-5, atol=1e-4):
        raise CheckpointMismatch(f"{state.source}: {prefix}.bias {sub.tolist()} is not minus {other}.bias "
                                 f"{add.tolist()}")
    mean = add / 255.0
    if not np.all((mean > 0.05) & (mean < 0.95)):
        raise CheckpointMismatch(f"{state.source}: {other}.bias {add.tolist()} is not 255 * an RGB mean: the model "
                                 "was trained with rgb_range != 255, keras-sr's EDSR-family models take [0, 255]")
    if not np.allclose(mean, rgb_mean, atol=1e-6):
        raise CheckpointMismatch(f"{state.source}: the mean {mean.tolist()} of {other}.bias differs from the model's "
                                 f"rgb_mean {list(rgb_mean)}")


def upsampler_scale(state, prefix, filters):
    """Scale of an `Upsampler` at `prefix` ("tail.0."): x2 steps count, or one x3 step; None if not one."""
    steps = indices(state, prefix, ".weight")
    if not steps or steps != list(range(0, 2 * len(steps), 2)):
        return None
    out = state.shape(f"{prefix}0.weight")[0]
    if len(steps) == 1 and out == 9 * filters:
        return 3
    if out == 4 * filters:
        return 2 ** len(steps)
    return None


def load_upsampler(layer, state, prefix, scale):
    """`SubPixelUpsampling` from the convs `{prefix}0`, `{prefix}2`, ... (PixelShuffle order permuted)."""
    for index, (conv, r) in enumerate(zip(layer.convs, upsampling_steps(scale))):
        load_conv(conv, state, f"{prefix}{2 * index}", out_permutation=pytorch_to_dcr_permutation(layer.filters, r))


def load_res_block(block, state, prefix):
    """`ResidualBlock` (conv1, conv2) from EDSR-PyTorch's `ResBlock` (`{prefix}body.0`, `{prefix}body.2`)."""
    load_conv(block.conv1, state, f"{prefix}body.0")
    load_conv(block.conv2, state, f"{prefix}body.2")
