"""ClassSR: official parameter counts, the FSRCNN branch's deconvolution alignment, routing, losses, the
sub-image inference with its MACs, the MACs counter against hand counts, recipes and one engine run."""

import numpy as np
import pytest

import keras

from keras_sr import models
from keras_sr.analysis.flops import count_macs
from keras_sr.dynamic_inference import classsr_upscale, merge_patches, patch_starts, split_patches
from keras_sr.layers.class_routing import ClassRouting
from keras_sr.training.adaptive_losses import BranchLoss, ClassSRLoss, average_loss, class_loss

TINY = dict(branch_widths=(2, 3, 4), s=2, m=1, classifier_filters=4, classifier_features=4)


def _weights(model):
    return sum(int(np.prod(w.shape)) for w in model.weights)


def test_parameter_counts_match_the_official_models():
    # Counted on the official PyTorch modules (XPixelGroup/ClassSR classSR_3class_fsrcnn_net / _rcan).
    fsrcnn = models.build("classsr", base="fsrcnn")
    assert _weights(fsrcnn.get_layer("classifier")) == 60_035
    assert [_weights(fsrcnn.get_layer(f"branch_{k}")) for k in (1, 2, 3)] == [10_755, 17_635, 24_515]
    assert fsrcnn.count_params() == 112_940
    # RCAN base: every residual group and every RCAB of a width is the same, so the count is affine in the
    # groups G and in G * B; three tiny builds give it exactly, evaluated at the official G = 10, B = 20
    # (building the three 200-RCAB branches takes minutes on 2 CPU cores).
    def rcan_counts(g, b):
        model = models.build("classsr", base="rcan", num_groups=g, num_blocks=b)
        return np.array([_weights(model.get_layer(f"branch_{k}")) for k in (1, 2, 3)] + [model.count_params()])

    c11, c12, c21 = rcan_counts(1, 1), rcan_counts(1, 2), rcan_counts(2, 1)
    per_block, per_group = c12 - c11, c21 - c11 - (c12 - c11)
    official = c11 + 9 * per_group + (10 * 20 - 1) * per_block
    # official 4,940,707 / 9,521,827 / 15,592,379: each also holds two 12-parameter MeanShift convs
    assert list(official[:3] + 24) == [4_940_707, 9_521_827, 15_592_379]
    assert official[3] + 72 == 30_114_948
    with pytest.raises(ValueError, match="x4 only"):
        models.build("classsr", scale=2)


def _torch_transposed_conv(x, w, stride=4, padding=3, output_padding=1):
    """numpy `torch.nn.ConvTranspose2d` (HWC input, kernel (k, k, out, in) as Keras stores it)."""
    h, wd, _ = x.shape
    k = w.shape[0]
    full = np.zeros(((h - 1) * stride + k, (wd - 1) * stride + k, w.shape[2]))
    for i in range(h):
        for j in range(wd):
            full[i * stride:i * stride + k, j * stride:j * stride + k] += np.einsum("abod,d->abo", w, x[i, j])
    oh = (h - 1) * stride - 2 * padding + k + output_padding
    ow = (wd - 1) * stride - 2 * padding + k + output_padding
    return full[padding:padding + oh, padding:padding + ow]


def test_fsrcnn_branch_deconvolution_is_pytorchs_padding_3_output_padding_1():
    branch = models.build("classsr", **TINY).get_layer("branch_1")
    rng = np.random.default_rng(0)
    features = rng.normal(size=(1, 3, 5, 2)).astype("float32")
    deconv, crop = branch.get_layer("deconv"), branch.get_layer("deconv_crop")
    deconv.bias.assign(np.zeros(3, "float32"))
    got = keras.ops.convert_to_numpy(crop(deconv(features)))[0]
    want = _torch_transposed_conv(features[0], keras.ops.convert_to_numpy(deconv.kernel))
    assert got.shape == (12, 20, 3)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def test_routing_is_soft_in_training_and_the_argmax_branch_at_inference():
    rng = np.random.default_rng(1)
    logits = rng.normal(size=(4, 3)).astype("float32")
    ys = [rng.normal(size=(4, 2, 2, 3)).astype("float32") for _ in range(3)]
    route = ClassRouting()
    p = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
    soft = sum(p[:, k, None, None, None] * ys[k] for k in range(3))
    np.testing.assert_allclose(keras.ops.convert_to_numpy(route([logits, *ys], training=True)), soft, rtol=1e-5)
    hard = np.stack([ys[k][i] for i, k in enumerate(logits.argmax(-1))])
    np.testing.assert_allclose(keras.ops.convert_to_numpy(route([logits, *ys], training=False)), hard)
    assert ClassRouting.from_config(ClassRouting(True).get_config()).stop_branch_gradients


