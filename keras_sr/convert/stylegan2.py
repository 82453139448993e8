"""StyleGAN2 generator checkpoints (mmagic and rosinality layouts) -> GLEAN's latent bank or `stylegan2_generator`.

GLEAN (Chan et al., CVPR 2021) starts from a released StyleGAN2 generator
(Karras et al., CVPR 2020, config F). keras-sr downloads nothing: the user
supplies the file. Two PyTorch layouts of the same network are read (the
values need no rescaling: both keep the equalized-LR weights unscaled, as
keras-sr's layers do):

* mmagic (open-mmlab/mmagic `StyleGAN2Generator`, its `official_weights`
  `.pth` files, under the prefix `generator_ema.` (preferred) or `generator.`):
  `style_mapping.{i}.linear.weight_orig`, `constant_input.input`,
  `conv1.conv.weight_orig`, `conv1.conv.style_modulation.linear.weight_orig`,
  `conv1.noise_injector.weight`, `conv1.activate.bias`, `to_rgb1.*`,
  `convs.{j}.*`, `to_rgbs.{i}.*`, `injected_noise_{k}`;
* rosinality (rosinality/stylegan2-pytorch `Generator`, `.pt` files with a
  `g_ema` entry): `style.{i}.weight`, `input.input`, `conv1.conv.weight`,
  `conv1.conv.modulation.weight`, `conv1.noise.weight`, `conv1.activate.bias`,
  `to_rgb1.*`, `convs.{j}.*`, `to_rgbs.{i}.*`, `noises.noise_{k}`.

Detected: the layout, `out_size` (from the number of `convs`), `style_channels`,
`max_channels` (the 4x4 width) and `channel_multiplier` (from the widths above
32x32). The registered model built is `glean`: its scale cannot be read from a
StyleGAN2 file, so pass it (`from_checkpoint(path, name="glean", scale=8)`;
default 16). GLEAN has no mapping network and no to-RGB skip path (see
`keras_sr.models.glean`): those keys are marked used without being loaded, by
name (`state.skip`), as are the FIR-kernel buffers (`*.blur.kernel`,
`*.upsample.kernel`: fixed `[1, 3, 3, 1]` filters that keras-sr's layers hold as
constants). The encoder and decoder of GLEAN are not in a StyleGAN2 file and
keep their initial weights: GLEAN is then trained (`recipes.glean`). Full GLEAN
files (mmagic's released `glean_*.pth`, encoder keys present) are the
`glean_full` converter's (`keras_sr.convert.glean`), which reuses `bank_config`
and `load_bank` for their bank.
`load_stylegan2(model, state)` loads the same keys into any model with the
`bank_*` layers (also `keras_sr.models.glean.stylegan2_generator`, which takes
every key).

Example:
    >>> from keras_sr.convert import from_checkpoint
    >>> model = from_checkpoint("stylegan2-ffhq-config-f-official.pth", name="glean", scale=16)   # 64 -> 1024
    >>> load_stylegan2(stylegan2_generator(1024), read_checkpoint("stylegan2-ffhq-config-f.pt"))
"""

import re

import numpy as np

from keras_sr.convert.registry import CheckpointMismatch, assign, register_converter

__all__ = ["detect", "load", "load_stylegan2", "load_bank", "bank_config", "find_layout", "is_full_glean",
           "GLEAN_ENCODER_KEY", "LAYOUTS"]

PREFIXES = ("generator_ema.", "g_ema.", "", "generator.")
# a key of GLEAN's encoder (the RRDB trunk's first conv): present in full GLEAN files only
GLEAN_ENCODER_KEY = "encoder.0.0.conv_first.weight"

# role -> key suffix, per layout ({m}: a modulated layer's key prefix)
LAYOUTS = {
    "mmagic": dict(const="constant_input.input", weight="{m}.conv.weight_orig",
                   mod_w="{m}.conv.style_modulation.linear.weight_orig", mod_b="{m}.conv.style_modulation.bias",
                   noise_w="{m}.noise_injector.weight", act_b="{m}.activate.bias", rgb_b="{m}.bias",
                   noise="injected_noise_{k}", map_w="style_mapping.{i}.linear.weight_orig", map_b="style_mapping.{i}.bias",
                   mapping_prefix="style_mapping."),
    "rosinality": dict(const="input.input", weight="{m}.conv.weight", mod_w="{m}.conv.modulation.weight",
                       mod_b="{m}.conv.modulation.bias", noise_w="{m}.noise.weight", act_b="{m}.activate.bias",
                       rgb_b="{m}.bias", noise="noises.noise_{k}", map_w="style.{i}.weight", map_b="style.{i}.bias",
                       mapping_prefix="style."),
}


