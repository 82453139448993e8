"""keras_sr.upscale and `keras-sr upscale`: tiling exactness, gray/RGBA/16-bit/EXIF inputs, the CLI."""

import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from conftest import REPO_ROOT


@pytest.fixture(scope="module")
def tiny_edsr():
    from keras_sr import models

    return models.build("edsr", scale=2, variant="baseline", num_blocks=1, filters=8)


@pytest.fixture(scope="module")
def photo():
    from skimage import data

    return data.astronaut()[100:190, 150:267]  # (90, 117, 3) uint8, sides not multiples of the tile


def test_tile_windows_partition_the_image():
    from keras_sr.tiled_inference import tile_windows

    h, w, tile, overlap = 70, 45, 16, 5
    covered = np.zeros((h, w), int)
    for wr, wc, cr, cc in tile_windows(h, w, tile, overlap):
        assert (wr.stop - wr.start, wc.stop - wc.start) == (tile + 2 * overlap, tile + 2 * overlap)
        assert wr.start <= cr.start and cr.stop <= wr.stop and wc.start <= cc.start and cc.stop <= wc.stop
        for lo, core_lo, core_hi, hi, side in ((wr.start, cr.start, cr.stop, wr.stop, h),
                                               (wc.start, cc.start, cc.stop, wc.stop, w)):
            assert core_lo - lo >= overlap or lo == 0
            assert hi - core_hi >= overlap or hi == side
        covered[cr, cc] += 1
    assert (covered == 1).all()


@pytest.mark.parametrize("tile,blend", [(16, "linear"), (25, "linear"), (40, "crop"), (25, "crop")])
def test_tiled_equals_whole_image(tiny_edsr, photo, tile, blend):
    import keras_sr

    x = photo.astype(np.float32)
    whole = keras_sr.upscale(x, tiny_edsr)
    tiled = keras_sr.upscale(x, tiny_edsr, tile=tile, overlap=16, batch=3, blend=blend)
    assert whole.shape == tiled.shape == (180, 234, 3)
    assert np.abs(whole - tiled).max() < 1e-3
    # too little context shows at the seams: the test above can fail
    seams = keras_sr.upscale(x, tiny_edsr, tile=tile, overlap=2, blend=blend)
    assert np.abs(whole - seams).max() > 1.0


def test_y_channel_model_tiled_equals_whole(photo):
    from keras_sr import models
    from keras_sr.tiled_inference import upscale

    espcn = models.build("espcn", scale=3)  # one-channel (Y) model: Cb/Cr by bicubic, tile by tile
    x = photo[:40, :50].astype(np.float32)
    whole = upscale(x, espcn)
    assert whole.shape == (120, 150, 3)
    assert np.abs(whole - upscale(x, espcn, tile=16, overlap=8)).max() < 1e-3


def test_uint8_in_uint8_out_and_scale_check(tiny_edsr, photo):
    from keras_sr.tiled_inference import upscale

    out = upscale(photo, tiny_edsr, tile=32)
    assert out.dtype == np.uint8 and out.shape == (180, 234, 3)
    with pytest.raises(ValueError, match="x2"):
        upscale(photo, tiny_edsr, scale=3)


def test_registered_bicubic_model_matches_bicubic(photo):
    from keras_sr import models
    from keras_sr.imresize import imresize
    from keras_sr.tiled_inference import upscale

    x = photo.astype(np.float32)
    reference = imresize(x.astype(np.float64), 2)
    by_name = upscale(x, "bicubic", scale=2, tile=32, overlap=8)
    by_model = upscale(x, models.build("bicubic", scale=2), tile=32, overlap=8)
    assert np.abs(by_name - reference).max() < 1e-3
    assert np.abs(by_model - reference).max() < 1e-2
    with pytest.raises(ValueError, match="scale"):
        upscale(x, "bicubic")


