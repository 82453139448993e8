"""SMSR: sparse mask super-resolution, spatial and channel masks that skip redundant computation.

Wang, Wang, Liang, Xu, Zhang, Xu, An, "Exploring Sparsity in Image
Super-Resolution for Efficient Inference", CVPR 2021
(https://arxiv.org/abs/2006.09603); official code LongguangWang/SMSR
(`model/smsr.py`, `trainer.py`), read to match the layout and count the
parameters. Mean shift -> `conv 3x3 -> ReLU -> conv 3x3` head -> 5 sparse
mask modules (`keras_sr.layers.SparseMaskModule`: a spatial mask CNN and a
4-layer sparse mask block with learned channel masks, channel attention,
skip) -> `conv 1x1 (5C -> C) -> ReLU -> conv 3x3` over the 5 outputs, plus
the head's output -> `conv 3x3 (3 s^2)` and pixel shuffle, plus the bicubic
upsampled (mean-shifted) input -> mean shift back. Inputs and outputs are
RGB in [0, 255].

Training is dense: masks are Gumbel-softmax samples at the temperature of
`keras_sr.layers.AnnealedTemperature` (`tau = max(1 - epoch / 500, 0.4)`, the
paper's schedule: the released trainer never applies it, see that layer) and
every masked part is computed densely. Inference uses hard masks; it is
computed densely here too (on every backend), which equals the sparse
computation; `sparse_macs` counts what the sparse inference computes, from
the masks (`keras_sr.analysis.flops` counts the dense network).

Parameters at x4: 1,008,078 trainable, of which 2,560 are the channel-mask
logits (5 blocks x 64 channels x 4 layers x 2); without them 1,005,518, the
paper's "1006K" (x2: 984,746 without, 987,306 with; x3: 993,401 / 995,961),
counted on the official PyTorch model. The official model also holds the two
frozen 12-parameter MeanShift convs (constants here) and the model here one
non-trainable step counter (the temperature schedule).

Differences from the official code (all choices, marked):
* the temperature is annealed (the paper), not held at 1 (the released code);
* each masked layer splits its input channels by the previous layer's channel
  masks in training too (`SparseMaskConv`), as the official sparse inference;
* the bicubic skip is MATLAB's bicubic (`BicubicResize`, Keys a = -0.5,
  mirrored borders); the official code uses PyTorch's (`F.interpolate`,
  a = -0.75, clamped borders), which `interpolation="pytorch"` selects (set by
  `keras_sr.convert` for the released checkpoints);
* the pixel shuffle is TensorFlow's DCR order (official weights would need
  `pytorch_to_dcr_permutation`); odd input sizes are allowed (see
  `SparseMaskModule`).

Example:
    >>> from keras_sr import models
    >>> model = models.build("smsr", scale=4)                              # 1,008,078 trainable
    >>> sr = model(keras.ops.ones((1, 24, 24, 3)) * 128.0)                 # (1, 96, 96, 3), hard masks
    >>> sparse_macs(model, lr)["sparse"] / sparse_macs(model, lr)["dense"]   # share of the dense MACs
"""

import numpy as np

import keras

from keras_sr.layers.annealed_temperature import AnnealedTemperature
from keras_sr.layers.bicubic_resize import BicubicResize
from keras_sr.layers.depth_to_space import DepthToSpace
from keras_sr.layers.mean_shift import DIV2K_RGB_MEAN, MeanShift
from keras_sr.layers.sparse_mask_module import SparseMaskModule
from keras_sr.models import register

__all__ = ["smsr", "SCALES", "mask_model", "module_layers"]

SCALES = (2, 3, 4)


