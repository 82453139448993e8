"""Converted RCAN and RRDBNet (ESRGAN, Real-ESRGAN) checkpoints equal spandrel's outputs.

spandrel (tests/spandrel_oracle.py) is an implementation nobody here wrote. Each
test builds spandrel's architecture class with random weights and small
hyperparameters, saves its state dict in an official key layout (torch.save
inside a training container, or safetensors), converts the file with
`keras_sr.convert.from_checkpoint`, and requires the keras-sr output to equal
spandrel's on a random image within 1e-4 relative (float32, CPU). For the
`esrgan` and `basicsr` RRDBNet layouts the file is loaded back through spandrel's
own `ModelLoader` (its detection and key mapping), so the renaming below is
checked by spandrel too.
"""

import re

import numpy as np
import pytest

from spandrel_oracle import import_spandrel

spandrel = import_spandrel()
torch = pytest.importorskip("torch")

import keras  # noqa: E402

from keras_sr.convert import from_checkpoint  # noqa: E402

RELATIVE = 1e-4


def _randomize(net, seed):
    """Weights of a visible size (the default init leaves RRDB residuals near zero)."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in net.named_parameters():
            if "mean" not in name:
                p.copy_(torch.randn(p.shape, generator=generator) * 0.5 / np.sqrt(max(p[0].numel(), 1)))
    return net.eval()


def _save(state, path, fmt):
    state = {k: v.detach().clone().contiguous() for k, v in state.items()}
    if fmt == "safetensors":
        from safetensors.numpy import save_file

        save_file({k: v.numpy() for k, v in state.items()}, str(path))
    else:
        torch.save({"params_ema": state, "iter": 7}, str(path))  # a BasicSR-style container
    return str(path)


def _parity(keras_model, torch_fn, size, seed, unit_range, label):
    """Max abs and relative difference of keras(255 x) against torch(x) (or torch(255 x) when not unit_range)."""
    x = np.random.default_rng(seed).uniform(0, 1, (1, *size, 3)).astype("float32")
    got = keras.ops.convert_to_numpy(keras_model(255.0 * x))
    with torch.no_grad():
        t = torch.from_numpy(x.transpose(0, 3, 1, 2) * (1.0 if unit_range else 255.0))
        want = torch_fn(t).numpy().transpose(0, 2, 3, 1) * (255.0 if unit_range else 1.0)
    assert got.shape == want.shape
    err = float(np.abs(got - want).max())
    rel = err / float(np.abs(want).max())
    print(f"parity {label}: max abs {err:.2g} (0-255 units), rel {rel:.2g}")
    return err, rel


@pytest.mark.parametrize("scale", [2, 3, 4, 8])
def test_rcan_equals_spandrel(scale, tmp_path):
    from spandrel.architectures.RCAN import RCAN

    net = _randomize(RCAN(scale=scale, n_resgroups=2, n_resblocks=2, n_feats=16, reduction=4), scale)
    fmt = "pth" if scale % 2 else "safetensors"
    path = _save(net.state_dict(), tmp_path / f"RCAN_BIX{scale}.{fmt}", fmt)
    model = from_checkpoint(path)
    assert model.name == f"rcan_x{scale}" and len(model.get_layer("group_1").blocks) == 2
    assert model.count_params() == sum(p.numel() for p in net.parameters()) - 24  # MeanShift: constants here
    _, rel = _parity(model, net, (7, 9), scale, unit_range=True, label=f"rcan x{scale} vs spandrel")
    assert rel < RELATIVE


def _old_to_new(state, layout):
    """Rename spandrel's old-arch keys (`model.N`) to the ESRGAN repo's or BasicSR's names."""
    nb = max(int(m.group(1)) for k in state if (m := re.match(r"model\.1\.sub\.(\d+)\.RDB", k))) + 1
    rdb, trunk, up, hr = {"esrgan": ("RRDB_trunk.{}.RDB{}.conv{}", "trunk_conv", "upconv{}", "HRconv"),
                          "basicsr": ("body.{}.rdb{}.conv{}", "conv_body", "conv_up{}", "conv_hr")}[layout]
    fixed = {"model.0": "conv_first", f"model.1.sub.{nb}": trunk, "model.3": up.format(1), "model.6": up.format(2),
             "model.8": hr, "model.10": "conv_last"}
    out = {}
    for key, value in state.items():
        prefix, kind = key.rsplit(".", 1)
        m = re.match(r"model\.1\.sub\.(\d+)\.RDB(\d)\.conv(\d)\.0$", prefix)
        out[(rdb.format(*m.groups()) if m else fixed[prefix]) + "." + kind] = value
    return out


@pytest.mark.parametrize("layout, shuffle, fmt", [("old", 1, "pth"), ("esrgan", 1, "safetensors"),
                                                  ("basicsr", 1, "pth"), ("basicsr", 2, "pth"),
                                                  ("basicsr", 4, "safetensors")])
