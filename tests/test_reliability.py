"""Nothing lost, nothing blown up (issue #25): each case is built here and checked end to end.

* a run whose newest checkpoint is cut short resumes from the newest intact one, the damaged file kept aside;
* data errors (corrupt image, corrupt TFRecord record, missing manifest shard, HDF5 without the datasets)
  reach the user as one line naming the file, from every entry point, and `--skip-corrupt` exists;
* upscaling streams row bands to the output file: bit-identical to the in-memory tiled result, and a large
  image fits under an address-space limit that the in-memory path exceeds.
"""

import os
import subprocess
import sys

import numpy as np
import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _truncate(path, fraction=0.5):
    size = os.path.getsize(path)
    with open(path, "r+b") as f:
        f.truncate(int(size * fraction))


# --------------------------------------------------------------------------- checkpoints


def _tiny_compiled_model():
    import keras

    inputs = keras.Input((4, 4, 3))
    model = keras.Model(inputs, keras.layers.Conv2D(3, 3, padding="same", name="conv")(inputs))
    model.compile(keras.optimizers.Adam(1e-3), "mae")
    return model


def _three_checkpoints(folder):
    """A manager with checkpoints at steps 1, 2, 3 (weights differ by step) and a best; returns (manager, weights)."""
    from keras_sr.training.checkpoint import CheckpointManager

    model = _tiny_compiled_model()
    manager = CheckpointManager(folder, keep=3)
    saved = {}
    x = np.ones((2, 4, 4, 3), "float32")
    for step in (1, 2, 3):
        model.train_on_batch(x, x * step)
        manager.save(model, step)
        saved[step] = [w.copy() for w in model.get_weights()]
    manager.update_best(model, 3, 30.0)
    return manager, saved


def test_resume_walks_back_past_a_damaged_checkpoint(tmp_path):
    from keras_sr.training.checkpoint import CheckpointManager

    folder = str(tmp_path / "run" / "checkpoints")
    _, saved = _three_checkpoints(folder)
    newest = os.path.join(folder, "ckpt-00000003.weights.h5")
    _truncate(newest)
    _truncate(os.path.join(folder, "best.weights.h5"))

    lines = []
    manager = CheckpointManager(folder, keep=3)
    model = _tiny_compiled_model()
    step = manager.restore_latest(model, log=lines.append)
    assert step == 2
    for got, want in zip(model.get_weights(), saved[2]):
        np.testing.assert_array_equal(got, want)
    # kept aside, never deleted; one line naming each damaged file; the index forgets them
    assert not os.path.exists(newest) and os.path.isfile(newest + ".damaged")
    assert os.path.isfile(os.path.join(folder, "best.weights.h5.damaged"))
    damaged_lines = [line for line in lines if "damaged" in line]
    assert any(newest in line and "\n" not in line for line in damaged_lines), lines
    assert any("best.weights.h5" in line for line in damaged_lines), lines
    assert manager.latest_path().endswith("ckpt-00000002.weights.h5") and manager.index["best"] is None
    assert CheckpointManager(folder).steps == [1, 2]


def test_resume_stops_with_one_line_when_no_checkpoint_loads(tmp_path):
    from keras_sr.training.checkpoint import CheckpointError, CheckpointManager

    folder = str(tmp_path / "run" / "checkpoints")
    _three_checkpoints(folder)
    for step in (1, 2, 3):
        _truncate(os.path.join(folder, f"ckpt-{step:08d}.weights.h5"), 0.3)
    with pytest.raises(CheckpointError) as err:
        CheckpointManager(folder).restore_latest(_tiny_compiled_model(), log=lambda _: None)
    message = str(err.value)
    assert str(tmp_path / "run") in message and "\n" not in message and "no checkpoint can be loaded" in message
    assert sorted(n for n in os.listdir(folder) if n.endswith(".damaged")) == [
        f"ckpt-{s:08d}.weights.h5.damaged" for s in (1, 2, 3)]


def test_an_intact_checkpoint_of_another_model_is_not_set_aside(tmp_path):
    import keras

    from keras_sr.training.checkpoint import CheckpointError, CheckpointManager

    folder = str(tmp_path / "run" / "checkpoints")
    _three_checkpoints(folder)
    inputs = keras.Input((4, 4, 3))
    other = keras.Model(inputs, keras.layers.Conv2D(3, 5, padding="same", name="conv")(inputs))
    other.compile(keras.optimizers.Adam(1e-3), "mae")
    with pytest.raises(CheckpointError, match="ckpt-00000003.weights.h5: intact but does not load"):
        CheckpointManager(folder).restore_latest(other, log=lambda _: None)
    assert not any(n.endswith(".damaged") for n in os.listdir(folder))


