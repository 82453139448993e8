"""DASR from its official checkpoints (The-Learning-And-Vision-Atelier-LAVA/DASR `model_600.pt`) -> `dasr`.

Wang et al., "Unsupervised Degradation Representation Learning for Blind
Super-Resolution", CVPR 2021; official code `model/blindsr.py` (`BlindSR`,
`DASR`, `DAG`, `DAB`, `DA_conv`, `CA_layer`, `Encoder`), `moco/builder.py`
(`MoCo`) and `trainer.py`, which saves `BlindSR.state_dict()` without the
momentum key encoder and the queue (`experiment/blindsr_x{2,3,4}_bicubic_{iso,aniso}/
model/model_600.pt`, a plain dict). Layout:

    G.sub_mean / G.add_mean                  frozen MeanShift convs (DIV2K mean, rgb_range 255): checked, constant here
    G.compress.0                             Linear 256 -> 64, no bias          -> generator "compress" (Dense)
    G.head.0                                 conv 3 -> 64
    G.body.{g}.body.{b}.{da_conv1,da_conv2}  DA conv: kernel.{0,2} (two Linears, no bias), conv (1x1), ca.conv_du.{0,2}
                                             (1x1 convs, no bias)  -> DAConv kernel_hidden, kernel_out, conv, ca_down, ca_up
    G.body.{g}.body.{b}.{conv1,conv2}        the DAB's 3x3 convs
    G.body.{g}.body.{n_blocks}               conv closing each DAG
    G.body.{n_groups}                        conv before the long skip
    G.tail.0.{0,2}, G.tail.1                 Upsampler (PixelShuffle order permuted) and the last conv
    E.encoder_q.E.{0,3,6,9,12,15}            the degradation encoder's convs; E.{1,4,...,16} its batch norms
                                             (weight, bias, running_mean, running_var; num_batches_tracked skipped)
    E.encoder_q.mlp.{0,2}                    the contrastive MLP head: training only, no keras-sr weight
    E.encoder_k.*, E.queue, E.queue_ptr      (a full `state_dict()`): MoCo's momentum encoder and queue, training only

The MLP head, and in a full state dict the key encoder and queue, are used only by the contrastive
loss; they are checked (the head's shapes, the key encoder's keys mirroring the query encoder's)
and marked used by name, never ignored silently. Detected: scale, filters, groups, blocks per group,
kernel size, reduction, the encoder widths and the RGB mean. The converted model is the official
network exactly (inference: `E.encoder_q` feeds `G`).

Example:
    >>> from keras_sr.convert import from_checkpoint
    >>> model = from_checkpoint("model_600.pt")         # dasr, scale 4, 5 groups x 5 blocks, 64 features
    >>> model.count_params()                             # 5,839,491 (5,837,699 trainable + 1,792 BN statistics)
"""

from keras_sr.convert.edsr_common import check_mean_shift, load_upsampler, mean_shift_mean, upsampler_scale
from keras_sr.convert.registry import (CheckpointMismatch, assign, conv_kernel, dense_kernel, indices, load_batch_norm,
                                       load_conv, register_converter)

__all__ = ["detect", "load", "ENCODER_CONVS"]

ENCODER_CONVS = (0, 3, 6, 9, 12, 15)  # nn.Sequential indices of the encoder's convs (each followed by BN, LeakyReLU)
ENCODER = "E.encoder_q.E."


def detect(state):
    if not (state.has("G.compress.0.weight") and state.has(ENCODER + "0.weight")):
        return None
    filters, _, kernel_size, _ = state.shape("G.head.0.weight")
    groups = [g for g in indices(state, "G.body.") if state.has(f"G.body.{g}.body.0.da_conv1.conv.weight")]
    blocks = [b for b in indices(state, "G.body.0.body.") if state.has(f"G.body.0.body.{b}.da_conv1.conv.weight")]
    if not groups or groups != list(range(len(groups))) or blocks != list(range(len(blocks))):
        raise CheckpointMismatch(f"{state.source}: DASR groups {groups} / blocks {blocks} are not numbered 0, 1, ...")
    scale = upsampler_scale(state, "G.tail.0.", filters)
    if scale is None:
        raise CheckpointMismatch(f"{state.source}: G.tail.0.* is not an x2 / x3 / x4 upsampler of {filters} features")
    hidden = state.shape("G.body.0.body.0.da_conv1.ca.conv_du.0.weight")[0]
    widths = [state.shape(f"{ENCODER}{i}.weight")[0] for i in ENCODER_CONVS[::2]]
    config = {"scale": scale, "filters": filters, "num_groups": len(groups), "num_blocks": len(blocks),
              "kernel_size": kernel_size, "reduction": filters // hidden, "encoder_widths": widths,
              "rgb_mean": mean_shift_mean(state, "G.add_mean")}
    return {"model": "dasr", "config": config}


