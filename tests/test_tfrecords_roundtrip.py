"""Folder -> TFRecord shards -> tf.data: schema, manifest, idempotent writes, aligned crops, parity with PyDataset."""

import json
import os

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from keras_sr.color import rgb_to_y
from keras_sr.cropping import modcrop
from keras_sr.data.patches import extract_patch_pair
from keras_sr.data.py_dataset import SRPatchDataset
from keras_sr.data.sources import load_validation_pairs
from keras_sr.image_io import load_image
from keras_sr.imresize import imresize
from keras_sr.tfrecords import reader, schema, writer

SIZES = [(50, 61), (45, 45), (70, 38), (41, 52)]


@pytest.fixture(scope="module")
def hr_folder(tmp_path_factory):
    root = tmp_path_factory.mktemp("hr")
    rng = np.random.default_rng(0)
    for i, size in enumerate(SIZES):  # noise: every HR window is unique, so a patch can be located
        Image.fromarray(rng.integers(0, 256, size + (3,), dtype=np.uint8)).save(root / f"im{i}.png")
    return str(root)


@pytest.fixture(scope="module")
def shards(hr_folder, tmp_path_factory):
    out = str(tmp_path_factory.mktemp("shards"))
    writer.write_shards([hr_folder], out, scales=[2, 3], shard_mb=0.01)
    return out


def test_manifest_and_records(hr_folder, shards):
    manifest = schema.read_manifest(shards)
    assert manifest["format"] == schema.FORMAT and manifest["schema_version"] == schema.SCHEMA_VERSION
    assert manifest["scales"] == [2, 3] and manifest["num_records"] == 4
    assert manifest["degradation"]["name"] == "bicubic"
    assert len(manifest["shards"]) >= 2 and sum(s["records"] for s in manifest["shards"]) == 4
    assert manifest["decoded_hr_bytes"] == sum(h * w * 3 for h, w in SIZES)
    records = [raw.numpy() for path, _ in schema.shard_paths(manifest) for raw in tf.data.TFRecordDataset(path)]
    names = [schema.parse_example(r)["name"] for r in records]
    assert names == [f"im{i}.png" for i in range(4)]
    record = schema.parse_example(records[2])
    hr = load_image(os.path.join(hr_folder, "im2.png"))
    assert np.array_equal(record["hr"], hr) and record["scales"] == [2, 3] and record["refs"] == []
    for s in (2, 3):
        assert np.array_equal(record["lr"][s], imresize(modcrop(hr, s), 1 / s))


def test_writes_are_idempotent_atomic_and_drop_stale_shards(hr_folder, tmp_path):
    out = str(tmp_path / "s")
    first = writer.write_shards([hr_folder], out, scales=[2], shard_mb=0.01)
    stamps = {p: os.stat(os.path.join(out, p)).st_mtime_ns for p in os.listdir(out)}
    again = writer.write_shards([hr_folder], out, scales=[2], shard_mb=0.01)
    assert again["fingerprint"] == first["fingerprint"]
    assert {p: os.stat(os.path.join(out, p)).st_mtime_ns for p in os.listdir(out)} == stamps  # nothing rewritten
    bigger = writer.write_shards([hr_folder], out, scales=[2], shard_mb=100)  # settings changed: rewritten
    assert len(bigger["shards"]) == 1
    assert sorted(os.listdir(out)) == ["manifest.json", "train-00000.tfrecord"]  # stale shards, no temp files
    with open(os.path.join(out, "manifest.json")) as f:
        assert json.load(f)["shards"][0]["records"] == 4


def test_parallel_writer_gives_identical_shards(hr_folder, tmp_path):
    serial = writer.write_shards([hr_folder], str(tmp_path / "one"), scales=[3], workers=1)
    parallel = writer.write_shards([hr_folder], str(tmp_path / "two"), scales=[3], workers=2)
    assert serial["fingerprint"] == parallel["fingerprint"]
    for a, b in zip(schema.shard_paths(serial), schema.shard_paths(parallel)):
        assert open(a[0], "rb").read() == open(b[0], "rb").read()


