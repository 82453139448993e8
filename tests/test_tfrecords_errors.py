"""Bad inputs for the TFRecord writer and reader: corrupt records, bad files, small images, missing scales."""

import json
import os
import shutil
import struct

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from keras_sr.data.sources import ImageTooSmall
from keras_sr.image_io import ImageError, load_image
from keras_sr.tfrecords import reader, schema, writer
from tools import make_tfrecords

FAST = dict(jit=False, shuffle_buffer=4, patches_per_image=1)


def _folder(root, sizes, seed=0):
    os.makedirs(root, exist_ok=True)
    rng = np.random.default_rng(seed)
    for i, size in enumerate(sizes):
        Image.fromarray(rng.integers(0, 256, size + (3,), dtype=np.uint8)).save(os.path.join(root, f"im{i}.png"))
    return root


@pytest.fixture(scope="module")
def one_shard(tmp_path_factory):
    """Four records in one shard: `(folder, shard path, record byte offsets)`."""
    root = tmp_path_factory.mktemp("one")
    out = str(root / "shards")
    writer.write_shards([_folder(str(root / "hr"), [(24, 28)] * 4)], out, scales=[2])
    shard = os.path.join(out, "train-00000.tfrecord")
    data, offsets, at = open(shard, "rb").read(), [], 0
    while at < len(data):
        (length,) = struct.unpack("<Q", data[at : at + 8])
        offsets.append(at)
        at += 8 + 4 + length + 4
    assert len(offsets) == 4
    return out, shard, offsets


def _corrupt_copy(one_shard, dest, keep_manifest=True):
    out, shard, offsets = one_shard
    shutil.copytree(out, dest)
    if not keep_manifest:
        os.remove(os.path.join(dest, "manifest.json"))
    path = os.path.join(dest, "train-00000.tfrecord")
    data = bytearray(open(path, "rb").read())
    data[offsets[2] + 8 + 4 + 40] ^= 0xFF  # one flipped byte inside record 2's payload: its CRC fails
    open(path, "wb").write(bytes(data))
    return dest, path


def test_corrupt_record_error_names_shard_and_index(one_shard, tmp_path):
    folder, path = _corrupt_copy(one_shard, str(tmp_path / "bad"))
    with pytest.raises(tf.errors.InvalidArgumentError, match=rf"{path}.*\[record\] \[2\] \[is corrupt or truncated"):
        next(iter(reader.make_dataset(folder, 2, 4, batch_size=2, **FAST)))
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"\[record\] \[2\]"):
        list(reader.make_validation_dataset(folder, 2))


def test_corrupt_record_skipped_and_counted(one_shard, tmp_path, capfd):
    folder, path = _corrupt_copy(one_shard, str(tmp_path / "bad"))
    stats = reader.ReaderStats()
    ds = reader.make_dataset(folder, 2, 4, batch_size=2, skip_corrupt=True, stats=stats, repeat=False, **FAST)
    batches = list(ds)
    assert len(batches) == 1  # records 0 and 1 survive; TFRecord framing cannot resume after record 2
    assert stats.skipped == 2
    assert "skipped 2 record(s) of shard" in capfd.readouterr().err


def test_corrupt_shard_without_manifest(one_shard, tmp_path):
    folder, path = _corrupt_copy(one_shard, str(tmp_path / "bare"), keep_manifest=False)
    pattern = os.path.join(folder, "*.tfrecord")
    with pytest.raises(schema.SchemaError, match=rf"{path}: record 2 is corrupt or truncated"):
        reader.make_dataset(pattern, 2, 4, batch_size=2, **FAST)
    stats = reader.ReaderStats()
    ds = reader.make_dataset(pattern, 2, 4, batch_size=2, skip_corrupt=True, stats=stats, repeat=False, **FAST)
    assert len(list(ds)) == 1 and stats.skipped == 1 and stats.notes and path in stats.notes[0]


def test_undecodable_record_with_valid_crc(tmp_path):
    good = np.zeros((12, 12, 3), np.uint8)
    lr = (schema.encode_png(good[:6, :6]), 6, 6)
    path = str(tmp_path / "mixed.tfrecord")
    with tf.io.TFRecordWriter(path) as w:
        w.write(schema.build_example("a.png", schema.encode_png(good), good.shape, {2: lr}))
        w.write(schema.build_example("b.png", b"\x89PNG not really", good.shape, {2: lr}))
        w.write(schema.build_example("c.png", schema.encode_png(good), good.shape, {2: lr}))
    message = r"mixed\.tfrecord\] \[record\] \[1\] \[is corrupt \(cannot"
    with pytest.raises(tf.errors.InvalidArgumentError, match=message):
        next(iter(reader.make_dataset(path, 2, 4, batch_size=1, **FAST)))
    stats = reader.ReaderStats()
    batches = list(reader.make_dataset(path, 2, 4, batch_size=1, skip_corrupt=True, stats=stats, repeat=False,
                                       **FAST))
    assert len(batches) == 2 and stats.skipped == 1


