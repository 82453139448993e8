"""SMSR: official parameter counts, the temperature schedule, Gumbel masks, the sparse inference against a numpy
gather-and-matmul oracle (output and MACs), the mask CNN's padding, losses, recipe and one engine run."""

import numpy as np
import pytest

import keras

from keras_sr import models
from keras_sr.dynamic_inference import smsr_upscale
from keras_sr.layers.annealed_temperature import AnnealedTemperature
from keras_sr.layers.sparse_mask_conv import SparseMaskConv, gumbel_softmax
from keras_sr.layers.sparse_mask_module import SparseMaskModule
from keras_sr.training.adaptive_losses import SparsityLoss


def _count(weights):
    return sum(int(np.prod(w.shape)) for w in weights)


@pytest.mark.parametrize("scale,official", [(2, 987_306), (4, 1_008_078)])
def test_parameter_counts_match_the_official_model(scale, official):
    # official SMSR (LongguangWang/SMSR model/smsr.py), trainable parameters incl. the 2,560 channel-mask logits;
    # without them x4 is 1,005,518 (the paper's 1006K) and x2 984,746 (985K)
    model = models.build("smsr", scale=scale)
    trainable = _count(model.trainable_weights)
    logits = _count([w for w in model.weights if "channel_mask_logits" in w.path])
    assert (trainable, logits) == (official, 2_560)
    assert [w.path for w in model.non_trainable_weights] == ["temperature/step"]


def test_temperature_follows_the_paper_schedule_and_advances_in_training():
    paper = AnnealedTemperature()
    assert [paper.temperature_at(s) for s in (0, 999, 1000, 250_000, 300_000, 10**6)] == [
        1.0, 1.0, 0.998, 0.5, 0.4, 0.4]
    layer = AnnealedTemperature(anneal_epochs=2, epoch_steps=2)
    x = np.zeros((3, 4, 4, 3), "float32")
    seen = [float(keras.ops.convert_to_numpy(layer(x, training=True))[0, 0]) for _ in range(5)]
    assert seen == pytest.approx([1.0, 1.0, 0.5, 0.5, 0.4])
    assert float(keras.ops.convert_to_numpy(layer.step)) == 5.0
    assert keras.ops.convert_to_numpy(layer(x, training=False)).shape == (3, 1)
    assert float(keras.ops.convert_to_numpy(layer.step)) == 5.0  # inference leaves the counter alone


def test_gumbel_softmax_samples_sum_to_one_and_sharpen_with_temperature():
    seed = keras.random.SeedGenerator(0)
    logits = np.tile(np.array([[0.0, 1.0]], "float32"), (4000, 1))
    hot = keras.ops.convert_to_numpy(gumbel_softmax(logits, 0.05, seed))
    np.testing.assert_allclose(hot.sum(-1), 1.0, rtol=1e-5)
    assert np.mean(np.max(hot, -1) > 0.99) > 0.9
    # P(argmax = 1) = softmax(logits)[1] for Gumbel-max sampling
    assert np.mean(hot.argmax(-1) == 1) == pytest.approx(np.exp(1) / (1 + np.exp(1)), abs=0.03)


def _patches(x, k):
    """`(H, W, k*k*C)` im2col of a zero-padded `(H, W, C)` map, ordered (dy, dx, c) as a Keras kernel."""
    h, w, _ = x.shape
    p = k // 2
    padded = np.pad(x, ((p, p), (p, p), (0, 0)))
    return np.concatenate([padded[dy:dy + h, dx:dx + w] for dy in range(k) for dx in range(k)], axis=-1)


