"""The deep-SISR recipes (RDN, RCAN, WDSR, SRResNet, RRDBNet) and the GAN recipes (SRGAN, ESRGAN): defaults equal
the cited papers' training setups, and a 2-step run of every non-GAN recipe on a tiny config."""

import json
import os

import numpy as np
import pytest

from keras_sr.recipes.esrgan import ESRGANRecipe
from keras_sr.recipes.rcan import RCANRecipe
from keras_sr.recipes.rdn import RDNRecipe
from keras_sr.recipes.rrdbnet import RRDBNetRecipe
from keras_sr.recipes.srgan import SRGANRecipe
from keras_sr.recipes.srresnet import SRResNetRecipe
from keras_sr.recipes.wdsr import WDSRRecipe

ADAM = {"beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-8}


def _common(recipe, **expected):
    values = {**ADAM, "batch_size": 16, "augment": True, "ema_decay": 0.0, **expected}
    assert {k: getattr(recipe, k) for k in values} == values


def test_rdn_defaults_are_the_papers():
    for scale in (2, 3, 4):  # 32x32 LR patches at every scale (HR 64 / 96 / 128 in EDSR-PyTorch's RDN commands)
        recipe = RDNRecipe.for_scale(scale)
        _common(recipe, patch_size=32, loss="l1", learning_rate=1e-4, schedule="step", lr_gamma=0.5, steps=200_000)
        assert recipe.hr_patch_size == 32 * scale
    recipe = RDNRecipe.for_scale(4)
    assert recipe.model_config() == {"scale": 4, "variant": "B", "filters": 64}  # D16 C8 G64, G0 64
    # halved every 200 epochs of 1000 updates
    assert [recipe.learning_rate_at(s) for s in (200_000, 200_001, 400_001)] == [1e-4, 5e-5, 2.5e-5]


def test_rcan_defaults_are_the_papers():
    recipe = RCANRecipe.for_scale(4)
    _common(recipe, patch_size=48, loss="l1", learning_rate=1e-4, schedule="step", lr_gamma=0.5, steps=1_000_000)
    assert recipe.lr_milestones == (200_000, 400_000, 600_000, 800_000)
    assert recipe.model_config() == {"scale": 4, "num_groups": 10, "num_blocks": 20, "filters": 64, "reduction": 16}
    assert RCANRecipe.for_scale(2).patch_size == 48 and RCANRecipe.for_scale(8).hr_patch_size == 384


def test_wdsr_defaults_are_the_papers():
    from keras_sr.layers.weight_normalization import WeightNormalization
    from keras_sr.training.engine import build_inference_model

    recipe = WDSRRecipe.for_scale(2)
    _common(recipe, patch_size=48, loss="l1", learning_rate=1e-3, schedule="step", lr_gamma=0.5, steps=300_000)
    assert recipe.hr_patch_size == 96 and recipe.lr_milestones == (200_000,)
    assert recipe.model_config() == {"scale": 2, "variant": "a", "residual_scale": 1.0}
    model = build_inference_model(recipe)
    assert model.count_params() == 1_190_100  # the official WDSR-A baseline
    assert any(isinstance(layer, WeightNormalization) for layer in model.layers)
    assert WDSRRecipe.for_scale(4, variant="b").model_config()["variant"] == "b"


def test_srresnet_and_rrdbnet_defaults_are_the_papers():
    srresnet = SRResNetRecipe.for_scale(4)
    _common(srresnet, loss="l2", learning_rate=1e-4, schedule="constant", steps=1_000_000)
    assert [SRResNetRecipe.for_scale(s).hr_patch_size for s in (2, 3, 4, 8)] == [96] * 4
    assert srresnet.model_config() == {"scale": 4, "variant": "srgan", "num_blocks": 16, "filters": 64}
    rrdbnet = RRDBNetRecipe.for_scale(4)
    _common(rrdbnet, loss="l1", learning_rate=2e-4, schedule="step", lr_gamma=0.5, steps=1_000_000)
    assert [RRDBNetRecipe.for_scale(s).hr_patch_size for s in (1, 2, 4)] == [128] * 3
    assert rrdbnet.lr_milestones == (200_000, 400_000, 600_000, 800_000)
    assert rrdbnet.model_config() == {"scale": 4, "num_blocks": 23, "filters": 64, "growth_rate": 32}


def test_gan_recipe_defaults_are_the_papers():
    esrgan = ESRGANRecipe.for_scale(4)
    _common(esrgan, patch_size=32, loss="l1", learning_rate=1e-4, d_learning_rate=1e-4, schedule="step", lr_gamma=0.5,
            steps=400_000)
    assert esrgan.hr_patch_size == 128 and esrgan.lr_milestones == (50_000, 100_000, 200_000, 300_000)
    assert (esrgan.gan_loss, esrgan.pixel_weight, esrgan.perceptual_weight, esrgan.adversarial_weight) == (
        "ragan", 1e-2, 1.0, 5e-3)
    assert (esrgan.perceptual_layer, esrgan.perceptual_criterion, esrgan.feature_scale) == ("conv5_4", "l1", 1.0)
    assert (esrgan.model, esrgan.discriminator, esrgan.discriminator_config()) == (
        "rrdbnet", "esrgan_discriminator", {"input_size": 128})
    assert esrgan.model_config() == RRDBNetRecipe.for_scale(4).model_config()  # starts from the PSNR model
    srgan = SRGANRecipe.for_scale(4)
    _common(srgan, patch_size=24, learning_rate=1e-4, d_learning_rate=1e-4, schedule="step", lr_gamma=0.1,
            steps=200_000)
    assert srgan.lr_milestones == (100_000,)  # 1e5 updates at 1e-4, then 1e5 at 1e-5
    assert srgan.learning_rate_at(150_000) == pytest.approx(1e-5)
    assert (srgan.gan_loss, srgan.pixel_weight, srgan.perceptual_weight, srgan.adversarial_weight) == (
        "standard", 0.0, 1.0, 1e-3)
    assert (srgan.perceptual_layer, srgan.perceptual_criterion) == ("relu5_4", "l2")
    assert srgan.feature_scale == pytest.approx(1 / 12.75)
    assert srgan.discriminator_config() == {"input_size": 96}
    assert srgan.model_config() == SRResNetRecipe.for_scale(4).model_config()
    # the demos' generators are the PSNR demos' (so a demo GAN can start from a demo PSNR run)
    for gan, psnr in ((ESRGANRecipe, RRDBNetRecipe), (SRGANRecipe, SRResNetRecipe)):
        assert gan.for_scale(4, **gan.demo_defaults(4)).model_config() == psnr.for_scale(
            4, **psnr.demo_defaults(4)).model_config()
    with pytest.raises(ValueError, match="multiple of 32"):
        ESRGANRecipe.for_scale(4, patch_size=12)


TINY = dict(patch_size=8, batch_size=2, steps=2, steps_per_epoch=2, val_every=2, checkpoint_every=2, jit_compile="off")


@pytest.mark.parametrize("recipe_cls,config", [
    (RDNRecipe, dict(num_blocks=1, num_layers=2, growth_rate=4, filters=8)),
    (RCANRecipe, dict(num_groups=1, num_blocks=1, filters=8, reduction=4)),
    (WDSRRecipe, dict(variant="b", num_blocks=1, filters=4, expansion=2.0)),
    (SRResNetRecipe, dict(num_blocks=1, filters=8)),
    (RRDBNetRecipe, dict(num_blocks=1, filters=8, growth_rate=4)),
], ids=lambda x: getattr(x, "__name__", ""))
def test_two_step_run(recipe_cls, config, tiny_photos, tmp_path):
    from keras_sr import models
    from keras_sr.training.engine import train

    train_dir, val_dir = tiny_photos
    out = str(tmp_path / "run")
    recipe = recipe_cls.for_scale(2, **TINY, **config)
    result = train(recipe, data=[train_dir], val_data=[val_dir], out=out, strategy="none", verbose=0, log=None,
                   tensorboard=False)
    assert result.steps == 2 and np.isfinite(result.history["loss"]).all() and np.isfinite(result.final["psnr"])
    stored = json.load(open(os.path.join(out, "recipe.json")))
    assert stored["model"]["name"] == recipe.model and stored["model"]["config"] == recipe.model_config()
    # the final weights load into the model the run directory describes and upscale x2
    meta = json.load(open(os.path.join(out, "model.json")))
    model = models.build(meta["name"], **meta["config"])
    model.load_weights(os.path.join(out, "final.weights.h5"))
    for a, b in zip(model.get_weights(), result.model.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert tuple(model(np.full((1, 8, 8, 3), 128.0, np.float32)).shape) == (1, 16, 16, 3)


def test_deep_recipe_command_line(tiny_photos, tmp_path, capsys):
    from keras_sr.recipes.rdn import main

    train_dir, val_dir = tiny_photos
    out = str(tmp_path / "cli")
    code = main(["--scale", "2", "--data", train_dir, "--val-data", val_dir, "--out", out, "--steps", "2",
                 "--num-blocks", "1", "--num-layers", "2", "--growth-rate", "4", "--filters", "8", "--patch-size", "8",
                 "--batch-size", "2", "--steps-per-epoch", "2", "--checkpoint-every", "2", "--val-every", "2",
                 "--jit-compile", "off", "--no-export", "--quiet"])
    assert code == 0
    assert "| RDN (scratch, 2 steps) |" in capsys.readouterr().out
    stored = json.load(open(os.path.join(out, "recipe.json")))
    assert stored["recipe_class"] == "keras_sr.recipes.rdn.RDNRecipe"
    assert stored["model"]["config"] == {"scale": 2, "variant": "B", "filters": 8, "num_blocks": 1, "num_layers": 2,
                                         "growth_rate": 4}
