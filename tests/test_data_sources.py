"""keras_sr.data.sources: resolve_data (default split, folders, manifests, tfds) and load_validation_pairs."""

import os
import sys
import types

import numpy as np
import pytest
from PIL import Image

from keras_sr.cropping import modcrop
from keras_sr.data import sources
from keras_sr.data.sources import DataSourceError, load_validation_pairs, resolve_data
from keras_sr.image_io import ImageError, load_image
from keras_sr.imresize import imresize


def _write_images(folder, count, size=(24, 20), start=0):
    os.makedirs(folder, exist_ok=True)
    rng = np.random.default_rng(start)
    paths = []
    for i in range(start, start + count):
        path = os.path.join(folder, f"img{i:03d}.png")
        Image.fromarray(rng.integers(0, 256, size + (3,), dtype=np.uint8)).save(path)
        paths.append(path)
    return paths


def test_default_split_is_embedded_photographs_with_chelsea_and_coffee_held_out():
    split = resolve_data()
    assert split.kind == "images"
    names = [os.path.splitext(os.path.basename(p))[0] for p in split.train]
    assert [os.path.basename(p) for p in split.val] == ["chelsea.png", "coffee.png"]
    assert "astronaut" in names and len(names) >= 6
    assert not set(names) & {"chelsea", "coffee"}
    assert all(os.path.isfile(p) for p in split.train + split.val)
    assert resolve_data(None) == split == resolve_data([])  # deterministic
    for path in split.train[:1]:
        assert load_image(path).shape[-1] == 3


def test_image_folders_several_sorted_recursive(tmp_path):
    a = _write_images(str(tmp_path / "a"), 3)
    b = _write_images(str(tmp_path / "b" / "sub"), 2, start=10)
    split = resolve_data([str(tmp_path / "a"), str(tmp_path / "b")], val_split=None)
    assert split.kind == "images" and split.train == a + b and split.val == []
    assert resolve_data(str(tmp_path / "a"), val_split=None).train == a


def test_holdout_rules(tmp_path):
    paths = _write_images(str(tmp_path / "many"), 40, size=(8, 8))
    split = resolve_data(str(tmp_path / "many"))  # auto: 5 % -> 2 images, evenly spread
    assert len(split.val) == 2 and len(split.train) == 38
    assert not set(split.val) & set(split.train) and sorted(split.val + split.train) == paths
    assert resolve_data(str(tmp_path / "many")).val == split.val  # deterministic
    assert len(resolve_data(str(tmp_path / "many"), val_split=5).val) == 5
    assert len(resolve_data(str(tmp_path / "many"), val_split=0.25).val) == 10
    few = _write_images(str(tmp_path / "few"), 5)
    assert resolve_data(str(tmp_path / "few")).val == []  # fewer than 20: nothing held out by default
    given = resolve_data(str(tmp_path / "many"), val_data=str(tmp_path / "few"))
    assert given.val == few and len(given.train) == 40


