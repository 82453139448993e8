"""keras_sr.data.reference_sources: every spec (cufed5:K, self-lr, pairs:FILE, synthetic[:SEED], tfrecord[:K]) and its errors."""

import numpy as np
import pytest
from PIL import Image

from keras_sr.data.reference_sources import (CUFED5Source, PairsSource, ReferenceSourceError, SelfLRSource,
                                             SyntheticReferenceSource, open_reference_source, read_pairs)
from keras_sr.image_io import ImageError, load_image


@pytest.fixture(scope="module")
def photo():
    from skimage import data

    return data.astronaut()


def crop(photo, i, size=(40, 44)):
    return np.ascontiguousarray(photo[30 * i:30 * i + size[0], 20 * i:20 * i + size[1]])


@pytest.fixture
def cufed5(tmp_path, photo):
    folder = tmp_path / "CUFED5"
    folder.mkdir()
    for group in ("000", "001"):
        for level in range(6):
            Image.fromarray(crop(photo, int(group) * 6 + level)).save(folder / f"{group}_{level}.png")
    return folder


@pytest.fixture
def hr_folder(tmp_path, photo):
    folder = tmp_path / "Tiny" / "HR"
    folder.mkdir(parents=True)
    for i in range(3):
        Image.fromarray(crop(photo, i)).save(folder / f"img{i}.png")
    return folder


def test_cufed5_levels(cufed5):
    source = open_reference_source("cufed5:3", str(cufed5))
    assert isinstance(source, CUFED5Source)
    assert len(source) == 2 and source.label == "CUFED5 (ref 3)" and source.lr_method == "pil"
    assert [source.name(i) for i in range(2)] == ["000_0.png", "001_0.png"]
    np.testing.assert_array_equal(source.hr(1), load_image(cufed5 / "001_0.png"))
    np.testing.assert_array_equal(source.reference(1), load_image(cufed5 / "001_3.png"))
    level1 = open_reference_source("cufed5:1", [str(cufed5)])
    np.testing.assert_array_equal(level1.reference(0), load_image(cufed5 / "000_1.png"))
    assert not np.array_equal(level1.reference(0), source.reference(0))
    with pytest.raises(IndexError):
        source.hr(2)


def test_cufed5_errors(cufed5, tmp_path):
    (cufed5 / "001_4.png").unlink()
    with pytest.raises(ReferenceSourceError, match=r"001_0\.png: CUFED5 group '001' has no level-4 reference"):
        open_reference_source("cufed5:4", cufed5)
    open_reference_source("cufed5:5", cufed5)  # other levels still fine
    (cufed5 / "000_0.png").unlink()
    with pytest.raises(ReferenceSourceError, match=r"000_0\.png: HR image of CUFED5 group '000' is missing"):
        open_reference_source("cufed5:1", cufed5)
    with pytest.raises(ReferenceSourceError, match="level must be 1..5"):
        open_reference_source("cufed5:7", cufed5)
    with pytest.raises(ReferenceSourceError, match="must be an integer"):
        open_reference_source("cufed5:one", cufed5)
    with pytest.raises(ReferenceSourceError, match="give the CUFED5 level"):
        open_reference_source("cufed5", cufed5)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ImageError, match=str(empty)):
        open_reference_source("cufed5:1", empty)
    Image.fromarray(np.zeros((20, 20, 3), np.uint8)).save(empty / "photo.png")
    with pytest.raises(ReferenceSourceError, match=f"{empty}: no CUFED5 groups"):
        open_reference_source("cufed5:1", empty)


def test_self_lr(hr_folder):
    source = open_reference_source("self-lr", str(hr_folder))
    assert isinstance(source, SelfLRSource) and source.needs_lr
    assert len(source) == 3 and source.label == "Tiny (LR ref)" and source.lr_method == "matlab"
    lr = np.arange(10 * 11 * 3, dtype=np.uint8).reshape(10, 11, 3)
    np.testing.assert_array_equal(source.reference(0, lr=lr), lr)
    with pytest.raises(ReferenceSourceError, match=r"img0\.png: the self-lr reference is the LR image"):
        source.reference(0)
    with pytest.raises(ReferenceSourceError, match="needs image folder"):
        open_reference_source("self-lr")


def test_synthetic_is_seeded_per_image(hr_folder):
    a = open_reference_source("synthetic:3", str(hr_folder))
    b = open_reference_source("synthetic:3", [str(hr_folder)])
    c = open_reference_source("synthetic:4", str(hr_folder))
    assert isinstance(a, SyntheticReferenceSource) and a.label == "Tiny (synthetic ref, seed 3)"
    assert open_reference_source("synthetic", str(hr_folder)).seed == 0
    refs = [a.reference(i) for i in range(3)]
    for i, ref in enumerate(refs):
        assert ref.shape == a.hr(i).shape and ref.dtype == np.uint8
        np.testing.assert_array_equal(ref, b.reference(i))
    assert not np.array_equal(a.reference(1), c.reference(1))
    assert not np.array_equal(refs[0], a.hr(0))  # a real view, not a copy
    # the returned homography is the view's: the reference centre lands near the image centre (shift <= 1/4)
    _, transform = a.reference_and_transform(0)
    centre = transform @ np.array([21.5, 19.5, 1.0])
    assert abs(centre[0] / centre[2] - 21.5) <= 0.25 * 44 + 1e-6 and abs(centre[1] / centre[2] - 19.5) <= 0.25 * 40 + 1e-6


