"""Feature encoders of the arbitrary-scale models: EDSR and RDN bodies without their upsamplers.

LIIF (yinboc/liif `models/edsr.py`, `models/rdn.py`, `no_upsampling=True`)
and Meta-SR (`model/metardn.py`) keep the SR network up to its upsampler:
the output is the LR-sized feature map (`filters` = 64 channels). Layer
names are those of `keras_sr.models.edsr` / `keras_sr.models.rdn`, so a
trained EDSR/RDN's body transfers by name into the encoder
(`keras_sr.models.weight_transfer.transfer_weights(edsr, model.get_layer("encoder"))`).

Input normalisation (inside the encoder):

* `"liif"`: `x / 127.5 - 1` (LIIF's `inp_sub 0.5, inp_div 0.5` on [0, 1] images);
* `"mean_shift"`: `x - 255 * DIV2K mean` (EDSR / Meta-SR's MeanShift on [0, 255]; use it to start
  from a trained keras-sr EDSR, whose head expects this input);
* `"none"`: the [0, 255] input as is.

Example:
    >>> encoder = edsr_encoder(num_blocks=16, filters=64)            # 1,220,416 parameters
    >>> feat = encoder(keras.ops.ones((1, 24, 24, 3)) * 128.0)       # (1, 24, 24, 64)
"""

import keras

from keras_sr.layers.mean_shift import DIV2K_RGB_MEAN, MeanShift
from keras_sr.layers.residual_block import ResidualBlock
from keras_sr.layers.residual_dense_block import ResidualDenseBlock

__all__ = ["edsr_encoder", "rdn_encoder", "build_encoder", "NORMALIZATIONS", "ENCODERS"]

NORMALIZATIONS = ("liif", "mean_shift", "none")
ENCODERS = {
    "edsr_baseline": {"num_blocks": 16, "filters": 64, "res_scale": 1.0},
    "rdn": {"num_blocks": 16, "num_layers": 8, "growth_rate": 64, "filters": 64},
}


def _pytorch_init():
    return keras.initializers.VarianceScaling(scale=1.0 / 3.0, mode="fan_in", distribution="uniform")


def _normalize(inputs, normalization):
    if normalization == "liif":
        return keras.layers.Rescaling(1.0 / 127.5, offset=-1.0, name="normalize")(inputs)
    if normalization == "mean_shift":
        return MeanShift(DIV2K_RGB_MEAN, sign=-1, name="sub_mean")(inputs)
    if normalization == "none":
        return inputs
    raise ValueError(f"Unknown encoder normalization {normalization!r}; choose from {', '.join(NORMALIZATIONS)}.")


def edsr_encoder(num_blocks=16, filters=64, res_scale=1.0, normalization="liif", kernel_initializer=None,
                 name="encoder"):
    """EDSR's head, residual body, body-end conv and long skip: `(B, h, w, 3) -> (B, h, w, filters)`."""
    init = kernel_initializer or _pytorch_init()
    conv = dict(padding="same", kernel_initializer=init)
    inputs = keras.Input((None, None, 3), name="lr")
    head = keras.layers.Conv2D(int(filters), 3, name="head", **conv)(_normalize(inputs, normalization))
    x = head
    for i in range(int(num_blocks)):
        x = ResidualBlock(int(filters), res_scale=float(res_scale), kernel_initializer=init, name=f"block_{i}")(x)
    x = keras.layers.Conv2D(int(filters), 3, name="body_end", **conv)(x)
    x = keras.layers.Add(name="long_skip")([x, head])
    return keras.Model(inputs, x, name=name)


def rdn_encoder(num_blocks=16, num_layers=8, growth_rate=64, filters=64, normalization="liif",
                kernel_initializer=None, name="encoder"):
    """RDN's shallow convs, residual dense blocks and global fusion: `(B, h, w, 3) -> (B, h, w, filters)`."""
    init = kernel_initializer or _pytorch_init()
    conv = dict(padding="same", kernel_initializer=init)
    inputs = keras.Input((None, None, 3), name="lr")
    shallow = keras.layers.Conv2D(int(filters), 3, name="sfe_1", **conv)(_normalize(inputs, normalization))
    x = keras.layers.Conv2D(int(filters), 3, name="sfe_2", **conv)(shallow)
    outputs = []
    for i in range(int(num_blocks)):
        x = ResidualDenseBlock(growth_rate=int(growth_rate), num_layers=int(num_layers), kernel_initializer=init,
                               name=f"rdb_{i}")(x)
        outputs.append(x)
    x = keras.layers.Concatenate(name="dense_features")(outputs) if len(outputs) > 1 else outputs[0]
    x = keras.layers.Conv2D(int(filters), 1, name="gff_1x1", **conv)(x)
    x = keras.layers.Conv2D(int(filters), 3, name="gff_3x3", **conv)(x)
    x = keras.layers.Add(name="global_residual")([x, shallow])
    return keras.Model(inputs, x, name=name)


def build_encoder(encoder="edsr_baseline", normalization="liif", kernel_initializer=None, **overrides):
    """`edsr_encoder` or `rdn_encoder` with the named defaults (`ENCODERS`) and `overrides` (None: default)."""
    if encoder not in ENCODERS:
        raise ValueError(f"Unknown encoder {encoder!r}; choose from {', '.join(ENCODERS)}.")
    unknown = sorted(set(overrides) - set(ENCODERS[encoder]))
    if unknown:
        raise ValueError(f"Encoder {encoder!r} has no option(s) {', '.join(unknown)}; "
                         f"it takes {', '.join(ENCODERS[encoder])}.")
    config = dict(ENCODERS[encoder])
    config.update({k: v for k, v in overrides.items() if v is not None})
    make = edsr_encoder if encoder == "edsr_baseline" else rdn_encoder
    return make(normalization=normalization, kernel_initializer=kernel_initializer, **config)
