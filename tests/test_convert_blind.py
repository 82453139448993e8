"""Checkpoint conversion of DASR, SMSR and ClassSR: parity with the official layouts; errors.

None of the three is in spandrel: the oracle is tools/torch_blind_layouts.py, PyTorch modules
written from the papers and the official code's structure whose `state_dict()` has the official
key names. Random weights (and, for DASR's batch norms, random running statistics) are saved as
the official files are, converted, and the converted keras-sr model must compute the PyTorch
image within 1e-4 relative (float32, CPU): DASR the whole blind model (encoder + generator),
SMSR the whole inference network with hard masks (the converted model uses PyTorch's bicubic skip,
as the official), ClassSR the whole routed model on one sub-image (classifier + argmax branch) and
every branch alone.
"""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import keras  # noqa: E402

from keras_sr.convert import CheckpointMismatch, detect, from_checkpoint  # noqa: E402
from torch_oracles import load_tool, randomize, check_tampering  # noqa: E402

RELATIVE = 1e-4
ref = load_tool("torch_blind_layouts")


def _randomize(net, seed):
    return randomize(net, seed, batch_norm_statistics=True)


def _trainable(module):
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


def _numpy(state):
    return {k: v.detach().cpu().numpy().copy() for k, v in state.items()}


def _difference(model, net, x, unit_range=False, label=""):
    got = keras.ops.convert_to_numpy(model(x))
    scale = 1.0 / 255.0 if unit_range else 1.0
    with torch.no_grad():
        want = net(torch.from_numpy(x.transpose(0, 3, 1, 2) * scale)).numpy().transpose(0, 2, 3, 1) / scale
    assert got.shape == want.shape
    err = float(np.abs(got - want).max())
    rel = err / float(np.abs(want).max())
    print(f"parity {label}: max abs {err:.2g} (0-255 units), rel {rel:.2g}")
    return rel


def _image(shape, seed):
    return np.random.default_rng(seed).uniform(0, 255, shape).astype("float32")


# ------------------------------------------------------------------------------------------ DASR
DASR_TINY = dict(scale=2, filters=8, num_groups=2, num_blocks=1, reduction=4, encoder_widths=(8, 8, 16))


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_dasr_blind_model_equals_official_layout(scale, tmp_path):
    net = _randomize(ref.BlindSR(**dict(DASR_TINY, scale=scale), rgb_mean=(0.45, 0.43, 0.41)), scale)
    state = net.released_state_dict()
    assert not any(k.startswith("E.encoder_k") or "queue" in k for k in state)
    torch.save(state, str(tmp_path / "model_600.pt"))
    name, found = detect(str(tmp_path / "model_600.pt"))
    assert name == "dasr"
    assert {k: found["config"][k] for k in DASR_TINY} == dict(DASR_TINY, scale=scale, encoder_widths=[8, 8, 16])
    model = from_checkpoint(str(tmp_path / "model_600.pt"))
    mlp = sum(p.numel() for p in net.E.encoder_q.mlp.parameters())
    assert model.count_params() - 2 * (8 + 8 + 8 + 8 + 16 + 16) == _trainable(net.G) + _trainable(net.E.encoder_q) - mlp
    x = _image((2, 10, 9, 3), scale)  # two images: the per-sample dynamic kernels must not mix
    assert _difference(model, net, x, label=f"dasr x{scale} (encoder + generator)") < RELATIVE


