"""LIIF and Meta-SR: sampling/unfold/ensemble against numpy oracles of the official code, a torch
re-implementation of LIIF's `query_rgb`, official parameter counts, serialization, arbitrary-scale evaluation."""

import math
import os

import keras
import numpy as np
import pytest

from keras_sr import models
from keras_sr.layers import LocalImplicitFunction, MetaUpscale
from keras_sr.layers.coordinate_sampling import gather_pixels, make_cell, make_coord, nearest_index, unfold_3x3


# ---------------------------------------------------------------- numpy oracles of the official code
def official_make_coord(shape):
    """yinboc/liif utils.make_coord: r = (v1 - v0) / (2 n); seq = v0 + r + 2 r arange(n); meshgrid ij; flatten."""
    seqs = []
    for n in shape:
        r = 2.0 / (2 * n)
        seqs.append(-1.0 + r + 2 * r * np.arange(n, dtype=np.float64))
    return np.stack(np.meshgrid(*seqs, indexing="ij"), axis=-1).reshape(-1, 2)


def grid_sample_nearest(feat, coord):
    """F.grid_sample(feat NCHW -> here HWC, grid (x, y), mode nearest, align_corners False, zero padding)."""
    h, w, c = feat.shape
    out = np.zeros((coord.shape[0], c), feat.dtype)
    for q, (cy, cx) in enumerate(coord):
        iy = np.rint(((cy + 1) * h - 1) / 2)  # unnormalize, round half to even
        ix = np.rint(((cx + 1) * w - 1) / 2)
        if 0 <= iy < h and 0 <= ix < w:
            out[q] = feat[int(iy), int(ix)]
    return out


def torch_unfold_3x3(feat):
    """F.unfold(feat, 3, padding=1).view(C * 9, H, W) in HWC: channel c * 9 + ky * 3 + kx."""
    h, w, c = feat.shape
    padded = np.pad(feat, ((1, 1), (1, 1), (0, 0)))
    out = np.zeros((h, w, c * 9), feat.dtype)
    for ch in range(c):
        for ky in range(3):
            for kx in range(3):
                out[:, :, ch * 9 + ky * 3 + kx] = padded[ky:ky + h, kx:kx + w, ch]
    return out


def mlp_numpy(layer, x):
    for dense in layer.hidden:
        kernel, bias = (np.asarray(v) for v in dense.get_weights())
        x = np.maximum(x @ kernel + bias, 0.0)
    kernel, bias = (np.asarray(v) for v in layer.head.get_weights())
    return x @ kernel + bias


def query_rgb_numpy(layer, feat, coord, cell):
    """LIIF's query_rgb for one image (feat HWC), written from the official structure, in float64."""
    feat = torch_unfold_3x3(feat.astype(np.float64))
    h, w, _ = feat.shape
    feat_coord = official_make_coord((h, w)).reshape(h, w, 2)
    preds, areas = [], []
    for vx in (-1, 1):
        for vy in (-1, 1):
            shifted = coord.astype(np.float64).copy()
            shifted[:, 0] += vx * (2 / h / 2) + 1e-6
            shifted[:, 1] += vy * (2 / w / 2) + 1e-6
            shifted = np.clip(shifted, -1 + 1e-6, 1 - 1e-6)
            q_feat = grid_sample_nearest(feat, shifted)
            q_coord = grid_sample_nearest(feat_coord, shifted)
            rel = (coord - q_coord) * np.array([h, w])
            inp = np.concatenate([q_feat, rel, cell * np.array([h, w])], axis=-1)
            preds.append(mlp_numpy(layer, inp))
            areas.append(np.abs(rel[:, 0] * rel[:, 1]) + 1e-9)
    total = sum(areas)
    areas[0], areas[3] = areas[3], areas[0]
    areas[1], areas[2] = areas[2], areas[1]
    return sum(p * (a / total)[:, None] for p, a in zip(preds, areas))


def random_queries(rng, n, h, w):
    """Random coordinates kept 1e-3 of a latent cell away from cell borders (no grid_sample ties)."""
    coord = rng.uniform(-1, 1, (n, 2))
    for axis, size in ((0, h), (1, w)):
        frac = ((coord[:, axis] + 1) * size / 2) % 1
        coord[np.abs(frac - 0.5) < 1e-3, axis] += 2e-3 / size
    return coord


# ---------------------------------------------------------------- layers
def test_make_coord_matches_official():
    np.testing.assert_allclose(make_coord(5, 7), official_make_coord((5, 7)), atol=1e-7)
    np.testing.assert_allclose(make_cell(5, 7)[0], [2 / 5, 2 / 7], rtol=1e-6)
    with pytest.raises(ValueError, match="positive size"):
        make_coord(0, 3)


