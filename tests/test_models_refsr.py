"""TTSR and C2-Matching models: official parameter counts, shapes, serialization, one training step.

Full-size models are only built to count parameters; everything else uses tiny configs.
"""

import numpy as np
import pytest

import keras
from keras import ops

from keras_sr import models
from keras_sr.models import c2_matching as c2_module
from keras_sr.models import ttsr as ttsr_module

TINY = {
    "ttsr": dict(num_res_blocks=(1, 1, 1, 1), n_feats=8, texture_widths=(4, 8, 16), chunk_size=16),
    "c2_matching": dict(ngf=8, n_blocks=1, groups=2, vgg_widths=(4, 8, 16), contrastive_widths=(4, 8, 16),
                        chunk_size=16),
}


def np_(x):
    return np.asarray(ops.convert_to_numpy(x))


def _variable(model, path):
    return next(w for w in model.trainable_weights if w.path == path)


def tiny_inputs(name, rng):
    """A 6x7 LR image; TTSR gets a reference of another size, C2-Matching one of the HR size."""
    lr = rng.integers(0, 256, (6, 7, 3), dtype=np.uint8)
    if name == "ttsr":
        return ttsr_module.prepare_inputs(lr, rng.integers(0, 256, (28, 20, 3), dtype=np.uint8))
    return c2_module.prepare_inputs(lr, rng.integers(0, 256, (24, 28, 3), dtype=np.uint8))[0]


def test_registered():
    assert {"ttsr", "c2_matching"} <= set(models.list_models())


def test_ttsr_parameter_count_matches_official():
    model = models.build("ttsr")
    # Official researchmm/TTSR model/MainNet.py (num_res_blocks 16+16+8+4, n_feats 64) + model/LTE.py
    # (VGG19 conv1_1..conv3_1), counted layer by layer in ttsr.official_parameter_count:
    # MainNet 6,174,275 + LTE 555,328 = 6,729,603 (the paper's 6.73M; the official model also holds
    # LTE's frozen 1x1 MeanShift conv, 12 values, a constant here).
    assert model.get_layer("main_net").count_params() == 6_174_275
    assert model.get_layer("lte").count_params() == 555_328
    assert model.count_params() == ttsr_module.official_parameter_count() == 6_729_603
    assert abs(model.count_params() - 6.73e6) / 6.73e6 < 0.01  # standard_tables.md: TTSR 6.73M


def test_c2_matching_parameter_counts_match_official():
    model = models.build("c2_matching")
    # Official yumingj/C2-Matching mmsr/models/archs/ref_restoration_arch.py RestorationNet(ngf=64,
    # n_blocks=16, groups=8) with DCN_sep_pre_multi_offset (options/train/stage3_restoration_mse.yml):
    # 8,865,547; contras_extractor_arch.py ContrasExtractorSep = 2 x VGG16 conv1_1..conv3_1 = 1,110,656.
    # standard_tables.md: C2-Matching restoration net 8.87M + 1.11M contrastive extractor.
    restoration = model.get_layer("restoration").count_params()
    extractor = model.get_layer("contrastive_extractor").count_params()
    assert restoration == c2_module.official_parameter_count() == 8_865_547
    assert extractor == 1_110_656
    assert abs(restoration - 8.87e6) / 8.87e6 < 0.01
    assert abs(extractor - 1.11e6) / 1.11e6 < 0.01
    # The official net_map's VGG19 (relu1_1..relu3_1), not counted in the paper's 9.98M.
    assert model.get_layer("reference_vgg").count_params() == 555_328
    assert model.count_params() == restoration + extractor + 555_328
    assert not model.get_layer("contrastive_extractor").trainable  # frozen in the restoration stage


@pytest.mark.parametrize("name", ["ttsr", "c2_matching"])
def test_tiny_model_shapes_and_range(name, rng):
    model = models.build(name, **TINY[name])
    inputs = tiny_inputs(name, rng)
    assert inputs["lr_up"].shape == (1, 24, 28, 3)
    out = np_(model(inputs))
    assert out.shape == (1, 24, 28, 3)
    assert np.isfinite(out).all()
    if name == "ttsr":
        assert out.min() >= 0.0 and out.max() <= 255.0  # the official clamp to [-1, 1]
    assert model.get_layer("restoration" if name == "c2_matching" else "main_net").count_params() > 0


def test_tiny_parameter_formulas_match_built_models():
    ttsr = models.build("ttsr", **TINY["ttsr"])
    assert ttsr.count_params() == ttsr_module.official_parameter_count((1, 1, 1, 1), 8, (4, 8, 16))
    c2 = models.build("c2_matching", **TINY["c2_matching"])
    assert c2.get_layer("restoration").count_params() == c2_module.official_parameter_count(8, 1, 2, (4, 8, 16))