def test_dasr_full_state_dict_paper_config_and_tampering(tmp_path):
    from keras_sr.models.dasr import OFFICIAL_PARAMETERS

    # a full BlindSR.state_dict(): MoCo's key encoder and queue are training-only, checked and skipped
    net = _randomize(ref.BlindSR(**DASR_TINY), 7)
    full = _numpy(net.state_dict())
    assert any(k.startswith("E.encoder_k.") for k in full) and "E.queue" in full
    model = from_checkpoint(full)
    assert _difference(model, net, _image((1, 8, 8, 3), 0), label="dasr from a full state_dict") < RELATIVE
    broken = dict(full, **{"E.encoder_k.E.0.weight": np.zeros((9, 3, 3, 3), np.float32)})
    with pytest.raises(CheckpointMismatch, match="E.encoder_k.* does not mirror E.encoder_q"):
        from_checkpoint(broken)

    released = _numpy(net.released_state_dict())
    check_tampering(released, "G.body.1.body.0.da_conv2.kernel.2.weight", "E.encoder_q.E.7.running_var", tmp_path)
    with pytest.raises(CheckpointMismatch, match="rgb_range != 255"):
        from_checkpoint(dict(released, **{"G.sub_mean.bias": released["G.sub_mean.bias"] / 255.0,
                                          "G.add_mean.bias": released["G.add_mean.bias"] / 255.0}))

    # the paper's configuration (shapes only): detected, and the parameters the keras-sr model is tested to have
    paper = ref.BlindSR(scale=4)
    shapes = {k: np.broadcast_to(np.float32(0), tuple(v.shape)) for k, v in paper.released_state_dict().items()}
    shapes["G.add_mean.bias"] = 255.0 * np.asarray(ref.DIV2K_RGB_MEAN, np.float32)
    config = detect(shapes)[1]["config"]
    assert {k: config[k] for k in ("scale", "filters", "num_groups", "num_blocks", "kernel_size", "reduction")} == \
        dict(scale=4, filters=64, num_groups=5, num_blocks=5, kernel_size=3, reduction=8)
    assert config["encoder_widths"] == [64, 128, 256]
    mlp = sum(p.numel() for p in paper.E.encoder_q.mlp.parameters())
    assert _trainable(paper.G) + _trainable(paper.E.encoder_q) - mlp == OFFICIAL_PARAMETERS == 5_837_699


# ------------------------------------------------------------------------------------------ SMSR
SMSR_TINY = dict(n_feats=8, n_modules=2, n_layers=3, reduction=2)


def _smsr(scale, seed, x):
    """Random weights; each mask CNN's bias set so that about half of `x`'s positions are sparse."""
    net = _randomize(ref.SMSR(scale=scale, **SMSR_TINY), seed)
    with torch.no_grad():
        fea = net.head(net.sub_mean(torch.from_numpy(x.transpose(0, 3, 1, 2))))
        for module in net.body:  # channel logits around 0: every layer gets dense and sparse channels
            module.body.ch_mask.copy_(torch.rand(module.body.ch_mask.shape,
                                                 generator=torch.Generator().manual_seed(seed)))
            logits = module.spa_mask(fea)
            diff = torch.sort((logits[:, 1] - logits[:, 0]).flatten()).values
            middle = diff.numel() // 2  # between two positions' values: no position sits on the decision boundary
            module.spa_mask[5].bias[1] -= float(diff[middle - 1] + diff[middle]) / 2
            fea = module(fea)
    return net


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_smsr_inference_network_equals_official_layout(scale, tmp_path):
    x = _image((1, 10, 12, 3), scale)  # even sizes: the official mask CNN's
    net = _smsr(scale, scale, x)
    sparse = torch.stack([m.body.ch_mask[0, :, :, 1] > m.body.ch_mask[0, :, :, 0] for m in net.body])
    assert 0 < float(sparse.float().mean()) < 1, "the test needs both dense and sparse channels"
    torch.save(net.state_dict(), str(tmp_path / "model_1000.pt"))
    name, found = detect(str(tmp_path / "model_1000.pt"))
    assert name == "smsr" and found["config"]["interpolation"] == "pytorch"
    assert {k: found["config"][k] for k in ("scale", "filters", "num_modules", "num_layers", "reduction")} == \
        dict(scale=scale, filters=8, num_modules=2, num_layers=3, reduction=2)
    model = from_checkpoint(str(tmp_path / "model_1000.pt"))
    assert model.count_params() - 1 == _trainable(net)  # + the temperature schedule's step counter
    # the spatial masks are neither empty nor full, so the sparse parts are exercised
    from keras_sr.models.smsr import mask_model

    _, *masks = mask_model(model)(x)
    shares = [float(keras.ops.convert_to_numpy(m).mean()) for m in masks]
    assert all(0.05 < s < 0.95 for s in shares), shares
    assert _difference(model, net, x, label=f"smsr x{scale} (hard masks, PyTorch bicubic skip)") < RELATIVE


