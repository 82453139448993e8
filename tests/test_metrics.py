import numpy as np
import pytest
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from keras_sr.color import rgb_to_y
from keras_sr.keras_metrics import PSNRMetric, SSIMMetric
from keras_sr.metrics import psnr, ssim


def noisy_pair(rng, shape=(48, 56, 3), sigma=12):
    a = rng.integers(0, 256, shape).astype(np.uint8)
    b = np.clip(a + rng.normal(0, sigma, shape), 0, 255).round().astype(np.uint8)
    return a, b


def sk_ssim(a, b, channel_axis=None):
    return structural_similarity(a, b, gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=255, channel_axis=channel_axis)


def test_psnr_matches_skimage_rgb_and_y(rng):
    a, b = noisy_pair(rng)
    assert psnr(b, a, 0, y_only=False) == pytest.approx(peak_signal_noise_ratio(a, b, data_range=255), abs=1e-10)
    ya, yb = rgb_to_y(a)[3:-3, 3:-3], rgb_to_y(b)[3:-3, 3:-3]
    assert psnr(b, a, 3) == pytest.approx(peak_signal_noise_ratio(ya, yb, data_range=255), abs=1e-10)


def test_ssim_matches_skimage_rgb_and_y(rng):
    a, b = noisy_pair(rng)
    assert ssim(b, a, 0, y_only=False) == pytest.approx(sk_ssim(a, b, channel_axis=-1), abs=1e-9)
    ya, yb = rgb_to_y(a)[4:-4, 4:-4], rgb_to_y(b)[4:-4, 4:-4]
    assert ssim(b, a, 4) == pytest.approx(sk_ssim(ya, yb), abs=1e-9)


def test_hand_computed_cases():
    a = np.full((20, 20, 3), 100, np.uint8)
    b = a + np.uint8(5)  # every channel off by 5 -> Y off by 5 * 219/255
    assert psnr(a, a) == float("inf")
    assert ssim(a, a) == pytest.approx(1.0)
    assert psnr(b, a, y_only=False) == pytest.approx(10 * np.log10(255**2 / 25))
    assert psnr(b, a) == pytest.approx(10 * np.log10(255**2 / (5 * 219 / 255) ** 2))


def test_float_inputs_are_rounded_to_8_bit(rng):
    a, b = noisy_pair(rng)
    jitter = b.astype(np.float64) + rng.uniform(-0.49, 0.49, b.shape)
    assert psnr(jitter, a) == psnr(b, a)
    assert ssim(jitter, a) == ssim(b, a)


def test_crop_border_and_shape_errors(rng):
    a, b = noisy_pair(rng)
    c = b.copy()
    c[:2] = 0  # damage inside the border only
    assert psnr(c, a, 2) == psnr(b, a, 2)
    assert psnr(c, a, 0) < psnr(b, a, 0)
    with pytest.raises(ValueError):
        psnr(a, a[:-1])
    with pytest.raises(ValueError):
        ssim(a[:20, :20], a[:20, :20], crop_border=5)


@pytest.mark.parametrize("y_only", [True, False])
def test_keras_metrics_match_numpy(rng, y_only):
    pairs = [noisy_pair(rng, (40, 44, 3)) for _ in range(3)]
    hr = np.stack([p[0] for p in pairs]).astype(np.float32)
    sr = np.stack([p[1] for p in pairs]).astype(np.float32) + 0.3  # rounding must undo the offset
    m_psnr, m_ssim = PSNRMetric(crop_border=4, y_only=y_only), SSIMMetric(crop_border=4, y_only=y_only)
    m_psnr.update_state(hr[:2], sr[:2])
    m_psnr.update_state(hr[2:], sr[2:])
    m_ssim.update_state(hr, sr)
    ref_psnr = np.mean([psnr(p[1], p[0], 4, y_only) for p in pairs])
    ref_ssim = np.mean([ssim(p[1], p[0], 4, y_only) for p in pairs])
    assert float(m_psnr.result()) == pytest.approx(ref_psnr, abs=2e-3)
    assert float(m_ssim.result()) == pytest.approx(ref_ssim, abs=2e-5)
    m_psnr.reset_state()
    assert float(m_psnr.result()) == 0.0
    restored = PSNRMetric.from_config(m_psnr.get_config())
    assert restored.crop_border == 4 and restored.y_only == y_only
