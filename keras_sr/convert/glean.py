"""Full GLEAN checkpoints of mmagic (encoder + StyleGAN2 bank + decoder) -> `glean`.

Chan, Wang, Xu, Gu, Loy, "GLEAN: Generative Latent Bank for Large-Factor Image
Super-Resolution", CVPR 2021. Official code: open-mmlab/mmagic (formerly mmediting)
`mmagic/models/editors/glean/glean_styleganv2.py` (`GLEANStyleGANv2`, `RRDBFeatureExtractor`;
mmediting `mmedit/models/backbones/sr_backbones/glean_styleganv2.py`, the same layout), trained as
`SRGAN` (`mmagic/models/editors/srgan/srgan.py`: `generator`, `discriminator`, the losses; no EMA).
Released files (`configs/glean/README.md`, `metafile.yml`; saved by mmediting 0.x through mmcv, i.e.
`{"meta", "state_dict"}`, the container unwrapped by `keras_sr.convert.reader`):
`glean_cat_8x_20210614-d3ac8683.pth` (32 -> 256), `glean_cat_16x_20210527-68912543.pth`
(16 -> 256), `glean_ffhq_16x_20210527-61a3afad.pth` (64 -> 1024) and
`glean_in128out1024_4x2_300k_ffhq_celebahq_20210812-acbcb04f.pth` (128 -> 1024, x8).
Layout (P = `generator.`; `generator_ema.` when present, or none for a bare `GLEANStyleGANv2`
state dict), ch(r) = StyleGAN2's width at r:

    P.encoder.0.0.conv_first, .body.{i}.rdb{1,2,3}.conv{1..5}, .conv_body   RRDB trunk  -> encoder_rrdb_*
    P.encoder.0.1                      conv rrdb_channels -> ch(in)          -> encoder_0_conv
    P.encoder.{k}.0, .2  (res > 4)     stride-2 conv, conv                   -> encoder_{k}_conv1, _conv2
    P.encoder.{K}.0, .3  (4x4)         conv, linear 16 ch(4) -> W+ latents   -> encoder_{K}_conv1, _linear
    P.fusion_out.{b}                   conv on concat(bank, encoder) at 4 ... in  -> fusion_out_{b}
    P.decoder.{i}.upsample_conv        PixelShufflePack conv (x2)            -> decoder_{i} (DCR-permuted)
    P.decoder.{n}.0, .2                conv 64, conv 3 at the output size    -> decoder_{n}_conv1, _conv2
    P.generator.*                      StyleGAN2 bank, mmagic layout         -> bank_* (stylegan2.load_bank)

Detected from the shapes: `scale` and `out_size` (the number of encoder blocks gives the LR size,
the bank's `convs` the output size), the bank's `style_channels`, `channel_multiplier`,
`max_channels` (`keras_sr.convert.stylegan2.bank_config`), `rrdb_channels`, `num_rrdbs`,
`growth_rate`, `decoder_channels`.

Checked and skipped by name (never loaded, never silently ignored):

* `P.fusion_skip.{b}` (shape checked: 3x3 conv ch + 3 -> 3), the bank's mapping MLP
  `P.generator.style_mapping.*`, its to-RGB skip path `P.generator.to_rgb1.*`, `P.generator.to_rgbs.*`
  and FIR-kernel buffers: computed by mmagic's forward but not on the path to the SR output, so not
  in the functional Keras model (see `keras_sr.models.glean`);
* a training file's `discriminator.*` (StyleGAN2 discriminator) and `perceptual_loss.vgg.*` (the
  VGG16 of the perceptual loss, when the file holds it);
* when both `generator.` and `generator_ema.` are present, the EMA weights are loaded (mmagic's GAN
  models test with `generator_ema` when they keep one) and every `generator.*` key is checked to have an EMA twin of the same shape,
  then skipped. mmagic's SRGAN keeps no EMA, so its released GLEAN files hold `generator.` only.

Any other key is an error (`CheckpointMismatch`). Bare StyleGAN2 generator files (no encoder)
go to `keras_sr.convert.stylegan2` (the bank only).

Example:
    >>> from keras_sr.convert import from_checkpoint
    >>> model = from_checkpoint("glean_cat_8x_20210614-d3ac8683.pth")   # glean, scale 8, out_size 256
    >>> model.count_params()    # 158,978,592: mmagic's 162,479,861 less the mapping MLP, to-RGB skips and
    ...                         # fusion_skip (3,676,005 together), plus the 174,736 fixed noise values
"""

