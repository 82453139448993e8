"""RefVAE: official parameter counts, parity with an independent PyTorch re-implementation, the latent, the recipe.

The PyTorch oracle below is written for this test from the structure of the official
`model.py` `VAE_v3_8x` and `network.py` `encoder4` (Holmes-Alan/RefVAE): NCHW tensors,
`F.pad(mode="reflect")`, `F.interpolate` (bilinear, align_corners=False) and `view`s; weights are
copied from the Keras model.
"""

import numpy as np
import pytest

import keras
from keras import ops

from keras_sr import models
from keras_sr.layers.bilinear_resize import BilinearResize
from keras_sr.layers.gaussian_latent import kl_divergence
from keras_sr.layers.reflection_padding import ReflectionPadding2D
from keras_sr.models import refvae as refvae_module

SMALL = dict(vgg_widths=(3, 4, 4, 6), latent_channels=3, latent_size=4, latent_dim=5, mask_blocks=2,
             decoder_widths=(4, 3, 3))


def np_(x):
    return np.asarray(ops.convert_to_numpy(x))


def test_parameter_count_matches_official():
    # Official VAE_v3_8x(up_factor=8) / VAE_v3_4x: sum(p.numel()) = 33,924,675 (init_feat 70,016, VAE_encoder
    # 8,389,120, VAE_decoder 4,210,688, dec_feat 4,752,896, mask 14,946,816, decoder 1,554,627, the unused
    # bn 512), encoder4: 3,505,740; counted by instantiating the official classes (CPU, no weights).
    model = models.build("refvae")
    trainable = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    assert refvae_module.official_parameter_count() == (33_924_675, 3_505_740)
    assert trainable == refvae_module.official_parameter_count(include_unused=False)[0] == 33_924_675 - 512
    assert model.get_layer("vgg_encoder").count_params() == 3_505_740
    assert model.get_layer("vgg_encoder").trainable_weights == []          # frozen, as official
    assert model.count_params() == 33_924_163 + 3_505_740 + 256             # + BN moving statistics
    small = models.build("refvae", **SMALL)
    generator, encoder = refvae_module.official_parameter_count(**SMALL, include_unused=False)
    assert small.count_params() == generator + encoder + 2 * 2 * SMALL["latent_channels"]


def _randomize(model, seed=0):
    rng = np.random.default_rng(seed)
    for w in model.weights:
        shape = tuple(w.shape)
        if "moving_variance" in w.path:
            w.assign(rng.uniform(0.5, 2.0, shape).astype("float32"))
            continue
        fan_in = int(np.prod(shape[:-1])) if len(shape) > 1 else 4
        w.assign(rng.normal(0, 1.0 / np.sqrt(fan_in), shape).astype("float32"))


def _torch_refvae(model, cfg, scale):
    import torch
    import torch.nn.functional as F

    encoder = model.get_layer("vgg_encoder")

    def weights(name):
        layer = encoder.get_layer(name) if name.startswith("conv") else model.get_layer(name)
        return [torch.from_numpy(np_(v)) for v in layer.weights]

    def conv(x, name, padding=None):
        kernel, bias = weights(name)
        k = kernel.shape[0]
        pad = k // 2 if padding is None else padding
        return F.conv2d(x, kernel.permute(3, 2, 0, 1), bias, padding=pad)

    def lrelu(x):
        return F.leaky_relu(x, 0.01)

    def bn(x, name):
        gamma, beta, mean, var = weights(name)
        return F.batch_norm(x, mean, var, gamma, beta, training=False, eps=1e-5)

    def block(x, name):
        return lrelu(conv(lrelu(conv(x, f"{name}_conv1")), f"{name}_conv2") + x)

    def enc(x):
        x = conv(x, "conv1")
        for i in range(2, 11):
            x = F.relu(conv(F.pad(x, (1, 1, 1, 1), mode="reflect"), f"conv{i}", padding=0))
            if i in (3, 5, 9):
                x = F.max_pool2d(x, 2)
        return x

    def dense(x, name):
        kernel, bias = weights(name)
        return x @ kernel + bias

    f, s, c4 = cfg["latent_channels"], cfg["latent_size"], cfg["vgg_widths"][-1]

    def forward(lr_up, ref):
        lr_feat, ref_feat = enc(lr_up), enc(ref)
        x = lrelu(bn(conv(ref_feat, "init_conv1"), "init_bn1"))
        x = lrelu(bn(conv(x, "init_conv2"), "init_bn2"))
        x = F.interpolate(x, size=[s, s], mode="bilinear", align_corners=False)
        mu_z, _ = dense(x.reshape(x.shape[0], -1), "vae_encoder").chunk(2, dim=1)
        dec = dense(mu_z, "vae_decoder").view(lr_up.shape[0], f, s, s)
        dec = F.interpolate(dec, size=list(lr_feat.shape[2:]), mode="bilinear", align_corners=False)
        feat = block(conv(dec, "dec_feat_conv"), "dec_feat_block")
        m = conv(lr_feat, "mask_conv_in")
        for i in range(cfg["mask_blocks"]):
            m = block(m, f"mask_block{i}")
        mu, var = conv(m, "mask_conv_out").chunk(2, dim=1)
        feat = feat * (1 + var) + mu
        for i in range(3):
            feat = F.interpolate(feat, scale_factor=2, mode="bilinear", align_corners=False)
            feat = lrelu(conv(feat, f"up{i + 1}_conv"))
        out = conv(lrelu(conv(feat, "out_conv1")), "out_conv2")
        return out + lr_up

    return forward