def test_reference_images_round_trip(hr_folder, tmp_path):
    refs = tmp_path / "refs"
    refs.mkdir()
    ref = np.full((9, 7, 3), 77, np.uint8)
    Image.fromarray(ref).save(refs / "im1_1.png")
    Image.fromarray(ref + 1).save(refs / "im1_2.png")
    manifest = writer.write_shards([hr_folder], str(tmp_path / "s"), scales=[2], ref_dir=str(refs))
    assert manifest["num_reference_images"] == 2
    path = schema.shard_paths(manifest)[0][0]
    records = [schema.parse_example(r.numpy()) for r in tf.data.TFRecordDataset(path)]
    assert [len(r["refs"]) for r in records] == [0, 2, 0, 0]
    assert records[1]["refs"][0][0] == "im1_1.png" and np.array_equal(records[1]["refs"][1][1], ref + 1)


def _locate(big, patch):
    """(y, x) of `patch` inside `big`, searching every offset."""
    ph, pw = patch.shape[:2]
    for y in range(big.shape[0] - ph + 1):
        for x in range(big.shape[1] - pw + 1):
            if big[y, x, 0] == patch[0, 0, 0] and np.array_equal(big[y : y + ph, x : x + pw], patch):
                return y, x
    raise AssertionError("patch not found in any HR image")


