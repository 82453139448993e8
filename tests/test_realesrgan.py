"""Real-ESRGAN: the degradation pipeline (kernels, resizes, noise, JPEG, pool, host/device agreement), the
spectral normalization against numpy and PyTorch, the U-Net discriminator against a PyTorch build of the same
layout, SRVGGNetCompact against spandrel, the parameter counts, the recipes and `tools.degrade`.

Oracles: PyTorch's `F.interpolate`, `F.conv2d` and `torch.nn.utils.spectral_norm`; Pillow's JPEG encoder;
numpy power iteration; spandrel's SRVGGNetCompact; closed-form kernel moments."""

import numpy as np
import pytest

import keras
from keras import ops

from keras_sr.degradations import device, host, kernels, pool
from keras_sr.degradations.config import DegradationConfig, sample_batch
from keras_sr.degradations.jpeg import jpeg_emulation, pillow_jpeg, quant_tables
from keras_sr.degradations.resize import apply_resize, resize_matrix, scaled_size

BACKEND = keras.backend.backend()


def _np(x):
    return np.asarray(ops.convert_to_numpy(x), np.float64)


def _photo(size=96):
    import skimage.data

    a = skimage.data.astronaut()[: 2 * size : 2, 100 : 100 + 2 * size : 2]
    c = skimage.data.chelsea()[:size, :size]
    return np.stack([a, c, a[::-1], c[:, ::-1]]).astype(np.float32) / 255.0


def _psnr(a, b):
    return 10 * np.log10(255.0 ** 2 / np.mean((np.asarray(a, np.float64) - b) ** 2))


# Kernels ---------------------------------------------------------------------------------------------------------


def test_kernels_follow_their_formulas():
    k = kernels.gaussian_kernel(21, 2.0)
    g = np.exp(-np.arange(-10, 11) ** 2 / 8.0)
    np.testing.assert_allclose(k, np.outer(g, g) / np.outer(g, g).sum(), atol=1e-7)  # separable isotropic
    # Anisotropic: the second moments are Sigma = R diag(sx^2, sy^2) R^T (the kernel is wide enough to hold it).
    sx, sy, theta = 2.0, 1.0, 0.4
    a = kernels.gaussian_kernel(21, sx, sy, theta).astype(np.float64)
    grid = kernels.mesh_grid(21)
    moments = np.einsum("hw,hwi,hwj->ij", a, grid, grid)
    np.testing.assert_allclose(moments, kernels.sigma_matrix(sx, sy, theta), atol=2e-3)
    assert np.allclose(a, a[::-1, ::-1])  # point symmetric: correlation == convolution
    np.testing.assert_allclose(kernels.generalized_gaussian_kernel(21, sx, sy, theta, beta=1.0), a, atol=1e-7)
    p = kernels.plateau_kernel(15, 1.5, beta=2.0).astype(np.float64)
    d = (grid[3:-3, 3:-3] ** 2).sum(-1) / 1.5 ** 2
    np.testing.assert_allclose(p, (1 / (1 + d ** 2)) / (1 / (1 + d ** 2)).sum(), atol=1e-7)
    # The sinc filter is a circular low-pass: its response is ~1 well inside the cut-off, ~0 well outside.
    s = kernels.sinc_kernel(np.pi / 2, 21).astype(np.float64)
    assert abs(s.sum() - 1) < 1e-6 and np.allclose(s, s.T)
    x = np.arange(-10, 11)

    def response(w):
        return abs(np.sum(s * np.exp(-1j * w * x)[None, :]))

    assert response(0.15 * np.pi) > 0.9 and response(0.9 * np.pi) < 0.1
    padded = kernels.sinc_kernel(np.pi / 3, 7, pad_to=21)
    assert padded.shape == (21, 21) and padded[:7].sum() == 0