def test_class_and_average_losses_follow_the_official_formulas():
    p = np.array([[0.7, 0.2, 0.1], [0.1, 0.1, 0.8], [1 / 3, 1 / 3, 1 / 3], [0.0, 1.0, 0.0]], "float32")
    # official class_loss_3class: mean_i (2 - |p0-p1| - |p0-p2| - |p1-p2|)
    want = np.mean([2 - abs(r[0] - r[1]) - abs(r[0] - r[2]) - abs(r[1] - r[2]) for r in p])
    assert float(class_loss(p)) == pytest.approx(want, rel=1e-6)
    assert float(class_loss(np.eye(3, dtype="float32"))) == pytest.approx(0.0)
    # official average_loss_3class: sum_k |sum_i p_ik - n/3| / (n/3 * 4)
    n = len(p)
    assert float(average_loss(p)) == pytest.approx(np.abs(p.sum(0) - n / 3).sum() / (n / 3 * 4), rel=1e-6)
    assert float(average_loss(np.eye(3, dtype="float32"))) == pytest.approx(0.0, abs=1e-7)
    hr = np.full((4, 8, 8, 3), 100.0, "float32")
    outputs = {"sr": hr + 2.55, "class_probabilities": p}
    total = ClassSRLoss(1000, 0.5, 3)(hr, outputs)
    assert float(total) == pytest.approx(10.0 + 0.5 * want + 3 * float(average_loss(p)), rel=1e-5)
    assert float(BranchLoss()(hr, {"sr_branch_1": hr + 1, "sr_branch_2": hr + 3, "sr": hr})) == pytest.approx(2.0)
    with pytest.raises(ValueError, match="class_probabilities"):
        ClassSRLoss()(hr, {"sr": hr})


def test_patch_grid_covers_the_image_and_merging_averages_overlaps():
    assert patch_starts(128, 32, 28) == [0, 28, 56, 84, 96]  # official grid 0..84, plus the border-aligned 96
    assert patch_starts(116, 32, 28) == [0, 28, 56, 84] and patch_starts(20, 32, 28) == [0]
    image = np.random.default_rng(2).uniform(0, 255, (45, 61, 3)).astype("float32")
    patches, positions = split_patches(image, 16, 12)
    assert patches.shape[1:] == (16, 16, 3)
    np.testing.assert_allclose(merge_patches(patches, positions, image.shape, 1), image, rtol=1e-6)
    ones = np.ones((2, 2, 4, 1), "float32")  # HR sub-images of LR 1x2 sub-images at x2
    merged = merge_patches(ones * np.array([2.0, 4.0])[:, None, None, None], [(0, 0), (0, 1)], (2, 6, 1), 2)
    np.testing.assert_allclose(merged[0], [[2], [2], [3], [3], [4], [4]])  # overlap of 2 HR columns averaged


def test_routed_inference_runs_only_the_chosen_branch_and_counts_its_macs():
    model = models.build("classsr", **TINY)
    lr = np.random.default_rng(3).uniform(0, 255, (40, 50, 3)).astype("float32")
    result = classsr_upscale(model, lr, patch=16, stride=12)
    patches, positions = split_patches(lr, 16, 12)
    # rows 0 12 24, columns 0 12 24 34
    assert result.sr.shape == (160, 200, 3) and len(result.classes) == len(patches) == 12
    # each sub-image's SR is the whole-image model's (hard routing) output on it; overlaps averaged
    expected = [keras.ops.convert_to_numpy(model(p[None], training=False))[0] for p in patches]
    np.testing.assert_allclose(result.sr, merge_patches(expected, positions, (160, 200, 3), 4), rtol=1e-4, atol=1e-3)
    classifier = count_macs(model.get_layer("classifier"), (16, 16, 3)).total
    branch = [count_macs(model.get_layer(f"branch_{k}"), (16, 16, 3)).total for k in (1, 2, 3)]
    counts = result.class_counts
    assert result.macs == 12 * classifier + sum(n * b for n, b in zip(counts, branch))
    assert result.baseline_macs == 12 * branch[2]
    large = classsr_upscale(model, lr, patch=16, stride=12, route="large")
    assert large.class_counts == [0, 0, 12] and large.macs == large.baseline_macs
    with pytest.raises(ValueError, match="route"):
        classsr_upscale(model, lr, route=5)


