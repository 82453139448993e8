"""Cross-model initialization (`keras_sr.models.weight_transfer`, recipes' `--init-from`): EDSR's x2 -> x3/x4 practice."""

import numpy as np
import pytest

import keras

from keras_sr import models
from keras_sr.models.weight_transfer import load_source_model, transfer_from, transfer_weights

TINY = dict(variant="baseline", num_blocks=1, filters=8)


def _weights(model, name):
    return [np.array(w) for w in model.get_layer(name).get_weights()]


def test_x4_body_goes_into_an_x2_model_and_the_upsampler_keeps_its_init():
    source = models.build("edsr", scale=4, **TINY)
    target = models.build("edsr", scale=2, **TINY)
    own_upsampler = _weights(target, "upsample")
    report = transfer_weights(source, target)
    assert {"head", "block_0", "body_end", "tail"} <= set(report.copied)
    assert [name for name, _ in report.skipped] == ["upsample"]
    assert "weight shapes differ" in report.skipped[0][1] and "upsample" in report.summary()
    for name in report.copied:
        for a, b in zip(_weights(source, name), _weights(target, name)):
            np.testing.assert_array_equal(a, b)
    for a, b in zip(own_upsampler, _weights(target, "upsample")):
        np.testing.assert_array_equal(a, b)
    # the copied head really computes what the source's does
    x = np.random.default_rng(0).uniform(0, 255, (1, 8, 8, 3)).astype("float32")
    probe = lambda m: keras.Model(m.input, m.get_layer("head").output)  # noqa: E731 - test-local helper
    np.testing.assert_allclose(probe(target).predict(x, verbose=0), probe(source).predict(x, verbose=0), atol=1e-5)


def test_models_with_nothing_in_common_are_an_error():
    unrelated = keras.Sequential([keras.Input((None, None, 3)), keras.layers.Conv2D(4, 3, name="other")], name="other")
    with pytest.raises(ValueError, match="share no layer"):
        transfer_weights(unrelated, models.build("edsr", scale=2, **TINY))


def test_sources_keras_file_run_directory_and_bad_references(tmp_path):
    source = models.build("edsr", scale=3, **TINY)
    path = str(tmp_path / "x3.keras")
    source.save(path)
    target = models.build("edsr", scale=2, **TINY)
    assert "block_0" in transfer_from(target, path).copied
    np.testing.assert_array_equal(_weights(target, "block_0")[0], _weights(source, "block_0")[0])
    run = tmp_path / "run"
    run.mkdir()
    with pytest.raises(ValueError, match="without final.keras"):
        load_source_model(str(run))
    source.save(str(run / "final.keras"))
    assert load_source_model(str(run)).count_params() == source.count_params()
    with pytest.raises(ValueError, match="not a preset name"):
        load_source_model("no_such_preset_x9")


def test_recipe_init_from_trains_from_the_transferred_weights(tiny_photos, tmp_path, capsys):
    from keras_sr.recipes.edsr import main

    train_dir, val_dir = tiny_photos
    source = str(tmp_path / "x4.keras")
    models.build("edsr", scale=4, **TINY).save(source)
    common = ["--data", train_dir, "--val-data", val_dir, "--steps", "1", "--num-blocks", "1", "--filters", "8",
              "--patch-size", "8", "--batch-size", "2", "--steps-per-epoch", "1", "--checkpoint-every", "1",
              "--val-every", "1", "--strategy", "none", "--quiet", "--no-export"]
    assert main(["--scale", "2", "--init-from", source, "--out", str(tmp_path / "run"), *common]) == 0
    printed = capsys.readouterr().out
    assert "initial weights: from" in printed and "layers copied" in printed and "upsample" in printed
    assert f"EDSR (from {source}, 1 steps)" in printed
    with pytest.raises(SystemExit, match="exclusive"):
        main(["--scale", "2", "--init", "preset", "--init-from", source, "--out", str(tmp_path / "x"), *common])
