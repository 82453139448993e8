"""SRPatchDataset: numpy-only (lr, hr) batches from image folders, with the shared crop/augment rules."""

import logging
import os
import pickle

import keras
import numpy as np
import pytest
from PIL import Image

from keras_sr.color import rgb_to_y
from keras_sr.cropping import modcrop
from keras_sr.data.patches import augment
from keras_sr.data.py_dataset import SRPatchDataset
from keras_sr.image_io import ImageError, load_image
from keras_sr.imresize import imresize


def _smooth(h, w, seed):
    rng = np.random.default_rng(seed)
    small = rng.uniform(0, 255, (h // 4 + 2, w // 4 + 2, 3))
    return np.clip(imresize(small, output_shape=(h, w)), 0, 255).round().astype(np.uint8)


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    root = tmp_path_factory.mktemp("imgs")
    for i, (h, w) in enumerate([(50, 61), (45, 45), (70, 38)]):
        Image.fromarray(_smooth(h, w, i)).save(root / f"im{i}.png")
    return str(root)


def test_batches_shapes_dtypes_and_determinism(folder):
    ds = SRPatchDataset([folder], scale=3, patch_size=8, batch_size=5, steps_per_epoch=4, seed=1)
    assert isinstance(ds, keras.utils.PyDataset) and len(ds) == 4
    lr, hr = ds[0]
    assert lr.shape == (5, 8, 8, 3) and hr.shape == (5, 24, 24, 3)
    assert lr.dtype == hr.dtype == np.float32 and 0 <= lr.min() and hr.max() <= 255
    again = SRPatchDataset([folder], scale=3, patch_size=8, batch_size=5, steps_per_epoch=4, seed=1)
    assert all(np.array_equal(a, b) for a, b in zip(ds[2], again[2]))
    assert ds.batch_choices(1) == again.batch_choices(1)  # order of calls does not matter
    other = SRPatchDataset([folder], scale=3, patch_size=8, batch_size=5, steps_per_epoch=4, seed=2)
    assert not np.array_equal(ds[0][1], other[0][1])
    before = ds[0][1]
    ds.on_epoch_end()
    assert not np.array_equal(before, ds[0][1])
    with pytest.raises(IndexError):
        ds[4]


def test_patches_are_aligned_crops_of_the_protocol_lr(folder):
    ds = SRPatchDataset([folder], scale=2, patch_size=6, batch_size=8, steps_per_epoch=2, seed=0)
    augs = set()
    for item, top, left, aug in ds.batch_choices(0) + ds.batch_choices(1):
        hr_full = modcrop(load_image(ds.source.paths[item]), 2)
        lr_full = imresize(hr_full, 1 / 2)
        lr, hr = ds.patch_pair(item, top, left, aug)
        expected_lr = augment(lr_full[top : top + 6, left : left + 6], aug)
        expected_hr = augment(hr_full[2 * top : 2 * top + 12, 2 * left : 2 * left + 12], aug)
        assert np.array_equal(lr, expected_lr) and np.array_equal(hr, expected_hr)
        augs.add(aug)
    assert len(augs) > 1
    plain = SRPatchDataset([folder], scale=2, patch_size=6, batch_size=8, steps_per_epoch=1, augment=False, seed=0)
    assert {c[3] for c in plain.batch_choices(0)} == {0}


def test_y_only(folder):
    ds = SRPatchDataset([folder], scale=2, patch_size=5, batch_size=3, steps_per_epoch=1, y_only=True, seed=0)
    lr, hr = ds[0]
    assert lr.shape == (3, 5, 5, 1) and hr.shape == (3, 10, 10, 1)
    item, top, left, aug = ds.batch_choices(0)[0]
    rgb = SRPatchDataset([folder], scale=2, patch_size=5, batch_size=3, steps_per_epoch=1, seed=0)
    _, hr_rgb = rgb.patch_pair(item, top, left, aug)
    np.testing.assert_allclose(hr[0, ..., 0], rgb_to_y(hr_rgb), rtol=0, atol=1e-4)
    assert 16 <= hr.min() and hr.max() <= 235


def test_too_small_images_error_or_skip_with_count(tmp_path, caplog):
    Image.fromarray(_smooth(40, 40, 0)).save(tmp_path / "big.png")
    Image.fromarray(_smooth(40, 14, 1)).save(tmp_path / "narrow.png")
    with pytest.raises(ImageError, match=r"narrow\.png: image is 14x40, too small for 8x8 LR patches at x2"):
        SRPatchDataset([str(tmp_path)], 2, 8, 2)
    with caplog.at_level(logging.WARNING, logger="keras_sr.data"):
        ds = SRPatchDataset([str(tmp_path)], 2, 8, 2, skip_small=True)
    assert len(ds.source) == 1 and ds.source.skipped_small == 1
    assert "skipped 1 image(s) smaller than 16x16" in caplog.text
    assert ds[0][0].shape == (2, 8, 8, 3)


def test_corrupt_and_empty_files_name_the_file(tmp_path):
    Image.fromarray(_smooth(40, 40, 0)).save(tmp_path / "good.png")
    (tmp_path / "zero.png").write_bytes(b"")
    with pytest.raises(ImageError, match=r"zero\.png: empty file"):
        SRPatchDataset([str(tmp_path)], 2, 8, 2)
    os.remove(tmp_path / "zero.png")
    (tmp_path / "junk.jpg").write_bytes(b"this is not a jpeg at all")
    with pytest.raises(ImageError, match=r"junk\.jpg: not a readable image"):
        SRPatchDataset([str(tmp_path)], 2, 8, 2)
    good = (tmp_path / "good.png").read_bytes()
    (tmp_path / "trunc.png").write_bytes(good[: len(good) // 2])  # header fine, data truncated
    os.remove(tmp_path / "junk.jpg")
    with pytest.raises(ImageError, match=r"trunc\.png: corrupt or truncated"):
        SRPatchDataset([str(tmp_path / "trunc.png")], 2, 8, 2)[0]
    (tmp_path / "junk.jpg").write_bytes(b"junk")
    ds = SRPatchDataset([str(tmp_path / "good.png"), str(tmp_path / "junk.jpg")], 2, 8, 2, skip_unreadable=True)
    assert len(ds.source) == 1 and ds.source.skipped_unreadable == 1


def test_empty_folder(tmp_path):
    with pytest.raises(ImageError, match="no images found"):
        SRPatchDataset([str(tmp_path)], 2, 8, 2)


def test_grayscale_rgba_and_16bit_inputs_become_rgb(tmp_path):
    rgb = _smooth(32, 32, 3)
    gray = rgb[..., 0]
    Image.fromarray(gray, mode="L").save(tmp_path / "gray.png")
    Image.fromarray(np.dstack([rgb, np.full((32, 32), 7, np.uint8)]), mode="RGBA").save(tmp_path / "rgba.png")
    Image.fromarray(gray.astype(np.uint16) * 257).save(tmp_path / "deep16.png")
    ds = SRPatchDataset([str(tmp_path)], 2, 8, 3, augment=False, seed=0)
    assert sorted(os.path.basename(p) for p in ds.source.paths) == ["deep16.png", "gray.png", "rgba.png"]
    for item, path in enumerate(ds.source.paths):
        lr, hr = ds.patch_pair(item, 1, 2, 0)
        assert lr.shape == (8, 8, 3) and hr.shape == (16, 16, 3)
        expected = rgb if os.path.basename(path) == "rgba.png" else np.repeat(gray[..., None], 3, axis=-1)
        assert np.array_equal(hr, expected[2:18, 4:20])


def test_lr_disk_cache_and_pickling(folder, tmp_path):
    cache = tmp_path / "lrcache"
    ds = SRPatchDataset([folder], 2, 6, 4, steps_per_epoch=1, seed=0, lr_cache_dir=str(cache))
    first = ds[0]
    assert len(os.listdir(cache)) == 3
    again = SRPatchDataset([folder], 2, 6, 4, steps_per_epoch=1, seed=0, lr_cache_dir=str(cache))
    assert all(np.array_equal(a, b) for a, b in zip(first, again[0]))
    cached_path = ds.source._lr_cache_path(ds.source.paths[0])
    lr_file = np.asarray(Image.open(cached_path))
    assert np.array_equal(lr_file, imresize(ds.source.pair(0)[1], 1 / 2))
    Image.fromarray(np.zeros_like(lr_file)).save(cached_path)  # a third dataset reads the file, not imresize
    third = SRPatchDataset([folder], 2, 6, 4, steps_per_epoch=1, seed=0, lr_cache_dir=str(cache))
    assert third.source.pair(0)[0].max() == 0
    clone = pickle.loads(pickle.dumps(ds))  # process workers may pickle the dataset
    assert all(np.array_equal(a, b) for a, b in zip(first, clone[0]))


def test_fit_reads_it_through_keras_workers(folder):
    ds = SRPatchDataset([folder], 2, 6, 4, steps_per_epoch=3, seed=0, workers=2)
    model = keras.Sequential([keras.Input((None, None, 3)), keras.layers.UpSampling2D(2),
                              keras.layers.Conv2D(3, 3, padding="same")])
    model.compile("adam", "mse")
    history = model.fit(ds, epochs=2, verbose=0)
    assert len(history.history["loss"]) == 2 and np.isfinite(history.history["loss"]).all()