def test_random_kernels_follow_the_official_probabilities():
    settings = kernels.KernelSettings()
    rng = np.random.default_rng(0)
    draws = [kernels.random_kernel(rng, settings) for _ in range(3000)]
    kinds = [info["kind"] for _, info in draws]
    assert all(k.shape == (21, 21) and abs(float(k.sum()) - 1) < 1e-4 for k, _ in draws)
    assert {info["size"] for _, info in draws} == set(kernels.KERNEL_SIZES)
    assert abs(kinds.count("sinc") / 3000 - 0.1) < 0.02
    for kind, p in zip(kernels.KERNEL_KINDS, settings.kernel_prob):
        assert abs(kinds.count(kind) / 3000 - 0.9 * p) < 0.025, kind
    sigmas = [info["sig_x"] for _, info in draws if "sig_x" in info]
    assert 0.2 <= min(sigmas) and max(sigmas) <= 3.0
    finals = [kernels.random_final_sinc(rng, 0.8)[1]["kind"] for _ in range(1000)]
    assert abs(finals.count("sinc") / 1000 - 0.8) < 0.04


# Resize, blur, USM against PyTorch -------------------------------------------------------------------------------


def test_resize_blur_and_usm_equal_pytorch():
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    x = np.random.default_rng(0).uniform(0, 1, (2, 37, 29, 3)).astype(np.float32)
    t = torch.from_numpy(x.transpose(0, 3, 1, 2))
    for mode in ("area", "bilinear", "bicubic"):
        want = F.interpolate(t, size=(20, 61), mode=mode).numpy().transpose(0, 2, 3, 1)
        got = apply_resize(x, resize_matrix(37, 20, mode), resize_matrix(29, 61, mode))
        np.testing.assert_allclose(got, want, atol=1e-5, err_msg=mode)
        for f in (0.37, 1.43):
            want = F.interpolate(t, scale_factor=f, mode=mode).numpy().transpose(0, 2, 3, 1)
            got = apply_resize(x, resize_matrix(37, scaled_size(37, f), mode, 1 / f),
                               resize_matrix(29, scaled_size(29, f), mode, 1 / f))
            np.testing.assert_allclose(got, want, atol=1e-5, err_msg=f"{mode} x{f}")
    # filter2D: reflect padding, one kernel per image (grouped convolution)
    ks = np.stack([kernels.gaussian_kernel(21, 2.0, 1.0, 0.3), kernels.sinc_kernel(1.0, 21)])
    padded = F.pad(t, (10, 10, 10, 10), mode="reflect")
    weight = torch.from_numpy(np.repeat(ks, 3, axis=0)[:, None])
    want = F.conv2d(padded.reshape(1, 6, 57, 49), weight, groups=6).reshape(2, 3, 37, 29).numpy().transpose(0, 2, 3, 1)
    np.testing.assert_allclose(host.filter2d(x, ks), want, atol=1e-5)
    np.testing.assert_allclose(_np(device.filter2d(x, ks)), want, atol=1e-5)
    # USM: 51x51 Gaussian of sigma 8 (OpenCV's sigma for ksize 51: 0.3 ((51 - 1) / 2 - 1) + 0.8), reflect padding
    g = np.exp(-np.arange(-25, 26) ** 2 / 128.0)
    g2 = torch.from_numpy(np.outer(g, g) / np.outer(g, g).sum()).float()[None, None].repeat(3, 1, 1, 1)
    big = np.random.default_rng(1).uniform(0, 1, (1, 60, 64, 3)).astype(np.float32)
    tb = torch.from_numpy(big.transpose(0, 3, 1, 2))

    def blur(v):
        return F.conv2d(F.pad(v, (25, 25, 25, 25), mode="reflect"), g2, groups=3)

    residual = tb - blur(tb)
    soft = blur((residual.abs() * 255 > 10).float())
    want = (soft * torch.clamp(tb + 0.5 * residual, 0, 1) + (1 - soft) * tb).numpy().transpose(0, 2, 3, 1)
    np.testing.assert_allclose(host.usm_sharpen(big), want, atol=1e-5)
    np.testing.assert_allclose(_np(device.usm_sharpen(big)), want, atol=1e-5)