from keras_sr.convert.registry import CheckpointMismatch, indices, load_conv, load_dense, register_converter
from keras_sr.convert.rrdbnet import load_rrdb
from keras_sr.convert.stylegan2 import GLEAN_ENCODER_KEY, bank_config, load_bank
from keras_sr.layers.subpixel_upsampling import pytorch_to_dcr_permutation
from keras_sr.models.glean import stylegan2_channels

__all__ = ["detect", "load", "find_prefix", "PREFIXES", "SKIPPED_PREFIXES"]

# The GLEAN network's prefix, in order of preference: the EMA copy, the trained copy, a bare state dict.
PREFIXES = ("generator_ema.", "generator.", "")
# Other networks of a training file: checked by name and skipped.
SKIPPED_PREFIXES = ("discriminator.", "perceptual_loss.vgg.")


def find_prefix(state):
    """The prefix of the full GLEAN network in `state` (`generator_ema.`, `generator.` or ""), or None."""
    for prefix in PREFIXES:
        if state.has(prefix + GLEAN_ENCODER_KEY) and state.has(prefix + "generator.constant_input.input"):
            return prefix
    return None


def _log2(n):
    return int(n).bit_length() - 1


def detect(state):
    prefix = find_prefix(state)
    if prefix is None:
        return None
    config = bank_config(state, "mmagic", prefix + "generator.")
    out_size = config["out_size"]
    blocks = indices(state, prefix + "encoder.")
    if not blocks or blocks != list(range(len(blocks))):
        raise CheckpointMismatch(f"{state.source}: GLEAN {prefix}encoder.{{k}} found {blocks}: expected 0..n-1")
    in_size = 2 ** len(blocks)        # one block at the LR size, one per halving down to 4, one at 4x4
    if in_size >= out_size:
        raise CheckpointMismatch(f"{state.source}: GLEAN encoder of {len(blocks)} blocks (LR {in_size}) for a "
                                 f"{out_size} bank: the LR size must be below the output size")
    trunk = prefix + "encoder.0.0."
    rrdb_channels = state.shape(trunk + "conv_first.weight")[0]
    rrdbs = [i for i in indices(state, trunk + "body.") if state.has(f"{trunk}body.{i}.rdb1.conv1.weight")]
    if rrdbs != list(range(len(rrdbs))):
        raise CheckpointMismatch(f"{state.source}: GLEAN RRDBs {trunk}body.{{i}} found {rrdbs}: expected 0..n-1")
    growth = state.shape(f"{trunk}body.0.rdb1.conv1.weight")[0] if rrdbs else 32
    decoders = indices(state, prefix + "decoder.")
    expected = _log2(out_size) - _log2(in_size) + 1
    if decoders != list(range(expected)):
        raise CheckpointMismatch(f"{state.source}: GLEAN {prefix}decoder.{{i}} found {decoders}: a {in_size} -> "
                                 f"{out_size} GLEAN has 0..{expected - 1}")
    decoder_channels = state.shape(f"{prefix}decoder.{expected - 1}.0.weight")[0]
    config.update(scale=out_size // in_size, rrdb_channels=int(rrdb_channels), num_rrdbs=len(rrdbs),
                  growth_rate=int(growth), decoder_channels=int(decoder_channels))
    return {"model": "glean", "config": config, "prefix": prefix}


