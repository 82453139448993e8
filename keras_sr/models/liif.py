"""LIIF: Local Implicit Image Function, SR at any real scale from an EDSR-baseline or RDN encoder.

Chen, Liu, Wang, "Learning Continuous Image Representation with Local
Implicit Image Function", CVPR 2021 (https://arxiv.org/abs/2012.09161);
official code yinboc/liif (`models/liif.py`, `models/mlp.py`). An encoder
without upsampler turns the LR image into a latent map; the decoder
(`keras_sr.layers.LocalImplicitFunction`: feature unfolding, local ensemble,
cell decoding, MLP 256 x 4) predicts the RGB value of any continuous query.

Interface (shared with `meta_rdn`): inputs `lr (B, h, w, 3)` in [0, 255],
`coord (B, Q, 2)` the query pixel centres in [-1, 1] (`(y, x)`, see
`keras_sr.layers.coordinate_sampling.make_coord`) and `cell (B, Q, 2)`
(`2 / H_out, 2 / W_out`); output `(B, Q, 3)` in [0, 255]. A whole image at
scale `s` is the `H_out x W_out` grid of queries; `keras_sr.models.inference`
does that (in chunks, the encoder run once) for `tools.evaluate --scale 2.5`.
The model holds two nested models, `encoder` (`lr -> features`) and
`decoder` (`[features, coord, cell] -> rgb`).

Parameters (official `sum(p.numel() for p in model.parameters())`):

| encoder        | encoder     | MLP (580 -> 256 x 4 -> 3) | total      |
|----------------|-------------|---------------------------|------------|
| edsr_baseline  | 1,220,416   | 346,883                   | 1,567,299  |
| rdn            | 21,973,952  | 346,883                   | 22,320,835 |

Normalisation: LIIF feeds `(x - 0.5) / 0.5` of [0, 1] images and predicts the target in the same
units; here the encoder applies `x / 127.5 - 1` and the decoder `y * 127.5 + 127.5`, so the model keeps
keras-sr's [0, 255] convention (`normalization="mean_shift"` instead subtracts EDSR's DIV2K mean, to
start the encoder from a trained keras-sr EDSR body; it has no weights, the count is unchanged).
The official EDSR encoder has no MeanShift (it is commented out in LIIF's `edsr.py`), as here.

Example:
    >>> model = keras_sr.models.build("liif", encoder="edsr_baseline")
    >>> coord, cell = make_coord(60, 60)[None], make_cell(60, 60)[None]       # x2.5 of a 24 x 24 LR
    >>> rgb = model([lr, coord, cell])                                         # (1, 3600, 3)
"""

import keras

from keras_sr.layers.local_implicit_function import LocalImplicitFunction
from keras_sr.models import register
from keras_sr.models.feature_encoders import build_encoder

__all__ = ["liif", "liif_config", "arbitrary_scale_model", "OFFICIAL_PARAMETERS"]

OFFICIAL_PARAMETERS = {"edsr_baseline": 1_567_299, "rdn": 22_320_835}
_ENCODER_KEYS = ("num_blocks", "filters", "res_scale", "num_layers", "growth_rate")


def liif_config(encoder="edsr_baseline", hidden_units=(256, 256, 256, 256), feat_unfold=True, local_ensemble=True,
                cell_decode=True, normalization="liif", **encoder_overrides):
    """The resolved builder config (JSON-friendly)."""
    unknown = sorted(set(encoder_overrides) - set(_ENCODER_KEYS))
    if unknown:
        raise ValueError(f"liif has no option(s) {', '.join(unknown)}.")
    config = {"encoder": encoder, "hidden_units": [int(u) for u in hidden_units], "feat_unfold": bool(feat_unfold),
              "local_ensemble": bool(local_ensemble), "cell_decode": bool(cell_decode),
              "normalization": normalization}
    config.update({k: v for k, v in encoder_overrides.items() if v is not None})
    return config


def arbitrary_scale_model(encoder, query_layer, output_layer, name):
    """`[lr, coord, cell] -> rgb` from an encoder model, a query layer and a post-processing layer.

    The decoder (`[features, coord, cell] -> rgb`) is a nested model named `decoder`, so inference can run
    the encoder once and the decoder on chunks of queries.
    """
    channels = int(encoder.output.shape[-1])
    feat_in = keras.Input((None, None, channels), name="features")
    coord_in = keras.Input((None, 2), name="coord_q")
    cell_in = keras.Input((None, 2), name="cell_q")
    rgb = output_layer(query_layer([feat_in, coord_in, cell_in]))
    decoder = keras.Model([feat_in, coord_in, cell_in], rgb, name="decoder")
    lr = keras.Input((None, None, 3), name="lr")
    coord = keras.Input((None, 2), name="coord")
    cell = keras.Input((None, 2), name="cell")
    outputs = decoder([encoder(lr), coord, cell])
    return keras.Model([lr, coord, cell], outputs, name=name)


@register("liif", kind="arbitrary_scale")
def liif(encoder="edsr_baseline", hidden_units=(256, 256, 256, 256), feat_unfold=True, local_ensemble=True,
         cell_decode=True, normalization="liif", num_blocks=None, filters=None, res_scale=None, num_layers=None,
         growth_rate=None, scale=None, name=None):
    """Build LIIF as a functional `keras.Model` `[lr, coord, cell] -> rgb`.

    Args:
        encoder: "edsr_baseline" (16 blocks, 64 filters) or "rdn" (RDN-B: 16 blocks of 8 layers, growth 64).
        hidden_units: MLP hidden widths (256 x 4).
        feat_unfold, local_ensemble, cell_decode: LIIF's three techniques (all on in the paper's model).
        normalization: "liif" (x / 127.5 - 1), "mean_shift" (EDSR's) or "none" (see the module docstring).
        num_blocks, filters, res_scale, num_layers, growth_rate: encoder overrides (tiny test models).
        scale: ignored (any scale); accepted so scale-passing callers (`--scale`) can build it.
        name: model name (default `liif_<encoder>`).
    """
    del scale
    config = liif_config(encoder, hidden_units, feat_unfold, local_ensemble, cell_decode, normalization,
                         num_blocks=num_blocks, filters=filters, res_scale=res_scale, num_layers=num_layers,
                         growth_rate=growth_rate)
    overrides = {k: config[k] for k in _ENCODER_KEYS if k in config}
    enc = build_encoder(config["encoder"], normalization=config["normalization"], **overrides)
    query = LocalImplicitFunction(config["hidden_units"], 3, config["feat_unfold"], config["local_ensemble"],
                                  config["cell_decode"], name="implicit_function")
    denormalize = keras.layers.Rescaling(127.5, offset=127.5, name="denormalize", dtype="float32")
    return arbitrary_scale_model(enc, query, denormalize, name or f"liif_{config['encoder']}")
