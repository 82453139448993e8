"""LIIF / Meta-SR training: the query dataset (LIIF's wrapper rules), recipes, one `fit` run, the run folder."""

import json
import os

import numpy as np
import pytest

from keras_sr.data.implicit_dataset import ImplicitSRDataset, meta_sr_scales, pil_bicubic
from keras_sr.image_io import ImageError, save_image
from keras_sr.layers.coordinate_sampling import make_coord


def _images(n=3, size=40, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, (size, size + 3, 3), np.uint8) for _ in range(n)]


def test_queries_are_the_hr_crop_and_lr_is_its_pil_bicubic_downscale():
    ds = ImplicitSRDataset(_images(), patch_size=6, batch_size=2, sample_q=0, scales=(2.5,), scale_per="batch",
                           augment=False, steps_per_epoch=3, seed=1)
    inputs, rgb = ds[0]
    assert inputs["lr"].shape == (2, 6, 6, 3) and rgb.shape == (2, 225, 3)  # round(6 * 2.5) = 15
    np.testing.assert_allclose(inputs["coord"][0], make_coord(15, 15))
    np.testing.assert_allclose(inputs["cell"][0], np.full((225, 2), 2 / 15), rtol=1e-6)
    hr = rgb[0].reshape(15, 15, 3).astype(np.uint8)
    np.testing.assert_array_equal(inputs["lr"][0], pil_bicubic(hr, (6, 6)))


def test_sampling_is_reproducible_and_scales_follow_the_recipe():
    ds = ImplicitSRDataset(_images(), patch_size=5, batch_size=4, sample_q=20, steps_per_epoch=2, seed=3)
    (a, ra), (b, rb) = ds[1], ds[1]
    np.testing.assert_array_equal(ra, rb)
    np.testing.assert_array_equal(a["coord"], b["coord"])
    assert a["coord"].shape == (4, 20, 2)
    scales = 2.0 / a["cell"][:, 0, 0]  # HR crop sizes round(5 s), s in U(1, 4)
    assert np.all((scales >= 5) & (scales <= 20)) and len(set(scales.round(3))) > 1  # drawn per image
    ds.on_epoch_end()
    assert not np.array_equal(ds[1][1], ra)
    meta = ImplicitSRDataset(_images(), patch_size=5, batch_size=3, sample_q=0, scales=meta_sr_scales(),
                             scale_per="batch", steps_per_epoch=2)
    inputs, _ = meta[0]
    assert len(set((2.0 / inputs["cell"][:, 0, 0]).round(3))) == 1  # one scale per batch
    assert meta_sr_scales()[0] == 1.1 and meta_sr_scales()[-1] == 4.0 and len(meta_sr_scales()) == 30


def test_dataset_errors_are_clear(tmp_path):
    path = str(tmp_path / "small.png")
    save_image(path, np.zeros((20, 20, 3), np.uint8))
    with pytest.raises(ImageError, match="small.png.*too small"):
        ImplicitSRDataset([path], patch_size=8, scale_max=4.0)
    with pytest.raises(ValueError, match="scale_per='batch'"):
        ImplicitSRDataset(_images(), patch_size=4, sample_q=0)


def test_recipe_defaults_are_the_official_settings():
    from keras_sr.recipes.liif import LIIFRecipe
    from keras_sr.recipes.meta_sr import MetaSRRecipe

    liif = LIIFRecipe()
    assert (liif.patch_size, liif.scale_min, liif.scale_max, liif.sample_q, liif.batch_size) == (48, 1.0, 4.0, 2304, 16)
    # 1000 epochs of 1000 batches, Adam 1e-4 halved every 200 epochs
    assert (liif.learning_rate, liif.lr_gamma, liif.steps, liif.steps_per_epoch) == (1e-4, 0.5, 1_000_000, 1000)
    assert liif.lr_milestones == (200_000, 400_000, 600_000, 800_000) and liif.schedule == "step"
    assert liif.learning_rate_at(199_999) == 1e-4 and liif.learning_rate_at(200_001) == 5e-5
    assert liif.trainer == "fit" and liif.hr_patch_size == 192
    meta = MetaSRRecipe()
    assert meta.scales == meta_sr_scales() and meta.scale_per == "batch" and meta.patch_size == 50
    assert meta.model_config() == {} and meta.hr_patch_size == 200


def test_the_cpu_demo_budget_applies_without_data_only():
    """`python -m recipes.liif` alone: 1,500 frozen-encoder steps (the README's demo); with --data the official run."""
    import argparse

    from keras_sr.recipes.liif import LIIFRecipe
    from keras_sr.training.cli import add_recipe_arguments, recipe_from_args

    parser = add_recipe_arguments(argparse.ArgumentParser(), LIIFRecipe)
    demo = recipe_from_args(LIIFRecipe, parser.parse_args([]))
    assert (demo.steps, demo.learning_rate, demo.schedule, demo.freeze_encoder, demo.sample_q) == (
        1500, 1e-3, "cosine", True, 576)
    assert (demo.scale_min, demo.scale_max) == (1.0, 4.0)  # the official scale range in the demo too
    official = recipe_from_args(LIIFRecipe, parser.parse_args(["--data", "DIV2K/HR"]))
    assert official == LIIFRecipe.for_scale(4) and official.steps == 1_000_000 and not official.freeze_encoder


