"""SRNTT, E2ENT and CIMR-SR (the texture-swap family): official SRNTT parameter counts, PatchSwap against a
numpy oracle of the official swap, several references, attention over references.

Full-size models are only built to count parameters; everything else uses tiny configs.
"""

import numpy as np
import pytest

import keras
from keras import ops

from keras_sr import models
from keras_sr.layers.fold_references import FoldReferences
from keras_sr.layers.patch_swap import PatchSwap
from keras_sr.layers.reference_attention import ReferenceAttention
from keras_sr.layers.repeat_per_reference import RepeatPerReference
from keras_sr.layers.similarity_gate import SimilarityGate
from keras_sr.models import srntt as srntt_module

TINY = dict(num_res_blocks=2, content_blocks=1, n_feats=8, vgg_widths=(4, 8, 16), chunk_size=16)


def np_(x):
    return np.asarray(ops.convert_to_numpy(x))


def trainable(model):
    return sum(int(np.prod(w.shape)) for w in model.trainable_weights)


def test_srntt_parameter_count_matches_official():
    model = models.build("srntt")
    # Official ZZUTK/SRNTT SRNTT/model.py SRNTT.model (num_res_blocks 16, 64 features), counted layer by layer:
    # content extractor conv 3->64 (bias) + 16 BN residual blocks (convs without bias: b_init=None; BN gamma and
    # beta) + conv/BN = 1,222,528; texture_transfer (the trained `var_g`) small/medium/large with 16/8/4 blocks =
    # 2,865,347; together the "about 4.1M" of the RefSR tables (standard_tables.md: SRNTT-rec ~4.1M).
    assert trainable(model.get_layer("content_extractor")) == 1_222_528
    assert trainable(model.get_layer("texture_transfer")) == 2_865_347
    assert trainable(model) == srntt_module.official_parameter_count() == 4_087_875
    assert abs(trainable(model) - 4.1e6) / 4.1e6 < 0.01
    # BN moving statistics (33 + 59 BN layers x 128) and the fixed VGG19 relu1_1..relu3_1 are not trainable.
    assert sum(int(np.prod(w.shape)) for w in model.non_trainable_weights) == 11_776 + 555_328
    assert not model.get_layer("vgg19").trainable_weights
    # The content extractor's x4 pre-training head (two sub-pixel steps + 1x1 conv) and the weighted variant.
    assert srntt_module.official_parameter_count(upscale_head=True) == 4_087_875 + 295_619
    assert srntt_module.official_parameter_count(weighted=True) == 4_087_881


def test_tiny_formula_and_family_counts_match_the_builds():
    model = models.build("srntt", **TINY)
    formula = srntt_module.official_parameter_count(2, 1, 8, (4, 8, 16))
    assert trainable(model) == formula
    assert trainable(models.build("srntt", weighted=True, **TINY)) == formula + 6  # official a/b per level
    # E2ENT and CIMR-SR have no official code; their docstrings give the counts of our builds at full size
    # (E2ENT 4,087,881 + 555,328, CIMR 4,087,875 + 6), which follow these relations:
    vgg = trainable(models.build("srntt", train_vgg=True, **TINY)) - formula
    assert vgg == 3 * 9 * 4 + 4 + 9 * 4 * 4 + 4 + 9 * 4 * 8 + 8 + 9 * 8 * 8 + 8 + 9 * 8 * 16 + 16  # VGG19 to relu3_1
    assert trainable(models.build("e2ent", **TINY)) == formula + 6 + vgg  # the learned matching extractor + gates
    assert trainable(models.build("cimr", **TINY)) == formula + 6          # 2 attention scalars per level


def _valid_patches(x, size, stride):
    h, w = x.shape[:2]
    return [(r, c, x[r:r + size, c:c + size]) for r in range(0, h - size + 1, stride)
            for c in range(0, w - size + 1, stride)]


