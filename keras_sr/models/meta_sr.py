"""Meta-SR: Meta-RDN, an RDN body with Meta-SR's meta-upscale module, any real scale.

Hu, Mu, Zhang, Wang, Zheng, Sun, "Meta-SR: A Magnification-Arbitrary
Network for Super-Resolution", CVPR 2019 (https://arxiv.org/abs/1903.00875);
official code XuecaiHu/Meta-SR-Pytorch (`model/metardn.py`). RDN-B's body
(D=16, C=8, G=64, G0=64) without its upsampler, then
`keras_sr.layers.MetaUpscale`: each output pixel's 3 x 3 x 64 -> 3 filter is
predicted from `(1/s, offset_y, offset_x)` by Linear(3, 256) -> ReLU ->
Linear(256, 1728). The DIV2K mean is subtracted at the input and added back
at the output on [0, 255] (`rgb_range 255`), as the official MeanShift
(frozen 1x1 convs there, constant offsets here).

Parameters: 22,419,072 = RDN body 21,973,952 + Pos2Weight 445,120 (the
official model's trainable parameters; its two frozen MeanShift convs hold 24
more, as in EDSR).

Interface: `[lr, coord, cell] -> (B, Q, 3)` as `keras_sr.models.liif` (see there and
`keras_sr.layers.meta_upscale` for how a query maps to Meta-SR's output pixel).

Example:
    >>> model = keras_sr.models.build("meta_rdn")
    >>> coord, cell = make_coord(60, 60)[None], make_cell(60, 60)[None]       # x2.5 of a 24 x 24 LR
    >>> rgb = model([lr, coord, cell])                                         # (1, 3600, 3)
"""

from keras_sr.layers.mean_shift import DIV2K_RGB_MEAN, MeanShift
from keras_sr.layers.meta_upscale import MetaUpscale
from keras_sr.models import register
from keras_sr.models.feature_encoders import build_encoder
from keras_sr.models.liif import arbitrary_scale_model

__all__ = ["meta_rdn", "OFFICIAL_PARAMETERS"]

OFFICIAL_PARAMETERS = 22_419_072


@register("meta_rdn", kind="arbitrary_scale")
def meta_rdn(num_blocks=16, num_layers=8, growth_rate=64, filters=64, hidden_units=256, scale=None, name=None):
    """Build Meta-RDN as a functional `keras.Model` `[lr, coord, cell] -> rgb` on [0, 255].

    Args:
        num_blocks, num_layers, growth_rate, filters: RDN's D, C, G, G0 (RDN-B: 16, 8, 64, 64).
        hidden_units: width of the weight-prediction network (256).
        scale: ignored (any scale); accepted so scale-passing callers can build it.
        name: model name (default `meta_rdn`).
    """
    del scale
    enc = build_encoder("rdn", normalization="mean_shift", num_blocks=num_blocks, num_layers=num_layers,
                        growth_rate=growth_rate, filters=filters)
    query = MetaUpscale(3, hidden_units=hidden_units, name="meta_upscale")
    add_mean = MeanShift(DIV2K_RGB_MEAN, sign=1, name="add_mean", dtype="float32")
    return arbitrary_scale_model(enc, query, add_mean, name or "meta_rdn")