def _skip_training_networks(state, prefix):
    """The discriminator, the perceptual loss's VGG and the non-EMA generator copy: checked by name, skipped."""
    state.skip(*[k for k in state.keys() if k.startswith(SKIPPED_PREFIXES)])
    if prefix == "generator_ema.":
        for key in [k for k in state.keys() if k.startswith("generator.")]:
            twin = "generator_ema." + key[len("generator."):]
            if not state.has(twin) or state.shape(twin) != state.shape(key):
                raise CheckpointMismatch(f"{state.source}: {key!r} has no EMA twin {twin!r} of shape "
                                         f"{state.shape(key)}: not a generator / generator_ema pair")
            state.skip(key)


def load(model, state, config):
    prefix = find_prefix(state)
    if prefix is None:
        raise CheckpointMismatch(f"{state.source}: no GLEAN encoder ({GLEAN_ENCODER_KEY!r}) found")
    scale, out_size = config["scale"], config["out_size"]
    in_size = out_size // scale
    ch = lambda r: stylegan2_channels(r, config["channel_multiplier"], config["max_channels"])  # noqa: E731
    enc = prefix + "encoder."

    # Encoder: the RRDB trunk and its conv at the LR size, one block per halving, the 4x4 block -> latents.
    load_conv(model.get_layer("encoder_rrdb_conv_first"), state, enc + "0.0.conv_first")
    for i in range(config["num_rrdbs"]):
        load_rrdb(model.get_layer(f"encoder_rrdb_{i}"), state, lambda k, j: f"{enc}0.0.body.{i}.rdb{k}.conv{j}")
    load_conv(model.get_layer("encoder_rrdb_conv_body"), state, enc + "0.0.conv_body")
    load_conv(model.get_layer("encoder_0_conv"), state, enc + "0.1")
    for k, log_res in enumerate(range(_log2(in_size), 1, -1), start=1):
        load_conv(model.get_layer(f"encoder_{k}_conv1"), state, f"{enc}{k}.0")
        if 2 ** log_res > 4:
            load_conv(model.get_layer(f"encoder_{k}_conv2"), state, f"{enc}{k}.2")
        else:  # Keras flattens in PyTorch's CHW order (Permute): the Linear loads as it is, transposed
            load_dense(model.get_layer(f"encoder_{k}_linear"), state, f"{enc}{k}.3")

    # Fusion at 4 ... in_size; the to-RGB skip fusion is not on the output's path: checked, skipped.
    for b in range(_log2(in_size) - 1):
        load_conv(model.get_layer(f"fusion_out_{b}"), state, f"{prefix}fusion_out.{b}")
        c = ch(4 * 2 ** b)
        state.take(f"{prefix}fusion_skip.{b}.weight", shape=(3, c + 3, 3, 3))
        state.take(f"{prefix}fusion_skip.{b}.bias", shape=(3,))

    # The StyleGAN2 bank (mapping MLP, to-RGB layers and FIR buffers skipped by name in load_bank).
    load_bank(model, state, "mmagic", prefix + "generator.")

    # Decoder: a PixelShufflePack per x2 step, then conv, LeakyReLU, conv at the output size.
    steps = _log2(out_size) - _log2(in_size)
    for i in range(steps):
        layer = model.get_layer(f"decoder_{i}")
        load_conv(layer.convs[0], state, f"{prefix}decoder.{i}.upsample_conv",
                  out_permutation=pytorch_to_dcr_permutation(layer.filters, 2))
    load_conv(model.get_layer(f"decoder_{steps}_conv1"), state, f"{prefix}decoder.{steps}.0")
    load_conv(model.get_layer(f"decoder_{steps}_conv2"), state, f"{prefix}decoder.{steps}.2")

    _skip_training_networks(state, prefix)
    return model


register_converter("glean_full", detect, load, priority=20)
