"""Checkpoint conversion of DATSR: parity with the official layouts; errors; the paper-size layout.

The oracle is tools/torch_datsr_layout.py, PyTorch modules written from the paper and the official
code's structure (caojiezhang/DATSR) whose `state_dict()` has the official key names and buffers.
Random weights (every parameter, the frozen extractor and VGG included) are saved as the official
files are (three plain state dicts: `restoration_mse.pth`, `feature_extraction.pth`, torchvision's
`vgg19-dcbb9e9d.pth`), converted together, and compared on an LR + reference pair (float32, CPU,
1e-4 relative):

1. the restoration network alone (`SwinUnetv3RestorationNet`), with keras-sr's pre-offsets, flows,
   similarities and reference VGG features fed to the PyTorch one (converted to the official
   `[x, y]` NCHW layouts);
2. the contrastive extractor (both trunks), the reference VGG19 features, and the matching
   (pre-offsets and flows equal, similarities within 1e-4);
3. the whole model, PyTorch computing its own matching (random images and weights: no argmax ties).

DATSR is x4 only. Also: removed / renamed / reshaped / extra keys, the missing-file errors, the
unused `ContentExtractor` checked by shape, and the paper-size layout detected from shapes only with
the official parameter counts (18,026,971 restoration incl. the 2,364,928 ContentExtractor; 1,110,656
contrastive extractor), counted by instantiating the oracle at the official config.
"""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import keras  # noqa: E402

from keras_sr.convert import CheckpointMismatch, detect, from_checkpoint  # noqa: E402
from torch_oracles import load_tool, randomize, check_tampering, nchw, nhwc, report_parity, torch_params  # noqa: E402

RELATIVE = 1e-4
oracle = load_tool("torch_datsr_layout")
FILES = ("restoration_mse.pth", "feature_extraction.pth", "vgg19-dcbb9e9d.pth")
LEVELS = ("relu1_1", "relu2_1", "relu3_1")  # keras-sr's correspondence order (scales 4, 2, 1)
TINY = dict(ngf=8, n_blocks=1, groups=2, depths=(2, 1), num_heads=(2, 1), window_size=4, vgg_widths=(4, 8, 16),
            contrastive_widths=(4, 8, 12), img_size=(32, 16, 8))


def _tiny():
    return randomize(oracle.DATSR(**TINY), 12, frozen=True)


def _parts(net):
    return net.restoration, net.extractor, net.vgg


def _save(net, folder):
    paths = [str(folder / name) for name in FILES]
    for module, path in zip(_parts(net), paths):
        torch.save(module.state_dict(), path)
    return paths


def _numpy(net):
    return {k: v.numpy().copy() for m in _parts(net) for k, v in m.state_dict().items()}


def _official_matching(outputs):
    """keras-sr's correspondence outputs -> the official `[pre_offsets, flows, similarities]` dicts."""
    pre_offsets, flows, sims = {}, {}, {}
    for level, (offsets, flow, sim) in zip(LEVELS, zip(outputs[0::3], outputs[1::3], outputs[2::3])):
        b, h, w, _ = offsets.shape  # (k, [dy, dx]) -> (B, 9, H, W, [x, y])
        pre_offsets[level] = torch.from_numpy(offsets.reshape(b, h, w, 9, 2).transpose(0, 3, 1, 2, 4)[..., ::-1].copy())
        flows[level] = torch.from_numpy(flow[..., ::-1].copy())
        sims[level] = nchw(sim)
    return [pre_offsets, flows, sims]