def swap_oracle(content, conditions, styles_by_level):
    """The official `conditional_swap_multi_layer` in plain numpy: loops over valid 3x3 patches of every reference.

    content (H, W, C); conditions: K arrays (Hk, Wk, C); styles_by_level: [(ratio, K arrays)] with ratio 1, 2, 4.
    """
    keys = [(k, r, c, p) for k, cond in enumerate(conditions) for r, c, p in _valid_patches(cond, 3, 1)]
    key_matrix = np.stack([p.ravel() / np.linalg.norm(p) for _, _, _, p in keys])
    h, w = content.shape[:2]
    best = {}
    for r, c, p in _valid_patches(content, 3, 1):
        best[(r, c)] = keys[int(np.argmax(key_matrix @ p.ravel()))][:3]
    outputs = []
    for ratio, styles in styles_by_level:
        target = np.zeros((h * ratio, w * ratio, styles[0].shape[-1]))
        count = np.zeros((h * ratio, w * ratio, 1))
        size = 3 * ratio
        for (r, c), (k, kr, kc) in best.items():
            target[r * ratio:r * ratio + size, c * ratio:c * ratio + size] += \
                styles[k][kr * ratio:kr * ratio + size, kc * ratio:kc * ratio + size]
            count[r * ratio:r * ratio + size, c * ratio:c * ratio + size] += 1
        outputs.append(target / count)
    return outputs


@pytest.mark.parametrize("num_refs", [1, 2])
def test_patch_swap_equals_the_official_swap(rng, num_refs):
    h, w, hk, wk = 5, 6, 4, 7
    query = rng.uniform(0, 1, (1, h, w, 3)).astype("float32")
    key = rng.uniform(0, 1, (num_refs, hk, wk, 3)).astype("float32")
    values = [rng.uniform(0, 1, (num_refs, hk * s, wk * s, c)).astype("float32") for s, c in ((4, 2), (2, 3), (1, 3))]
    t3, t2, t1, similarity = PatchSwap(chunk_size=4)([query, key, *values])
    expected = swap_oracle(query[0], list(key), [(1, list(values[2])), (2, list(values[1])), (4, list(values[0]))])
    for got, want in zip((t3, t2, t1), expected):
        np.testing.assert_allclose(np_(got)[0], want, rtol=1e-5, atol=1e-5)
    s = np_(similarity)
    assert s.shape == (1, h, w, 1) and np.all(s <= 1 + 1e-5) and np.all(s > 0)
    np.testing.assert_array_equal(s[0, 0], s[0, 1])  # edge-padded as the official np.pad(weights, 1, 'edge')


def test_pooled_matching_finds_the_reference_holding_the_content(rng):
    query = rng.uniform(0, 1, (1, 6, 6, 4)).astype("float32")
    noise = rng.uniform(0, 1, (1, 6, 6, 4)).astype("float32")
    key = np.concatenate([noise, query])  # reference 1 holds the query itself
    values = [np.stack([np.full((6 * s, 6 * s, 2), float(k), "float32") for k in range(2)]) for s in (4, 2, 1)]
    t3, t2, t1, similarity = PatchSwap()([query, key, *values])
    for t in (t3, t2, t1):
        np.testing.assert_allclose(np_(t), 1.0, atol=1e-6)  # every patch came from reference 1
    np.testing.assert_allclose(np_(similarity), 1.0, atol=1e-5)
    unpooled = PatchSwap(pool_references=False)
    per_ref = unpooled([np.concatenate([query, query]), key, *values])
    np.testing.assert_allclose(np_(per_ref[0])[0], 0.0, atol=1e-6)  # row 0 may only use reference 0


def test_folding_repeat_and_attention_layers():
    refs = np.arange(2 * 3 * 2 * 2 * 1, dtype="float32").reshape(2, 3, 2, 2, 1)
    folded = np_(FoldReferences()(refs))
    assert folded.shape == (6, 2, 2, 1)
    np.testing.assert_array_equal(folded[4], refs[1, 1])
    x = np.array([[[[1.0]]], [[[2.0]]]], "float32")
    np.testing.assert_array_equal(np_(RepeatPerReference()([x, refs]))[:, 0, 0, 0], [1, 1, 1, 2, 2, 2])
    textures = np.stack([np.full((4, 4, 2), v, "float32") for v in (0.0, 1.0, 5.0, 7.0)])  # B=2, K=2
    similarity = np.stack([np.full((2, 2, 1), s, "float32") for s in (0.2, 0.9, 0.5, 0.5)])
    out = np_(ReferenceAttention(scale=2)([textures, similarity, np.zeros((2, 1, 1, 1), "float32")]))
    assert out.shape == (2, 4, 4, 2)
    w = 1.0 / (1.0 + np.exp(-(10 * 0.7 + 10 * 0.7)))  # softmax weight of the better reference of item 0
    np.testing.assert_allclose(out[0], w * 1.0, rtol=1e-5)
    np.testing.assert_allclose(out[1], 6.0, rtol=1e-5)  # equal similarities: the mean
    gate = SimilarityGate(scale=1)
    np.testing.assert_allclose(np_(gate([np.ones((1, 2, 2, 1), "float32"), np.zeros((1, 2, 2, 1), "float32")])), 0.5)


