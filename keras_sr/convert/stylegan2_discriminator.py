"""StyleGAN2's discriminator out of mmagic's GLEAN / StyleGAN2 files (`discriminator.*`) -> `stylegan2_discriminator`.

Karras et al., "Analyzing and Improving the Image Quality of StyleGAN", CVPR 2020 (App. B: the residual
discriminator); GLEAN (Chan et al., CVPR 2021) trains against it, and mmagic starts it from the released
StyleGAN2 weights (`configs/glean/*.py`: `discriminator=dict(type='StyleGANv2Discriminator', in_size=...,
pretrained=dict(ckpt_path=<stylegan2-*-config-f-official_*.pth>, prefix='discriminator'))`). Official code:
open-mmlab/mmagic `mmagic/models/editors/stylegan2/stylegan2_discriminator.py` (`StyleGAN2Discriminator`),
`stylegan2_modules.py` (`ConvDownLayer`, `ResBlock`, `ModMBStddevLayer`), `stylegan1_modules.py`
(`EqualLinearActModule`, `Blur`), `pggan_modules.py` (equalized lr: `weight_orig` stored unscaled, as
keras-sr's `EqualizedConv2D` / `EqualizedDense` keep it). Files: mmagic's full GLEAN checkpoints
(`glean_cat_8x_20210614-d3ac8683.pth`, `glean_cat_16x_20210527-68912543.pth`,
`glean_ffhq_16x_20210527-61a3afad.pth`, `glean_in128out1024_4x2_300k_ffhq_celebahq_20210812-acbcb04f.pth`,
`configs/glean/README.md`) and the StyleGAN2 `official_weights` (`stylegan2-cat-config-f-official_20210327_
172444-15bc485b.pth`, `stylegan2-ffhq-config-f-official_20210327_171224-bce9310c.pth`), both holding the
discriminator under the prefix `discriminator.`; a bare `StyleGAN2Discriminator` state dict (no prefix) too.

The same file is also a generator file, and `from_checkpoint(path)` detects the generator there (`glean_full`
or `stylegan2`, which skip `discriminator.*` by name); the discriminator is taken by naming this converter:
`from_checkpoint(path, name="stylegan2_discriminator")` (`keras-sr convert FILE --model
stylegan2_discriminator`). A file holding only the discriminator is detected without the name. Layout
(P = `discriminator.` or none), ch(r) = StyleGAN2's width at r:

    P.convs.0.0.conv.weight_orig, P.convs.0.1.bias       1x1 conv 3 -> ch(in), fused bias + lReLU -> d_conv0
    P.convs.{k}.conv1.{0.conv.weight_orig, 1.bias}        3x3 conv                                -> d_res{k-1}_conv1
    P.convs.{k}.conv2.{1.conv.weight_orig, 2.bias}        blur + stride-2 3x3 conv                -> d_res{k-1}_conv2
    P.convs.{k}.skip.1.conv.weight_orig                   blur + stride-2 1x1 conv, no bias       -> d_res{k-1}_skip
    P.final_conv.{0.conv.weight_orig, 1.bias}             3x3 conv on the minibatch-stddev concat -> d_final_conv
    P.final_linear.{0,1}.{linear.weight_orig, bias}       equalized dense (the first fused lReLU) -> d_final_linear_{0,1}

Detected from the shapes: `input_size` (2 ** (number of `convs` + 1)), `max_channels` (the 4x4 width),
`channel_multiplier` (the widths above 32x32; 2 when no width shows it), `channel_groups` (the final conv's
extra inputs). `group_size` (4) leaves no weight: an override. Checked and skipped by name: the FIR buffers
`P.convs.{k}.{conv2,skip}.0.kernel` (must be the normalized outer([1, 3, 3, 1]) keras-sr's layers hold as a
constant), and, under the `discriminator.` prefix, the file's other networks `generator.*`, `generator_ema.*`
and `perceptual_loss.*` (their converters are `glean_full` and `stylegan2`). Any other key is an error.
Channel order: the weights are taken as they are, like the GLEAN converters (the generator and its critic
see the same images); mmagic's `input_bgr2rgb` (False in GLEAN) adds no weights.

Example:
    >>> from keras_sr.convert import from_checkpoint
    >>> critic = from_checkpoint("glean_cat_8x_20210614-d3ac8683.pth", name="stylegan2_discriminator")  # 256
    >>> critic.save("glean_d.keras")     # recipes.glean --pretrained-discriminator glean_d.keras
"""

import numpy as np

from keras_sr.convert.registry import CheckpointMismatch, assign, conv_kernel, indices, register_converter
from keras_sr.models.glean import stylegan2_channels

__all__ = ["detect", "load", "find_prefix", "PREFIXES", "OTHER_NETWORKS"]