def test_grayscale_upscaled_as_rgb_returned_gray(tiny_edsr, photo):
    from keras_sr.tiled_inference import upscale

    gray = photo[..., 1]
    out = upscale(gray, tiny_edsr)
    rgb_out = upscale(np.repeat(gray[..., None].astype(np.float32), 3, -1), tiny_edsr)
    assert out.shape == (180, 234) and out.dtype == np.uint8
    assert np.abs(out.astype(np.float32) - rgb_out.mean(-1)).max() <= 0.5 + 1e-3
    assert upscale(gray[..., None], tiny_edsr).shape == (180, 234, 1)


def test_rgba_alpha_is_bicubic(tiny_edsr, photo, rng):
    from keras_sr.imresize import imresize
    from keras_sr.tiled_inference import upscale

    alpha = rng.integers(0, 256, photo.shape[:2], dtype=np.uint8)
    rgba = np.concatenate([photo, alpha[..., None]], -1)
    out = upscale(rgba, tiny_edsr, tile=32)
    assert out.shape == (180, 234, 4) and out.dtype == np.uint8
    np.testing.assert_array_equal(out[..., :3], upscale(photo, tiny_edsr))
    expected_alpha = np.floor(np.clip(imresize(alpha.astype(np.float64), 2), 0, 255) + 0.5)
    np.testing.assert_array_equal(out[..., 3], expected_alpha)


def test_sixteen_bit_keeps_sixteen_bit(photo):
    from keras_sr.imresize import imresize
    from keras_sr.tiled_inference import upscale

    img16 = photo.astype(np.uint16) * 257 + 100  # values between the 8-bit levels
    out = upscale(img16, "bicubic", scale=2, tile=40)
    assert out.dtype == np.uint16 and out.shape == (180, 234, 3)
    expected = np.clip(imresize(img16.astype(np.float64), 2), 0, 65535)
    assert np.abs(out - expected).max() <= 1.0  # not quantized to 8 bits (257 per level)
    assert (out % 257 != 0).mean() > 0.5


def test_sixteen_bit_files_round_trip(tmp_path, photo):
    from keras_sr.tiled_inference import read_image, write_image

    gray16 = photo[..., 0].astype(np.uint16) * 257 + 3
    write_image(tmp_path / "g.png", gray16)
    back = read_image(tmp_path / "g.png")
    assert back.dtype == np.uint16
    np.testing.assert_array_equal(back, gray16)
    rgb16 = photo.astype(np.uint16) * 256 + 7
    write_image(tmp_path / "c.png", rgb16)  # built-in 16-bit PNG encoder; Pillow decodes it to the high byte
    with Image.open(tmp_path / "c.png") as im:
        assert im.size == (117, 90)
        np.testing.assert_array_equal(np.asarray(im.convert("RGB")), photo)


def test_exif_rotation_is_applied(tmp_path, tiny_edsr, photo):
    from keras_sr.image_io import load_image
    from keras_sr.tiled_inference import read_image, upscale

    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise when shown
    path = tmp_path / "phone.png"
    Image.fromarray(photo).save(path, exif=exif)
    img = read_image(path)
    assert img.shape == (117, 90, 3)
    np.testing.assert_array_equal(img, load_image(path))
    assert upscale(str(path), tiny_edsr).shape == (234, 180, 3)


def _folder_of_inputs(root, photo, rng):
    root.mkdir()
    (root / "sub").mkdir()
    Image.fromarray(photo).save(root / "color.png")
    Image.fromarray(photo[..., 0]).save(root / "gray.png")
    alpha = rng.integers(0, 256, photo.shape[:2], dtype=np.uint8)
    Image.fromarray(np.concatenate([photo, alpha[..., None]], -1)).save(root / "sub" / "alpha.png")
    Image.fromarray(photo[..., 2].astype(np.uint16) * 257 + 11).save(root / "deep.png")
    (root / "broken.png").write_bytes(b"not a png at all")


