"""GAN training: the losses against numpy, the perceptual loss against a hand-run VGG19, the missing-VGG error,
a tiny ESRGAN run resumed at step 2 that ends where an uninterrupted run ends (TensorFlow here, JAX in a
subprocess), and the SRGAN command line from a pretrained generator."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

import keras

from conftest import REPO_ROOT
from keras_sr.training import perceptual

BACKEND = keras.backend.backend()

# A 1-RRDB, 8-channel generator and a 4-channel discriminator on 32x32 HR crops (x4); the perceptual loss on a
# random VGG19 up to conv2_2 (the VGG layer choice itself is tested on the full trunk below).
TINY = dict(num_blocks=1, filters=8, growth_rate=4, d_filters=4, d_dense_units=8, patch_size=8, batch_size=2,
            perceptual_layer="conv2_2", vgg_weights="random", steps_per_epoch=2, val_every=2, checkpoint_every=2,
            keep_checkpoints=3, seed=3)


def _np(x):
    return np.asarray(keras.ops.convert_to_numpy(x), np.float64)


# Losses against numpy ------------------------------------------------------------------------------------------


def test_gram_matrix_numpy():
    features = np.random.default_rng(0).normal(size=(2, 4, 6, 3)).astype("float32")
    b, h, w, c = features.shape
    flat = features.astype(np.float64).reshape(b, h * w, c)
    expected = np.stack([f.T @ f for f in flat]) / (c * h * w)
    np.testing.assert_allclose(_np(perceptual.gram_matrix(features)), expected, rtol=1e-5)
    # 2x2 patches: one Gram matrix per patch, normalized by C * 4
    local = _np(perceptual.gram_matrix(features, patch_size=2))
    assert local.shape == (2, 6, 3, 3)
    patch = features[1, 2:4, 4:6].astype(np.float64).reshape(4, c)  # patch row 1, column 2 -> index 1 * 3 + 2
    np.testing.assert_allclose(local[1, 5], patch.T @ patch / (c * 4), rtol=1e-5)


class _IdentityFeatures:
    """A feature "extractor" returning the images themselves, to test the loss arithmetic alone."""

    layers = ("relu1_1",)
    variables = []

    def __call__(self, images, variables=None):
        return {"relu1_1": keras.ops.cast(images, "float32")}


def test_gram_and_feature_losses_numpy():
    rng = np.random.default_rng(1)
    hr, sr = rng.normal(size=(2, 4, 4, 3)).astype("float32"), rng.normal(size=(2, 4, 4, 3)).astype("float32")

    def gram(x):
        flat = x.astype(np.float64).reshape(2, 16, 3)
        return np.einsum("bnc,bnd->bcd", flat, flat) / 48

    style = perceptual.GramLoss("relu1_1", extractor=_IdentityFeatures())
    np.testing.assert_allclose(float(style(hr, sr)), np.mean(np.abs(gram(hr) - gram(sr))), rtol=1e-5)
    style_l2 = perceptual.GramLoss("relu1_1", criterion="l2", feature_scale=0.5, extractor=_IdentityFeatures())
    np.testing.assert_allclose(float(style_l2(hr, sr)), np.mean((gram(hr / 2) - gram(sr / 2)) ** 2), rtol=1e-5)
    content = perceptual.PerceptualLoss("relu1_1", criterion="l2", feature_scale=1 / 12.75,
                                        extractor=_IdentityFeatures())
    np.testing.assert_allclose(float(content(hr, sr)), np.mean(((hr - sr) / 12.75) ** 2), rtol=1e-5)
    frobenius = perceptual.PerceptualLoss("relu1_1", criterion="fro", extractor=_IdentityFeatures())  # C2-Matching's
    np.testing.assert_allclose(float(frobenius(hr, sr)), np.sqrt(np.sum((hr.astype(np.float64) - sr) ** 2)), rtol=1e-5)


def test_adversarial_losses_numpy():
    real = np.array([[2.0], [-1.0], [0.5], [30.0]], np.float32)
    fake = np.array([[-3.0], [0.25], [1.5], [-30.0]], np.float32)
    r, f = real.astype(np.float64), fake.astype(np.float64)

    def log_sigmoid(x):
        return -np.logaddexp(0.0, -x)

    # RaGAN (ESRGAN Eq. 1, 2, halved as the official code): D_Ra(a, b) = sigmoid(C(a) - mean C(b))
    d_expected = 0.5 * (-np.mean(log_sigmoid(r - f.mean())) - np.mean(log_sigmoid(-(f - r.mean()))))
    g_expected = 0.5 * (-np.mean(log_sigmoid(-(r - f.mean()))) - np.mean(log_sigmoid(f - r.mean())))
    np.testing.assert_allclose(float(perceptual.relativistic_discriminator_loss(real, fake)), d_expected, rtol=1e-5)
    np.testing.assert_allclose(float(perceptual.relativistic_generator_loss(real, fake)), g_expected, rtol=1e-5)
    # standard GAN: -E log D(x_r) - E log(1 - D(x_f)); non-saturating generator -E log D(x_f)
    np.testing.assert_allclose(float(perceptual.standard_discriminator_loss(real, fake)),
                               -np.mean(log_sigmoid(r)) - np.mean(log_sigmoid(-f)), rtol=1e-5)
    np.testing.assert_allclose(float(perceptual.standard_generator_loss(real, fake)), -np.mean(log_sigmoid(f)),
                               rtol=1e-5)
    assert perceptual.adversarial_losses("ragan") == (perceptual.relativistic_generator_loss,
                                                      perceptual.relativistic_discriminator_loss)
    with pytest.raises(ValueError, match="standard or ragan"):
        perceptual.adversarial_losses("wgan")


def test_perceptual_loss_runs_the_chosen_vgg19_layer(tmp_path):
    """conv5_4 (ESRGAN) and relu5_4 (SRGAN's VGG54) of a keras.applications VGG19 file, against running it by hand."""
    if BACKEND == "jax":
        pytest.skip("the VGG19 file path is tested on TensorFlow (building VGG19 on a JAX CPU takes minutes)")
    keras.utils.set_random_seed(0)
    app = keras.applications.VGG19(include_top=False, weights=None, input_shape=(None, None, 3))
    path = str(tmp_path / "vgg19.weights.h5")
    app.save_weights(path)
    rng = np.random.default_rng(0)
    hr = rng.uniform(0, 255, (2, 32, 32, 3)).astype("float32")
    sr = np.clip(hr + rng.normal(0, 25, hr.shape), 0, 255).astype("float32")
    trunk = keras.Model(app.input, [app.get_layer("block5_conv3").output, app.get_layer("block5_conv4").output])
    kernel, bias = (_np(w) for w in app.get_layer("block5_conv4").weights)

    def by_hand(x):
        conv53, relu54 = trunk(keras.applications.vgg19.preprocess_input(x.copy()))  # caffe: BGR, mean subtracted
        conv54 = _np(keras.ops.conv(conv53, kernel.astype("float32"), padding="same")) + bias
        np.testing.assert_allclose(np.maximum(conv54, 0), _np(relu54), atol=1e-6)
        return conv54, np.maximum(conv54, 0)

    (conv_hr, relu_hr), (conv_sr, relu_sr) = by_hand(hr), by_hand(sr)
    esrgan = perceptual.PerceptualLoss("conv5_4", weights=path)
    srgan = perceptual.PerceptualLoss("relu5_4", weights=path, criterion="l2", feature_scale=1 / 12.75)
    assert esrgan.extractor.input_norm == "caffe"
    assert not esrgan.extractor.vgg.trainable and not esrgan.extractor.vgg.trainable_weights
    np.testing.assert_allclose(float(esrgan(hr, sr)), np.mean(np.abs(conv_hr - conv_sr)), rtol=1e-3)
    np.testing.assert_allclose(float(srgan(hr, sr)), np.mean(((relu_hr - relu_sr) / 12.75) ** 2), rtol=1e-3)
    # the same values from the stateless call (the JAX train step passes the VGG weights explicitly)
    values = [_np(v).astype("float32") for v in esrgan.variables]
    np.testing.assert_allclose(float(esrgan(hr, sr, variables=values)), float(esrgan(hr, sr)), rtol=1e-5)
    # before and after the activation are different losses
    assert abs(np.mean(np.abs(conv_hr - conv_sr)) - np.mean(np.abs(relu_hr - relu_sr))) > 1e-3 * np.mean(
        np.abs(conv_hr - conv_sr))
    assert perceptual.resolve_input_norm("vgg19.npz") == "torch" and perceptual.resolve_input_norm("random") == "torch"


def test_missing_vgg_weights_stop_with_instructions(tmp_path):
    from keras_sr.recipes.esrgan import main
    from keras_sr.recipes.srgan import SRGANRecipe

    out = tmp_path / "run"
    with pytest.raises(SystemExit) as missing:
        main(["--scale", "4", "--out", str(out), "--steps", "1"])
    message = str(missing.value)
    assert "--vgg-weights is required" in message
    assert "keras.applications.VGG19(weights='imagenet', include_top=False).save_weights(" in message
    with pytest.raises(SystemExit, match="missing.weights.h5: file not found"):
        main(["--scale", "4", "--out", str(out), "--steps", "1", "--vgg-weights", str(tmp_path / "missing.weights.h5")])
    assert not out.exists()  # stopped before any work
    with pytest.raises(perceptual.MissingVGGWeights, match="save_weights"):
        perceptual.PerceptualLoss("conv5_4", weights=str(tmp_path / "missing.h5"))
    # without a perceptual or style term no VGG is needed (SRGAN's SRResNet-MSE setting)
    assert not SRGANRecipe.for_scale(4, perceptual_weight=0.0, pixel_weight=1.0).needs_vgg


# Training ------------------------------------------------------------------------------------------------------


def _weights(model):
    return [np.asarray(w) for w in model.get_weights()]


def test_gan_resume_continues_both_networks(tiny_photos, tmp_path):
    """2 steps, stop, resume to 4 == 4 uninterrupted steps: weights, batch-norm statistics, Adam, EMA, counters."""
    from keras_sr.recipes.esrgan import ESRGANRecipe
    from keras_sr.training.gan import train_gan

    train_dir, val_dir = tiny_photos
    run = dict(data=[train_dir], val_data=[val_dir], loader="pydataset", log=None, tensorboard=False)
    recipe = ESRGANRecipe.for_scale(4, steps=4, ema_decay=0.5, **TINY)
    straight = train_gan(recipe, out=str(tmp_path / "straight"), **run)
    split = str(tmp_path / "split")
    first = train_gan(recipe.replace(steps=2), out=split, **run)
    at_two = _weights(first.train_model.generator) + _weights(first.train_model.discriminator)
    resumed = train_gan(recipe, out=split, resume=True, **run)

    assert first.steps == 2 and resumed.resumed_from == 2 and resumed.steps == 4 == straight.steps
    summary = json.load(open(os.path.join(split, "summary.json")))
    assert summary["discriminator_steps"] == 4 and summary["resumed_from"] == 2
    index = json.load(open(os.path.join(split, "checkpoints", "checkpoints.json")))
    assert [c["step"] for c in index["checkpoints"]] == [2, 4]
    resumed_weights = _weights(resumed.train_model.generator) + _weights(resumed.train_model.discriminator)
    straight_weights = _weights(straight.train_model.generator) + _weights(straight.train_model.discriminator)
    assert len(resumed_weights) == len(straight_weights) == len(at_two)
    for a, b in zip(resumed_weights, straight_weights):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)
    assert any(not np.allclose(a, b) for a, b in zip(resumed_weights, at_two))  # it trained on after step 2
    # the exported generator carries the EMA, continued from the checkpoint's averages
    for a, b in zip(_weights(resumed.model), _weights(straight.model)):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)
    assert any(not np.allclose(a, b) for a, b in zip(_weights(resumed.model), _weights(resumed.train_model.generator)))
    with open(os.path.join(split, "log.csv")) as f:
        rows = f.read().splitlines()
    assert rows[0].startswith("step,epoch,g_loss") and [r.split(",")[0] for r in rows[1:]] == ["2", "4"]
    assert np.isfinite(resumed.history["g_loss"]).all() and np.isfinite(resumed.history["d_loss"]).all()
    assert np.isfinite(resumed.final["psnr"])
    for name in ("recipe.json", "model.json", "final.keras", "final.weights.h5", "discriminator.weights.h5"):
        assert os.path.isfile(os.path.join(split, name)), name