@register("smsr", scales=SCALES, test_config=dict(scale=2, filters=4, num_modules=2, num_layers=2, reduction=2))
def smsr(scale=4, filters=64, num_modules=5, num_layers=4, reduction=16, tau_initial=1.0, tau_minimum=0.4,
         tau_anneal_epochs=500, epoch_steps=1000, intermediate_outputs=False, rgb_mean=DIV2K_RGB_MEAN,
         kernel_initializer="glorot_uniform", seed=None, interpolation="matlab", name=None):
    """Build SMSR as a functional `keras.Model` on `(None, None, 3)` RGB in [0, 255].

    Args:
        scale: 2, 3 or 4.
        filters: channels C (64).
        num_modules: sparse mask modules (5).
        num_layers: masked convolutions per module (4).
        reduction: channel attention reduction (16).
        tau_initial, tau_minimum, tau_anneal_epochs, epoch_steps: the Gumbel-softmax temperature schedule
            `max(tau_initial - floor(step / epoch_steps) / tau_anneal_epochs, tau_minimum)` (1, 0.4, 500, 1000).
        intermediate_outputs: False: the SR image only. True: a dict with `"sr"`, `"sparsity"` (the mean
            regularization term over the modules, `(B, 1)`) and `"spatial_mask_1"` ... (each `(B, H, W, 1)`).
        rgb_mean: dataset RGB mean in [0, 1] (DIV2K's).
        kernel_initializer: for every convolution.
        seed: seed of the Gumbel noise (None: random).
        interpolation: the bicubic skip: "matlab" (keras-sr's) or "pytorch" (the official `F.interpolate`; what
            `keras_sr.convert` sets for the released checkpoints).
        name: model name (default `smsr_x<scale>`).
    """
    if int(scale) not in SCALES or int(scale) != scale:
        raise ValueError(f"SMSR supports scales {SCALES}, got {scale!r}.")
    scale, filters, num_modules = int(scale), int(filters), int(num_modules)
    conv = dict(padding="same", kernel_initializer=kernel_initializer)
    inputs = keras.Input((None, None, 3), name="lr")
    x0 = MeanShift(rgb_mean, sign=-1, name="sub_mean")(inputs)
    x = keras.layers.Conv2D(filters, 3, activation="relu", name="head_1", **conv)(x0)
    head = keras.layers.Conv2D(filters, 3, name="head_2", **conv)(x)
    tau = AnnealedTemperature(tau_initial, tau_minimum, tau_anneal_epochs, epoch_steps, name="temperature")(inputs)
    features, masks, sparsities, fea = [], [], [], head
    for index in range(num_modules):
        module = SparseMaskModule(filters, num_layers, reduction, kernel_initializer=kernel_initializer,
                                  seed=None if seed is None else int(seed) + 10 * index, name=f"module_{index + 1}")
        fea, mask, sparsity = module([fea, tau])
        features.append(fea)
        masks.append(mask)
        sparsities.append(sparsity)
    y = keras.layers.Concatenate(name="collect_concat")(features) if num_modules > 1 else features[0]
    y = keras.layers.Conv2D(filters, 1, activation="relu", name="collect_1", **conv)(y)
    y = keras.layers.Conv2D(filters, 3, name="collect_2", **conv)(y)
    y = keras.layers.Add(name="long_skip")([y, head])
    y = keras.layers.Conv2D(3 * scale * scale, 3, name="tail", dtype="float32", **conv)(y)
    y = DepthToSpace(scale, name="pixel_shuffle", dtype="float32")(y)
    up = BicubicResize(scale, method=interpolation, name="bicubic", dtype="float32")(x0)
    y = keras.layers.Add(name="bicubic_skip", dtype="float32")([y, up])
    sr = MeanShift(rgb_mean, sign=1, name="add_mean", dtype="float32")(y)
    if intermediate_outputs:
        mean_sparsity = (keras.layers.Average(name="sparsity", dtype="float32")(sparsities) if num_modules > 1
                         else sparsities[0])
        outputs = {"sr": sr, "sparsity": mean_sparsity}
        outputs.update({f"spatial_mask_{i + 1}": m for i, m in enumerate(masks)})
    else:
        outputs = sr
    return keras.Model(inputs, outputs, name=name or f"smsr_x{scale}")


def module_layers(model):
    """The model's `SparseMaskModule` layers, in order."""
    return [layer for layer in model.layers if isinstance(layer, SparseMaskModule)]


def mask_model(model):
    """A model `lr -> [sr, spatial_mask_1, ...]` sharing `model`'s layers (the inference masks of each module)."""
    modules = module_layers(model)
    if not modules:
        raise ValueError(f"{model.name} has no SparseMaskModule layers: not an SMSR model.")
    sr = model.output["sr"] if isinstance(model.output, dict) else model.output
    masks = [module.output[1] for module in modules]
    return keras.Model(model.input, [sr, *masks], name=f"{model.name}_masks")


def channel_sparsity(model):
    """The share of sparse channels (hard channel masks) over every module and masked layer."""
    values = [module.body.hard_channel_masks() for module in module_layers(model)]
    return float(np.mean(np.concatenate([v.ravel() for v in values])))
