"""Checkpoint conversion of MASA-SR and CrossNet: parity with the official layouts; errors.

The oracle is tools/torch_refsr_extra_layouts.py, PyTorch modules written from the papers and the
official code's structure whose `state_dict()` has the official key names. Random weights are saved
as the official files are (plain state dicts), converted, and compared (float32, CPU, 1e-4 relative):

* MASA-SR: the shared encoder on the LR, the reference-down and the reference (its L1, L2, L3
  features), and the whole model output given the same inputs, where the PyTorch decoder is fed
  keras-sr's match & extraction outputs (that module has no weights and is not re-implemented in
  PyTorch) and the official base image (PyTorch's bicubic of the LR, fed to keras-sr as `lr_up`).
* CrossNet: the whole network (flow, warping, encoder, decoder) with the same image as the official
  `input_img1_LR` and `input_img1_SR` (keras-sr's `lr_up` feeds both).
"""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import keras  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from keras_sr.convert import CheckpointMismatch, detect, from_checkpoint  # noqa: E402
from torch_oracles import (check_tampering, load_tool, nchw, nhwc, randomize, report_parity, state_numpy,
                           torch_params)  # noqa: E402

RELATIVE = 1e-4
ref = load_tool("torch_refsr_extra_layouts")


def _randomize(net, seed):
    return randomize(net, seed, frozen=True)


# ------------------------------------------------------------------------------------------ MASA-SR
def test_masa_sr_encoder_and_decoder_equal_official_layout(tmp_path):
    from keras_sr.models.masa_sr import official_parameter_count, prepare_inputs

    net = _randomize(ref.MASA(nf=8, n_blocks=(1, 2, 1), n_blocks_dec=(1, 1, 2, 1, 1, 2)), 0)
    torch.save(net.state_dict(), str(tmp_path / "masa_rec.pth"))
    name, found = detect(str(tmp_path / "masa_rec.pth"))
    assert name == "masa_sr" and found["config"] == dict(scale=4, nf=8, n_blocks=[1, 2, 1],
                                                         n_blocks_dec=[1, 1, 2, 1, 1, 2])
    model = from_checkpoint(str(tmp_path / "masa_rec.pth"))
    assert model.count_params() == torch_params(net)

    rng = np.random.default_rng(0)
    inputs, _ = prepare_inputs(rng.uniform(0, 255, (16, 16, 3)), rng.uniform(0, 255, (64, 64, 3)))
    with torch.no_grad():  # the official base image: PyTorch's bicubic of the LR
        base = F.interpolate(nchw(inputs["lr"]) / 255.0, scale_factor=4, mode="bicubic", align_corners=False)
    inputs["lr_up"] = nhwc(base) * 255.0
    encoder = model.get_layer("encoder")
    for key in ("lr", "ref_down", "ref"):
        with torch.no_grad():
            want = net.encode(nchw(inputs[key]) / 255.0)
        for level, (g, w) in enumerate(zip(encoder(inputs[key] / 255.0), want)):
            got_level = keras.ops.convert_to_numpy(g)
            assert report_parity(f"masa_sr encoder {key} L{level + 1}", got_level, nhwc(w)) < RELATIVE
    probe = keras.Model(model.input, [*model.get_layer("mem").output, model.output])
    warp_x1, warp_x2, warp_x4, got = (keras.ops.convert_to_numpy(t) for t in probe(inputs))
    with torch.no_grad():
        want = net(nchw(inputs["lr"]) / 255.0, [nchw(w) for w in (warp_x4, warp_x2, warp_x1)], base)
    assert report_parity("masa_sr decoder (keras-sr's matching fed in, official base)", got,
                         nhwc(want) * 255.0) < RELATIVE

    check_tampering(state_numpy(net), "decoder.dram_x4.conv_up_b.weight", "decoder.pAda.conv_gamma.weight", tmp_path)
    paper = ref.MASA()
    shapes = {k: np.broadcast_to(np.float32(0), tuple(v.shape)) for k, v in paper.state_dict().items()}
    assert detect(shapes)[1]["config"] == dict(scale=4, nf=64, n_blocks=[4, 4, 4], n_blocks_dec=[2, 2, 2, 12, 8, 4])
    assert torch_params(paper) == official_parameter_count() == 4_028_291  # the paper's 4.03M


# ------------------------------------------------------------------------------------------ CrossNet
def test_crossnet_equals_official_layout(tmp_path):
    from keras_sr.models.crossnet import UNUSED_POST_FUSION2, official_parameter_count

    net = _randomize(ref.MultiscaleWarpingNet(flow_widths=(4, 4, 6, 6, 8, 8), features=4), 1)
    with torch.no_grad():  # flows of a few pixels: the warps sample inside the image, off the pixel grid
        net.FlowNet.flow_12[0].weight.mul_(20.0)
        for level in (1, 2, 3):
            getattr(net.FlowNet, f"flow{level}")[0].weight.mul_(10.0)
    torch.save(net.state_dict(), str(tmp_path / "CP195000.pth"))
    name, found = detect(str(tmp_path / "CP195000.pth"))
    assert name == "crossnet" and found["config"] == dict(scale=4, flow_widths=[4, 4, 6, 6, 8, 8], features=4)
    model = from_checkpoint(str(tmp_path / "CP195000.pth"))
    assert model.count_params() == torch_params(net) - torch_params(net.UNet_decoder_2.post_fusion2)

    rng = np.random.default_rng(1)
    inputs = {k: rng.uniform(0, 255, (1, 64, 64, 3)).astype("float32") for k in ("lr_up", "ref")}
    lr_up, reference = nchw(inputs["lr_up"]) / 255.0, nchw(inputs["ref"]) / 255.0
    with torch.no_grad():
        flow = net.FlowNet(lr_up, reference)[0]
        want = net(lr_up, lr_up, reference)
    moved = float(flow.abs().mean())
    assert 0.3 < moved < 20, f"mean |flow| {moved:.2g} px: the warp would say little"
    got = keras.ops.convert_to_numpy(model(inputs))
    assert report_parity("crossnet (flow, warps, encoder, decoder)", got, nhwc(want) * 255.0) < RELATIVE

    state = state_numpy(net)
    check_tampering(state, "FlowNet.flow3_up.weight", "UNet_decoder_2.warp_deconv3.0.weight", tmp_path)
    with pytest.raises(CheckpointMismatch, match="post_fusion2.0.weight' has shape"):
        from_checkpoint(dict(state, **{"UNet_decoder_2.post_fusion2.0.weight": np.zeros((4, 4, 3, 3), np.float32)}))
    paper = ref.MultiscaleWarpingNet()
    shapes = {k: np.broadcast_to(np.float32(0), tuple(v.shape)) for k, v in paper.state_dict().items()}
    assert detect(shapes)[1]["config"] == dict(scale=4, flow_widths=[64, 128, 256, 512, 512, 1024], features=64)
    total, flownet = official_parameter_count()
    assert torch_params(paper) == total == 35_183_841 and torch_params(paper.FlowNet) == flownet  # the paper's 35.18M
    assert total - UNUSED_POST_FUSION2 == 35_081_377
