"""SwinIR / HAT layers against numpy references; any-size inputs. Backend-agnostic (re-run on JAX and PyTorch)."""

import numpy as np
import pytest

import keras
from keras import ops

from keras_sr import models
from keras_sr.layers import (CropToScaledSize, PadToMultiple, ResidualSwinTransformerBlock, SwinTransformerBlock,
                             WindowAttention)
from keras_sr.layers.window_attention import (relative_position_index, shifted_window_mask, window_partition,
                                              window_reverse)


def official_mask(h, w, m, s):
    """The official `calculate_mask` (SwinIR/HAT), in numpy."""
    img = np.zeros((h, w))
    cnt = 0
    for hs in (slice(0, -m), slice(-m, -s), slice(-s, None)):
        for ws in (slice(0, -m), slice(-m, -s), slice(-s, None)):
            img[hs, ws] = cnt
            cnt += 1
    windows = img.reshape(h // m, m, w // m, m).transpose(0, 2, 1, 3).reshape(-1, m * m)
    diff = windows[:, None, :] - windows[:, :, None]
    return np.where(diff != 0, -100.0, 0.0)


def official_index(m):
    coords = np.stack(np.meshgrid(np.arange(m), np.arange(m), indexing="ij")).reshape(2, -1)
    rel = (coords[:, :, None] - coords[:, None, :]).transpose(1, 2, 0) + (m - 1)
    rel[:, :, 0] *= 2 * m - 1
    return rel.sum(-1)


def np_(x):
    return keras.ops.convert_to_numpy(x)


def test_partition_reverse_mask_and_index_equal_the_official_algorithms():
    x = np.random.default_rng(0).normal(size=(2, 8, 12, 3)).astype("float32")
    windows = np_(window_partition(x, 4))
    assert windows.shape == (2 * 2 * 3, 16, 3)
    np.testing.assert_array_equal(windows[4], x[0, 4:8, 4:8].reshape(16, 3))  # image 0, window row 1, column 1
    np.testing.assert_array_equal(np_(window_reverse(windows, 4, 8, 12)), x)
    for h, w, m, s in [(8, 12, 4, 2), (16, 16, 8, 4), (8, 8, 8, 4)]:
        np.testing.assert_array_equal(np_(shifted_window_mask(h, w, m, s)), official_mask(h, w, m, s))
    for m in (4, 8):
        np.testing.assert_array_equal(relative_position_index(m), official_index(m))


def test_window_attention_equals_numpy_reference():
    rng = np.random.default_rng(1)
    layer = WindowAttention(num_heads=2, window_size=2)
    x = rng.normal(size=(4, 4, 6)).astype("float32")
    layer.build(x.shape)
    for weight in layer.weights:
        weight.assign(rng.normal(0, 0.5, size=tuple(weight.shape)).astype("float32"))
    mask = np.where(rng.uniform(size=(2, 4, 4)) > 0.7, -100.0, 0.0).astype("float32")
    out = np_(layer(x, attention_mask=mask))
    qkv = x @ np_(layer.qkv.kernel) + np_(layer.qkv.bias)
    table = np_(layer.relative_position_bias_table)[official_index(2).reshape(-1)].reshape(4, 4, 2).transpose(2, 0, 1)
    heads = []
    for head in range(2):
        q, k, v = (qkv[..., part * 6 + head * 3: part * 6 + head * 3 + 3] for part in range(3))
        logits = (q / np.sqrt(3)) @ k.transpose(0, 2, 1) + table[head] + np.tile(mask, (2, 1, 1))
        weights = np.exp(logits - logits.max(-1, keepdims=True))
        heads.append((weights / weights.sum(-1, keepdims=True)) @ v)
    expected = np.concatenate(heads, -1) @ np_(layer.proj.kernel) + np_(layer.proj.bias)
    np.testing.assert_allclose(out, expected, atol=1e-5)


def test_layers_round_trip_their_configs():
    for layer in [WindowAttention(3, 4, qkv_bias=False), SwinTransformerBlock(2, 4, shift_size=2, mlp_ratio=1.5),
                  ResidualSwinTransformerBlock(2, 2, 4, resi_connection="3conv"), PadToMultiple(8),
                  CropToScaledSize(3)]:
        clone = type(layer).from_config(layer.get_config())
        assert clone.get_config() == layer.get_config()
    with pytest.raises(ValueError, match="shift_size"):
        SwinTransformerBlock(2, 4, shift_size=4)
    with pytest.raises(ValueError, match="resi_connection"):
        ResidualSwinTransformerBlock(2, 2, 4, resi_connection="2conv")


def test_pad_reflects_and_crop_undoes_it():
    x = np.arange(5 * 6, dtype="float32").reshape(1, 5, 6, 1)
    padded = np_(PadToMultiple(4)(x))
    assert padded.shape == (1, 8, 8, 1)
    np.testing.assert_array_equal(padded[0, :, :, 0], np.pad(x[0, :, :, 0], ((0, 3), (0, 2)), mode="reflect"))
    up = np.zeros((1, 16, 16, 1), "float32")
    assert np_(CropToScaledSize(2)([up, x])).shape == (1, 10, 12, 1)


@pytest.mark.parametrize("name,config", [
    ("swinir", dict(variant="lightweight", embed_dim=8, depths=(2,), num_heads=(2,), window_size=4)),
    ("swinir", dict(variant="classical", embed_dim=8, depths=(2,), num_heads=(2,), window_size=4)),
])
def test_tiny_models_take_any_size(name, config):
    # One model, inputs of several sizes that are not multiples of the window (dynamic H, W).
    model = models.build(name, scale=2, **config)
    assert model.input_shape == (None, None, None, 3)
    for h, w in [(5, 7), (8, 8), (11, 6)]:
        x = np.random.default_rng(h).uniform(0, 255, (1, h, w, 3)).astype("float32")
        y = np_(model(x))
        assert y.shape == (1, 2 * h, 2 * w, 3) and np.isfinite(y).all()


def test_pad_modes():
    x = np.arange(5 * 6, dtype="float32").reshape(1, 5, 6, 1) + 1
    for mode, np_mode in [("reflect", "reflect"), ("symmetric", "symmetric"), ("constant", "constant")]:
        padded = np_(PadToMultiple(4, mode=mode)(x))
        np.testing.assert_array_equal(padded[0, :, :, 0], np.pad(x[0, :, :, 0], ((0, 3), (0, 2)), mode=np_mode))
    np.testing.assert_array_equal(np_(PadToMultiple(4)(x[:, :4, :4])), x[:, :4, :4])


def test_cyclic_shift_is_roll():
    from keras_sr.layers.window_attention import cyclic_shift

    x = np.arange(2 * 6 * 8 * 2, dtype="float32").reshape(2, 6, 8, 2)
    for s in (2, -2, 3):
        np.testing.assert_array_equal(np_(cyclic_shift(x, s)), np.roll(x, (-s, -s), axis=(1, 2)))