def test_recipe_resumes_past_a_damaged_checkpoint(tmp_path, tiny_photos, capsys):
    """`python -m recipes.edsr --resume --out RUN` with the newest checkpoint cut to half its size (issue case 1)."""
    import json

    from keras_sr.recipes import edsr

    train_dir, val_dir = tiny_photos
    out = str(tmp_path / "run")
    common = ["--scale", "2", "--data", train_dir, "--val-data", val_dir, "--out", out, "--num-blocks", "1",
              "--filters", "4", "--patch-size", "6", "--batch-size", "2", "--steps-per-epoch", "2",
              "--checkpoint-every", "2", "--val-every", "100", "--strategy", "none", "--no-export", "--quiet",
              "--jit-compile", "off", "--init", "scratch"]
    assert edsr.main([*common, "--steps", "6"]) == 0
    folder = os.path.join(out, "checkpoints")
    assert sorted(n for n in os.listdir(folder) if n.startswith("ckpt-")) == [
        "ckpt-00000002.weights.h5", "ckpt-00000004.weights.h5", "ckpt-00000006.weights.h5"]
    _truncate(os.path.join(folder, "ckpt-00000006.weights.h5"))
    capsys.readouterr()
    assert edsr.main([*common, "--steps", "8", "--resume"]) == 0
    printed = capsys.readouterr().out
    assert "ckpt-00000006.weights.h5 is damaged" in printed and "kept as ckpt-00000006.weights.h5.damaged" in printed
    assert os.path.isfile(os.path.join(folder, "ckpt-00000006.weights.h5.damaged"))
    with open(os.path.join(out, "summary.json")) as f:
        summary = json.load(f)
    assert summary["resumed_from"] == 4 and summary["steps"] == 8

    for name in os.listdir(folder):  # 4, 6, 8 (keep 3): all cut short; the first 6.damaged is kept as it was
        if name.startswith("ckpt-") and name.endswith(".h5"):
            _truncate(os.path.join(folder, name), 0.2)
    assert edsr.main([*common, "--steps", "10", "--resume"]) == 2
    error = capsys.readouterr().err.strip().splitlines()
    assert error == [f"error: {os.path.abspath(out)}: no checkpoint can be loaded (3 damaged, kept as {folder}/"
                     "*.damaged); nothing to resume from"]
    assert os.path.isfile(os.path.join(folder, "ckpt-00000006.weights.h5.damaged-2"))


def test_gan_checkpoint_set_walks_back(tmp_path):
    """The GAN / RefSR trainers' checkpoints (both networks and optimizers in one file) resume through the same
    `CheckpointManager.restore(load, step)` as `train_gan` / `train_refsr` call it."""
    import keras

    from keras_sr.training.checkpoint import CheckpointManager
    from keras_sr.training.gan import GANNetworks

    def networks():
        generator, discriminator = _tiny_compiled_model(), _tiny_compiled_model()
        g_opt, d_opt = keras.optimizers.Adam(1e-3), keras.optimizers.Adam(1e-3)
        g_opt.build(generator.trainable_variables)
        d_opt.build(discriminator.trainable_variables)
        return GANNetworks(generator, discriminator, g_opt, d_opt)

    folder = str(tmp_path / "gan" / "checkpoints")
    nets = networks()
    manager = CheckpointManager(folder, keep=3)
    for step in (2, 4):
        nets.g_optimizer.iterations.assign(step)
        nets.generator.set_weights([w + 1 for w in nets.generator.get_weights()])
        manager.save(nets, step)
    newest = os.path.join(folder, "ckpt-00000004.weights.h5")
    _truncate(newest)
    lines = []
    fresh = networks()
    assert CheckpointManager(folder).restore(fresh.load_weights, lambda: fresh.step, lines.append) == 2
    assert os.path.isfile(newest + ".damaged")
    assert lines[0].startswith(f"checkpoint {newest} is damaged (")
    assert "kept as ckpt-00000004.weights.h5.damaged" in lines[0]


