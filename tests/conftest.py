"""Shared test fixtures. Tests never require ../shared/data; they use it when present."""

import os

import numpy as np
import pytest

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED_DATA = os.environ.get("KERAS_SR_SHARED_DATA", os.path.join(os.path.dirname(REPO_ROOT), "shared", "data"))


def shared_dataset(name):
    """Path of `<shared>/data/<name>/HR`, or skip the test when it is absent."""
    path = os.path.join(SHARED_DATA, name, "HR")
    if not os.path.isdir(path):
        pytest.skip(f"shared dataset {name} not present at {path}")
    return path


@pytest.fixture
def natural_image():
    """A real photograph (scikit-image's astronaut, 512x512 RGB uint8)."""
    from skimage import data

    return data.astronaut()


@pytest.fixture
def rng():
    return np.random.default_rng(1234)
