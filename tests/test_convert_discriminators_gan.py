"""ESRGAN's VGG-style and GLEAN's StyleGAN2 discriminators convert from the official training files.

The oracle is tools/torch_gan_discriminators_layout.py (PyTorch modules written here with the official key
names: BasicSR's `VGGStyleDiscriminator`, the old BasicSR `features` / `classifier` Sequential, mmagic's
`StyleGAN2Discriminator`). Random weights (and BatchNorm running statistics) are saved as the official code
saves them (BasicSR `{"params": ...}`, the old BasicSR a bare state dict, mmagic a `{"meta", "state_dict"}`
file whose `discriminator.*` sits beside the GLEAN generator), converted, and the logits compared (float32,
CPU) on random images: in inference mode, and in training mode (batch statistics) for the batch-norm critic;
relative to the logits' magnitude (`rel`) and to their spread over the batch, so that a misplaced weight
cannot hide behind a large common bias. Then the paper-size configs are detected from shapes only with the
official parameter counts, the tamper errors name the key, and the ESRGAN and GLEAN recipes'
`--pretrained-discriminator` take the converted files.
"""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import keras  # noqa: E402

from keras_sr import models  # noqa: E402
from keras_sr.convert import CheckpointMismatch, detect, from_checkpoint  # noqa: E402
from torch_oracles import load_tool, randomize, nchw  # noqa: E402

oracle = load_tool("torch_gan_discriminators_layout")
RNG = np.random.default_rng(0)


def _parity(got, want, label):
    err = float(np.abs(got - want).max())
    rel = err / float(np.abs(want).max())
    spread = err / float(np.ptp(want))
    print(f"parity {label}: max abs {err:.2g}, rel {rel:.2g} (of the batch spread {spread:.2g})")
    assert rel < 1e-4 and spread < 1e-3


def _vgg(cls, seed, size):
    # gain 1.5: logits that differ visibly between images (0.7 leaves a near-constant output)
    return randomize(cls(3, 4, input_size=size), seed, gain=1.5, batch_norm_statistics=True)


def _stylegan2(seed, size=32, channel_multiplier=1, max_channels=8):
    net = oracle.StyleGAN2Discriminator(size, channel_multiplier=channel_multiplier, max_channels=max_channels)
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():  # equalized lr: N(0, 1)-sized stored weights, as mmagic initializes them
        for name, p in net.named_parameters():
            p.copy_(torch.randn(p.shape, generator=generator) * (1.5 if name.endswith("weight_orig") else 0.5))
    return net.eval()


def _vgg_parity(net, model, size, label, training=(False, True)):
    x = RNG.uniform(0, 1, (4, size, size, 3)).astype(np.float32)
    for mode in training:
        net.train(mode)
        with torch.no_grad():
            want = net(nchw(x)).numpy()
        got = keras.ops.convert_to_numpy(model(255.0 * x, training=mode))
        _parity(got, want, f"{label} ({'training' if mode else 'inference'})")
    net.eval()


@pytest.mark.parametrize("size", [128, 256])
def test_basicsr_vgg_style_discriminator(tmp_path, size):
    net = _vgg(oracle.VGGStyleDiscriminator, 0, size)
    path = str(tmp_path / "net_d_400000.pth")
    torch.save({"params": net.state_dict()}, path)
    stages = 5 if size == 128 else 6
    assert detect(path) == ("esrgan_discriminator", {
        "model": "esrgan_discriminator", "layout": "basicsr",
        "config": {"input_size": size, "filters": 4, "dense_units": 100, "num_stages": stages}})
    model = from_checkpoint(path)
    trainable = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    assert trainable == sum(p.numel() for p in net.parameters())
    bn = [b for n, b in net.named_buffers() if n.endswith(("running_mean", "running_var"))]
    assert model.count_params() - trainable == sum(b.numel() for b in bn)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(model.get_layer("bn2_1").moving_variance),
                                  net.bn2_1.running_var.numpy())
    _vgg_parity(net, model, size, f"esrgan_discriminator basicsr {size}")


