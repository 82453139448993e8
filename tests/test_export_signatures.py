"""The three SavedModel signatures (serving_default, upscale_uint8, upscale_bytes) against Keras and numpy.

Reloaded with `tf.saved_model.load`, as TF Serving does. Tolerances:

* `serving_default` runs the model's own TensorFlow kernels: within 1e-5 of the 0-255 range (observed 0).
* `upscale_uint8` rounds a float32 graph; the reference (`keras_sr.models.inference.rgb_or_y` + `to_uint8`)
  rounds float64 numpy (color conversion, MATLAB bicubic Cb/Cr). A value within float32 error of a .5
  boundary can round the other way: at most 1 level on at most 0.1 % of the values (observed: none).
* `upscale_bytes` is the same graph behind PNG decode/encode (lossless): equal to `upscale_uint8`.

Models: a tiny EDSR (RGB) and a tiny FSRCNN (Y channel) trained for a few steps so that its output is
image-like (an untrained FSRCNN outputs values near 0, which the clip to [0, 255] would hide).
"""

import numpy as np
import pytest

import keras

from keras_sr import models

tf = pytest.importorskip("tensorflow")
FLOAT_TOLERANCE = 1e-5 * 255.0
MAX_MISMATCH_FRACTION = 1e-3


@pytest.fixture(scope="module")
def exported(tmp_path_factory, fit_briefly):
    from keras_sr.export.saved_model import export_saved_model

    root = tmp_path_factory.mktemp("signatures")
    keras.utils.set_random_seed(0)
    rgb = models.build("edsr", scale=3, num_blocks=2, filters=8)
    y = fit_briefly(models.build("fsrcnn", scale=3, d=8, s=4, m=1, kernel_initializer="he_normal"))
    out = {}
    for name, model in (("rgb", rgb), ("y", y)):
        out[name] = (model, tf.saved_model.load(export_saved_model(model, str(root / name))))
    return out


@pytest.fixture
def photo():
    """A natural RGB crop (chelsea), odd sizes, not a training image of `fit_briefly`."""
    from skimage import data

    return data.chelsea()[90:121, 180:217]


def _reference_uint8(model, lr):
    from keras_sr.metrics import to_uint8
    from keras_sr.models.inference import rgb_or_y

    return to_uint8(rgb_or_y(lambda b: keras.ops.convert_to_numpy(model(b)), int(model.input_shape[-1]), lr, 3))


def _assert_uint8_close(got, expected):
    assert got.dtype == np.uint8 and got.shape == expected.shape
    diff = np.abs(got.astype(np.int16) - expected.astype(np.int16))
    assert diff.max() <= 1 and np.mean(diff > 0) <= MAX_MISMATCH_FRACTION, (diff.max(), np.mean(diff > 0))


@pytest.mark.parametrize("kind", ["rgb", "y"])
def test_signature_names_and_specs(exported, kind):
    model, loaded = exported[kind]
    channels = 3 if kind == "rgb" else 1
    assert set(loaded.signatures) >= {"serving_default", "upscale_uint8", "upscale_bytes"}
    specs = {name: (fn.structured_input_signature[1], fn.structured_outputs) for name, fn in loaded.signatures.items()}
    inputs, outputs = specs["serving_default"]
    assert inputs["image"].shape.as_list() == [1, None, None, channels] and inputs["image"].dtype == tf.float32
    assert list(outputs) == ["sr"] and outputs["sr"].dtype == tf.float32
    inputs, outputs = specs["upscale_uint8"]
    assert inputs["image"].shape.as_list() == [1, None, None, 3] and inputs["image"].dtype == tf.uint8
    assert outputs["sr"].shape.as_list() == [1, None, None, 3] and outputs["sr"].dtype == tf.uint8
    inputs, outputs = specs["upscale_bytes"]
    # TF Serving REST: `"instances": [{"b64": ...}]` makes a [1] string tensor; names ending in _bytes
    # are base64-decoded on input and base64-encoded on output.
    assert list(inputs) == ["image_bytes"] and inputs["image_bytes"].shape.as_list() == [None]
    assert list(outputs) == ["sr_bytes"] and outputs["sr_bytes"].dtype == tf.string


@pytest.mark.parametrize("kind", ["rgb", "y"])
def test_serving_default_matches_keras(exported, kind, rng):
    model, loaded = exported[kind]
    fn = loaded.signatures["serving_default"]
    channels = int(model.input_shape[-1])
    for h, w in [(11, 13), (20, 7)]:  # dynamic H and W
        x = rng.uniform(0, 255, (1, h, w, channels)).astype("float32")
        expected = keras.ops.convert_to_numpy(model(x))
        got = fn(image=tf.constant(x))["sr"].numpy()
        assert got.shape == (1, 3 * h, 3 * w, channels)
        assert np.abs(got - expected).max() <= FLOAT_TOLERANCE


