"""Checkpoint conversion of TTSR, C2-Matching, LIIF and Meta-RDN: parity with the official layouts; errors.

None of the four is in spandrel: the oracles are tools/torch_refsr_layouts.py and
tools/torch_arbitrary_scale_layouts.py, PyTorch modules written from the papers and the
official code's structure whose `state_dict()` has the official key names. Random weights are
saved as the official files are (TTSR: a plain dict; C2-Matching: three files; LIIF: the
`{'model': {'name', 'args', 'sd'}}` container; Meta-RDN: a plain dict), converted, and the
converted keras-sr model must compute the PyTorch image within 1e-4 relative (float32, CPU).
For TTSR and C2-Matching this is the whole model on an LR + reference pair: the patch matching
(argmax) runs on both sides and must pick the same patches (random images and weights have no
ties), then the transfer / deformable aggregation and the restoration network.
"""


import numpy as np
import pytest

torch = pytest.importorskip("torch")

import keras  # noqa: E402

from keras_sr.convert import CheckpointMismatch, detect, from_checkpoint  # noqa: E402
from keras_sr.layers.coordinate_sampling import make_cell, make_coord  # noqa: E402
from torch_oracles import load_tool, randomize  # noqa: E402

RELATIVE = 1e-4
refsr = load_tool("torch_refsr_layouts")
arbitrary = load_tool("torch_arbitrary_scale_layouts")


def _trainable(module):
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


def _state(module):
    return {k: v.detach().clone().contiguous() for k, v in module.state_dict().items()}


def _report(label, got, want):
    assert got.shape == want.shape
    err = float(np.abs(got - want).max())
    rel = err / float(np.abs(want).max())
    print(f"parity {label}: max abs {err:.2g} (0-255 units), rel {rel:.2g}")
    return rel


def _nchw(x, scale, offset):
    return torch.from_numpy(x.transpose(0, 3, 1, 2) * scale + offset)


# ------------------------------------------------------------------------------------------ TTSR

def test_pytorch_bicubic_upsample_equals_f_interpolate():
    import torch.nn.functional as F

    from keras_sr.layers.bicubic_resize import pytorch_bicubic_upsample

    x = np.random.default_rng(0).normal(size=(2, 5, 7, 3)).astype("float32")
    for factor in (2, 3, 4):
        got = keras.ops.convert_to_numpy(pytorch_bicubic_upsample(x, factor))
        want = F.interpolate(torch.from_numpy(x.transpose(0, 3, 1, 2)), scale_factor=factor, mode="bicubic",
                             align_corners=False).numpy().transpose(0, 2, 3, 1)
        assert got.shape == want.shape and np.abs(got - want).max() < 1e-5
    with pytest.raises(ValueError, match="interpolation must be one of"):
        from keras_sr.layers.texture_transformer import SoftAttentionFusion
        SoftAttentionFusion(8, 2, interpolation="nearest")


def _tiny_ttsr():
    return randomize(refsr.TTSR(num_res_blocks=(1, 1, 1, 1), n_feats=8, texture_widths=(4, 8, 16)), 1)


def _ttsr_inputs(seed=0, h=6, w=7, ref_size=(28, 32)):
    rng = np.random.default_rng(seed)
    shapes = {"lr": (h, w), "lr_up": (4 * h, 4 * w), "ref": ref_size, "ref_down_up": ref_size}
    return {k: rng.uniform(0, 255, (1, *s, 3)).astype("float32") for k, s in shapes.items()}


def test_ttsr_equals_official_layout_on_an_lr_reference_pair(tmp_path):
    from keras_sr.cli import main

    net = _tiny_ttsr()
    torch.save(_state(net), str(tmp_path / "TTSR.pt"))
    name, found = detect(str(tmp_path / "TTSR.pt"))
    assert name == "ttsr" and found["config"]["num_res_blocks"] == [1, 1, 1, 1]
    assert found["config"]["interpolation"] == "pytorch" and found["config"]["fold_normalization"] == "constant"
    model = from_checkpoint(str(tmp_path / "TTSR.pt"))
    assert model.count_params() == _trainable(net)
    inputs = _ttsr_inputs()
    got = keras.ops.convert_to_numpy(model(inputs))
    t = {k: _nchw(v, 1 / 127.5, -1.0) for k, v in inputs.items()}
    with torch.no_grad():
        want = net(t["lr"], t["lr_up"], t["ref"], t["ref_down_up"]).numpy().transpose(0, 2, 3, 1)
    want = (want + 1.0) * 127.5
    inside = np.mean((want > 0.5) & (want < 254.5))
    assert inside > 0.5, f"the output is mostly clamped ({inside:.0%} inside): the comparison would say little"
    assert _report("ttsr (whole model, matching included)", got, want) < RELATIVE

    # keras-sr convert -> .keras (safe_mode): the official interpolation and fold survive serialization.
    # The file is a full state_dict() this time, with the loss-only LTE_copy (equal to LTE: skipped).
    state = _state(net)
    state.update({"LTE_copy." + k[4:]: v.clone() for k, v in state.items() if k.startswith("LTE.")})
    torch.save(state, str(tmp_path / "full_state_dict.pt"))
    out = str(tmp_path / "ttsr.keras")
    assert main(["convert", str(tmp_path / "full_state_dict.pt"), "--out", out]) == 0
    reloaded = keras.saving.load_model(out, safe_mode=True)
    assert np.abs(keras.ops.convert_to_numpy(reloaded(inputs)) - got).max() <= 1e-3