def find_layout(state):
    """`(layout, prefix)` of the StyleGAN2 generator in `state`, or None."""
    for prefix in PREFIXES:
        for layout, names in LAYOUTS.items():
            if state.has(prefix + names["const"]) and state.has(prefix + names["weight"].format(m="conv1")):
                return layout, prefix
    return None


def _convs(state, prefix, names):
    pattern = re.compile(re.escape(prefix) + r"convs\.(\d+)\." + re.escape(names["weight"].format(m="X")[2:]) + "$")
    return sorted({int(m.group(1)) for m in map(pattern.match, state.keys()) if m})


def _mapping(state, prefix, names):
    pattern = re.compile(re.escape(prefix + names["map_w"]).replace(r"\{i\}", r"(\d+)") + "$")
    return sorted({int(m.group(1)) for m in map(pattern.match, state.keys()) if m})


def bank_config(state, layout, prefix):
    """`{out_size, style_channels, channel_multiplier, max_channels}` of the StyleGAN2 generator under `prefix`.

    Read from the shapes: `out_size` from the number of `convs`, `max_channels` from the 4x4 width, the
    multiplier from the widths above 32x32. Shared with the full-GLEAN converter (`keras_sr.convert.glean`).
    """
    names = LAYOUTS[layout]
    convs = _convs(state, prefix, names)
    if not convs or convs != list(range(len(convs))) or len(convs) % 2:
        raise CheckpointMismatch(f"{state.source}: StyleGAN2 {prefix}convs.{{j}} found {convs}: expected pairs "
                                 "0..2n-1")
    out_size = 2 ** (2 + len(convs) // 2)
    const = state.shape(prefix + names["const"])
    max_channels = int(const[1])
    style_channels = int(state.shape(prefix + names["mod_w"].format(m="conv1"))[1])
    widths = {2 ** (3 + j // 2): int(state.shape(f"{prefix}convs.{j}.conv." + names["weight"].split(".conv.")[1])[1])
              for j in range(0, len(convs), 2)}
    multiplier = next((cm for cm in (2, 1, 4, 8) if all(min(max_channels, 16384 * cm // r) == c
                                                          for r, c in widths.items())), None)
    if multiplier is None:
        raise CheckpointMismatch(f"{state.source}: StyleGAN2 widths {widths} fit no channel_multiplier of "
                                 "min(max_channels, 16384 * cm / res)")
    return {"out_size": out_size, "style_channels": style_channels, "channel_multiplier": multiplier,
            "max_channels": max_channels}


def is_full_glean(state):
    """Whether `state` holds a whole GLEAN (its encoder), not a bare StyleGAN2 generator."""
    return any(k.endswith(GLEAN_ENCODER_KEY) for k in state.keys())


def detect(state):
    found = find_layout(state)
    if found is None:
        return None
    layout, prefix = found
    if is_full_glean(state):
        raise CheckpointMismatch(f"{state.source}: a full GLEAN checkpoint (encoder keys): the 'glean_full' "
                                 "converter reads it (from_checkpoint(path) detects it); 'stylegan2' reads "
                                 "StyleGAN2 generator files")
    return {"model": "glean", "config": bank_config(state, layout, prefix), "layout": layout, "prefix": prefix}


def _has_layer(model, name):
    return any(layer.name == name for layer in model.layers)


def _load_modulated(conv, state, key_weight, key_mod_w, key_mod_b):
    w = state.take(key_weight)
    if w.ndim != 5 or w.shape[0] != 1:
        raise CheckpointMismatch(f"{state.source}: {key_weight!r} has shape {w.shape}, expected (1, out, in, k, k)")
    assign(conv.kernel, np.transpose(w[0], (2, 3, 1, 0)), state, key_weight)
    assign(conv.modulation.kernel, state.take(key_mod_w).T, state, key_mod_w)
    assign(conv.modulation.bias, state.take(key_mod_b), state, key_mod_b)


def _skip_prefix(state, prefix):
    state.skip(*[k for k in state.keys() if k.startswith(prefix)])


def load_bank(model, state, layout, prefix):
    """Load the StyleGAN2 generator under `prefix` into the `bank_*` layers of `model`; takes only keys under `prefix`.

    Keys of layers the model lacks (GLEAN: the mapping MLP `style_mapping.*` / `style.*`, `to_rgb1.*`,
    `to_rgbs.*`) and the FIR-kernel buffers (`*.blur.kernel`, `*.upsample.kernel`) are marked used without
    loading, by name; every other key under `prefix` must fit (`CheckpointMismatch` otherwise).
    """
    names = LAYOUTS[layout]
    key = lambda role, **kw: prefix + names[role].format(**kw)  # noqa: E731

    const = model.get_layer("bank_constant_input")
    assign(const.constant, np.transpose(state.take(key("const")), (0, 2, 3, 1)), state, key("const"))

    def style_conv(layer_name, m, noise_index):
        layer = model.get_layer(layer_name)
        _load_modulated(layer.conv, state, key("weight", m=m), key("mod_w", m=m), key("mod_b", m=m))
        assign(layer.noise.strength, state.take(key("noise_w", m=m)).reshape(1), state, key("noise_w", m=m))
        assign(layer.bias, state.take(key("act_b", m=m)), state, key("act_b", m=m))
        noise = state.take(key("noise", k=noise_index))
        assign(layer.noise.noise, np.transpose(noise, (0, 2, 3, 1)), state, key("noise", k=noise_index))

    def to_rgb(layer_name, m):
        if not _has_layer(model, layer_name):
            _skip_prefix(state, prefix + m + ".")
            return
        layer = model.get_layer(layer_name)
        _load_modulated(layer.conv, state, key("weight", m=m), key("mod_w", m=m), key("mod_b", m=m))
        assign(layer.bias, state.take(key("rgb_b", m=m)).reshape(-1), state, key("rgb_b", m=m))

    style_conv("bank_conv1", "conv1", 0)
    to_rgb("bank_to_rgb1", "to_rgb1")
    convs = _convs(state, prefix, names)
    for j in convs:
        style_conv(f"bank_convs_{j}", f"convs.{j}", j + 1)
    for i in range(len(convs) // 2):
        to_rgb(f"bank_to_rgbs_{i}", f"to_rgbs.{i}")
    mapping = _mapping(state, prefix, names)
    if _has_layer(model, "bank_mapping_0"):
        for n, i in enumerate(mapping):
            layer = model.get_layer(f"bank_mapping_{n}")
            assign(layer.kernel, state.take(key("map_w", i=i)).T, state, key("map_w", i=i))
            assign(layer.bias, state.take(key("map_b", i=i)), state, key("map_b", i=i))
    else:
        _skip_prefix(state, prefix + names["mapping_prefix"])
    state.skip(*[k for k in state.keys() if k.startswith(prefix) and k.endswith((".blur.kernel", ".upsample.kernel"))])
    return model


def load_stylegan2(model, state, layout=None, prefix=None):
    """Load a StyleGAN2 generator file into the `bank_*` layers of `model` (GLEAN or `stylegan2_generator`).

    `load_bank` on the generator's prefix; keys outside it (a StyleGAN2 training file's `discriminator.*`,
    the other of `generator.` / `generator_ema.`) are then marked used without loading.
    """
    if layout is None or prefix is None:
        found = find_layout(state)
        if found is None:
            raise CheckpointMismatch(f"{state.source}: no StyleGAN2 generator keys found")
        layout, prefix = found
    load_bank(model, state, layout, prefix)
    state.skip(*[k for k in state.keys() if not k.startswith(prefix)])  # the discriminator, the other generator copy
    return model


def load(model, state, config):
    layout, prefix = find_layout(state)
    return load_stylegan2(model, state, layout, prefix)


register_converter("stylegan2", detect, load, priority=5)