def test_bad_sources(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(ImageError, match="empty.*no images found"):
        resolve_data(str(tmp_path / "empty"))
    with pytest.raises(DataSourceError, match="nope.*no such file"):
        resolve_data(str(tmp_path / "nope"))
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(DataSourceError, match="notes.txt"):
        resolve_data(str(tmp_path / "notes.txt"))
    _write_images(str(tmp_path / "imgs"), 2)
    (tmp_path / "x.h5").write_bytes(b"")
    with pytest.raises(DataSourceError, match="cannot be combined"):
        resolve_data([str(tmp_path / "imgs"), str(tmp_path / "x.h5")])


def test_classify_tfrecord_hdf5_and_patch_pairs(tmp_path):
    shards = tmp_path / "shards"
    shards.mkdir()
    (shards / "manifest.json").write_text("{}")
    assert sources.classify_source(str(shards)) == "tfrecord"
    assert sources.classify_source(str(shards / "manifest.json")) == "tfrecord"
    assert sources.classify_source(str(shards / "train-*.tfrecord")) == "tfrecord"
    (tmp_path / "p.h5").write_bytes(b"x")
    assert sources.classify_source(str(tmp_path / "p.h5")) == "hdf5"
    (tmp_path / "pairs" / "x2" / "lr").mkdir(parents=True)
    (tmp_path / "pairs" / "x2" / "hr").mkdir(parents=True)
    assert sources.classify_source(str(tmp_path / "pairs")) == "patch_pairs"
    split = resolve_data([str(shards)])
    assert split.kind == "tfrecord" and split.is_tfrecord and split.train == str(shards)
    assert resolve_data(str(tmp_path / "p.h5")).kind == "hdf5"
    assert resolve_data(str(tmp_path / "pairs")).kind == "patch_pairs"


def test_tfds_without_the_extra_or_offline_fails_clearly(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "tensorflow_datasets", None)  # not installed
    with pytest.raises(DataSourceError, match="tfds:div2k/bicubic_x4.*tensorflow-datasets"):
        resolve_data("tfds:div2k/bicubic_x4")

    class OfflineBuilder:
        def download_and_prepare(self):
            raise ConnectionError("Failed to resolve 'data.vision.ee.ethz.ch'")

    fake = types.SimpleNamespace(builder=lambda name: OfflineBuilder())
    monkeypatch.setitem(sys.modules, "tensorflow_datasets", fake)
    with pytest.raises(DataSourceError, match=r"tfds:div2k/bicubic_x4: could not be downloaded.*Offline\?"):
        resolve_data("tfds:div2k/bicubic_x4", tfds_cache_dir=str(tmp_path))


def test_tfds_images_are_written_once_as_png(monkeypatch, tmp_path):
    rng = np.random.default_rng(0)
    images = {"train": [rng.integers(0, 256, (12, 10, 3), dtype=np.uint8) for _ in range(3)],
              "validation": [rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)]}
    calls = []

    class Builder:
        info = types.SimpleNamespace(splits={"train": None, "validation": None})

        def download_and_prepare(self):
            calls.append("prepare")

        def as_dataset(self, split):
            return [{"hr": im, "lr": im[::2, ::2]} for im in images[split]]

    fake = types.SimpleNamespace(builder=lambda name: Builder(), as_numpy=lambda ds: ds)
    monkeypatch.setitem(sys.modules, "tensorflow_datasets", fake)
    split = resolve_data("tfds:div2k/bicubic_x4", tfds_cache_dir=str(tmp_path))
    assert len(split.train) == 3 and len(split.val) == 1
    assert np.array_equal(load_image(split.train[1]), images["train"][1])
    again = resolve_data("tfds:div2k/bicubic_x4", tfds_cache_dir=str(tmp_path))
    assert again.train == split.train and calls == ["prepare"]


def test_load_validation_pairs_follows_the_evaluation_protocol(tmp_path):
    paths = _write_images(str(tmp_path / "val"), 2, size=(27, 30))
    pairs = load_validation_pairs(paths, 4)
    assert len(pairs) == 2
    for (lr, hr), path in zip(pairs, paths):
        expected_hr = modcrop(load_image(path), 4)
        assert hr.dtype == lr.dtype == np.uint8
        assert np.array_equal(hr, expected_hr) and hr.shape == (24, 28, 3)
        assert np.array_equal(lr, imresize(expected_hr, 1 / 4))
    assert len(load_validation_pairs(str(tmp_path / "val"), 2, max_images=1)) == 1


def test_load_validation_pairs_small_images(tmp_path, caplog):
    big = _write_images(str(tmp_path / "v"), 1, size=(40, 40))
    small = _write_images(str(tmp_path / "v"), 1, size=(10, 40), start=5)
    with pytest.raises(ImageError, match="img005.png.*too small"):
        load_validation_pairs(big + small, 2, min_size=16)
    with caplog.at_level("WARNING", logger="keras_sr.data"):
        pairs = load_validation_pairs(big + small, 2, min_size=16, skip_small=True)
    assert len(pairs) == 1 and "skipped 1 validation image" in caplog.text
