"""Upscaling with the arbitrary-scale models (LIIF, Meta-SR): whole images from `[lr, coord, cell]` queries.

An arbitrary-scale model (`keras_sr.models.liif`, `keras_sr.models.meta_sr`)
takes the LR image plus query coordinates and cells and returns one RGB value
per query. `query_upscaler(model)` is the `upscaler(lr_uint8, scale) -> sr`
of `keras_sr.models.inference` for it: the output is the
`round(h * s) x round(w * s)` grid (`keras_sr.arbitrary_scale.sr_size`), the
encoder runs once and the decoder on chunks of `chunk` queries (LIIF's
`test.py` decodes 30,000 at a time, `eval_bsize`), so memory stays bounded at
any scale.

Example:
    >>> up = query_upscaler(keras_sr.models.build("liif"))
    >>> sr = up(lr_uint8, 2.5)                          # float32 (round(2.5 h), round(2.5 w), 3)
"""

import numpy as np
from keras_sr.arbitrary_scale import sr_size

__all__ = ["is_query_model", "query_upscaler", "saved_model_query_upscaler", "upscale_queries", "QUERY_INPUTS", "DEFAULT_CHUNK"]

QUERY_INPUTS = ("lr", "coord", "cell")
DEFAULT_CHUNK = 30_000  # LIIF test.py's eval_bsize


def is_query_model(model):
    """True for a model whose inputs are `lr, coord, cell` (an arbitrary-scale keras-sr model)."""
    names = tuple(getattr(t, "name", "").split(":")[0] for t in getattr(model, "inputs", []) or [])
    return len(names) == 3 and all(n.startswith(q) for n, q in zip(names, QUERY_INPUTS))


def upscale_queries(encode, decode, lr, out_h, out_w, chunk=DEFAULT_CHUNK):
    """`(out_h, out_w, C)` float32 from `encode(lr_batch) -> feat` and `decode(feat, coord, cell) -> values`."""
    from keras_sr.layers.coordinate_sampling import make_cell, make_coord

    feat = encode(np.asarray(lr, np.float32)[None])
    coord = make_coord(out_h, out_w)[None]
    cell = make_cell(out_h, out_w)[None]
    parts = []
    for start in range(0, coord.shape[1], int(chunk)):
        stop = start + int(chunk)
        parts.append(np.asarray(decode(feat, coord[:, start:stop], cell[:, start:stop]))[0])
    values = np.concatenate(parts, axis=0)
    return values.reshape(out_h, out_w, -1).astype(np.float32)


def query_upscaler(model, label=None, chunk=DEFAULT_CHUNK):
    """`upscaler(lr_uint8, scale) -> sr float32` for an arbitrary-scale model (any real scale >= 1)."""
    import keras


    if not is_query_model(model):
        raise ValueError(f"{label or model.name}: not an arbitrary-scale model (inputs lr, coord, cell).")
    try:
        encoder, decoder = model.get_layer("encoder"), model.get_layer("decoder")

        def encode(batch):
            return encoder(batch, training=False)

        def decode(feat, coord, cell):
            coord, cell = keras.ops.convert_to_tensor(coord), keras.ops.convert_to_tensor(cell)
            return keras.ops.convert_to_numpy(decoder([feat, coord, cell], training=False))
    except ValueError:  # a model without the nested parts: run it whole per chunk
        def encode(batch):
            return batch

        def decode(lr, coord, cell):
            lr, coord, cell = (keras.ops.convert_to_tensor(t) for t in (lr, coord, cell))
            return keras.ops.convert_to_numpy(model([lr, coord, cell], training=False))

    def upscale(lr, scale):
        lr = np.asarray(lr)
        out_h, out_w = sr_size(lr.shape[0], lr.shape[1], scale)
        return upscale_queries(encode, decode, lr, out_h, out_w, chunk)

    upscale.scale = None  # any scale
    upscale.label = label or model.name
    return upscale


def saved_model_query_upscaler(loaded, fn, label):
    """`upscaler(lr_uint8, scale)` around an exported `(image, scale) -> sr` SavedModel signature."""
    import tensorflow as tf

    def upscale(lr, scale):
        image = tf.constant(np.asarray(lr, np.float32)[None])
        return fn(image=image, scale=tf.constant(float(scale), tf.float32))["sr"].numpy()[0]

    upscale.scale = None
    upscale.label = label
    upscale.saved_model = loaded  # keep the functions alive
    return upscale
