"""Device-resident patches: the same LR/HR pairs as the PyDataset loader's rules, reproducible from the seed.

Also runs on JAX (tests/test_jax_backend.py).
"""

import numpy as np
import pytest

import keras

from keras_sr.color import rgb_to_y
from keras_sr.data import device_patches
from keras_sr.data.device_patches import DevicePatchBank, choose_loader, hash_ints, hash_ints_numpy
from keras_sr.data.patches import extract_patch_pair


@pytest.fixture(scope="module")
def image_dir(tmp_path_factory):
    from keras_sr.image_io import save_image
    from skimage import data

    folder = tmp_path_factory.mktemp("device_patches")
    photo = data.astronaut()
    for i, (h, w) in enumerate([(62, 75), (49, 40), (40, 40), (20, 90)]):  # the last is too small at x3, patch 8
        save_image(str(folder / f"{i}.png"), photo[30 * i: 30 * i + h, 40 * i: 40 * i + w])
    return str(folder)


def _numpy(batch):
    return tuple(keras.ops.convert_to_numpy(t) for t in batch)


def test_hash_is_the_same_in_numpy_and_keras_ops():
    samples = np.arange(9, dtype=np.int32)
    for seed, step in [(0, 0), (7, 123), (2**31 - 1, 2**31 - 1)]:
        for stream in range(4):
            expected = hash_ints_numpy(seed, step, samples, stream)
            assert np.array_equal(keras.ops.convert_to_numpy(hash_ints(seed, step, samples, stream)), expected)
            assert expected.min() >= 0
    draws = hash_ints_numpy(0, np.arange(4000), 0, 1) % 8
    assert np.bincount(draws, minlength=8).min() > 400  # roughly uniform over the 8 augmentations


@pytest.mark.parametrize("y_only", [False, True])
def test_batches_are_aligned_crops_of_the_loaders_lr_and_hr(image_dir, y_only):
    from keras_sr.data.py_dataset import ImageSource
    from keras_sr.evaluation import degrade
    from keras_sr.image_io import list_images, load_image

    bank = DevicePatchBank.from_paths([image_dir], scale=3, patch_size=8, batch_size=6, y_only=y_only)
    assert bank.count == 3  # the 20x90 image is skipped (smaller than 24 px)
    source = ImageSource(list_images(image_dir), 3, 8, skip_small=True)
    batches = bank.batches(seed=5)
    seen = set()
    for step in range(3):
        lr, hr = _numpy(next(batches))
        assert lr.shape == (6, 8, 8, bank.channels) and hr.shape == (6, 24, 24, bank.channels)
        assert lr.dtype == hr.dtype == np.float32
        for b, (item, top, left, aug) in enumerate(bank.choices(step, seed=5)):
            seen.add(aug)
            hr_image = load_image(source.name(item))
            hr_image, lr_image = degrade(hr_image, 3)  # LR = MATLAB bicubic of the modcropped HR image
            want_lr, want_hr = extract_patch_pair(lr_image, hr_image, top, left, aug, 8, 3)
            if y_only:
                want_lr, want_hr = rgb_to_y(want_lr)[..., None], rgb_to_y(want_hr)[..., None]
            np.testing.assert_array_equal(lr[b], want_lr.astype(np.float32))
            np.testing.assert_array_equal(hr[b], want_hr.astype(np.float32))
    assert len(seen) > 3  # flips and rotations are drawn


def test_batches_are_reproducible_from_the_seed(image_dir):
    bank = DevicePatchBank.from_paths([image_dir], scale=2, patch_size=10, batch_size=4)
    first = [_numpy(b) for b, _ in zip(bank.batches(seed=1), range(3))]
    again = [_numpy(b) for b, _ in zip(bank.batches(seed=1), range(3))]
    other = _numpy(next(bank.batches(seed=2)))
    later = _numpy(next(bank.batches(seed=1, first_step=2)))
    for (a_lr, a_hr), (b_lr, b_hr) in zip(first, again):
        np.testing.assert_array_equal(a_lr, b_lr)
        np.testing.assert_array_equal(a_hr, b_hr)
    np.testing.assert_array_equal(later[1], first[2][1])  # batch t depends on (seed, t) only
    assert not np.array_equal(other[1], first[0][1])
    assert not np.array_equal(first[1][1], first[0][1])
    no_aug = DevicePatchBank.from_paths([image_dir], scale=2, patch_size=10, batch_size=4, augment=False)
    assert {c[3] for c in no_aug.choices(0, seed=1)} == {0}