PREFIXES = ("discriminator.", "")
# a training file's other networks beside `discriminator.`: checked by name and skipped
OTHER_NETWORKS = ("generator.", "generator_ema.", "perceptual_loss.")
_LAST = "final_linear.1.linear.weight_orig"


def find_prefix(state):
    """`discriminator.` or "" when `state` holds mmagic's StyleGAN2 discriminator there, else None."""
    for prefix in PREFIXES:
        if (state.has(prefix + "convs.0.0.conv.weight_orig") and state.has(prefix + "final_conv.0.conv.weight_orig")
                and state.has(prefix + _LAST)):
            return prefix
    return None


def _blocks(state, prefix):
    blocks = indices(state, prefix + "convs.")
    if not blocks or blocks != list(range(len(blocks))):
        raise CheckpointMismatch(f"{state.source}: StyleGAN2 discriminator {prefix}convs.{{k}} found {blocks}: "
                                 "expected 0..n")
    return blocks


def detect(state):
    prefix = find_prefix(state)
    if prefix is None:
        return None
    p = prefix
    if state.shape(p + "convs.0.0.conv.weight_orig")[1:] != (3, 1, 1) or state.shape(p + _LAST)[0] != 1:
        return None
    blocks = _blocks(state, p)
    size = 2 ** (len(blocks) + 1)
    widths = {size: int(state.shape(p + "convs.0.0.conv.weight_orig")[0])}
    for k in blocks[1:]:
        widths[size // 2 ** k] = int(state.shape(f"{p}convs.{k}.conv2.1.conv.weight_orig")[0])
    final = state.shape(p + "final_conv.0.conv.weight_orig")
    max_channels = int(final[0])
    multiplier = next((cm for cm in (2, 1, 4, 8) if all(stylegan2_channels(r, cm, max_channels) == c
                                                        for r, c in widths.items())), None)
    if multiplier is None:
        raise CheckpointMismatch(f"{state.source}: StyleGAN2 discriminator widths {widths} (4x4: {max_channels}) fit "
                                 "no channel_multiplier of min(max_channels, 16384 * cm / res)")
    groups = int(final[1]) - widths[4]
    if groups < 1:
        raise CheckpointMismatch(f"{state.source}: {p}final_conv.0.conv.weight_orig {final}: expected "
                                 f"{widths[4]} + channel_groups inputs")
    return {"model": "stylegan2_discriminator", "prefix": prefix,
            "config": {"input_size": size, "channel_multiplier": multiplier, "max_channels": max_channels,
                       "channel_groups": groups}}


def _load_equalized(layer, state, weight, bias=None):
    value = state.take(weight)
    assign(layer.kernel, conv_kernel(value) if value.ndim == 4 else value.T, state, weight)
    if bias is not None:
        assign(layer.bias, state.take(bias), state, bias)


def _check_blur(state, key):
    taps = np.array([1.0, 3.0, 3.0, 1.0])
    want = np.outer(taps, taps) / 64.0
    value = state.take(key, shape=(4, 4))
    if not np.allclose(value, want, atol=1e-6):
        raise CheckpointMismatch(f"{state.source}: {key!r} is not the [1, 3, 3, 1] blur kernel keras-sr's "
                                 "EqualizedConv2D holds")


def load(model, state, config):
    p = find_prefix(state)
    if p is None:
        raise CheckpointMismatch(f"{state.source}: no StyleGAN2 discriminator (convs.0.0.conv.weight_orig) found")
    blocks = _blocks(state, p)
    _load_equalized(model.get_layer("d_conv0"), state, p + "convs.0.0.conv.weight_orig", p + "convs.0.1.bias")
    for k in blocks[1:]:
        b = f"{p}convs.{k}."
        _load_equalized(model.get_layer(f"d_res{k - 1}_conv1"), state, b + "conv1.0.conv.weight_orig",
                        b + "conv1.1.bias")
        _load_equalized(model.get_layer(f"d_res{k - 1}_conv2"), state, b + "conv2.1.conv.weight_orig",
                        b + "conv2.2.bias")
        _load_equalized(model.get_layer(f"d_res{k - 1}_skip"), state, b + "skip.1.conv.weight_orig")
        _check_blur(state, b + "conv2.0.kernel")
        _check_blur(state, b + "skip.0.kernel")
    _load_equalized(model.get_layer("d_final_conv"), state, p + "final_conv.0.conv.weight_orig",
                    p + "final_conv.1.bias")
    for i in (0, 1):   # Keras flattens in PyTorch's (C, H, W) order (d_to_chw): no reordering
        _load_equalized(model.get_layer(f"d_final_linear_{i}"), state, f"{p}final_linear.{i}.linear.weight_orig",
                        f"{p}final_linear.{i}.bias")
    if p:
        state.skip(*[k for k in state.keys() if k.startswith(OTHER_NETWORKS)])
    return model


register_converter("stylegan2_discriminator", detect, load, priority=3)
