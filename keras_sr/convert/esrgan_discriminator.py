"""ESRGAN's VGG-style discriminator (BasicSR `net_d_*.pth`, old BasicSR `*_D.pth`) -> `esrgan_discriminator`.

Wang et al., "ESRGAN: Enhanced Super-Resolution Generative Adversarial Networks", ECCVW 2018 (the
relativistic discriminator; the SRGAN-style VGG network of Ledig et al.). Official code: XPixelGroup/BasicSR
`basicsr/archs/discriminator_arch.py` (`VGGStyleDiscriminator`, used by BasicSR's ESRGAN and SRGAN
trainings, `options/train/ESRGAN/train_ESRGAN_x4.yml` and `options/train/SRResNet_SRGAN/train_MSRGAN_x4.yml`:
`network_d: VGGStyleDiscriminator, num_feat 64`, 128x128 crops; open-mmlab/mmsr's `Discriminator_VGG_128`
has the same keys; so BasicSR's SRGAN critics convert here too: keras-sr's `srgan_discriminator`, the
paper's Fig. 4 network, has no official code or released file), and the earlier BasicSR
(`codes/models/modules/architecture.py`, `Discriminaotr_VGG_128` / `_96` / `_192` made of
`block.conv_block`s) that trained the ESRGAN paper's models. No discriminator is released beside the ESRGAN
generators (xinntao/ESRGAN ships `RRDB_ESRGAN_x4.pth` and `RRDB_PSNR_x4.pth` only): these are the files a
BasicSR training writes, `experiments/<name>/models/net_d_<iter>.pth` (container `params`) or, in the old
BasicSR, `<iter>_D.pth` (a bare state dict). Two layouts:

    BasicSR / mmsr                              old BasicSR (`features` Sequential)          -> keras-sr
    conv0_0.{weight,bias}                       features.0.{weight,bias}                      conv0_0
    conv{s}_{t}.weight (no bias)                features.{3k-1}.{weight,bias}, k = 2s + t     conv{s}_{t}
    bn{s}_{t}.{weight,bias,running_*}           features.{3k}.{weight,bias,running_*}         bn{s}_{t}
    linear1.{weight,bias}  (8nf e e -> 100)     classifier.0.{weight,bias}                    linear1
    linear2.{weight,bias}  (100 -> 1)           classifier.2.{weight,bias}                    linear2

Detected from the shapes: `filters` (nf), `dense_units` (100), `num_stages` (5; 6 for BasicSR's
`input_size=256` and old `Discriminaotr_VGG_192`) and `input_size` (the end size e = sqrt(linear1 inputs /
8nf), times 2 ** num_stages: 128, 256, 96 or 192). BatchNorm running statistics are loaded (the converted
critic runs in inference mode as the file's, and trains on from them); `num_batches_tracked` is checked and
skipped by name. `linear1`'s input columns are reordered from PyTorch's (C, H, W) flattening to Keras' (H, W, C).
The old layout's convolutions before batch norm have biases (`conv_block(bias=True)`); a bias before batch
norm only shifts the batch mean, so it is folded into the running mean (`moving_mean = running_mean - bias`):
exact in inference and in training (the batch statistics cancel it, the running mean moves the same, and
PyTorch gives it a zero gradient). Any other key is an error. The spectral-norm `Discriminaotr_VGG_128_SN`
(no batch norm) is not converted.

Example:
    >>> from keras_sr.convert import from_checkpoint
    >>> critic = from_checkpoint("net_d_400000.pth")     # esrgan_discriminator, input 128, nf 64
    >>> critic.save("net_d.keras")                       # recipes.esrgan --pretrained-discriminator net_d.keras
"""

import math

import numpy as np

from keras_sr.convert.registry import (CheckpointMismatch, assign, conv_kernel, indices, load_batch_norm, load_conv,
                                       load_dense, register_converter)

__all__ = ["detect", "load"]


def _stages(nf, num_stages):
    return [nf, 2 * nf, 4 * nf] + [8 * nf] * (num_stages - 3)


def _old_convs(state):
    """Indices of the old layout's `features.{i}` convolutions (4-D weights), in order."""
    return [i for i in indices(state, "features.", ".weight") if len(state.shape(f"features.{i}.weight")) == 4]


