"""WDSR-A / WDSR-B checkpoints (JiahuiYu/wdsr_ntire2018 and the reloaded ychfan/wdsr) -> `wdsr`.

Yu, Fan, Yang, Xu, Wang, Huang, "Wide Activation for Efficient and Accurate Image Super-Resolution",
arXiv 1808.08718. Two official layouts:

* NTIRE 2018 code, JiahuiYu/wdsr_ntire2018 `wdsr_a.py` / `wdsr_b.py` (`MODEL`): trained inside
  EDSR-PyTorch, whose trainer saves the bare `state_dict()` as `model_latest.pt` / `model_best.pt`
  (a plain dict; that repository releases no weight file). WDSR-A or WDSR-B.
* The reloaded version its README points to for pre-trained PyTorch models, ychfan/wdsr
  `models/wdsr.py`: README files `wdsr_x2.zip`, `wdsr_x3.zip`, `wdsr_x4.zip` (small: 16 blocks, 32
  units, 1,190,100 / 1,195,605 / 1,203,312 parameters) and the large x2 / x3 / x4 (32 blocks, 128
  units, 37,808,180 / 37,826,645 / 37,852,496), each `epoch_30.pth`, saved by `trainer.py` as
  `{"epoch", "model_state_dict", "optimizer_state_dict", "lr_scheduler_state_dict"}` (unwrapped by the
  reader's `model_state_dict` container key). WDSR-A blocks only.

Layout (`<conv>` is weight-normalized: `<conv>.weight_g` (O, 1, 1, 1), `<conv>.weight_v` (O, I, k, k),
`<conv>.bias` (O); the newer `torch.nn.utils.parametrizations.weight_norm` names
`<conv>.parametrizations.weight.original0` / `original1` for g / v are read as well):

    NTIRE 2018               reloaded                 keras-sr (`WeightNormalization`: v, g, bias)
    head.0                   body.0                   weight_norm_head            3x3, 3 -> F
    body.<i>.body.0, .2      body.<i+1>.body.0, .2    block_<i>.convs[0, 1]       A: 3x3 F -> wide, ReLU, 3x3 -> F
    body.<i>.body.0, .2, .3  -                        block_<i>.convs[0, 1, 2]    B: 1x1 F -> wide, ReLU, 1x1 -> low, 3x3 -> F
    tail.0                   body.<N+1>               weight_norm_tail            3x3, F -> 3 s^2 (then pixel shuffle)
    skip.0                   skip.0                   weight_norm_skip_conv       5x5, 3 -> 3 s^2 (then pixel shuffle)

Loaded as the parametrization, not folded: `weight_v` is the Keras kernel (the direction), `weight_g`
the wrapper's `g`, so fine-tuning trains the same weight-normalized network (keras-sr's norm is over
every kernel axis but the output channel, as `weight_norm(dim=0)`). A plain `<conv>.weight` (a file
after `remove_weight_norm`) is read as `v` with `g = ||v||`, the same convolution. The tail and skip
output channels are permuted from PyTorch's pixel-shuffle order to keras-sr's DCR order.

Detected: the variant (a block with the 1x1 low-rank conv `body.<i>.body.3` is B), `scale` from the
skip / tail output channels `3 s^2` (2, 3, 4, 8), `num_blocks`, `filters` (F), `expansion` (wide / F;
A's `block_feats` 128 at F 32 is 4), B's `low_rank_ratio` (0.8, hard-coded in wdsr_b.py). Neither file
holds the RGB mean (a fixed attribute, not a buffer): NTIRE 2018 normalizes `(x - 255 mean) / 127.5` with
the DIV2K mean (0.4488, 0.4371, 0.4040) = keras-sr's default; the reloaded code computes `x / 255 - 0.5`
in [0, 1], i.e. half of keras-sr's normalization with `rgb_mean` (0.5, 0.5, 0.5), so every bias is
loaded doubled (convs, ReLU and residual sums are positively homogeneous: the network's output doubles
and `* 127.5 + 127.5` equals the official `(y + 0.5) * 255` exactly). The NTIRE 2018 `--res_scale`
(1 by default, 0.1 in the challenge runs) is not in the weights: pass `residual_scale=` (or `res_scale=`,
`--res-scale`) as an override.
Nothing is skipped: neither layout has buffers.

Example:
    >>> from keras_sr.convert import from_checkpoint
    >>> model = from_checkpoint("wdsr_x2/epoch_30.pth")   # wdsr a, x2, 16 blocks, F 32, expansion 4
    >>> model.count_params()                               # 1,190,100
"""

import math

import numpy as np

from keras_sr.convert.registry import CheckpointMismatch, assign, conv_kernel, indices, register_converter
from keras_sr.layers.subpixel_upsampling import pytorch_to_dcr_permutation

__all__ = ["detect", "load", "RELOADED_MEAN", "weight_norm_keys", "load_weight_norm_conv"]

SCALES = (2, 3, 4, 8)
RELOADED_MEAN = (0.5, 0.5, 0.5)
_STYLES = (("weight_g", "weight_v"), ("parametrizations.weight.original0", "parametrizations.weight.original1"))


def weight_norm_keys(state, prefix):
    """`(g_key, v_key)` of a weight-normalized conv `prefix` (legacy or parametrization names); `(None, weight)`
    for a folded conv; the legacy names when none is present (so the loader's error names them)."""
    for g, v in _STYLES:
        if state.has(f"{prefix}.{g}") or state.has(f"{prefix}.{v}"):
            return f"{prefix}.{g}", f"{prefix}.{v}"
    if state.has(f"{prefix}.weight"):
        return None, f"{prefix}.weight"
    return f"{prefix}.weight_g", f"{prefix}.weight_v"


