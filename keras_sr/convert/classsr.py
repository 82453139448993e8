"""ClassSR from its official checkpoints (XPixelGroup/ClassSR `ClassSR_FSRCNN.pth`, `ClassSR_RCAN.pth`) -> `classsr`.

Kong et al., "ClassSR: A General Framework to Accelerate Super-Resolution
Networks by Data Characteristic", CVPR 2021; official code
`codes/models/archs/classSR_fsrcnn_arch.py` (`classSR_3class_fsrcnn_net`),
`classSR_rcan_arch.py` (`classSR_3class_rcan`), `FSRCNN_arch.py`, `RCAN_arch.py`;
the released files (`experiments/pre_trained_models/`) are the whole network's
plain state dict (BasicSR's `save_network`). Layout:

    classifier.CondNet.{0,2,4,6,8}       Class-Module convs          -> classifier conv_1 ... conv_5
    classifier.lastOut                   Linear(32, 3)               -> classifier logits
    net{k}.head_conv.{0,1}               FSRCNN: conv 5x5, PReLU     -> branch_k head, head_prelu
    net{k}.body_conv.0.{0,1}             conv 1x1 (shrink), PReLU    -> shrink, shrink_prelu
    net{k}.body_conv.{1..m}              mapping convs               -> map_1 ... map_m
    net{k}.body_conv.{m+1}               PReLU                       -> map_prelu
    net{k}.body_conv.{m+2}.{0,1}         conv 1x1 (expand), PReLU    -> expand, expand_prelu
    net{k}.tail_conv                     ConvTranspose2d 9x9 stride 4 -> deconv
    net{k}.sub_mean, head, body, tail, add_mean   RCAN (official RCAN layout, see `convert.rcan`)

Detected: the base (FSRCNN or RCAN), the branch widths, FSRCNN's s and m, RCAN's groups, blocks and
reduction, the classifier's widths. ClassSR's RCAN normalizes with `MeanShift(rgb_range=1)` on
[0, 255] input, and its `MeanShift` leaves the two 1x1 convs trainable (`self.requires_grad = False`
on the module does not freeze the parameters): the converter folds each MeanShift exactly into
keras-sr's constant MeanShift and the head / tail convs (sub_mean `A x + c`: the mean
`m = -A^-1 c` and the head kernel times `A`; add_mean `A' y + c'`: the tail conv times `A'`, its
bias `A' b + c' - m`), so any trained value converts, and sets each branch's `rgb_means`.

The converted model is the official network on one sub-image (classifier, then the argmax
branch); the official test cuts images into 32x32 sub-images with stride 28, which
`keras_sr.routed_inference.classsr_upscale` does (its grid also adds border-aligned sub-images).

Example:
    >>> from keras_sr.convert import from_checkpoint
    >>> model = from_checkpoint("ClassSR_FSRCNN.pth")    # classsr, base fsrcnn, branches d = 16 / 36 / 56
    >>> model.count_params()                              # 112,940
"""

import numpy as np

from keras_sr.convert.edsr_common import load_upsampler, upsampler_scale
from keras_sr.convert.rcan import load_residual_groups
from keras_sr.convert.registry import (CheckpointMismatch, assign, conv_kernel, conv_transpose_kernel, dense_kernel,
                                       indices, load_conv, register_converter)

__all__ = ["detect", "load", "PrefixedState", "fold_mean_shift"]

CLASSIFIER_CONVS = (0, 2, 4, 6, 8)


class PrefixedState:
    """A view of a `StateDict` under `prefix` (`take("head.0.weight")` takes `prefix + "head.0.weight"`)."""

    def __init__(self, state, prefix):
        self.state, self.prefix, self.source = state, prefix, state.source

    def keys(self):
        n = len(self.prefix)
        return [k[n:] for k in self.state.keys() if k.startswith(self.prefix)]

    def has(self, key):
        return self.state.has(self.prefix + key)

    def shape(self, key):
        return self.state.shape(self.prefix + key)

    def peek(self, key):
        return self.state.peek(self.prefix + key)

    def take(self, key, shape=None):
        return self.state.take(self.prefix + key, shape)

    def skip(self, *keys):
        self.state.skip(*[self.prefix + k for k in keys])


