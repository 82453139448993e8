"""RefVAE from its official files (Holmes-Alan/RefVAE `ConVAE_8x.pth` / `ConVAE_4x.pth` + `vgg_r41.pth`) -> `refvae`.

Liu, Siu, Wang, "Reference-based Image Super-Resolution via Variational
AutoEncoder", CVPR Workshops 2021 (arXiv 2106.04090); official code
Holmes-Alan/RefVAE `model.py` (`VAE_v3_8x`, `VAE_v3_4x`, `ResnetBlock`),
`network.py` (`encoder4`, `decoder4`), `eval_8x.py` / `eval_4x.py`, `main_GAN.py`.
The README links one Google Drive download for the `models/` folder; the eval
scripts read `models/ConVAE_8x.pth` (`VAE_v3_8x`) or `models/ConVAE_4x.pth`
(`VAE_v3_4x`), plain `state_dict()`s (`main_GAN.py` saves `G.state_dict()`,
loaded with `load_state_dict(torch.load(...))`), and `models/vgg_r41.pth`, the
frozen VGG `encoder4` of linear style transfer, a separate state dict: the
generator holds no encoder weights, so both files are passed together
(`from_checkpoint([gen, vgg])`, `keras-sr convert GEN VGG`). The scripts also
load `models/dec_r41.pth` (`decoder4`), which never enters the SR forward pass:
accepted as a third file, checked by name and shape and skipped. Layout:

    ConVAE_{8x,4x}.pth (VAE_v3_8x / VAE_v3_4x)                                   keras-sr layer
    init_feat.0, init_feat.3           1x1 conv 512 -> 64, 3x3 conv 64 -> 64       init_conv1, init_conv2
    init_feat.1, init_feat.4           BatchNorm2d (running statistics loaded)     init_bn1, init_bn2
    VAE_encoder.0                      Linear 64*16*16 -> 2*256 (mean, log-var)    vae_encoder (input of `latent`)
    VAE_decoder.0                      Linear 256 -> 64*16*16                      vae_decoder
    dec_feat.0, dec_feat.1.conv{1,2}   1x1 conv 64 -> 512, ResnetBlock             dec_feat_conv, dec_feat_block_conv*
    mask.0, mask.{1..3}.conv{1,2}, mask.4   1x1, 3 ResnetBlocks, 1x1 -> (mu, var)  mask_conv_in, mask_block{i}_conv*,
                                                                                   mask_conv_out
    decoder.{1,4,7}, decoder.9, decoder.11  3x3 convs after each bilinear x2,      up{1,2,3}_conv, out_conv1, out_conv2
                                            1x1 conv, 3x3 conv to RGB
    bn.{weight,bias,running_mean,running_var}   BatchNorm1d(256) built, never used: checked (256,) and skipped
    vgg_r41.pth (encoder4): conv1 (1x1, 3 -> 3), conv2 ... conv10 (VGG19 to relu4_1)   vgg_encoder conv1 ... conv10
    dec_r41.pth (decoder4), optional: conv11 ... conv19, unused by RefVAE: checked and skipped

`*.num_batches_tracked` is skipped by name. Detected from the shapes: the VGG widths, the latent
channels, grid size and dimension, the mask blocks and the decoder widths. The x8 and x4 generators
are the same layers (only the bicubic base differs, keras-sr's `lr_up` input), so nothing in the
weights shows the scale: `scale` is a detected *default*, read from the file name (`..._4x.pth`,
`..._x4.pth` -> 4; `..._8x` / `x8` -> 8), else 8; override it (`from_checkpoint(paths, scale=4)`,
`keras-sr convert ... --scale 4`; the override is allowed because the weights do not say). A
generator without `vgg_r41.pth` (or the encoder alone) is an error naming the missing file.

Example:
    >>> from keras_sr.convert import from_checkpoint
    >>> model = from_checkpoint(["ConVAE_8x.pth", "vgg_r41.pth"])            # refvae, scale 8 (from the name)
    >>> model = from_checkpoint(["ConVAE_4x.pth", "vgg_r41.pth", "dec_r41.pth"], scale=4)
"""

import math
import os
import re

from keras_sr.convert.registry import (CheckpointMismatch, indices, load_batch_norm, load_conv, load_dense,
                                       register_converter)

__all__ = ["detect", "load", "scale_from_name", "ENCODER_CONVS", "DECODER_CONVS"]

ENCODER_CONVS = tuple(f"conv{i}" for i in range(1, 11))    # vgg_r41.pth
DECODER_CONVS = tuple(f"conv{i}" for i in range(11, 20))   # dec_r41.pth (unused by RefVAE)
_GENERATOR_KEYS = ("init_feat.0.weight", "VAE_encoder.0.weight", "VAE_decoder.0.weight", "mask.0.weight")
_SCALE_IN_NAME = re.compile(r"(?<![0-9a-z])(?:([48])x|x([48]))(?![0-9a-z])")


def scale_from_name(source):
    """4 or 8 when the file name(s) in `source` ("a.pth + b.pth") say `_4x` / `x4` / `_8x` / `x8`, else None."""
    found = set()
    for part in str(source).split(" + "):
        for match in _SCALE_IN_NAME.finditer(os.path.basename(part).lower()):
            found.add(int(match.group(1) or match.group(2)))
    return found.pop() if len(found) == 1 else None


def _is_encoder_only(state):
    expected = {f"{name}.{kind}" for name in ENCODER_CONVS for kind in ("weight", "bias")}
    return set(state.keys()) == expected and state.shape("conv1.weight") == (3, 3, 1, 1)