def test_cli_folder_overwrite_and_errors(tmp_path, photo, rng, capsys):
    from keras_sr.cli import main

    src, out = tmp_path / "in", tmp_path / "out"
    _folder_of_inputs(src, photo, rng)
    argv = ["upscale", str(src), "--model", "bicubic", "--scale", "2", "--out", str(out), "--tile", "32"]
    assert main(argv) == 2  # the broken file fails, the others are written
    err = capsys.readouterr().err
    assert "broken.png" in err and "[5/5]" in err
    expected = {"color_x2.png": ("RGB", (234, 180)), "gray_x2.png": ("L", (234, 180)),
                "sub/alpha_x2.png": ("RGBA", (234, 180))}
    for name, (mode, size) in expected.items():
        with Image.open(out / name) as im:
            assert (im.mode, im.size) == (mode, size), name
    with Image.open(out / "deep_x2.png") as im:
        assert im.mode.startswith("I") and np.asarray(im).max() > 255  # still 16-bit
    assert not (out / "broken_x2.png").exists()

    (src / "broken.png").unlink()
    marker = b"keep me"
    (out / "color_x2.png").write_bytes(marker)
    assert main(argv) == 0
    err = capsys.readouterr().err
    assert "--overwrite" in err and "already exist" in err
    assert (out / "color_x2.png").read_bytes() == marker
    assert main(argv + ["--overwrite"]) == 0
    with Image.open(out / "color_x2.png") as im:
        assert im.size == (234, 180)


def test_cli_keras_file_tiled_matches_python(tmp_path, tiny_edsr, photo, capsys):
    from keras_sr.cli import main
    from keras_sr.tiled_inference import upscale

    model_path = tmp_path / "tiny.keras"
    tiny_edsr.save(model_path)
    Image.fromarray(photo).save(tmp_path / "a.png")
    argv = ["upscale", str(tmp_path / "a.png"), "--model", str(model_path), "--out", str(tmp_path / "o"),
            "--tile", "24", "--overlap", "16"]
    assert main(argv) == 0
    with Image.open(tmp_path / "o" / "a_x2.png") as im:
        cli_out = np.asarray(im)
    whole = upscale(photo, tiny_edsr)
    assert np.abs(cli_out.astype(int) - whole.astype(int)).max() <= 1
    assert main(argv + ["--scale", "3"]) == 2
    assert "tiny.keras" in capsys.readouterr().err
    assert main(argv + ["--model", "no_such_model"]) == 2
    assert "no_such_model" in capsys.readouterr().err


def test_cli_missing_input_is_named(tmp_path, capsys):
    from keras_sr.cli import main

    missing = str(tmp_path / "nope.png")
    assert main(["upscale", missing, "--model", "bicubic", "--scale", "2", "--out", str(tmp_path / "o")]) == 2
    assert "nope.png" in capsys.readouterr().err


def test_import_keras_sr_stays_light():
    code = ("import sys, keras_sr; assert 'upscale' in keras_sr.__all__; "
            "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules, 'heavy import'; "
            "assert callable(keras_sr.upscale)")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO_ROOT)


def test_cli_registered_name_with_weights(tmp_path, tiny_edsr, photo):
    from keras_sr.cli import main
    from keras_sr.models.inference import write_model_json
    from keras_sr.tiled_inference import upscale

    run_dir = tmp_path / "run"
    run_dir.mkdir()
    write_model_json(str(run_dir), "edsr", {"scale": 2, "variant": "baseline", "num_blocks": 1, "filters": 8})
    tiny_edsr.save_weights(run_dir / "final.weights.h5")
    Image.fromarray(photo).save(tmp_path / "b.jpg")
    argv = ["upscale", str(tmp_path / "b.jpg"), "--model", "edsr", "--weights", str(run_dir / "final.weights.h5"),
            "--scale", "2", "--out", str(tmp_path / "o"), "--tile", "32", "--blend", "crop"]
    assert main(argv) == 0
    with Image.open(tmp_path / "o" / "b_x2.png") as im:
        out = np.asarray(im)
    from keras_sr.image_io import load_image

    expected = upscale(load_image(tmp_path / "b.jpg"), tiny_edsr)
    assert np.abs(out.astype(int) - expected.astype(int)).max() <= 1
