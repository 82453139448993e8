"""SSEN (paper-based: no official code): the similarity-aware alignment, its non-local blocks, the model."""

import numpy as np
import pytest

import keras
from keras import ops

from keras_sr import models
from keras_sr.layers.non_local_block import NonLocalBlock
from keras_sr.layers.similarity_aware_alignment import SimilarityAwareAlignment
from keras_sr.models import ssen as ssen_module

TINY = dict(n_feats=8, num_blocks=1, feature_blocks=1, deformable_groups=2)


def np_(x):
    return np.asarray(ops.convert_to_numpy(x))


def test_parameter_count_of_our_build():
    # No official SSEN code exists; this is the count of our build at its defaults (64 features, 16 body blocks,
    # 4 blocks per feature extractor, 3 DCNs with 8 groups), documented in keras_sr/models/ssen.py.
    model = models.build("ssen")
    assert model.count_params() == 3_907_659
    assert model.get_layer("ssen").count_params() == 1_199_304
    f = 64
    nonlocal_block = 3 * (f * f // 2 + f // 2) + (f // 2 * f + f)
    dcn = 9 * f * f + f + 9 * f * 8 * 27 + 8 * 27  # kernel + bias + offset/mask conv
    stage = (9 * 2 * f * f + f) + 4 * (9 * f * f + f) + 2 * nonlocal_block + dcn
    assert model.get_layer("ssen").count_params() == 3 * stage


def test_non_local_block_starts_as_identity_and_attends(rng):
    x = rng.normal(size=(2, 3, 5, 6)).astype("float32")
    block = NonLocalBlock(inner=4)
    np.testing.assert_allclose(np_(block(x)), x, atol=1e-6)  # W_z starts at zero
    assert block.count_params() == 3 * (6 * 4 + 4) + 4 * 6 + 6
    block.w_z.kernel.assign(np.ones_like(np_(block.w_z.kernel)))
    y = np_(block(x))
    moved = x.copy()
    moved[0, 0, 0] += 10.0  # a change at one position reaches every position of the same image only
    z = np_(block(moved))
    assert not np.allclose(z[0, 2, 4], y[0, 2, 4]) and np.allclose(z[1], y[1], atol=1e-6)


def test_alignment_shapes_on_odd_sizes_and_zero_offsets_at_init(rng):
    align = SimilarityAwareAlignment(8, num_dcn=3, deformable_groups=2)
    lr = rng.normal(size=(1, 7, 5, 8)).astype("float32")
    ref = rng.normal(size=(1, 7, 5, 8)).astype("float32")
    out = np_(align([lr, ref]))
    assert out.shape == (1, 7, 5, 8) and len(align.dcns) == 3
    offsets, masks = align.dcns[0].offsets_and_masks(ref, offset_features=align.offset_features(0, lr, ref))
    np.testing.assert_allclose(np_(offsets), 0.0)  # zero-initialized offsets: a plain conv with masks 0.5
    np.testing.assert_allclose(np_(masks), 0.5)
    config = align.get_config()
    assert SimilarityAwareAlignment.from_config(config).get_config() == config
    with pytest.raises(ValueError, match="needs 8-channel features"):
        SimilarityAwareAlignment(8, num_dcn=1, deformable_groups=2)([lr, ref[..., :4]])


def test_tiny_model_prepare_inputs_and_one_step(rng):
    model = models.build("ssen", **TINY)
    lr = rng.integers(0, 256, (6, 7, 3), dtype=np.uint8)
    inputs, (h, w) = ssen_module.prepare_inputs(lr, rng.integers(0, 256, (40, 36, 3), dtype=np.uint8))
    assert (h, w) == (24, 28) and inputs["ref"].shape == (1, 24, 28, 3)  # resized to the HR size
    out = np_(model(inputs))
    assert out.shape == (1, 24, 28, 3) and np.isfinite(out).all()
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="mae", run_eagerly=True)
    before = np_(model.get_layer("ssen").dcns[0].conv_offset_mask.kernel).copy()
    model.train_on_batch(inputs, rng.uniform(0, 255, (1, 24, 28, 3)).astype("float32"))
    assert not np.array_equal(before, np_(model.get_layer("ssen").dcns[0].conv_offset_mask.kernel))
    with pytest.raises(ValueError, match="x4"):
        models.build("ssen", scale=2)
    with pytest.raises(ValueError, match="RGB"):
        ssen_module.prepare_inputs(lr, lr[..., 0])
