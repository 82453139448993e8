"""keras_sr.data.reference_views: exact identity views, true correspondences, ViewParams ranges, reflection, jitter."""

import math

import numpy as np
import pytest

from keras_sr.data.reference_views import (ViewParams, jitter_colors, project_points, random_view_transform,
                                           synthesize_reference, warp_view)

NO_COLOUR = dict(brightness=0.0, contrast=0.0, saturation=0.0)


@pytest.fixture(scope="module")
def photo():
    from scipy.ndimage import gaussian_filter
    from skimage import data

    image = data.astronaut().astype(np.float64)
    return np.clip(np.rint(gaussian_filter(image, (1.5, 1.5, 0))), 0, 255).astype(np.uint8)  # smooth: bilinear is exact enough


def test_identity_view_is_the_crop(photo):
    rng = np.random.default_rng(0)
    ref, transform = synthesize_reference(photo, rng, target_box=(100, 150, 64, 80), params=ViewParams.identity())
    np.testing.assert_array_equal(ref, photo[100:164, 150:230])
    np.testing.assert_allclose(transform, [[1, 0, 150], [0, 1, 100], [0, 0, 1]], atol=1e-9)
    whole, _ = synthesize_reference(photo[:50, :70], rng, params=ViewParams.identity())
    np.testing.assert_array_equal(whole, photo[:50, :70])


def bilinear(image, xy):
    from scipy.ndimage import map_coordinates

    coords = [xy[:, 1], xy[:, 0]]
    return np.stack([map_coordinates(image[..., c].astype(np.float64), coords, order=1) for c in range(3)], -1)


def test_projected_points_match_pixel_values(photo):
    params = ViewParams(**NO_COLOUR)
    for seed in range(3):
        rng = np.random.default_rng(seed)
        ref, transform = synthesize_reference(photo, rng, target_box=(180, 200, 96, 96), params=params)
        ys, xs = np.mgrid[4:92:3, 4:92:3]
        points = np.stack([xs.ravel(), ys.ravel()], -1).astype(np.float64)
        source = project_points(transform, points)
        assert source.min() > 0 and source.max() < 511  # the box is inside the image: no reflection involved
        values = ref[ys.ravel(), xs.ravel()].astype(np.float64)
        error = np.abs(bilinear(photo, source) - values).mean()
        wrong = np.abs(bilinear(photo, source + [3.0, 0.0]) - values).mean()
        assert error < 2.0, (seed, error)
        assert wrong > 2 * error, (seed, error, wrong)


def affine_zoom_angle(transform):
    a = np.asarray(transform)[:2, :2]
    return 1.0 / math.sqrt(np.linalg.det(a)), math.degrees(math.atan2(a[1, 0], a[0, 0]))


def test_zoom_rotation_and_shift_stay_in_range():
    params = ViewParams(perspective=0.0)
    zooms, angles = [], []
    box = (40, 60, 100, 120)
    for seed in range(300):
        transform = random_view_transform(np.random.default_rng(seed), (100, 120), box, params)
        np.testing.assert_allclose(transform[2], [0, 0, 1], atol=1e-12)  # no perspective: affine
        zoom, angle = affine_zoom_angle(transform)
        zooms.append(zoom)
        angles.append(angle)
        centre = project_points(transform, [[59.5, 49.5]])[0]
        assert abs(centre[0] - (60 + 59.5)) <= 0.25 * 120 + 1e-9 and abs(centre[1] - (40 + 49.5)) <= 0.25 * 100 + 1e-9
    assert 0.8 - 1e-9 <= min(zooms) < 0.85 and 1.18 < max(zooms) <= 1.25 + 1e-9
    assert max(abs(a) for a in angles) <= 15 + 1e-9 and max(angles) > 13 and min(angles) < -13
    narrow = ViewParams(zoom=(1.1, 1.1), rotation_degrees=2.0, perspective=0.0)
    zoom, angle = affine_zoom_angle(random_view_transform(np.random.default_rng(0), (50, 50), (0, 0, 50, 50), narrow))
    assert zoom == pytest.approx(1.1) and abs(angle) <= 2.0