def _official_sparse_smb(layer, x, mask):
    """numpy SMSR sparse inference (`SMB._sparse_conv`): dense maps everywhere, sparse ones only at the N masked
    positions, each part a matrix product; returns the output and the multiply-accumulates of those products."""
    kernels = [keras.ops.convert_to_numpy(k) for k in layer.kernels]
    collect = keras.ops.convert_to_numpy(layer.collect_kernel)[0, 0]
    bias = keras.ops.convert_to_numpy(layer.collect_bias)
    sparse_ch = layer.hard_channel_masks()
    idx = np.nonzero(mask)
    macs, dense_in, sparse_in = 0, x, np.zeros((len(idx[0]), 0))
    d_in_mask = np.ones(x.shape[-1], bool)
    s_in_mask = np.zeros(x.shape[-1], bool)
    dense_maps, sparse_maps = [], []
    for i, kernel in enumerate(kernels):
        k = kernel.shape[0]
        s_out, d_out = sparse_ch[:, i], ~sparse_ch[:, i]
        w = kernel.reshape(k * k, kernel.shape[2], kernel.shape[3])
        w_dd = w[:, d_in_mask][:, :, d_out].reshape(-1, d_out.sum())
        w_ds = w[:, d_in_mask][:, :, s_out].reshape(-1, s_out.sum())
        w_s = w[:, s_in_mask].reshape(-1, kernel.shape[3])
        cols = _patches(dense_in, k)
        out_d = cols.reshape(-1, cols.shape[-1]) @ w_dd
        macs += out_d.size * w_dd.shape[0]
        out_d = out_d.reshape(x.shape[0], x.shape[1], -1)
        out_s = cols[idx] @ w_ds
        macs += out_s.size * w_ds.shape[0]
        if s_in_mask.any():
            full = np.zeros(x.shape[:2] + (s_in_mask.sum(),))
            full[idx] = sparse_in
            both = _patches(full, k)[idx] @ w_s
            macs += both.size * w_s.shape[0]
            out_d[idx] += both[:, d_out]
            out_s = out_s + both[:, s_out]
        dense_in, sparse_in = np.maximum(out_d, 0), np.maximum(out_s, 0)
        dense_maps.append(dense_in)
        sparse_maps.append(sparse_in)
        d_in_mask, s_in_mask = d_out, s_out
    d_all, s_all = ~sparse_ch.T.ravel(), sparse_ch.T.ravel()  # concat order: layer-major, then channel
    dense_cat, sparse_cat = np.concatenate(dense_maps, -1), np.concatenate(sparse_maps, -1)
    out = dense_cat.reshape(-1, dense_cat.shape[-1]) @ collect[d_all] + bias
    macs += out.size * d_all.sum()
    out = out.reshape(x.shape[0], x.shape[1], -1)
    out[idx] += sparse_cat @ collect[s_all]
    macs += len(idx[0]) * s_all.sum() * collect.shape[1]
    return out, macs


def test_hard_mask_inference_equals_the_sparse_computation_and_its_counted_macs():
    rng = np.random.default_rng(0)
    layer = SparseMaskConv(filters=6, num_layers=3)
    x = rng.normal(size=(1, 9, 11, 5)).astype("float32")
    mask = (rng.uniform(size=(1, 9, 11, 1)) > 0.6).astype("float32")
    tau = np.ones((1, 1), "float32")
    layer([x, mask, tau])
    layer.channel_mask_logits.assign(rng.normal(size=(6, 3, 2)).astype("float32"))
    sparse = layer.hard_channel_masks()
    assert 0 < sparse.sum() < sparse.size  # both kinds of channel in every test run
    got, sparsity = layer([x, mask, tau], training=False)
    want, macs = _official_sparse_smb(layer, x[0].astype(np.float64), mask[0, ..., 0] > 0.5)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(got)[0], want, rtol=1e-4, atol=1e-4)
    assert layer.sparse_macs(mask[0]) == macs
    assert layer.count_macs([x.shape, mask.shape, tau.shape]) == 9 * 11 * (9 * 5 * 6 + 2 * 9 * 36 + 3 * 6 * 6)
    assert layer.sparse_macs(np.ones((9, 11))) == layer.count_macs([x.shape])  # a full mask costs the dense pass
    # the regularization term at inference: share of the L*C maps computed
    share = mask.mean() * sparse.mean() + (1 - sparse.mean())
    assert float(keras.ops.convert_to_numpy(sparsity)[0, 0]) == pytest.approx(share, rel=1e-5)


def test_training_uses_soft_masks_and_hard_masks_at_inference():
    rng = np.random.default_rng(1)
    module = SparseMaskModule(filters=8, num_layers=2, reduction=2, seed=3)
    x = rng.normal(size=(2, 6, 7, 8)).astype("float32")
    tau = np.full((2, 1), 0.7, "float32")
    _, soft, _ = module([x, tau], training=True)
    out, hard, sparsity = module([x, tau], training=False)
    soft, hard = keras.ops.convert_to_numpy(soft), keras.ops.convert_to_numpy(hard)
    assert soft.shape == hard.shape == (2, 6, 7, 1) and out.shape == x.shape
    assert set(np.unique(hard)) <= {0.0, 1.0} and len(np.unique(soft)) > 2
    logits = keras.ops.convert_to_numpy(module.mask_logits(x))
    np.testing.assert_array_equal(hard[..., 0], (logits[..., 1] > logits[..., 0]).astype("float32"))
    assert keras.ops.convert_to_numpy(sparsity).shape == (2, 1)