@pytest.mark.parametrize("scale", [8, 4])
def test_matches_the_pytorch_reimplementation(scale, rng):
    """The posterior-mean output of a small RefVAE equals the oracle's (non-square images, a non-256 reference)."""
    torch = pytest.importorskip("torch")
    model = models.build("refvae", scale=scale, **SMALL)
    _randomize(model, seed=scale)
    lr = rng.integers(0, 256, (5, 7, 3), dtype=np.uint8) if scale == 8 else rng.integers(0, 256, (10, 14, 3),
                                                                                         dtype=np.uint8)
    inputs, (h, w) = refvae_module.prepare_inputs(lr, rng.integers(0, 256, (40, 56, 3), dtype=np.uint8), scale,
                                                  ref_size=48)
    assert inputs["lr_up"].shape == (1, 40, 56, 3) and (h, w) == (40, 56)
    ours = np_(model(inputs)) / 255.0
    forward = _torch_refvae(model, SMALL, scale)
    with torch.no_grad():
        theirs = forward(*(torch.from_numpy(inputs[k] / 255.0).permute(0, 3, 1, 2).float() for k in ("lr_up", "ref")))
    theirs = theirs.permute(0, 2, 3, 1).numpy()
    assert np.abs(ours - inputs["lr_up"] / 255.0).max() > 1e-2  # the network adds something
    np.testing.assert_allclose(ours, theirs, atol=2e-4, rtol=0)


def test_latent_is_the_mean_by_default_and_sampled_when_asked(rng):
    inputs, _ = refvae_module.prepare_inputs(rng.integers(0, 256, (5, 6, 3), dtype=np.uint8),
                                             rng.integers(0, 256, (30, 30, 3), dtype=np.uint8), ref_size=32)
    model = models.build("refvae", **SMALL)
    _randomize(model, seed=3)
    first, second = np_(model(inputs)), np_(model(inputs))
    np.testing.assert_array_equal(first, second)                          # deterministic: the posterior mean
    assert np.abs(np_(model(inputs, training=True)) - first).max() > 1e-3  # training samples z
    sampling = [models.build("refvae", **SMALL, sample_latent=True, seed=7) for _ in range(2)]
    for m in sampling:
        m.set_weights(model.get_weights())
    draws = [np_(m(inputs)) for m in sampling]
    np.testing.assert_allclose(draws[0], draws[1], atol=1e-5)                # the same seed, the same draw
    assert np.abs(draws[0] - first).max() > 1e-3
    assert np.abs(np_(sampling[0](inputs)) - draws[0]).max() > 1e-3          # each call draws anew