# --------------------------------------------------------------------------- upscaling in bounded memory


@pytest.fixture(scope="module")
def tiny_rgb_x2():
    from keras_sr import models

    return models.build("espcn", scale=2, channels=3, filters=(8, 4))


def _streamed(image, runner, **kwargs):
    from keras_sr.streamed_upscale import iter_upscaled_rows

    parts = list(iter_upscaled_rows(image, runner, **kwargs))
    assert [p[0] for p in parts] == list(np.cumsum([0] + [len(p[1]) for p in parts[:-1]]))
    return np.concatenate([p[1] for p in parts])


def test_streamed_rows_equal_the_in_memory_tiled_result(tiny_rgb_x2, natural_image):
    """Bit for bit, for every layout and both blends, with batches that cross tile rows."""
    from keras_sr.tiled_inference import _Runner, upscale

    runner = _Runner(tiny_rgb_x2)
    rgb = natural_image[100:250, 150:340]
    layouts = [rgb, rgb[..., 0], np.dstack([rgb, rgb[..., 1]]), np.dstack([rgb[..., 0], rgb[..., 2]]),
               rgb[..., :1], rgb[..., 0].astype(np.uint16) * 257 + 3]
    for kwargs in (dict(tile=40, batch=4), dict(tile=32, overlap=8, batch=3, blend="crop"), dict(tile=50, batch=7)):
        for image in layouts:
            expected = upscale(image, runner, **kwargs)
            got = _streamed(image, runner, **kwargs)
            assert got.dtype == expected.dtype and got.shape == expected.shape
            np.testing.assert_array_equal(got, expected, err_msg=f"{image.shape} {image.dtype} {kwargs}")


def test_upscale_to_file_writes_the_tiled_result(tiny_rgb_x2, natural_image, tmp_path):
    from PIL import Image

    from keras_sr.streamed_upscale import upscale_to_file
    from keras_sr.tiled_inference import upscale

    rgb = natural_image[:120, :150]
    info = upscale_to_file(rgb, str(tmp_path / "a.png"), tiny_rgb_x2, tile=48, batch=2)
    assert info["shape"] == (240, 300, 3) and info["tile"] == 48
    np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / "a.png")), upscale(rgb, tiny_rgb_x2, tile=48,
                                                                                       batch=2))
    gray16 = rgb[..., 1].astype(np.uint16) * 250
    upscale_to_file(gray16, str(tmp_path / "g.png"), "bicubic", scale=2, tile=40)
    decoded = np.asarray(Image.open(tmp_path / "g.png"))
    np.testing.assert_array_equal(decoded, upscale(gray16, "bicubic", scale=2, tile=40))
    # a small image under "auto" runs whole, as before
    info = upscale_to_file(rgb[:40, :40], str(tmp_path / "s.png"), tiny_rgb_x2, tile="auto", max_memory="1G")
    assert info["tile"] is None
    np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / "s.png")), upscale(rgb[:40, :40], tiny_rgb_x2))


def test_png_row_writer_layouts_and_missing_rows(tmp_path):
    from PIL import Image

    from keras_sr.png_stream import PNGRowWriter

    rng = np.random.default_rng(0)
    smooth = np.cumsum(rng.integers(0, 3, (37, 41, 4)), axis=1).astype(np.uint8)  # exercises every filter
    for image in (smooth[..., :3], smooth[..., 0], smooth[..., :2], smooth, smooth[..., 0].astype(np.uint16) * 300,
                  smooth[..., :3].astype(np.uint16) * 257):
        path = str(tmp_path / f"{image.ndim}_{image.shape[-1]}_{image.dtype}.png")
        channels = 1 if image.ndim == 2 else image.shape[-1]
        with PNGRowWriter(path, image.shape[1], image.shape[0], channels, image.dtype) as png:
            for start in range(0, image.shape[0], 10):
                png.write_rows(image[start:start + 10])
        decoded = np.asarray(Image.open(path))
        # Pillow decodes 16-bit RGB to 8 bits by the high byte
        expected = (image >> 8).astype(np.uint8) if image.dtype == np.uint16 and image.ndim == 3 else image
        np.testing.assert_array_equal(decoded, expected)
    path = str(tmp_path / "short.png")
    with pytest.raises(ValueError, match="short.png: 10 of 37 rows written"):
        with PNGRowWriter(path, 41, 37, 3) as png:
            png.write_rows(smooth[:10, :, :3])
    assert not os.path.exists(path) and not [n for n in os.listdir(tmp_path) if n.startswith(".short")]