@pytest.mark.parametrize("size", [128, 96, 192])
def test_old_basicsr_features_classifier_layout(tmp_path, size):
    # Discriminaotr_VGG_128 / _96 / _192: conv biases before batch norm, folded into the running means
    net = _vgg(oracle.OldVGGDiscriminator, 1, size)
    path = str(tmp_path / "400000_D.pth")
    torch.save(net.state_dict(), path)
    stages = 6 if size == 192 else 5
    assert detect(path)[1] == {"model": "esrgan_discriminator", "layout": "old",
                               "config": {"input_size": size, "filters": 4, "dense_units": 100,
                                          "num_stages": stages}}
    model = from_checkpoint(path)
    biases = [m.bias.numel() for m in net.features if isinstance(m, torch.nn.Conv2d)][1:]
    trainable = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    assert trainable == sum(p.numel() for p in net.parameters()) - sum(biases)   # the folded conv biases
    _vgg_parity(net, model, size, f"esrgan_discriminator old {size}")


def test_batch_norm_running_statistics_move_as_pytorch():
    # one training step's running-mean update, from the folded mean: the same as PyTorch's (momentum 0.1)
    net = _vgg(oracle.OldVGGDiscriminator, 2, 128)
    model = from_checkpoint(net.state_dict())
    before = keras.ops.convert_to_numpy(model.get_layer("bn1_0").moving_mean)
    x = RNG.uniform(0, 1, (4, 128, 128, 3)).astype(np.float32)
    net.train()
    with torch.no_grad():
        net(nchw(x))
    model(255.0 * x, training=True)
    conv, bn = net.features[5], net.features[6]   # conv1_0 (k = 2) and its batch norm
    got = keras.ops.convert_to_numpy(model.get_layer("bn1_0").moving_mean)
    np.testing.assert_allclose(got, (bn.running_mean - conv.bias).detach().numpy(), rtol=1e-5, atol=1e-5)
    assert np.abs(got - before).max() > 1e-2   # it moved


def test_vgg_discriminator_paper_size_from_shapes():
    def zeros(net):
        return {k: np.broadcast_to(np.float32(0), tuple(v.shape)) for k, v in net.state_dict().items()}

    with torch.device("meta"):
        new, old = oracle.VGGStyleDiscriminator(3, 64), oracle.OldVGGDiscriminator(3, 64)
    # BasicSR VGGStyleDiscriminator(3, 64, 128), counted from discriminator_arch.py: 14,499,401
    assert sum(p.numel() for p in new.parameters()) == 14_499_401
    # old Discriminaotr_VGG_128 (architecture.py): + the 9 conv biases before batch norm (2,880)
    assert sum(p.numel() for p in old.parameters()) == 14_499_401 + 2_880
    for state, layout in ((zeros(new), "basicsr"), (zeros(old), "old")):
        name, found = detect(state)
        assert (name, found["layout"], found["config"]) == (
            "esrgan_discriminator", layout, {"input_size": 128, "filters": 64, "dense_units": 100, "num_stages": 5})
    model = from_checkpoint(zeros(old))
    assert sum(int(np.prod(w.shape)) for w in model.trainable_weights) == 14_499_401


def test_vgg_discriminator_errors_name_the_key():
    state = {k: v.numpy() for k, v in _vgg(oracle.VGGStyleDiscriminator, 3, 128).state_dict().items()}
    with pytest.raises(CheckpointMismatch, match=r"missing key 'bn3_0\.running_var'"):
        from_checkpoint({k: v for k, v in state.items() if k != "bn3_0.running_var"})
    renamed = {("bn3_0.running_variance" if k == "bn3_0.running_var" else k): v for k, v in state.items()}
    with pytest.raises(CheckpointMismatch, match=r"missing key 'bn3_0\.running_var'"):
        from_checkpoint(renamed)
    with pytest.raises(CheckpointMismatch, match=r"'conv2_1\.weight' converts to shape"):
        from_checkpoint(dict(state, **{"conv2_1.weight": np.zeros((16, 16, 3, 3), np.float32)}))
    with pytest.raises(CheckpointMismatch, match=r"1 unused key\(s\): conv0_0\.weight_extra"):
        from_checkpoint(dict(state, **{"conv0_0.weight_extra": np.zeros(1, np.float32)}))
    with pytest.raises(CheckpointMismatch, match=r"linear1\.weight .* is not \(units, 32 x e x e\)"):
        from_checkpoint(dict(state, **{"linear1.weight": np.zeros((100, 500), np.float32)}))
    old = {k: v.numpy() for k, v in _vgg(oracle.OldVGGDiscriminator, 3, 128).state_dict().items()}
    with pytest.raises(CheckpointMismatch, match=r"missing key 'features\.9\.bias'"):
        from_checkpoint({k: v for k, v in old.items() if k != "features.9.bias"})


