"""keras-tuner search (`tools.tune`, `keras_sr.tuning`) and the recipe CLI's `--config FILE` override files.

A random search of FSRCNN's declared space runs in-process on TensorFlow (2 trials of 3 steps on tiny crops)
and in a subprocess on JAX (1 trial), started first so that it runs beside the TensorFlow search.
"""

import argparse
import importlib.util
import json
import math
import os
import subprocess
import sys

import pytest

from conftest import REPO_ROOT
from keras_sr.image_io import save_image
from keras_sr.recipes.fsrcnn import FSRCNNRecipe
from keras_sr.training.cli import add_recipe_arguments, recipe_from_args

keras_tuner = pytest.importorskip("keras_tuner", reason="keras-tuner is part of the test extras")

from keras_sr import tuning  # noqa: E402  (needs keras-tuner)

SPACE = {"d": {16, 32, 56}, "s": {5, 12}, "m": {1, 2, 3, 4}}
TINY = ["--recipe", "fsrcnn", "--scale", "3", "--tuner", "random", "--batch-size", "4", "--patch-size", "8",
        "--quiet"]


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    """Three 48x48 training crops and one 36x36 held-out crop of scikit-image's astronaut (PNG files)."""
    from skimage import data

    root = tmp_path_factory.mktemp("tune_images")
    photo = data.astronaut()
    for i in range(3):
        save_image(str(root / "train" / f"t{i}.png"), photo[64 * i:64 * i + 48, 100:148])
    save_image(str(root / "val" / "v0.png"), photo[300:336, 200:236])
    return str(root / "train"), str(root / "val" / "v0.png")


@pytest.fixture(scope="module")
def jax_search(images, tmp_path_factory):
    """`python -m tools.tune` on KERAS_BACKEND=jax, started at once; yields `(popen, out, log_path)`."""
    if importlib.util.find_spec("jax") is None:
        pytest.fail("jax is not installed: it is part of the test extras (pip install -e '.[test]')")
    train, val = images
    root = tmp_path_factory.mktemp("tune_jax")
    out, log_path = root / "out", root / "log.txt"
    env = dict(os.environ, KERAS_BACKEND="jax", JAX_PLATFORMS="cpu", KERAS_SR_CACHE=str(root / "cache"),
               TF_CPP_MIN_LOG_LEVEL="2")
    command = [sys.executable, "-m", "tools.tune", *TINY, "--max-trials", "1", "--steps", "2", "--workers", "1",
               "--data", train, "--val-data", val, "--out", str(out)]
    with open(log_path, "w") as log:
        proc = subprocess.Popen(command, cwd=REPO_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, text=True)
    yield proc, out, log_path
    if proc.poll() is None:
        proc.kill()
        proc.wait()


def _table(text):
    """Header and rows of the markdown table printed by tools.tune."""
    lines = [line for line in text.splitlines() if line.startswith("| ")]
    header = [c.strip() for c in lines[0].strip("|").split("|")]
    return header, [dict(zip(header, (c.strip() for c in line.strip("|").split("|")))) for line in lines[1:]]


def _recipe_args(argv):
    return add_recipe_arguments(argparse.ArgumentParser(), FSRCNNRecipe).parse_args(argv)


