"""MASA-SR from its official checkpoints (dvlab-research/MASA-SR `masa_rec.pth`, `masa.pth`) -> `masa_sr`.

Lu et al., "MASA-SR: Matching Acceleration and Spatial Adaptation for
Reference-Based Image Super-Resolution", CVPR 2021; official code
`models/archs/MASA_arch.py` (`MASA`, `Encoder`, `Decoder`, `DRAM`, `SAM`,
`ResidualBlock`); `models/trainer.py` saves `net.state_dict()` as a plain dict
(`pretrained_weights/masa_rec.pth`: reconstruction loss only; `masa.pth`: all
losses). Layout:

    enc.conv_L1, enc.blk_L1.{i}.conv1/conv2, enc.conv_L2, enc.blk_L2.{i}, enc.conv_L3, enc.blk_L3.{i}
                                                        -> encoder enc_conv_l1, enc_blk_l1_{i}, ...
    decoder.conv_L3/L2/L1, decoder.blk_L3/L2/L1.{i}     -> dec_conv_l3/l2/l1, dec_blk_l3/l2/l1_{i}
    decoder.merge_warp_x1, decoder.blk_x1.{i}           -> merge_warp_x1, blk_x1_{i}
    decoder.dram_x2/x4.{conv_down_a, conv_up_a, conv_down_b, conv_up_b, conv_cat}
                                                        -> dram_x2/x4 (the conv_up_* are ConvTranspose2d)
    decoder.blk_x2/x4.{i}, decoder.conv_out             -> blk_x2/x4_{i}, conv_out
    decoder.pAda.{conv_shared.0, conv_gamma, conv_beta} -> sam (one module shared by the three scales)

The match & extraction module has no weights. Detected: nf and the block counts of the encoder
(3) and the decoder (6). The converted network equals the official one given the same inputs; the
official code makes its base image with PyTorch's bicubic (`F.interpolate(lr, 4, "bicubic")`) and
its reference-down with PIL's bicubic, where `masa_sr.prepare_inputs` uses MATLAB's for both: feed
`lr_up` / `ref_down` made the official way to reproduce the official output exactly.

Example:
    >>> from keras_sr.convert import from_checkpoint
    >>> model = from_checkpoint("masa_rec.pth")        # masa_sr, nf 64, blocks 4+4+4 / 2+2+2+12+8+4
    >>> model.count_params()                            # 4,028,291
"""

from keras_sr.convert.registry import (CheckpointMismatch, assign, conv_transpose_kernel, indices, load_conv,
                                       register_converter)

__all__ = ["detect", "load", "ENCODER_LEVELS", "DECODER_BLOCKS"]

ENCODER_LEVELS = ("L1", "L2", "L3")
DECODER_BLOCKS = (("blk_L3", "dec_blk_l3"), ("blk_L2", "dec_blk_l2"), ("blk_L1", "dec_blk_l1"), ("blk_x1", "blk_x1"),
                  ("blk_x2", "blk_x2"), ("blk_x4", "blk_x4"))


def _count(state, prefix):
    found = indices(state, prefix)
    if found != list(range(len(found))):
        raise CheckpointMismatch(f"{state.source}: residual blocks {prefix}{found} are not numbered 0, 1, ...")
    return len(found)


def detect(state):
    if not (state.has("enc.conv_L1.weight") and state.has("decoder.pAda.conv_shared.0.weight")):
        return None
    config = {"scale": 4, "nf": state.shape("enc.conv_L1.weight")[0],
              "n_blocks": [_count(state, f"enc.blk_{level}.") for level in ENCODER_LEVELS],
              "n_blocks_dec": [_count(state, f"decoder.{key}.") for key, _ in DECODER_BLOCKS]}
    return {"model": "masa_sr", "config": config}


def _blocks(model, state, key_prefix, layer_prefix, count):
    for i in range(count):
        block = model.get_layer(f"{layer_prefix}_{i}")
        load_conv(block.conv1, state, f"{key_prefix}.{i}.conv1")
        load_conv(block.conv2, state, f"{key_prefix}.{i}.conv2")


def load_conv_transpose(layer, state, prefix):
    """A Keras `Conv2DTranspose` from PyTorch's `ConvTranspose2d` `{prefix}.weight` (in, out, kh, kw) / bias."""
    assign(layer.kernel, conv_transpose_kernel(state.take(f"{prefix}.weight")), state, f"{prefix}.weight")
    assign(layer.bias, state.take(f"{prefix}.bias"), state, f"{prefix}.bias")


def load(model, state, config):
    encoder = model.get_layer("encoder")
    for level, count in zip(ENCODER_LEVELS, config["n_blocks"]):
        load_conv(encoder.get_layer(f"enc_conv_{level.lower()}"), state, f"enc.conv_{level}")
        _blocks(encoder, state, f"enc.blk_{level}", f"enc_blk_{level.lower()}", count)
    for level in ("L3", "L2", "L1"):
        load_conv(model.get_layer(f"dec_conv_{level.lower()}"), state, f"decoder.conv_{level}")
    load_conv(model.get_layer("merge_warp_x1"), state, "decoder.merge_warp_x1")
    for (key, layer), count in zip(DECODER_BLOCKS, config["n_blocks_dec"]):
        _blocks(model, state, f"decoder.{key}", layer, count)
    for name in ("dram_x2", "dram_x4"):
        dram = model.get_layer(name)
        for conv in ("conv_down_a", "conv_down_b", "conv_cat"):
            load_conv(getattr(dram, conv), state, f"decoder.{name}.{conv}")
        for conv in ("conv_up_a", "conv_up_b"):
            load_conv_transpose(getattr(dram, conv), state, f"decoder.{name}.{conv}")
    sam = model.get_layer("sam")
    load_conv(sam.conv_shared, state, "decoder.pAda.conv_shared.0")
    load_conv(sam.conv_gamma, state, "decoder.pAda.conv_gamma")
    load_conv(sam.conv_beta, state, "decoder.pAda.conv_beta")
    load_conv(model.get_layer("conv_out"), state, "decoder.conv_out")
    return model


register_converter("masa_sr", detect, load, priority=20)