def test_perspective_is_mild():
    params = ViewParams(zoom=(1.0, 1.0), rotation_degrees=0.0, max_shift=0.0, perspective=0.1)
    corners = np.array([[0, 0], [79, 0], [0, 59], [79, 59]], np.float64)
    largest = 0.0
    for seed in range(100):
        transform = random_view_transform(np.random.default_rng(seed), (60, 80), (0, 0, 60, 80), params)
        moved = np.abs(project_points(transform, corners) - corners) / [80, 60]
        largest = max(largest, moved.max())
    assert 0.01 < largest <= 0.1


def test_reflection_leaves_no_black_border():
    from scipy.ndimage import gaussian_filter

    rng = np.random.default_rng(5)
    noise = gaussian_filter(rng.uniform(90, 200, size=(60, 70, 3)), (1.0, 1.0, 0))
    image = np.rint(noise).astype(np.uint8)  # no dark pixel, smooth enough for bicubic not to overshoot much
    params = ViewParams(zoom=(0.8, 0.8), max_shift=0.25, rotation_degrees=15.0, **NO_COLOUR)
    for seed in range(10):  # a view of the whole image, zoomed out and shifted: much of it lies outside the image
        ref, transform = synthesize_reference(image, np.random.default_rng(seed), params=params)
        corners = project_points(transform, [[0, 0], [69, 0], [0, 59], [69, 59]])
        assert corners.min() < -3 or corners[:, 0].max() > 72  # really outside
        assert ref.shape == image.shape and ref.min() >= 60, (seed, ref.min())
    # outside the image the view is its mirror image: a pure shift by 10 px to the left of the image
    shift = np.array([[1.0, 0, -10], [0, 1.0, 0], [0, 0, 1.0]])
    view = warp_view(image, shift, (60, 30), resample="nearest")
    assert image.min() >= 90
    np.testing.assert_array_equal(view[:, 10:], image[:, :20])
    np.testing.assert_array_equal(view[:, :10], image[:, 9::-1])


def test_jitter_ranges():
    rng = np.random.default_rng(0)
    image = rng.integers(70, 170, size=(32, 32, 3), dtype=np.uint8)
    x = image.astype(np.float64)
    grey = x @ [0.299, 0.587, 0.114]

    def ratios(params, measure, n=80):
        return [measure(jitter_colors(image, np.random.default_rng(s), params).astype(np.float64)) / measure(x)
                for s in range(n)]

    brightness = ratios(ViewParams(brightness=0.2, contrast=0.0, saturation=0.0), np.mean)
    contrast = ratios(ViewParams(brightness=0.0, contrast=0.2, saturation=0.0), np.std)
    saturation = ratios(ViewParams(brightness=0.0, contrast=0.0, saturation=0.3),
                        lambda y: np.abs(y - (y @ [0.299, 0.587, 0.114])[..., None]).mean())
    for values, limit in ((brightness, 0.2), (contrast, 0.2), (saturation, 0.3)):
        assert min(values) >= 1 - limit - 0.02 and max(values) <= 1 + limit + 0.02
        assert min(values) < 1 - 0.7 * limit and max(values) > 1 + 0.7 * limit
    out = jitter_colors(image, np.random.default_rng(1), ViewParams(brightness=0.0, contrast=0.2, saturation=0.0))
    assert abs(out.mean() - x.mean()) < 1.0  # contrast keeps the mean
    out = jitter_colors(image, np.random.default_rng(1), ViewParams(brightness=0.0, contrast=0.0, saturation=0.3))
    assert np.abs(out @ np.array([0.299, 0.587, 0.114]) - grey).max() < 1.0  # saturation keeps the grey
    np.testing.assert_array_equal(jitter_colors(image, rng, ViewParams.identity()), image)


def test_view_params_are_checked():
    with pytest.raises(ValueError, match="zoom"):
        ViewParams(zoom=(1.2, 0.9))
    with pytest.raises(ValueError, match="rotation_degrees"):
        ViewParams(rotation_degrees=-1)
    with pytest.raises(ValueError, match="uint8"):
        warp_view(np.zeros((8, 8, 3), np.float32), np.eye(3), (8, 8))