def _shape(state, prefix):
    """(out, in, kh, kw) of the conv `prefix`, or None when it is not there as a 4-D weight."""
    key = weight_norm_keys(state, prefix)[1]
    if not state.has(key) or len(state.shape(key)) != 4:
        return None
    return state.shape(key)


def _layout(state):
    """("ntire2018" | "reloaded", head, [block prefixes], tail) or None."""
    if _shape(state, "head.0") is not None and _shape(state, "tail.0") is not None:
        return "ntire2018", "head.0", [f"body.{i}" for i in indices(state, "body.")], "tail.0"
    numbers = indices(state, "body.")
    if len(numbers) >= 2 and numbers == list(range(len(numbers))) and _shape(state, "body.0") is not None \
            and _shape(state, f"body.{numbers[-1]}") is not None:
        return "reloaded", "body.0", [f"body.{i}" for i in numbers[1:-1]], f"body.{numbers[-1]}"
    return None


def _ratio(count, filters):
    """`r` with `int(filters * r) == count` (the builder's rounding), or None."""
    ratio = count / filters
    return ratio if int(filters * ratio) == count else None


def detect(state):
    found = _layout(state)
    skip = _shape(state, "skip.0")
    if found is None or skip is None or skip[1:] != (3, 5, 5):
        return None
    layout, head, blocks, tail = found
    head_shape, tail_shape = _shape(state, head), _shape(state, tail)
    out = skip[0]
    scale = math.isqrt(out // 3)
    if out != 3 * scale * scale or scale not in SCALES or head_shape[1:] != (3, 3, 3) \
            or tail_shape[0] != out or tail_shape[2:] != (3, 3) or not blocks:
        return None
    filters = head_shape[0]
    first, second, third = (_shape(state, f"{blocks[0]}.body.{j}") for j in (0, 2, 3))
    if first is None or second is None or first[1] != filters:
        return None
    config = {"scale": scale, "num_blocks": len(blocks), "filters": filters}
    expansion = _ratio(first[0], filters)
    if third is None and first[2:] == (3, 3) and second[2:] == (3, 3) and expansion is not None:
        config.update(variant="a", expansion=expansion)
    elif third is not None and layout == "ntire2018" and first[2:] == (1, 1) and second[2:] == (1, 1) \
            and third[1:] == (second[0], 3, 3) and expansion is not None:
        # wdsr_b.py hard-codes int(F * 0.8) low-rank channels; another ratio is read when it rounds back
        low_rank = 0.8 if int(filters * 0.8) == second[0] else _ratio(second[0], filters)
        if low_rank is None:
            return None
        config.update(variant="b", expansion=expansion, low_rank_ratio=low_rank)
    else:
        return None
    if layout == "reloaded":
        config["rgb_mean"] = RELOADED_MEAN
    # the residual scaling is not in the weights; `res_scale` (EDSR's name, the CLI's --res-scale) sets it too
    return {"model": "wdsr", "config": config, "aliases": {"res_scale": "residual_scale"}}


def load_weight_norm_conv(wrapper, state, prefix, out_permutation=None, bias_scale=1.0):
    """Load a PyTorch weight-normalized conv `prefix` into a keras-sr `WeightNormalization(Conv2D)`: v, g, bias."""
    conv = wrapper.layer
    g_key, v_key = weight_norm_keys(state, prefix)
    shape = (conv.filters, int(conv.kernel.shape[2])) + tuple(conv.kernel_size)
    v = state.take(v_key, shape=shape)
    g = np.sqrt(np.sum(np.square(v), axis=(1, 2, 3))) if g_key is None else \
        state.take(g_key, shape=(conv.filters, 1, 1, 1)).reshape(-1)
    bias = state.take(f"{prefix}.bias", shape=(conv.filters,)) * np.float32(bias_scale)
    kernel = conv_kernel(v)
    if out_permutation is not None:
        kernel, g, bias = kernel[..., out_permutation], g[out_permutation], bias[out_permutation]
    assign(conv.kernel, kernel, state, v_key)
    assign(wrapper.g, g, state, g_key or v_key)
    assign(conv.bias, bias, state, f"{prefix}.bias")


def load(model, state, config):
    found = _layout(state)
    if found is None:
        raise CheckpointMismatch(f"{state.source}: not a WDSR layout (no head.0 / tail.0 or body.0 ... body.N convs)")
    layout, head, blocks, tail = found
    if len(blocks) != config["num_blocks"]:
        raise CheckpointMismatch(f"{state.source}: {len(blocks)} residual blocks, the model has {config['num_blocks']}")
    # the reloaded code's [0, 1] normalization is half of keras-sr's: double every bias (see the module docstring)
    bias_scale = 2.0 if layout == "reloaded" else 1.0
    shuffle = pytorch_to_dcr_permutation(3, config["scale"])
    load_weight_norm_conv(model.get_layer("weight_norm_head"), state, head, bias_scale=bias_scale)
    for index, prefix in enumerate(blocks):
        block = model.get_layer(f"block_{index}")
        for conv, j in zip(block.convs, (0, 2, 3)):
            load_weight_norm_conv(conv, state, f"{prefix}.body.{j}", bias_scale=bias_scale)
    load_weight_norm_conv(model.get_layer("weight_norm_tail"), state, tail, shuffle, bias_scale)
    load_weight_norm_conv(model.get_layer("weight_norm_skip_conv"), state, "skip.0", shuffle, bias_scale)
    return model


register_converter("wdsr", detect, load, priority=20)