def test_tiff_row_writer_layouts_and_missing_rows(tmp_path):
    """Every layout read back by tifffile (an independent reader) and, where Pillow has the mode, by Pillow."""
    import tifffile
    from PIL import Image

    from keras_sr.tiff_stream import TIFFRowWriter

    rng = np.random.default_rng(1)
    for channels in (1, 2, 3, 4):
        for dtype in (np.uint8, np.uint16):
            image = rng.integers(0, np.iinfo(dtype).max + 1, (37, 41, channels)).astype(dtype)
            path = str(tmp_path / f"{channels}_{np.dtype(dtype).name}.tif")
            with TIFFRowWriter(path, 41, 37, channels, dtype, rows_per_strip=8) as tif:
                for start in range(0, 37, 10):  # bands that do not line up with the strips
                    tif.write_rows(image[start:start + 10, :, 0] if channels == 1 else image[start:start + 10])
            with tifffile.TiffFile(path) as f:
                page = f.pages[0]
                assert page.compression == 1 and page.rowsperstrip == 8
                decoded = page.asarray()
            np.testing.assert_array_equal(decoded.reshape(image.shape), image, err_msg=path)
            if dtype == np.uint8 or channels == 1:
                np.testing.assert_array_equal(np.asarray(Image.open(path)).reshape(image.shape), image)
    path = str(tmp_path / "short.tif")
    with pytest.raises(ValueError, match="short.tif: 10 of 37 rows written"):
        with TIFFRowWriter(path, 41, 37, 3) as tif:
            tif.write_rows(np.zeros((10, 41, 3), np.uint8))
    assert not os.path.exists(path) and not [n for n in os.listdir(tmp_path) if n.startswith(".short")]
    with pytest.raises(ValueError, match="beyond classic TIFF's 4 GiB"):
        TIFFRowWriter(str(tmp_path / "huge.tif"), 40000, 40000, 3)
    assert not os.path.exists(tmp_path / "huge.tif")


def test_upscale_writes_tiff_equal_to_the_png(tiny_rgb_x2, natural_image, tmp_path, capsys):
    """`keras-sr upscale --format tiff` writes <stem>_x2.tif with the same pixels as the PNG output."""
    import tifffile
    from PIL import Image

    from keras_sr.cli import main
    from keras_sr.image_io import save_image

    save_image(str(tmp_path / "photo.png"), natural_image[:90, :110])
    tiny_rgb_x2.save(str(tmp_path / "m.keras"))
    for fmt in ("png", "tiff"):
        main(["upscale", str(tmp_path / "photo.png"), "--model", str(tmp_path / "m.keras"), "--tile", "32",
              "--out", str(tmp_path / "up"), "--format", fmt])
    png = np.asarray(Image.open(tmp_path / "up" / "photo_x2.png"))
    np.testing.assert_array_equal(tifffile.imread(tmp_path / "up" / "photo_x2.tif"), png)


def test_auto_tile_follows_the_memory_budget():
    from keras_sr.streamed_upscale import parse_memory, plan_tile

    assert parse_memory("800M") == 800 << 20 and parse_memory("1.5G") == 3 << 29 and parse_memory("2GiB") == 2 << 30
    with pytest.raises(ValueError, match="expected a number"):
        parse_memory("lots")
    big = plan_tile(3000, 4000, 4, 12_000, budget=8 << 30)
    small = plan_tile(3000, 4000, 4, 12_000, budget=600 << 20)
    assert big[0] > small[0] >= 32 and small[1] <= 600 << 20 < big[1] <= 8 << 30
    assert plan_tile(200, 300, 4, 12_000, budget=8 << 30)[0] is None  # whole image
    assert plan_tile(3000, 4000, 4, 12_000, budget=1)[0] == 32  # the smallest tile when nothing fits


