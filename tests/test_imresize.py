import math

import numpy as np
import pytest
from PIL import Image

from keras_sr.imresize import imresize, imresize_ops, output_length, resize_weights


def matlab_imresize_loops(img, scale):
    """Independent oracle: MATLAB's imresize.m algorithm written with plain loops (float64)."""

    def cubic(x):
        ax = abs(x)
        if ax <= 1:
            return 1.5 * ax**3 - 2.5 * ax**2 + 1
        if ax <= 2:
            return -0.5 * ax**3 + 2.5 * ax**2 - 4 * ax + 2
        return 0.0

    def resize_axis(a, axis):
        n_in = a.shape[axis]
        n_out = math.ceil(scale * n_in)
        width = 4.0 / scale if scale < 1 else 4.0
        a = np.moveaxis(a, axis, 0)
        out = np.zeros((n_out,) + a.shape[1:])
        for i in range(1, n_out + 1):
            u = i / scale + 0.5 * (1 - 1 / scale)
            left = math.floor(u - width / 2)
            taps = [(left + k) for k in range(math.ceil(width) + 2)]
            ws = [(scale * cubic((u - j) * scale) if scale < 1 else cubic(u - j)) for j in taps]
            total = sum(ws)
            for j, w in zip(taps, ws):
                jj = (j - 1) % (2 * n_in)
                jj = jj if jj < n_in else 2 * n_in - 1 - jj
                out[i - 1] += w / total * a[jj]
        return np.moveaxis(out, 0, axis)

    return resize_axis(resize_axis(img.astype(np.float64), 0), 1)


@pytest.mark.parametrize("scale", [1 / 2, 1 / 3, 1 / 4, 2, 3, 0.7])
def test_matches_loop_oracle(rng, scale):
    img = rng.uniform(0, 255, (13, 17, 3))
    np.testing.assert_allclose(imresize(img, scale), matlab_imresize_loops(img, scale), atol=1e-9)


@pytest.mark.parametrize("dtype", [np.uint8, np.float64, np.float32])
@pytest.mark.parametrize("scale", [1 / 4, 1 / 3, 2, 3])
def test_constant_image_stays_constant(dtype, scale):
    img = np.full((37, 53, 3), 123, dtype)
    out = imresize(img, scale)
    np.testing.assert_allclose(out.astype(np.float64), 123.0, atol=1e-9)


@pytest.mark.parametrize(
    "shape, scale, expected",
    [((37, 53), 1 / 3, (13, 18)), ((255, 256), 1 / 4, (64, 64)), ((99, 101), 1 / 2, (50, 51)), ((7, 9), 3, (21, 27)), ((300, 510), 1 / 3, (100, 170))],
)
def test_output_sizes_follow_matlab_ceil(shape, scale, expected):
    out = imresize(np.zeros(shape + (3,), np.uint8), scale)
    assert out.shape == expected + (3,)
    assert (output_length(shape[0], scale), output_length(shape[1], scale)) == expected


def test_grayscale_2d_and_output_shape():
    img = np.arange(20 * 30, dtype=np.float64).reshape(20, 30)
    assert imresize(img, 1 / 2).shape == (10, 15)
    assert imresize(img, output_shape=(7, 11)).shape == (7, 11)


def test_close_to_pillow_bicubic(natural_image):
    """Pillow's antialiased bicubic uses the same a=-0.5 kernel but other rounding and borders."""
    h, w = natural_image.shape[:2]
    ours = imresize(natural_image, 1 / 4).astype(np.float64)
    pil = np.asarray(Image.fromarray(natural_image).resize((w // 4, h // 4), Image.BICUBIC), np.float64)
    assert np.abs(ours - pil).mean() < 0.5
    up_ours = imresize(ours.astype(np.uint8), 4).astype(np.float64)
    up_pil = np.asarray(Image.fromarray(ours.astype(np.uint8)).resize((w, h), Image.BICUBIC), np.float64)
    assert np.abs(up_ours - up_pil)[8:-8, 8:-8].mean() < 0.5


def test_uint8_path_rounds_each_pass_like_matlab(natural_image):
    out8 = imresize(natural_image, 1 / 3)
    assert out8.dtype == np.uint8
    exact = np.clip(imresize(natural_image.astype(np.float64), 1 / 3), 0, 255)
    diff = np.abs(out8.astype(np.float64) - exact)
    # One rounding (and saturation) after each of the two passes: about one level at most,
    # except next to pixels the first pass saturated.
    assert np.percentile(diff, 99.5) <= 1.5 and diff.mean() < 0.5
    # Rounding is half away from zero, then saturation.
    assert imresize(np.full((4, 4), 255, np.uint8), 2).max() == 255


def test_linear_ramp_is_preserved_inside():
    """Keys' cubic reproduces linear functions exactly away from the border."""
    ramp = np.tile(np.arange(40, dtype=np.float64), (40, 1))
    up = imresize(ramp, 2)
    expected = (np.arange(80) + 0.5) / 2 - 0.5
    np.testing.assert_allclose(up[10, 6:-6], expected[6:-6], atol=1e-9)


def test_weight_rows_sum_to_one():
    for scale in (1 / 4, 1 / 3, 3):
        w = resize_weights(31, output_length(31, scale), scale)
        np.testing.assert_allclose(w.sum(axis=1), 1.0, atol=1e-12)


def test_bad_arguments():
    with pytest.raises(ValueError):
        imresize(np.zeros((4, 4, 3)), 0)
    with pytest.raises(ValueError):
        imresize(np.zeros((4, 4, 3)), 2, output_shape=(8, 8))
    with pytest.raises(TypeError):
        imresize(np.zeros((4, 4, 3), np.int32), 2)


@pytest.mark.parametrize("scale", [1 / 2, 1 / 3, 4])
def test_ops_version_matches_numpy(rng, scale):
    img = rng.uniform(0, 255, (2, 24, 30, 3)).astype(np.float32)
    out = np.asarray(imresize_ops(img, scale))
    ref = np.stack([imresize(i.astype(np.float64), scale) for i in img])
    np.testing.assert_allclose(out, ref, atol=2e-3)
    single = np.asarray(imresize_ops(img[0], scale))
    np.testing.assert_allclose(single, ref[0], atol=2e-3)


def test_ops_version_runs_in_tf_data_with_dynamic_shapes(rng):
    import keras

    if keras.backend.backend() != "tensorflow":
        pytest.skip("tf.data path is for the TensorFlow backend")
    import tensorflow as tf

    images = [rng.uniform(0, 255, (h, w, 3)).astype(np.float32) for h, w in ((24, 36), (30, 18))]
    ds = tf.data.Dataset.from_generator(lambda: iter(images), output_signature=tf.TensorSpec((None, None, 3), tf.float32))
    ds = ds.map(lambda x: imresize_ops(x, 1 / 3))
    for out, img in zip(ds, images):
        np.testing.assert_allclose(out.numpy(), imresize(img.astype(np.float64), 1 / 3), atol=2e-3)
