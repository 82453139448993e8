"""MASA-SR: official parameter count, parity with an independent PyTorch re-implementation, graph/JAX runs.

The PyTorch oracle below is written for this test from the structure of the official
`models/archs/MASA_arch.py` (dvlab-research/MASA-SR): per-block loops with `F.unfold` / `F.fold`
and explicit region crops, i.e. a different algorithm from keras-sr's vectorized gathers
(`keras_sr.layers.masa_matching`). Weights are copied from the Keras model.
"""

import numpy as np
import pytest

import keras
from keras import ops

from keras_sr import models
from keras_sr.models import masa_sr as masa_module

TINY = dict(nf=4, n_blocks=(1, 1, 1), n_blocks_dec=(1, 1, 1, 1, 1, 1))


def np_(x):
    return np.asarray(ops.convert_to_numpy(x))


def test_parameter_count_matches_official():
    # Official MASA(nf=64), n_blks [4, 4, 4], n_blks_dec [2, 2, 2, 12, 8, 4] (MASA_arch.py, train.py
    # defaults): sum(p.numel()) = 4,028,291 (Encoder 961,920 + Decoder 3,066,371), counted by
    # instantiating the official class; standard_tables.md / the paper: 4.03M.
    model = models.build("masa_sr")
    assert model.count_params() == masa_module.official_parameter_count() == 4_028_291
    assert model.get_layer("encoder").count_params() == 961_920
    tiny = models.build("masa_sr", **TINY)
    assert tiny.count_params() == masa_module.official_parameter_count(4, (1, 1, 1), (1,) * 6)


# The PyTorch oracle -------------------------------------------------------------------------------------------


