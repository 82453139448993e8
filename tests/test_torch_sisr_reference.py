"""The PyTorch peers of RCAN and RDN (tools/torch_sisr_reference.py) are the keras-sr architectures.

Throughput ratios mean something only between the same networks: the
parameter counts must be equal at full size, and with keras-sr's weights
copied in, the PyTorch model must compute the same image. Needs torch
(skipped without it; `pip install torch` on the CPU runs it).
"""

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import keras  # noqa: E402

from keras_sr import models  # noqa: E402
from torch_oracles import load_tool  # noqa: E402

TINY = {
    "rcan": (dict(num_groups=2, num_blocks=2, filters=16, reduction=4), dict(groups=2, blocks=2, c=16, reduction=4)),
    "rdn": (dict(num_blocks=3, num_layers=2, growth_rate=8, filters=16), dict(blocks=3, layers=2, growth=8, g0=16)),
}


peer = load_tool("torch_sisr_reference")


def _pixel_shuffle_order(kernel, bias, r):
    """Permute a conv feeding depth_to_space (channel (i*r + j)*C + c) to PixelShuffle's order (c*r*r + i*r + j)."""
    out = kernel.shape[-1]
    c = out // (r * r)
    index = np.arange(out).reshape(r * r, c).T.reshape(-1)  # torch channel t = c*r*r + k takes keras k*C + c
    return kernel[..., index], bias[index]


def _copy_weights(keras_model, torch_model, scale):
    kernels = [w for w in keras_model.weights if w.trainable]
    params = list(torch_model.parameters())
    assert len(kernels) == len(params)
    shuffle_convs = {id(m.weight) for m in torch_model.up if isinstance(m, torch.nn.Conv2d)}
    pairs = list(zip(kernels[0::2], kernels[1::2], params[0::2], params[1::2]))
    for k, b, tk, tb in pairs:
        k, b = np.asarray(k), np.asarray(b)
        if k.ndim == 2:  # channel attention's (in, out) matrices are torch's 1x1 convolutions
            k = k[None, None]
        if id(tk) in shuffle_convs:
            k, b = _pixel_shuffle_order(k, b, 3 if scale == 3 else 2)
        assert k.transpose(3, 2, 0, 1).shape == tuple(tk.shape)
        with torch.no_grad():
            tk.copy_(torch.from_numpy(np.ascontiguousarray(k.transpose(3, 2, 0, 1))))
            tb.copy_(torch.from_numpy(b))


@pytest.mark.parametrize("name, official", [("rcan", 15_592_355), ("rdn", 22_271_107)])
def test_full_size_parameter_counts_equal_keras_sr(name, official):
    torch_model = peer.build(name, 4)
    assert sum(p.numel() for p in torch_model.parameters()) == models.build(name, scale=4).count_params() == official


@pytest.mark.parametrize("scale", [2, 3, 4])
@pytest.mark.parametrize("name", ["rcan", "rdn"])
def test_peer_with_copied_weights_computes_the_keras_image(name, scale):
    keras_config, torch_config = TINY[name]
    keras_model = models.build(name, scale=scale, kernel_initializer="he_normal", **keras_config)
    torch_model = peer.build(name, scale, **torch_config)
    _copy_weights(keras_model, torch_model, scale)
    lr = np.random.default_rng(scale).uniform(0, 255, (1, 9, 7, 3)).astype("float32")
    expected = keras.ops.convert_to_numpy(keras_model(lr))
    with torch.no_grad():
        got = torch_model(torch.from_numpy(lr.transpose(0, 3, 1, 2))).numpy().transpose(0, 2, 3, 1)
    assert got.shape == expected.shape == (1, 9 * scale, 7 * scale, 3)
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-2 * max(1.0, float(np.abs(expected).max()) / 255))


def test_timing_loop_prints_the_lines_device_run_parses(capsys):
    from tools.device_run import parse_torch_lines

    # a tiny RDN: the paper's 22M-parameter network in bfloat16 takes minutes per step on a shared CPU
    assert peer.main(["--model", "rdn", "--scale", "2", "--batch", "2", "--patch", "8", "--steps", "1",
                      "--warmup", "1", "--device", "cpu", "--no-compile", "--config", json.dumps(TINY["rdn"][1])]) == 0
    rows = parse_torch_lines(capsys.readouterr().out)
    assert [(r["precision"], r["compile"]) for r in rows] == [("fp32", False), ("bf16", False)]
    assert all(r["patches_per_second"] > 0 for r in rows)