def test_rrdbnet_layouts_equal_spandrel(layout, shuffle, fmt, tmp_path):
    """x4 ESRGAN in three layouts; Real-ESRGAN x2plus (unshuffle 2) and BasicSR x1 (unshuffle 4)."""
    from spandrel.architectures.ESRGAN import ESRGAN

    net = _randomize(ESRGAN(in_nc=3 * shuffle * shuffle, num_filters=16, num_blocks=2, scale=4,
                            shuffle_factor=shuffle if shuffle > 1 else None), shuffle)
    state = net.state_dict()
    if layout != "old":
        state = _old_to_new(state, layout)
        net = spandrel.ModelLoader().load_from_state_dict(state).model.eval()  # spandrel reads the renamed file
    path = _save(state, tmp_path / f"rrdb_{layout}_x{4 // shuffle}.{fmt}", fmt)
    model = from_checkpoint(path)
    assert model.name == f"rrdbnet_x{4 // shuffle}"
    assert model.count_params() == sum(p.numel() for p in net.parameters())
    _, rel = _parity(model, net, (8, 12), shuffle, unit_range=True,
                     label=f"rrdbnet {layout} layout x{4 // shuffle} vs spandrel")
    assert rel < RELATIVE


@pytest.mark.parametrize("scale, plus", [(8, False), (2, False), (1, False), (4, True)])
def test_rrdbnet_old_arch_depths_and_esrgan_plus_equal_spandrel(scale, plus, tmp_path):
    """Old-arch files with 3 / 1 / 0 upconvs (x8, x2, x1 without unshuffle) and ESRGAN+ (`RDB{k}.conv1x1`)."""
    from spandrel.architectures.ESRGAN import ESRGAN

    net = _randomize(ESRGAN(num_filters=16, num_blocks=2, scale=scale, plus=plus), scale + plus)
    path = _save(net.state_dict(), tmp_path / f"rrdb_old_x{scale}{'_plus' * plus}.pth", "pth")
    from keras_sr.convert import detect

    expected = dict(scale=scale, num_blocks=2, filters=16, growth_rate=32)
    expected.update({"pixel_unshuffle": False} if scale < 4 else {}, **({"plus": True} if plus else {}))
    assert detect(path)[1]["config"] == expected
    model = from_checkpoint(path)
    assert model.count_params() == sum(p.numel() for p in net.parameters())
    _, rel = _parity(model, net, (6, 7), scale, unit_range=True,
                     label=f"rrdbnet old layout x{scale}{' ESRGAN+' * plus} vs spandrel")
    assert rel < RELATIVE
    if plus:  # a plus file with one conv1x1 missing is named
        from keras_sr.convert import CheckpointMismatch

        state = {k: v for k, v in net.state_dict().items() if k != "model.1.sub.1.RDB2.conv1x1.weight"}
        with pytest.raises(CheckpointMismatch, match=r"missing key 'model\.1\.sub\.1\.RDB2\.conv1x1\.weight'"):
            from_checkpoint(state)


@pytest.mark.parametrize("scale", [1, 2])
def test_rcan_unshuffle_head_equals_spandrel(scale, tmp_path):
    """The community `unshuffle_mod` RCAN (PixelUnshuffle head `head.1`, x4 tail) at x2 and x1."""
    from spandrel.architectures.RCAN import RCAN

    from keras_sr.convert import CheckpointMismatch, detect

    net = _randomize(RCAN(scale=scale, n_resgroups=1, n_resblocks=2, n_feats=8, reduction=4, unshuffle_mod=True), 9)
    path = _save(net.state_dict(), tmp_path / f"rcan_unshuffle_x{scale}.pth", "pth")
    assert detect(path)[1]["config"]["pixel_unshuffle"] is True and detect(path)[1]["config"]["scale"] == scale
    model = from_checkpoint(path)
    assert model.count_params() == sum(p.numel() for p in net.parameters()) - 24
    _, rel = _parity(model, net, (8, 12), scale, unit_range=True, label=f"rcan unshuffle_mod x{scale} vs spandrel")
    assert rel < RELATIVE
    model.save(str(tmp_path / "rcan_unshuffle.keras"))  # the builder option survives a safe_mode .keras round trip
    reloaded = keras.saving.load_model(str(tmp_path / "rcan_unshuffle.keras"), safe_mode=True)
    x = np.random.default_rng(scale).uniform(0, 255, (1, 8, 12, 3)).astype("float32")
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(reloaded(x)), keras.ops.convert_to_numpy(model(x)))
    state = dict(net.state_dict())
    state["head.1.weight"] = state["head.1.weight"][:, :5]
    with pytest.raises(CheckpointMismatch, match=r"head\.1\.weight takes 5 input channels"):
        from_checkpoint(state)