def _torch_masa(weights, nf, n_blocks, n_blocks_dec):
    """A functional PyTorch MASA taking `{keras layer path: array}` weights (Keras layouts)."""
    import torch
    import torch.nn.functional as F

    def t(name):
        return torch.from_numpy(np.ascontiguousarray(weights[name]))

    def conv(x, name, stride=1, padding=1):
        kernel = t(f"{name}/kernel").permute(3, 2, 0, 1)  # (kh, kw, in, out) -> (out, in, kh, kw)
        return F.conv2d(x, kernel, t(f"{name}/bias"), stride=stride, padding=padding)

    def deconv(x, name):  # ConvTranspose2d(3, stride 2, padding 1, output_padding 1)
        kernel = t(f"{name}/kernel").permute(3, 2, 0, 1)  # (kh, kw, out, in) -> (in, out, kh, kw)
        return F.conv_transpose2d(x, kernel, t(f"{name}/bias"), stride=2, padding=1, output_padding=1)

    def blocks(x, prefix, count):
        for i in range(count):
            x = x + conv(F.relu(conv(x, f"{prefix}_{i}/conv1")), f"{prefix}_{i}/conv2")
        return x

    def encoder(x):
        l1 = blocks(F.relu(conv(x, "enc_conv_l1")), "enc_blk_l1", n_blocks[0])
        l2 = blocks(F.relu(conv(l1, "enc_conv_l2", stride=2)), "enc_blk_l2", n_blocks[1])
        l3 = blocks(F.relu(conv(l2, "enc_conv_l3", stride=2)), "enc_blk_l3", n_blocks[2])
        return l1, l2, l3

    def sam(lr, ref):
        normed = F.instance_norm(ref, eps=1e-5)
        style = F.relu(conv(torch.cat([lr, ref], 1), "sam/conv_shared"))
        gamma = conv(style, "sam/conv_gamma") + lr.flatten(2).std(-1)[..., None, None]
        beta = conv(style, "sam/conv_beta") + lr.flatten(2).mean(-1)[..., None, None]
        return normed * gamma + beta

    def dram(lr, ref, name):
        res_a = F.relu(conv(ref, f"{name}/conv_down_a", stride=2)) - lr
        out_a = F.relu(deconv(res_a, f"{name}/conv_up_a")) + ref
        res_b = lr - F.relu(conv(ref, f"{name}/conv_down_b", stride=2))
        out_b = F.relu(deconv(res_b + lr, f"{name}/conv_up_b"))
        return F.relu(conv(torch.cat([out_a, out_b], 1), f"{name}/conv_cat"))

    def mem(lr, reflr, ref_levels, block=8, dilations=(1, 2, 3)):
        n, c, h, w = lr.shape
        _, _, hr, wr = reflr.shape
        py, px = h // block, w // block
        dia_y = 2 * int(hr // (2 * py) * 1.5) + 1
        dia_x = 2 * int(wr // (2 * px) * 1.5) + 1
        padded = F.pad(lr, (1, 1, 1, 1), mode="replicate")
        outs = {s: torch.zeros(n, c, h * s, w * s, dtype=lr.dtype) for s in (1, 2, 4)}
        for b in range(n):
            coarse = 0
            for d in dilations:
                keys = F.normalize(F.unfold(reflr[b:b + 1], 3, dilation=d, padding=d)[0], dim=0)  # (9C, Hr*Wr)
                queries = []
                for by in range(py):
                    for bx in range(px):
                        cy, cx = by * block + (block + 2) // 2, bx * block + (block + 2) // 2
                        queries.append(padded[b, :, cy - d:cy + d + 1:d, cx - d:cx + d + 1:d].reshape(-1))
                coarse = coarse + F.normalize(torch.stack(queries), dim=1) @ keys
            best = coarse.argmax(-1)
            for p in range(py * px):
                by, bx = divmod(p, px)
                y1 = min(max(int(best[p]) // wr - dia_y // 2 - 1, 0), hr - dia_y - 2)
                x1 = min(max(int(best[p]) % wr - dia_x // 2 - 1, 0), wr - dia_x - 2)
                region = reflr[b:b + 1, :, y1:y1 + dia_y + 2, x1:x1 + dia_x + 2]
                blk = padded[b:b + 1, :, by * block:by * block + block + 2, bx * block:bx * block + block + 2]
                q = F.normalize(F.unfold(blk, 3)[0], dim=0)  # (9C, block^2)
                r = F.normalize(F.unfold(region, 3)[0], dim=0)  # (9C, dy*dx)
                score, index = (q.t() @ r).max(dim=1)
                soft = score.reshape(1, 1, block, block)
                for s, feat in zip((1, 2, 4), ref_levels):
                    crop = feat[b:b + 1, :, y1 * s:(y1 + dia_y + 2) * s, x1 * s:(x1 + dia_x + 2) * s]
                    chosen = F.unfold(crop, 3 * s, stride=s)[:, :, index]
                    size = (block * s, block * s)
                    folded = F.fold(chosen, size, 3 * s, padding=s, stride=s)
                    count = F.fold(torch.ones_like(chosen), size, 3 * s, padding=s, stride=s)
                    att = F.interpolate(soft, size=size, mode="bilinear", align_corners=False)
                    outs[s][b, :, by * block * s:(by + 1) * block * s, bx * block * s:(bx + 1) * block * s] = \
                        (folded / count * att)[0]
        return outs

    def forward(lr, lr_up, ref, ref_down):
        lr_l = encoder(lr)
        reflr_l1 = encoder(ref_down)[0]
        ref_l1, ref_l2, ref_l3 = encoder(ref)
        warp = mem(lr_l[0], reflr_l1, (ref_l3, ref_l2, ref_l1))
        up = lambda x: F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)  # noqa: E731
        f3 = up(blocks(F.relu(conv(lr_l[2], "dec_conv_l3")), "dec_blk_l3", n_blocks_dec[0]))
        f2 = up(blocks(F.relu(conv(torch.cat([f3, lr_l[1]], 1), "dec_conv_l2")), "dec_blk_l2", n_blocks_dec[1]))
        f1 = blocks(F.relu(conv(torch.cat([f2, lr_l[0]], 1), "dec_conv_l1")), "dec_blk_l1", n_blocks_dec[2])
        x1 = F.relu(conv(torch.cat([sam(f1, warp[1]), f1], 1), "merge_warp_x1"))
        x1 = blocks(x1, "blk_x1", n_blocks_dec[3])
        x2 = blocks(dram(x1, sam(up(x1), warp[2]), "dram_x2"), "blk_x2", n_blocks_dec[4])
        x4 = blocks(dram(x2, sam(up(x2), warp[4]), "dram_x4"), "blk_x4", n_blocks_dec[5])
        return conv(x4, "conv_out") + lr_up

    return forward


def _randomize(model, seed=0):
    """Random weights everywhere (the zero-initialized SAM convs too), scaled by fan-in."""
    rng = np.random.default_rng(seed)
    for w in model.weights:
        shape = tuple(w.shape)
        fan_in = int(np.prod(shape[:-1])) if len(shape) > 1 else 20
        w.assign(rng.normal(0, 1.0 / np.sqrt(fan_in), shape).astype("float32"))


def test_matches_the_pytorch_reimplementation():
    """The whole tiny network (MEM with non-square regions, SAM, DRAM, decoder) within 1e-4 of the oracle."""
    torch = pytest.importorskip("torch")
    model = models.build("masa_sr", **TINY)
    _randomize(model)
    rng = np.random.default_rng(1)
    # LR 16x24 (2x3 blocks) with a 64x80 reference: region diameters 13 (rows) and 9 (columns).
    images = {"lr": (16, 24), "lr_up": (64, 96), "ref": (64, 80), "ref_down": (16, 20)}
    inputs = {k: rng.uniform(0, 255, (1, *size, 3)).astype("float32") for k, size in images.items()}
    ours = np_(model(inputs)) / 255.0
    weights = {w.path: np_(w) for w in model.weights}
    forward = _torch_masa(weights, TINY["nf"], TINY["n_blocks"], TINY["n_blocks_dec"])
    with torch.no_grad():
        theirs = forward(*(torch.from_numpy(inputs[k] / 255.0).permute(0, 3, 1, 2).float()
                           for k in ("lr", "lr_up", "ref", "ref_down")))
    theirs = theirs.permute(0, 2, 3, 1).numpy()
    assert np.abs(ours - inputs["lr_up"] / 255.0).max() > 1e-2  # the network adds something
    np.testing.assert_allclose(ours, theirs, atol=1e-4, rtol=0)


def test_one_training_step_moves_every_weight(rng):
    model = models.build("masa_sr", **TINY)
    _randomize(model, seed=2)
    inputs, _ = masa_module.prepare_inputs(rng.integers(0, 256, (16, 16, 3), dtype=np.uint8),
                                           rng.integers(0, 256, (64, 64, 3), dtype=np.uint8))
    hr = rng.uniform(0, 255, (1, 64, 64, 3)).astype("float32")
    model.compile(optimizer=keras.optimizers.SGD(1e-3), loss="mae", run_eagerly=True)
    before = [np_(w).copy() for w in model.trainable_weights]
    loss = model.train_on_batch(inputs, hr)
    assert np.isfinite(float(np.ravel(loss)[0]))
    unchanged = [w.path for w, b in zip(model.trainable_weights, before) if np.array_equal(np_(w), b)]
    assert unchanged == []


def test_gradients_stay_finite_on_all_zero_patches(rng):
    """ReLU features are often exactly zero over a patch: the cosine matching must not make NaN gradients."""
    if keras.backend.backend() != "tensorflow":
        pytest.skip("GradientTape")
    import tensorflow as tf

    from keras_sr.layers.masa_matching import MatchAndExtraction

    feats = [rng.uniform(0, 1, shape).astype("float32") for shape in
             [(1, 16, 16, 4), (1, 16, 16, 4), (1, 16, 16, 4), (1, 32, 32, 4), (1, 64, 64, 4)]]
    feats[0][:, :8, :8] = 0.0   # a whole block of zero LR features
    feats[1][:, 4:12, 4:12] = 0.0
    variables = [tf.Variable(f) for f in feats]
    with tf.GradientTape() as tape:
        loss = sum(tf.reduce_sum(o) for o in MatchAndExtraction()(variables))
    grads = tape.gradient(loss, variables)
    assert all(np.isfinite(g.numpy()).all() for g in grads)
    assert np.abs(grads[0].numpy()).max() > 0     # the soft attention carries gradient to the LR features

    from keras_sr.layers.spatial_adaptation import SpatialAdaptation

    lr = rng.uniform(0, 1, (1, 6, 7, 4)).astype("float32")
    lr[..., 1] = 0.0                               # a dead ReLU channel: zero variance (NaN before the fix)
    lr = tf.Variable(lr)
    sam = SpatialAdaptation(4, kernel_initializer="ones")
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(sam([lr, tf.constant(rng.normal(size=(1, 6, 7, 4)).astype("float32"))]))
    assert np.isfinite(tape.gradient(loss, lr).numpy()).all()


def test_prepare_inputs_padding_and_errors(rng):
    lr = rng.integers(0, 256, (10, 13, 3), dtype=np.uint8)
    inputs, (h, w) = masa_module.prepare_inputs(lr, rng.integers(0, 256, (70, 30, 3), dtype=np.uint8))
    assert (h, w) == (40, 52)
    assert inputs["lr"].shape == (1, 16, 16, 3) and inputs["lr_up"].shape == (1, 64, 64, 3)
    assert inputs["ref"].shape == (1, 80, 64, 3) and inputs["ref_down"].shape == (1, 20, 16, 3)
    np.testing.assert_array_equal(inputs["lr"][0, 10:, :13], np.repeat(lr[-1:].astype("float32"), 6, 0))
    with pytest.raises(ValueError, match="RGB"):
        masa_module.prepare_inputs(lr[..., 0], lr)
    with pytest.raises(ValueError, match="x4"):
        models.build("masa_sr", scale=2)


def test_tensorflow_graph_with_unknown_image_sizes(rng):
    if keras.backend.backend() != "tensorflow":
        pytest.skip("TensorFlow graph tracing")
    import tensorflow as tf

    model = models.build("masa_sr", **TINY)
    inputs, _ = masa_module.prepare_inputs(rng.integers(0, 256, (16, 24, 3), dtype=np.uint8),
                                           rng.integers(0, 256, (64, 80, 3), dtype=np.uint8))
    spec = {key: tf.TensorSpec((None, None, None, 3), tf.float32) for key in inputs}
    graph_call = tf.function(model.__call__, input_signature=[spec])
    np.testing.assert_allclose(graph_call(inputs).numpy(), np_(model(inputs)), rtol=1e-5, atol=1e-4)


# JAX and torch: the build, eager and symbolic calls of the tiny config run in tests/test_model_harness.py
# (its backend subprocesses); `.keras` save/load (safe_mode=True) and the fit step there on TensorFlow.


# The recipe ---------------------------------------------------------------------------------------------------


def test_recipe_defaults_are_the_official_ones():
    from keras_sr.recipes.masa_sr import MASASRRecipe

    r = MASASRRecipe.for_scale(4)
    assert (r.model, r.variant, r.patch_size, r.ref_size, r.batch_size) == ("masa_sr", "rec", 40, 160, 9)
    assert (r.learning_rate, r.schedule, r.min_learning_rate, r.steps) == (1e-4, "cosine", 7.7e-5, 160 * 1319)
    assert (r.rec_weight, r.perceptual_weight, r.perceptual_layer, r.adversarial_weight) == (0.5, 1.0, "conv5_4", 5e-3)
    assert r.model_config() == {"scale": 4, "nf": 64, "n_blocks": (4, 4, 4), "n_blocks_dec": (2, 2, 2, 12, 8, 4),
                                "chunk_size": 1024}
    assert r.input_names() == masa_module.INPUT_NAMES
    with pytest.raises(ValueError, match="multiple of 8"):
        MASASRRecipe.for_scale(4, patch_size=20)
    with pytest.raises(ValueError, match="x4"):
        MASASRRecipe.for_scale(2)


def test_recipe_cli_trains_on_a_folder(tmp_path, capsys):
    from PIL import Image

    from keras_sr.recipes.masa_sr import main

    rng = np.random.default_rng(0)
    folder = tmp_path / "images"
    folder.mkdir()
    for i in range(2):
        Image.fromarray(rng.integers(0, 256, (8, 10, 3), dtype=np.uint8)).resize((80, 72), Image.BICUBIC).save(
            folder / f"{i}.png")
    out = tmp_path / "run"
    code = main(["--data", str(folder), "--val-data", str(folder / "0.png"), "--out", str(out), "--steps", "1",
                 "--patch-size", "16", "--batch-size", "1", "--nf", "4", "--n-blocks", "1", "1", "1",
                 "--n-blocks-dec", "1", "1", "1", "1", "1", "1", "--workers", "1", "--jit-compile", "off", "--quiet",
                 "--no-export"])
    assert code == 0
    assert "MASA_SR rec (1 steps)" in capsys.readouterr().out
    assert keras.saving.load_model(out / "final.keras", safe_mode=True).count_params() > 0
