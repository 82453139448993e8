"""DATSR: official parameter count (formula checked against built models), correspondence, deformable attention."""

import numpy as np
import pytest

import keras
from keras import ops

from keras_sr import models
from keras_sr.layers.correspondence import patch_flow
from keras_sr.layers.deformable_conv import DeformableConv2D
from keras_sr.layers.flow_similarity_correspondence import FlowSimilarityCorrespondence
from keras_sr.models import datsr as datsr_module

TINY = dict(ngf=8, groups=2, depths=(2,), num_heads=(2,), window_size=4, vgg_widths=(4, 8, 16),
            contrastive_widths=(4, 8, 16), chunk_size=16)


def np_(x):
    return np.asarray(ops.convert_to_numpy(x))


def _restoration_params(model):
    return sum(layer.count_params() for layer in model.layers
               if layer.name not in ("contrastive_extractor", "reference_vgg"))


def test_parameter_count_matches_official():
    # Official SwinUnetv3RestorationNet(ngf=128, n_blocks=8, groups=8, depths=[4, 4], num_heads=[4, 4],
    # window_size=8) (caojiezhang/DATSR, options/train/train_restoration_mse.yml), counted by instantiating
    # the official class: 18,026,971 (the 18.03M), of which ContentExtractor 2,364,928 is never used
    # by the forward pass; ContrasExtractorSep 1,110,656. The full model is not built here (about 10 s on
    # this CPU): the formula is checked against built models at two small configs instead.
    assert datsr_module.official_parameter_count() == 18_026_971
    assert datsr_module.official_parameter_count(include_unused=False) == 18_026_971 - 2_364_928 == 15_662_043
    for config in (TINY, dict(TINY, ngf=16, groups=4, depths=(2, 2), num_heads=(2, 4), window_size=4)):
        model = models.build("datsr", **config)
        expected = datsr_module.official_parameter_count(
            config["ngf"], groups=config["groups"], depths=config["depths"], num_heads=config["num_heads"],
            window_size=config["window_size"], vgg_widths=config["vgg_widths"], include_unused=False)
        assert _restoration_params(model) == expected
    assert model.get_layer("contrastive_extractor").count_params() == 2 * (3 * 9 * 4 + 4 + 9 * 4 * 4 + 4
                                                                            + 9 * 4 * 8 + 8 + 9 * 8 * 8 + 8
                                                                            + 9 * 8 * 16 + 16)


def test_correspondence_outputs(rng):
    f_in = rng.normal(size=(1, 6, 7, 4)).astype("float32")
    f_ref = rng.normal(size=(1, 6, 7, 4)).astype("float32")
    off4, flow4, sim4, off1, flow1, sim1 = FlowSimilarityCorrespondence((4, 1), chunk_size=8)([f_in, f_ref])
    flow, score = (np_(t) for t in patch_flow(f_in, f_ref))
    np.testing.assert_array_equal(np_(flow1), flow)
    np.testing.assert_allclose(np_(sim1)[0, 1:-1, 1:-1, 0], score[0], atol=1e-6)  # padded by one: patch centres
    assert np_(sim1)[0, 0].max() == 0 and np_(off1).shape == (1, 6, 7, 18)
    np.testing.assert_array_equal(np_(flow4), np.repeat(np.repeat(flow, 4, 1), 4, 2) * 4)
    np.testing.assert_array_equal(np_(sim4), np.repeat(np.repeat(np_(sim1), 4, 1), 4, 2))
    assert np_(off4).shape == (1, 24, 28, 18)