def test_smsr_paper_config_reloads_and_tampering(tmp_path):
    from keras_sr.cli import main

    x = _image((1, 8, 6, 3), 1)
    net = _smsr(2, 5, x)
    state = _numpy(net.state_dict())
    check_tampering(state, "body.1.body.body.2.weight", "body.0.spa_mask.5.weight", tmp_path)
    torch.save(net.state_dict(), str(tmp_path / "smsr.pt"))
    out = str(tmp_path / "smsr.keras")
    assert main(["convert", str(tmp_path / "smsr.pt"), "--out", out]) == 0
    reloaded = keras.saving.load_model(out, safe_mode=True)
    assert reloaded.get_layer("bicubic").method == "pytorch"
    assert _difference(reloaded, net, x, label="smsr x2 after .keras save / load") < RELATIVE

    paper = ref.SMSR(scale=4)
    shapes = {k: np.broadcast_to(np.float32(0), tuple(v.shape)) for k, v in paper.state_dict().items()}
    shapes["add_mean.bias"] = 255.0 * np.asarray(ref.DIV2K_RGB_MEAN, np.float32)
    config = detect(shapes)[1]["config"]
    assert {k: config[k] for k in ("scale", "filters", "num_modules", "num_layers", "reduction")} == \
        dict(scale=4, filters=64, num_modules=5, num_layers=4, reduction=16)
    # 1,008,078 trainable at x4 (the paper's "1006K" without the 2,560 channel-mask logits), as tests/test_smsr.py
    assert _trainable(paper) == 1_008_078


# ------------------------------------------------------------------------------------------ ClassSR
def _diversify_routing(net, x, unit_range):
    """Set `classifier.lastOut.bias` so that the sub-images of `x` go to different branches (clear margins)."""
    t = torch.from_numpy(x.transpose(0, 3, 1, 2) * (1.0 / 255.0 if unit_range else 1.0)) * net.classifier_scale
    with torch.no_grad():
        net.classifier.lastOut.weight.mul_(30.0)  # random sub-images differ little: widen the logits' spread
        logits = net.classifier(t) - net.classifier.lastOut.bias
        generator, best = torch.Generator().manual_seed(0), None
        for _ in range(500):
            bias = torch.randn(3, generator=generator) * float(logits.std()) * 2
            scores = torch.sort(logits + bias, 1).values
            picks = len(set(torch.argmax(logits + bias, 1).tolist()))
            margin = float((scores[:, -1] - scores[:, -2]).min())
            if best is None or (picks, margin) > best[:2]:
                best = (picks, margin, bias)
        net.classifier.lastOut.bias.copy_(best[2])
    assert best[0] >= 2 and best[1] > 1e-3, best[:2]


def _compare_classsr(model, net, x, unit_range, label):
    """Classifier logits, every branch alone, and the routed model (official argmax per sub-image)."""
    scale = 1.0 / 255.0 if unit_range else 1.0
    t = torch.from_numpy(x.transpose(0, 3, 1, 2) * scale)
    with torch.no_grad():
        want_logits = net.classifier(t * net.classifier_scale).numpy()
    got_logits = keras.ops.convert_to_numpy(model.get_layer("classifier")(x))
    assert np.abs(got_logits - want_logits).max() <= RELATIVE * np.abs(want_logits).max()
    for k, branch in enumerate((net.net1, net.net2, net.net3)):
        assert _difference(model.get_layer(f"branch_{k + 1}"), branch, x, unit_range, f"{label} branch {k + 1}") \
            < RELATIVE
    assert _difference(model, net, x, unit_range, f"{label} routed (classifier + argmax branch)") < RELATIVE
    return set(np.argmax(want_logits, 1).tolist())