def test_srgan_command_line_starts_from_pretrained(tiny_photos, tmp_path, capsys):
    if BACKEND == "jax":
        pytest.skip("the command line runs on TensorFlow here; the JAX train step is covered by the resume test")
    from keras_sr import models
    from keras_sr.recipes.srgan import main

    train_dir, val_dir = tiny_photos
    pretrained = models.build("srresnet", scale=2, variant="srgan", num_blocks=1, filters=8)
    pretrained_path = str(tmp_path / "srresnet.weights.h5")
    pretrained.save_weights(pretrained_path)
    out = str(tmp_path / "srgan")
    code = main(["--scale", "2", "--data", train_dir, "--val-data", val_dir, "--out", out, "--steps", "2",
                 "--num-blocks", "1", "--filters", "8", "--d-filters", "4", "--d-dense-units", "8", "--patch-size", "8",
                 "--batch-size", "2", "--steps-per-epoch", "2", "--checkpoint-every", "2", "--val-every", "2",
                 "--vgg-weights", "random", "--perceptual-layer", "relu2_2", "--pretrained", pretrained_path,
                 "--no-export", "--quiet"])
    assert code == 0
    printed = capsys.readouterr().out
    assert f"initial generator weights: {pretrained_path}" in printed
    assert "| SRGAN (2 steps) |" in printed and "| bicubic |" in printed
    stored = json.load(open(os.path.join(out, "recipe.json")))
    assert stored["recipe"]["gan_loss"] == "standard" and stored["discriminator"]["config"]["input_size"] == 16
    assert os.path.isfile(os.path.join(out, "comparison.png"))


def test_gan_trains_and_resumes_on_jax(tmp_path):
    """The numpy checks and the resume test again under KERAS_BACKEND=jax (the stateless train step)."""
    if BACKEND == "jax":
        pytest.skip("this test starts the JAX run")
    import importlib.util

    if importlib.util.find_spec("jax") is None:
        pytest.fail("jax is not installed: it is part of the test extras (pip install -e '.[test]')")
    # the three runs of the resume test compile the same step: JAX's persistent cache compiles it once
    env = dict(os.environ, KERAS_BACKEND="jax", JAX_PLATFORMS="cpu", JAX_COMPILATION_CACHE_DIR=str(tmp_path / "jit"),
               JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS="0", JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES="0")
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-n", "0", "-rA", "-p", "no:cacheprovider",
                           "tests/test_gan_training.py", "-k", "numpy or resume_continues"],
                          cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=1500)
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-3000:]
    assert "PASSED tests/test_gan_training.py::test_gan_resume_continues_both_networks" in proc.stdout
