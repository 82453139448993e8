"""DASR: blur kernels and degradation (scipy oracles), `--degradation` evaluation, the model's parameters and
DA conv (numpy oracles), the MoCo trainer on TensorFlow and JAX, the recipe's schedule and one recipe run."""

import json
import math
import os

import numpy as np
import pytest
import scipy.ndimage
import scipy.signal
import scipy.stats

from conftest import run_modules_on_backend
from keras_sr.blur_kernels import (Degradation, anisotropic_covariance, anisotropic_gaussian_kernel, blur,
                                   blur_downsample, isotropic_gaussian_kernel, parse_degradation, random_kernel)
from keras_sr.degradation import degrade
from keras_sr.image_io import save_image
from keras_sr.imresize import imresize

TINY = dict(scale=2, filters=8, num_groups=1, num_blocks=1, reduction=4, encoder_widths=[8, 8, 16])


# Kernels and degradation (numpy / scipy) ------------------------------------------------------------------------


@pytest.mark.parametrize("sigma", [0.2, 1.2, 3.6])
def test_isotropic_kernel_is_the_normalised_outer_product_of_scipy_gaussian_windows(sigma):
    g = scipy.signal.windows.gaussian(21, std=sigma)
    expected = np.outer(g, g) / np.outer(g, g).sum()
    np.testing.assert_allclose(isotropic_gaussian_kernel(21, sigma), expected, rtol=1e-10, atol=1e-15)


def test_anisotropic_kernel_is_the_normalised_multivariate_normal_density():
    l1, l2, theta = 0.8, 3.1, 0.6
    cov = anisotropic_covariance(l1, l2, theta)
    np.testing.assert_allclose(np.linalg.eigvalsh(cov), sorted([l1 ** 2, l2 ** 2]))
    ax = np.arange(21) - 10
    xx, yy = np.meshgrid(ax, ax)  # x along columns, y down rows
    pdf = scipy.stats.multivariate_normal(mean=[0, 0], cov=cov).pdf(np.stack([xx, yy], -1))
    np.testing.assert_allclose(anisotropic_gaussian_kernel(21, l1, l2, theta), pdf / pdf.sum(), rtol=1e-9)
    # theta = 0: lambda_1 is the horizontal width; a quarter turn swaps the axes; equal widths are isotropic
    k0 = anisotropic_gaussian_kernel(21, 0.5, 3.0, 0.0)
    assert k0[10].sum() < k0[:, 10].sum()  # wide along y (rows), narrow along x
    np.testing.assert_allclose(anisotropic_gaussian_kernel(21, 0.5, 3.0, math.pi / 2), k0.T, atol=1e-12)
    np.testing.assert_allclose(anisotropic_gaussian_kernel(21, 1.5, 1.5, 1.0), isotropic_gaussian_kernel(21, 1.5),
                               atol=1e-12)


def test_random_kernels_follow_the_official_ranges():
    rng = np.random.default_rng(0)
    kernels = [random_kernel(rng) for _ in range(50)]
    assert all(k.shape == (21, 21) and abs(k.sum() - 1) < 1e-12 for k in kernels)
    centre = [k[10, 10] for k in kernels]  # sigma in [0.2, 4]: the centre weight spans the range's extremes
    assert min(centre) > isotropic_gaussian_kernel(21, 4.0)[10, 10] and max(centre) < 1.0
    ax = np.arange(21) - 10
    xy = np.stack(np.meshgrid(ax, ax), -1).reshape(-1, 2)
    for _ in range(20):  # second moments: eigen-widths at most 4 (the 21x21 window truncates the tails)
        k = random_kernel(rng, "aniso_gaussian").reshape(-1)
        moments = np.linalg.eigvalsh((xy * k[:, None]).T @ xy)
        assert abs(k.sum() - 1) < 1e-12 and moments.min() >= 0 and moments.max() <= 16.0
    with pytest.raises(ValueError, match="blur_type"):
        random_kernel(rng, "motion")