# JPEG ------------------------------------------------------------------------------------------------------------


def test_jpeg_tables_equal_pillow_and_emulation_is_close_to_pillow():
    import io

    from PIL import Image

    for q in (5, 30, 50, 77, 95, 100):
        buffer = io.BytesIO()
        Image.fromarray(np.zeros((16, 16, 3), np.uint8)).save(buffer, format="JPEG", quality=q)
        buffer.seek(0)
        tables = Image.open(buffer).quantization
        luma, chroma = quant_tables(q)
        assert np.array_equal(np.reshape(tables[0], (8, 8)), luma) and np.array_equal(np.reshape(tables[1], (8, 8)),
                                                                                       chroma), q
    images = (_photo(96)[:2, :90, :93] * 255).round().astype(np.uint8)  # sizes not multiples of 16
    qualities = np.array([30.0, 95.0], np.float32)
    ours = _np(jpeg_emulation(images.astype(np.float32), qualities))
    for image, out, q in zip(images, ours, qualities):
        pil = pillow_jpeg(image, q).astype(np.float64)
        diff = np.abs(out - pil)
        print(f"JPEG q{q:g}: PSNR(input, Pillow) {_psnr(image, pil):.1f} dB, PSNR(ours, Pillow) {_psnr(out, pil):.1f} dB,"
              f" mean |ours - Pillow| {diff.mean():.3f}, exact {np.mean(diff == 0):.2f}")
        assert _psnr(out, pil) > 44 and _psnr(out, pil) > _psnr(image, pil) + 8
        assert diff.mean() < 0.5 and np.mean(diff == 0) > 0.6


# Pipeline --------------------------------------------------------------------------------------------------------


def test_device_pipeline_equals_host_without_noise_and_jpeg():
    config = DegradationConfig()
    hr = _photo(96)
    sharp = host.usm_sharpen(hr)
    seen_orders = set()
    for index in range(5):
        rng = np.random.default_rng([0, 0, index])
        params = sample_batch(rng, config, 4, (96, 96))
        seen_orders.add(params.jpeg_first)
        want = host.degrade_batch(sharp, params, rng, jpeg=False, noise=False)
        got = _np(device.degrade(sharp, device.device_inputs(params, config, (96, 96)), noise=False, jpeg=False))
        assert got.shape == want.shape == (4, 24, 24, 3)
        mismatched = np.abs(got - want) > 1e-6
        assert np.abs(got - want).max() <= 1 / 255 + 1e-6 and mismatched.mean() < 1e-3, params.resize1
    assert seen_orders == {True, False}


def test_noise_statistics_host_and_device():
    x = np.tile(np.linspace(0.1, 0.9, 64, dtype=np.float32)[None, :, None], (64, 1, 3))[None].repeat(2, 0)
    sigma, gray = np.array([10.0, 20.0], np.float32), np.array([0.0, 1.0], np.float32)
    mask = np.ones((64, 64), np.float32)
    seed = np.array([3, 4], np.int32)
    dev = _np(device._add_noise(ops.convert_to_tensor(x), np.array(True), sigma, sigma, gray, mask, seed)) - x
    cpu = host.gaussian_noise(x.shape, sigma, gray.astype(bool), np.random.default_rng(0))
    for noise in (dev, cpu):
        assert abs(noise[0].std() * 255 - 10) < 0.5 and abs(noise[1].std() * 255 - 20) < 1.2
        assert not np.allclose(noise[0, ..., 0], noise[0, ..., 1]) and np.allclose(noise[1, ..., 0], noise[1, ..., 2])
    # Poisson: 2^ceil(log2(64 levels)) = 64 "photons" per unit, variance x / 64 * scale^2
    scale = np.array([1.0, 0.5], np.float32)  # small enough that [0, 1] clipping does not shrink the spread
    q = np.round(x * 255) / 255
    assert np.all(host.distinct_levels(q) == 64) and np.all(_np(device._levels(ops.convert_to_tensor(q), mask)) == 64)
    dev = _np(device._add_noise(ops.convert_to_tensor(x), np.array(False), sigma, scale, np.zeros(2, np.float32),
                                mask, seed)) - x
    cpu = host.poisson_noise(x, scale, np.zeros(2, bool), np.random.default_rng(0))
    expected = np.sqrt(np.mean(q[0] / 64))
    for noise in (dev, cpu):
        assert abs(noise[0].std() / expected - 1) < 0.06 and abs(noise[1].std() / (0.5 * expected) - 1) < 0.06