def test_nearest_sampling_matches_grid_sample():
    rng = np.random.default_rng(0)
    feat = rng.normal(size=(2, 5, 6, 3)).astype(np.float32)
    coord = np.stack([random_queries(rng, 200, 5, 6) for _ in range(2)]).astype(np.float32)
    iy = nearest_index(keras.ops.convert_to_tensor(coord[..., 0]), 5)
    ix = nearest_index(keras.ops.convert_to_tensor(coord[..., 1]), 6)
    got = keras.ops.convert_to_numpy(gather_pixels(keras.ops.convert_to_tensor(feat), iy, ix))
    for b in range(2):
        np.testing.assert_array_equal(got[b], grid_sample_nearest(feat[b], coord[b]))


def test_unfold_matches_torch_unfold_order():
    feat = np.random.default_rng(1).normal(size=(1, 4, 5, 3)).astype(np.float32)
    got = keras.ops.convert_to_numpy(unfold_3x3(keras.ops.convert_to_tensor(feat)))
    np.testing.assert_array_equal(got[0], torch_unfold_3x3(feat[0]))


def test_local_implicit_function_matches_numpy_query_rgb():
    rng = np.random.default_rng(2)
    layer = LocalImplicitFunction(hidden_units=(16, 16), out_channels=3)
    feat = rng.normal(size=(2, 5, 4, 4)).astype(np.float32)
    coord = np.stack([random_queries(rng, 50, 5, 4) for _ in range(2)]).astype(np.float32)
    cell = np.full((2, 50, 2), 2 / 13, np.float32)
    got = keras.ops.convert_to_numpy(layer([feat, coord, cell]))
    assert got.shape == (2, 50, 3)
    for b in range(2):
        np.testing.assert_allclose(got[b], query_rgb_numpy(layer, feat[b], coord[b], cell[b]), rtol=1e-4, atol=1e-4)
    assert layer.mlp_input_dim(64) == 580


def test_local_ensemble_is_area_weighted_with_the_diagonal_swap():
    # The MLP is made to return the code itself, so the output is the ensemble's weighted mean of the codes.
    layer = LocalImplicitFunction(hidden_units=(8,), out_channels=1, feat_unfold=False, cell_decode=False)
    layer.build([(None, 4, 4, 1), (None, None, 2), (None, None, 2)])
    kernel = np.zeros((8, 1), np.float32)
    # The MLP's input is [code, rel_y, rel_x]; make it output the code by routing it through one ReLU unit.
    hidden = np.zeros((3, 8), np.float32)
    hidden[0, 0] = 1.0
    layer.hidden[0].set_weights([hidden, np.zeros(8, np.float32)])
    kernel[0, 0] = 1.0
    layer.head.set_weights([kernel, np.zeros(1, np.float32)])
    feat = np.arange(16, dtype=np.float32).reshape(1, 4, 4, 1)
    cell = np.zeros((1, 2, 2), np.float32)
    # Pixel (1, 1) has its centre at -1 + 3/4 = -0.25; a quarter cell towards (2, 2) is -0.125.
    coord = np.array([[[-0.25, -0.25], [-0.125, -0.125]]], np.float32)
    out = keras.ops.convert_to_numpy(layer([feat, coord, cell]))[0, :, 0]
    # At the centre of code (1, 1) the shifted queries (+1e-6) pick codes (1,1),(1,2),(2,1),(2,2); the areas
    # to them are 0, 0, 0, 1 latent pixels^2 and, swapped, (1, 1) gets the whole weight: the output is its code.
    np.testing.assert_allclose(out[0], feat[0, 1, 1, 0], atol=1e-4)
    # At (-0.125, -0.125): codes (1,1),(1,2),(2,1),(2,2); rel distances 1/2 and 3/2 latent pixels: weights
    # (9, 3, 3, 1) / 16 for the nearest, side, side, far codes.
    expected = (9 * feat[0, 1, 1, 0] + 3 * feat[0, 1, 2, 0] + 3 * feat[0, 2, 1, 0] + feat[0, 2, 2, 0]) / 16
    np.testing.assert_allclose(out[1], expected, atol=1e-4)