def test_pairs_file(tmp_path, hr_folder, cufed5):
    folder = tmp_path / "bench" / "Set"
    folder.mkdir(parents=True)
    text = ("# dataset: MySet\n# reference: warped ref\n"
            f"../../Tiny/HR/img0.png {cufed5}/000_2.png  # absolute ref path\n\n"
            "'../../Tiny/HR/img2.png' ../../CUFED5/001_5.png\n")
    (folder / "relevant.txt").write_text(text)
    source = open_reference_source(f"pairs:{folder / 'relevant.txt'}")
    assert isinstance(source, PairsSource)
    assert len(source) == 2 and source.label == "MySet (warped ref)" and source.dataset == "MySet"
    assert [source.name(i) for i in range(2)] == ["img0.png", "img2.png"]
    np.testing.assert_array_equal(source.hr(1), load_image(hr_folder / "img2.png"))
    np.testing.assert_array_equal(source.reference(1), load_image(cufed5 / "001_5.png"))
    # without metadata comments: dataset = the file's folder, label = the file's stem
    (folder / "other.txt").write_text("../../Tiny/HR/img1.png ../../Tiny/HR/img0.png\n")
    assert open_reference_source(f"pairs:{folder / 'other.txt'}").label == "Set (other)"


def test_pairs_errors(tmp_path, hr_folder):
    path = tmp_path / "pairs.txt"
    with pytest.raises(ReferenceSourceError, match=f"{path}: pairs file not found"):
        open_reference_source(f"pairs:{path}")
    path.write_text("# only a comment\n")
    with pytest.raises(ReferenceSourceError, match=f"{path}: no pairs"):
        read_pairs(path)
    path.write_text(f"{hr_folder}/img0.png {hr_folder}/img1.png\n{hr_folder}/img1.png\n")
    with pytest.raises(ReferenceSourceError, match=f"{path}:2: expected 2 or more columns `hr_path ref_path"):
        read_pairs(path)
    path.write_text(f"{hr_folder}/img0.png {hr_folder}/img1.png extra\n")  # a third column is a second reference
    with pytest.raises(ReferenceSourceError, match=rf"{path}:1: image 'extra' not found"):
        read_pairs(path)
    path.write_text(f"{hr_folder}/img0.png missing_ref.png\n")
    with pytest.raises(ReferenceSourceError, match=rf"{path}:1: image 'missing_ref.png' not found"):
        read_pairs(path)
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not a png at all")
    path.write_text(f"{hr_folder}/img0.png broken.png\n")
    source = open_reference_source(f"pairs:{path}")
    with pytest.raises(ImageError, match=str(broken)):
        source.reference(0)
    with pytest.raises(ReferenceSourceError, match="give the pairs file"):
        open_reference_source("pairs:")


def test_unknown_spec():
    with pytest.raises(ReferenceSourceError, match="unknown reference source 'cufed:1'.*cufed5:K, self-lr"):
        open_reference_source("cufed:1", "x")


def test_tfrecord_source(tmp_path, hr_folder, photo):
    from keras_sr.tfrecords.writer import write_shards

    ref_dir = tmp_path / "refs"
    ref_dir.mkdir()
    refs = {"img0": [crop(photo, 5), crop(photo, 6)], "img1": [crop(photo, 7)]}
    for stem, images in refs.items():
        for k, image in enumerate(images):
            Image.fromarray(image).save(ref_dir / f"{stem}_{k}.png")
    out = tmp_path / "shards"
    write_shards([str(hr_folder)], str(out), [4], ref_dir=str(ref_dir))
    source = open_reference_source("tfrecord:1", str(out))
    assert len(source) == 3 and source.label == "shards (ref 1)"
    names = [source.name(i) for i in range(3)]
    assert names == ["img0.png", "img1.png", "img2.png"]
    np.testing.assert_array_equal(source.hr(1), load_image(hr_folder / "img1.png"))
    np.testing.assert_array_equal(source.reference(0), refs["img0"][0])
    np.testing.assert_array_equal(source.reference(1), refs["img1"][0])
    second = open_reference_source("tfrecord:2", [str(out)])
    np.testing.assert_array_equal(second.reference(0), refs["img0"][1])
    with pytest.raises(ReferenceSourceError, match=r"record 1 \(img1.png\) has 1 reference\(s\), reference 2 asked"):
        second.reference(1)
    with pytest.raises(ReferenceSourceError, match="img2.png.*has 0 reference"):
        source.reference(2)