def test_kl_divergence_and_the_layers(rng):
    stats = rng.normal(size=(3, 8)).astype("float32")
    mean, log_var = stats[:, :4], stats[:, 4:]
    expected = -0.5 * np.sum(1 + log_var - mean ** 2 - np.exp(log_var), axis=1)
    np.testing.assert_allclose(np_(kl_divergence(stats)), expected, rtol=1e-5)
    x = rng.normal(size=(2, 5, 6, 3)).astype("float32")
    np.testing.assert_array_equal(np_(ReflectionPadding2D(2)(x)),
                                  np.pad(x, [(0, 0), (2, 2), (2, 2), (0, 0)], mode="reflect"))
    torch = pytest.importorskip("torch")
    import torch.nn.functional as F

    for size in [(16, 16), (3, 4), (7, 11)]:
        theirs = F.interpolate(torch.from_numpy(x).permute(0, 3, 1, 2), size=list(size), mode="bilinear",
                               align_corners=False).permute(0, 2, 3, 1).numpy()
        np.testing.assert_allclose(np_(BilinearResize(size)(x)), theirs, atol=1e-5)
    like = np.zeros((1, 9, 4, 1), "float32")
    assert np_(BilinearResize()([x, like])).shape == (2, 9, 4, 3)


def test_prepare_inputs_padding_and_errors(rng):
    lr = rng.integers(0, 256, (5, 7, 3), dtype=np.uint8)
    inputs, (h, w) = refvae_module.prepare_inputs(lr, rng.integers(0, 256, (70, 30, 3), dtype=np.uint8), 4)
    assert (h, w) == (20, 28) and inputs["lr_up"].shape == (1, 24, 32, 3) and inputs["ref"].shape == (1, 256, 256, 3)
    with pytest.raises(ValueError, match="RGB"):
        refvae_module.prepare_inputs(lr[..., 0], lr)
    with pytest.raises(ValueError, match="x8"):
        models.build("refvae", scale=2)


# The recipe -----------------------------------------------------------------------------------------------------


def test_recipe_defaults_are_the_official_ones():
    from keras_sr.recipes.refvae import RefVAERecipe

    r = RefVAERecipe.for_scale(8)
    assert (r.model, r.scale, r.patch_size, r.batch_size, r.learning_rate) == ("refvae", 8, 64, 8, 1e-4)
    assert (r.steps, r.lr_milestones, r.lr_gamma, r.posterior_from) == (216_000, (108_000,), 0.1, "target")
    assert r.lr_weight_value == 100 / 64 and r.kl_weight_value == pytest.approx(2 / (3 * 512 ** 2))
    assert RefVAERecipe.for_scale(4).lr_weight_value == 6.25
    assert r.model_config()["latent_dim"] == 256 and r.input_names() == ("lr_up", "ref")
    hr = np.zeros((1, 16, 16, 3), "float32")
    assert r.training_inputs({"lr_up": hr + 1, "ref": hr + 2}, hr)["ref"] is hr     # the posterior sees the target
    assert r.replace(posterior_from="reference").training_inputs({"ref": hr + 2}, hr)["ref"][0, 0, 0, 0] == 2
    with pytest.raises(ValueError, match="x8"):
        RefVAERecipe.for_scale(2)


def test_recipe_cli_trains_with_the_kl_term(tmp_path, capsys):
    from PIL import Image

    from keras_sr.recipes.refvae import main

    rng = np.random.default_rng(0)
    folder = tmp_path / "images"
    folder.mkdir()
    for i in range(2):
        Image.fromarray(rng.integers(0, 256, (8, 10, 3), dtype=np.uint8)).resize((80, 72), Image.BICUBIC).save(
            folder / f"{i}.png")
    out = tmp_path / "run"
    code = main(["--data", str(folder), "--val-data", str(folder / "0.png"), "--out", str(out), "--steps", "2",
                 "--scale", "4", "--patch-size", "8", "--batch-size", "2", "--vgg-widths", "2", "2", "2", "4",
                 "--latent-channels", "2", "--latent-size", "2", "--latent-dim", "2", "--mask-blocks", "1",
                 "--decoder-widths", "2", "2", "2", "--steps-per-epoch", "1", "--workers", "1", "--jit-compile",
                 "off", "--quiet", "--no-export"])
    assert code == 0
    header, *rows = (out / "log.csv").read_text().splitlines()
    columns = header.split(",")
    assert {"g_kl", "g_lr", "g_multiscale"} <= set(columns)
    kl = [float(row.split(",")[columns.index("g_kl")]) for row in rows]
    assert len(kl) == 2 and all(np.isfinite(kl)) and min(kl) >= 0 and max(kl) > 0   # KL >= 0, and it moves
    loaded = keras.saving.load_model(out / "final.keras", safe_mode=True)
    assert loaded.registered_name == "refvae"
