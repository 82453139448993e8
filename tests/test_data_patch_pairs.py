"""tools.data_aug flows: patch-pair folders and HDF5, sizes and counts for given stride/scales, and reading them."""

import json
import math
import os

import h5py
import numpy as np
import pytest
from PIL import Image

from keras_sr.color import rgb_to_y
from keras_sr.cropping import modcrop
from keras_sr.data import patch_pairs
from keras_sr.data.py_dataset import SRPatchDataset
from keras_sr.image_io import ImageError, load_image
from keras_sr.imresize import imresize
from keras_sr.metrics import to_uint8
from tools import data_aug


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    root = tmp_path_factory.mktemp("hr")
    rng = np.random.default_rng(0)
    for name, (h, w) in {"a": (37, 50), "b": (30, 30)}.items():
        Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(root / f"{name}.png")
    return str(root)


def _expected_count(shapes, factors, scales, rotations, flips, size, stride):
    """Independent count: per image, scale, rotation (swaps sides), flip, factor: windows of modcropped HR."""
    total = {f: 0 for f in factors}
    for h, w in shapes:
        for s in scales:
            hs, ws = (h, w) if s == 1 else (math.ceil(h * s), math.ceil(w * s))
            for r in rotations:
                hr_, wr_ = (ws, hs) if r in (90, 270) else (hs, ws)
                for _ in flips:
                    for f in factors:
                        hm, wm = hr_ - hr_ % f, wr_ - wr_ % f
                        if hm >= size and wm >= size:
                            total[f] += ((hm - size) // stride + 1) * ((wm - size) // stride + 1)
    return total


def test_patch_folders_sizes_and_counts(images, tmp_path):
    out = str(tmp_path / "pairs")
    summary = patch_pairs.write_patch_pairs([images], out, width=12, height=12, stride=6, factors=[2, 3],
                                            scales=[1.0, 0.7], rotations=[0, 90], flips=[0, 1])
    expected = _expected_count([(37, 50), (30, 30)], [2, 3], [1.0, 0.7], [0, 90], [0, 1], 12, 6)
    assert summary["counts"] == {"x2": expected[2], "x3": expected[3]} and expected[2] > 50
    for f in (2, 3):
        lr_files = sorted(os.listdir(os.path.join(out, f"x{f}", "lr")))
        assert lr_files == sorted(os.listdir(os.path.join(out, f"x{f}", "hr"))) and len(lr_files) == expected[f]
        lr = load_image(os.path.join(out, f"x{f}", "lr", lr_files[0]))
        hr = load_image(os.path.join(out, f"x{f}", "hr", lr_files[0]))
        assert hr.shape == (12, 12, 3) and lr.shape == (12 // f, 12 // f, 3)
    with open(os.path.join(out, "patch_pairs.json")) as fh:
        assert json.load(fh)["num_patches"] == sum(expected.values())
    # Content: the unaugmented patch at (6, 12) of image a, x2, is a crop of modcrop + imresize.
    hr_full = modcrop(load_image(os.path.join(images, "a.png")), 2)
    lr_full = imresize(hr_full, 1 / 2)
    name = "a_s1_r0_f0_0006_0012.png"
    assert np.array_equal(load_image(os.path.join(out, "x2", "hr", name)), hr_full[6:18, 12:24])
    assert np.array_equal(load_image(os.path.join(out, "x2", "lr", name)), lr_full[3:9, 6:12])
    flipped = np.ascontiguousarray(load_image(os.path.join(images, "a.png"))[:, ::-1])
    assert np.array_equal(load_image(os.path.join(out, "x2", "hr", "a_s1_r0_f1_0000_0000.png")),
                          modcrop(flipped, 2)[:12, :12])
    # A re-run replaces the previous patches, so counts stay exact.
    again = patch_pairs.write_patch_pairs([images], out, width=12, height=12, stride=12, factors=[2])
    assert len(os.listdir(os.path.join(out, "x2", "hr"))) == again["num_patches"]
    assert not os.path.exists(os.path.join(out, "x3"))


def test_same_size_single_y_with_the_seed_flags(images, tmp_path):
    out = str(tmp_path / "vdsr")
    argv = ["--input", images, "--output", out, "--width", "10", "--height", "10", "--stride", "10",
            "-uf", "2", "3", "--scales", "1.0", "0.5", "--rotations", "0", "90", "180", "270",
            "--flips", "0", "1", "2", "3", "--upsampling", "bicubic", "--single_y", "--same_size"]
    assert data_aug.main(argv) == 0
    expected = _expected_count([(37, 50), (30, 30)], [2, 3], [1.0, 0.5], [0, 90, 180, 270], [0, 1, 2, 3], 10, 10)
    assert len(os.listdir(os.path.join(out, "x3", "lr"))) == expected[3]
    lr = np.asarray(Image.open(os.path.join(out, "x3", "lr", "b_s1_r0_f0_0010_0000.png")))
    hr = np.asarray(Image.open(os.path.join(out, "x3", "hr", "b_s1_r0_f0_0010_0000.png")))
    assert lr.shape == hr.shape == (10, 10)  # Y only, same size
    rgb = modcrop(load_image(os.path.join(images, "b.png")), 3)
    up = imresize(imresize(rgb, 1 / 3), 3)
    assert np.array_equal(hr, to_uint8(rgb_to_y(rgb))[10:20, 0:10])
    assert np.array_equal(lr, to_uint8(rgb_to_y(up))[10:20, 0:10])
    # The PyDataset reads Y patch folders as one channel (y_only required).
    with pytest.raises(ValueError, match="Y only"):
        SRPatchDataset(out, 3, None, 4)
    lr_b, hr_b = SRPatchDataset(out, 3, None, 4, y_only=True, seed=0)[0]
    assert lr_b.shape == hr_b.shape == (4, 10, 10, 1)


def test_hdf5_mixed_and_per_factor(images, tmp_path):
    h5 = str(tmp_path / "train.h5")
    summary = patch_pairs.write_patch_pairs([images], h5, width=8, height=8, stride=8, factors=[2, 4],
                                            same_size=True, use_h5py=True, flips=[0, 3])
    expected = _expected_count([(37, 50), (30, 30)], [2, 4], [1.0], [0], [0, 3], 8, 8)
    with h5py.File(h5, "r") as f:
        assert f["lr"].shape == f["hr"].shape == (expected[2] + expected[4], 8, 8, 3)
        assert f["lr"].dtype == np.uint8
        assert sorted(set(f["scale"][...].tolist())) == [2, 4] and int((f["scale"][...] == 4).sum()) == expected[4]
        assert json.loads(f.attrs["keras_sr_patch_pairs"])["counts"] == summary["counts"]
    ds = SRPatchDataset(h5, 4, None, 3, seed=0)  # only the x4 rows
    assert len(ds.source) == expected[4] and ds.factor == 1
    lr, hr = ds[0]
    assert lr.shape == hr.shape == (3, 8, 8, 3)
    cropped = SRPatchDataset(h5, 2, 4, 3, seed=0)  # random 4x4 crops inside the stored 8x8 pairs
    assert cropped[0][0].shape == (3, 4, 4, 3)

    out_dir = str(tmp_path / "h5dir")
    patch_pairs.write_patch_pairs([images], out_dir, width=8, height=8, stride=4, factors=[2, 4], use_h5py=True)
    with h5py.File(os.path.join(out_dir, "train.h5"), "r") as f:
        assert set(f.keys()) == {"x2", "x4"}
        assert f["x2/lr"].shape[1:] == (4, 4, 3) and f["x4/lr"].shape[1:] == (2, 2, 3)
        assert f["x4/hr"].shape[1:] == (8, 8, 3)
        assert f["x4/lr"].shape[0] == _expected_count([(37, 50), (30, 30)], [4], [1.0], [0], [0], 8, 4)[4]
    ds = SRPatchDataset(os.path.join(out_dir, "train.h5"), 4, None, 2, seed=0)
    lr, hr = ds[0]
    assert lr.shape == (2, 2, 2, 3) and hr.shape == (2, 8, 8, 3) and ds.factor == 4
    with pytest.raises(Exception, match="x3"):
        SRPatchDataset(os.path.join(out_dir, "train.h5"), 3, None, 2)
    assert not [n for n in os.listdir(out_dir) if n.endswith(".tmp.h5")]  # written atomically


def test_bad_inputs(images, tmp_path):
    with pytest.raises(ValueError, match="--width 41 is not a multiple of -uf 2"):
        patch_pairs.write_patch_pairs([images], str(tmp_path / "o"), width=41, height=41, stride=41, factors=[2])
    small = tmp_path / "small"
    small.mkdir()
    Image.fromarray(np.zeros((9, 40, 3), np.uint8)).save(small / "tiny.png")
    Image.fromarray(np.full((20, 20, 3), 9, np.uint8)).save(small / "ok.png")
    with pytest.raises(ImageError, match=r"tiny\.png: image is 40x9, too small"):
        patch_pairs.write_patch_pairs([str(small)], str(tmp_path / "o"), width=10, height=10, stride=10, factors=[2])
    summary = patch_pairs.write_patch_pairs([str(small)], str(tmp_path / "o"), width=10, height=10, stride=10,
                                            factors=[2], skip_small=True)
    assert summary["num_patches"] == 4 and len(summary["skipped"]) == 1
    (small / "zero.png").write_bytes(b"")
    with pytest.raises(ImageError, match=r"zero\.png: empty file"):
        patch_pairs.write_patch_pairs([str(small)], str(tmp_path / "o2"), width=10, height=10, stride=10,
                                      factors=[2], skip_small=True)
    empty = tmp_path / "empty"
    empty.mkdir()
    assert data_aug.main(["--input", str(empty), "--output", str(tmp_path / "o3")]) == 2