def test_batches_are_reproducible_per_seed_epoch_index(tmp_path):
    from keras_sr.degradations.dataset import RealESRGANDataset

    folder = tmp_path / "hr"
    folder.mkdir()
    from PIL import Image

    for i, image in enumerate((_photo(96) * 255).astype(np.uint8)):
        Image.fromarray(image).save(folder / f"{i}.png")
    kwargs = dict(hr_size=96, gt_size=64, batch_size=2, steps_per_epoch=4, seed=5)
    a = RealESRGANDataset([str(folder)], mode="host", queue_size=4, **kwargs)
    b = RealESRGANDataset([str(folder)], mode="host", queue_size=4, **kwargs)
    lr, target, real = a[3]
    assert lr.shape == (2, 16, 16, 3) and target.shape == real.shape == (2, 64, 64, 3)
    for x, y in zip(b[3], (lr, target, real)):  # random access, another instance: the same batch
        np.testing.assert_array_equal(x, y)
    b.on_epoch_end()
    assert not np.array_equal(b[3][0], lr)
    if BACKEND == "tensorflow":  # the tf.data path yields the PyDataset's batches, epoch after epoch
        from keras_sr.degradations.tf_data import as_tf_dataset

        stream = [tuple(t.numpy() for t in item) for item in as_tf_dataset(a, epochs=2)]
        np.testing.assert_array_equal(stream[3][0], lr)
        np.testing.assert_array_equal(stream[7][0], b[3][0])
    # the host pool deals each pair of a block exactly once
    order = pool.block_order(np.random.default_rng(0), 3, 4)
    assert sorted(order.ravel().tolist()) == list(range(12))
    d = RealESRGANDataset([str(folder)], mode="device", **kwargs)
    first, again = d[1], RealESRGANDataset([str(folder)], mode="device", **kwargs)[1]
    assert set(first) >= set(device.DEVICE_KEYS) | {"hr", "crop"}
    for key in first:
        np.testing.assert_array_equal(first[key], again[key], err_msg=key)
    lr1 = _np(device.degrade(first["hr"] / 255, {k: first[k] for k in device.DEVICE_KEYS}))
    lr2 = _np(device.degrade(again["hr"] / 255, {k: again[k] for k in device.DEVICE_KEYS}))
    np.testing.assert_array_equal(lr1, lr2)  # the device noise is a function of the batch's seed
    assert lr1.shape == (2, 24, 24, 3) and lr1.min() >= 0 and lr1.max() <= 1


def test_device_pool_passes_then_mixes():
    state = pool.pool_init(4, (1,), (1,))
    seen = []
    for step in range(6):
        lr = np.full((2, 1), step, np.float32)
        out, out_hr, state = pool.pool_step(state, lr, lr, np.array([step, 1], np.int32))
        out = _np(out).ravel().tolist()
        assert out == _np(out_hr).ravel().tolist()
        seen.extend(out)
        if step < 2:
            assert out == [step, step]  # filling: the batch passes through
        else:
            assert step not in out  # full: the pool returns older pairs and keeps the new batch
    # every pair entered the pool once and left it at most once: the pool's outputs and its contents hold each
    # pair exactly once (the filling batches also passed through, as in the official pool)
    held = _np(state["lr"]).ravel().tolist()
    counts = {v: (seen[4:] + held).count(v) for v in range(6)}
    assert all(counts[v] == 2 for v in range(6)), counts


