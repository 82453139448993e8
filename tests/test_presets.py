"""Presets: a finished run becomes a shipped preset (weights, config, training command, eval table),
loads by name through `models.from_preset` / `load_upscaler`, and is matched to recipes by exact config."""

import json
import os

import numpy as np
import pytest

import keras

from keras_sr import models
from keras_sr.models import presets
from keras_sr.models.inference import write_model_json


def _fake_run(root, config, psnr=31.5):
    """A run directory as the engine writes it, with a tiny FSRCNN's weights."""
    run = root / "run"
    run.mkdir()
    model = models.build("fsrcnn", **config)
    model.save_weights(str(run / "final.weights.h5"))
    write_model_json(str(run), "fsrcnn", config)
    recipe = {"recipe": {"steps": 7}, "model": {"name": "fsrcnn", "config": config}, "backend": "tensorflow",
              "command": ["python", "-m", "recipes.fsrcnn", "--scale", "3", "--data", os.path.abspath(str(root))],
              "data": [str(root)]}
    (run / "recipe.json").write_text(json.dumps(recipe))
    (run / "summary.json").write_text(json.dumps({"steps": 7, "seconds": 90.0}))
    (run / "eval.json").write_text(json.dumps({"Set5": {"3": {"psnr": psnr, "ssim": 0.9, "n_images": 5}}}))
    return run, model


def test_make_preset_round_trip(tmp_path, monkeypatch):
    config = {"scale": 3, "channels": 1, "d": 8, "s": 4, "m": 1}
    run, model = _fake_run(tmp_path, config)
    folder = tmp_path / "presets"
    monkeypatch.chdir(tmp_path)
    preset = presets.make_preset(str(run), folder=str(folder), description="tiny")
    assert preset.name == "fsrcnn_x3" and preset.config == config
    assert preset.metrics["Set5"]["3"]["psnr"] == 31.5
    assert preset.training["steps"] == 7 and preset.training["minutes"] == 1.5
    # the recorded command is readable: absolute paths made relative to the folder it was made from
    assert preset.training["command"] == "python -m recipes.fsrcnn --scale 3 --data ."
    assert presets._readable_command(["python", "/x/recipes/espcn.py", "--scale", "3"]) == \
        "python -m recipes.espcn --scale 3"
    loaded = presets.load_preset(preset)
    for a, b in zip(loaded.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(a, b)
    # matched only when the recipe's config is the preset's (a different width would not load)
    assert presets.find_preset("fsrcnn", 3, folder=str(folder), config=config).name == "fsrcnn_x3"
    assert presets.find_preset("fsrcnn", 3, folder=str(folder), config={**config, "d": 56}) is None
    assert presets.find_preset("fsrcnn", 2, folder=str(folder)) is None
    keras.backend.clear_session()


def test_make_preset_keeps_the_stage_it_started_from(tmp_path, monkeypatch):
    config = {"scale": 3, "channels": 1, "d": 8, "s": 4, "m": 1}
    run, _ = _fake_run(tmp_path, config)
    folder = tmp_path / "presets"
    monkeypatch.chdir(tmp_path)
    first = presets.make_preset(str(run), folder=str(folder))
    # a second stage started from the first preset, shipped under the same name: the first stage's record stays
    second = presets.make_preset(str(run), folder=str(folder), started_from="fsrcnn_x3")
    assert second.training["started_from"] == {"preset": "fsrcnn_x3", **first.training}
    # or from a run directory, or a saved preset JSON
    from_run = presets.make_preset(str(run), name="other_x3", folder=str(folder), started_from=str(run))
    assert from_run.training["started_from"]["run"] == str(run) and from_run.training["started_from"]["steps"] == 7
    from_json = presets.make_preset(str(run), name="third_x3", folder=str(folder),
                                    started_from=str(folder / "fsrcnn_x3.json"))
    assert from_json.training["started_from"]["started_from"]["preset"] == "fsrcnn_x3"
    with pytest.raises(ValueError, match="not a preset name"):
        presets.make_preset(str(run), folder=str(folder), started_from="no_such_x9")


def test_make_preset_needs_a_finished_run(tmp_path):
    with pytest.raises(ValueError, match="model.json"):
        presets.make_preset(str(tmp_path), folder=str(tmp_path / "p"))


def test_shipped_presets_load_and_evaluate():
    """Every shipped preset loads by name and upscales by its scale (none shipped: nothing to check)."""
    from keras_sr.models.inference import load_upscaler

    shipped = presets.list_presets()
    total = sum(os.path.getsize(p.weights) for p in shipped)
    assert total <= 20 * 2**20  # the budget for shipped weights
    for preset in shipped:
        assert models.list_presets().count(preset.name) == 1
        model = models.from_preset(preset.name)
        scale = int(preset.config["scale"])
        assert preset.training.get("command", "").startswith("python -m recipes.")
        assert preset.metrics, f"{preset.name} ships without its measured table"
        upscale = load_upscaler(preset.name, scale=scale)
        lr = np.random.default_rng(0).integers(0, 256, (12, 10, 3), dtype=np.uint8)
        assert np.asarray(upscale(lr, scale)).shape == (12 * scale, 10 * scale, 3)
        assert int(model.input_shape[-1]) in (1, 3)
        keras.backend.clear_session()


def test_from_preset_unknown_name_lists_available():
    with pytest.raises(ValueError, match="Unknown preset"):
        models.from_preset("no_such_preset_x9")
