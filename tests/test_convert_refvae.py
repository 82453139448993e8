"""Checkpoint conversion of RefVAE: parity with the official layout at x8 and x4; detection; errors.

The oracle is tools/torch_refvae_layout.py, PyTorch modules written from the paper and the official
code's structure (Holmes-Alan/RefVAE `VAE_v3_8x` / `VAE_v3_4x`, `encoder4`, `decoder4`) whose
`state_dict()`s have the official key names. Random weights (BatchNorm running statistics
included) are saved as the official files are (plain state dicts: the generator `ConVAE_8x.pth` /
`ConVAE_4x.pth` and the encoder `vgg_r41.pth`), converted together, and compared with the oracle
fed the same `lr_up` and `ref` (float32, CPU, 1e-4 relative), on the deterministic path (the
oracle decodes the posterior mean, keras-sr's default inference):

* the posterior statistics (mean and log-variance of the latent: the input of layer `latent`);
* the network's residual `sr - lr_up` (the output less its bicubic base, so the base's 0 ... 255
  cannot hide a difference), at the official widths (VGG to relu4_1, 512 channels; small images),
  x8 and x4 (the same layers; `scale` from the file name, and an override);
* a small-width model (every size read from the shapes), the tamper errors, the unused `bn` and
  `dec_r41.pth` keys checked by name and shape, the paper-size config from shapes alone and the
  official parameter counts (33,924,675 with `bn`; encoder 3,505,740) counted on the oracle.
"""


import numpy as np
import pytest

torch = pytest.importorskip("torch")

import keras  # noqa: E402

from keras_sr.convert import CheckpointMismatch, StateDict, detect, from_checkpoint  # noqa: E402
from keras_sr.models import refvae as refvae_module  # noqa: E402
from torch_oracles import (check_tampering, load_tool, nchw, nhwc, randomize, report_parity, state_numpy,
                           torch_params)  # noqa: E402

RELATIVE = 1e-4
ref = load_tool("torch_refvae_layout")
SMALL = dict(latent_channels=4, latent_size=4, latent_dim=6, mask_blocks=2, decoder_widths=(6, 5, 4))
SMALL_VGG = (4, 6, 6, 8)


def _save(arrays, path):
    torch.save({k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in arrays.items()}, str(path))
    return str(path)


def _official_pair(seed, vgg=(64, 128, 256, 512), **widths):
    """A random generator and encoder, BN statistics drawn; gains that keep the VGG's ReLU stack at a visible
    scale (1.4) and the generator's output residual at about 200 of 255, the latent changing it by about 50."""
    generator = randomize(ref.Generator(features=vgg[-1], **widths), seed, gain=1.0, batch_norm_statistics=True)
    encoder = randomize(ref.Encoder4(vgg), seed + 100, gain=1.4)
    return generator, encoder


def _compare(label, model, generator, encoder, lr_up, reference):
    """Posterior statistics and residual of the converted model vs the oracle (posterior mean); returns both rels."""
    inputs = {"lr_up": lr_up, "ref": reference}
    probe = keras.Model(model.input, [model.get_layer("latent").input, model.output])
    stats, got = (keras.ops.convert_to_numpy(t) for t in probe(inputs))
    with torch.no_grad():
        mean, log_var = generator.encode(encoder(nchw(reference) / 255.0))
        want = ref.run(generator, encoder, nchw(lr_up) / 255.0, nchw(reference) / 255.0, posterior_mean=True)
        moved = generator.decode(nchw(lr_up) / 255.0, encoder(nchw(lr_up) / 255.0), mean + 1.0)
    want_stats = torch.cat([mean, log_var], 1).numpy()
    residual = nhwc(want) * 255.0 - lr_up
    latent_effect = float((moved - want).std()) * 255.0
    print(f"{label}: residual std {residual.std():.3g}, latent std {want_stats.std():.3g}, "
          f"z + 1 moves the output by {latent_effect:.3g} (std, of 255)")
    assert residual.std() > 1.0 and want_stats.std() > 1e-2 and latent_effect > 0.1  # every part says something
    rel_stats = report_parity(f"{label} latent mean / log-variance", stats, want_stats)
    rel_out = report_parity(f"{label} output - lr_up", got - lr_up, residual)
    return rel_stats, rel_out


