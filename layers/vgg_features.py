"""VGGFeatures: the VGG16/VGG19 convolutional trunk as a feature-extractor layer (no downloads).

Simonyan and Zisserman, "Very Deep Convolutional Networks for Large-Scale Image
Recognition", ICLR 2015 (https://arxiv.org/abs/1409.1556). Reference-based SR
builds on the first blocks of this trunk: TTSR's learnable texture extractor
is VGG19 up to relu3_1, C2-Matching's contrastive extractor is VGG16 up to
conv3_1 and its reference features are VGG19 relu1_1/relu2_1/relu3_1. The
layer builds the 3x3 convs (padding 1), ReLUs and 2x2 max-pools of
`torchvision.models.vgg16/vgg19().features` up to the deepest requested
layer, and returns the requested activations.

Inputs are RGB in `[0, input_range]` (255 in keras-sr); they are scaled to
`[0, 1]` and normalized by the ImageNet mean/std, as torchvision, TTSR and
C2-Matching do. Weights are random unless `weights` names a `.npz` file, read
once when the layer is built; keys may be

* `features.<i>.weight` / `.bias` (torchvision `state_dict`, OIHW), or
  `<anything>.<i>.weight` with torchvision's layer index `i` (TTSR's
  `LTE.slice1.0.weight` with `weights_prefix="LTE."`);
* `conv1_1.weight` / `.bias` (OIHW, C2-Matching's names);
* `conv1_1/kernel` / `conv1_1/bias` (HWIO, Keras).

To make such a file from torchvision (on a machine that has the weights):
`np.savez("vgg19.npz", **{f"features.{k}": v.numpy() for k, v in
torchvision.models.vgg19(weights="IMAGENET1K_V1").features.state_dict().items()})`.
The path is not part of `get_config` (a saved model carries the values).

Example:
    >>> vgg = VGGFeatures("vgg19", output_layers=("relu1_1", "relu2_1", "relu3_1"))
    >>> lv1, lv2, lv3 = vgg(keras.ops.ones((1, 64, 64, 3)) * 128.0)   # 64, 32, 16 px
    >>> VGGFeatures("vgg16", ("conv3_1",), weights="vgg16.npz")       # pretrained trunk
"""

import os
import re

import numpy as np

import keras
from keras import ops

__all__ = ["VGGFeatures", "vgg_layer_names", "IMAGENET_MEAN", "IMAGENET_STD"]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
_CONVS_PER_BLOCK = {"vgg16": (2, 2, 3, 3, 3), "vgg19": (2, 2, 4, 4, 4)}
DEFAULT_WIDTHS = (64, 128, 256, 512, 512)


def vgg_layer_names(variant):
    """torchvision's `features` order: `conv1_1, relu1_1, conv1_2, relu1_2, pool1, conv2_1, ...`."""
    if variant not in _CONVS_PER_BLOCK:
        raise ValueError(f"Unknown VGG variant {variant!r}; choose 'vgg16' or 'vgg19'.")
    names = []
    for block, convs in enumerate(_CONVS_PER_BLOCK[variant], start=1):
        for i in range(1, convs + 1):
            names += [f"conv{block}_{i}", f"relu{block}_{i}"]
        names.append(f"pool{block}")
    return names


