"""Recipes (per-scale derivation, overrides, JSON, flags), losses, schedules, EMA and checkpoint bookkeeping."""

import argparse
import dataclasses
import json
import os

import numpy as np
import pytest

import keras

from keras_sr.recipes.edsr import EDSRRecipe
from keras_sr.training import checkpoint as checkpoint_lib
from keras_sr.training import ema as ema_lib
from keras_sr.training.cli import add_recipe_arguments, recipe_from_args
from keras_sr.training.losses import CharbonnierLoss, L1Loss, get_loss
from keras_sr.training.recipe import read_recipe_json, write_recipe_json
from keras_sr.training.schedules import learning_rate_at, make_schedule


def test_recipe_paper_defaults_and_per_scale_rule():
    r4 = EDSRRecipe.for_scale(4)
    r2 = EDSRRecipe.for_scale(2)
    assert (r4.patch_size, r4.batch_size, r4.learning_rate, r4.steps, r4.loss) == (48, 16, 1e-4, 300_000, "l1")
    assert r4.hr_patch_size == 192 and r2.hr_patch_size == 96
    assert r4.model_config() == {"scale": 4, "variant": "baseline"}
    assert dataclasses.is_dataclass(r4) and r4.__dataclass_params__.frozen
    with pytest.raises(dataclasses.FrozenInstanceError):
        r4.steps = 5
    demo = EDSRRecipe.for_scale(3, **EDSRRecipe.demo_defaults(3))
    assert demo.patch_size == 24 and demo.schedule == "cosine" and demo.steps == 300


def test_recipe_overrides_and_validation():
    r = EDSRRecipe.for_scale(2, steps=10, num_blocks=2, filters=8, patch_size=None)
    assert r.steps == 10 and r.patch_size == 48
    assert r.model_config() == {"scale": 2, "variant": "baseline", "num_blocks": 2, "filters": 8}
    with pytest.raises(ValueError, match="no field"):
        EDSRRecipe.for_scale(2, stepz=3)
    with pytest.raises(ValueError, match="schedule"):
        EDSRRecipe.for_scale(2, schedule="linear")
    with pytest.raises(ValueError, match="ema_decay"):
        EDSRRecipe.for_scale(2, ema_decay=1.5)


def test_recipe_json_round_trip(tmp_path):
    r = EDSRRecipe.for_scale(4, steps=7, lr_milestones=(3, 5))
    write_recipe_json(str(tmp_path), r)
    stored = read_recipe_json(str(tmp_path))
    assert stored["model"] == {"name": "edsr", "config": {"scale": 4, "variant": "baseline"}}
    assert stored["recipe"]["lr_milestones"] == [3, 5]
    assert EDSRRecipe.from_dict(stored["recipe"]) == r
    assert stored["backend"] == keras.backend.backend()


def _parse(argv):
    parser = add_recipe_arguments(argparse.ArgumentParser(), EDSRRecipe)
    return parser.parse_args(argv)


def test_flags_override_demo_and_paper_defaults(tmp_path):
    demo = recipe_from_args(EDSRRecipe, _parse(["--scale", "2", "--steps", "5"]))
    assert demo.steps == 5 and demo.patch_size == 24 and demo.learning_rate == 1e-3  # demo budget, flag wins
    paper = recipe_from_args(EDSRRecipe, _parse(["--data", str(tmp_path), "--variant", "full", "--mixed-precision"]))
    assert paper.steps == 300_000 and paper.variant == "full" and paper.mixed_precision == "auto"
    assert recipe_from_args(EDSRRecipe, _parse(["--data", "x", "--no-augment"])).augment is False
    # --resume: the run's recorded recipe is the base
    write_recipe_json(str(tmp_path), EDSRRecipe.for_scale(3, steps=11, filters=8))
    resumed = recipe_from_args(EDSRRecipe, _parse(["--resume", "--out", str(tmp_path), "--steps", "20"]))
    assert (resumed.scale, resumed.filters, resumed.steps) == (3, 8, 20)


def test_help_documents_the_run_flags(capsys):
    parser = add_recipe_arguments(argparse.ArgumentParser(), EDSRRecipe)
    text = parser.format_help()
    for flag in ("--data", "--steps", "--batch-size", "--patch-size", "--variant", "--strategy", "--resume",
                 "--out", "--mixed-precision", "--init"):
        assert flag in text


def test_losses():
    y = np.zeros((2, 4, 4, 3), "float32")
    p = np.full((2, 4, 4, 3), 3.0, "float32")
    assert float(L1Loss()(y, p)) == pytest.approx(3.0)
    eps = 1e-3 * 255
    assert float(CharbonnierLoss()(y, p)) == pytest.approx(np.sqrt(9 + eps**2), rel=1e-5)
    assert float(get_loss("l2")(y, p)) == pytest.approx(9.0)
    restored = keras.losses.deserialize(keras.losses.serialize(CharbonnierLoss(epsilon=1e-2)))
    assert restored.epsilon == 1e-2
    with pytest.raises(ValueError, match="Unknown loss"):
        get_loss("ssim")


