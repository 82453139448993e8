"""GLEAN and its StyleGAN2 latent bank: the modulated conv against a numpy oracle, mmagic's parameter counts, the
StyleGAN2 converter against an independent PyTorch re-implementation (mmagic and rosinality key layouts), on
TensorFlow here; the numpy-oracle tests also run on JAX, in the subprocess of tests/test_sr3.py."""

import math
import os

import keras
import numpy as np
import pytest

from keras_sr import models
from keras_sr.layers import Blur, ModulatedConv2D, MinibatchStddev
from keras_sr.models import glean as G
from torch_oracles import load_tool

BACKEND = keras.backend.backend()
MAIN = BACKEND == "tensorflow" and not os.environ.get("KERAS_SR_GLEAN_SUBPROCESS")


# numpy oracle of StyleGAN2's modulated convolution (the fused, per-sample-weight form) -------------------------


def _np_conv_same(x, w):
    """x (H, W, C), w (k, k, C, O): correlation with zero padding k // 2."""
    k = w.shape[0]
    p = k // 2
    xp = np.pad(x, ((p, p), (p, p), (0, 0)))
    h, wd = x.shape[:2]
    out = np.zeros((h, wd, w.shape[-1]))
    for a in range(k):
        for b in range(k):
            out += xp[a:a + h, b:b + wd] @ w[a, b]
    return out


def _np_conv_transpose2(x, w):
    """PyTorch conv_transpose2d, stride 2, no padding: out[2i + a, 2j + b] += x[i, j] @ w[a, b]."""
    k = w.shape[0]
    h, wd = x.shape[:2]
    out = np.zeros((2 * h + k - 2, 2 * wd + k - 2, w.shape[-1]))
    for i in range(h):
        for j in range(wd):
            out[2 * i:2 * i + k, 2 * j:2 * j + k] += np.einsum("c,abco->abo", x[i, j], w)
    return out


def _np_fir(x, kernel, pad):
    xp = np.pad(x, ((pad[0], pad[1]), (pad[0], pad[1]), (0, 0)))
    k = kernel[::-1, ::-1]
    kh = k.shape[0]
    h, wd = xp.shape[0] - kh + 1, xp.shape[1] - kh + 1
    return sum(xp[a:a + h, b:b + wd] * k[a, b] for a in range(kh) for b in range(kh))


def _np_modulated_conv(x, style, layer):
    kernel = keras.ops.convert_to_numpy(layer.kernel).astype(np.float64)
    mod_k = keras.ops.convert_to_numpy(layer.modulation.kernel).astype(np.float64)
    mod_b = keras.ops.convert_to_numpy(layer.modulation.bias).astype(np.float64)
    k, cin = kernel.shape[0], kernel.shape[2]
    outs = []
    for n in range(x.shape[0]):
        s = style[n] @ (mod_k / math.sqrt(mod_k.shape[0])) + mod_b            # EqualLinear, gain 1, lr_mul 1
        w = kernel / math.sqrt(cin * k * k) * s[None, None, :, None]         # modulate the weight
        if layer.demodulate:
            w = w / np.sqrt((w ** 2).sum(axis=(0, 1, 2), keepdims=True) + 1e-8)
        if layer.upsample:
            y = _np_conv_transpose2(x[n], w)
            kk = np.outer([1, 3, 3, 1], [1, 3, 3, 1]) / 64.0 * 4
            y = _np_fir(y, kk, (1, 1))
        else:
            y = _np_conv_same(x[n], w)
        outs.append(y)
    return np.stack(outs)


@pytest.mark.parametrize("kernel_size,demodulate,upsample", [(3, True, False), (3, True, True), (1, False, False)])
def test_modulated_conv_matches_numpy_oracle(kernel_size, demodulate, upsample):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, 5, 6, 3)).astype("float32")
    style = rng.normal(size=(2, 7)).astype("float32")
    layer = ModulatedConv2D(4, kernel_size, demodulate=demodulate, upsample=upsample)
    y = keras.ops.convert_to_numpy(layer([x, style]))
    layer.modulation.bias.assign(rng.normal(size=(3,)).astype("float32"))  # not the trivial all-ones bias
    y = keras.ops.convert_to_numpy(layer([x, style]))
    expected = _np_modulated_conv(x.astype(np.float64), style.astype(np.float64), layer)
    assert y.shape == expected.shape == (2, 10 if upsample else 5, 12 if upsample else 6, 4)
    np.testing.assert_allclose(y, expected, rtol=1e-4, atol=1e-4)