def test_deformable_attention_bounds_offsets_and_scales_masks(rng):
    """DATSR's DCN: offsets = 10 tanh(learned) + pre-offsets, masks = sigmoid(logits * similarity)."""
    dcn = DeformableConv2D(4, 3, deformable_groups=2, max_residue_magnitude=10.0,
                           offset_initializer=keras.initializers.RandomNormal(stddev=1.0))
    x = rng.normal(size=(1, 5, 6, 4)).astype("float32")
    guide = rng.normal(size=(1, 5, 6, 4)).astype("float32")
    pre = rng.normal(size=(1, 5, 6, 18)).astype("float32")
    sim = rng.uniform(size=(1, 5, 6, 1)).astype("float32")
    dcn(x, offset_features=guide, pre_offsets=pre, mask_scale=sim)
    raw = np_(dcn.conv_offset_mask(guide))
    offsets, masks = (np_(t) for t in dcn.offsets_and_masks(x, guide, pre, sim))
    np.testing.assert_allclose(offsets, 10 * np.tanh(raw[..., :36]) + np.tile(pre, (1, 1, 1, 2)), atol=1e-5)
    np.testing.assert_allclose(masks, 1 / (1 + np.exp(-raw[..., 36:] * sim)), atol=1e-6)
    clone = DeformableConv2D.from_config(dcn.get_config())
    assert clone.max_residue_magnitude == 10.0


def test_tiny_model_call_prepare_inputs_and_training_step(rng):
    model = models.build("datsr", **TINY)
    lr = rng.integers(0, 256, (9, 6, 3), dtype=np.uint8)
    inputs, (h, w) = datsr_module.prepare_inputs(lr, rng.integers(0, 256, (30, 50, 3), dtype=np.uint8))
    assert (h, w) == (36, 24)
    assert inputs["lr"].shape == (1, 16, 16, 3) and inputs["ref"].shape == inputs["lr_up"].shape == (1, 64, 64, 3)
    assert not model.get_layer("contrastive_extractor").trainable_weights
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="mae", run_eagerly=True)  # moves every nonzero gradient
    before = {w.path: np_(w).copy() for w in model.trainable_weights}
    loss = model.train_on_batch(inputs, rng.uniform(0, 255, (1, 64, 64, 3)).astype("float32"))
    assert np.isfinite(float(np.ravel(loss)[0]))
    unchanged = {p for p, b in before.items()
                 if np.array_equal(np_(next(w for w in model.trainable_weights if w.path == p)), b)}
    # As C2-Matching: the two convs feeding each zero-initialized offset/mask conv get no gradient on the
    # first step (W_offset^T dL/d(offsets) = 0); everything else moves.
    assert unchanged == {f"{stage}_offset_conv{i}/{v}" for stage, _ in datsr_module.STAGES for i in (1, 2)
                         for v in ("kernel", "bias")}
    with pytest.raises(ValueError, match="x4"):
        models.build("datsr", scale=2)


def test_recipe_defaults_and_learning_rate_groups():
    from keras_sr.recipes.datsr import DATSRRecipe

    r = DATSRRecipe.for_scale(4)
    assert (r.patch_size, r.ref_size, r.batch_size, r.steps, r.lr_milestones) == (40, 160, 9, 400_000,
                                                                                   (72_545, 211_040))
    assert (r.ngf, r.groups, r.depths, r.num_heads, r.window_size, r.seed) == (128, 8, (4, 4), (4, 4), 8, 10)
    assert (r.offset_relu3_learning_rate, r.offset_relu2_learning_rate) == (1e-6, 1e-5)
    model = models.build("datsr", **TINY)
    groups = {name: {v.path for v in variables} for name, _, variables in r.learning_rate_groups(model)}
    assert "up_small_offset_conv1/kernel" in groups["offset_relu3"]
    assert "up_small_dyn_agg/conv_offset_mask/kernel" in groups["offset_relu3"]
    assert "up_small_dyn_agg/kernel" not in groups["offset_relu3"]          # the DCN weight: main rate
    assert {"down_medium_offset_conv2/bias", "up_medium_dyn_agg/conv_offset_mask/bias"} <= groups["offset_relu2"]
    assert not any("large" in p for p in groups["offset_relu3"] | groups["offset_relu2"])
    with pytest.raises(ValueError, match="window_size"):
        DATSRRecipe.for_scale(4, patch_size=20)