def test_query_rgb_matches_torch_reimplementation():
    torch = pytest.importorskip("torch")
    functional = torch.nn.functional
    rng = np.random.default_rng(3)
    layer = LocalImplicitFunction(hidden_units=(16, 16), out_channels=3)
    feat = rng.normal(size=(1, 6, 5, 4)).astype(np.float32)
    coord = random_queries(rng, 40, 6, 5)[None].astype(np.float32)
    cell = np.full((1, 40, 2), 2 / 17, np.float32)
    got = keras.ops.convert_to_numpy(layer([feat, coord, cell]))

    # The official query_rgb's structure in torch (NCHW, F.unfold, F.grid_sample nearest, align_corners False).
    tfeat = torch.from_numpy(feat).permute(0, 3, 1, 2)
    tfeat = functional.unfold(tfeat, 3, padding=1).view(1, 4 * 9, 6, 5)
    tcoord, tcell = torch.from_numpy(coord), torch.from_numpy(cell)
    feat_coord = torch.from_numpy(make_coord(6, 5)).view(6, 5, 2).permute(2, 0, 1)[None]
    linears = [torch.nn.Linear(*np.asarray(d.get_weights()[0]).shape) for d in (*layer.hidden, layer.head)]
    for lin, dense in zip(linears, (*layer.hidden, layer.head)):
        lin.weight.data = torch.from_numpy(np.asarray(dense.get_weights()[0]).T.copy())
        lin.bias.data = torch.from_numpy(np.asarray(dense.get_weights()[1]))
    imnet = torch.nn.Sequential(linears[0], torch.nn.ReLU(), linears[1], torch.nn.ReLU(), linears[2])
    preds, areas = [], []
    for vx in (-1, 1):
        for vy in (-1, 1):
            c = tcoord.clone()
            c[:, :, 0] += vx / 6 + 1e-6
            c[:, :, 1] += vy / 5 + 1e-6
            c.clamp_(-1 + 1e-6, 1 - 1e-6)
            grid = c.flip(-1).unsqueeze(1)
            q_feat = functional.grid_sample(tfeat, grid, mode="nearest", align_corners=False)[:, :, 0].permute(0, 2, 1)
            q_coord = functional.grid_sample(feat_coord, grid, mode="nearest", align_corners=False)[:, :, 0].permute(0, 2, 1)
            rel = (tcoord - q_coord) * torch.tensor([6.0, 5.0])
            inp = torch.cat([q_feat, rel, tcell * torch.tensor([6.0, 5.0])], dim=-1)
            preds.append(imnet(inp))
            areas.append(torch.abs(rel[:, :, 0] * rel[:, :, 1]) + 1e-9)
    total = torch.stack(areas).sum(0)
    areas = [areas[3], areas[2], areas[1], areas[0]]
    expected = sum(p * (a / total).unsqueeze(-1) for p, a in zip(preds, areas)).detach().numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4)


def official_meta_upscale(feat, scale, p2w):
    """Meta-SR's forward for integer-or-real `scale` on one image: int(s h) x int(s w) output, from the
    official input_matrix_wpn (pos = [1/s, frac(i/s), frac(j/s)], LR pixel floor(i/s)) and its matmul."""
    h, w, c = feat.shape
    out_h, out_w = int(scale * h), int(scale * w)
    cols = torch_unfold_3x3(feat.astype(np.float64))
    out = np.zeros((out_h, out_w, 3))
    for i in range(out_h):
        for j in range(out_w):
            u, v = i / scale, j / scale
            weight = p2w(np.array([1 / scale, u - math.floor(u), v - math.floor(v)])).reshape(c * 9, 3)
            out[i, j] = cols[math.floor(u), math.floor(v)] @ weight
    return out


@pytest.mark.parametrize("scale", [2, 3, 2.5])
def test_meta_upscale_matches_official_positions(scale):
    rng = np.random.default_rng(4)
    layer = MetaUpscale(out_channels=3, hidden_units=8)
    feat = rng.normal(size=(1, 4, 6, 2)).astype(np.float32)
    out_h, out_w = int(scale * 4), int(scale * 6)
    coord = make_coord(out_h, out_w)[None]
    cell = make_cell(out_h, out_w)[None]
    got = keras.ops.convert_to_numpy(layer([feat, coord, cell]))[0].reshape(out_h, out_w, 3)
    (k0, b0), (k1, b1) = ([np.asarray(v, np.float64) for v in d.get_weights()] for d in (layer.hidden,
                                                                                        layer.weights_head))

    def p2w(pos):
        return np.maximum(pos @ k0 + b0, 0) @ k1 + b1

    np.testing.assert_allclose(got, official_meta_upscale(feat[0], scale, p2w), rtol=1e-4, atol=1e-4)


# ---------------------------------------------------------------- models
@pytest.mark.parametrize("name, config, expected", [
    ("liif", {"encoder": "edsr_baseline"}, 1_567_299),
    ("liif", {"encoder": "rdn"}, 22_320_835),
    ("meta_rdn", {}, 22_419_072),
])
def test_official_parameter_counts(name, config, expected):
    assert models.build(name, **config).count_params() == expected


TINY = {
    "liif": {"num_blocks": 1, "filters": 8, "hidden_units": (16, 16)},
    "meta_rdn": {"num_blocks": 2, "num_layers": 2, "growth_rate": 4, "filters": 8, "hidden_units": 8},
}