@pytest.mark.parametrize("scale", [8, 4])
def test_refvae_official_widths_equal_official_layout(scale, tmp_path):
    generator, encoder = _official_pair(seed=scale)
    gen_path = _save(state_numpy(generator), tmp_path / f"ConVAE_{scale}x.pth")
    vgg_path = _save(state_numpy(encoder), tmp_path / "vgg_r41.pth")
    name, found = detect([gen_path, vgg_path])
    assert name == "refvae" and found["config"] == dict(
        scale=scale, vgg_widths=(64, 128, 256, 512), latent_channels=64, latent_size=16, latent_dim=256,
        mask_blocks=3, decoder_widths=(256, 128, 64))
    model = from_checkpoint([gen_path, vgg_path])
    assert model.model_config["scale"] == scale
    # keras-sr holds no `bn` (512 official parameters, unused) and counts the 2 x 64 x 2 BN moving statistics
    assert model.count_params() == torch_params(generator) - 512 + 256 + torch_params(encoder)

    rng = np.random.default_rng(scale)
    # x8: a square pair; x4: non-square sizes (the 16x16 posterior grid is reached by up- and down-sampling)
    lr_shape, ref_shape = ((64, 64), (64, 64)) if scale == 8 else ((48, 80), (96, 160))
    lr_up = rng.uniform(0, 255, (1, *lr_shape, 3)).astype("float32")
    reference = rng.uniform(0, 255, (1, *ref_shape, 3)).astype("float32")
    rel_stats, rel_out = _compare(f"refvae x{scale} (official widths)", model, generator, encoder, lr_up, reference)
    assert rel_stats < RELATIVE and rel_out < RELATIVE


def test_refvae_scale_override_and_name_default(tmp_path):
    generator, encoder = _official_pair(seed=5, vgg=SMALL_VGG, **SMALL)
    gen_path = _save(state_numpy(generator), tmp_path / "GAN_generator_50.pth")   # main_GAN.py's name: no scale in it
    vgg_path = _save(state_numpy(encoder), tmp_path / "vgg_r41.pth")
    assert detect([gen_path, vgg_path])[1]["config"]["scale"] == 8              # the default
    model = from_checkpoint([gen_path, vgg_path], scale=4)                      # allowed: the weights do not say
    assert model.model_config["scale"] == 4
    named = _save(state_numpy(generator), tmp_path / "ConVAE_8x.pth")
    assert from_checkpoint([named, vgg_path], scale=4).model_config["scale"] == 4
    assert refvae_module.official_parameter_count(vgg_widths=SMALL_VGG, latent_channels=4, latent_size=4,
                                                  latent_dim=6, mask_blocks=2, decoder_widths=(6, 5, 4)) \
        == (torch_params(generator), torch_params(encoder))