def _layout(state):
    if state.has("conv0_0.weight") and state.has("bn0_1.running_mean") and state.has("linear2.weight"):
        return "basicsr"
    if (state.has("features.0.weight") and state.has("features.3.running_mean") and state.has("classifier.0.weight")
            and state.has("classifier.2.weight") and not state.has("classifier.3.weight")
            and len(state.shape("features.2.weight")) == 4 and state.shape("features.2.weight")[2:] == (4, 4)):
        return "old"
    return None


def _keys(layout, num_stages):
    """[(keras conv name, PyTorch conv prefix, PyTorch BN prefix or None)], dense prefixes (linear1, linear2)."""
    convs = []
    for k in range(2 * num_stages):
        s, t = divmod(k, 2)
        if layout == "basicsr":
            convs.append((f"conv{s}_{t}", f"conv{s}_{t}", f"bn{s}_{t}" if k else None))
        else:
            convs.append((f"conv{s}_{t}", f"features.{3 * k - 1 if k else 0}", f"features.{3 * k}" if k else None))
    return convs, (("linear1", "linear2") if layout == "basicsr" else ("classifier.0", "classifier.2"))


def detect(state):
    layout = _layout(state)
    if layout is None:
        return None
    first = "conv0_0.weight" if layout == "basicsr" else "features.0.weight"
    if state.shape(first)[1:] != (3, 3, 3):
        return None
    filters = int(state.shape(first)[0])
    if layout == "basicsr":
        num_stages = len([s for s in range(16) if state.has(f"conv{s}_1.weight")])
    else:
        num_stages = len(_old_convs(state)) // 2
    linear1, linear2 = _keys(layout, max(num_stages, 4))[1]
    units, inputs = state.shape(linear1 + ".weight")
    last = _stages(filters, max(num_stages, 4))[-1]
    end = math.isqrt(inputs // last) if inputs % last == 0 else 0
    if num_stages < 4 or end < 1 or end * end * last != inputs or state.shape(linear2 + ".weight") != (1, units):
        raise CheckpointMismatch(f"{state.source}: VGG-style discriminator ({layout} layout) with {num_stages} stages "
                                 f"of nf {filters}: {linear1}.weight {state.shape(linear1 + '.weight')} is not "
                                 f"(units, {last} x e x e)")
    return {"model": "esrgan_discriminator", "layout": layout,
            "config": {"input_size": end * 2 ** num_stages, "filters": filters, "dense_units": int(units),
                       "num_stages": num_stages}}



def load(model, state, config):
    layout = _layout(state)
    num_stages = config.get("num_stages", 5)
    convs, (linear1, linear2) = _keys(layout, num_stages)
    if layout == "old" and _old_convs(state) != [3 * k - 1 if k else 0 for k in range(2 * num_stages)]:
        raise CheckpointMismatch(f"{state.source}: old-layout features convs at {_old_convs(state)}: expected conv, "
                                 f"LReLU, then (conv, BN, LReLU) x {2 * num_stages - 1}")
    for name, conv, bn in convs:
        if bn is None:
            load_conv(model.get_layer(name), state, conv)
            continue
        layer = model.get_layer(name)
        assign(layer.kernel, conv_kernel(state.take(conv + ".weight")), state, conv + ".weight")
        bias = state.take(conv + ".bias", shape=(layer.filters,)) if layout == "old" else None
        load_batch_norm(model.get_layer(name.replace("conv", "bn")), state, bn, folded_bias=bias)
    dense = model.get_layer("linear1")
    weight = state.take(linear1 + ".weight")
    channels = _stages(config["filters"], num_stages)[-1]
    end = config["input_size"] // 2 ** num_stages
    if weight.shape[1] != channels * end * end:
        raise CheckpointMismatch(f"{state.source}: {linear1}.weight has shape {weight.shape}, expected "
                                 f"(units, {channels * end * end})")
    kernel = weight.reshape(-1, channels, end, end).transpose(2, 3, 1, 0).reshape(-1, weight.shape[0])
    assign(dense.kernel, np.ascontiguousarray(kernel), state, linear1 + ".weight")
    assign(dense.bias, state.take(linear1 + ".bias"), state, linear1 + ".bias")
    load_dense(model.get_layer("linear2"), state, linear2)
    return model


register_converter("esrgan_discriminator", detect, load, priority=15)
