"""SR3: the forward process against its closed form, sampler steps against numpy, a full DDIM run with an oracle
denoiser, parameter counts, the upscaler, one training step; TensorFlow here, JAX in one subprocess (this file's
backend tests and tests/test_glean.py's numpy-oracle tests; the training step runs there when asked:
`KERAS_BACKEND=jax python -m pytest tests/test_sr3.py -k trainer`, measured in the README)."""

import os

import keras
import numpy as np
import pytest

from conftest import run_modules_on_backend
from keras_sr import models
from keras_sr.diffusion import (AncestralSampler, DDIMSampler, NoiseSchedule, TRAIN_SCHEDULE, q_sample,
                                sample_training_gamma, sampler_from_config)
from keras_sr.models import sr3 as S

BACKEND = keras.backend.backend()
MAIN = BACKEND == "tensorflow" and not os.environ.get("KERAS_SR_SR3_SUBPROCESS")
TINY = models.get_spec("sr3").test_config


def test_schedule_closed_form_matches_the_markov_chain():
    """gamma_t = prod(1 - beta): T single steps q(y_t | y_{t-1}) = N(sqrt(alpha_t) y_{t-1}, beta_t) give
    q(y_T | y0) = N(sqrt(gamma_T) y0, 1 - gamma_T) (simulated in numpy)."""
    s = NoiseSchedule.linear(200, 1e-4, 0.05)
    np.testing.assert_allclose(s.gammas, np.cumprod(1 - np.linspace(1e-4, 0.05, 200)))
    rng = np.random.default_rng(0)
    y0 = np.array([0.8, -0.3])
    y = np.tile(y0, (40_000, 1))
    for t in range(len(s)):
        y = np.sqrt(s.alphas[t]) * y + np.sqrt(s.betas[t]) * rng.normal(size=y.shape)
    g = s.gammas[-1]
    np.testing.assert_allclose(y.mean(0), np.sqrt(g) * y0, atol=0.015)
    np.testing.assert_allclose(y.var(0), 1 - g, rtol=0.03)
    assert TRAIN_SCHEDULE.gammas[-1] < 1e-4 and len(TRAIN_SCHEDULE) == 2000


def test_forward_process_matches_its_closed_form():
    rng = np.random.default_rng(1)
    y0 = rng.uniform(-1, 1, (3, 4, 5, 3)).astype("float32")
    eps = rng.normal(size=y0.shape).astype("float32")
    gamma = np.array([[0.9], [0.5], [0.01]], "float32")
    y = keras.ops.convert_to_numpy(q_sample(keras.ops.convert_to_tensor(y0), gamma, eps))
    expected = np.sqrt(gamma)[:, :, None, None] * y0 + np.sqrt(1 - gamma)[:, :, None, None] * eps
    np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-6)
    # q(y_gamma | y0) moments from many draws of the keras.random noise
    seed = keras.random.SeedGenerator(0)
    noise = keras.random.normal((20_000, 1, 1, 1), seed=seed)
    draws = keras.ops.convert_to_numpy(q_sample(keras.ops.full((20_000, 1, 1, 1), 0.6), keras.ops.full((20_000, 1), 0.3),
                                                noise))
    assert abs(draws.mean() - np.sqrt(0.3) * 0.6) < 0.02 and abs(draws.var() - 0.7) < 0.03


def test_training_gamma_is_the_piecewise_uniform_of_the_paper():
    gammas = keras.ops.convert_to_numpy(sample_training_gamma(TRAIN_SCHEDULE, 4000, keras.random.SeedGenerator(0)))
    assert gammas.shape == (4000, 1) and (gammas > 0).all() and (gammas <= 1).all()
    # t uniform over the 2000 steps: the fraction above gamma_1000 is about one half (gamma decreases in t)
    frac = float((gammas[:, 0] > TRAIN_SCHEDULE.gammas[999]).mean())
    assert 0.45 < frac < 0.55, frac


def _np_ancestral(y, eps, z, alpha, gamma):
    return (y - (1 - alpha) / np.sqrt(1 - gamma) * eps) / np.sqrt(alpha) + np.sqrt(1 - alpha) * z


def test_sampler_steps_match_numpy():
    rng = np.random.default_rng(2)
    y, eps, z = (rng.normal(size=(2, 4, 4, 3)).astype("float32") for _ in range(3))
    sampler = AncestralSampler(NoiseSchedule.linear(10, 1e-3, 0.2))
    index = 3
    t = 10 - 1 - index
    out = keras.ops.convert_to_numpy(sampler.step(keras.ops.convert_to_tensor(y), eps, index, keras.ops.convert_to_tensor(z)))
    expected = _np_ancestral(y.astype(np.float64), eps, z, sampler.schedule.alphas[t], sampler.schedule.gammas[t])
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-5)
    ddim = DDIMSampler(steps=5)
    g, g_next = ddim.levels()[1], ddim.levels()[2]
    out = keras.ops.convert_to_numpy(ddim.step(keras.ops.convert_to_tensor(y), eps, 1, None))
    x0 = np.clip((y - np.sqrt(1 - g) * eps) / np.sqrt(g), -1, 1)
    np.testing.assert_allclose(out, np.sqrt(g_next) * x0 + np.sqrt(1 - g_next) * eps, rtol=1e-5, atol=1e-5)
    assert ddim.levels()[0] == TRAIN_SCHEDULE.gammas[-1] and ddim.levels()[-1] == TRAIN_SCHEDULE.gammas[0]


