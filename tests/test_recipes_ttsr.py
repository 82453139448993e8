"""`python -m recipes.ttsr`: paper defaults, the demo budget, flags, errors, and TTSR's losses and critic."""

import os

import numpy as np
import pytest
from PIL import Image

import keras

from keras_sr.recipes.ttsr import DEMO_EXCLUDED, TTSRRecipe, _demo_data, main


def test_defaults_are_the_papers():
    r = TTSRRecipe.for_scale(4)
    assert r.model == "ttsr" and r.variant == "gan"
    assert (r.patch_size, r.hr_patch_size, r.ref_size, r.batch_size) == (40, 160, 160, 9)
    assert (r.learning_rate, r.lte_learning_rate, r.beta_1, r.beta_2, r.epsilon) == (1e-4, 1e-5, 0.9, 0.999, 1e-8)
    assert r.schedule == "constant"
    assert (r.rec_weight, r.perceptual_weight, r.tpl_weight, r.adversarial_weight) == (1.0, 1e-2, 1e-2, 1e-3)
    assert (r.gp_weight, r.d_steps, r.d_learning_rate, r.d_beta_1, r.d_beta_2, r.d_filters) == (10.0, 2, 1e-4, 0.0,
                                                                                                 0.9, 32)
    assert (r.perceptual_layer, r.perceptual_criterion, r.tpl_criterion, r.tpl_use_soft) == ("relu5_1", "l2", "l2",
                                                                                             False)
    assert r.init_steps == 2 * 1319 and r.steps == 52 * 1319          # 2 init + 50 epochs of CUFED at batch 9
    assert r.loss == "l1" and r.augment
    assert r.model_config() == {"scale": 4, "num_res_blocks": (16, 16, 8, 4), "n_feats": 64,
                                "texture_widths": (64, 128, 256)}
    assert r.input_names() == ("lr", "lr_up", "ref", "ref_down_up")


def test_recipe_validation_errors():
    with pytest.raises(ValueError, match="x4"):
        TTSRRecipe.for_scale(2)
    with pytest.raises(ValueError, match="multiple of 32"):
        TTSRRecipe.for_scale(4, patch_size=12)
    with pytest.raises(ValueError, match="variant"):
        TTSRRecipe.for_scale(4, variant="perceptual")
    with pytest.raises(ValueError, match="ema_decay"):
        TTSRRecipe.for_scale(4, ema_decay=0.999)
    assert TTSRRecipe.for_scale(4, variant="rec", patch_size=12).hr_patch_size == 48   # no critic: any size


def test_demo_budget_and_data():
    import argparse

    from keras_sr.training.cli import add_recipe_arguments, recipe_from_args

    parser = argparse.ArgumentParser()
    add_recipe_arguments(parser, TTSRRecipe)
    demo = recipe_from_args(TTSRRecipe, parser.parse_args([]))
    assert demo.variant == "rec" and demo.num_res_blocks == (4, 4, 2, 1) and demo.n_feats == 32
    assert (demo.patch_size, demo.batch_size, demo.steps, demo.learning_rate) == (24, 4, 500, 5e-4)
    flagged = recipe_from_args(TTSRRecipe, parser.parse_args(["--steps", "7", "--num-res-blocks", "1", "1", "1", "1"]))
    assert flagged.steps == 7 and flagged.num_res_blocks == (1, 1, 1, 1)
    full = recipe_from_args(TTSRRecipe, parser.parse_args(["--data", "somewhere"]))
    assert full.variant == "gan" and full.num_res_blocks == (16, 16, 8, 4)
    train, val = _demo_data()
    names = {os.path.splitext(os.path.basename(p))[0] for p in train}
    assert names and not names & set(DEMO_EXCLUDED)                 # the motorcycle pair is the demo's test
    assert {os.path.splitext(os.path.basename(p))[0] for p in val} == {"chelsea", "coffee"}


def test_help_documents_the_flags(capsys):
    with pytest.raises(SystemExit) as info:
        main(["--help"])
    assert info.value.code == 0
    text = capsys.readouterr().out
    for flag in ("--variant", "--data", "--steps", "--vgg-weights", "--reference", "--tpl-weight", "--init-steps",
                 "--lte-learning-rate", "--resume", "motorcycle_right"):
        assert flag in text, flag