@pytest.mark.parametrize("name", ["liif", "meta_rdn"])
def test_tiny_models_round_trip_and_reload_safe_mode(name, tmp_path):
    from keras_sr.models.inference import load_model

    model = models.build(name, **TINY[name])
    rng = np.random.default_rng(5)
    lr = rng.uniform(0, 255, (1, 5, 6, 3)).astype(np.float32)
    coord, cell = make_coord(12, 15)[None], make_cell(12, 15)[None]
    out = keras.ops.convert_to_numpy(model([lr, coord, cell]))
    assert out.shape == (1, 180, 3)
    clone = keras.Model.from_config(model.get_config())
    assert clone.count_params() == model.count_params()
    path = os.path.join(tmp_path, "m.keras")
    model.save(path)
    reloaded = load_model(path)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(reloaded([lr, coord, cell])), out, rtol=1e-5, atol=1e-3)


def test_bad_configs_raise_clear_errors():
    with pytest.raises(ValueError, match="Unknown encoder"):
        models.build("liif", encoder="vgg")
    with pytest.raises(ValueError, match="no option"):
        models.build("liif", encoder="edsr_baseline", growth_rate=4)
    with pytest.raises(ValueError, match="kernel_size 3"):
        MetaUpscale(kernel_size=5)


# ---------------------------------------------------------------- arbitrary-scale evaluation
def test_arbitrary_scale_protocol_sizes():
    from keras_sr.arbitrary_scale import degrade_to_scale, eval_border, parse_scale, sr_size
    from keras_sr.evaluation import bicubic_upscaler

    hr = np.random.default_rng(6).integers(0, 256, (64, 50, 3), np.uint8)
    hr_crop, lr = degrade_to_scale(hr, 2.7)
    assert lr.shape == (23, 18, 3)  # floor(64 / 2.7), floor(50 / 2.7)
    assert hr_crop.shape == (62, 49, 3)  # round(23 * 2.7) = 62, round(18 * 2.7) = 49
    assert bicubic_upscaler(lr, 2.7).shape == hr_crop.shape
    assert sr_size(23, 18, 4) == (92, 72) and eval_border(2.7) == 3 and eval_border(4) == 4
    assert parse_scale("4.0") == 4 and isinstance(parse_scale("4.0"), int) and parse_scale("2.5") == 2.5
    with pytest.raises(ValueError, match=">= 1"):
        parse_scale("0.5")


def test_evaluate_images_at_real_scale_with_liif(tmp_path):
    from keras_sr.evaluation import evaluate_folders
    from keras_sr.image_io import save_image
    from keras_sr.models.inference import model_upscaler
    from keras_sr.models.query_inference import query_upscaler

    rng = np.random.default_rng(7)
    folder = tmp_path / "HR"
    folder.mkdir()
    save_image(str(folder / "a.png"), rng.integers(0, 256, (40, 36, 3), np.uint8))
    upscaler = model_upscaler(models.build("liif", **TINY["liif"]))
    upscaler_chunked = query_upscaler(models.build("liif", **TINY["liif"]), chunk=97)
    (per_scale,) = evaluate_folders(upscaler, [str(folder)], [2.5, 3]).values()
    assert set(per_scale) == {2.5, 3} and np.isfinite(per_scale[2.5]["psnr"])
    assert upscaler_chunked(rng.integers(0, 256, (7, 9, 3), np.uint8), 2.5).shape == (18, 22, 3)


def test_export_saved_model_and_tflite_with_scale_input(tmp_path):
    from keras_sr.export.arbitrary_scale import convert_tflite, export_query_saved_model
    from keras_sr.export.tflite import make_interpreter
    from keras_sr.models.inference import load_upscaler
    from keras_sr.models.query_inference import query_upscaler

    model = models.build("liif", **TINY["liif"])
    lr = np.random.default_rng(8).integers(0, 256, (7, 9, 3), np.uint8)
    expected = query_upscaler(model)(lr, 2.5)
    saved = export_query_saved_model(model, str(tmp_path / "sm"))
    np.testing.assert_allclose(load_upscaler(saved)(lr, 2.5), expected, atol=1e-3)
    assert load_upscaler(saved)(lr, 3)[..., 0].shape == (21, 27)
    flat = export_query_saved_model(model, str(tmp_path / "sm_flat"), row_by_row=False)
    runner = make_interpreter(convert_tflite(flat, str(tmp_path / "liif.tflite"))).get_signature_runner()
    out = runner(image=lr[None].astype(np.float32), scale=np.array(2.5, np.float32))["sr"]
    np.testing.assert_allclose(out[0], expected, atol=1e-3)