def test_datsr_equals_official_layout_on_an_lr_reference_pair(tmp_path):
    net = _tiny()
    paths = _save(net, tmp_path)
    name, found = detect(paths)
    assert name == "datsr" and found["config"] == dict(
        scale=4, ngf=8, groups=2, depths=(2, 1), num_heads=(2, 1), window_size=4, mlp_ratio=2.0,
        vgg_widths=(4, 8, 16), contrastive_widths=(4, 8, 12), train_vgg=False)
    model = from_checkpoint(paths)
    vgg_unused = sum(p.numel() for n, p in net.vgg.named_parameters()
                     if n.startswith("classifier") or int(n.split(".")[1]) > 10)
    assert model.count_params() == (torch_params(net.restoration, skip=("content_extractor.",))
                                    + torch_params(net.extractor) + torch_params(net.vgg) - vgg_unused)
    assert not model.get_layer("reference_vgg").trainable and not model.get_layer("contrastive_extractor").trainable

    rng = np.random.default_rng(13)  # random images everywhere (no zero padding: no tied matches)
    inputs = {"lr": rng.uniform(0, 255, (1, 8, 12, 3)), "lr_up": rng.uniform(0, 255, (1, 32, 48, 3)),
              "ref": rng.uniform(0, 255, (1, 32, 48, 3))}
    inputs = {k: v.astype("float32") for k, v in inputs.items()}
    probe = keras.Model(model.input, [*model.get_layer("contrastive_extractor").output,
                                      *model.get_layer("correspondence").output,
                                      *model.get_layer("reference_vgg").output, model.output])
    outs = [keras.ops.convert_to_numpy(t) for t in probe(inputs)]
    feat_in, feat_ref, matching, ref_feats, got = outs[0], outs[1], outs[2:11], outs[11:14], outs[14]
    t = {k: nchw(v) / 255.0 for k, v in inputs.items()}
    r = net.restoration.dyn_agg_restore
    assert float(r.up_small_dyn_agg.conv_offset_mask.weight.detach().abs().max()) > 0  # learned offsets, masks on
    with torch.no_grad():
        want_in = net.extractor.feature_extraction_image1(t["lr_up"])
        want_ref = net.extractor.feature_extraction_image2(t["ref"])
        want_vgg = net.vgg.levels(t["ref"])
        want_matching = oracle.flow_similarity(want_in, want_ref)
        restored = net.restoration(t["lr"], _official_matching(matching),
                                   {level: nchw(f) for level, f in zip(LEVELS, ref_feats)})
        want = net(t["lr"], t["lr_up"], t["ref"])
    # (1) the restoration network alone, same matching and reference features on both sides
    assert report_parity("datsr restoration (keras-sr's matching + VGG features fed in)", got, nhwc(restored) * 255.0) \
        < RELATIVE
    # (2) the contrastive extractor, the reference VGG19 and the matching
    assert report_parity("datsr contrastive extractor (input)", feat_in, nhwc(want_in)) < RELATIVE
    assert report_parity("datsr contrastive extractor (reference)", feat_ref, nhwc(want_ref)) < RELATIVE
    for level, feature in zip(LEVELS, ref_feats):
        assert report_parity(f"datsr reference VGG19 {level}", feature, nhwc(want_vgg[level])) < RELATIVE
    official = _official_matching(matching)
    for level in LEVELS:
        np.testing.assert_array_equal(official[0][level].numpy(), want_matching[0][level].numpy())
        np.testing.assert_array_equal(official[1][level].numpy(), want_matching[1][level].numpy())
        assert report_parity(f"datsr similarity {level}", official[2][level].numpy(), want_matching[2][level].numpy()) \
            < RELATIVE
    assert float(want_matching[1]["relu3_1"].abs().mean()) > 0.5  # the flows move: the warps are exercised
    # (3) the whole model, PyTorch matching included
    assert report_parity("datsr (whole model, matching included)", got, nhwc(want) * 255.0) < RELATIVE


def test_datsr_errors_name_the_key_or_the_missing_file(tmp_path):
    net = _tiny()
    paths = _save(net, tmp_path)
    with pytest.raises(CheckpointMismatch, match=r"a DATSR restoration network, but the converted model also needs "
                                                 r"the contrastive feature extractor \(feature_extraction\.pth.*and "
                                                 r"the reference VGG19"):
        from_checkpoint(paths[0])
    with pytest.raises(CheckpointMismatch, match="needs the reference VGG19"):
        from_checkpoint(paths[:2])
    with pytest.raises(CheckpointMismatch, match=r"feature_extraction\.pth and .*feature_extraction\.pth both hold"):
        from_checkpoint([paths[0], paths[1], paths[1], paths[2]])
    state = _numpy(net)
    check_tampering(state, "dyn_agg_restore.up_medium_dyn_agg.conv_offset_mask.weight",
            "dyn_agg_restore.up_large_dyn_agg.weight", tmp_path)
    bad = dict(state, **{"content_extractor.body.0.conv2.weight": np.zeros((8, 8, 1, 1), np.float32)})
    with pytest.raises(CheckpointMismatch, match=r"'content_extractor\.body\.0\.conv2\.weight' has shape \(8, 8, 1, 1\)"):
        from_checkpoint(bad)
    deeper = {k: v for k, v in state.items() if ".up_body_medium.layers.1." not in k}
    with pytest.raises(CheckpointMismatch, match=r"up_body_medium has Swin depths/heads.*keras-sr's DATSR shares one"):
        detect(deeper)


def test_datsr_paper_size_layout_is_detected_from_shapes_with_the_official_parameter_counts():
    from keras_sr.models.datsr import official_parameter_count

    net = oracle.DATSR()
    shapes = {k: np.broadcast_to(np.float32(0), tuple(v.shape)) for m in _parts(net) for k, v in m.state_dict().items()}
    assert detect(shapes)[1]["config"] == dict(
        scale=4, ngf=128, groups=8, depths=(4, 4), num_heads=(4, 4), window_size=8, mlp_ratio=2.0,
        vgg_widths=(64, 128, 256), contrastive_widths=(64, 128, 256), train_vgg=False)
    assert torch_params(net.restoration) == official_parameter_count() == 18_026_971  # the paper's 18.03M
    assert torch_params(net.restoration.content_extractor) == 2_364_928  # saved, never used: checked and skipped
    assert torch_params(net.restoration, skip=("content_extractor.",)) == official_parameter_count(include_unused=False)
    assert torch_params(net.extractor) == 1_110_656