@pytest.mark.parametrize("kind", ["rgb", "y"])
def test_upscale_uint8_matches_numpy_protocol(exported, kind, photo):
    model, loaded = exported[kind]
    fn = loaded.signatures["upscale_uint8"]
    for lr in (photo, photo[:17, 5:29]):
        expected = _reference_uint8(model, lr)
        assert expected.std() > 10  # an image, not a clipped constant
        got = fn(image=tf.constant(lr[None]))["sr"].numpy()[0]
        _assert_uint8_close(got, expected)


@pytest.mark.parametrize("kind", ["rgb", "y"])
def test_upscale_bytes_matches_uint8_path(exported, kind, photo):
    _, loaded = exported[kind]
    small = photo[:14, :19]
    inputs = [tf.io.encode_png(photo).numpy(), tf.io.encode_png(small).numpy()]  # one batch, two sizes
    out = loaded.signatures["upscale_bytes"](image_bytes=tf.constant(inputs))["sr_bytes"].numpy()
    assert out.shape == (2,)
    for data, lr in zip(out, (photo, small)):
        assert data[:8] == b"\x89PNG\r\n\x1a\n"
        decoded = tf.io.decode_png(data).numpy()
        expected = loaded.signatures["upscale_uint8"](image=tf.constant(lr[None]))["sr"].numpy()[0]
        np.testing.assert_array_equal(decoded, expected)


def test_upscale_bytes_converts_gray_rgba_and_jpeg(exported, photo):
    """Grayscale -> gray in R, G and B; RGBA -> alpha dropped; JPEG decoded as RGB (documented rule)."""
    _, loaded = exported["y"]
    gray = photo[..., :1]
    rgba = np.concatenate([photo, np.full(photo.shape[:2] + (1,), 7, np.uint8)], axis=-1)
    jpeg = tf.io.encode_jpeg(photo, quality=95).numpy()
    cases = [(tf.io.encode_png(gray).numpy(), np.repeat(gray, 3, axis=-1)), (tf.io.encode_png(rgba).numpy(), photo),
             (jpeg, tf.io.decode_jpeg(jpeg, channels=3).numpy())]
    uint8 = loaded.signatures["upscale_uint8"]
    for data, as_rgb in cases:
        got = tf.io.decode_png(loaded.signatures["upscale_bytes"](image_bytes=tf.constant([data]))["sr_bytes"][0])
        np.testing.assert_array_equal(got.numpy(), uint8(image=tf.constant(as_rgb[None]))["sr"].numpy()[0])


def test_upscale_bytes_bad_input_is_a_clear_error(exported):
    fn = exported["rgb"][1].signatures["upscale_bytes"]
    with pytest.raises(tf.errors.InvalidArgumentError, match="Unknown image file format"):
        fn(image_bytes=tf.constant([b"this is not an image"]))
    with pytest.raises(tf.errors.InvalidArgumentError, match="image_bytes is empty"):
        fn(image_bytes=tf.constant([b""]))


def test_graph_protocol_helpers_match_numpy(natural_image):
    """`upscale_rgb_ops` (Y model path) = `rgb_or_y` for a model-free Y upscaler (pixel repetition)."""
    from keras_sr.color import rgb_to_ycbcr_ops, ycbcr_to_rgb_ops
    from keras_sr.export.saved_model import upscale_rgb_ops
    from keras_sr.color import rgb2ycbcr
    from keras_sr.models.inference import rgb_or_y

    lr = natural_image[200:241, 100:153]

    def repeat(x):
        return keras.ops.repeat(keras.ops.repeat(x, 3, axis=1), 3, axis=2)

    expected = rgb_or_y(lambda b: np.repeat(np.repeat(b, 3, axis=1), 3, axis=2), 1, lr, 3)
    got = keras.ops.convert_to_numpy(upscale_rgb_ops(repeat, 1, lr[None].astype("float32"), 3))[0]
    assert got.shape == expected.shape == (123, 159, 3)
    assert np.abs(got - expected).max() <= 1e-3 and expected.std() > 30
    ycc = keras.ops.convert_to_numpy(rgb_to_ycbcr_ops(lr))
    np.testing.assert_allclose(ycc, rgb2ycbcr(lr / 255.0) * 255.0, atol=1e-3)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(ycbcr_to_rgb_ops(ycc)), lr, atol=2e-3)


def test_export_rejects_other_channel_counts(tmp_path):
    from keras_sr.export.saved_model import export_saved_model

    inputs = keras.Input((None, None, 2))
    model = keras.Model(inputs, keras.layers.Conv2D(2, 3, padding="same")(inputs))
    with pytest.raises(ValueError, match="takes 2 channels"):
        export_saved_model(model, str(tmp_path / "two"))
    assert not (tmp_path / "two").exists()