def test_ttsr_full_size_layout_detects_the_official_config():
    from keras_sr.models.ttsr import official_parameter_count

    net = refsr.TTSR()
    state = {k: v.numpy() for k, v in net.state_dict().items()}
    config = detect(state)[1]["config"]
    assert config["num_res_blocks"] == [16, 16, 8, 4] and config["n_feats"] == 64
    assert config["texture_widths"] == (64, 128, 256)
    assert _trainable(net) == official_parameter_count() == 6_729_603  # paper: 6.73M


def test_ttsr_lte_copy_must_equal_lte():
    state = {k: v.numpy() for k, v in _tiny_ttsr().state_dict().items()}
    with_copy = dict(state, **{"LTE_copy." + k[4:]: v for k, v in state.items() if k.startswith("LTE.")})
    assert detect(with_copy)[0] == "ttsr"
    with_copy["LTE_copy.slice2.5.weight"] = with_copy["LTE_copy.slice2.5.weight"] + 1.0
    with pytest.raises(CheckpointMismatch, match=r"LTE_copy\.slice2\.5\.weight is not a copy of LTE\.slice2\.5"):
        from_checkpoint(with_copy)


# ----------------------------------------------------------------------------------- C2-Matching

C2_FILES = ("c2_matching_restoration.pth", "feature_extraction.pth", "vgg19-dcbb9e9d.pth")


def _tiny_c2():
    return randomize(refsr.C2Matching(ngf=8, n_blocks=1, groups=2, vgg_widths=(4, 8, 16),
                                       contrastive_widths=(4, 8, 12)), 2)


def _save_c2(net, folder):
    paths = [str(folder / name) for name in C2_FILES]
    for module, path in zip((net.restoration, net.extractor, net.vgg), paths):
        torch.save(_state(module), path)
    return paths


def test_c2_matching_equals_official_layout_on_an_lr_reference_pair(tmp_path):
    net = _tiny_c2()
    paths = _save_c2(net, tmp_path)
    model = from_checkpoint(paths)
    used = _trainable(net) - sum(p.numel() for n, p in net.vgg.named_parameters()
                                 if n.startswith("classifier") or int(n.split(".")[1]) > 10)
    assert model.count_params() == used  # every parameter but VGG19's layers past conv3_1
    assert not model.get_layer("reference_vgg").trainable and not model.get_layer("contrastive_extractor").trainable
    rng = np.random.default_rng(3)
    inputs = {"lr": rng.uniform(0, 255, (1, 8, 9, 3)), "lr_up": rng.uniform(0, 255, (1, 32, 36, 3)),
              "ref": rng.uniform(0, 255, (1, 32, 36, 3))}
    inputs = {k: v.astype("float32") for k, v in inputs.items()}
    got = keras.ops.convert_to_numpy(model(inputs))
    t = {k: _nchw(v, 1 / 255.0, 0.0) for k, v in inputs.items()}
    with torch.no_grad():
        feat_in = net.extractor.feature_extraction_image1(t["lr_up"])
        offsets = net.restoration.dyn_agg_restore.small_dyn_agg.conv_offset_mask  # learned offsets are active
        assert float(offsets.weight.abs().max()) > 0
        want = net(t["lr"], t["lr_up"], t["ref"]).numpy().transpose(0, 2, 3, 1) * 255.0
    assert feat_in.shape[-2:] == (8, 9)
    assert _report("c2_matching (whole model, matching included)", got, want) < RELATIVE


