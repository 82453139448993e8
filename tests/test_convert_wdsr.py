"""Checkpoint conversion of WDSR-A / WDSR-B: parity with the official layouts; errors; the official sizes.

The oracle is tools/torch_wdsr_layout.py, PyTorch modules written from the paper and the official
code's structure whose `state_dict()` has the official key names (weight-normalized convs:
`weight_g` / `weight_v` / `bias`, or the newer parametrization names). Random weights are saved as the
official trainers save them and converted; compared (float32, CPU, < 1e-4 relative to the largest
output) is the whole network output on random RGB images:

* JiahuiYu/wdsr_ntire2018 `wdsr_a.py` / `wdsr_b.py` (EDSR-PyTorch's bare `state_dict()` in
  `model_best.pt`), 0-255 in and out, at every keras-sr scale (2, 3, 4, 8), legacy and parametrization
  key names, a `res_scale` override, a folded (`remove_weight_norm`) file;
* ychfan/wdsr `models/wdsr.py` (the released files' `{"epoch", "model_state_dict", ...}` container),
  [0, 1] in and out (compared x 255), at 2, 3, 4, 8.

Also: the converted parameter count equals the oracle's, g and v are loaded as such (not folded), the
tamper errors, and the official sizes detected from shapes alone with the parameter counts counted from
the official module structure (WDSR baseline x2 1,190,100 as the README; WDSR-B 303,604; reloaded x3 / x4
and large x2 as the reloaded README).
"""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from keras_sr.convert import CheckpointMismatch, detect, from_checkpoint  # noqa: E402
from torch_oracles import (check_tampering, load_tool, randomize, report_parity, state_numpy,
                           torch_params)  # noqa: E402

RELATIVE = 1e-4
SCALES = (2, 3, 4, 8)
ref = load_tool("torch_wdsr_layout")


def _images(seed, unit=False):
    images = np.random.default_rng(seed).uniform(0.0, 255.0, (2, 7, 6, 3)).astype(np.float32)
    return images / 255.0 if unit else images


def _parity(label, net, model, unit=False, seed=0):
    """keras-sr on 0-255 images vs the official module (on [0, 1] images x 255 when `unit`)."""
    images = _images(seed, unit)
    with torch.no_grad():
        want = net(torch.from_numpy(images.transpose(0, 3, 1, 2))).numpy().transpose(0, 2, 3, 1)
    got = np.asarray(model(images * 255.0 if unit else images))
    return report_parity(label, got, want * 255.0 if unit else want)


def _convert(net, path, expected, container=None, **overrides):
    state = net.state_dict()
    torch.save(state if container is None else container(state), str(path))
    name, found = detect(str(path))
    assert (name, found) == ("wdsr", {"model": "wdsr", "config": expected,
                                      "aliases": {"res_scale": "residual_scale"}})
    model = from_checkpoint(str(path), **overrides)
    assert model.count_params() == torch_params(net)
    return model


def _reloaded_container(state):
    """ychfan/wdsr trainer.py: the model's state dict beside the optimizer's and the scheduler's."""
    opt = torch.optim.Adam([torch.zeros(2, requires_grad=True)], 1e-3)
    scheduler = torch.optim.lr_scheduler.MultiStepLR(opt, (20, 25), 0.2)
    return {"epoch": 30, "model_state_dict": state, "optimizer_state_dict": opt.state_dict(),
            "lr_scheduler_state_dict": scheduler.state_dict()}


# --------------------------------------------------------------------------- JiahuiYu/wdsr_ntire2018
@pytest.mark.parametrize("scale", SCALES)
def test_wdsr_a_and_b_equal_ntire2018_layout_at_every_scale(scale, tmp_path):
    net = randomize(ref.WDSRA(scale, n_resblocks=2, n_feats=4, block_feats=12), seed=scale)
    assert not any("mean" in k for k in net.state_dict())  # the DIV2K mean is a constant, not a buffer
    model = _convert(net, tmp_path / "model_best.pt",
                     dict(scale=scale, num_blocks=2, filters=4, variant="a", expansion=3.0))
    assert _parity(f"wdsr_a ntire2018 x{scale}", net, model) < RELATIVE

    net = randomize(ref.WDSRB(scale, n_resblocks=2, n_feats=5), seed=10 + scale)
    model = _convert(net, tmp_path / "model_latest.pt",
                     dict(scale=scale, num_blocks=2, filters=5, variant="b", expansion=6.0, low_rank_ratio=0.8))
    assert _parity(f"wdsr_b ntire2018 x{scale}", net, model) < RELATIVE