def _glean_file(net, prefix="discriminator."):
    """A GLEAN training checkpoint as mmediting saves it: generator (a stand-in key), discriminator, VGG."""
    state = {"generator.encoder.0.0.conv_first.weight": torch.zeros(4, 3, 3, 3),
             "perceptual_loss.vgg.features.0.weight": torch.zeros(4, 3, 3, 3)}
    state.update({prefix + k: v for k, v in net.state_dict().items()})
    return {"meta": {"mmedit_version": "0.x"}, "state_dict": state}


def test_stylegan2_discriminator_from_a_glean_file(tmp_path):
    net = _stylegan2(0)
    path = str(tmp_path / "glean_cat_8x.pth")
    torch.save(_glean_file(net), path)
    # no width of a 4..8-channel net shows the multiplier: detected 2, the same layers as the oracle's 1
    config = {"input_size": 32, "channel_multiplier": 2, "max_channels": 8, "channel_groups": 1}
    assert detect(path, name="stylegan2_discriminator") == ("stylegan2_discriminator", {
        "model": "stylegan2_discriminator", "prefix": "discriminator.", "config": config})
    model = from_checkpoint(path, name="stylegan2_discriminator")
    assert model.count_params() == sum(p.numel() for p in net.parameters())
    for batch in (4, 8, 2):   # groups of 4 (mmagic's minibatch stddev), two groups, a batch below the group size
        x = RNG.uniform(0, 1, (batch, 32, 32, 3)).astype(np.float32)
        with torch.no_grad():
            want = net(2.0 * nchw(x) - 1.0).numpy()
        _parity(keras.ops.convert_to_numpy(model(255.0 * x)), want, f"stylegan2_discriminator 32 batch {batch}")

    # a bare mmagic StyleGAN2Discriminator state dict is detected without the name
    bare = _stylegan2(1, size=16, max_channels=4)
    assert detect(bare.state_dict())[0] == "stylegan2_discriminator"
    x = RNG.uniform(0, 1, (4, 16, 16, 3)).astype(np.float32)
    with torch.no_grad():
        want = bare(2.0 * nchw(x) - 1.0).numpy()
    _parity(keras.ops.convert_to_numpy(from_checkpoint(bare.state_dict())(255.0 * x)), want,
            "stylegan2_discriminator 16 bare")


def test_stylegan2_discriminator_paper_size_from_shapes():
    from keras_sr.models.glean import stylegan2_discriminator_parameter_count

    with torch.device("meta"):
        net = oracle.StyleGAN2Discriminator(256, channel_multiplier=2)
    state = {"discriminator." + k: np.broadcast_to(np.float32(0), tuple(v.shape)) for k, v in net.state_dict().items()}
    # mmagic StyleGAN2Discriminator(in_size=256, channel_multiplier=2) of GLEAN's cat configs, counted from
    # stylegan2_discriminator.py / stylegan2_modules.py
    assert sum(p.numel() for p in net.parameters()) == 28_864_129 == stylegan2_discriminator_parameter_count(256)
    name, found = detect(state, name="stylegan2_discriminator")
    assert found["config"] == {"input_size": 256, "channel_multiplier": 2, "max_channels": 512, "channel_groups": 1}
    model = models.build("stylegan2_discriminator", **found["config"])
    assert model.count_params() == 28_864_129
    with torch.device("meta"):   # FFHQ 1024 (glean_ffhq_16x, glean_in128out1024): width 32 at 1024
        big = oracle.StyleGAN2Discriminator(1024, channel_multiplier=2)
    assert sum(p.numel() for p in big.parameters()) == 29_012_513 == stylegan2_discriminator_parameter_count(1024)
    state = {k: np.broadcast_to(np.float32(0), tuple(v.shape)) for k, v in big.state_dict().items()}
    assert detect(state)[1]["config"] == {"input_size": 1024, "channel_multiplier": 2, "max_channels": 512,
                                          "channel_groups": 1}


