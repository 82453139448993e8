import numpy as np
import pytest
from skimage import color as skcolor

from keras_sr.color import rgb2ycbcr, rgb_to_y, rgb_to_y_ops, ycbcr2rgb


def test_known_values_match_matlab():
    rgb = np.array([[[255, 255, 255], [0, 0, 0], [255, 0, 0], [0, 255, 0], [0, 0, 255]]], np.uint8)
    # MATLAB: rgb2ycbcr(uint8([255 0 0])) = [81 90 240], green [145 54 34], blue [41 240 110].
    expected = np.array([[[235, 128, 128], [16, 128, 128], [81, 90, 240], [145, 54, 34], [41, 240, 110]]], np.uint8)
    np.testing.assert_array_equal(rgb2ycbcr(rgb), expected)


def test_float_path_matches_skimage(rng):
    rgb = rng.uniform(0, 1, (20, 30, 3))
    # skimage returns Y in [16, 235] for float input in [0, 1]; MATLAB returns it divided by 255.
    np.testing.assert_allclose(rgb2ycbcr(rgb) * 255.0, skcolor.rgb2ycbcr(rgb), atol=1e-9)
    np.testing.assert_allclose(rgb_to_y(rgb * 255.0), skcolor.rgb2ycbcr(rgb)[..., 0], atol=1e-9)


def test_round_trips(rng):
    rgb = rng.uniform(0, 1, (16, 16, 3))
    np.testing.assert_allclose(ycbcr2rgb(rgb2ycbcr(rgb)), rgb, atol=1e-12)
    # uint8: two roundings through an 8-bit YCbCr cost at most two levels.
    img8 = rng.integers(40, 216, (32, 32, 3)).astype(np.uint8)
    assert np.abs(ycbcr2rgb(rgb2ycbcr(img8)).astype(int) - img8.astype(int)).max() <= 2


def test_y_range_and_ops_version(rng):
    rgb = rng.integers(0, 256, (2, 8, 9, 3)).astype(np.float32)
    y = rgb_to_y(rgb)
    assert 16.0 <= y.min() and y.max() <= 235.0
    np.testing.assert_allclose(np.asarray(rgb_to_y_ops(rgb))[..., 0], y, atol=1e-3)


def test_rejects_wrong_channels():
    with pytest.raises(ValueError):
        rgb2ycbcr(np.zeros((4, 4, 4), np.uint8))
    with pytest.raises(TypeError):
        rgb2ycbcr(np.zeros((4, 4, 3), np.int64))
