"""SavedModel export with three serving signatures for whole images of any size (TensorFlow only).

Signatures (all with dynamic `H` and `W`; `s` is the model's scale):

* `serving_default` (endpoint `serve`): input `image`, float32
  `[1, H, W, C]` in [0, 255], `C` the model's own channels (3 for RGB
  models, 1 for Y-channel models such as FSRCNN/ESPCN); output `sr`,
  float32 `[1, sH, sW, C]`, not clipped or rounded: the Keras model itself.
* `upscale_uint8`: input `image`, uint8 `[1, H, W, 3]` RGB; output `sr`,
  uint8 `[1, sH, sW, 3]`, clipped to [0, 255] and rounded half up
  (`keras_sr.metrics.to_uint8`).
* `upscale_bytes`: input `image_bytes`, string `[N]`, each an encoded PNG,
  JPEG, GIF (first frame) or BMP; output `sr_bytes`, string `[N]`, each the
  upscaled image as PNG. Decoding is `tf.io.decode_image(channels=3,
  expand_animations=False)`: grayscale is copied to R, G and B and alpha is
  dropped (the `keras_sr.image_io` rule); unlike `image_io`, EXIF
  orientation is not applied and 16-bit PNGs keep their high byte. The input
  is a 1-D batch, not a scalar, because TF Serving's REST row format
  (`"instances": [...]`) stacks instances along a new first axis (a scalar
  input fails there with "contents must be scalar, got shape [1]"). TF
  Serving's REST API decodes `{"b64": ...}` values of string inputs, and
  base64-encodes string outputs whose name ends in `_bytes`
  (`tensorflow_serving/util/json_tensor.cc`), hence `image_bytes` and
  `sr_bytes`.

For Y-channel (1-channel) models, `upscale_uint8` and `upscale_bytes` take
and return RGB and run the keras-sr protocol inside the graph
(`keras_sr.upscalers.rgb_or_y`): RGB -> YCbCr (MATLAB `rgb2ycbcr`,
BT.601, `keras_sr.color`), the model on Y (float, in [16, 235]), Cb and Cr
by MATLAB bicubic (`keras_sr.imresize.imresize_ops`), back to RGB
(`ycbcr2rgb`), clipped. The graph computes in float32, the numpy path in
float64: after rounding to uint8 the two agree exactly except for rare
pixels one level apart (values within 1e-4 of a .5 boundary).

The SavedModel is written with `keras.export.ExportArchive` into a
temporary folder and renamed into place, so a kill never leaves a
half-written export. Export needs the TensorFlow backend. From a JAX or
PyTorch process, `export_saved_model` saves the model as `.keras` and runs
the export in a `KERAS_BACKEND=tensorflow` subprocess (the `.keras` format
is backend neutral).

Serving with TF Serving, which wants `<model_base_path>/<numeric version>/`:
the export folder itself is mounted as version `1` of model `fsrcnn`:

    python export_saved_model.py --model fsrcnn_x3.keras --out exported/fsrcnn_x3
    docker run -p 8501:8501 \\
        --mount type=bind,source=$PWD/exported/fsrcnn_x3,target=/models/fsrcnn/1 \\
        -e MODEL_NAME=fsrcnn tensorflow/serving
    python -c "import base64, json; print(json.dumps({'signature_name': 'upscale_bytes', \\
        'instances': [{'b64': base64.b64encode(open('lr.png', 'rb').read()).decode()}]}))" > request.json
    curl -s -d @request.json http://localhost:8501/v1/models/fsrcnn:predict > response.json
    python -c "import base64, json; open('sr.png', 'wb').write(base64.b64decode( \\
        json.load(open('response.json'))['predictions'][0]['b64']))"

The reply is `{"predictions": [{"b64": "<PNG, base64>"}]}` (one entry per
instance). `upscale_uint8` takes `{"signature_name": "upscale_uint8",
"instances": [<H x W x 3 nested list of 0-255 integers>]}` and answers
`{"predictions": [<sH x sW x 3 nested list>]}`; `serving_default` the same
with float32 values and the model's own channels.

Example:
    >>> export_saved_model(model, "runs/x/saved_model")
    >>> loaded = tf.saved_model.load("runs/x/saved_model")
    >>> loaded.signatures["serving_default"](image=tf.zeros([1, 50, 70, 3]))["sr"].shape   # (1, 200, 280, 3) x4
    >>> loaded.signatures["upscale_uint8"](image=tf.zeros([1, 50, 70, 3], tf.uint8))["sr"].dtype  # tf.uint8
    >>> png = loaded.signatures["upscale_bytes"](image_bytes=tf.constant([open("lr.png", "rb").read()]))["sr_bytes"][0]
"""

import os
import shutil
import subprocess
import sys
import tempfile

from keras_sr.color import rgb_to_ycbcr_ops, ycbcr_to_rgb_ops
from keras_sr.imresize import imresize_ops
from keras_sr.models.loading import load_model
from keras_sr.upscalers import model_scale


__all__ = ["SIGNATURES", "export_saved_model", "upscale_rgb_ops", "round_to_uint8_ops", "main"]

SIGNATURES = ("serving_default", "upscale_uint8", "upscale_bytes")