def test_c2_matching_missing_parts_vgg16_and_duplicates_are_named(tmp_path, capsys):
    from keras_sr.cli import main

    paths = _save_c2(_tiny_c2(), tmp_path)
    with pytest.raises(SystemExit):  # the CLI merges the files it is given, and names what is missing
        main(["convert", *paths[:2], "--out", str(tmp_path / "c2.keras")])
    assert "feature_extraction.pth: a C2-Matching restoration network" in capsys.readouterr().err
    with pytest.raises(CheckpointMismatch, match=r"also needs the contrastive feature extractor \(feature_extraction"
                                                 r"\.pth.*and the reference VGG19"):
        from_checkpoint(paths[0])
    with pytest.raises(CheckpointMismatch, match="needs the reference VGG19"):
        from_checkpoint(paths[:2])
    vgg = torch.load(paths[2])
    vgg16 = {k: v for k, v in vgg.items() if not (k.startswith("features.") and int(k.split(".")[1]) > 28)}
    with pytest.raises(CheckpointMismatch, match="not a torchvision VGG19"):
        from_checkpoint([paths[0], paths[1], vgg16])
    with pytest.raises(CheckpointMismatch, match=r"feature_extraction\.pth and .*feature_extraction\.pth both hold"):
        from_checkpoint([paths[0], paths[1], paths[1], paths[2]])


def test_c2_matching_full_size_layout_detects_the_official_config():
    from keras_sr.models.c2_matching import official_parameter_count

    net = refsr.C2Matching()
    state = {k: v.numpy() for module in (net.restoration, net.extractor, net.vgg)
             for k, v in module.state_dict().items()}
    config = detect(state)[1]["config"]
    assert (config["ngf"], config["n_blocks"], config["groups"]) == (64, 16, 8)
    assert config["vgg_widths"] == (64, 128, 256) and config["contrastive_widths"] == (64, 128, 256)
    assert _trainable(net.restoration) == official_parameter_count() == 8_865_547
    assert _trainable(net.extractor) == 1_110_656  # paper: 9.98M = restoration + contrastive extractor


# ------------------------------------------------------------------------------ LIIF and Meta-RDN

def _query(height, width):
    return (keras.ops.convert_to_numpy(make_coord(height, width))[None],
            keras.ops.convert_to_numpy(make_cell(height, width))[None])


@pytest.mark.parametrize("encoder", ["edsr-baseline", "rdn"])
def test_liif_equals_official_layout(encoder, tmp_path):
    net = randomize(arbitrary.LIIF(encoder, n_resblocks=2, n_feats=8, rdn=(2, 2, 4), hidden=(16, 16)), 4)
    torch.save(net.spec(), str(tmp_path / "epoch-last.pth"))
    model = from_checkpoint(str(tmp_path / "epoch-last.pth"))
    assert model.count_params() == _trainable(net)
    x = np.random.default_rng(5).uniform(0, 255, (1, 6, 7, 3)).astype("float32")
    for height, width in ((15, 17), (18, 21)):  # x2.5-ish and x3
        coord, cell = _query(height, width)
        got = keras.ops.convert_to_numpy(model([x, coord, cell]))
        with torch.no_grad():
            want = net(_nchw(x, 2 / 255.0, -1.0), torch.from_numpy(coord), torch.from_numpy(cell)).numpy()
        assert _report(f"liif {encoder} {height}x{width}", got, (want * 0.5 + 0.5) * 255.0) < RELATIVE


def test_liif_spec_args_ablations_and_container(tmp_path):
    net = randomize(arbitrary.LIIF("edsr-baseline", n_resblocks=1, n_feats=8, hidden=(8,), feat_unfold=False,
                                    local_ensemble=False, cell_decode=False), 6)
    torch.save(net.spec(), str(tmp_path / "liif-abl.pth"))
    config = detect(str(tmp_path / "liif-abl.pth"))[1]["config"]
    assert (config["feat_unfold"], config["local_ensemble"], config["cell_decode"]) == (False, False, False)
    model = from_checkpoint(str(tmp_path / "liif-abl.pth"))
    x = np.random.default_rng(7).uniform(0, 255, (1, 5, 6, 3)).astype("float32")
    coord, cell = _query(11, 13)
    with torch.no_grad():
        want = net(_nchw(x, 2 / 255.0, -1.0), torch.from_numpy(coord), torch.from_numpy(cell)).numpy()
    got = keras.ops.convert_to_numpy(model([x, coord, cell]))
    assert _report("liif (-u -e -c)", got, (want * 0.5 + 0.5) * 255.0) < RELATIVE
    spec = net.spec()
    spec["model"]["args"]["feat_unfold"] = True
    with pytest.raises(CheckpointMismatch, match="the spec says feat_unfold=True but the MLP's input width 10"):
        from_checkpoint(spec)
    full = arbitrary.LIIF("edsr-baseline"), arbitrary.LIIF("rdn")
    assert [_trainable(n) for n in full] == [1_567_299, 22_320_835]  # keras_sr.models.liif.OFFICIAL_PARAMETERS
    assert detect({k: v.numpy() for k, v in full[1].state_dict().items()})[1]["config"]["num_layers"] == 8