def test_missing_scale(one_shard, tmp_path):
    out, shard, _ = one_shard
    with pytest.raises(schema.SchemaError, match=r"manifest\.json: no LR images for x3 .*stored scales: \[2\]"):
        reader.make_dataset(out, 3, 4, batch_size=2)
    bare = tmp_path / "bare"
    bare.mkdir()
    shutil.copy(shard, bare)
    with pytest.raises(schema.SchemaError, match=r"train-00000\.tfrecord: no LR images for x4 .*\[2\]"):
        reader.make_dataset(str(bare / "*.tfrecord"), 4, 4, batch_size=2)
    with pytest.raises(schema.SchemaError, match="no TFRecord shards found"):
        reader.make_dataset(str(tmp_path / "none-*.tfrecord"), 2, 4, batch_size=2)
    partial = shutil.copytree(out, str(tmp_path / "partial"))
    os.remove(os.path.join(partial, "train-00000.tfrecord"))
    with pytest.raises(schema.SchemaError, match=r"1 shard\(s\) listed in the manifest are missing"):
        reader.make_dataset(partial, 2, 4, batch_size=2)


def test_image_smaller_than_patch_in_shards(tmp_path):
    folder = _folder(str(tmp_path / "hr"), [(30, 30), (30, 10), (26, 24)])
    out = str(tmp_path / "s")
    writer.write_shards([folder], out, scales=[2])
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"\[image\] \[im1\.png\] \[has LR size\] \[15 5\]"):
        next(iter(reader.make_dataset(out, 2, 6, batch_size=2, seed=0, **FAST)))
    stats = reader.ReaderStats()
    ds = reader.make_dataset(out, 2, 6, batch_size=2, skip_small=True, stats=stats, repeat=False, seed=0, **FAST)
    assert len(list(ds)) == 1 and stats.skipped_small == 1


def test_writer_bad_files_error_or_skip(tmp_path):
    folder = _folder(str(tmp_path / "hr"), [(20, 20)])
    (tmp_path / "hr" / "zero.png").write_bytes(b"")
    with pytest.raises(ImageError, match=r"zero\.png: empty file \(0 bytes\)"):
        writer.write_shards([folder], str(tmp_path / "a"), scales=[2])
    (tmp_path / "hr" / "junk.jpg").write_bytes(b"not an image")
    manifest = writer.write_shards([folder], str(tmp_path / "b"), scales=[2], skip_unreadable=True)
    assert manifest["num_records"] == 1 and len(manifest["skipped"]) == 2
    assert {os.path.basename(s["name"]) for s in manifest["skipped"]} == {"zero.png", "junk.jpg"}
    os.remove(tmp_path / "hr" / "zero.png")
    os.remove(tmp_path / "hr" / "junk.jpg")
    Image.fromarray(np.zeros((7, 30, 3), np.uint8)).save(tmp_path / "hr" / "thin.png")
    with pytest.raises(ImageTooSmall, match=r"thin\.png: image is 30x7, too small"):
        writer.write_shards([folder], str(tmp_path / "c"), scales=[2], min_size=8)
    manifest = writer.write_shards([folder], str(tmp_path / "c"), scales=[2], min_size=8, skip_small=True)
    assert manifest["num_records"] == 1 and "thin.png" in manifest["skipped"][0]["reason"]
    (tmp_path / "empty").mkdir()
    with pytest.raises(ImageError, match="no images found"):
        writer.write_shards([str(tmp_path / "empty")], str(tmp_path / "d"), scales=[2])
    assert not os.path.exists(tmp_path / "a" / "manifest.json")  # a failed run leaves no manifest


def test_grayscale_rgba_16bit_are_stored_as_rgb(tmp_path):
    folder = tmp_path / "odd"
    folder.mkdir()
    rng = np.random.default_rng(1)
    gray = rng.integers(0, 256, (16, 18), dtype=np.uint8)
    Image.fromarray(gray, mode="L").save(folder / "g.png")
    Image.fromarray(rng.integers(0, 256, (16, 18, 4), dtype=np.uint8), mode="RGBA").save(folder / "r.png")
    Image.fromarray(gray.astype(np.uint16) * 257).save(folder / "w.png")
    manifest = writer.write_shards([str(folder)], str(tmp_path / "s"), scales=[2])
    records = [schema.parse_example(r.numpy()) for p, _ in schema.shard_paths(manifest)
               for r in tf.data.TFRecordDataset(p)]
    for record in records:
        expected = load_image(str(folder / record["name"]))
        assert record["hr"].shape == (16, 18, 3) and np.array_equal(record["hr"], expected)
    assert np.array_equal(records[0]["hr"][..., 1], gray) and np.array_equal(records[2]["hr"][..., 2], gray)


def test_manifest_checks(tmp_path):
    (tmp_path / "manifest.json").write_text(json.dumps({"format": "other"}))
    with pytest.raises(schema.SchemaError, match="not a keras-sr TFRecord manifest"):
        schema.read_manifest(str(tmp_path))
    (tmp_path / "manifest.json").write_text(json.dumps({"format": schema.FORMAT, "schema_version": 99}))
    with pytest.raises(schema.SchemaError, match="schema version 99 is not supported"):
        schema.read_manifest(str(tmp_path / "manifest.json"))
    with pytest.raises(schema.SchemaError, match="manifest not found"):
        schema.read_manifest(str(tmp_path / "nowhere"))


def test_cli(tmp_path, capsys):
    folder = _folder(str(tmp_path / "hr"), [(20, 24), (21, 22)])
    out = str(tmp_path / "s")
    assert make_tfrecords.main(["--hr", folder, "--scale", "2", "3", "--out", out, "--shard-mb", "1",
                                "--workers", "1"]) == 0
    assert "2 records, 1 shard(s), scales [2, 3]" in capsys.readouterr().out
    assert make_tfrecords.main(["--hr", str(tmp_path / "missing"), "--scale", "2", "--out", out]) == 2
    assert "missing: folder or file not found" in capsys.readouterr().err
