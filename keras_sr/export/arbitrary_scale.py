"""SavedModel and TFLite export of the arbitrary-scale models (LIIF, Meta-SR), with the scale as an input.

TensorFlow only (import it lazily). The SavedModel's `serving_default`
takes `image`, float32 `[1, H, W, 3]` in [0, 255] with dynamic `H`, `W`,
and `scale`, a float32 scalar (any real value >= 1), and returns `sr`,
float32 `[1, round(sH), round(sW), 3]` (`keras_sr.arbitrary_scale.sr_size`;
`tf.round` rounds half to even, as Python's `round`). Inside the graph the
query grid (`make_coord`, cells `2 / H_out`) is built from the scale, the
encoder runs once and the decoder runs one output row at a time
(`tf.map_fn`), so memory grows with `W_out`, not `H_out x W_out`.

TFLite (`convert_tflite`, float32, TFLite built-in ops only) converts the
single-call graph (`export_query_saved_model(..., row_by_row=False)`) and
the stock interpreter runs it with dynamic H, W and the scale as an input
(equal to the Keras model within 1e-3 on [0, 255]). What does not convert:
the row-by-row `tf.map_fn` graph (its tensor lists have a dynamic element
shape: "'tf.TensorListReserve' op requires element_shape to be static");
with `select_tf_ops=True` it converts, but the stock interpreter has no Flex
delegate to run `FlexTensorListReserve`. The SavedModel is written with
`keras.export.ExportArchive`, which tracks the weights so the converter
freezes them (a plain `tf.Module` export converted with its weights left as
uninitialised resource variables: NaN outputs under XNNPACK).

Example:
    >>> export_query_saved_model(keras_sr.models.build("liif"), "exports/liif_sm")
    >>> sr = tf.saved_model.load("exports/liif_sm").signatures["serving_default"](
    ...     image=tf.zeros([1, 24, 24, 3]), scale=tf.constant(2.5))["sr"]      # (1, 60, 60, 3)
"""

import os
import shutil
import tempfile

__all__ = ["export_query_saved_model", "convert_tflite", "query_function"]


def query_function(model, row_by_row=True):
    """`upscale(image [1, H, W, 3], scale []) -> {"sr": ...}` (TF ops) around an arbitrary-scale keras-sr model.

    `row_by_row=False` decodes every query in one call (no `tf.map_fn`: the TFLite converter cannot lower
    the tensor lists of a map with a dynamic element shape), at the cost of memory growing with H_out x W_out.
    """
    import tensorflow as tf

    encoder, decoder = model.get_layer("encoder"), model.get_layer("decoder")

    def upscale(image, scale):
        shape = tf.shape(image)
        h, w = tf.cast(shape[1], tf.float32), tf.cast(shape[2], tf.float32)
        out_h = tf.cast(tf.round(h * scale), tf.int32)
        out_w = tf.cast(tf.round(w * scale), tf.int32)
        out_hf, out_wf = tf.cast(out_h, tf.float32), tf.cast(out_w, tf.float32)
        feat = encoder(image, training=False)
        ys = -1.0 + (2.0 * tf.range(out_hf) + 1.0) / out_hf
        xs = -1.0 + (2.0 * tf.range(out_wf) + 1.0) / out_wf
        cell = tf.stack([tf.fill([out_w], 2.0 / out_hf), tf.fill([out_w], 2.0 / out_wf)], axis=-1)[None]
        if not row_by_row:
            grid = tf.stack(tf.meshgrid(ys, xs, indexing="ij"), axis=-1)
            coord = tf.reshape(grid, [1, -1, 2])
            cells = tf.tile(cell[:, :1], [1, out_h * out_w, 1])
            values = decoder([feat, coord, cells], training=False)
            return {"sr": tf.reshape(values, [1, out_h, out_w, 3])}

        def row(y):
            coord = tf.stack([tf.fill([out_w], y), xs], axis=-1)[None]
            return decoder([feat, coord, cell], training=False)[0]

        rows = tf.map_fn(row, ys, fn_output_signature=tf.TensorSpec([None, 3], tf.float32))
        return {"sr": rows[None]}

    return upscale


def _signature():
    import tensorflow as tf

    return [tf.TensorSpec([1, None, None, 3], tf.float32, name="image"), tf.TensorSpec([], tf.float32, name="scale")]


def export_query_saved_model(model, out_dir, row_by_row=True):
    """Write `model` as a SavedModel with the `(image, scale) -> sr` signature; returns `out_dir`.

    `row_by_row=False` gives the single-call graph that `convert_tflite` can lower (see `query_function`).
    """
    import keras

    archive = keras.export.ExportArchive()  # tracks the weights so that TFLite can freeze them
    archive.track(model)
    archive.add_endpoint("serving_default", query_function(model, row_by_row), input_signature=_signature())
    parent = os.path.dirname(os.path.abspath(out_dir)) or "."
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(dir=parent, prefix=".export_")
    try:
        archive.write_out(tmp, verbose=False)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if os.path.isdir(out_dir):
        shutil.rmtree(out_dir)
    os.replace(tmp, out_dir)
    return out_dir


def convert_tflite(saved_model_dir, out_path, select_tf_ops=False):
    """Float32 TFLite from the SavedModel (built-ins, plus TF ops where needed); returns `out_path`."""
    import tensorflow as tf

    converter = tf.lite.TFLiteConverter.from_saved_model(saved_model_dir)
    ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    if select_tf_ops:
        ops.append(tf.lite.OpsSet.SELECT_TF_OPS)
    converter.target_spec.supported_ops = ops
    data = converter.convert()
    with open(out_path, "wb") as f:
        f.write(data)
    return out_path