def test_blur_upsample_and_minibatch_stddev_match_numpy():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(1, 4, 5, 2))
    y = keras.ops.convert_to_numpy(Blur((1, 3, 3, 1), pad=(2, 1), up=2)(x.astype("float32")))
    z = np.zeros((8, 10, 2))
    z[::2, ::2] = x[0]                                              # zero insertion
    expected = _np_fir(z, np.outer([1, 3, 3, 1], [1, 3, 3, 1]) / 16.0, (2, 1))
    np.testing.assert_allclose(y[0], expected, atol=1e-5)
    f = rng.normal(size=(4, 2, 2, 3)).astype("float32")
    out = keras.ops.convert_to_numpy(MinibatchStddev(group_size=2)(f))
    groups = f.reshape(2, 2, 2, 2, 3)                               # (G, M, H, W, C): sample n = g * M + m
    std = np.sqrt(groups.var(axis=0) + 1e-8).mean(axis=(1, 2, 3))   # (M,)
    np.testing.assert_allclose(out[..., 3], np.broadcast_to(np.tile(std, 2)[:, None, None], (4, 2, 2)), rtol=1e-5)


# Parameter counts (mmagic's modules, by formula; built models counted) -------------------------------------------


def _count(model):
    """Parameters as PyTorch counts them: the fixed noise maps are buffers there (non-trainable weights here)."""
    return sum(int(np.prod(w.shape)) for w in model.weights if not w.path.endswith("/noise"))


# mmagic GLEANStyleGANv2 `sum(p.numel())` at the paper's configurations (formula from its module definitions).
MMAGIC_GLEAN = {"x8_256": 162_479_861, "x16_256": 171_903_649, "x16_1024": 175_516_723, "x64_1024": 189_645_707,
                "x8_1024": 174_196_615}


@pytest.mark.skipif(not MAIN, reason="TensorFlow only: counts do not depend on the backend")
def test_parameter_counts_at_the_paper_configurations():
    for key, total in MMAGIC_GLEAN.items():
        assert G.official_parameter_count(**G.PAPER_CONFIGS[key]) == total, key
    assert G.stylegan2_generator_parameter_count(1024) == 30_370_060      # StyleGAN2 config F, 1024
    assert G.stylegan2_discriminator_parameter_count(256) == 28_864_129
    # Built (shapes only, no initial values) and counted: the 16 -> 256 and 16 -> 1024 models with one RRDB
    # (the 23-RRDB trunk is the same in every configuration: 22 more RRDBs of 719,424 parameters), the 1024
    # generator with mapping and to-RGB skips, the 256 discriminator.
    rrdb = 3 * (sum(9 * (64 + 32 * i) * 32 + 32 for i in range(4)) + 9 * (64 + 128) * 64 + 64)
    assert rrdb == 719_424
    with keras.StatelessScope():
        for key in ("x16_256", "x64_1024"):
            model = models.build("glean", num_rrdbs=1, **G.PAPER_CONFIGS[key])
            used = G.official_parameter_count(**G.PAPER_CONFIGS[key], used_only=True)
            assert _count(model) + 22 * rrdb == used, key
            gen = G.stylegan2_generator_parameter_count(G.PAPER_CONFIGS[key]["out_size"], parts=True)
            skip = sum(9 * (G.stylegan2_channels(r) + 3) * 3 + 3 for r in (16, 8, 4))   # fusion_skip 16/8/4
            assert used + gen["mapping"] + gen["to_rgb"] + skip == MMAGIC_GLEAN[key], key
        assert _count(G.stylegan2_generator(1024)) == 30_370_060
        assert _count(models.build("stylegan2_discriminator", input_size=256)) == 28_864_129