_LIMITED = """
import resource, sys
import numpy as np
from keras_sr.streamed_upscale import upscale_to_file
from keras_sr.tiled_inference import _Runner, upscale, write_image

def nearest(lr, scale):  # a model with no working set of its own: only the blending and the output count
    return np.repeat(np.repeat(np.asarray(lr, np.float32), scale, 0), scale, 1)

nearest.scale = 4
runner = _Runner(nearest)  # imports Keras (and its backend) before the limit
image = np.tile(np.arange(250, dtype=np.uint8)[None, :, None], (800, 4, 3))  # 800x1000 RGB, output 3200x4000
vm = int([l.split()[1] for l in open("/proc/self/status") if l.startswith("VmSize:")][0]) * 1024
resource.setrlimit(resource.RLIMIT_AS, (vm + (300 << 20), vm + (300 << 20)))
if sys.argv[1] == "streamed":
    upscale_to_file(image, sys.argv[2], runner, tile=64, overlap=8)
else:
    write_image(sys.argv[2], upscale(image, runner, tile=64, overlap=8))
print("done")
"""


def test_large_image_fits_an_address_space_limit_the_in_memory_path_exceeds(tmp_path):
    """A 3200x4000 output (38 MB of pixels) within 300 MB above the interpreter's address space (numpy backend:
    the runner imports Keras, not TensorFlow); `upscale` + `write_image` needs about 1 GB there."""
    from PIL import Image

    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "KERAS_BACKEND": "numpy"}
    streamed = subprocess.run([sys.executable, "-c", _LIMITED, "streamed", str(tmp_path / "s.png")], cwd=REPO,
                              env=env, capture_output=True, text=True, timeout=600)
    assert streamed.returncode == 0 and "done" in streamed.stdout, streamed.stderr[-2000:]
    with Image.open(tmp_path / "s.png") as image:
        assert image.size == (4000, 3200)
        band = np.asarray(image.crop((0, 1000, 4000, 1004)))
    np.testing.assert_array_equal(band[0, ::4, 0], np.tile(np.arange(250), 4))
    in_memory = subprocess.run([sys.executable, "-c", _LIMITED, "in_memory", str(tmp_path / "m.png")], cwd=REPO,
                               env=env, capture_output=True, text=True, timeout=600)
    assert in_memory.returncode != 0 and "MemoryError" in in_memory.stderr, in_memory.stdout + in_memory.stderr[-2000:]
    assert not os.path.exists(tmp_path / "m.png")


# --------------------------------------------------------------------------- data errors: one line naming the file


@pytest.fixture(scope="module")
def bad_data(tmp_path_factory):
    """Folders and files with one problem each: a truncated PNG, a flipped byte in TFRecord record 2, a manifest
    listing a shard that is gone, an HDF5 file without the patch datasets."""
    import shutil
    import struct

    import h5py
    from PIL import Image
    from skimage import data

    from keras_sr.tfrecords import writer

    root = tmp_path_factory.mktemp("bad_data")
    photo = data.astronaut()
    for folder in ("good", "bad_image"):
        os.makedirs(root / folder)
        for i in range(4):
            Image.fromarray(photo[60 * i:60 * i + 64, 100:164]).save(root / folder / f"t{i}.png")
    os.makedirs(root / "val")
    Image.fromarray(data.coffee()[100:148, 200:248]).save(root / "val" / "v0.png")
    truncated = root / "bad_image" / "t2.png"
    truncated.write_bytes(truncated.read_bytes()[:300])
    writer.write_shards([str(root / "good")], str(root / "shards"), scales=[2])
    shutil.copytree(root / "shards", root / "bad_record")
    shard = root / "bad_record" / "train-00000.tfrecord"
    raw, offsets, at = bytearray(shard.read_bytes()), [], 0
    while at < len(raw):
        offsets.append(at)
        at += 16 + struct.unpack("<Q", raw[at:at + 8])[0]
    raw[offsets[2] + 12 + 40] ^= 0xFF  # record 2's payload: its CRC fails
    shard.write_bytes(bytes(raw))
    shutil.copytree(root / "shards", root / "missing_shard")
    os.remove(root / "missing_shard" / "train-00000.tfrecord")
    with h5py.File(root / "wrong.h5", "w") as f:
        f.create_dataset("images", data=np.zeros((4, 8, 8, 1), np.float32))
    return {name: str(root / name) for name in ("good", "bad_image", "val", "shards", "bad_record", "missing_shard",
                                               "wrong.h5")} | {"truncated": str(truncated), "shard": str(shard)}