def test_macs_counter_matches_hand_counts():
    # FSRCNN(56, 12, 4) on a 32x32 RGB sub-image, by hand: head, shrink, 4 maps, expand, deconv
    hand = 1024 * (25 * 3 * 56 + 56 * 12 + 4 * 9 * 12 * 12 + 12 * 56)
    model = models.build("classsr", base="fsrcnn")
    large = model.get_layer("branch_3")
    assert count_macs(large, (32, 32, 3)).total == hand + 1024 * 81 * 56 * 3
    # thop / the paper count the deconvolution on its 128x128 output: 2 x 233.9M MACs = the paper's "468M"
    assert count_macs(large, (32, 32, 3), transposed="output").total == hand + 128 * 128 * 81 * 56 * 3 == 233_938_944
    assert count_macs(model.get_layer("classifier"), (32, 32, 3)).total == (
        8 * 8 * (16 * 3 * 128 + 3 * 128 * 128 + 128 * 32) + 32 * 3)
    report = count_macs(model, (32, 32, 3))
    assert report.within("branch_3") == hand + 1024 * 81 * 56 * 3 and report.within("branch_1") > 0
    inputs = keras.Input((None, None, 4))
    x = keras.layers.Conv2D(6, 3, strides=2, padding="same", groups=2)(inputs)
    x = keras.layers.DepthwiseConv2D(3, depth_multiplier=2, padding="same")(x)
    x = keras.layers.Dense(5)(x)
    report = count_macs(keras.Model(inputs, x), (10, 12, 4))
    assert [r[2] for r in report.rows] == [5 * 6 * 9 * 2 * 6, 5 * 6 * 9 * 12, 5 * 6 * 12 * 5]


def test_recipes_keep_the_official_settings():
    from keras_sr.recipes.classsr import ClassSRRecipe
    from keras_sr.recipes.classsr_branches import ClassSRBranchesRecipe

    fsrcnn = ClassSRRecipe.for_scale(4)
    assert (fsrcnn.batch_size, fsrcnn.learning_rate, fsrcnn.pixel_weight, fsrcnn.class_weight,
            fsrcnn.average_weight, fsrcnn.patch_size, fsrcnn.steps, fsrcnn.beta_2) == (96, 2e-4, 1000, 0.5, 3, 32,
                                                                                       200_000, 0.99)
    rcan = ClassSRRecipe.for_scale(4, base="rcan")
    assert (rcan.batch_size, rcan.learning_rate, rcan.pixel_weight, rcan.min_learning_rate) == (60, 3e-5, 1020, 2e-6)
    assert ClassSRRecipe.for_scale(4, base="rcan", batch_size=8).batch_size == 8
    assert fsrcnn.train_model_config() == {"scale": 4, "base": "fsrcnn", "intermediate_outputs": True,
                                           "freeze_branches": True}
    assert ClassSRBranchesRecipe.for_scale(4).learning_rate == 1e-3
    with pytest.raises(ValueError, match="x4 only"):
        ClassSRRecipe.for_scale(2)


def test_classifier_stage_trains_the_classifier_over_frozen_branches():
    # What the engine builds for recipes.classsr (train_model_config + training_loss): the network with every
    # output inside MultiOutputTrainer; one eager step moves the classifier only.
    from keras_sr.recipes.classsr import ClassSRRecipe
    from keras_sr.training.engine import compile_model
    from keras_sr.training.multi_output import MultiOutputTrainer, check_same_variables

    recipe = ClassSRRecipe.for_scale(4, branch_widths=(2, 3, 4), patch_size=8, batch_size=4, steps=1,
                                     learning_rate=1e-2, jit_compile="off")
    network = models.build("classsr", **recipe.train_model_config())
    exported = models.build("classsr", **recipe.model_config())
    check_same_variables(network, exported, ("train", "export"))
    assert [w.path for w in network.weights] == [w.path for w in exported.weights]
    trainer = compile_model(MultiOutputTrainer(network, recipe.training_loss()), recipe)
    trainer.run_eagerly = True
    rng = np.random.default_rng(5)
    lr = rng.uniform(0, 255, (4, 8, 8, 3)).astype("float32")
    hr = rng.uniform(0, 255, (4, 32, 32, 3)).astype("float32")
    before = {name: network.get_layer(name).get_weights() for name in ("classifier", "branch_1", "branch_3")}
    logs = trainer.fit(lr, hr, batch_size=4, epochs=1, verbose=0).history
    assert np.isfinite(logs["loss"][-1])
    for name, weights in before.items():
        moved = any(not np.array_equal(a, b) for a, b in zip(weights, network.get_layer(name).get_weights()))
        assert moved == (name == "classifier"), name
