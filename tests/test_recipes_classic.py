"""The Y-channel classic recipes (SRCNN, FSRCNN, ESPCN): paper defaults, a tiny end-to-end run through the
recipe command line with `--eval-data`, and Y-model validation scored exactly as tools.evaluate scores it."""

import json
import os

import numpy as np
import pytest

from keras_sr.image_io import save_image
from keras_sr.recipes.espcn import ESPCNRecipe
from keras_sr.recipes.fsrcnn import FSRCNNRecipe
from keras_sr.recipes.srcnn import SRCNNRecipe


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory):
    """Four 66x66 training crops and two held-out crops of real photographs."""
    from skimage import data

    root = tmp_path_factory.mktemp("classic_data")
    photo, other = data.astronaut(), data.coffee()
    for i in range(4):
        save_image(str(root / "train" / f"t{i}.png"), photo[60 * i:60 * i + 66, 100:166])
    save_image(str(root / "val" / "v0.png"), other[100:160, 200:257])
    save_image(str(root / "val" / "v1.png"), other[200:251, 50:110])
    return str(root / "train"), str(root / "val")


def test_paper_defaults():
    for cls in (SRCNNRecipe, FSRCNNRecipe, ESPCNRecipe):
        recipe = cls.for_scale(3)
        assert recipe.y_only and recipe.loss == "l2" and recipe.batch_size == 128
        assert recipe.model_config()["channels"] == 1 and recipe.model_config()["scale"] == 3
    assert SRCNNRecipe.for_scale(3).hr_patch_size == 33  # the paper's 33x33 sub-images
    assert SRCNNRecipe.for_scale(2).hr_patch_size == 32 and SRCNNRecipe.for_scale(4).hr_patch_size == 32
    assert ESPCNRecipe.for_scale(3).patch_size == 17  # 17x17 LR sub-images
    assert FSRCNNRecipe.for_scale(3).model_config() == {"scale": 3, "channels": 1, "d": 56, "s": 12, "m": 4}
    assert SRCNNRecipe.for_scale(3, kernel_sizes=(9, 1, 5)).model_config()["kernel_sizes"] == [9, 1, 5]
    # the paper's sub-image flow is a tools.data_aug command with the paper's sizes
    assert FSRCNNRecipe.paper_data_aug(3)[:2] == ["--width", "21"]
    assert "tools.data_aug" in FSRCNNRecipe.describe() and "T91" in FSRCNNRecipe.describe()


def test_y_model_validation_equals_tools_evaluate(tiny_data):
    from keras_sr import models
    from keras_sr.data.sources import load_validation_pairs
    from keras_sr.evaluation import evaluate_images
    from keras_sr.image_io import list_images
    from keras_sr.models.inference import model_upscaler
    from keras_sr.training.validation import evaluate_pairs

    _, val_dir = tiny_data
    model = models.build("fsrcnn", scale=3, d=8, s=4, m=1)
    during_training = evaluate_pairs(model, load_validation_pairs(val_dir, 3), 3)
    protocol = evaluate_images(model_upscaler(model, 3), list_images(val_dir), 3)
    assert during_training["psnr"] == pytest.approx(protocol["psnr"], abs=1e-9)
    assert during_training["ssim"] == pytest.approx(protocol["ssim"], abs=1e-9)


@pytest.mark.parametrize("module,extra", [
    ("fsrcnn", ["--d", "8", "--s", "4", "--m", "1"]),
    ("espcn", []),
    ("srcnn", ["--kernel-sizes", "3", "1", "3"]),
])
def test_recipe_command_line_trains_and_writes_eval_json(tiny_data, tmp_path, module, extra, capsys):
    import importlib

    train_dir, val_dir = tiny_data
    out = tmp_path / "run"
    main = importlib.import_module(f"keras_sr.recipes.{module}").main
    code = main(["--scale", "3", "--data", train_dir, "--val-data", val_dir, "--eval-data", val_dir, "--steps", "3",
                 "--batch-size", "4", "--patch-size", "8", "--steps-per-epoch", "3", "--jit-compile", "off",
                 "--no-export", "--quiet", "--out", str(out), *extra])
    assert code == 0
    recipe = json.load(open(out / "recipe.json"))
    assert recipe["recipe"]["y_only"] is True and recipe["recipe"]["loss"] == "l2"
    assert recipe["recipe_class"] == f"keras_sr.recipes.{module}.{module.upper()}Recipe"
    scores = json.load(open(out / "eval.json"))
    assert list(scores) == ["val"] and scores["val"]["3"]["n_images"] == 2
    summary = json.load(open(out / "summary.json"))
    # eval.json is the final model scored by the protocol: the same numbers the run's own final validation has
    assert scores["val"]["3"]["psnr"] == pytest.approx(summary["final"]["psnr"], abs=1e-9)
    assert np.isfinite(scores["val"]["3"]["ssim"])
    assert os.path.isfile(out / "comparison.png")
    printed = capsys.readouterr().out
    assert "| val |" in printed and "vs bicubic" in printed