def test_ttsr_chunking_does_not_change_the_output(rng):
    model = models.build("ttsr", **TINY["ttsr"])
    config = dict(TINY["ttsr"], chunk_size=None)
    unchunked = models.build("ttsr", **config)
    unchunked.set_weights(model.get_weights())
    inputs = tiny_inputs("ttsr", rng)
    np.testing.assert_allclose(np_(model(inputs)), np_(unchunked(inputs)), rtol=1e-5, atol=1e-4)


# The config round trip and `.keras` save/load (safe_mode=True) of both models, with the same tiny
# configs, are in tests/test_model_harness.py (keras_sr.testing.run_model_test).


@pytest.mark.parametrize("name,run_eagerly", [("ttsr", True), ("c2_matching", False)])
def test_one_training_step_l1(name, run_eagerly, rng):
    """One `train_on_batch` with L1 (the papers' reconstruction loss); graph mode for C2-Matching."""
    model = models.build(name, **TINY[name])
    inputs = tiny_inputs(name, rng)
    hr = rng.uniform(0, 255, (1, 24, 28, 3)).astype("float32")
    # Adam eagerly; plain SGD in graph mode (tracing Adam's slot updates doubles the step time on CPU).
    optimizer = keras.optimizers.Adam(1e-3) if run_eagerly else keras.optimizers.SGD(1e-2)
    model.compile(optimizer=optimizer, loss="mae", run_eagerly=run_eagerly, jit_compile=False)
    before = {w.path: np_(w).copy() for w in model.trainable_weights}
    loss = model.train_on_batch(inputs, hr)
    assert np.isfinite(float(np.ravel(loss)[0]))
    unchanged = {path for path in before if np.array_equal(np_(_variable(model, path)), before[path])}
    # Everything trainable moves (the texture extractor and reference VGG too: trained from scratch),
    # except, in C2-Matching, the two convs that feed the zero-initialized offset/mask conv of each
    # DCN: their gradient is W_offset^T * dL/d(offsets) = 0 on the first step, as in the official
    # network. The zero-initialized offset/mask convs themselves move (bilinear-weight gradients).
    expected = set()
    if name == "c2_matching":
        expected = {f"{stage}_dyn_agg/{conv}/{v}" for stage in ("small", "medium", "large")
                    for conv in ("offset_conv1", "offset_conv2") for v in ("kernel", "bias")}
        assert "small_dyn_agg/dyn_agg/conv_offset_mask/kernel" in before
        assert not model.get_layer("contrastive_extractor").trainable_weights
    assert unchanged == expected


def test_prepare_inputs_rules(rng):
    lr = rng.integers(0, 256, (5, 6, 3), dtype=np.uint8)
    ref = rng.integers(0, 256, (31, 18, 3), dtype=np.uint8)
    inputs = ttsr_module.prepare_inputs(lr, ref)
    assert inputs["ref"].shape == inputs["ref_down_up"].shape == (1, 28, 16, 3)  # cropped to multiples of 4
    assert inputs["lr_up"].shape == (1, 20, 24, 3)
    padded, (out_h, out_w) = c2_module.prepare_inputs(lr, ref)
    assert (out_h, out_w) == (20, 24)
    assert padded["ref"].shape == padded["lr_up"].shape == (1, 28, 24, 3)
    assert padded["lr"].shape == (1, 7, 6, 3)
    with pytest.raises(ValueError, match="RGB"):
        ttsr_module.prepare_inputs(lr[..., 0], ref)
    with pytest.raises(ValueError, match="x4"):
        models.build("ttsr", scale=2)


@pytest.mark.parametrize("name", ["ttsr", "c2_matching"])
def test_tensorflow_graph_with_unknown_image_sizes(name, rng):
    """SavedModel/TFLite export traces with `(None, None, None, 3)` inputs: every op must allow it."""
    if keras.backend.backend() != "tensorflow":
        pytest.skip("TensorFlow graph tracing")
    import tensorflow as tf

    model = models.build(name, **TINY[name])
    inputs = tiny_inputs(name, rng)
    spec = {key: tf.TensorSpec((None, None, None, 3), tf.float32) for key in inputs}
    graph_call = tf.function(model.__call__, input_signature=[spec])
    np.testing.assert_allclose(graph_call(inputs).numpy(), np_(model(inputs)), rtol=1e-5, atol=1e-4)