def test_parametrization_names_res_scale_and_the_weights_kept_as_g_and_v(tmp_path):
    # files re-saved with torch.nn.utils.parametrizations.weight_norm; the challenge runs' --res_scale 0.1
    net = randomize(ref.WDSRA(3, n_resblocks=2, n_feats=4, block_feats=8, res_scale=0.1, parametrized=True), seed=5)
    assert "head.0.parametrizations.weight.original0" in net.state_dict()
    model = _convert(net, tmp_path / "a.pt", dict(scale=3, num_blocks=2, filters=4, variant="a", expansion=2.0),
                     residual_scale=0.1)
    assert _parity("wdsr_a parametrized, res_scale 0.1, x3", net, model) < RELATIVE
    # EDSR's name for it (the CLI's --res-scale) reaches the same builder argument
    alias = from_checkpoint(str(tmp_path / "a.pt"), res_scale=0.1)
    assert _parity("wdsr_a parametrized, res_scale= (alias), x3", net, alias) < RELATIVE
    net = randomize(ref.WDSRB(2, n_resblocks=3, n_feats=10, expand=4, linear=0.8, parametrized=True), seed=6)
    model = _convert(net, tmp_path / "b.pt",
                     dict(scale=2, num_blocks=3, filters=10, variant="b", expansion=4.0, low_rank_ratio=0.8))
    assert _parity("wdsr_b parametrized, expand 4, x2", net, model) < RELATIVE
    # the parametrization is loaded, not a folded kernel: keras-sr's g and v are the official ones
    conv = net.body[1].body[3]
    wrapper = model.get_layer("block_1").convs[2]
    np.testing.assert_array_equal(wrapper.g.numpy(), conv.parametrizations.weight.original0.detach().numpy().ravel())
    np.testing.assert_array_equal(wrapper.layer.kernel.numpy(),
                                  conv.parametrizations.weight.original1.detach().numpy().transpose(2, 3, 1, 0))
    np.testing.assert_allclose(np.asarray(wrapper.normalized_kernel()),
                               conv.weight.detach().numpy().transpose(2, 3, 1, 0), rtol=1e-5, atol=1e-7)


def test_folded_weights_after_remove_weight_norm(tmp_path):
    net = randomize(ref.WDSRA(2, n_resblocks=1, n_feats=4, block_feats=8), seed=7)
    for module in net.modules():
        if hasattr(module, "weight_g"):
            torch.nn.utils.remove_weight_norm(module)
    assert "head.0.weight" in net.state_dict() and "head.0.weight_g" not in net.state_dict()
    path = tmp_path / "folded.pt"
    torch.save(net.state_dict(), str(path))
    assert detect(str(path))[1]["config"] == dict(scale=2, num_blocks=1, filters=4, variant="a", expansion=2.0)
    model = from_checkpoint(str(path))
    assert model.count_params() == torch_params(net) + sum(m.out_channels for m in net.modules()
                                                      if isinstance(m, torch.nn.Conv2d))  # g is back
    assert _parity("wdsr_a folded (remove_weight_norm), x2", net, model) < RELATIVE


def test_tampered_ntire2018_files_name_the_key(tmp_path):
    state = state_numpy(randomize(ref.WDSRB(2, n_resblocks=2, n_feats=5), seed=8))
    check_tampering(state, "body.1.body.2.weight_g", "body.1.body.3.weight_v", tmp_path)
    with pytest.raises(CheckpointMismatch, match="no converter recognises"):  # a skip conv of 3 x 3, not 5 x 5
        detect(dict(state, **{"skip.0.weight_v": np.zeros((12, 3, 3, 3), np.float32)}))


# ----------------------------------------------------------------------------------- ychfan/wdsr
@pytest.mark.parametrize("scale", SCALES)
def test_reloaded_layout_at_every_scale(scale, tmp_path):
    net = randomize(ref.WDSRReloaded(scale, num_blocks=2, num_residual_units=4, width_multiplier=2.5), seed=20 + scale)
    model = _convert(net, tmp_path / "epoch_30.pth",
                     dict(scale=scale, num_blocks=2, filters=4, variant="a", expansion=2.5, rgb_mean=(0.5, 0.5, 0.5)),
                     container=_reloaded_container)
    assert _parity(f"wdsr reloaded x{scale}", net, model, unit=True, seed=scale) < RELATIVE
    if scale == 2:
        check_tampering(state_numpy(net), "body.2.body.0.weight_v", "body.2.body.2.weight_v", tmp_path)


# ------------------------------------------------------------------------------------ official sizes
def _shapes(net):
    return {k: np.broadcast_to(np.float32(0), tuple(v.shape)) for k, v in net.state_dict().items()}


def test_official_sizes_detected_from_shapes_and_their_parameter_counts():
    from keras_sr import models
    from keras_sr.layers.mean_shift import DIV2K_RGB_MEAN

    assert tuple(DIV2K_RGB_MEAN) == ref.DIV2K_MEAN == (0.4488, 0.4371, 0.4040)  # wdsr_ntire2018 issue #7
    baseline = dict(num_blocks=16, filters=32, variant="a", expansion=4.0)
    # the README's WDSR baseline: wdsr_a.py --n_resblocks 16 --n_feats 32 --block_feats 128, x2
    net = ref.WDSRA()
    found = detect(_shapes(net))[1]["config"]
    assert found == dict(scale=2, **baseline)
    assert torch_params(net) == models.build("wdsr", **found).count_params() == 1_190_100
    # head 928 + 16 x (1x1 32->192: 6,528, 1x1 192->25: 4,850, 3x3 25->32: 7,264) + tail 3,480 + skip 924
    net = ref.WDSRB()
    found = detect(_shapes(net))[1]["config"]
    assert found == dict(scale=2, num_blocks=16, filters=32, variant="b", expansion=6.0, low_rank_ratio=0.8)
    assert torch_params(net) == models.build("wdsr", **found).count_params() == 303_604
    # the reloaded README's small x3 / x4 and large x2 files
    for scale, size, count in ((3, {}, 1_195_605), (4, {}, 1_203_312),
                               (2, dict(num_blocks=32, num_residual_units=128), 37_808_180)):
        net = ref.WDSRReloaded(scale, **size)
        found = detect(_shapes(net))[1]["config"]
        want = dict(baseline, scale=scale, rgb_mean=(0.5, 0.5, 0.5))
        if size:
            want.update(num_blocks=32, filters=128)
        assert found == want and torch_params(net) == count