@keras.saving.register_keras_serializable(package="keras_sr")
class VGGFeatures(keras.layers.Layer):
    """Activations of the VGG16/VGG19 trunk at the named layers.

    Args:
        variant: "vgg16" or "vgg19".
        output_layers: names from `vgg_layer_names(variant)` ("relu3_1", "conv3_1", "pool2", ...),
            returned in this order (a single tensor when one name is given).
        widths: channels per block (VGG: 64, 128, 256, 512, 512); only the blocks used are read.
        weights: optional `.npz` file with the trunk's weights (see the module docstring).
        weights_prefix: key prefix to strip in `weights` (e.g. "LTE.").
        input_range: the input's pixel range (255: RGB in [0, 255]).
        kernel_initializer: for the convs when no weights are given.
    """

    def __init__(self, variant="vgg19", output_layers=("relu1_1", "relu2_1", "relu3_1"), widths=DEFAULT_WIDTHS,
                 weights=None, weights_prefix="", input_range=255.0, kernel_initializer="glorot_uniform", **kwargs):
        super().__init__(**kwargs)
        names = vgg_layer_names(variant)
        if isinstance(output_layers, str):
            output_layers = (output_layers,)
        output_layers = tuple(output_layers)
        if not output_layers:
            raise ValueError("VGGFeatures needs at least one output layer.")
        unknown = [n for n in output_layers if n not in names]
        if unknown:
            raise ValueError(f"VGGFeatures({variant}) has no layer(s) {unknown}; layers: {', '.join(names)}.")
        self.variant = variant
        self.output_layers = output_layers
        self.widths = tuple(int(w) for w in widths)
        self.weights_file = None if weights is None else os.fspath(weights)
        self.weights_prefix = str(weights_prefix)
        self.input_range = float(input_range)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        last = max(names.index(n) for n in output_layers)
        self.layer_names = names[:last + 1]
        blocks = max(int(n[4]) for n in self.layer_names)  # "conv3_1", "relu3_1", "pool3" -> 3
        if len(self.widths) < blocks:
            raise ValueError(f"VGGFeatures needs {blocks} widths for {self.layer_names[-1]}, got {self.widths}.")
        self.convs = {}
        for name in self.layer_names:
            if name.startswith("conv"):
                block = int(name[4])
                self.convs[name] = keras.layers.Conv2D(self.widths[block - 1], 3, padding="same",
                                                       kernel_initializer=self.kernel_initializer,
                                                       dtype=self.dtype_policy, name=name)

    def build(self, input_shape):
        channels = input_shape[-1]
        shape = (None, None, None, channels)
        for name in self.layer_names:
            if name.startswith("conv"):
                self.convs[name].build(shape)
                shape = (None, None, None, self.convs[name].filters)
        if self.weights_file is not None:
            self.load_weights_file(self.weights_file, self.weights_prefix)

    def load_weights_file(self, path, prefix=""):
        """Copy conv weights from a `.npz` file (torchvision, C2-Matching or Keras key names)."""
        if not os.path.isfile(path):
            raise FileNotFoundError(f"{path}: VGG weights file not found.")
        try:
            with np.load(path) as data:
                arrays = {k[len(prefix):]: data[k] for k in data.files if k.startswith(prefix)}
        except (OSError, ValueError) as err:
            raise ValueError(f"{path}: not a readable .npz weights file ({err}).") from err
        names = vgg_layer_names(self.variant)
        for name, conv in self.convs.items():
            index = names.index(name)
            kernel, bias = _find_conv(arrays, name, index, path)
            expected = tuple(conv.kernel.shape)
            if tuple(kernel.shape) != expected or tuple(bias.shape) != (expected[-1],):
                raise ValueError(f"{path}: {name} has shape {kernel.shape} / {bias.shape}, the layer needs "
                                 f"{expected} / {(expected[-1],)}.")
            conv.kernel.assign(kernel.astype("float32"))
            conv.bias.assign(bias.astype("float32"))

    def call(self, inputs):
        mean = ops.convert_to_tensor([m * self.input_range for m in IMAGENET_MEAN], inputs.dtype)
        std = ops.convert_to_tensor([s * self.input_range for s in IMAGENET_STD], inputs.dtype)
        x = (inputs - mean) / std
        found = {}
        for name in self.layer_names:
            if name.startswith("conv"):
                x = self.convs[name](x)
            elif name.startswith("relu"):
                x = ops.relu(x)
            else:
                x = ops.max_pool(x, 2, strides=2, padding="valid")
            if name in self.output_layers:
                found[name] = x
        outputs = [found[n] for n in self.output_layers]
        return outputs[0] if len(outputs) == 1 else outputs

    def compute_output_shape(self, input_shape):
        batch, height, width = input_shape[0], input_shape[1], input_shape[2]
        shapes = {}
        channels = input_shape[-1]
        for name in self.layer_names:
            if name.startswith("conv"):
                channels = self.convs[name].filters
            elif name.startswith("pool"):
                height = None if height is None else height // 2
                width = None if width is None else width // 2
            shapes[name] = (batch, height, width, channels)
        outputs = [shapes[n] for n in self.output_layers]
        return outputs[0] if len(outputs) == 1 else outputs

    def get_config(self):
        config = super().get_config()
        config.update({
            "variant": self.variant,
            "output_layers": list(self.output_layers),
            "widths": list(self.widths),
            "input_range": self.input_range,
            "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
        })
        return config


def _find_conv(arrays, name, index, path):
    """(HWIO kernel, bias) of conv `name` (torchvision index `index`) among `arrays`."""
    if f"{name}/kernel" in arrays and f"{name}/bias" in arrays:
        return arrays[f"{name}/kernel"], arrays[f"{name}/bias"]
    candidates = [f"{name}.weight"] + [k for k in arrays if re.fullmatch(rf"(?:[A-Za-z_]\w*\.)?{index}\.weight", k)]
    for key in candidates:
        bias_key = key[:-len("weight")] + "bias"
        if key in arrays and bias_key in arrays:
            weight = arrays[key]
            if weight.ndim != 4:
                raise ValueError(f"{path}: {key} should be a 4-D conv weight, got shape {weight.shape}.")
            return np.transpose(weight, (2, 3, 1, 0)), arrays[bias_key]  # OIHW -> HWIO
    raise ValueError(f"{path}: no weights for {name} (looked for '{name}/kernel', '{name}.weight' and "
                     f"'features.{index}.weight'); keys: {', '.join(sorted(arrays)[:12])}...")
