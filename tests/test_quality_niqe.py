"""NIQE (keras_sr.quality.niqe): the MATLAB value of BasicSR's test image, and its behaviour on distortions."""

import io
import os
import subprocess

import numpy as np
import pytest

from keras_sr.quality import niqe

# MATLAB R2021a's NIQE of BasicSR's `tests/data/baboon.png`, as basicsr/metrics/niqe.py documents it.
MATLAB_BABOON = 5.72957338
BASICSR_MIRROR = "/work/.mirror/XPixelGroup+BasicSR/repo"  # a bare snapshot of XPixelGroup/BasicSR (fetch tool)


def _basicsr_baboon():
    """baboon.png from a BasicSR checkout ($BASICSR_ROOT) or its bare snapshot, or None (the image is not ours)."""
    from PIL import Image

    root = os.environ.get("BASICSR_ROOT")
    for rel in ("tests/data/baboon.png", "test_scripts/data/baboon.png"):
        if root and os.path.isfile(os.path.join(root, rel)):
            return np.asarray(Image.open(os.path.join(root, rel)).convert("RGB"))
    if os.path.isdir(BASICSR_MIRROR):
        for rel in ("tests/data/baboon.png", "test_scripts/data/baboon.png"):
            proc = subprocess.run(["git", "-C", BASICSR_MIRROR, "show", f"HEAD:{rel}"], capture_output=True)
            if proc.returncode == 0:
                return np.asarray(Image.open(io.BytesIO(proc.stdout)).convert("RGB"))
    return None


def test_matches_matlab_on_basicsr_baboon():
    img = _basicsr_baboon()
    if img is None:
        pytest.skip("BasicSR's baboon.png not found (set BASICSR_ROOT to a BasicSR checkout)")
    assert niqe.niqe(img) == pytest.approx(MATLAB_BABOON, abs=1e-3)


def test_pristine_model_is_the_official_one():
    mu, cov = niqe.pristine_model()
    assert mu.shape == (36,) and cov.shape == (36, 36)
    np.testing.assert_allclose(cov, cov.T)
    assert mu[0] == pytest.approx(2.60131368, abs=1e-7)  # modelparameters.mat: shape of the MSCN GGD
    np.testing.assert_allclose(niqe._gaussian_window().sum(), 1.0)


def test_noise_and_blur_raise_niqe():
    from scipy.ndimage import gaussian_filter
    from skimage import data

    img = data.astronaut()[96:96 + 192, 160:160 + 192].astype(np.float64)
    clean = niqe.niqe(img)
    noisy = niqe.niqe(np.clip(img + np.random.default_rng(0).normal(0, 20, img.shape), 0, 255))
    blurred = niqe.niqe(gaussian_filter(img, sigma=(2.5, 2.5, 0)))
    assert np.isfinite(clean) and clean < noisy and clean < blurred


def test_small_image_error():
    with pytest.raises(ValueError, match="96x96 block"):
        niqe.niqe(np.zeros((80, 120, 3), np.uint8))