def test_mask_cnn_padding_changes_nothing_at_even_sizes():
    module = SparseMaskModule(filters=8, num_layers=1, reduction=2)
    x = np.random.default_rng(2).normal(size=(1, 8, 10, 8)).astype("float32")
    module([x, np.ones((1, 1), "float32")])
    y = keras.ops.relu(module.mask_conv_1(x))
    y = keras.ops.relu(module.mask_conv_2(module.mask_pool(y)))
    official = keras.ops.convert_to_numpy(module.mask_up(y))[:, 1:9, 1:11]  # PyTorch padding=1, output_padding=1
    np.testing.assert_allclose(keras.ops.convert_to_numpy(module.mask_logits(x)), official, rtol=1e-5, atol=1e-6)


def test_sparsity_loss_weight_grows_over_the_warmup_epochs():
    loss = SparsityLoss(lambda0=0.1, warmup_epochs=50, epoch_steps=1000)
    assert [float(loss.weight(s)) for s in (0, 999, 1000, 25_000, 50_000, 90_000)] == pytest.approx(
        [0.0, 0.0, 0.002, 0.05, 0.1, 0.1])
    hr = np.full((2, 4, 4, 3), 50.0, "float32")
    out = {"sr": hr + 1.0, "sparsity": np.full((2, 1), 0.5, "float32")}
    assert float(loss(hr, out, step=50_000)) == pytest.approx(1.0 + 0.1 * 0.5)


def test_sparse_inference_of_a_whole_model_counts_fewer_macs_than_dense():
    model = models.build("smsr", scale=2, filters=8, num_modules=2, num_layers=2, reduction=2, seed=0)
    lr = np.random.default_rng(4).uniform(0, 255, (10, 13, 3)).astype("float32")
    result = smsr_upscale(model, lr)
    np.testing.assert_allclose(result.sr, keras.ops.convert_to_numpy(model(lr[None], training=False))[0],
                               rtol=1e-5, atol=1e-3)
    bodies = [m.body for m in model.layers if isinstance(m, SparseMaskModule)]
    dense_bodies = sum(b.count_macs([(1, 10, 13, 8)]) for b in bodies)
    sparse_bodies = sum(b.sparse_macs(mask) for b, mask in zip(bodies, result.spatial_masks))
    assert result.macs == result.dense_macs - dense_bodies + sparse_bodies
    assert result.macs <= result.dense_macs and len(result.spatial_masks) == 2


def test_recipe_defaults_and_training_steps_advance_the_temperature():
    from keras_sr.recipes.smsr import SMSRRecipe
    from keras_sr.training.engine import compile_model
    from keras_sr.training.multi_output import MultiOutputTrainer, inference_weights

    recipe = SMSRRecipe.for_scale(4)
    assert (recipe.patch_size, SMSRRecipe.for_scale(2).patch_size, recipe.batch_size, recipe.learning_rate) == (
        24, 48, 16, 2e-4)
    assert recipe.learning_rate_at(200_001) == pytest.approx(1e-4) and recipe.steps == 1_000_000
    assert recipe.epoch_steps == 1000  # Keras epochs: the checkpoint / validation grid (not shadowed)
    assert (recipe.tau_minimum, recipe.tau_anneal_epochs, recipe.sparsity_weight, recipe.iterations_per_epoch) == (
        0.4, 500, 0.1, 1000)
    # What the engine builds for recipes.smsr: the dict-output network inside MultiOutputTrainer (fit, eager here)
    tiny = SMSRRecipe.for_scale(2, filters=4, num_modules=1, num_layers=2, reduction=2, batch_size=2, steps=3,
                                iterations_per_epoch=1, tau_anneal_epochs=2, sparsity_warmup_epochs=1,
                                jit_compile="off")
    network = models.build("smsr", **tiny.train_model_config())
    exported = models.build("smsr", **tiny.model_config())
    assert [w.path for w in network.weights] == [w.path for w in exported.weights]
    trainer = compile_model(MultiOutputTrainer(network, tiny.training_loss()), tiny)
    trainer.run_eagerly = True
    rng = np.random.default_rng(6)
    lr = rng.uniform(0, 255, (6, 8, 8, 3)).astype("float32")
    hr = rng.uniform(0, 255, (6, 16, 16, 3)).astype("float32")
    logs = trainer.fit(lr, hr, batch_size=2, epochs=1, verbose=0).history
    assert np.isfinite(logs["loss"][-1])
    temperature = network.get_layer("temperature")
    assert float(keras.ops.convert_to_numpy(temperature.step)) == 3.0 and temperature.temperature_at(3) == 0.4
    exported.set_weights(inference_weights(trainer))  # the engine's hand-over to the exported model
    assert float(keras.ops.convert_to_numpy(exported.get_layer("temperature").step)) == 3.0
