"""LPIPS (keras_sr.quality.lpips): equal to a small PyTorch re-implementation with the same weights."""

import importlib.util
import os

import numpy as np
import pytest

from keras_sr.quality import lpips

ALEX_CONVS = {0: (64, 3, 11), 3: (192, 64, 5), 6: (384, 192, 3), 8: (256, 384, 3), 10: (256, 256, 3)}


@pytest.fixture(scope="module")
def random_alexnet(tmp_path_factory):
    """A torchvision-layout AlexNet `features` state dict with random weights, saved as .pth (torch)."""
    torch = pytest.importorskip("torch")
    gen = torch.Generator().manual_seed(0)
    state = {}
    for i, (out_c, in_c, k) in ALEX_CONVS.items():
        state[f"features.{i}.weight"] = torch.randn(out_c, in_c, k, k, generator=gen) * (2.0 / (in_c * k * k)) ** 0.5
        state[f"features.{i}.bias"] = torch.randn(out_c, generator=gen) * 0.1
    state["classifier.1.weight"] = torch.zeros(4, 4)  # the rest of a torchvision file is ignored
    path = tmp_path_factory.mktemp("lpips") / "alexnet_random.pth"
    torch.save(state, str(path))
    return str(path), state


def _torch_lpips(state, a, b):
    """LPIPS v0.1 written directly with torch.nn.functional (NCHW), the official computation."""
    import torch
    import torch.nn.functional as F

    with np.load(lpips.LINEAR_FILE) as data:
        lins = [torch.from_numpy(data[f"alex_lin{i}"]) for i in range(5)]
    shift = torch.tensor([-0.030, -0.088, -0.188])[None, :, None, None]
    scale = torch.tensor([0.458, 0.448, 0.450])[None, :, None, None]

    def feats(img):
        x = torch.from_numpy(img.astype(np.float32)).permute(2, 0, 1)[None] / 127.5 - 1.0
        x = (x - shift) / scale
        out = []
        x = F.relu(F.conv2d(x, state["features.0.weight"], state["features.0.bias"], stride=4, padding=2))
        out.append(x)
        x = F.max_pool2d(x, 3, 2)
        x = F.relu(F.conv2d(x, state["features.3.weight"], state["features.3.bias"], padding=2))
        out.append(x)
        x = F.max_pool2d(x, 3, 2)
        for i in (6, 8, 10):
            x = F.relu(F.conv2d(x, state[f"features.{i}.weight"], state[f"features.{i}.bias"], padding=1))
            out.append(x)
        return out

    total = 0.0
    for fa, fb, w in zip(feats(a), feats(b), lins):
        na = fa / (fa.pow(2).sum(1, keepdim=True).sqrt() + 1e-10)
        nb = fb / (fb.pow(2).sum(1, keepdim=True).sqrt() + 1e-10)
        total += ((na - nb) ** 2 * w[None, :, None, None]).sum(1).mean().item()
    return total


def test_lpips_equals_torch_reimplementation(random_alexnet):
    path, state = random_alexnet
    rng = np.random.default_rng(0)
    from skimage import data

    hr = data.astronaut()[100:172, 180:252]
    noisy = np.clip(hr + rng.normal(0, 25, hr.shape), 0, 255).astype(np.uint8)
    metric = lpips.LPIPS(path, net="alex")
    ours = metric(noisy, hr)
    assert ours == pytest.approx(_torch_lpips(state, noisy, hr), rel=1e-4)
    assert ours > 0 and metric(hr, hr) == pytest.approx(0.0, abs=1e-6)
    assert metric(noisy, hr, crop_border=4) == pytest.approx(_torch_lpips(state, noisy[4:-4, 4:-4], hr[4:-4, 4:-4]),
                                                             rel=1e-4)


def test_no_backbone_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match="--lpips-backbone"):
        lpips.LPIPS(None)
    bad = tmp_path / "bad.npz"
    np.savez(bad, **{"conv1.weight": np.zeros((64, 3, 11, 11), np.float32)})
    with pytest.raises(ValueError, match="features.0.weight"):
        lpips.LPIPS(str(bad))
    with pytest.raises(FileNotFoundError, match="not found"):
        lpips.LPIPS(str(tmp_path / "missing.pth"))


def test_linear_weights_are_the_lpips_wheels():
    spec = importlib.util.find_spec("lpips")  # the wheel (its package imports torchvision; we only read files)
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("the lpips wheel is not installed")
    torch = pytest.importorskip("torch")
    folder = os.path.join(list(spec.submodule_search_locations)[0], "weights", "v0.1")
    with np.load(lpips.LINEAR_FILE) as data:
        for net in ("alex", "vgg"):
            official = torch.load(os.path.join(folder, f"{net}.pth"), map_location="cpu", weights_only=True)
            for i in range(5):
                np.testing.assert_array_equal(data[f"{net}_lin{i}"], official[f"lin{i}.model.1.weight"].numpy().ravel())
