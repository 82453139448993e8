"""SubPixelUpsampling / depth_to_space, MeanShift, ResidualBlock, BicubicResize: values, shapes, serialization."""

import numpy as np
import pytest

import keras

from keras_sr.imresize import imresize
from keras_sr.layers import BicubicResize, MeanShift, ResidualBlock, SubPixelUpsampling
from keras_sr.layers.subpixel_upsampling import (depth_to_space, depth_to_space_reference, pytorch_to_dcr_permutation,
                                                 upsampling_steps)


def _np(x):
    return keras.ops.convert_to_numpy(x)


def _roundtrip(layer):
    config = keras.saving.serialize_keras_object(layer)
    return keras.saving.deserialize_keras_object(config, safe_mode=True)


@pytest.mark.parametrize("r", [2, 3])
def test_depth_to_space_matches_tensorflow_dcr(rng, r):
    tf = pytest.importorskip("tensorflow")
    x = rng.standard_normal((2, 3, 5, 4 * r * r)).astype("float32")
    expected = tf.nn.depth_to_space(x, r).numpy()
    np.testing.assert_array_equal(_np(depth_to_space(x, r)), expected)
    np.testing.assert_array_equal(_np(depth_to_space_reference(x, r)), expected)


def test_depth_to_space_definition_and_pytorch_permutation(rng):
    # DCR: output[n, h*r+i, w*r+j, c] = input[n, h, w, (i*r+j)*C + c]
    r, c = 2, 3
    x = rng.standard_normal((1, 2, 2, c * r * r)).astype("float32")
    y = _np(depth_to_space(x, r))
    for i in range(r):
        for j in range(r):
            np.testing.assert_array_equal(y[0, i::r, j::r, :], x[0, :, :, (i * r + j) * c:(i * r + j + 1) * c])
    # PyTorch PixelShuffle (CRD) reads channel c*r*r + i*r + j; the permutation maps it onto DCR.
    crd = rng.standard_normal((1, 2, 2, c * r * r)).astype("float32")
    torch_out = np.zeros((1, 4, 4, c), "float32")
    for ch in range(c):
        for i in range(r):
            for j in range(r):
                torch_out[0, i::r, j::r, ch] = crd[0, :, :, ch * r * r + i * r + j]
    np.testing.assert_array_equal(_np(depth_to_space(crd[..., pytorch_to_dcr_permutation(c, r)], r)), torch_out)


def test_upsampling_steps():
    assert upsampling_steps(2) == [2]
    assert upsampling_steps(3) == [3]
    assert upsampling_steps(4) == [2, 2]
    assert upsampling_steps(8) == [2, 2, 2]
    with pytest.raises(ValueError, match="scales 2, 3, 4 and 8"):
        upsampling_steps(5)


@pytest.mark.parametrize("scale", [2, 3, 4, 8])
def test_subpixel_upsampling_shapes_params_and_config(rng, scale):
    layer = SubPixelUpsampling(scale, filters=4, name="up")
    x = rng.standard_normal((1, 5, 7, 4)).astype("float32")
    y = layer(x)
    assert tuple(y.shape) == (1, 5 * scale, 7 * scale, 4)
    steps = upsampling_steps(scale)
    assert layer.count_params() == sum(9 * 4 * 4 * r * r + 4 * r * r for r in steps)
    assert layer.compute_output_shape((None, None, 7, 4)) == (None, None, 7 * scale, 4)
    clone = _roundtrip(layer)
    if not clone.built:
        clone.build((None, None, None, 4))
    clone.set_weights(layer.get_weights())
    np.testing.assert_allclose(_np(clone(x)), _np(y), atol=1e-6)


def test_mean_shift_values_and_inverse():
    x = np.full((1, 2, 2, 3), 100.0, "float32")
    sub, add = MeanShift(sign=-1), MeanShift(sign=1)
    expected = 100.0 - 255.0 * np.array([0.4488, 0.4371, 0.4040], "float32")
    np.testing.assert_allclose(_np(sub(x))[0, 0, 0], expected, atol=1e-4)
    np.testing.assert_allclose(_np(add(sub(x))), x, atol=1e-4)
    assert sub.count_params() == 0
    assert _roundtrip(add).get_config()["sign"] == 1
    with pytest.raises(ValueError, match="sign"):
        MeanShift(sign=0)


def test_residual_block_math_and_config(rng):
    block = ResidualBlock(filters=4, res_scale=0.1)
    x = rng.standard_normal((2, 6, 6, 4)).astype("float32")
    y = _np(block(x))
    assert block.count_params() == 2 * (9 * 4 * 4 + 4)
    inner = _np(block.conv2(block.conv1(x)))
    np.testing.assert_allclose(y, x + 0.1 * inner, atol=1e-5)
    assert _np(block.conv1(x)).min() >= 0  # ReLU between the convs
    clone = _roundtrip(block)
    assert clone.res_scale == 0.1 and clone.filters == 4
    with pytest.raises(ValueError, match="input channels"):
        ResidualBlock(filters=8)(x)


def test_bicubic_resize_matches_numpy_imresize(rng):
    img = rng.uniform(0, 255, (12, 10, 3))
    layer = BicubicResize(3)
    out = _np(layer(img[None].astype("float32")))[0]
    np.testing.assert_allclose(out, imresize(img, 3), atol=2e-3)
    assert layer.compute_output_shape((None, 12, None, 3)) == (None, 36, None, 3)
    assert _roundtrip(layer).scale == 3.0
