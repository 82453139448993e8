"""Checkpoint conversion of full mmagic GLEAN files: parity with mmagic's layout; detection; errors.

The oracle is tools/torch_glean_layout.py's `GLEANStyleGANv2` (its bank the independent PyTorch
StyleGAN2 that tests/test_glean.py checks the bank converter against), PyTorch modules written from
the paper and mmagic's module structure whose `state_dict()` has mmagic's key names. Random weights are
saved as mmagic's SRGAN saves them (`{"meta", "state_dict"}`, the network under `generator.`, with the
discriminator and the perceptual loss's VGG beside it), converted, and the whole SR output is compared
(float32, CPU, 1e-4 relative) on random images at x4 (16 -> 64) and x16 (4 -> 64); the bank's noise is
the file's `injected_noise_*` buffers on both sides. Also: the EMA copy preferred, bare StyleGAN2 files
still going to the bank-only converter, the tamper errors, and the released configurations detected from
shapes alone with mmagic's parameter counts.
"""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import keras  # noqa: E402

from keras_sr.convert import CheckpointMismatch, detect, from_checkpoint  # noqa: E402
from keras_sr.models import glean as G  # noqa: E402
from torch_oracles import check_tampering, load_tool, randomize, report_parity, state_numpy, torch_params  # noqa: E402

RELATIVE = 1e-4
ref = load_tool("torch_glean_layout")
TINY = dict(style_channels=8, channel_multiplier=2, max_channels=8, rrdb_channels=8, num_rrdbs=2, growth_rate=4,
            decoder_channels=6)
# mmagic GLEANStyleGANv2 `sum(p.numel())` of the released configurations (tests/test_glean.py: by formula)
MMAGIC_GLEAN = {"x8_256": 162_479_861, "x16_256": 171_903_649, "x16_1024": 175_516_723, "x8_1024": 174_196_615}


def _oracle(scale, out_size, seed, **kw):
    cfg = dict(TINY, **kw)
    net = ref.GLEANStyleGANv2(out_size // scale, out_size, style_channels=cfg["style_channels"], num_mlps=8,
                              channel_multiplier=1, max_channels=cfg["max_channels"],
                              rrdb_channels=cfg["rrdb_channels"], num_rrdbs=cfg["num_rrdbs"],
                              growth_channels=cfg["growth_rate"], decoder_channels=cfg["decoder_channels"],
                              noise_seed=seed)
    net = randomize(net, seed, frozen=True)
    g = torch.Generator().manual_seed(seed + 100)
    with torch.no_grad():   # a visible constant and modulation near StyleGAN2's (bias init 1)
        net.generator.constant_input.input.copy_(torch.randn(net.generator.constant_input.input.shape, generator=g))
        for name, p in net.generator.named_parameters():
            if name.endswith("style_modulation.bias"):
                p.add_(1.0)
    return net


def _unused_params(net):
    """mmagic's parameters that are not on the path to the SR output (skipped by the converter)."""
    g = net.generator
    return sum(torch_params(m) for m in (g.style_mapping, g.to_rgb1, g.to_rgbs, net.fusion_skip))


def _keras_params(model):
    """As PyTorch counts them: the fixed noise maps are buffers there (non-trainable weights here)."""
    return sum(int(np.prod(w.shape)) for w in model.weights if not w.path.endswith("/noise"))


def _training_file(net):
    """What mmagic's SRGAN holds: the GLEAN generator, a discriminator, the perceptual loss's VGG16."""
    state = {"generator." + k: v for k, v in net.state_dict().items()}
    rng = torch.Generator().manual_seed(7)
    state["discriminator.convs.0.0.weight"] = torch.randn(8, 3, 1, 1, generator=rng)
    state["discriminator.final_linear.1.bias"] = torch.randn(1, generator=rng)
    state["perceptual_loss.vgg.vgg_layers.0.weight"] = torch.randn(64, 3, 3, 3, generator=rng)
    state["perceptual_loss.vgg.mean"] = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    return {"meta": {"mmedit_version": "0.8.0", "iter": 300000}, "state_dict": state}


def _run(net, lr):
    with torch.no_grad():
        x = torch.from_numpy(np.ascontiguousarray(lr.transpose(0, 3, 1, 2))) / 127.5 - 1.0
        return (net(x) * 127.5 + 127.5).numpy().transpose(0, 2, 3, 1)


