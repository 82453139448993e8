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


@pytest.fixture(autouse=True)
def _shard_cache(tmp_path_factory, monkeypatch):
    """TFRecord shard caches of test images go under pytest's temporary folder, never `~/.keras`."""
    monkeypatch.setenv("KERAS_SR_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))


@pytest.fixture(scope="session")
def tiny_photos(tmp_path_factory):
    """`(train_dir, val_dir)`: four 64x64 training crops of astronaut and one 48x48 held-out crop of coffee."""
    from skimage import data

    from keras_sr.image_io import save_image

    root = tmp_path_factory.mktemp("tiny_photos")
    photo, other = data.astronaut(), data.coffee()
    for i in range(4):
        save_image(str(root / "train" / f"t{i}.png"), photo[60 * i:60 * i + 64, 100:164])
    save_image(str(root / "val" / "v0.png"), other[100:148, 200:248])
    return str(root / "train"), str(root / "val")
