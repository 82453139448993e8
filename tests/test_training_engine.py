"""The training engine end to end on tiny configs: run directory, checkpoints, validation, TensorBoard, resume,
the recipe CLI with exports, and the train benchmark."""

import json
import os

import numpy as np
import pytest

import keras

from keras_sr.recipes.edsr import EDSRRecipe
from keras_sr.training.engine import train

TINY = dict(num_blocks=1, filters=8, patch_size=8, batch_size=4, learning_rate=1e-3, schedule="cosine",
            steps_per_epoch=2, val_every=4, checkpoint_every=2, keep_checkpoints=2, jit_compile="off")


def _read_events(folder):
    tf = pytest.importorskip("tensorflow")
    tags = set()
    for name in os.listdir(folder):
        for raw in tf.data.TFRecordDataset(os.path.join(folder, name)):
            event = tf.compat.v1.Event.FromString(raw.numpy())
            for value in event.summary.value:
                tags.add((value.tag, value.metadata.plugin_data.plugin_name))
    return tags


def test_train_writes_a_complete_run_and_resumes(tiny_photos, tmp_path):
    train_dir, val_dir = tiny_photos
    out = str(tmp_path / "run")
    recipe = EDSRRecipe.for_scale(2, steps=4, ema_decay=0.5, **TINY)
    result = train(recipe, data=[train_dir], val_data=[val_dir], out=out, strategy="none", verbose=0, log=None)
    assert result.steps == 4 and result.resumed_from == 0
    for name in ("recipe.json", "model.json", "log.csv", "final.keras", "final.weights.h5", "summary.json"):
        assert os.path.isfile(os.path.join(out, name)), name
    stored = json.load(open(os.path.join(out, "recipe.json")))
    assert stored["model"]["config"] == {"scale": 2, "variant": "baseline", "num_blocks": 1, "filters": 8}
    index = json.load(open(os.path.join(out, "checkpoints", "checkpoints.json")))
    assert [c["step"] for c in index["checkpoints"]] == [2, 4]  # every 2 steps, last K=2 kept
    assert index["best"]["step"] == 4 and os.path.isfile(os.path.join(out, "checkpoints", "best.weights.h5"))
    assert [v["step"] for v in result.validation] == [4]
    assert np.isfinite(result.final["psnr"]) and np.isfinite(result.bicubic["psnr"])
    for a, b in zip(result.train_model.get_weights(), result.model.get_weights()):  # EMA written in at the end
        np.testing.assert_array_equal(a, b)
    # the final model is the EMA model, float32, loadable in safe mode, and scored as tools.evaluate would
    loaded = keras.saving.load_model(os.path.join(out, "final.keras"), safe_mode=True)
    from keras_sr.data.sources import load_validation_pairs
    from keras_sr.training.validation import evaluate_pairs

    assert evaluate_pairs(loaded, load_validation_pairs(val_dir, 2), 2)["psnr"] == pytest.approx(result.final["psnr"])
    tags = _read_events(os.path.join(out, "tensorboard"))
    assert {("train/loss", "scalars"), ("val/psnr", "scalars"), ("val/bicubic_psnr", "scalars"),
            ("train/learning_rate", "scalars"), ("val/lr_bicubic_sr_hr", "images")} <= tags
    # resume: continues from step 4 with the optimizer state to the new planned step count
    more = recipe.replace(steps=6)
    resumed = train(more, data=[train_dir], val_data=[val_dir], out=out, strategy="none", resume=True, verbose=0,
                    log=None)
    assert resumed.resumed_from == 4 and resumed.steps == 6
    assert json.load(open(os.path.join(out, "checkpoints", "checkpoints.json")))["latest"] == "ckpt-00000006.weights.h5"


def test_pydataset_loader_charbonnier_clipping_mixed_precision(tiny_photos, tmp_path):
    train_dir, val_dir = tiny_photos
    recipe = EDSRRecipe.for_scale(3, steps=2, loss="charbonnier", clip_grad_norm=1.0, mixed_precision="bfloat16",
                                  **{**TINY, "patch_size": 6, "val_every": 2})
    result = train(recipe, data=[train_dir], val_data=[val_dir], out=str(tmp_path / "r"), strategy="none",
                   loader="pydataset", verbose=0, log=None, tensorboard=False)
    assert result.steps == 2 and np.isfinite(result.history["loss"][-1])
    assert result.train_model.optimizer.global_clipnorm == 1.0
    assert result.train_model.get_layer("head").compute_dtype == "bfloat16"
    assert result.model.get_layer("head").compute_dtype == "float32"  # exported / evaluated in float32
    assert keras.config.dtype_policy().name == "float32"  # the global policy is restored


def test_recipe_cli_exports_and_comparison(tiny_photos, tmp_path, capsys):
    pytest.importorskip("tensorflow")
    from keras_sr.recipes.edsr import main

    train_dir, val_dir = tiny_photos
    out = str(tmp_path / "cli")
    code = main(["--scale", "2", "--data", train_dir, "--val-data", val_dir, "--out", out, "--steps", "2",
                 "--num-blocks", "1", "--filters", "8", "--patch-size", "8", "--batch-size", "2",
                 "--steps-per-epoch", "2", "--checkpoint-every", "2", "--val-every", "2", "--strategy", "none",
                 "--quiet", "--tflite", "fp16"])
    assert code == 0
    printed = capsys.readouterr().out
    assert "| bicubic |" in printed and "| EDSR (scratch, 2 steps) |" in printed and "vs bicubic" in printed
    assert os.path.isfile(os.path.join(out, "saved_model", "saved_model.pb"))
    assert os.path.isfile(os.path.join(out, "model_fp16.tflite"))
    from keras_sr.image_io import load_image

    panel = load_image(os.path.join(out, "comparison.png"))
    assert panel.shape[1] > 3 * panel.shape[0] - 40  # four crops side by side under captions


def test_init_preset_without_presets_says_so(tmp_path):
    from keras_sr.recipes.edsr import main

    with pytest.raises(SystemExit, match="no preset"):
        main(["--scale", "2", "--num-blocks", "3", "--init", "preset", "--out", str(tmp_path / "p"), "--steps", "1"])


def test_train_benchmark_runs(capsys):
    import argparse

    from keras_sr.benchmarks import train as bench

    args = bench.add_arguments(argparse.ArgumentParser()).parse_args(
        ["--model", "edsr", "--scale", "2", "--batch-size", "2", "--patch-size", "8", "--steps", "2", "--warmup", "1",
         "--loader", "pydataset", "--jit-compile", "off", "--set", "num_blocks=1", "filters=8"])
    result = bench.run(args)
    assert result["patches_per_second"] > 0 and result["params"] == 8 * 27 + 8 + 3 * (9 * 64 + 8) + 9 * 8 * 32 + 32 + 9 * 8 * 3 + 3
    assert "patches/s" in capsys.readouterr().out