def test_ddim_with_an_oracle_denoiser_recovers_the_image():
    """A denoiser that knows y0 predicts the exact noise: DDIM (eta 0) must end at y0; ancestral close to it."""
    rng = np.random.default_rng(3)
    y0 = rng.uniform(-0.9, 0.9, (1, 8, 8, 3)).astype("float32")

    def oracle(inputs, training=False):
        g = keras.ops.reshape(inputs["gamma"], (-1, 1, 1, 1))
        return (inputs["noisy"] - keras.ops.sqrt(g) * y0) / keras.ops.sqrt(1.0 - g)

    lr_up = np.zeros((1, 8, 8, 3), "float32")
    out = keras.ops.convert_to_numpy(DDIMSampler(steps=10).sample(oracle, lr_up, seed=0))
    np.testing.assert_allclose(out, y0, atol=1e-4)
    anc = AncestralSampler(NoiseSchedule.linear(50, 1e-4, 0.1))
    out = keras.ops.convert_to_numpy(anc.sample(oracle, lr_up, seed=0))
    np.testing.assert_allclose(out, y0, atol=2e-2)
    assert len(anc.step_times) == 50


@pytest.mark.skipif(not MAIN, reason="TensorFlow only: counts do not depend on the backend")
def test_parameter_counts():
    assert S.parameter_count(**S.PAPER_16_128) == 535_506_563     # the paper's table says "550M"
    assert models.build("sr3", **TINY).count_params() == S.parameter_count(**TINY)
    cfg = dict(base_channels=16, channel_multipliers=(1, 2, 4), num_res_blocks=2, image_size=32,
               attention_resolutions=(16, 8), groups=8)
    with keras.StatelessScope():
        assert models.build("sr3", **cfg).count_params() == S.parameter_count(**cfg)
    with pytest.raises(ValueError, match="sampler kind"):
        models.build("sr3", **{**TINY, "sampler": {"kind": "euler", "steps": 3}})


@pytest.mark.skipif(not MAIN, reason="TensorFlow only: the upscaler is numpy around the backend-tested sampler")
def test_upscaler_runs_the_model_sampler():
    from keras_sr import upscalers

    model = models.build("sr3", **TINY)
    up = upscalers.load(model)
    assert up.scale == 2 and up.kind == "sisr"
    lr = np.random.default_rng(4).integers(0, 256, (5, 7, 3), dtype=np.uint8)
    sr = up.upscale(lr)
    assert sr.shape == (10, 14, 3) and sr.dtype == np.float32 and 0 <= sr.min() and sr.max() <= 255
    sampler = sampler_from_config(model.model_config["sampler"])
    assert isinstance(sampler, DDIMSampler) and sampler.steps == 2
    with pytest.raises(ValueError, match="upscales x2, asked for x4"):
        up.upscale(lr, scale=4)


def test_diffusion_trainer_fit_step_moves_the_weights():
    from keras_sr.training.diffusion import DiffusionTrainer

    network = models.build("sr3", **TINY)
    trainer = DiffusionTrainer(network, scale=2, loss="l2")
    trainer.compile(optimizer=keras.optimizers.Adam(1e-3), run_eagerly=True)  # eager: no tracing cost
    rng = np.random.default_rng(5)
    lr = rng.uniform(0, 255, (2, 4, 4, 3)).astype("float32")
    hr = rng.uniform(0, 255, (2, 8, 8, 3)).astype("float32")
    before = [keras.ops.convert_to_numpy(w).copy() for w in network.trainable_weights]
    history = trainer.fit(lr, hr, batch_size=2, epochs=2, verbose=0).history
    assert all(np.isfinite(history["loss"]))
    after = [keras.ops.convert_to_numpy(w) for w in network.trainable_weights]
    assert any(not np.array_equal(a, b) for a, b in zip(before, after))
    assert float(keras.ops.convert_to_numpy(trainer.train_steps)) == 2.0
    with pytest.raises(ValueError, match="l1 or l2"):
        DiffusionTrainer(network, scale=2, loss="charbonnier")


@pytest.mark.skipif(not MAIN, reason="the subprocess itself")
def test_backend_tests_on_jax():
    run_modules_on_backend("jax", "jax", ["tests/test_sr3.py", "tests/test_glean.py", "-k",
                                          "not parameter_counts and not upscaler and not from_checkpoint "
                                          "and not tiny_glean and not converter and not trainer"],
                           KERAS_SR_SR3_SUBPROCESS="1", KERAS_SR_GLEAN_SUBPROCESS="1", JAX_PLATFORMS="cpu")


def test_sr3_recipe_configs():
    from keras_sr.recipes.sr3 import SR3Recipe

    recipe = SR3Recipe.for_scale(8)
    config = recipe.model_config()
    assert {k: config[k] for k in S.PAPER_16_128} == {**S.PAPER_16_128, "channel_multipliers": (1, 2, 4, 8, 8)}
    assert (recipe.patch_size, recipe.batch_size, recipe.steps, recipe.learning_rate) == (16, 256, 1_000_000, 1e-4)
    assert config["sampler"] == {"kind": "ancestral", "steps": 100, "beta_start": 1e-4, "beta_end": 0.1}
    demo = SR3Recipe.for_scale(4, **SR3Recipe.demo_defaults(4))
    assert demo.model_config()["sampler"]["kind"] == "ddim" and demo.hr_patch_size == 32