def _folders(tmp_path):
    train_dir, val_dir = tmp_path / "train", tmp_path / "val"
    train_dir.mkdir()
    val_dir.mkdir()
    for i, img in enumerate(_images(3, 44)):
        save_image(str(train_dir / f"{i}.png"), img)
    save_image(str(train_dir / "small.png"), _images(1, 10, seed=4)[0])  # below the x4 crop: skipped
    save_image(str(val_dir / "v.png"), _images(1, 48, seed=9)[0])
    return str(train_dir), str(val_dir)


def test_recipe_trains_on_the_fit_engine_and_evaluates_at_real_scales(tmp_path, capsys):
    """The recipe command: the engine's run folder (checkpoints, log, final files), --eval-data at real scales,
    and the arbitrary-scale SavedModel export."""
    from keras_sr.recipes import liif as recipe_module
    from keras_sr.upscalers import load_upscaler

    train_dir, val_dir = _folders(tmp_path)
    out = str(tmp_path / "run")
    argv = ["--data", train_dir, "--val-data", val_dir, "--eval-data", val_dir, "--out", out, "--num-blocks", "1",
            "--filters", "8", "--patch-size", "6", "--batch-size", "2", "--sample-q", "16", "--steps", "2",
            "--checkpoint-every", "2", "--val-every", "2", "--eval-scales", "2.5", "3", "--jit-compile", "off",
            "--tflite", "none", "--quiet"]
    assert recipe_module.main(argv) == 0
    for name in ("recipe.json", "model.json", "log.csv", "summary.json", "final.keras", "final.weights.h5",
                 "checkpoints/ckpt-00000002.weights.h5", "eval.json", "saved_model"):
        assert os.path.exists(os.path.join(out, name)), name
    saved = json.load(open(os.path.join(out, "recipe.json")))
    assert saved["recipe"]["sample_q"] == 16 and saved["recipe"]["eval_scales"] == [2.5, 3]
    summary = json.load(open(os.path.join(out, "summary.json")))
    assert summary["steps"] == 2 and np.isfinite(summary["final"]["psnr"]) and np.isfinite(summary["final_loss"])
    scores = json.load(open(os.path.join(out, "eval.json")))["val"]
    assert set(scores) == {"2.5", "3"} and all(np.isfinite(s["psnr"]) for s in scores.values())
    upscaler = load_upscaler("liif", scale=2.5, weights=os.path.join(out, "final.weights.h5"))
    assert upscaler(np.zeros((7, 8, 3), np.uint8), 2.5).shape == (18, 20, 3)
    assert load_upscaler(os.path.join(out, "saved_model"))(np.zeros((7, 8, 3), np.uint8), 2.5).shape == (18, 20, 3)


def test_resume_continues_the_implicit_run_exactly(tmp_path):
    """Killed after 2 of 4 steps and resumed == 4 uninterrupted steps (weights), as every fit recipe."""
    from keras_sr.recipes.liif import LIIFRecipe
    from keras_sr.training.engine import train

    train_dir, val_dir = _folders(tmp_path)
    recipe = LIIFRecipe.for_scale(4, num_blocks=1, filters=4, patch_size=6, batch_size=2, sample_q=8, steps=4,
                                  steps_per_epoch=2, checkpoint_every=2, val_every=2, jit_compile="off",
                                  freeze_encoder=True)
    quiet = dict(data=[train_dir], val_data=[val_dir], verbose=0, log=lambda *_: None, tensorboard=False)
    whole = train(recipe, out=str(tmp_path / "whole"), **quiet)
    train(recipe.replace(steps=2), out=str(tmp_path / "cut"), **quiet)
    resumed = train(recipe, out=str(tmp_path / "cut"), resume=True, **quiet)
    assert resumed.resumed_from == 2 and resumed.steps == 4
    assert whole.train_model.get_layer("encoder").trainable is False  # frozen: only the decoder trained
    assert len(whole.train_model.trainable_weights) == len(whole.train_model.get_layer("decoder").trainable_weights)
    for a, b in zip(whole.model.get_weights(), resumed.model.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_the_training_benchmark_measures_the_recipes_own_query_batches(tmp_path):
    """`tools.benchmark train --model liif` (what the preset factory plans LIIF's steps with) fits query batches."""
    import argparse

    from keras_sr.benchmarks import train as bench

    train_dir, _ = _folders(tmp_path)
    args = bench.add_arguments(argparse.ArgumentParser()).parse_args(
        ["--model", "liif", "--scale", "4", "--batch-size", "2", "--patch-size", "6", "--steps", "2", "--warmup", "1",
         "--jit-compile", "off", "--data", train_dir, "--set", "num_blocks=1", "filters=4", "sample_q=8"])
    result = bench.measure(args)
    assert result["loader"] == "recipe (ImplicitSRDataset)" and result["steps_per_second"] > 0