@pytest.mark.parametrize("name", ["srntt", "e2ent", "cimr"])
def test_tiny_models_take_one_or_several_references(name, rng):
    module = {"srntt": srntt_module}.get(name) or __import__(f"keras_sr.models.{name}", fromlist=["x"])
    config = dict(TINY)
    model = models.build(name, **config)
    lr = rng.integers(0, 256, (6, 7, 3), dtype=np.uint8)
    ref_a = rng.integers(0, 256, (28, 20, 3), dtype=np.uint8)
    ref_b = rng.integers(0, 256, (24, 32, 3), dtype=np.uint8)
    single = module.prepare_inputs(lr, ref_a)
    assert single["refs"].shape == (1, 1, 28, 20, 3) and single["lr_up"].shape == (1, 24, 28, 3)
    stacked = module.prepare_inputs(lr, [ref_a, ref_b])
    assert stacked["refs"].shape == stacked["refs_down_up"].shape == (1, 2, 28, 32, 3)  # mirror-padded to 28x32
    np.testing.assert_array_equal(stacked["refs"][0, 0, :, :20], ref_a)
    np.testing.assert_array_equal(stacked["refs"][0, 0, :, 20:], ref_a[:, ::-1][:, :12])
    out1, out2 = np_(model(single)), np_(model(stacked))
    assert out1.shape == out2.shape == (1, 24, 28, 3) and np.isfinite(out2).all()
    np.testing.assert_allclose(np_(model(module.prepare_inputs(lr, [ref_a]))), out1, rtol=1e-6)
    if name == "cimr":  # the reference order does not matter to the attention
        swapped = np_(model(module.prepare_inputs(lr, [ref_b, ref_a])))
        np.testing.assert_allclose(swapped, out2, rtol=1e-4, atol=1e-3)


def test_tensorflow_graph_with_unknown_sizes_and_reference_count(rng):
    if keras.backend.backend() != "tensorflow":
        pytest.skip("TensorFlow graph tracing")
    import tensorflow as tf

    model = models.build("cimr", **TINY)
    lr = rng.integers(0, 256, (6, 7, 3), dtype=np.uint8)
    inputs = srntt_module.prepare_inputs(lr, [rng.integers(0, 256, (24, 28, 3), dtype=np.uint8)] * 2)
    spec = {k: tf.TensorSpec((None,) * (v.ndim - 1) + (3,), tf.float32) for k, v in inputs.items()}
    graph_call = tf.function(model.__call__, input_signature=[spec])
    np.testing.assert_allclose(graph_call(inputs).numpy(), np_(model(inputs)), rtol=1e-5, atol=1e-3)


def test_frozen_vgg_does_not_move_in_a_training_step(rng):
    model = models.build("srntt", **TINY)
    inputs = srntt_module.prepare_inputs(rng.integers(0, 256, (6, 7, 3), dtype=np.uint8),
                                         rng.integers(0, 256, (24, 28, 3), dtype=np.uint8))
    vgg = [np_(w).copy() for w in model.get_layer("vgg19").weights]
    texture = [np_(w).copy() for w in model.get_layer("texture_transfer").trainable_weights]
    model.compile(optimizer=keras.optimizers.SGD(1e-2), loss="mae", run_eagerly=True)
    model.train_on_batch(inputs, rng.uniform(0, 255, (1, 24, 28, 3)).astype("float32"))
    assert all(np.array_equal(a, np_(b)) for a, b in zip(vgg, model.get_layer("vgg19").weights))
    moved = [not np.array_equal(a, np_(b)) for a, b in zip(texture, model.get_layer("texture_transfer").trainable_weights)]
    assert sum(moved) > len(moved) // 2
