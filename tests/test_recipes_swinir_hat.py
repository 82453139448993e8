"""SwinIR and HAT recipes: the official training setups, and short runs on TensorFlow (JAX in a subprocess)."""

import json
import os

import numpy as np
import pytest

from keras_sr.recipes.hat import HATRecipe
from keras_sr.recipes.swinir import SwinIRRecipe


def test_swinir_defaults_are_the_official_setup():
    x2 = SwinIRRecipe.for_scale(2)
    assert (x2.batch_size, x2.patch_size, x2.loss, x2.learning_rate, x2.steps) == (32, 48, "l1", 2e-4, 500_000)
    assert (x2.beta_1, x2.beta_2, x2.schedule, x2.lr_gamma) == (0.9, 0.999, "step", 0.5)
    assert x2.lr_milestones == (250_000, 400_000, 450_000, 475_000)
    assert SwinIRRecipe.for_scale(2, variant="lightweight").patch_size == 64
    x4 = SwinIRRecipe.for_scale(4)  # fine-tuned from x2: rate and milestones halved
    assert (x4.learning_rate, x4.steps, x4.lr_milestones) == (1e-4, 250_000, (125_000, 200_000, 225_000, 237_500))
    assert [x4.learning_rate_at(s) for s in (125_000, 125_001, 237_501)] == [1e-4, 5e-5, 6.25e-6]
    assert x4.model_config() == {"scale": 4, "variant": "classical"}
    assert SwinIRRecipe.for_scale(3, embed_dim=12, num_groups=1, blocks_per_group=2, window_size=4).model_config() == {
        "scale": 3, "variant": "classical", "embed_dim": 12, "depths": (2,), "num_heads": (6,), "window_size": 4}


def test_hat_defaults_are_the_official_setup():
    x2 = HATRecipe.for_scale(2)
    assert (x2.batch_size, x2.patch_size, x2.loss, x2.learning_rate, x2.steps) == (32, 64, "l1", 2e-4, 500_000)
    assert (x2.beta_2, x2.lr_milestones) == (0.99, (250_000, 400_000, 450_000, 475_000))
    x4 = HATRecipe.for_scale(4)
    assert (x4.patch_size, x4.learning_rate, x4.steps) == (64, 1e-4, 250_000)
    assert x4.lr_milestones == (125_000, 200_000, 225_000, 240_000) and x4.hr_patch_size == 256
    assert HATRecipe.for_scale(4, variant="hat_s").model_config() == {"scale": 4, "variant": "hat_s"}


TINY = dict(patch_size=8, batch_size=2, steps=2, steps_per_epoch=2, val_every=2, checkpoint_every=2, jit_compile="off")


@pytest.mark.parametrize("recipe_cls,config", [
    (SwinIRRecipe, dict(variant="lightweight", embed_dim=12, num_groups=1, blocks_per_group=2, window_size=4)),
    # HAT: its fit step and mixed precision run in tests/test_model_harness.py (keras_sr.testing)
], ids=["swinir"])
def test_two_step_run(recipe_cls, config, tiny_photos, tmp_path):
    from keras_sr import models
    from keras_sr.training.engine import train

    train_dir, val_dir = tiny_photos
    out = str(tmp_path / "run")
    recipe = recipe_cls.for_scale(2, **TINY, **config)
    result = train(recipe, data=[train_dir], val_data=[val_dir], out=out, strategy="none", verbose=0, log=None,
                   tensorboard=False)
    assert result.steps == 2 and np.isfinite(result.history["loss"]).all() and np.isfinite(result.final["psnr"])
    meta = json.load(open(os.path.join(out, "model.json")))
    model = models.build(meta["name"], **meta["config"])
    model.load_weights(os.path.join(out, "final.weights.h5"))
    assert tuple(model(np.full((1, 7, 9, 3), 128.0, np.float32)).shape) == (1, 14, 18, 3)