@pytest.mark.parametrize("scale", [4, 16])
def test_full_glean_checkpoint_equals_mmagic_layout(scale, tmp_path):
    net = _oracle(scale, 64, seed=scale)
    path = str(tmp_path / f"glean_x{scale}.pth")
    torch.save(_training_file(net), path)
    name, found = detect(path)
    assert name == "glean_full" and found["prefix"] == "generator."
    assert found["config"] == dict(TINY, scale=scale, out_size=64)
    model = from_checkpoint(path)
    assert model.registered_name == "glean" and model.input_shape == (None, 64 // scale, 64 // scale, 3)
    official = G.official_parameter_count(**found["config"])
    assert torch_params(net) == official                          # the oracle is mmagic's module, counted
    assert _keras_params(model) == official - _unused_params(net) == G.official_parameter_count(
        **found["config"], used_only=True)

    lr = np.random.default_rng(scale).uniform(0, 255, (2, 64 // scale, 64 // scale, 3)).astype("float32")
    want = _run(net, lr)
    assert want.std() > 1.0, "the oracle's output is flat: the comparison would say little"
    got = keras.ops.convert_to_numpy(model(lr))
    assert report_parity(f"glean x{scale} ({64 // scale} -> 64, whole SR output)", got, want) < RELATIVE


def test_ema_copy_is_preferred_and_checked():
    net, other = _oracle(8, 32, seed=1), _oracle(8, 32, seed=2)
    state = dict(state_numpy(other, "generator."), **state_numpy(net, "generator_ema."))
    state["discriminator.final_linear.1.bias"] = np.zeros(1, np.float32)
    name, found = detect(state)
    assert name == "glean_full" and found["prefix"] == "generator_ema."
    model = from_checkpoint(state)
    lr = np.random.default_rng(0).uniform(0, 255, (1, 4, 4, 3)).astype("float32")
    got = keras.ops.convert_to_numpy(model(lr))
    assert report_parity("glean x8 (4 -> 32, generator_ema weights)", got, _run(net, lr)) < RELATIVE
    assert np.abs(got - _run(other, lr)).max() > 1.0            # not the generator. copy
    with pytest.raises(CheckpointMismatch, match="'generator.fusion_surplus.weight' has no EMA twin"):
        from_checkpoint(dict(state, **{"generator.fusion_surplus.weight": np.zeros(3, np.float32)}))
    bare = state_numpy(net)                                           # a GLEANStyleGANv2 state dict, no prefix
    assert detect(bare)[0] == "glean_full" and detect(bare)[1]["prefix"] == ""


def test_bare_stylegan2_files_still_go_to_the_bank_converter():
    net = _oracle(8, 32, seed=3)
    bank = dict(state_numpy(net.generator, "generator_ema."), **state_numpy(net.generator, "generator."))
    name, found = detect(bank)
    assert name == "stylegan2" and found["config"] == dict(out_size=32, style_channels=8, channel_multiplier=2,
                                                           max_channels=8)
    assert detect(bank, name="glean")[0] == "stylegan2"
    with pytest.raises(CheckpointMismatch, match="'glean_full' converter reads it"):
        detect(state_numpy(net), name="stylegan2")          # a bare GLEANStyleGANv2 dict: its bank is at generator.
    with pytest.raises(CheckpointMismatch, match="not a 'stylegan2' checkpoint layout"):
        detect(state_numpy(net, "generator."), name="stylegan2")


def test_tampered_files_are_refused(tmp_path):
    state = {k: v.numpy() for k, v in _training_file(_oracle(4, 32, seed=5))["state_dict"].items()}

    def convert(arrays, name):
        torch.save({k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in arrays.items()}, str(tmp_path / name))
        return from_checkpoint(str(tmp_path / name))

    check_tampering(state, "generator.fusion_out.1.weight", "generator.decoder.1.upsample_conv.weight", tmp_path)
    skip = "generator.fusion_skip.0.weight"                   # skipped by name, but its shape is checked
    with pytest.raises(CheckpointMismatch, match=rf"'{skip}' has shape"):
        convert(dict(state, **{skip: np.zeros((3, 5, 3, 3), np.float32)}), "skip.pt")
    with pytest.raises(CheckpointMismatch, match=r"weights are a x4 glean, not x8"):
        from_checkpoint(state, scale=8)


def test_released_configurations_detected_from_shapes_with_mmagic_counts():
    for key, total in MMAGIC_GLEAN.items():
        cfg = G.PAPER_CONFIGS[key]
        with torch.device("meta"):                      # mmagic's full-size module, no memory, no values
            paper = ref.GLEANStyleGANv2(cfg["out_size"] // cfg["scale"], cfg["out_size"])
        shapes = {"generator." + k: np.broadcast_to(np.float32(0), tuple(v.shape))
                  for k, v in paper.state_dict().items()}
        name, found = detect(shapes)
        assert name == "glean_full" and found["config"] == dict(
            cfg, style_channels=512, channel_multiplier=2, max_channels=512, rrdb_channels=64, num_rrdbs=23,
            growth_rate=32, decoder_channels=64), key
        assert torch_params(paper) == G.official_parameter_count(**cfg) == total, key
        assert torch_params(paper) - _unused_params(paper) == G.official_parameter_count(**cfg, used_only=True), key
