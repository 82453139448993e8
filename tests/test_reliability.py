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
    assert lines[0].startswith(f"checkpoint {newest} is damaged (") and "kept as ckpt-00000004.weights.h5.damaged" in lines[0]