@pytest.mark.parametrize("scale", [2, 3, 2.5])
def test_meta_rdn_equals_official_layout(scale, tmp_path):
    net = randomize(arbitrary.MetaRDN(blocks=2, layers=2, growth=4, g0=8, hidden=16), 8)
    torch.save(_state(net), str(tmp_path / "model_1000.pt"))
    model = from_checkpoint(str(tmp_path / "model_1000.pt"))
    assert model.name == "meta_rdn" and model.count_params() == _trainable(net)
    x = np.random.default_rng(9).uniform(0, 255, (1, 6, 8, 3)).astype("float32")
    coord, cell = _query(int(scale * 6), int(scale * 8))
    got = keras.ops.convert_to_numpy(model([x, coord, cell]))
    with torch.no_grad():
        want = net(_nchw(x, 1.0, 0.0), scale).numpy().transpose(0, 2, 3, 1).reshape(1, -1, 3)
    assert _report(f"meta_rdn x{scale}", got, want) < RELATIVE


def test_meta_rdn_full_size_and_mean():
    from keras_sr.models.meta_sr import OFFICIAL_PARAMETERS

    net = arbitrary.MetaRDN()
    state = {k: v.numpy() for k, v in net.state_dict().items()}
    assert detect(state)[1]["config"] == {"num_blocks": 16, "num_layers": 8, "growth_rate": 64, "filters": 64,
                                          "hidden_units": 256}
    assert _trainable(net) == OFFICIAL_PARAMETERS == 22_419_072
    tiny = arbitrary.MetaRDN(blocks=1, layers=1, growth=4, g0=8, hidden=8)
    tiny = {k: v.numpy() for k, v in tiny.state_dict().items()}
    tiny["add_mean.bias"] = tiny["add_mean.bias"] / 255.0
    with pytest.raises(CheckpointMismatch, match="add_mean.bias is 1 \\* 255 \\* .* not the DIV2K mean"):
        from_checkpoint(tiny)


# ------------------------------------------------------------------ removed / renamed / reshaped keys

def _tiny_states():
    liif = randomize(arbitrary.LIIF("edsr-baseline", n_resblocks=2, n_feats=8, hidden=(16,)), 10).spec()
    c2 = _tiny_c2()
    return {
        "ttsr": ({k: v.numpy() for k, v in _tiny_ttsr().state_dict().items()},
                 "MainNet.ex123.conv31_2.weight", "MainNet.merge_tail.conv23.bias", "MainNet.RB22.0.conv1.weight"),
        "c2_matching": ({k: v.numpy() for m in (c2.restoration, c2.extractor, c2.vgg)
                         for k, v in m.state_dict().items()},
                        "dyn_agg_restore.medium_dyn_agg.conv_offset_mask.weight",
                        "feature_extraction_image2.model.conv2_1.bias", "dyn_agg_restore.large_dyn_agg.weight"),
        "liif": ({k: v.numpy() for k, v in liif["model"]["sd"].items()}, "imnet.layers.2.bias",
                 "encoder.body.1.body.2.weight", "imnet.layers.2.weight"),
        "meta_rdn": ({k: v.numpy() for k, v in
                      randomize(arbitrary.MetaRDN(blocks=2, layers=2, growth=4, g0=8, hidden=16), 11)
                      .state_dict().items()}, "P2W.meta_block.2.bias", "RDBs.1.LFF.weight", "GFF.1.weight"),
    }


@pytest.mark.parametrize("family", ["ttsr", "c2_matching", "liif", "meta_rdn"])
def test_removed_renamed_reshaped_and_extra_tensors_are_named(family, tmp_path):
    from safetensors.numpy import save_file

    state, removed_key, renamed_key, reshaped_key = _tiny_states()[family]
    assert detect(state)[0] == family

    def convert(arrays, name):
        path = str(tmp_path / f"{family}_{name}.safetensors")
        save_file({k: np.ascontiguousarray(v) for k, v in arrays.items()}, path)
        return from_checkpoint(path)

    removed = {k: v for k, v in state.items() if k != removed_key}
    with pytest.raises(CheckpointMismatch, match=rf"{family}_removed\.safetensors: missing key '{removed_key}'"):
        convert(removed, "removed")
    renamed = {(k + "_renamed" if k == renamed_key else k): v for k, v in state.items()}
    with pytest.raises(CheckpointMismatch, match=f"missing key '{renamed_key}'"):
        convert(renamed, "renamed")
    shape = state[reshaped_key].shape
    reshaped = dict(state, **{reshaped_key: np.zeros(shape[:-1] + (shape[-1] + 2,), np.float32)})
    with pytest.raises(CheckpointMismatch, match=f"'{reshaped_key}' (converts to|has) shape"):
        convert(reshaped, "reshaped")
    extra = dict(state, **{"extra.weight": np.zeros((2,), np.float32)})
    with pytest.raises(CheckpointMismatch, match=r"1 unused key\(s\): extra\.weight"):
        convert(extra, "extra")