def test_refvae_small_widths_tamper_and_unused_keys(tmp_path):
    generator, encoder = _official_pair(seed=7, vgg=SMALL_VGG, **SMALL)
    decoder4 = randomize(ref.Decoder4(SMALL_VGG), 9)
    state, vgg = state_numpy(generator), state_numpy(encoder)
    gen_path, vgg_path = _save(state, tmp_path / "ConVAE_4x.pth"), _save(vgg, tmp_path / "vgg_r41.pth")
    dec_path = _save(state_numpy(decoder4), tmp_path / "dec_r41.pth")
    name, found = detect([gen_path, vgg_path, dec_path])
    assert name == "refvae" and found["config"] == dict(scale=4, vgg_widths=SMALL_VGG, latent_channels=4,
                                                        latent_size=4, latent_dim=6, mask_blocks=2,
                                                        decoder_widths=(6, 5, 4))
    model = from_checkpoint([gen_path, vgg_path, dec_path])                    # dec_r41.pth: checked and skipped
    rng = np.random.default_rng(7)
    lr_up = rng.uniform(0, 255, (1, 40, 56, 3)).astype("float32")
    reference = rng.uniform(0, 255, (1, 48, 24, 3)).astype("float32")
    rel_stats, rel_out = _compare("refvae x4 (small widths)", model, generator, encoder, lr_up, reference)
    assert rel_stats < RELATIVE and rel_out < RELATIVE

    def convert(arrays, label, extra=()):
        return from_checkpoint([_save(arrays, tmp_path / f"{label}.pth"), vgg_path, *extra])

    def source(label):
        return rf"{label}\.pth \+ \S*vgg_r41\.pth"

    check_tampering(state, "mask.2.conv2.weight", "decoder.4.weight", tmp_path, extra_files=[vgg_path])
    with pytest.raises(CheckpointMismatch, match=r"'bn\.running_var' has shape \(7,\), expected \(6,\)"):
        convert(dict(state, **{"bn.running_var": np.ones((7,), np.float32)}), "bn")   # unused, but checked
    with pytest.raises(CheckpointMismatch, match=r"'init_feat\.4\.running_mean'"):
        convert({k: v for k, v in state.items() if k != "init_feat.4.running_mean"}, "no_stats")
    with pytest.raises(CheckpointMismatch, match=r"missing key 'conv7\.bias'"):
        from_checkpoint([gen_path, _save({k: v for k, v in vgg.items() if k != "conv7.bias"}, tmp_path / "v.pth")])
    wrong_decoder = dict(state_numpy(decoder4), **{"conv15.weight": np.zeros((7, 6, 3, 3), np.float32)})
    with pytest.raises(CheckpointMismatch, match=r"'conv15\.weight' has shape \(7, 6, 3, 3\), expected \(6, 6, 3, 3\)"):
        from_checkpoint([gen_path, vgg_path, _save(wrong_decoder, tmp_path / "d.pth")])
    with pytest.raises(CheckpointMismatch, match=r"ConVAE_4x\.pth: a RefVAE generator .* pass vgg_r41\.pth"):
        from_checkpoint(gen_path)
    with pytest.raises(CheckpointMismatch, match=r"vgg_r41\.pth: RefVAE's VGG encoder .* pass the generator"):
        from_checkpoint(vgg_path)
    with pytest.raises(CheckpointMismatch, match=r"both hold 'conv1\.weight'"):
        from_checkpoint([gen_path, vgg_path, vgg_path])


def test_refvae_paper_size_from_shapes_and_official_counts():
    generator, encoder = ref.Generator(), ref.Encoder4()
    arrays = {k: np.broadcast_to(np.float32(0), tuple(v.shape))
              for k, v in {**generator.state_dict(), **encoder.state_dict()}.items()}
    paper = dict(vgg_widths=(64, 128, 256, 512), latent_channels=64, latent_size=16, latent_dim=256, mask_blocks=3,
                 decoder_widths=(256, 128, 64))
    assert detect(arrays) == ("refvae", {"model": "refvae", "config": dict(scale=8, **paper),
                                         "scale_from_weights": False})
    named = StateDict(arrays, source="models/ConVAE_4x.pth + models/vgg_r41.pth")
    assert detect(named)[1]["config"] == dict(scale=4, **paper)
    # Official VAE_v3_8x / VAE_v3_4x: 33,924,675 parameters (the unused BatchNorm1d's 512 included); encoder4 3,505,740
    assert torch_params(generator) == 33_924_675 and torch_params(encoder) == 3_505_740
    assert refvae_module.official_parameter_count() == (33_924_675, 3_505_740)
    assert torch_params(generator.bn) == 512 and torch_params(ref.Decoder4()) == 3_505_219