@pytest.mark.parametrize("overrides", [
    dict(schedule="step", lr_milestones=(10, 20), lr_gamma=0.5, learning_rate=1e-3),
    dict(schedule="cosine", steps=30, learning_rate=1e-3, min_learning_rate=1e-5),
    dict(schedule="cosine", steps=30, learning_rate=1e-3, warmup_steps=5),
    dict(schedule="constant", learning_rate=2e-4),
])
def test_schedules_match_the_python_rule(overrides):
    recipe = EDSRRecipe.for_scale(2, **overrides)
    schedule = make_schedule(recipe)
    for step in [0, 1, 4, 5, 9, 10, 11, 15, 20, 21, 29, 30]:
        value = schedule(step) if callable(schedule) else schedule
        assert float(keras.ops.convert_to_numpy(value)) == pytest.approx(learning_rate_at(recipe, step), rel=1e-5,
                                                                         abs=1e-9)
    if overrides["schedule"] == "step":
        assert learning_rate_at(recipe, 25) == pytest.approx(2.5e-4)


def _tiny_compiled(ema_decay=0.0):
    from keras_sr import models
    from keras_sr.training.engine import compile_model

    recipe = EDSRRecipe.for_scale(2, num_blocks=1, filters=4, ema_decay=ema_decay, learning_rate=1e-2,
                                  schedule="constant", jit_compile="off")
    model = models.build("edsr", **recipe.model_config())
    compile_model(model, recipe)
    return model


def test_ema_is_basicsr_average_and_swaps(rng):
    model = _tiny_compiled(ema_decay=0.9)
    x = rng.uniform(0, 255, (2, 6, 6, 3)).astype("float32")
    y = rng.uniform(0, 255, (2, 12, 12, 3)).astype("float32")
    history = [[keras.ops.convert_to_numpy(w) for w in model.trainable_weights]]
    for _ in range(3):
        model.train_on_batch(x, y)
        history.append([keras.ops.convert_to_numpy(w) for w in model.trainable_weights])
    # BasicSR: ema starts as a copy, then ema = d * ema + (1 - d) * w after every step
    expected = history[1]
    for weights in history[2:]:
        expected = [0.9 * e + 0.1 * w for e, w in zip(expected, weights)]
    raw = [keras.ops.convert_to_numpy(w) for w in model.trainable_weights]
    with ema_lib.ema_weights(model) as swapped:
        assert swapped
        for w, e in zip(model.trainable_weights, expected):
            np.testing.assert_allclose(keras.ops.convert_to_numpy(w), e, rtol=1e-4, atol=1e-5)
    for w, r in zip(model.trainable_weights, raw):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(w), r)
    assert len(ema_lib.weights_with_ema(model)) == len(model.weights)
    assert ema_lib.apply_ema(model)
    assert ema_lib.ema_variables(_tiny_compiled()) is None


def test_checkpoint_manager_keeps_last_k_and_best_and_restores(tmp_path, rng):
    model = _tiny_compiled()
    x = rng.uniform(0, 255, (2, 6, 6, 3)).astype("float32")
    y = rng.uniform(0, 255, (2, 12, 12, 3)).astype("float32")
    manager = checkpoint_lib.CheckpointManager(str(tmp_path), keep=2)
    for step in (1, 2, 3):
        model.train_on_batch(x, y)
        manager.save(model, step)
    assert manager.steps == [2, 3]
    assert sorted(f for f in os.listdir(tmp_path) if f.startswith("ckpt-")) == ["ckpt-00000002.weights.h5",
                                                                                 "ckpt-00000003.weights.h5"]
    assert not [f for f in os.listdir(tmp_path) if f.startswith(".")]  # no temporary files left
    assert manager.update_best(model, 3, 25.0) and not manager.update_best(model, 4, 24.0)
    assert json.loads((tmp_path / "checkpoints.json").read_text())["best"]["step"] == 3
    expected = [keras.ops.convert_to_numpy(v) for v in model.optimizer.variables]
    fresh = _tiny_compiled()
    assert checkpoint_lib.CheckpointManager(str(tmp_path)).restore_latest(fresh) == 3
    for a, b in zip(fresh.optimizer.variables, expected):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(a), b)
    with pytest.raises(ValueError, match="weights.h5"):
        checkpoint_lib.save_weights_atomic(model, str(tmp_path / "x.h5"))


def test_short_ema_runs_are_warned_about():
    from keras_sr.training.ema import initial_share, warn_if_short

    assert initial_share(0.999, 2000) == pytest.approx(0.999 ** 1999)  # the first step copies the weights
    assert initial_share(0.0, 10) == 0.0 and initial_share(0.5, 1) == 1.0
    said = []
    assert warn_if_short(0.999, 2000, said.append)
    assert "13.5%" in said[0] and "--ema-decay 0.996" in said[0]
    assert 0.996 ** 1999 <= 0.001  # the suggestion really keeps at most a tenth of the limit
    assert not warn_if_short(0.995, 2000, said.append) and not warn_if_short(0.0, 5, said.append)
    assert len(said) == 1