def test_classsr_fsrcnn_equals_official_layout(tmp_path):
    net = _randomize(ref.ClassSRFSRCNN(widths=(4, 6, 8), s=3, m=2, classifier_filters=8, classifier_features=4), 3)
    with torch.no_grad():
        for p in net.parameters():  # PReLU slopes away from 0.25 and from each other
            if p.numel() == 1:
                p.copy_(torch.rand(1) * 0.5)
    x = _image((4, 8, 12, 3), 0) * np.float32([0.2, 0.5, 0.8, 1.0])[:, None, None, None]  # 4 different sub-images
    _diversify_routing(net, x, True)
    torch.save(net.state_dict(), str(tmp_path / "ClassSR_FSRCNN.pth"))
    name, found = detect(str(tmp_path / "ClassSR_FSRCNN.pth"))
    assert name == "classsr" and found["config"] == dict(scale=4, base="fsrcnn", branch_widths=[4, 6, 8], s=3, m=2,
                                                         classifier_filters=8, classifier_features=4)
    model = from_checkpoint(str(tmp_path / "ClassSR_FSRCNN.pth"))
    assert model.count_params() == _trainable(net)
    assert len(_compare_classsr(model, net, x, True, "classsr fsrcnn")) >= 2
    check_tampering(_numpy(net.state_dict()), "net2.body_conv.2.bias", "net3.tail_conv.weight", tmp_path)

    paper = ref.ClassSRFSRCNN()
    shapes = {k: np.broadcast_to(np.float32(0), tuple(v.shape)) for k, v in paper.state_dict().items()}
    assert detect(shapes)[1]["config"] == dict(scale=4, base="fsrcnn", branch_widths=[16, 36, 56], s=12, m=4,
                                               classifier_filters=128, classifier_features=32)
    assert _trainable(paper) == 112_940  # the paper's 10.8K / 17.6K / 24.5K branches + the 60,035 classifier
    assert _trainable(paper.classifier) == 60_035


def test_classsr_rcan_equals_official_layout_with_trained_mean_shifts(tmp_path):
    net = _randomize(ref.ClassSRRCAN(widths=(4, 6, 8), n_resgroups=2, n_resblocks=1, reduction=2,
                                     classifier_filters=8, classifier_features=4), 4)
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():  # ClassSR's MeanShift convs are trainable: move them off the identity / the mean
        for branch in (net.net2, net.net3):
            for shift in (branch.sub_mean, branch.add_mean):
                shift.weight.add_(0.05 * torch.randn(shift.weight.shape, generator=generator))
                shift.bias.add_(3.0 * torch.randn(shift.bias.shape, generator=generator))
    x = _image((4, 8, 8, 3), 1) * np.float32([0.2, 0.5, 0.8, 1.0])[:, None, None, None]
    _diversify_routing(net, x, False)
    torch.save(net.state_dict(), str(tmp_path / "ClassSR_RCAN.pth"))
    name, found = detect(str(tmp_path / "ClassSR_RCAN.pth"))
    config = found["config"]
    assert name == "classsr" and config["base"] == "rcan" and config["branch_widths"] == [4, 6, 8]
    assert (config["num_groups"], config["num_blocks"], config["reduction"]) == (2, 1, 2)
    # net1's untouched rgb_range-1 MeanShift: the DIV2K mean / 255 in keras-sr's [0, 1] units
    assert np.allclose(config["rgb_means"][0], np.asarray(ref.DIV2K_RGB_MEAN) / 255.0, atol=1e-7)
    model = from_checkpoint(str(tmp_path / "ClassSR_RCAN.pth"))
    # the 3 x 24 MeanShift values (frozen in the oracle, trainable in the official code) are folded / constant
    assert model.count_params() == _trainable(net)
    assert len(_compare_classsr(model, net, x, False, "classsr rcan")) >= 2
    state = _numpy(net.state_dict())
    check_tampering(state, "net3.body.1.body.0.body.3.conv_du.2.bias", "net1.tail.1.weight", tmp_path)
    singular = dict(state, **{"net2.sub_mean.weight": np.zeros((3, 3, 1, 1), np.float32)})
    with pytest.raises(CheckpointMismatch, match="net2.sub_mean.weight is singular"):
        from_checkpoint(singular)