def test_random_search_on_tensorflow_writes_a_config_the_recipe_reads(images, tmp_path, capsys, jax_search):
    from tools.tune import main

    train, val = images
    out = tmp_path / "search"
    assert main([*TINY, "--max-trials", "2", "--steps", "3", "--jit-compile", "off", "--data", train,
                 "--val-data", val, "--out", str(out)]) == 0
    header, rows = _table(capsys.readouterr().out)
    assert header == ["trial", "d", "s", "m", "learning_rate", "val PSNR (dB)", "steps", "seconds"]
    assert len(rows) == 2
    assert len({(r["d"], r["s"], r["m"], r["learning_rate"]) for r in rows}) == 2  # two distinct trials
    scores = [float(r["val PSNR (dB)"]) for r in rows]
    assert scores == sorted(scores, reverse=True) and all(math.isfinite(s) and s > 0 for s in scores)
    for row in rows:
        assert int(row["d"]) in SPACE["d"] and int(row["s"]) in SPACE["s"] and int(row["m"]) in SPACE["m"]
        assert 1e-4 <= float(row["learning_rate"]) <= 3e-3 and row["steps"] == "3"
        # each trial is a run of the engine in its own directory, with the trial's values and the budget
        run = json.load(open(out / "search" / f"trial_{row['trial']}" / "recipe.json"))
        assert run["model"]["config"] == {"scale": 3, "channels": 1, "d": int(row["d"]), "s": int(row["s"]),
                                          "m": int(row["m"])}
        assert (run["recipe"]["steps"], run["recipe"]["batch_size"], run["recipe"]["patch_size"]) == (3, 4, 8)
        summary = json.load(open(out / "search" / f"trial_{row['trial']}" / "summary.json"))
        assert summary["final"]["psnr"] == pytest.approx(float(row["val PSNR (dB)"]), abs=0.006)
    assert (out / "trials.md").read_text().startswith("| trial | d |")

    config = json.load(open(out / "best_config.json"))
    best = rows[0]
    assert config["recipe"] == "fsrcnn" and config["scale"] == 3 and config["search"]["tuner"] == "random"
    assert config["search"]["trial"] == best["trial"]
    assert {k: config["overrides"][k] for k in ("d", "s", "m")} == {k: int(best[k]) for k in ("d", "s", "m")}
    assert config["overrides"]["learning_rate"] == pytest.approx(float(best["learning_rate"]), rel=1e-3)

    # python -m recipes.fsrcnn --config best_config.json: the values apply, the scale too, explicit flags win
    path = str(out / "best_config.json")
    recipe = recipe_from_args(FSRCNNRecipe, _recipe_args(["--config", path, "--steps", "2", "--data", train]))
    assert (recipe.scale, recipe.steps) == (3, 2)
    assert recipe.to_dict() | config["overrides"] == recipe.to_dict()
    other_d = min(SPACE["d"] - {config["overrides"]["d"]})
    flagged = recipe_from_args(FSRCNNRecipe, _recipe_args(["--config", path, "--d", str(other_d), "--scale", "2"]))
    assert (flagged.d, flagged.scale, flagged.m) == (other_d, 2, config["overrides"]["m"])


def test_search_on_jax(jax_search):
    proc, out, log_path = jax_search
    proc.wait(timeout=600)
    text = log_path.read_text()
    assert proc.returncode == 0, text[-6000:]
    header, rows = _table(text)
    assert len(rows) == 1 and int(rows[0]["d"]) in SPACE["d"] and rows[0]["steps"] == "2"
    run = json.load(open(out / "search" / f"trial_{rows[0]['trial']}" / "recipe.json"))
    assert run["backend"] == "jax"
    config = json.load(open(out / "best_config.json"))
    assert config["search"]["backend"] == "jax" and config["overrides"]["d"] == int(rows[0]["d"])
    assert float(rows[0]["val PSNR (dB)"]) == pytest.approx(config["search"]["val_psnr"], abs=0.006)


