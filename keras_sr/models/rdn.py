"""RDN: Residual Dense Network for Image Super-Resolution.

Zhang, Tian, Kong, Zhong, Fu, CVPR 2018 (https://arxiv.org/abs/1802.08797).
Two shallow 3x3 convs -> D residual dense blocks (C densely connected
conv-ReLU layers of growth rate G, 1x1 local fusion, local residual) -> global
feature fusion (1x1 over the concatenated block outputs, then 3x3) plus the
global residual from the first conv -> sub-pixel upsampler -> 3x3 conv to RGB.
The layout follows the official PyTorch port (EDSR-PyTorch `src/model/rdn.py`);
like it, there is no mean shift. Inputs and outputs are RGB in [0, 255].

Configurations (EDSR-PyTorch `--RDNconfig`, G0 = 64 filters):

| variant | D blocks | C layers | G growth | params x2 / x3 / x4        |
|---------|----------|----------|----------|----------------------------|
| A       | 20       | 6        | 32       | 5.54M / 5.63M / 5.58M      |
| B       | 16       | 8        | 64       | 22.12M / 22.31M / 22.27M   |

Exact at x4: B 22,271,107, A 5,578,787 (no frozen weights; the official
model has the same count).

Example:
    >>> from keras_sr import models
    >>> model = models.build("rdn", scale=4)                  # variant B, 22.27M
    >>> sr = model(keras.ops.ones((1, 24, 24, 3)) * 128.0)    # (1, 96, 96, 3)
"""

import keras

from keras_sr.layers.residual_dense_block import ResidualDenseBlock
from keras_sr.layers.subpixel_upsampling import SubPixelUpsampling
from keras_sr.models import register

__all__ = ["rdn", "rdn_config", "VARIANTS"]

VARIANTS = {
    "A": {"num_blocks": 20, "num_layers": 6, "growth_rate": 32},
    "B": {"num_blocks": 16, "num_layers": 8, "growth_rate": 64},
}
SCALES = (2, 3, 4)


def rdn_config(scale=4, variant="B", num_blocks=None, num_layers=None, growth_rate=None, filters=64):
    """The resolved builder config: variant defaults with explicit overrides applied."""
    if variant not in VARIANTS:
        raise ValueError(f"Unknown RDN variant {variant!r}; choose from {', '.join(VARIANTS)}.")
    if int(scale) not in SCALES:
        raise ValueError(f"RDN supports scales {SCALES}, got {scale!r}.")
    config = {"scale": int(scale), "variant": variant, "filters": int(filters), **VARIANTS[variant]}
    for key, value in (("num_blocks", num_blocks), ("num_layers", num_layers), ("growth_rate", growth_rate)):
        if value is not None:
            config[key] = int(value)
    return config


@register("rdn")
def rdn(
    scale=4,
    variant="B",
    num_blocks=None,
    num_layers=None,
    growth_rate=None,
    filters=64,
    kernel_initializer="glorot_uniform",
    name=None,
):
    """Build RDN as a functional `keras.Model` taking `(None, None, 3)` RGB in [0, 255].

    Args:
        scale: 2, 3 or 4.
        variant: "B" (D=16, C=8, G=64; the paper's model) or "A" (D=20, C=6, G=32).
        num_blocks, num_layers, growth_rate: override D, C, G of the variant.
        filters: G0, channels between blocks (64).
        kernel_initializer: for every convolution.
        name: model name (default `rdn_<variant>_x<scale>`).
    """
    config = rdn_config(scale, variant, num_blocks, num_layers, growth_rate, filters)
    g0, growth = config["filters"], config["growth_rate"]
    conv = dict(padding="same", kernel_initializer=kernel_initializer)
    inputs = keras.Input((None, None, 3), name="lr")
    shallow = keras.layers.Conv2D(g0, 3, name="sfe_1", **conv)(inputs)
    x = keras.layers.Conv2D(g0, 3, name="sfe_2", **conv)(shallow)
    block_outputs = []
    for index in range(config["num_blocks"]):
        x = ResidualDenseBlock(
            growth_rate=growth,
            num_layers=config["num_layers"],
            kernel_initializer=kernel_initializer,
            name=f"rdb_{index}",
        )(x)
        block_outputs.append(x)
    x = keras.layers.Concatenate(name="dense_features")(block_outputs)
    x = keras.layers.Conv2D(g0, 1, name="gff_1x1", **conv)(x)
    x = keras.layers.Conv2D(g0, 3, name="gff_3x3", **conv)(x)
    x = keras.layers.Add(name="global_residual")([x, shallow])
    x = SubPixelUpsampling(config["scale"], growth, kernel_initializer=kernel_initializer, name="upsample")(x)
    # The last conv runs in float32 under mixed precision: 0-255 outputs need the mantissa.
    outputs = keras.layers.Conv2D(3, 3, name="tail", dtype="float32", **conv)(x)
    return keras.Model(inputs, outputs, name=name or f"rdn_{config['variant']}_x{config['scale']}")