def _one_error_line(captured):
    lines = [line for line in captured.err.strip().splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("error: ")]
    assert len(errors) == 1 and "Traceback" not in captured.err, captured.err[-3000:]
    return errors[0]


def test_entry_points_name_a_corrupt_image_in_one_line(bad_data, tmp_path, capsys):
    from keras_sr.cli import main as keras_sr_main
    from tools.data_aug import main as data_aug_main
    from tools.make_tfrecords import main as make_tfrecords_main

    truncated = bad_data["truncated"]
    calls = {
        "tools.evaluate": lambda: keras_sr_main(["evaluate", "--model", "bicubic", "--scale", "2", "--data",
                                                 bad_data["bad_image"], "--quiet"]),
        "keras-sr upscale": lambda: keras_sr_main(["upscale", truncated, "--model", "bicubic", "--scale", "2",
                                                   "--out", str(tmp_path / "up")]),
        "tools.make_tfrecords": lambda: make_tfrecords_main(["--hr", bad_data["bad_image"], "--scale", "2", "--out",
                                                             str(tmp_path / "shards")]),
        "tools.data_aug": lambda: data_aug_main(["--input", bad_data["bad_image"], "--output", str(tmp_path / "aug"),
                                                 "--width", "16", "--height", "16", "--stride", "16", "-uf", "2"]),
    }
    for name, call in calls.items():
        capsys.readouterr()
        assert call() == 2, name
        line = _one_error_line(capsys.readouterr())
        assert truncated in line and "corrupt or truncated" in line, (name, line)
    # tools.evaluate takes HR folders: an HDF5 file or a shard folder is named as what it is
    assert keras_sr_main(["evaluate", "--model", "bicubic", "--scale", "2", "--data", bad_data["wrong.h5"]]) == 2
    line = _one_error_line(capsys.readouterr())
    assert line == f"error: {bad_data['wrong.h5']}: is a file, expected a folder of images."


def test_a_corrupt_record_is_one_line_in_python_too(bad_data):
    import tensorflow as tf

    from keras_sr.data_errors import data_error_line
    from keras_sr.tfrecords import reader

    with pytest.raises(tf.errors.InvalidArgumentError) as err:
        next(iter(reader.make_dataset(bad_data["bad_record"], 2, 4, batch_size=2, jit=False, shuffle_buffer=4)))
    assert data_error_line(err.value) == (
        f"{bad_data['shard']}: record 2 is corrupt or truncated (read 2 of 4 records); pass --skip-corrupt to skip "
        "it (skip_corrupt=True in Python)")
    assert data_error_line(ValueError("a bug")) is None


def test_recipes_stop_on_a_corrupt_record_in_one_line_and_skip_it_with_the_flag(bad_data, tmp_path, capsys):
    import json

    from keras_sr.recipes import edsr

    common = ["--scale", "2", "--val-data", bad_data["val"], "--num-blocks", "1", "--filters", "4", "--patch-size",
              "6", "--batch-size", "2", "--steps-per-epoch", "2", "--checkpoint-every", "4", "--val-every", "100",
              "--strategy", "none", "--no-export", "--quiet", "--jit-compile", "off", "--init", "scratch",
              "--steps", "4"]
    capsys.readouterr()
    assert edsr.main([*common, "--data", bad_data["bad_record"], "--out", str(tmp_path / "a")]) == 2
    line = _one_error_line(capsys.readouterr())
    assert line.startswith(f"error: {bad_data['shard']}: record 2 is corrupt") and "--skip-corrupt" in line
    for source, problem in ((bad_data["missing_shard"], "listed in the manifest are missing"),
                            (bad_data["wrong.h5"], "wrong.h5")):
        assert edsr.main([*common, "--data", source, "--out", str(tmp_path / "b")]) == 2
        line = _one_error_line(capsys.readouterr())
        assert problem in line and (source in line or "manifest.json" in line), line

    out = str(tmp_path / "skip")
    assert edsr.main([*common, "--data", bad_data["bad_record"], "--out", out, "--skip-corrupt"]) == 0
    captured = capsys.readouterr()
    assert "corrupt TFRecord record(s) skipped in this run" in captured.out
    with open(os.path.join(out, "summary.json")) as f:
        assert json.load(f)["skipped_corrupt_records"] >= 1
    with open(os.path.join(out, "recipe.json")) as f:
        assert json.load(f)["recipe"]["skip_corrupt"] is True