def detect(state):
    if not all(state.has(key) for key in _GENERATOR_KEYS):
        if _is_encoder_only(state):
            raise CheckpointMismatch(f"{state.source}: RefVAE's VGG encoder (vgg_r41.pth) alone; pass the generator "
                                     "(ConVAE_8x.pth or ConVAE_4x.pth) together with it")
        return None
    if not (state.has("conv1.weight") and state.has("conv10.weight")):
        raise CheckpointMismatch(f"{state.source}: a RefVAE generator (VAE_v3_8x / VAE_v3_4x), but its VGG encoder "
                                 "is a separate file: pass vgg_r41.pth (encoder4: conv1 ... conv10) together with it")
    vgg_widths = tuple(state.shape(f"conv{i}.weight")[0] for i in (2, 4, 6, 10))
    latent_channels, features = state.shape("init_feat.0.weight")[:2]
    latent_dim = state.shape("VAE_decoder.0.weight")[1]
    stats, flat = state.shape("VAE_encoder.0.weight")
    size = math.isqrt(flat // latent_channels) if flat % latent_channels == 0 else 0
    if size * size * latent_channels != flat or stats != 2 * latent_dim:
        raise CheckpointMismatch(f"{state.source}: VAE_encoder.0.weight has shape {(stats, flat)}: expected "
                                 f"(2 * {latent_dim}, {latent_channels} * size * size) (mean and log-variance of the "
                                 "latent from a square grid of init_feat)")
    if features != vgg_widths[-1]:
        raise CheckpointMismatch(f"{state.source}: init_feat.0.weight reads {features} channels but the VGG encoder's "
                                 f"conv10 gives {vgg_widths[-1]}: the generator and vgg_r41.pth do not fit")
    blocks = indices(state, "mask.", ".conv1.weight")
    if blocks != list(range(1, len(blocks) + 1)) or not state.has(f"mask.{len(blocks) + 1}.weight"):
        raise CheckpointMismatch(f"{state.source}: mask.* holds ResnetBlocks {blocks}: expected mask.1 ... mask.n "
                                 "between the 1x1 convs mask.0 and mask.{n+1}")
    decoder_widths = tuple(state.shape(f"decoder.{i}.weight")[0] for i in (1, 4, 7))
    scale = scale_from_name(state.source) or 8
    config = {"scale": scale, "vgg_widths": vgg_widths, "latent_channels": latent_channels, "latent_size": size,
              "latent_dim": latent_dim, "mask_blocks": len(blocks), "decoder_widths": decoder_widths}
    # The x8 and x4 files are the same layers: `scale` is a default (the file name, else 8) that may be overridden.
    return {"model": "refvae", "config": config, "scale_from_weights": False}


def _load_block(model, state, layer_prefix, key_prefix):
    load_conv(model.get_layer(f"{layer_prefix}_conv1"), state, f"{key_prefix}.conv1")
    load_conv(model.get_layer(f"{layer_prefix}_conv2"), state, f"{key_prefix}.conv2")


def load(model, state, config):
    encoder = model.get_layer("vgg_encoder")
    for name in ENCODER_CONVS:
        load_conv(encoder.get_layer(name), state, name)

    load_conv(model.get_layer("init_conv1"), state, "init_feat.0")
    load_batch_norm(model.get_layer("init_bn1"), state, "init_feat.1")
    load_conv(model.get_layer("init_conv2"), state, "init_feat.3")
    load_batch_norm(model.get_layer("init_bn2"), state, "init_feat.4")
    load_dense(model.get_layer("vae_encoder"), state, "VAE_encoder.0")
    load_dense(model.get_layer("vae_decoder"), state, "VAE_decoder.0")
    load_conv(model.get_layer("dec_feat_conv"), state, "dec_feat.0")
    _load_block(model, state, "dec_feat_block", "dec_feat.1")
    n = config["mask_blocks"]
    load_conv(model.get_layer("mask_conv_in"), state, "mask.0")
    for i in range(n):
        _load_block(model, state, f"mask_block{i}", f"mask.{i + 1}")
    load_conv(model.get_layer("mask_conv_out"), state, f"mask.{n + 1}")  # (mu, var) halves: the official chunk order
    for i, index in enumerate((1, 4, 7)):
        load_conv(model.get_layer(f"up{i + 1}_conv"), state, f"decoder.{index}")
    load_conv(model.get_layer("out_conv1"), state, "decoder.9")
    load_conv(model.get_layer("out_conv2"), state, "decoder.11")

    dim = config["latent_dim"]
    for name in ("weight", "bias", "running_mean", "running_var"):  # the official forward never calls self.bn
        state.take(f"bn.{name}", shape=(dim,))
    state.skip("bn.num_batches_tracked")

    if any(state.has(f"{name}.weight") for name in DECODER_CONVS):  # dec_r41.pth: loaded by eval_*.py, never used
        c1, c2, c3, c4 = config["vgg_widths"]
        plan = [(c3, c4), (c3, c3), (c3, c3), (c3, c3), (c2, c3), (c2, c2), (c1, c2), (c1, c1), (3, c1)]
        for name, (cout, cin) in zip(DECODER_CONVS, plan):
            state.take(f"{name}.weight", shape=(cout, cin, 3, 3))
            state.take(f"{name}.bias", shape=(cout,))
    return model


register_converter("refvae", detect, load, priority=20)
