"""Real-ESRGAN's released discriminator (`RealESRGAN_x4plus_netD.pth`) converts for fine-tuning.

The oracle is tools/torch_unet_discriminator_layout.py (a PyTorch `UNetDiscriminatorSN` written here with
`torch.nn.utils.spectral_norm` and the official key names). Random weights and power-iteration vectors are
saved in the BasicSR container (`params`), converted, and compared (float32, CPU): the logits in inference
mode (the stored `u`, `v`) and two training steps (each one power iteration, `u` / `v` updated as PyTorch
does), so the converted discriminator continues the official training exactly; then the GAN recipes'
`--pretrained-discriminator` loads the converted file.
"""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import keras  # noqa: E402

from keras_sr.convert import CheckpointMismatch, detect, from_checkpoint  # noqa: E402
from torch_oracles import load_tool, randomize  # noqa: E402

oracle = load_tool("torch_unet_discriminator_layout")


def _net(seed, skip_connection=True):
    net = oracle.UNetDiscriminatorSN(num_feat=4, skip_connection=skip_connection)
    with torch.no_grad():  # a few power iterations so that u, v are not the initial draws
        net.train()
        net(torch.rand(1, 3, 16, 16))
    return randomize(net, seed)


def test_unet_discriminator_sn_equals_official_layout(tmp_path):
    net = _net(0)
    path = str(tmp_path / "RealESRGAN_x4plus_netD.pth")
    torch.save({"params": net.state_dict()}, path)
    assert detect(path) == ("unet_discriminator_sn", {"model": "unet_discriminator_sn", "config": {"filters": 4}})
    model = from_checkpoint(path)
    assert sum(int(np.prod(w.shape)) for w in model.trainable_weights) == sum(p.numel() for p in net.parameters())
    x = np.random.default_rng(0).uniform(0, 1, (2, 16, 24, 3)).astype(np.float32)
    t = torch.from_numpy(x.transpose(0, 3, 1, 2).copy())
    for step, training in enumerate((False, True, True, False)):
        net.train(training)
        with torch.no_grad():
            want = net(t).numpy().transpose(0, 2, 3, 1)
        got = keras.ops.convert_to_numpy(model(255.0 * x, training=training))
        rel = float(np.abs(got - want).max() / np.abs(want).max())
        print(f"parity unet_discriminator_sn step {step} ({'training' if training else 'inference'}): rel {rel:.2g}")
        assert rel < 1e-4
    np.testing.assert_allclose(keras.ops.convert_to_numpy(model.get_layer("conv5_sn").u),
                               net.conv5.weight_u.numpy(), atol=1e-5)  # the power iterations went alike

    # without skips: no weight shows it; the override builds it
    plain = _net(1, skip_connection=False)
    model = from_checkpoint({k: v for k, v in plain.state_dict().items()}, skip_connection=False)
    with torch.no_grad():
        want = plain.eval()(t).numpy().transpose(0, 2, 3, 1)
    assert np.abs(keras.ops.convert_to_numpy(model(255.0 * x)) - want).max() / np.abs(want).max() < 1e-4


def test_unet_discriminator_sn_errors_name_the_key():
    state = {k: v.numpy() for k, v in _net(2).state_dict().items()}
    with pytest.raises(CheckpointMismatch, match=r"missing key 'conv4\.weight_u'"):
        from_checkpoint({k: v for k, v in state.items() if k != "conv4.weight_u"})
    with pytest.raises(CheckpointMismatch, match=r"'conv6\.weight_v' has shape \(5,\)"):
        from_checkpoint(dict(state, **{"conv6.weight_v": np.zeros(5, np.float32)}))
    with pytest.raises(CheckpointMismatch, match=r"1 unused key\(s\): conv10\.weight"):
        from_checkpoint(dict(state, **{"conv10.weight": np.zeros((1,), np.float32)}))


def test_gan_recipe_starts_from_a_converted_discriminator(tmp_path):
    from keras_sr.training.gan import load_pretrained_discriminator

    from keras_sr import models

    path = str(tmp_path / "netD.pth")
    torch.save({"params": _net(3).state_dict()}, path)
    converted = from_checkpoint(path)
    converted.save(str(tmp_path / "netD.keras"))
    critic = models.build("unet_discriminator_sn", input_size=32, filters=4)
    load_pretrained_discriminator(critic, str(tmp_path / "netD.keras"), log=None)
    for a, b in zip(critic.weights, converted.weights):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(a), keras.ops.convert_to_numpy(b))
    with pytest.raises(ValueError, match=r"netD_wide\.keras: cannot load into the discriminator"):
        models.build("unet_discriminator_sn", filters=8).save(str(tmp_path / "netD_wide.keras"))
        load_pretrained_discriminator(critic, str(tmp_path / "netD_wide.keras"), log=None)
    with pytest.raises(FileNotFoundError, match="missing.keras"):
        load_pretrained_discriminator(critic, str(tmp_path / "missing.keras"), log=None)