def test_tiny_glean_counts_and_frozen_bank():
    cfg = models.get_spec("glean").test_config
    model = models.build("glean", **cfg)
    assert _count(model) == G.official_parameter_count(**cfg, used_only=True)
    bank = [w for w in model.weights if "bank_" in w.path]
    assert bank and not any(w.trainable for w in bank)
    assert any(w.trainable for w in model.weights if "encoder_" in w.path)
    with pytest.raises(ValueError, match="power of two"):
        models.build("glean", scale=3, out_size=32)


# An independent PyTorch StyleGAN2 generator (mmagic's key layout), for the converter ----------------------------


def _torch_stylegan2(out_size, S, n_mlp, cm, maxc, seed=0):
    """A random state dict in mmagic's StyleGAN2Generator layout and a forward `z -> image` (NCHW) over it.

    The forward is tools/torch_glean_layout.py's `StyleGAN2Generator` (also the bank of the GLEAN oracle of
    tests/test_convert_glean.py) loaded with these draws.
    """
    import torch

    g = torch.Generator().manual_seed(seed)
    rnd = lambda *shape: torch.randn(*shape, generator=g)  # noqa: E731
    ch = lambda r: min(maxc, 16384 * cm // r)  # noqa: E731
    P = {}
    for i in range(1, n_mlp + 1):
        P[f"style_mapping.{i}.linear.weight_orig"] = rnd(S, S) * 100.0     # N(0, 1 / lr_mul)
        P[f"style_mapping.{i}.bias"] = rnd(S) * 0.1
    P["constant_input.input"] = rnd(1, ch(4), 4, 4)
    blur = torch.tensor([1.0, 3.0, 3.0, 1.0])
    blur = torch.outer(blur, blur) / 64.0

    def modulated(name, cin, cout, k):
        P[f"{name}.conv.weight_orig"] = rnd(1, cout, cin, k, k)
        P[f"{name}.conv.style_modulation.linear.weight_orig"] = rnd(cin, S)
        P[f"{name}.conv.style_modulation.bias"] = 1.0 + 0.1 * rnd(cin)

    def style_conv(name, cin, cout, up, noise_index, res):
        modulated(name, cin, cout, 3)
        P[f"{name}.noise_injector.weight"] = 0.5 * rnd(1)
        P[f"{name}.activate.bias"] = 0.1 * rnd(cout)
        P[f"injected_noise_{noise_index}"] = rnd(1, 1, res, res)
        if up:
            P[f"{name}.conv.blur.kernel"] = blur * 4

    def to_rgb(name, cin, up):
        modulated(name, cin, 3, 1)
        P[f"{name}.bias"] = 0.1 * rnd(1, 3, 1, 1)
        if up:
            P[f"{name}.upsample.kernel"] = blur * 4

    style_conv("conv1", ch(4), ch(4), False, 0, 4)
    to_rgb("to_rgb1", ch(4), False)
    n_blocks = int(math.log2(out_size)) - 2
    prev = ch(4)
    for b in range(n_blocks):
        res = 8 * 2 ** b
        style_conv(f"convs.{2 * b}", prev, ch(res), True, 2 * b + 1, res)
        style_conv(f"convs.{2 * b + 1}", ch(res), ch(res), False, 2 * b + 2, res)
        to_rgb(f"to_rgbs.{b}", ch(res), True)
        prev = ch(res)

    gen = load_tool("torch_glean_layout").StyleGAN2Generator(out_size, S, n_mlp, cm, maxc)
    gen.load_state_dict(P)   # strict: the oracle's state dict has exactly these keys

    def forward(z):
        return gen(z)

    return P, forward


def _rosinality(P):
    """The same weights under rosinality/stylegan2-pytorch's key names."""
    out = {}
    for k, v in P.items():
        k = k.replace("style_mapping.", "style.").replace(".linear.weight_orig", ".weight")
        k = k.replace("constant_input.input", "input.input").replace("style_modulation", "modulation")
        k = k.replace("weight_orig", "weight").replace("noise_injector", "noise")
        k = k.replace("injected_noise_", "noises.noise_")
        out[k] = v
    return out


def test_stylegan2_converter_matches_an_independent_pytorch_generator():
    torch = pytest.importorskip("torch")
    from keras_sr.convert import StateDict
    from keras_sr.convert.stylegan2 import detect, load_stylegan2

    P, forward = _torch_stylegan2(out_size=16, S=8, n_mlp=2, cm=1, maxc=8)
    z = np.random.default_rng(3).normal(size=(2, 8)).astype("float32")
    with torch.no_grad():
        expected = forward(torch.from_numpy(z)).numpy().transpose(0, 2, 3, 1)
    for layout, state in (("mmagic", {"generator_ema." + k: v for k, v in P.items()}), ("rosinality", _rosinality(P))):
        sd = StateDict({k: v.numpy() for k, v in state.items()}, source=layout)
        found = detect(sd)
        assert found["layout"] == layout
        assert found["config"] == {"out_size": 16, "style_channels": 8, "channel_multiplier": 2, "max_channels": 8}
        gen = G.stylegan2_generator(out_size=16, style_channels=8, num_mlps=2, channel_multiplier=1, max_channels=8)
        load_stylegan2(gen, sd)
        sd.check_all_used()
        y = keras.ops.convert_to_numpy(gen(z))
        print(f"parity stylegan2 ({layout} layout) vs independent PyTorch: rel "
              f"{np.abs(y - expected).max() / np.abs(expected).max():.2g}")
        np.testing.assert_allclose(y, expected, atol=1e-4, rtol=1e-4, err_msg=layout)


@pytest.mark.skipif(not MAIN, reason="TensorFlow only: the registry path (the parity is the test above)")
def test_from_checkpoint_loads_the_bank_into_glean():
    torch = pytest.importorskip("torch")
    from keras_sr.convert import CheckpointMismatch, from_checkpoint

    P, _ = _torch_stylegan2(out_size=32, S=4, n_mlp=2, cm=1, maxc=4, seed=1)
    state = {"generator_ema." + k: v for k, v in P.items()}
    state.update({"discriminator.final_linear.0.bias": torch.zeros(4)})   # other networks in the file: skipped
    model = from_checkpoint(state, name="glean", scale=4, rrdb_channels=4, num_rrdbs=1, growth_rate=2,
                            decoder_channels=4)
    assert model.registered_name == "glean" and model.model_config["out_size"] == 32
    kernel = keras.ops.convert_to_numpy(model.get_layer("bank_convs_2").conv.kernel)
    np.testing.assert_array_equal(kernel, P["convs.2.conv.weight_orig"][0].numpy().transpose(2, 3, 1, 0))
    noise = keras.ops.convert_to_numpy(model.get_layer("bank_convs_3").noise.noise)
    np.testing.assert_array_equal(noise[0, ..., 0], P["injected_noise_4"][0, 0].numpy())
    assert model.output_shape == (None, 32, 32, 3)
    bad = dict(state)
    bad["generator_ema.convs.1.activate.bias"] = torch.zeros(5)
    with pytest.raises(CheckpointMismatch, match="convs.1.activate.bias"):
        from_checkpoint(bad, name="glean", scale=4, rrdb_channels=4, num_rrdbs=1, growth_rate=2, decoder_channels=4)


def test_glean_recipe_keeps_mmagic_settings():
    from keras_sr.recipes.glean import GLEANRecipe

    recipe = GLEANRecipe.for_scale(16).validated()
    assert (recipe.patch_size, recipe.hr_patch_size, recipe.batch_size, recipe.steps) == (16, 256, 16, 300_000)
    assert (recipe.pixel_weight, recipe.perceptual_weight, recipe.adversarial_weight) == (4.0, 1e-2, 1e-2)
    assert (recipe.loss, recipe.gan_loss, recipe.vgg_variant, recipe.perceptual_layer) == ("l2", "standard", "vgg16",
                                                                                         "conv4_3")
    assert (recipe.learning_rate, recipe.d_learning_rate, recipe.beta_2) == (1e-4, 1e-4, 0.99)
    assert recipe.discriminator_config() == {"input_size": 256, "channel_multiplier": 2, "max_channels": 512}
    assert GLEANRecipe.for_scale(16, out_size=1024).patch_size == 64
    with pytest.raises(ValueError, match="whole images"):
        GLEANRecipe.for_scale(8, patch_size=16).validated()
    with pytest.raises(ValueError, match="groups of 4"):
        GLEANRecipe.for_scale(8, batch_size=6).validated()
