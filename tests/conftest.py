"""Shared test fixtures. Tests never require ../shared/data; they use it when present."""

import os

import numpy as np
import pytest

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED_DATA = os.environ.get("KERAS_SR_SHARED_DATA", os.path.join(os.path.dirname(REPO_ROOT), "shared", "data"))


def run_modules_on_backend(backend, package, modules, **env):
    """Run test `modules` with pytest in a subprocess under KERAS_BACKEND=`backend`; fail with its output."""
    import importlib.util
    import subprocess
    import sys

    if importlib.util.find_spec(package) is None:
        pytest.fail(f"{package} is not installed: it is part of the test extras (pip install -e '.[test]')")
    env = dict(os.environ, KERAS_BACKEND=backend, **env)
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-n", "0", "-p", "no:cacheprovider", *modules],
                          cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=1200)
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-3000:]
    summary = proc.stdout.splitlines()[-1]
    assert " passed" in summary and " failed" not in summary, summary


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


@pytest.fixture(scope="session")
def fit_briefly():
    """`fit_briefly(model)`: a few Adam steps on astronaut patches (MAE), so the model maps LR to an image-like HR."""
    import keras

    def fit(model, steps=40, patch=12, scale=3, seed=0):
        from skimage import data

        from keras_sr.color import rgb_to_y
        from keras_sr.imresize import imresize

        channels = int(model.input_shape[-1])
        hr = data.astronaut()[:510, :510]
        to_input = (lambda im: rgb_to_y(im)[..., None]) if channels == 1 else (lambda im: im.astype(np.float64))
        lo, hi = to_input(imresize(hr, 1 / scale)), to_input(hr)
        rng = np.random.default_rng(seed)
        tops = rng.integers(0, lo.shape[0] - patch, steps * 8)
        lefts = rng.integers(0, lo.shape[1] - patch, steps * 8)
        x = np.stack([lo[t:t + patch, l:l + patch] for t, l in zip(tops, lefts)]).astype("float32")
        y = np.stack([hi[t * scale:(t + patch) * scale, l * scale:(l + patch) * scale] for t, l in zip(tops, lefts)])
        model.compile(keras.optimizers.Adam(3e-3), "mae")
        model.fit(x, y.astype("float32"), batch_size=8, epochs=1, verbose=0, shuffle=False)
        return model

    return fit
