"""IFC (keras_sr.quality.ifc): the steerable pyramid, and the properties of the criterion."""

import numpy as np
import pytest
from scipy.ndimage import gaussian_filter

from keras_sr.quality import ifc


@pytest.fixture(scope="module")
def photo():
    from skimage import data

    return data.camera()[100:196, 150:246].astype(np.float64)  # 96x96 grey photograph


def test_pyramid_bands_and_reconstruction_by_pyrtools(photo):
    bands = ifc.steerable_pyramid(photo)
    assert len(bands) == 26  # high-pass residual, 4 levels x 6 orientations, low-pass residual
    assert [b.shape for b in bands[1:25:6]] == [(96, 96), (48, 48), (24, 24), (12, 12)]
    assert bands[-1].shape == (6, 6)
    pt = pytest.importorskip("pyrtools")  # the Python port of matlabPyrTools, when installed
    ref = pt.pyramids.SteerablePyramidSpace(photo, height=4, order=5, edge_type="reflect1")
    expected = [ref.pyr_coeffs["residual_highpass"], *[ref.pyr_coeffs[(lev, b)] for lev in range(4) for b in range(6)],
                ref.pyr_coeffs["residual_lowpass"]]
    for ours, theirs in zip(bands, expected):
        np.testing.assert_allclose(ours, theirs, atol=1e-9)


def test_ifc_is_largest_for_the_image_itself_and_falls_with_noise_and_blur(photo):
    rng = np.random.default_rng(0)
    noise = rng.standard_normal(photo.shape)
    perfect = ifc.ifc_gray(photo, photo)
    noisy = [ifc.ifc_gray(photo, photo + s * noise) for s in (2.0, 5.0, 10.0, 20.0)]
    blurred = [ifc.ifc_gray(photo, gaussian_filter(photo, s)) for s in (0.5, 1.0, 2.0)]
    assert perfect > noisy[0] and perfect > blurred[0]
    assert all(a > b for a, b in zip(noisy, noisy[1:])), noisy
    assert all(a > b for a, b in zip(blurred, blurred[1:])), blurred
    assert noisy[-1] > 0
    # The reference image's own information does not depend on the 0-255 scaling (only the 1e-10 tolerance does).
    assert ifc.ifc_gray(photo / 255.0, (photo + 5 * noise) / 255.0) == pytest.approx(noisy[1], rel=1e-3)


def test_ifc_on_rgb_uses_y_and_shaves(photo):
    rgb = np.repeat(photo[..., None], 3, axis=-1).astype(np.uint8)
    worse = np.clip(rgb + 12, 0, 255).astype(np.uint8)
    from keras_sr.color import rgb_to_y

    shaved = ifc.ifc(rgb, rgb, crop_border=4)
    y = rgb_to_y(rgb)[4:-4, 4:-4]
    assert shaved == pytest.approx(ifc.ifc_gray(y, y), rel=1e-9)
    assert ifc.ifc(worse, rgb, crop_border=4) < shaved
    with pytest.raises(ValueError, match="64x64"):
        ifc.ifc_gray(photo[:40], photo[:40])
    with pytest.raises(ValueError, match="shapes differ"):
        ifc.ifc(rgb, rgb[:80])