def upscale_rgb_ops(predict, channels, rgb, scale):
    """The keras-sr protocol in `keras.ops`: float RGB `(N, H, W, 3)` in [0, 255] -> float RGB SR, clipped.

    `predict` maps `(N, H, W, channels)` float32 to the SR image. RGB models
    (`channels=3`) get the image itself; Y models (`channels=1`) get the
    BT.601 Y channel and Cb/Cr are upscaled by MATLAB bicubic, the graph
    version of `keras_sr.upscalers.rgb_or_y`.

    Example:
        >>> sr = upscale_rgb_ops(model, 1, lr_rgb_float[None], scale=3)   # (1, 3H, 3W, 3)
    """
    from keras import ops

    rgb = ops.cast(rgb, "float32")
    if channels == 3:
        return ops.clip(predict(rgb), 0.0, 255.0)
    if channels != 1:
        raise ValueError(f"model takes {channels} channels; keras-sr exports RGB (3) or Y (1) models.")
    ycbcr = rgb_to_ycbcr_ops(rgb)
    y = predict(ycbcr[..., :1])
    cbcr = imresize_ops(ycbcr[..., 1:], scale)
    return ops.clip(ycbcr_to_rgb_ops(ops.concatenate([ops.cast(y, "float32"), cbcr], axis=-1)), 0.0, 255.0)


def round_to_uint8_ops(x):
    """`keras_sr.metrics.to_uint8` in `keras.ops`: clip to [0, 255], round half up, cast to uint8."""
    from keras import ops

    return ops.cast(ops.floor(ops.clip(x, 0.0, 255.0) + 0.5), "uint8")


def _replace_dir(tmp, out_dir):
    old = None
    if os.path.exists(out_dir):
        old = tempfile.mkdtemp(prefix=f".{os.path.basename(out_dir)}.old.", dir=os.path.dirname(out_dir))
        os.rmdir(old)
        os.replace(out_dir, old)
    os.replace(tmp, out_dir)
    if old:
        shutil.rmtree(old, ignore_errors=True)


def _model_scale(model, channels):
    import keras

    return model_scale(lambda x: keras.ops.convert_to_numpy(model(x, training=False)), channels)


def _export_tf(model, out_dir):
    import tensorflow as tf

    import keras

    channels = int(model.input_shape[-1])
    if channels not in (1, 3):
        raise ValueError(f"{model.name} takes {channels} channels; keras-sr exports RGB (3) or Y (1) models.")
    scale = _model_scale(model, channels)

    def predict(x):
        return model(x, training=False)

    def upscale_float(rgb):
        return upscale_rgb_ops(predict, channels, rgb, scale)

    def upscale_one_png(data):
        check = tf.debugging.assert_greater(tf.strings.length(data), 0,
                                            message="upscale_bytes: image_bytes is empty; expected an encoded PNG or "
                                                    "JPEG")
        with tf.control_dependencies([check]):  # the check runs before the decoder (graph order is not implied)
            data = tf.identity(data)
        rgb = tf.io.decode_image(data, channels=3, dtype=tf.uint8, expand_animations=False)
        sr = round_to_uint8_ops(upscale_float(rgb[None]))[0]
        return tf.io.encode_png(sr)

    archive = keras.export.ExportArchive()
    archive.track(model)

    def serve(image):
        return {"sr": predict(image)}

    def upscale_uint8(image):
        return {"sr": round_to_uint8_ops(upscale_float(image))}

    def upscale_bytes(image_bytes):
        return {"sr_bytes": tf.map_fn(upscale_one_png, image_bytes, fn_output_signature=tf.TensorSpec([], tf.string))}

    # The first endpoint is also `serving_default` (keras.export.ExportArchive.write_out).
    archive.add_endpoint("serve", serve, input_signature=[
        tf.TensorSpec([1, None, None, channels], tf.float32, name="image")])
    archive.add_endpoint("upscale_uint8", upscale_uint8, input_signature=[
        tf.TensorSpec([1, None, None, 3], tf.uint8, name="image")])
    archive.add_endpoint("upscale_bytes", upscale_bytes, input_signature=[
        tf.TensorSpec([None], tf.string, name="image_bytes")])
    parent = os.path.dirname(os.path.abspath(out_dir))
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=f".{os.path.basename(out_dir)}.", suffix=".tmp", dir=parent)
    try:
        archive.write_out(tmp, verbose=False)
        _replace_dir(tmp, os.path.abspath(out_dir))
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out_dir


def export_saved_model(model, out_dir):
    """Export `model` (a `keras.Model` or a `.keras` path) as a SavedModel folder; returns `out_dir`."""
    import keras

    if keras.backend.backend() == "tensorflow":
        if isinstance(model, (str, os.PathLike)):
            model = load_model(os.fspath(model))
        return _export_tf(model, out_dir)
    with tempfile.TemporaryDirectory() as scratch:
        path = model if isinstance(model, (str, os.PathLike)) else os.path.join(scratch, "model.keras")
        if not isinstance(model, (str, os.PathLike)):
            model.save(path)
        env = {**os.environ, "KERAS_BACKEND": "tensorflow"}
        subprocess.run([sys.executable, "-m", "keras_sr.export.saved_model", "--model", os.fspath(path),
                        "--out", os.fspath(out_dir)], check=True, env=env)
    return out_dir


if __name__ == "__main__":  # python -m keras_sr.export.saved_model: the command lives in the CLI layer
    from keras_sr.export.cli import saved_model_main

    sys.exit(saved_model_main())