def test_blur_is_a_reflect_padded_correlation_as_scipy():
    rng = np.random.default_rng(1)
    images = rng.uniform(0, 255, (2, 30, 26, 3))
    kernels = np.stack([rng.uniform(0, 1, (7, 7)), anisotropic_gaussian_kernel(7, 0.5, 2.0, 0.3)])  # one asymmetric
    out = blur(images, kernels)
    for n in range(2):
        for c in range(3):  # scipy's "mirror" is numpy's / PyTorch's ReflectionPad "reflect"
            expected = scipy.ndimage.correlate(images[n, :, :, c], kernels[n], mode="mirror")
            np.testing.assert_allclose(out[n, :, :, c], expected, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(blur(images[0], kernels[0]), out[0])
    with pytest.raises(ValueError, match="larger than"):
        blur(images[:, :8, :8], isotropic_gaussian_kernel(21, 1.0))


def test_blur_downsample_is_blur_then_float_bicubic_then_noise_and_rounding():
    rng = np.random.default_rng(2)
    hr = rng.integers(0, 256, (48, 40, 3), np.uint8)
    kernel = isotropic_gaussian_kernel(21, 2.4)
    clean = imresize(np.stack([scipy.ndimage.correlate(hr[..., c].astype(float), kernel, mode="mirror")
                               for c in range(3)], -1), 1 / 4)
    lr = blur_downsample(hr, kernel, 4)
    assert lr.dtype == np.uint8 and lr.shape == (12, 10, 3)
    np.testing.assert_array_equal(lr, np.clip(np.round(clean), 0, 255).astype(np.uint8))
    noisy = blur_downsample(hr, kernel, 4, noise=10.0, rng=np.random.default_rng(3))
    diff = noisy.astype(float) - np.round(clean)
    assert abs(diff.mean()) < 1.5 and 8.0 < diff.std() < 12.0
    with pytest.raises(ValueError, match="rng"):
        blur_downsample(hr, kernel, 4, noise=5.0)


def test_degradation_specs():
    assert parse_degradation("gaussian:1.2") == Degradation(sigma=1.2)
    assert parse_degradation("aniso:0.2,4,30+noise:10") == Degradation(lambdas=(0.2, 4.0), theta_degrees=30.0,
                                                                       noise=10.0)
    assert parse_degradation("gaussian:0").is_bicubic and parse_degradation("bicubic").is_bicubic
    assert not parse_degradation("bicubic+noise:5").is_bicubic
    for bad, message in (("gauss:1", "expected bicubic"), ("gaussian:x", "not a number"),
                         ("aniso:1,2", "three numbers"), ("gaussian:1+blur:2", "noise:LEVEL"),
                         ("gaussian:-1", ">= 0")):
        with pytest.raises(ValueError, match=message):
            parse_degradation(bad)
    rng = np.random.default_rng(4)
    hr = rng.integers(0, 256, (42, 45, 3), np.uint8)
    for a, b in zip(parse_degradation("gaussian:0")(hr, 4), degrade(hr, 4)):  # width 0 is the protocol
        np.testing.assert_array_equal(a, b)
    cropped, lr = parse_degradation("aniso:0.2,4,0+noise:10")(hr, 4, "x.png")
    again = parse_degradation("aniso:0.2,4,0+noise:10")(hr, 4, "x.png")[1]
    assert cropped.shape == (40, 44, 3) and lr.shape == (10, 11, 3)
    np.testing.assert_array_equal(lr, again)  # noise seeded by the image name: reproducible tables


def test_evaluate_with_a_blur_degradation(tmp_path, capsys):
    from skimage import data

    from keras_sr.cli import main

    folder = tmp_path / "Set" / "HR"
    save_image(str(folder / "a.png"), data.astronaut()[:96, :96])
    save_image(str(folder / "b.png"), data.coffee()[:96, 100:196])
    scores = {}
    for spec in (None, "gaussian:2.4"):
        out = str(tmp_path / f"{spec}.json")
        argv = ["evaluate", "--model", "bicubic", "--scale", "4", "--data", str(folder), "--json", out, "--quiet"]
        assert main(argv + (["--degradation", spec] if spec else [])) == 0
        scores[spec] = json.load(open(out))["Set"]["4"]
    assert "degradation" not in scores[None]  # the default protocol is unchanged
    assert scores["gaussian:2.4"]["degradation"].startswith("isotropic Gaussian blur 21x21 (sigma 2.4)")
    assert scores["gaussian:2.4"]["psnr"] < scores[None]["psnr"] - 0.5
    assert "LR: isotropic Gaussian blur" in capsys.readouterr().out
    assert main(["evaluate", "--model", "bicubic", "--scale", "4", "--data", str(folder), "--degradation",
                 "gauss:2"]) == 2
    assert "expected bicubic, gaussian:SIGMA" in capsys.readouterr().err


# Model and layers -----------------------------------------------------------------------------------------------


def test_parameters_match_the_official_count():
    import keras

    from keras_sr import models
    from keras_sr.models.dasr import OFFICIAL_PARAMETERS, official_parameter_count

    def count(weights):
        return sum(int(np.prod(w.shape)) for w in weights)

    model = models.build("dasr", scale=4)
    # Official BlindSR counted with PyTorch: G (less its 24 frozen MeanShift weights) + E.encoder_q.E.
    assert count(model.trainable_weights) == OFFICIAL_PARAMETERS == official_parameter_count(4) == 5_837_699
    assert count(model.non_trainable_weights) == 2 * (64 + 64 + 128 + 128 + 256 + 256)  # BN moving statistics
    assert count(model.get_layer("generator").trainable_weights) == 4_690_499
    assert count(model.get_layer("encoder").trainable_weights) == 1_147_200
    assert official_parameter_count(2) == 5_689_987 and official_parameter_count(3) == 5_874_627  # PyTorch counts
    tiny = models.build("dasr", **TINY)
    assert count(tiny.trainable_weights) == official_parameter_count(2, 8, 1, 1, 3, 4, (8, 8, 16))
    assert keras.ops.convert_to_numpy(tiny(np.full((1, 7, 9, 3), 100.0, "float32"))).shape == (1, 14, 18, 3)
    with pytest.raises(ValueError, match="x2/x3/x4"):
        models.build("dasr", scale=8)


def test_da_conv_matches_a_numpy_oracle():
    import keras

    from keras_sr.layers import DAConv, dynamic_depthwise_conv

    rng = np.random.default_rng(5)
    x = rng.standard_normal((3, 6, 7, 8)).astype("float32")
    r = rng.standard_normal((3, 8)).astype("float32")
    kernels = rng.standard_normal((3, 3, 3, 8)).astype("float32")
    expected = np.stack([np.stack([scipy.ndimage.correlate(x[b, :, :, c], kernels[b, :, :, c], mode="constant")
                                   for c in range(8)], -1) for b in range(3)])
    np.testing.assert_allclose(keras.ops.convert_to_numpy(dynamic_depthwise_conv(x, kernels)), expected, atol=1e-5)

    layer = DAConv(8, kernel_size=3, reduction=4)
    out = keras.ops.convert_to_numpy(layer([x, r]))
    w = {v.path.split("/")[-1]: keras.ops.convert_to_numpy(v) for v in layer.weights}
    lrelu = lambda v: np.where(v > 0, v, 0.1 * v)  # noqa: E731
    flat = lrelu(r @ w["kernel_hidden"]) @ w["kernel_out"]  # (B, C*9), official view(-1, 1, k, k) order
    per_sample = flat.reshape(3, 8, 3, 3).transpose(0, 2, 3, 1)
    branch = np.stack([np.stack([scipy.ndimage.correlate(x[b, :, :, c], per_sample[b, :, :, c], mode="constant")
                                 for c in range(8)], -1) for b in range(3)])
    conv = np.einsum("bhwc,cd->bhwd", lrelu(branch), w["kernel"][0, 0]) + w["bias"]
    gate = 1 / (1 + np.exp(-(lrelu(r @ w["ca_down"]) @ w["ca_up"])))
    np.testing.assert_allclose(out, conv + x * gate[:, None, None, :], rtol=1e-4, atol=1e-4)


# Training -------------------------------------------------------------------------------------------------------


def _photos(tmp_path, n=3, size=40):
    from skimage import data

    photo = data.astronaut()
    paths = []
    for i in range(n):
        paths.append(str(tmp_path / f"p{i}.png"))
        save_image(paths[-1], photo[50 * i:50 * i + size, 100:100 + size])
    return paths


def test_moco_trainer_warm_up_momentum_queue_and_delayed_adam(tmp_path):
    """One fit run on the current backend (re-run on JAX below): every piece of the official training step."""
    import keras

    from keras_sr import models
    from keras_sr.data.blind_pairs import BlindPairDataset
    from keras_sr.training.dasr import DASRTrainer, DelayedStartAdam

    data = BlindPairDataset(_photos(tmp_path), scale=2, patch_size=8, batch_size=4, steps_per_epoch=3, seed=0)
    x, hr = data[0]
    assert x["query"].shape == x["key"].shape == (4, 8, 8, 3) and hr.shape == (4, 16, 16, 3)
    np.testing.assert_array_equal(data[0][0]["key"], x["key"])  # batches are a function of (seed, epoch, index)

    keras.utils.set_random_seed(0)
    trainer = DASRTrainer(models.build("dasr", **TINY), scale=2, encoder_steps=2, queue_size=8, momentum=0.9)
    lr = 1e-3
    trainer.compile(optimizer=DelayedStartAdam(lr, delay=2))
    numpy = lambda ws: [keras.ops.convert_to_numpy(w).copy() for w in ws]  # noqa: E731
    query = lambda: numpy([q for q, _ in trainer._momentum_pairs])  # noqa: E731
    key = lambda: numpy([k for _, k in trainer._momentum_pairs])  # noqa: E731
    q0, generator0, queue0 = query(), numpy(trainer.generator.weights), numpy([trainer.queue])[0]
    np.testing.assert_allclose(np.linalg.norm(queue0, axis=1), 1.0, rtol=1e-5)
    assert len(trainer.trainable_weights) == len(trainer.network.trainable_weights) + 4  # + the MLP head only

    first = trainer.fit(data, epochs=1, steps_per_epoch=1, verbose=0).history
    q1 = query()
    for k, q in zip(key(), q0):  # k <- 0.9 k + 0.1 q before the step's forward pass; k started as q
        np.testing.assert_allclose(k, q, rtol=1e-5, atol=1e-6)
    trainer.fit(data, epochs=1, steps_per_epoch=1, verbose=0)
    for k, a, b in zip(key(), q0, q1):
        np.testing.assert_allclose(k, 0.9 * a + 0.1 * b, rtol=1e-4, atol=1e-6)
    assert first["loss"][0] == pytest.approx(first["contrastive"][0], rel=1e-5)  # warm-up: contrastive only
    for before, after in zip(generator0, numpy(trainer.generator.weights)):
        np.testing.assert_array_equal(before, after)  # the generator has not moved during the warm-up
    queue = numpy([trainer.queue])[0]
    assert int(keras.ops.convert_to_numpy(trainer.queue_pointer)) == 0  # 2 batches of 4 filled the queue of 8
    assert not np.isclose(queue, queue0).all(axis=1).any() and np.allclose(np.linalg.norm(queue, axis=1), 1.0, rtol=1e-5)

    joint = trainer.fit(data, epochs=1, steps_per_epoch=1, verbose=0).history
    assert joint["loss"][0] == pytest.approx(joint["contrastive"][0] + joint["l1"][0], rel=1e-5)
    steps = np.concatenate([np.abs(a - b).ravel() for a, b in zip(numpy(trainer.generator.trainable_weights),
                                                                 generator0)])
    # The generator's first Adam step has bias correction t = 1 (|step| = lr wherever |g| >> epsilon), as
    # PyTorch's fresh per-parameter Adam; plain Adam at t = 3 would move by 0.64 lr.
    assert np.median(steps) == pytest.approx(lr, rel=0.02)
    assert float(keras.ops.convert_to_numpy(trainer.train_steps)) == 3.0


@pytest.mark.skipif(os.environ.get("KERAS_BACKEND", "tensorflow") != "tensorflow", reason="the subprocess itself")
def test_moco_trainer_on_jax():
    run_modules_on_backend("jax", "jax", ["tests/test_dasr.py::test_moco_trainer_warm_up_momentum_queue_and_delayed_adam"],
                           JAX_PLATFORMS="cpu")


def test_recipe_schedule_is_the_official_two_phase_schedule():
    import keras

    from keras_sr.recipes.dasr import DASRRecipe

    recipe = DASRRecipe.for_scale(4)
    assert (recipe.steps, recipe.encoder_steps, recipe.batch_size, recipe.patch_size) == (582_000, 97_000, 32, 48)
    assert (recipe.queue_size, recipe.moco_momentum, recipe.temperature, recipe.kernel_size) == (8192, 0.999, 0.07, 21)
    expected = {0: 1e-3, 57_230: 1e-3, 57_231: 1e-4, 97_000: 1e-4, 97_001: 1e-4, 217_281: 5e-5, 338_531: 2.5e-5,
                459_781: 1.25e-5, 581_031: 6.25e-6}
    schedule = recipe.learning_rate_schedule()
    for step, rate in expected.items():
        assert recipe.learning_rate_at(step) == pytest.approx(rate)
        assert float(keras.ops.convert_to_numpy(schedule(step))) == pytest.approx(rate)
    optimizer = recipe.optimizer(beta_1=0.9, beta_2=0.999, epsilon=1e-8)
    assert optimizer.delay == 97_000 and optimizer.beta_1 == 0.9
    for bad, message in ((dict(queue_size=100), "multiple of batch_size"), (dict(loss="l2"), "L1"),
                         (dict(encoder_steps=600_000), "encoder_steps"), (dict(schedule="cosine"), "two-phase")):
        with pytest.raises(ValueError, match=message):
            DASRRecipe.for_scale(4, **bad)


def test_recipe_runs_and_checkpoints_the_trainer_state(tmp_path):
    import keras

    from keras_sr import models
    from keras_sr.recipes.dasr import DASRRecipe, main
    from keras_sr.training.checkpoint import CheckpointManager
    from keras_sr.training.engine import compile_model

    folder, val = str(tmp_path / "train"), str(tmp_path / "val")
    os.makedirs(folder)
    os.makedirs(val)
    _photos(tmp_path / "train", n=3, size=48)
    _photos(tmp_path / "val", n=1, size=32)
    out = str(tmp_path / "run")
    argv = ["--scale", "2", "--data", folder, "--val-data", val, "--filters", "8", "--num-groups", "1",
            "--num-blocks", "1", "--reduction", "4", "--encoder-widths", "8", "8", "16", "--patch-size", "8",
            "--batch-size", "2", "--queue-size", "4", "--encoder-steps", "1", "--encoder-lr-milestones",
            "--lr-milestones", "--val-every", "2", "--checkpoint-every", "2", "--steps-per-epoch", "2", "--no-export",
            "--quiet", "--out", out]
    with pytest.raises(SystemExit, match="one device"):
        main(argv + ["--steps", "2", "--strategy", "mirrored"])
    assert main(argv + ["--steps", "2"]) == 0  # the command line: 1 warm-up step, 1 joint step
    summary = json.load(open(os.path.join(out, "summary.json")))
    assert summary["steps"] == 2 and math.isfinite(summary["final"]["psnr"])
    model = keras.saving.load_model(os.path.join(out, "final.keras"), safe_mode=True)
    assert model.registered_name == "dasr" and model.count_params() == models.build("dasr", **TINY).count_params()

    # What --resume restores: the checkpoint holds the trainer's own state (step counter = phase, queue, keys).
    recipe = DASRRecipe.from_dict(json.load(open(os.path.join(out, "recipe.json")))["recipe"])
    fresh = compile_model(recipe.training_model(models.build("dasr", **recipe.model_config())), recipe)
    queue0, key0 = (keras.ops.convert_to_numpy(v).copy() for v in (fresh.queue, fresh.key_encoder.weights[0]))
    assert CheckpointManager(os.path.join(out, "checkpoints")).restore_latest(fresh, log=None) == 2
    assert float(keras.ops.convert_to_numpy(fresh.train_steps)) == 2.0
    assert not np.allclose(keras.ops.convert_to_numpy(fresh.queue), queue0)  # 2 batches of 2 refilled the queue
    assert not np.allclose(keras.ops.convert_to_numpy(fresh.key_encoder.weights[0]), key0)