def _branches(state):
    return [k for k in indices(state, "net") if state.has(f"net{k}.head_conv.0.weight") or
            state.has(f"net{k}.head.0.weight")]


def _rcan_config(branch, source):
    filters = branch.shape("head.0.weight")[0]
    groups = [g for g in indices(branch, "body.") if branch.has(f"body.{g}.body.0.body.0.weight")]
    blocks = [b for b in indices(branch, "body.0.body.") if branch.has(f"body.0.body.{b}.body.0.weight")]
    if upsampler_scale(branch, "tail.0.", filters) != 4:
        raise CheckpointMismatch(f"{source}: {branch.prefix}tail.0.* is not an x4 upsampler (ClassSR is x4 only)")
    hidden = branch.shape("body.0.body.0.body.3.conv_du.0.weight")[0]
    return {"num_groups": len(groups), "num_blocks": len(blocks), "reduction": filters // hidden}


def fold_mean_shift(state, key):
    """`(A, c)` of an official MeanShift 1x1 conv `A x + c` (peeked), with `A` checked invertible."""
    weight = state.peek(f"{key}.weight")
    if weight.shape != (3, 3, 1, 1):
        raise CheckpointMismatch(f"{state.source}: {key}.weight has shape {weight.shape}, expected (3, 3, 1, 1)")
    matrix = weight[:, :, 0, 0].astype(np.float64)
    if abs(np.linalg.det(matrix)) < 1e-6:
        raise CheckpointMismatch(f"{state.source}: {key}.weight is singular: cannot fold it into a MeanShift")
    return matrix, state.peek(f"{key}.bias").astype(np.float64)


def _rcan_mean(state, prefix):
    matrix, bias = fold_mean_shift(state, f"{prefix}sub_mean")
    return tuple(float(v) for v in -np.linalg.solve(matrix, bias) / 255.0)


def detect(state):
    if not (state.has("classifier.CondNet.0.weight") and state.has("classifier.lastOut.weight")):
        return None
    branches = _branches(state)
    if not branches or branches != list(range(1, len(branches) + 1)):
        raise CheckpointMismatch(f"{state.source}: ClassSR branches net{branches} are not net1, net2, ...")
    if len(branches) != state.shape("classifier.lastOut.weight")[0]:
        raise CheckpointMismatch(f"{state.source}: {len(branches)} branches but classifier.lastOut has "
                                 f"{state.shape('classifier.lastOut.weight')[0]} classes")
    views = [PrefixedState(state, f"net{k}.") for k in branches]
    config = {"scale": 4, "classifier_filters": state.shape("classifier.CondNet.0.weight")[0],
              "classifier_features": state.shape("classifier.CondNet.8.weight")[0]}
    if all(v.has("head_conv.0.weight") for v in views):
        body = indices(views[0], "body_conv.")
        config.update(base="fsrcnn", branch_widths=[v.shape("head_conv.0.weight")[0] for v in views],
                      s=views[0].shape("body_conv.0.0.weight")[0], m=max(body) - 2)
        for v in views:
            if indices(v, "body_conv.") != body:
                raise CheckpointMismatch(f"{state.source}: {v.prefix}body_conv.* differs in depth from net1's")
    elif all(v.has("head.0.weight") for v in views):
        parts = [_rcan_config(v, state.source) for v in views]
        if any(p != parts[0] for p in parts):
            raise CheckpointMismatch(f"{state.source}: ClassSR RCAN branches differ in groups / blocks / reduction: "
                                     f"{parts}")
        config.update(base="rcan", branch_widths=[v.shape("head.0.weight")[0] for v in views], **parts[0],
                      rgb_means=[_rcan_mean(state, v.prefix) for v in views])
    else:
        raise CheckpointMismatch(f"{state.source}: ClassSR branches mix FSRCNN and RCAN layouts")
    return {"model": "classsr", "config": config}


def _prelu(layer, state, key):
    alpha = state.take(key)
    assign(layer.alpha, alpha.reshape(tuple(layer.alpha.shape)) if alpha.size == 1 else alpha, state, key)


def _load_fsrcnn(branch, state, p, m):
    load_conv(branch.get_layer("head"), state, f"{p}head_conv.0")
    _prelu(branch.get_layer("head_prelu"), state, f"{p}head_conv.1.weight")
    load_conv(branch.get_layer("shrink"), state, f"{p}body_conv.0.0")
    _prelu(branch.get_layer("shrink_prelu"), state, f"{p}body_conv.0.1.weight")
    for index in range(1, m + 1):
        load_conv(branch.get_layer(f"map_{index}"), state, f"{p}body_conv.{index}")
    _prelu(branch.get_layer("map_prelu"), state, f"{p}body_conv.{m + 1}.weight")
    load_conv(branch.get_layer("expand"), state, f"{p}body_conv.{m + 2}.0")
    _prelu(branch.get_layer("expand_prelu"), state, f"{p}body_conv.{m + 2}.1.weight")
    deconv = branch.get_layer("deconv")
    assign(deconv.kernel, conv_transpose_kernel(state.take(f"{p}tail_conv.weight")), state, f"{p}tail_conv.weight")
    assign(deconv.bias, state.take(f"{p}tail_conv.bias"), state, f"{p}tail_conv.bias")


def _load_rcan(branch, state, p, config, rgb_mean):
    sub, _ = fold_mean_shift(state, f"{p}sub_mean")
    add, add_bias = fold_mean_shift(state, f"{p}add_mean")
    for name in ("sub_mean", "add_mean"):
        state.take(f"{p}{name}.weight"), state.take(f"{p}{name}.bias")
    mean = 255.0 * np.asarray(rgb_mean, np.float64)
    # head conv after `A x + c` == keras-sr's head (kernel @ A) after `x - m`, m = -A^-1 c (zero padding either way)
    weight = state.take(f"{p}head.0.weight").astype(np.float64)
    head = branch.get_layer("head")
    assign(head.kernel, conv_kernel(np.einsum("oihw,ij->ojhw", weight, sub)), state, f"{p}head.0.weight")
    assign(head.bias, state.take(f"{p}head.0.bias"), state, f"{p}head.0.bias")
    load_residual_groups(branch, state, p, config["num_groups"], config["num_blocks"])
    load_upsampler(branch.get_layer("upsample"), state, f"{p}tail.0.", 4)
    # `A' (conv(y) + b) + c'` == conv with kernel A' W and bias A' b + c' - m, then keras-sr's `+ m`
    weight = state.take(f"{p}tail.1.weight").astype(np.float64)
    bias = state.take(f"{p}tail.1.bias").astype(np.float64)
    tail = branch.get_layer("tail")
    assign(tail.kernel, conv_kernel(np.einsum("po,oihw->pihw", add, weight)), state, f"{p}tail.1.weight")
    assign(tail.bias, add @ bias + add_bias - mean, state, f"{p}tail.1.bias")


def load(model, state, config):
    classifier = model.get_layer("classifier")
    for index, key in enumerate(CLASSIFIER_CONVS):
        load_conv(classifier.get_layer(f"conv_{index + 1}"), state, f"classifier.CondNet.{key}")
    logits = classifier.get_layer("logits")
    assign(logits.kernel, dense_kernel(state.take("classifier.lastOut.weight")), state, "classifier.lastOut.weight")
    assign(logits.bias, state.take("classifier.lastOut.bias"), state, "classifier.lastOut.bias")
    for index in range(len(config["branch_widths"])):
        branch, p = model.get_layer(f"branch_{index + 1}"), f"net{index + 1}."
        if config["base"] == "fsrcnn":
            _load_fsrcnn(branch, state, p, config["m"])
        else:
            _load_rcan(branch, state, p, config, config["rgb_means"][index])
    return model


register_converter("classsr", detect, load, priority=20)
