"""LAM (keras_sr.analysis.lam): locality of the attribution, the Gini oracle, the blur path, the CLI."""

import numpy as np
import pytest

from conftest import run_modules_on_backend
from keras_sr.analysis import lam


def _local_model(scale=2, channels=1):
    """Conv 3x3 (sees a 1-pixel LR neighbourhood) then nearest upsampling: a tiny SR model."""
    import keras

    inputs = keras.Input((None, None, channels))
    positive = keras.initializers.RandomUniform(0.1, 1.0, seed=3)
    x = keras.layers.Conv2D(channels, 3, padding="same", kernel_initializer=positive, bias_initializer="zeros")(inputs)
    outputs = keras.layers.UpSampling2D(scale, interpolation="nearest")(x)
    return keras.Model(inputs, outputs)


def _photo_crop(size=24, channels=1):
    from skimage import data

    img = data.astronaut()[180:180 + size, 200:200 + size].astype(np.float32)
    return img.mean(axis=-1, keepdims=True) if channels == 1 else img


def test_attribution_of_a_local_model_stays_in_its_neighbourhood():
    scale, window, x, y = 2, 6, 20, 14
    texture = np.random.default_rng(0).uniform(0, 255, (24, 24, 1)).astype(np.float32)  # no flat area
    result = lam.local_attribution_map(_local_model(scale), texture, x=x, y=y, window=window, steps=8, batch_size=4)
    # The target reads HR rows y .. y+window (the +1 of the finite difference), i.e. LR rows y//2 .. (y+window)//2;
    # a 3x3 convolution widens that by one LR pixel each side.
    rows = slice(y // scale - 1, (y + window) // scale + 2)
    cols = slice(x // scale - 1, (x + window) // scale + 2)
    inside = np.zeros(result.attribution.shape, bool)
    inside[rows, cols] = True
    assert result.attribution.shape == (24, 24)
    assert np.all(result.attribution[~inside] == 0.0)
    assert result.attribution[inside].max() == pytest.approx(1.0)
    assert np.count_nonzero(result.attribution[inside]) >= 0.75 * inside.sum()
    assert 0.0 < result.diffusion_index < 100.0 * inside.sum() / inside.size + 1.0


def test_gini_matches_the_pairwise_definition():
    rng = np.random.default_rng(0)
    for values in (rng.random(50), rng.exponential(size=(7, 9)), np.r_[np.zeros(30), 1.0]):
        a = np.asarray(values, np.float64).ravel() + 1e-7  # the official offset
        oracle = np.abs(a[:, None] - a[None, :]).sum() / (2 * a.size**2 * a.mean())
        assert lam.gini(values) == pytest.approx(oracle, rel=1e-9)
    assert lam.diffusion_index(np.ones(100)) == pytest.approx(100.0)  # everything used equally
    one_hot = np.zeros(100)
    one_hot[3] = 1.0
    assert lam.diffusion_index(one_hot) < 2.0  # a single pixel


def test_blur_path_ends_at_the_image_and_sums_to_the_difference():
    img = _photo_crop(16, channels=3)
    images, derivs = lam.blur_path(img, sigma=1.2, steps=50, kernel_size=9)
    assert images.shape == derivs.shape == (50, 16, 16, 3)
    np.testing.assert_allclose(images[-1], img, atol=1e-3)  # sigma 0 (+ the official epsilon): the LR image
    # The derivatives are finite differences times `steps`: their mean is (image - most blurred image).
    start = lam._filter_reflect101(img.astype(np.float64), lam.gaussian_kernel(9, 1.2))
    np.testing.assert_allclose(derivs.mean(axis=0), img - start, atol=1e-3)
    # The border is reflected without repeating the edge (OpenCV's default, BORDER_REFLECT_101).
    k = np.zeros((3, 3))
    k[1, 0] = 1.0  # out[i, j] = in[i, j - 1]
    shifted = lam._filter_reflect101(img.astype(np.float64), k)
    np.testing.assert_allclose(shifted[:, 0], img[:, 1])


def test_bad_window_and_channels_are_named():
    model = _local_model()
    with pytest.raises(ValueError, match="does not fit"):
        lam.local_attribution_map(model, _photo_crop(12), x=20, y=0, window=8, steps=2)
    with pytest.raises(ValueError, match="1-channel"):
        lam.local_attribution_map(model, _photo_crop(12, channels=3), x=0, y=0, window=4, steps=2)


def test_registered_model_and_cli(tmp_path, capsys):
    from keras_sr import models
    from keras_sr.image_io import load_image, save_image
    from tools import lam as lam_tool

    model = models.build("espcn", scale=2, channels=3)
    saved = tmp_path / "espcn.keras"
    model.save(str(saved))
    image = tmp_path / "hr.png"
    save_image(str(image), _photo_crop(40, channels=3).astype(np.uint8))
    out = tmp_path / "lam.png"
    lam_tool.main(["--model", str(saved), "--image", str(image),
                   "--window", "10", "12", "--window-size", "8", "--steps", "4", "--out", str(out)])
    assert "DI" in capsys.readouterr().out
    figure = load_image(str(out))
    assert figure.shape[0] == 40 + 14 and figure.shape[1] == 2 * 40 + 4  # label line; HR panel, gap, heat map
    lam_tool.main(["--model", str(saved), "--image", str(image), "--window", "10", "12", "--window-size", "8",
                   "--steps", "2", "--detail", "20", "--out", str(out)])
    assert load_image(str(out)).shape == (54 + 4 + 40, 84, 3)  # a second row: 20 px around the window, x2


def test_lam_on_jax():
    run_modules_on_backend("jax", "jax", ["tests/test_analysis_lam.py", "-k", "local_model or bad_window"],
                           JAX_PLATFORMS="cpu")