# Spectral normalization ------------------------------------------------------------------------------------------


def _power_iteration(w, u, steps):
    for _ in range(steps):
        v = w.T @ u
        v /= max(np.linalg.norm(v), 1e-12)
        u = w @ v
        u /= max(np.linalg.norm(u), 1e-12)
    return u, v


def test_spectral_normalization_against_numpy_and_pytorch():
    from keras_sr.layers import SpectralNormalization
    from keras_sr.layers.spectral_normalization import torch_v_permutation

    rng = np.random.default_rng(0)
    layer = SpectralNormalization(keras.layers.Conv2D(5, 3, padding="same", use_bias=False))
    x = rng.normal(size=(1, 6, 6, 4)).astype(np.float32)
    layer(x)
    kernel = _np(layer.layer.kernel)
    w = kernel.reshape(-1, 5).T
    u0 = _np(layer.u)
    y = _np(layer(x, training=True))
    u1, v1 = _power_iteration(w, u0, 1)
    np.testing.assert_allclose(_np(layer.u), u1, atol=1e-5)
    np.testing.assert_allclose(_np(layer.v), v1, atol=1e-5)
    sigma = u1 @ w @ v1
    reference = _np(ops.conv(x, (kernel / sigma).astype(np.float32), padding="same"))
    np.testing.assert_allclose(y, reference, atol=1e-4)
    np.testing.assert_allclose(_np(layer(x, training=False)), y, atol=1e-5)  # inference: no update
    np.testing.assert_allclose(_np(layer.u), u1, atol=1e-6)
    for _ in range(60):
        layer(x, training=True)
    np.testing.assert_allclose(float(layer.sigma()), np.linalg.svd(w, compute_uv=False)[0], rtol=1e-3)

    torch = pytest.importorskip("torch")
    conv = torch.nn.utils.spectral_norm(torch.nn.Conv2d(4, 5, 4, 2, 1, bias=True))
    sn = SpectralNormalization(keras.layers.Conv2D(5, 4, strides=2, padding="same"))
    sn(x)
    sn.layer.kernel.assign(conv.weight_orig.detach().numpy().transpose(2, 3, 1, 0))
    sn.layer.bias.assign(conv.bias.detach().numpy())
    sn.u.assign(conv.weight_u.numpy())
    sn.v.assign(conv.weight_v.numpy()[torch_v_permutation(tuple(sn.layer.kernel.shape))])
    t = torch.from_numpy(x.transpose(0, 3, 1, 2))
    for training in (True, True, False):
        conv.train(training)
        want = conv(t).detach().numpy().transpose(0, 2, 3, 1)
        np.testing.assert_allclose(_np(sn(x, training=training)), want, atol=1e-5)
        np.testing.assert_allclose(_np(sn.u), conv.weight_u.numpy(), atol=1e-6)


# Networks --------------------------------------------------------------------------------------------------------


def test_parameter_counts_at_the_official_configurations():
    from keras_sr import models

    # RRDBNet (RealESRGAN_x4plus) = 16,697,987: tests/test_models_deep.py; x2plus (a 12-channel conv_first) adds
    # 9 * 9 * 64 = 5,184: 16,703,171 (not rebuilt here: the full RRDBNet takes long to build on CI's CPUs)
    d = models.build("unet_discriminator_sn", input_size=64)
    assert sum(int(np.prod(w.shape)) for w in d.trainable_weights) == 4_376_897  # UNetDiscriminatorSN(3, 64)
    assert models.build("srvgg_compact").count_params() == 1_213_296        # realesr-general-x4v3
    from spandrel_oracle import import_spandrel

    compact = import_spandrel().architectures.Compact.Compact(num_feat=64, num_conv=32, upscale=4)
    assert sum(p.numel() for p in compact.parameters()) == 1_213_296