def test_bad_pairs_are_named():
    lr = np.zeros((10, 10, 3), np.uint8)
    with pytest.raises(ValueError, match="a.png.*not an RGB pair at x2"):
        DevicePatchBank([(lr, np.zeros((21, 20, 3), np.uint8))], 2, 4, 2, names=["a.png"])
    with pytest.raises(ValueError, match="b.png.*smaller than the 12x12 patch"):
        DevicePatchBank([(lr, np.zeros((20, 20, 3), np.uint8))], 2, 12, 2, names=["b.png"])


def test_choose_loader_by_backend_source_and_budget(image_dir, monkeypatch):
    from keras_sr.data.sources import resolve_data
    from keras_sr.training.recipe import Recipe

    recipe = Recipe.for_scale(3, model="edsr", patch_size=8)
    split = resolve_data([image_dir])
    assert choose_loader(split, recipe, "pydataset")[0] == "pydataset"
    size, count = device_patches.estimate_bank_mb(split.train, 3, 8)
    assert count == 3 and 0 < size < 1
    monkeypatch.setattr(keras.backend, "backend", lambda: "jax")
    loader, reason = choose_loader(split, recipe, "auto", budget_mb=1.0)
    assert loader == "device" and "3 images" in reason and "uploaded once" in reason
    loader, reason = choose_loader(split, recipe, "auto", budget_mb=size / 2)
    assert loader == "pydataset" and "exceed" in reason
    monkeypatch.setattr(keras.backend, "backend", lambda: "tensorflow")
    assert choose_loader(split, recipe, "auto")[0] == "tfdata"


def test_training_runs_on_device_batches_and_logs_the_path(image_dir, tmp_path):
    from keras_sr.data.sources import resolve_data
    from keras_sr.training.data import make_train_data
    from keras_sr.training.engine import train
    from keras_sr.recipes.edsr import EDSRRecipe

    recipe = EDSRRecipe.for_scale(2, patch_size=8, batch_size=2, steps=3, num_blocks=1, filters=4, val_every=3,
                                  checkpoint_every=3, val_images=1, jit_compile="off")
    lines = []
    data = make_train_data(resolve_data([image_dir]), recipe, seed=0, loader="device", log=lines.append)
    assert "device-resident patches: 4 images" in lines[0]  # at x2 the 20x90 image is large enough
    lines = []
    result = train(recipe, data=[image_dir], val_data=[image_dir], out=str(tmp_path / "run"), loader="device",
                   log=lines.append, verbose=0, tensorboard=False)
    assert result.steps == 3 and np.isfinite(result.final["psnr"])
    assert any(line.startswith("device-resident patches") for line in lines)


def test_benchmark_prints_the_ratio_to_plain_fit_on_arrays(image_dir, capsys):
    from tools import benchmark

    argv = ["train", "--model", "edsr", "--scale", "2", "--batch-size", "2", "--patch-size", "8", "--steps", "3",
            "--warmup", "1", "--loader", "device", "--versus-arrays", "--jit-compile", "off", "--data", image_dir,
            "--set", "num_blocks=1", "filters=4"]
    assert benchmark.main(argv) == 0
    out = capsys.readouterr().out
    assert "| device |" in out
    ratio = [line for line in out.splitlines() if "ratio, this path / arrays:" in line]
    assert len(ratio) == 1 and float(ratio[0].split("arrays: ")[2].split("x")[0]) > 0