def _load_da_conv(layer, state, prefix):
    k2 = layer.kernel_size * layer.kernel_size
    for variable, key in ((layer.kernel_hidden, "kernel.0"), (layer.kernel_out, "kernel.2")):
        weight = state.take(f"{prefix}.{key}.weight")
        if weight.ndim != 2:
            raise CheckpointMismatch(f"{state.source}: {prefix}.{key}.weight has shape {weight.shape}, expected a "
                                     "Linear weight")
        assign(variable, dense_kernel(weight), state, f"{prefix}.{key}.weight")
    if tuple(layer.kernel_out.shape)[1] != layer.channels * k2:  # pragma: no cover - the builder ties them
        raise CheckpointMismatch(f"{state.source}: {prefix}.kernel.2 does not make {layer.kernel_size}^2 kernels")
    load_conv(layer.conv, state, f"{prefix}.conv")
    for variable, index in ((layer.ca_down, 0), (layer.ca_up, 2)):
        key = f"{prefix}.ca.conv_du.{index}.weight"
        weight = state.take(key)
        if weight.ndim != 4 or weight.shape[2:] != (1, 1):
            raise CheckpointMismatch(f"{state.source}: {key} has shape {weight.shape}, expected a 1x1 conv")
        assign(variable, dense_kernel(weight[:, :, 0, 0]), state, key)



def _load_encoder(encoder, state):
    for conv, norm, index in zip(encoder.convs, encoder.norms, ENCODER_CONVS):
        assign(conv.kernel, conv_kernel(state.take(f"{ENCODER}{index}.weight")), state, f"{ENCODER}{index}.weight")
        assign(conv.bias, state.take(f"{ENCODER}{index}.bias"), state, f"{ENCODER}{index}.bias")
        load_batch_norm(norm, state, f"{ENCODER}{index + 1}")
    leftover = [k for k in state.keys() if k.startswith(ENCODER) and k not in state.used]
    if leftover:
        raise CheckpointMismatch(f"{state.source}: the degradation encoder has no layer for {', '.join(leftover)}")


def _skip_training_only(state, width):
    """MoCo's MLP head (shapes checked), and in a full state dict the key encoder (mirroring the query's) and queue."""
    for index in (0, 2):
        state.take(f"E.encoder_q.mlp.{index}.weight", shape=(width, width))
        state.take(f"E.encoder_q.mlp.{index}.bias", shape=(width,))
    query = {k[len("E.encoder_q."):]: state.shape(k) for k in state.keys() if k.startswith("E.encoder_q.")}
    key_encoder = {k[len("E.encoder_k."):]: state.shape(k) for k in state.keys() if k.startswith("E.encoder_k.")}
    if key_encoder and key_encoder != query:
        differ = sorted(set(key_encoder) ^ set(query)) or [k for k in query if query[k] != key_encoder[k]]
        raise CheckpointMismatch(f"{state.source}: E.encoder_k.* does not mirror E.encoder_q.* ({', '.join(differ[:5])})")
    state.skip(*[f"E.encoder_k.{k}" for k in key_encoder], "E.queue", "E.queue_ptr")


def load(model, state, config):
    check_mean_shift(state, config["rgb_mean"], "G.sub_mean", "G.add_mean")
    generator = model.get_layer("generator")
    compress = state.take("G.compress.0.weight")
    assign(generator.get_layer("compress").kernel, dense_kernel(compress), state, "G.compress.0.weight")
    load_conv(generator.get_layer("head"), state, "G.head.0")
    n_groups, n_blocks = config["num_groups"], config["num_blocks"]
    for g in range(n_groups):
        group = generator.get_layer(f"dag_{g}")
        for b, block in enumerate(group.blocks):
            prefix = f"G.body.{g}.body.{b}"
            _load_da_conv(block.da_conv1, state, f"{prefix}.da_conv1")
            _load_da_conv(block.da_conv2, state, f"{prefix}.da_conv2")
            load_conv(block.conv1, state, f"{prefix}.conv1")
            load_conv(block.conv2, state, f"{prefix}.conv2")
        load_conv(group.conv, state, f"G.body.{g}.body.{n_blocks}")
    load_conv(generator.get_layer("body_end"), state, f"G.body.{n_groups}")
    load_upsampler(generator.get_layer("upsample"), state, "G.tail.0.", config["scale"])
    load_conv(generator.get_layer("tail"), state, "G.tail.1")
    _load_encoder(model.get_layer("encoder"), state)
    _skip_training_only(state, config["encoder_widths"][-1])
    return model


register_converter("dasr", detect, load, priority=20)