def test_unet_discriminator_equals_a_pytorch_build():
    torch = pytest.importorskip("torch")
    nn, F, sn = torch.nn, torch.nn.functional, torch.nn.utils.spectral_norm
    from keras_sr import models
    from keras_sr.layers.spectral_normalization import torch_v_permutation

    nf = 4
    torch.manual_seed(0)
    convs = [nn.Conv2d(3, nf, 3, 1, 1)] + [sn(nn.Conv2d(i, o, k, s, 1, bias=False)) for i, o, k, s in (
        (nf, 2 * nf, 4, 2), (2 * nf, 4 * nf, 4, 2), (4 * nf, 8 * nf, 4, 2), (8 * nf, 4 * nf, 3, 1),
        (4 * nf, 2 * nf, 3, 1), (2 * nf, nf, 3, 1), (nf, nf, 3, 1), (nf, nf, 3, 1))] + [nn.Conv2d(nf, 1, 3, 1, 1)]

    def forward(x):
        act = [F.leaky_relu(convs[0](x), 0.2)]
        for i in (1, 2, 3):
            act.append(F.leaky_relu(convs[i](act[-1]), 0.2))
        y = act[3]
        for i, skip in zip((4, 5, 6), (act[2], act[1], act[0])):
            y = F.leaky_relu(convs[i](F.interpolate(y, scale_factor=2, mode="bilinear", align_corners=False)), 0.2)
            y = y + skip
        y = F.leaky_relu(convs[7](y), 0.2)
        y = F.leaky_relu(convs[8](y), 0.2)
        return convs[9](y)

    model = models.build("unet_discriminator_sn", input_size=16, filters=nf)
    for i, conv in enumerate(convs):
        if i in (0, 9):
            layer = model.get_layer(f"conv{i}")
            layer.kernel.assign(conv.weight.detach().numpy().transpose(2, 3, 1, 0))
            layer.bias.assign(conv.bias.detach().numpy())
        else:
            wrapper = model.get_layer(f"conv{i}_sn")
            wrapper.layer.kernel.assign(conv.weight_orig.detach().numpy().transpose(2, 3, 1, 0))
            wrapper.u.assign(conv.weight_u.numpy())
            wrapper.v.assign(conv.weight_v.numpy()[torch_v_permutation(tuple(wrapper.layer.kernel.shape))])
    x = np.random.default_rng(0).uniform(0, 1, (2, 16, 16, 3)).astype(np.float32)
    with torch.no_grad():
        want = forward(torch.from_numpy(x.transpose(0, 3, 1, 2))).numpy().transpose(0, 2, 3, 1)  # train mode
    got = _np(model(255 * x, training=True))
    assert got.shape == (2, 16, 16, 1)
    np.testing.assert_allclose(got, want, atol=1e-5 * max(1.0, np.abs(want).max()))


def _compact_file(path, seed, scale=4, act_type="prelu"):
    """spandrel's SRVGGNetCompact (8 features, 2 convs) with N(0, 0.3^2) weights, saved as Real-ESRGAN does."""
    from spandrel_oracle import import_spandrel

    spandrel = import_spandrel()
    torch = pytest.importorskip("torch")
    net = spandrel.architectures.Compact.Compact(num_in_ch=3, num_out_ch=3, num_feat=8, num_conv=2, upscale=scale,
                                                  act_type=act_type)
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(torch.randn(p.shape, generator=generator) * 0.3)
    torch.save({"params": net.state_dict()}, str(path))
    return spandrel, torch, net.eval(), str(path)