def test_config_file_order_and_errors(tmp_path):
    flat = tmp_path / "flat.json"
    flat.write_text(json.dumps({"batch_size": 8, "lr_milestones": [5, 9]}))
    demo = recipe_from_args(FSRCNNRecipe, _recipe_args(["--config", str(flat)]))  # no --data: the demo budget
    assert demo.batch_size == 8 and demo.lr_milestones == (5, 9) and demo.steps == 600  # config over the demo
    assert recipe_from_args(FSRCNNRecipe, _recipe_args(["--config", str(flat), "--batch-size", "16"])).batch_size == 16

    for payload, message in [
        ({"dd": 3}, "unknown key 'dd'"),
        ({"recipe": "fsrcnn", "overrides": {"d": 32, "depth": 3}}, "unknown key 'depth'"),
        ({"recipe": "fsrcnn", "overrides": {"d": 32}, "notes": "x"}, "unknown key 'notes'"),
        ({"recipe": "espcn", "overrides": {"learning_rate": 1e-3}}, "written for recipe 'espcn'"),
        ({"d": "32"}, "'d' of FSRCNNRecipe must be an integer"),
        ({"model": "edsr"}, "unknown key 'model'"),  # not a settable field
    ]:
        bad = tmp_path / "bad.json"
        bad.write_text(json.dumps(payload))
        with pytest.raises(SystemExit, match=f"--config {bad}: .*{message}"):
            recipe_from_args(FSRCNNRecipe, _recipe_args(["--config", str(bad)]))
    with pytest.raises(SystemExit, match="no such override file"):
        recipe_from_args(FSRCNNRecipe, _recipe_args(["--config", str(tmp_path / "missing.json")]))


def test_recipes_without_a_search_space_say_so(capsys):
    from keras_sr.recipes.edsr import EDSRRecipe

    with pytest.raises(NotImplementedError, match="EDSRRecipe declares no search space"):
        EDSRRecipe.search_space(keras_tuner.HyperParameters())
    assert tuning.main(["--recipe", "edsr", "--max-trials", "1"]) == 2
    assert "EDSRRecipe declares no search space" in capsys.readouterr().err


def test_oracles_are_seeded_pinned_and_hyperband_epochs_map_to_steps(tmp_path):
    base = FSRCNNRecipe.for_scale(3, batch_size=4)

    def first_values(kind, folder, **kwargs):
        oracle = tuning.make_oracle(kind, max_trials=3, seed=0, **kwargs)
        tuner = tuning.EngineTuner(oracle, FSRCNNRecipe, base, steps=90, directory=str(tmp_path / folder),
                                   project_name="p")
        return tuner, oracle.create_trial("tuner0").hyperparameters

    _, first = first_values("random", "a")
    _, again = first_values("random", "b")
    assert first.values == again.values  # seed 0 is a real seed (keras-tuner reads 0 as "unseeded")
    tuner, hp = first_values("hyperband", "c", fixed={"m": 4}, max_epochs=9)
    assert hp.values["m"] == 4 and tuner.oracle.max_trials == 3 and "tuner/epochs" in hp.values
    assert [tuner.trial_steps(e) for e in (1, 3, 9, None)] == [10, 30, 90, 90]
    recipe = tuner.trial_recipe(hp, 10)
    assert (recipe.m, recipe.d, recipe.steps, recipe.val_every, recipe.batch_size) == (4, hp.values["d"], 10, 10, 4)
    with pytest.raises(ValueError, match="unknown tuner 'grid'"):
        tuning.make_oracle("grid")


def test_bayesian_oracle_runs_in_the_declared_space(tmp_path):
    """BayesianOptimization (keras-tuner[bayesian] needs scikit-learn) proposes pinned and in-range values."""
    pytest.importorskip("sklearn")
    base = FSRCNNRecipe.for_scale(3, batch_size=4)
    oracle = tuning.make_oracle("bayesian", max_trials=4, seed=0, fixed={"s": 12, "m": 1})
    tuner = tuning.EngineTuner(oracle, FSRCNNRecipe, base, steps=5, directory=str(tmp_path), project_name="p")
    seen = []
    for i in range(3):
        trial = oracle.create_trial(f"tuner{i}")
        values = trial.hyperparameters.values
        assert values["s"] == 12 and values["m"] == 1 and values["d"] in (16, 32, 56)
        assert 1e-4 <= values["learning_rate"] <= 3e-3
        seen.append(values)
        oracle.update_trial(trial.trial_id, {"val_psnr": 25.0 + i})
        oracle.end_trial(trial)
    assert tuner.trial_recipe(trial.hyperparameters, 5).d == seen[-1]["d"]
    assert len({round(v["learning_rate"], 12) for v in seen}) == 3  # distinct proposals