def test_reader_patches_are_grid_aligned_crops_whose_lr_is_imresize(hr_folder, shards):
    scale, p = 3, 6
    hrs = [load_image(os.path.join(hr_folder, f"im{i}.png")) for i in range(4)]
    ds = reader.make_dataset(shards, scale, p, batch_size=4, augment=False, seed=3, jit=False, shuffle_buffer=8)
    lr_batch, hr_batch = next(iter(ds))
    assert lr_batch.shape == (4, p, p, 3) and hr_batch.shape == (4, p * scale, p * scale, 3)
    assert lr_batch.dtype == tf.float32
    for lr, hr in zip(lr_batch.numpy().astype(np.uint8), hr_batch.numpy().astype(np.uint8)):
        found = None
        for image in hrs:
            try:
                found = (image, _locate(image, hr))
                break
            except AssertionError:
                continue
        assert found is not None
        image, (y, x) = found
        assert y % scale == 0 and x % scale == 0  # on the scale grid
        full_lr = imresize(modcrop(image, scale), 1 / scale)
        assert np.array_equal(lr, full_lr[y // scale : y // scale + p, x // scale : x // scale + p])
        # imresize of the HR crop itself agrees away from the crop border (bicubic support: 2 LR pixels).
        own = imresize(hr, 1 / scale).astype(int)
        assert np.abs(own[2:-2, 2:-2] - lr[2:-2, 2:-2].astype(int)).max() <= 1


def test_same_coordinates_same_patches_in_tfdata_and_pydataset(hr_folder, shards):
    scale, p = 2, 5
    py = SRPatchDataset([hr_folder], scale, p, batch_size=8, augment=True, seed=0)
    decoded = {name: (hr, lr) for name, hr, lr in _decoded_records(shards, scale)}
    rng = np.random.default_rng(0)
    for item, path in enumerate(py.source.paths):
        hr, lr = decoded[os.path.basename(path)]
        tops = rng.integers(0, lr.shape[0] - p + 1, 8)
        lefts = rng.integers(0, lr.shape[1] - p + 1, 8)
        augs = np.arange(8)  # every flip/rotation once
        for jit in (False, True):
            tf_lr, tf_hr = reader.crop_patches(lr, hr, tops, lefts, augs, p, scale, jit=jit)
            for k in range(8):
                np_lr, np_hr = py.patch_pair(item, int(tops[k]), int(lefts[k]), int(augs[k]))
                assert np.array_equal(tf_lr[k].numpy().astype(np.float32), np_lr)
                assert np.array_equal(tf_hr[k].numpy().astype(np.float32), np_hr)
                ref_lr, ref_hr = extract_patch_pair(lr, hr, int(tops[k]), int(lefts[k]), int(augs[k]), p, scale)
                assert np.array_equal(tf_hr[k].numpy(), ref_hr) and np.array_equal(tf_lr[k].numpy(), ref_lr)


def _decoded_records(shards, scale):
    for path, _ in schema.shard_paths(schema.read_manifest(shards)):
        for raw in tf.data.TFRecordDataset(path):
            record = schema.parse_example(raw.numpy())
            yield record["name"], record["hr"], record["lr"][scale]


def test_seeded_pipeline_is_deterministic_and_y_only_matches_numpy_luma(shards):
    def batches(seed, **kwargs):
        ds = reader.make_dataset(shards, 2, 4, batch_size=6, seed=seed, patches_per_image=2, shuffle_buffer=16,
                                 **kwargs)
        return [b for _, b in zip(range(2), ds)]

    a, b, c = batches(7), batches(7), batches(8, jit=False)
    assert all(np.array_equal(x[1], y[1]) for x, y in zip(a, b))
    assert not np.array_equal(a[0][1], c[0][1])
    assert a[0][1].shape == (6, 8, 8, 3) and 0 <= float(tf.reduce_min(a[0][0])) and float(tf.reduce_max(a[0][1])) <= 255
    (lr_rgb, hr_rgb), (lr_y, hr_y) = c[0], batches(8, jit=False, y_only=True)[0]
    assert lr_y.shape == (6, 4, 4, 1) and hr_y.shape == (6, 8, 8, 1)
    np.testing.assert_allclose(hr_y.numpy()[..., 0], rgb_to_y(hr_rgb.numpy()), atol=1e-3)
    np.testing.assert_allclose(lr_y.numpy()[..., 0], rgb_to_y(lr_rgb.numpy()), atol=1e-3)
    unseeded = reader.make_dataset(shards, 2, 4, batch_size=6, jit=False, shuffle_buffer=16)
    assert next(iter(unseeded))[1].shape == (6, 8, 8, 3)


def test_validation_stream_matches_load_validation_pairs(hr_folder, shards):
    from_records = load_validation_pairs(shards, 3)
    from_files = load_validation_pairs(hr_folder, 3)
    assert len(from_records) == len(from_files) == 4
    for (lr_a, hr_a), (lr_b, hr_b) in zip(from_records, from_files):
        assert np.array_equal(lr_a, lr_b) and np.array_equal(hr_a, hr_b)
    lr, hr = next(iter(reader.make_validation_dataset(shards, 3, y_only=True)))
    assert lr.shape == (1, 16, 20, 1) and hr.shape == (1, 48, 60, 1)  # im0 is 50x61 -> modcrop 48x60


def test_distribution_sharding(hr_folder, shards):
    hrs = [load_image(os.path.join(hr_folder, f"im{i}.png")) for i in range(4)]

    def images_seen(**kwargs):
        ds = reader.make_dataset(shards, 2, 4, batch_size=1, repeat=False, augment=False, shuffle_buffer=0,
                                 patches_per_image=1, seed=0, jit=False, **kwargs)
        seen = []
        for _, hr in ds:
            patch = hr[0].numpy().astype(np.uint8)
            seen.append(next(i for i, image in enumerate(hrs) if _contains(image, patch)))
        return sorted(seen)

    parts = [images_seen(input_context=tf.distribute.InputContext(2, index, 1)) for index in range(2)]
    assert parts[0] and parts[1] and sorted(parts[0] + parts[1]) == images_seen() == [0, 1, 2, 3]
    ds = reader.make_dataset(shards, 2, 4, batch_size=2, seed=0, jit=False, auto_shard_policy="file", shuffle_buffer=8)
    assert ds.options().experimental_distribute.auto_shard_policy == tf.data.experimental.AutoShardPolicy.FILE
    strategy = tf.distribute.OneDeviceStrategy("/cpu:0")
    lr, hr = next(iter(strategy.experimental_distribute_dataset(ds)))
    assert hr.shape == (2, 8, 8, 3)


def _contains(image, patch):
    try:
        _locate(image, patch)
        return True
    except AssertionError:
        return False