@pytest.mark.parametrize("scale", [2, 4])
def test_srvgg_compact_converter_equals_spandrel(scale, tmp_path):
    from keras_sr.convert import from_checkpoint

    spandrel, torch, net, path = _compact_file(tmp_path / f"compact_x{scale}.pth", scale, scale)
    loaded = spandrel.ModelLoader().load_from_file(path)
    assert loaded.architecture.id == "Compact" and loaded.scale == scale
    model = from_checkpoint(path)
    assert model.name == f"srvgg_compact_x{scale}"
    assert model.count_params() == sum(p.numel() for p in net.parameters())
    x = np.random.default_rng(scale).uniform(0, 1, (1, 7, 9, 3)).astype(np.float32)
    with torch.no_grad():
        want = loaded.model(torch.from_numpy(x.transpose(0, 3, 1, 2))).numpy().transpose(0, 2, 3, 1) * 255
    got = _np(model(255 * x))
    print(f"parity srvgg_compact x{scale} vs spandrel: rel {np.abs(got - want).max() / np.abs(want).max():.2g}")
    assert np.abs(got - want).max() / np.abs(want).max() < 1e-4


@pytest.mark.parametrize("act_type", ["relu", "leakyrelu"])
def test_srvgg_compact_converter_without_prelu_needs_act_type_and_equals_spandrel(act_type, tmp_path):
    """The official ReLU / LeakyReLU(0.1) options leave no activation weights: refused without act_type."""
    from keras_sr.convert import CheckpointMismatch, detect, from_checkpoint

    _, torch, net, path = _compact_file(tmp_path / f"compact_{act_type}.pth", 7, act_type=act_type)
    assert detect(path)[1]["config"] == dict(scale=4, num_feat=8, num_conv=2)
    with pytest.raises(CheckpointMismatch, match=r"compact_.*\.pth: SRVGGNetCompact without PReLU .*act_type"):
        from_checkpoint(path)
    model = from_checkpoint(path, act_type=act_type)
    assert model.count_params() == sum(p.numel() for p in net.parameters())
    x = np.random.default_rng(7).uniform(0, 1, (1, 7, 9, 3)).astype(np.float32)
    with torch.no_grad():
        want = net(torch.from_numpy(x.transpose(0, 3, 1, 2))).numpy().transpose(0, 2, 3, 1) * 255
    got = _np(model(255 * x))
    rel = np.abs(got - want).max() / np.abs(want).max()
    print(f"parity srvgg_compact {act_type} x4 vs spandrel's class: rel {rel:.2g}")
    assert rel < 1e-4
    other = {"relu": "leakyrelu", "leakyrelu": "relu"}[act_type]  # the wrong guess gives another output
    wrong = _np(from_checkpoint(path, act_type=other)(255 * x))
    assert np.abs(wrong - want).max() / np.abs(want).max() > 1e-3

    from keras_sr.cli import main  # keras-sr convert FILE --act-type NAME

    out = str(tmp_path / f"compact_{act_type}.keras")
    with pytest.raises(SystemExit):
        main(["convert", path, "--out", out])
    main(["convert", path, "--act-type", act_type, "--out", out])
    np.testing.assert_allclose(_np(keras.saving.load_model(out, compile=False)(255 * x)), got, atol=1e-4)


# Recipes and tools -----------------------------------------------------------------------------------------------


def _hr_folder(tmp_path, count=3, size=72):
    from PIL import Image

    folder = tmp_path / "hr"
    folder.mkdir(exist_ok=True)
    photos = (_photo(96) * 255).astype(np.uint8)
    for i in range(count):
        Image.fromarray(photos[i % 4][:size, : size + 8 * i]).save(folder / f"img{i}.png")
    return folder