def test_gan_without_vgg_weights_says_how_to_get_them(tmp_path):
    with pytest.raises(SystemExit, match="--vgg-weights is required"):
        main(["--data", str(tmp_path), "--out", str(tmp_path / "run")])
    with pytest.raises(SystemExit, match="file not found"):
        main(["--data", str(tmp_path), "--vgg-weights", str(tmp_path / "missing.h5")])


def test_cli_trains_the_rec_variant_on_a_folder(tmp_path, capsys):
    rng = np.random.default_rng(0)
    folder = tmp_path / "images"
    folder.mkdir()
    for i in range(3):
        small = rng.integers(0, 256, (8, 10, 3), dtype=np.uint8)
        Image.fromarray(small).resize((80, 64), Image.BICUBIC).save(folder / f"{i}.png")
    out = tmp_path / "run"
    code = main(["--variant", "rec", "--data", str(folder), "--val-data", str(folder / "0.png"), "--out", str(out),
                 "--steps", "1", "--patch-size", "8", "--batch-size", "2", "--num-res-blocks", "1", "1", "1", "1",
                 "--n-feats", "8", "--texture-widths", "8", "8", "8", "--workers", "1", "--jit-compile", "off",
                 "--quiet"])
    assert code == 0
    printed = capsys.readouterr().out
    assert "| bicubic |" in printed and "TTSR rec (1 steps)" in printed
    reloaded = keras.saving.load_model(out / "final.keras", safe_mode=True)
    assert reloaded.count_params() > 0


# Losses and critic ----------------------------------------------------------------------------------------------


def test_ttsr_discriminator_matches_the_official_size():
    from keras_sr import models
    from keras_sr.models.ttsr import ttsr_discriminator

    critic = models.build("ttsr_discriminator", input_size=160)
    assert models.get_spec("ttsr_discriminator").kind == "discriminator" and critic.name == "ttsr_discriminator"
    widths = [3, 32, 32, 64, 64, 128, 128, 256, 256, 512, 512]
    convs = sum(9 * a * b + b for a, b in zip(widths[:-1], widths[1:]))
    dense = (5 * 5 * 512) * 1024 + 1024 + 1024 + 1
    assert critic.count_params() == convs + dense
    assert tuple(critic(np.zeros((2, 160, 160, 3), np.float32)).shape) == (2, 1)
    with pytest.raises(ValueError, match="multiple of 32"):
        ttsr_discriminator(100)


def test_transferal_perceptual_loss_and_wgan_terms():
    from keras_sr.training.refsr_losses import (gradient_penalty, interpolate, transferal_perceptual_loss,
                                                wgan_critic_loss, wgan_generator_loss)

    rng = np.random.default_rng(0)
    levels = [rng.normal(size=(2, 16, 16, 4)), rng.normal(size=(2, 8, 8, 4)), rng.normal(size=(2, 4, 4, 4))]
    levels = [x.astype("float32") for x in levels]
    assert float(transferal_perceptual_loss(levels, levels)) == pytest.approx(0.0)
    shifted = [x + 1.0 for x in levels]
    assert float(transferal_perceptual_loss(levels, shifted)) == pytest.approx(1.0, rel=1e-5)       # mean of MSEs
    assert float(transferal_perceptual_loss(levels, shifted, criterion="l1")) == pytest.approx(1.0, rel=1e-5)
    soft = np.zeros((2, 4, 4, 1), np.float32)                                                      # sigmoid(0) = 1/2
    assert float(transferal_perceptual_loss(levels, shifted, soft=soft)) == pytest.approx(0.25, rel=1e-4)
    real, fake = np.array([[2.0], [4.0]], np.float32), np.array([[1.0], [0.0]], np.float32)
    assert float(wgan_critic_loss(real, fake)) == pytest.approx(0.5 - 3.0)
    assert float(wgan_generator_loss(fake)) == pytest.approx(-0.5)
    unit = np.zeros((2, 3, 3, 1), np.float32)
    unit[:, 0, 0, 0] = 1.0
    assert float(gradient_penalty(unit)) == pytest.approx(0.0, abs=1e-6)                         # ||g|| = 1
    assert float(gradient_penalty(3.0 * unit)) == pytest.approx(4.0, rel=1e-5)
    eps = np.array([0.0, 1.0], np.float32).reshape(2, 1, 1, 1)
    hat = keras.ops.convert_to_numpy(interpolate(np.ones((2, 2, 2, 3), np.float32), np.zeros((2, 2, 2, 3),
                                                                                               np.float32), eps))
    assert hat[0].max() == 0.0 and hat[1].min() == 1.0