def test_stylegan2_discriminator_does_not_claim_generator_files_and_errors_name_the_key():
    glean = load_tool("torch_glean_layout")
    disc = _stylegan2(2, size=16, max_channels=4)
    full = {"generator." + k: v.numpy() for k, v in
            randomize(glean.GLEANStyleGANv2(4, 16, style_channels=4, max_channels=4, rrdb_channels=4, num_rrdbs=1,
                                            growth_channels=4, decoder_channels=4), 0).state_dict().items()}
    full.update({"discriminator." + k: v.numpy() for k, v in disc.state_dict().items()})
    # the file's generator goes to GLEAN's converter (which skips discriminator.*); the discriminator by name
    assert detect(full)[0] == "glean_full"
    assert from_checkpoint(full).name.startswith("glean")
    assert from_checkpoint(full, name="stylegan2_discriminator").count_params() == \
        sum(p.numel() for p in disc.parameters())
    bank = {"generator_ema." + k: v.numpy() for k, v in
            randomize(glean.StyleGAN2Generator(16, style_channels=4, num_mlps=2, max_channels=4), 0)
            .state_dict().items()}
    assert detect(dict(bank, **{k: v for k, v in full.items() if k.startswith("discriminator.")}))[0] == "stylegan2"
    state = _glean_file(disc)["state_dict"]
    state = {k: v.numpy() for k, v in state.items()}
    key = "discriminator.convs.1.conv2.1.conv.weight_orig"
    with pytest.raises(CheckpointMismatch, match=r"missing key 'discriminator\.convs\.1\.conv2\.1\.conv\.weight_orig'"):
        from_checkpoint({k: v for k, v in state.items() if k != key}, name="stylegan2_discriminator")
    with pytest.raises(CheckpointMismatch, match=r"'discriminator\.final_conv\.1\.bias' converts to shape \(3,\)"):
        from_checkpoint(dict(state, **{"discriminator.final_conv.1.bias": np.zeros(3, np.float32)}),
                        name="stylegan2_discriminator")
    with pytest.raises(CheckpointMismatch, match=r"convs\.1\.skip\.0\.kernel' is not the \[1, 3, 3, 1\] blur"):
        from_checkpoint(dict(state, **{"discriminator.convs.1.skip.0.kernel": np.ones((4, 4), np.float32)}),
                        name="stylegan2_discriminator")
    with pytest.raises(CheckpointMismatch, match=r"1 unused key\(s\): discriminator\.mapping\.0\.weight"):
        from_checkpoint(dict(state, **{"discriminator.mapping.0.weight": np.zeros(1, np.float32)}),
                        name="stylegan2_discriminator")
    with pytest.raises(CheckpointMismatch, match=r"1 unused key\(s\): ema_model\.x"):
        from_checkpoint(dict(state, **{"ema_model.x": np.zeros(1, np.float32)}), name="stylegan2_discriminator")


def _assert_loaded(critic, converted):
    assert len(critic.weights) == len(converted.weights)
    for a, b in zip(critic.weights, converted.weights):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(a), keras.ops.convert_to_numpy(b))


def test_esrgan_recipe_starts_from_a_converted_discriminator(tmp_path):
    from keras_sr.recipes.esrgan import ESRGANRecipe
    from keras_sr.training.gan import load_pretrained_discriminator

    path = str(tmp_path / "net_d.pth")
    torch.save({"params": _vgg(oracle.VGGStyleDiscriminator, 4, 128).state_dict()}, path)
    from_checkpoint(path).save(str(tmp_path / "net_d.keras"))
    converted = keras.saving.load_model(str(tmp_path / "net_d.keras"), compile=False)
    recipe = ESRGANRecipe.for_scale(4, d_filters=4, vgg_weights="random")   # 32 -> 128 crops, as BasicSR
    critic = models.build(recipe.discriminator, **recipe.discriminator_config())
    load_pretrained_discriminator(critic, str(tmp_path / "net_d.keras"), log=None)
    _assert_loaded(critic, converted)
    with pytest.raises(ValueError, match=r"net_d\.keras: cannot load into the discriminator"):
        wide = models.build(recipe.discriminator, **recipe.replace(d_filters=8).discriminator_config())
        load_pretrained_discriminator(wide, str(tmp_path / "net_d.keras"), log=None)


def test_glean_recipe_starts_from_a_converted_discriminator(tmp_path):
    from keras_sr.recipes.glean import GLEANRecipe
    from keras_sr.training.gan import load_pretrained_discriminator

    path = str(tmp_path / "glean.pth")
    torch.save(_glean_file(_stylegan2(5)), path)
    from_checkpoint(path, name="stylegan2_discriminator").save(str(tmp_path / "glean_d.keras"))
    converted = keras.saving.load_model(str(tmp_path / "glean_d.keras"), compile=False)
    recipe = GLEANRecipe.for_scale(8, out_size=32, patch_size=4, max_channels=8, channel_multiplier=1,
                                   vgg_weights="random")
    critic = models.build(recipe.discriminator, **recipe.discriminator_config())
    load_pretrained_discriminator(critic, str(tmp_path / "glean_d.keras"), log=None)
    _assert_loaded(critic, converted)