@pytest.mark.skipif(BACKEND != "tensorflow", reason="the GAN trainer's TensorFlow step (JAX: tests/test_gan_training)")
def test_recipes_train_with_device_and_host_degradations(tmp_path):
    import json

    from keras_sr.data.sources import resolve_data
    from keras_sr.training.gan import train_gan

    from keras_sr.recipes.realesrgan import RealESRGANRecipe
    from keras_sr.recipes.realesrnet import RealESRNetRecipe

    split = resolve_data([str(_hr_folder(tmp_path))], val_split=0)
    tiny = dict(num_blocks=1, filters=4, growth_rate=2, patch_size=8, batch_size=2, hr_size=64, queue_size=4,
                steps=2, steps_per_epoch=2, val_every=2, checkpoint_every=2, seed=1, schedule="constant")
    gan = RealESRGANRecipe.for_scale(4, d_filters=2, vgg_weights="random", perceptual_layers="conv1_2:0.1,conv2_2:1",
                                     **tiny)
    assert gan.adversarial_weight == 0.1 and gan.gan_loss == "standard" and gan.degradation == "device"
    result = train_gan(gan, out=str(tmp_path / "gan"), split=split, val_pairs=[], tensorboard=False, log=None)
    summary = json.load(open(tmp_path / "gan" / "summary.json"))
    assert summary["steps"] == 2 and summary["discriminator_steps"] == 2
    assert set(summary["final_losses"]) >= {"g_pixel", "g_perceptual", "g_adversarial", "d_loss"}
    assert all(np.isfinite(v) for v in summary["final_losses"].values())
    assert (tmp_path / "gan" / "discriminator.weights.h5").exists()
    assert result.model.name.startswith("rrdbnet_x4")

    net = RealESRNetRecipe.for_scale(4, degradation="host", **tiny)
    assert not net.discriminator and net.pixel_weight == 1.0 and net.learning_rate == 2e-4
    train_gan(net, out=str(tmp_path / "net"), split=split, val_pairs=[], tensorboard=False, log=None)
    summary = json.load(open(tmp_path / "net" / "summary.json"))
    assert summary["steps"] == 2 and summary["discriminator_steps"] == 0
    assert set(summary["final_losses"]) == {"g_pixel", "g_loss"} and not (tmp_path / "net" / "discriminator.weights.h5").exists()


def test_official_recipe_defaults():
    from keras_sr.recipes.realesrgan import PERCEPTUAL_LAYERS, RealESRGANRecipe, parse_layer_weights
    from keras_sr.recipes.realesrnet import RealESRNetRecipe

    net, gan = RealESRNetRecipe.for_scale(4), RealESRGANRecipe.for_scale(2)
    assert (net.steps, net.learning_rate, net.beta_2, net.ema_decay, net.batch_size, net.hr_patch_size,
            net.queue_size, net.hr_size) == (1_000_000, 2e-4, 0.99, 0.999, 12, 256, 180, 400)
    assert (gan.steps, gan.learning_rate, gan.d_learning_rate, gan.hr_patch_size, gan.discriminator) == (
        400_000, 1e-4, 1e-4, 256, "unet_discriminator_sn")
    assert gan.perceptual_layer_weights() == parse_layer_weights(PERCEPTUAL_LAYERS) == {
        "conv1_2": 0.1, "conv2_2": 0.1, "conv3_4": 1.0, "conv4_4": 1.0, "conv5_4": 1.0}
    with pytest.raises(ValueError, match="multiple of batch_size"):
        RealESRNetRecipe.for_scale(4, queue_size=100)
    with pytest.raises(ValueError, match="NAME:WEIGHT"):
        RealESRGANRecipe.for_scale(4, perceptual_layers="conv1_2:x")


def test_degrade_tool_is_seeded(tmp_path):
    import json

    from tools.degrade import main

    folder = _hr_folder(tmp_path, count=2, size=64)
    assert main(["--data", str(folder), "--out", str(tmp_path / "a"), "--seed", "3"]) == 0
    assert main(["--data", str(folder), "--out", str(tmp_path / "b"), "--seed", "3"]) == 0
    assert main(["--data", str(folder), "--out", str(tmp_path / "c"), "--seed", "4"]) == 0
    for name in ("img0.png", "img1.png"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    assert (tmp_path / "a" / "img0.png").read_bytes() != (tmp_path / "c" / "img0.png").read_bytes()
    manifest = json.load(open(tmp_path / "a" / "degradations.json"))
    assert manifest["images"]["img1.png"]["lr_size"] == [16, 18] and manifest["seed"] == 3
    assert main(["--data", str(tmp_path / "missing"), "--out", str(tmp_path / "d")]) == 2
