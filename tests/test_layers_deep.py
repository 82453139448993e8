"""Layers of the deep SISR family (issue 6): numpy oracles, parameter counts, serialization.

Oracles are direct numpy computations from the papers' definitions (a plain
"same" convolution, squeeze-excitation, `w = g * v / ||v||`), never the layer's
own code path.
"""

import numpy as np
import pytest

import keras

from keras_sr.layers import (
    ChannelAttention,
    DepthToSpace,
    ResidualChannelAttentionBlock,
    ResidualDenseBlock,
    ResidualGroup,
    ResidualInResidualDenseBlock,
    SpaceToDepth,
    WeightNormalization,
    WideActivationBlockA,
    WideActivationBlockB,
)


# Random kernels come from numpy (`randomize`); building with zeros avoids one JAX compile per kernel shape.
ZEROS = "zeros"


# ----------------------------------------------------------------------------- numpy oracles
def conv2d_same(x, kernel, bias=None):
    """Stride-1 'same' convolution (cross-correlation, as every DL framework) of NHWC `x`."""
    kh, kw = kernel.shape[:2]
    padded = np.pad(x, ((0, 0), (kh // 2, kh // 2), (kw // 2, kw // 2), (0, 0)))
    h, w = x.shape[1:3]
    out = np.zeros(x.shape[:3] + (kernel.shape[-1],))
    for i in range(kh):
        for j in range(kw):
            out += padded[:, i : i + h, j : j + w, :] @ kernel[i, j]
    return out if bias is None else out + bias


def relu(x):
    return np.maximum(x, 0.0)


def leaky_relu(x, slope=0.2):
    return np.where(x > 0, x, slope * x)


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def channel_attention_oracle(x, down_kernel, down_bias, up_kernel, up_bias):
    pooled = x.mean(axis=(1, 2))  # (N, C)
    gate = sigmoid(relu(pooled @ down_kernel + down_bias) @ up_kernel + up_bias)
    return x * gate[:, None, None, :]


def weight_norm_kernel(v, g):
    norm = np.sqrt((v.astype(np.float64) ** 2).sum(axis=tuple(range(v.ndim - 1)), keepdims=True))
    return g * v / norm


def randomize(layer, rng, scale=0.3):
    """Give every weight (biases included) non-trivial random values."""
    for weight in layer.weights:
        weight.assign(rng.normal(0.0, scale, size=tuple(weight.shape)).astype("float32"))


def to_numpy(x):
    return np.asarray(keras.ops.convert_to_numpy(x), dtype=np.float64)


# ----------------------------------------------------------------------------- channel attention
def test_channel_attention_matches_numpy_oracle(rng):
    x = rng.normal(size=(2, 5, 6, 32)).astype("float32")
    layer = ChannelAttention(reduction=8, kernel_initializer=ZEROS)
    layer.build(x.shape)
    randomize(layer, rng)
    got = to_numpy(layer(x))
    want = channel_attention_oracle(
        x.astype(np.float64), *[to_numpy(w) for w in (layer.down_kernel, layer.down_bias, layer.up_kernel, layer.up_bias)]
    )
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    # RCAN CALayer parameters: two 1x1 convs with bias, C -> C/r -> C.
    assert layer.count_params() == 32 * 4 + 4 + 4 * 32 + 32


def test_channel_attention_rejects_too_large_reduction():
    with pytest.raises(ValueError, match="leaves no channels"):
        ChannelAttention(reduction=64).build((None, 4, 4, 32))


# ----------------------------------------------------------------------------- weight normalization
def test_weight_normalization_conv_matches_numpy_oracle(rng):
    x = rng.normal(size=(2, 7, 6, 3)).astype("float32")
    layer = WeightNormalization(keras.layers.Conv2D(5, 3, padding="same", activation="relu", kernel_initializer=ZEROS))
    layer.build(x.shape)
    randomize(layer, rng)  # v, bias and g all random: g is no longer ||v||
    v, bias, g = (to_numpy(w) for w in (layer.layer.kernel, layer.layer.bias, layer.g))
    assert not np.allclose(g, np.sqrt((v**2).sum(axis=(0, 1, 2))))
    want = relu(conv2d_same(x.astype(np.float64), weight_norm_kernel(v, g), bias))
    np.testing.assert_allclose(to_numpy(layer(x)), want, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(to_numpy(layer.normalized_kernel()), weight_norm_kernel(v, g), rtol=1e-5, atol=1e-6)


def test_weight_normalization_dense_matches_numpy_oracle(rng):
    x = rng.normal(size=(4, 6)).astype("float32")
    layer = WeightNormalization(keras.layers.Dense(3, kernel_initializer=ZEROS))
    layer.build(x.shape)
    randomize(layer, rng)
    v, bias, g = (to_numpy(w) for w in (layer.layer.kernel, layer.layer.bias, layer.g))
    want = x.astype(np.float64) @ weight_norm_kernel(v, g) + bias
    np.testing.assert_allclose(to_numpy(layer(x)), want, rtol=1e-5, atol=1e-5)


def test_weight_normalization_data_independent_init_and_parameters(rng):
    """Salimans & Kingma 2016 without data: g = ||v|| at build, so w == v and the layer equals the plain conv."""
    x = rng.normal(size=(1, 6, 6, 4)).astype("float32")
    conv = keras.layers.Conv2D(8, 3, padding="same")
    layer = WeightNormalization(conv)
    layer.build(x.shape)
    v = to_numpy(conv.kernel)
    np.testing.assert_allclose(to_numpy(layer.g), np.sqrt((v**2).sum(axis=(0, 1, 2))), rtol=1e-6)
    np.testing.assert_allclose(to_numpy(layer(x)), to_numpy(conv(x)), rtol=1e-5, atol=1e-5)
    # torch.nn.utils.weight_norm: weight_v (3*3*4*8) + weight_g (8) + bias (8), all trainable.
    assert layer.count_params() == 3 * 3 * 4 * 8 + 8 + 8
    assert len(layer.trainable_weights) == 3


def test_weight_normalization_respects_strides_and_dilation(rng):
    x = rng.normal(size=(1, 9, 8, 2)).astype("float32")
    for kwargs in ({"strides": 2}, {"dilation_rate": 2}):
        layer = WeightNormalization(keras.layers.Conv2D(3, 3, padding="same", kernel_initializer=ZEROS, **kwargs))
        layer.build(x.shape)
        randomize(layer, rng)
        plain = keras.layers.Conv2D(3, 3, padding="same", kernel_initializer=ZEROS, **kwargs)
        plain.build(x.shape)
        plain.set_weights([keras.ops.convert_to_numpy(layer.normalized_kernel()), keras.ops.convert_to_numpy(layer.layer.bias)])
        np.testing.assert_allclose(to_numpy(layer(x)), to_numpy(plain(x)), rtol=1e-5, atol=1e-5)
        assert tuple(layer.compute_output_shape(x.shape)) == tuple(plain(x).shape)


def test_weight_normalization_gradients_reach_direction_and_magnitude(rng):
    x = rng.normal(size=(2, 5, 5, 3)).astype("float32")
    inputs = keras.Input((5, 5, 3))
    model = keras.Model(inputs, WeightNormalization(keras.layers.Conv2D(4, 3, padding="same"))(inputs))
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse", jit_compile=False)
    before = [keras.ops.convert_to_numpy(w).copy() for w in model.trainable_weights]
    model.train_on_batch(x, np.ones((2, 5, 5, 4), "float32"))
    after = [keras.ops.convert_to_numpy(w) for w in model.trainable_weights]
    assert len(before) == 3 and all(not np.allclose(b, a) for b, a in zip(before, after))


@pytest.mark.parametrize("layer", [keras.layers.Conv2DTranspose(4, 3), keras.layers.DepthwiseConv2D(3)])
def test_weight_normalization_rejects_unsupported_layers(layer):
    with pytest.raises(ValueError, match="supports Conv1D, Conv2D, Conv3D and Dense"):
        WeightNormalization(layer)


# ----------------------------------------------------------------------------- residual dense blocks
def rdb_oracle(x, block, activation):
    """Dense connections, fusion and the scaled local residual, from the block's weights."""
    features = x
    for conv in block.dense_convs:
        kernel, bias = (to_numpy(w) for w in conv.weights)
        features = np.concatenate([features, activation(conv2d_same(features, kernel, bias))], axis=-1)
    kernel, bias = (to_numpy(w) for w in block.fusion_conv.weights)
    return x + block.residual_scale * conv2d_same(features, kernel, bias)


def test_residual_dense_block_rdn_matches_numpy_oracle(rng):
    x = rng.normal(size=(2, 6, 5, 4)).astype("float32")
    block = ResidualDenseBlock(growth_rate=3, num_layers=3, kernel_initializer=ZEROS)
    block.build(x.shape)
    randomize(block, rng)
    want = rdb_oracle(x.astype(np.float64), block, relu)
    np.testing.assert_allclose(to_numpy(block(x)), want, rtol=1e-4, atol=1e-5)
    assert block.fusion_conv.kernel.shape == (1, 1, 4 + 3 * 3, 4)


def test_residual_dense_block_esrgan_matches_numpy_oracle(rng):
    x = rng.normal(size=(1, 5, 6, 4)).astype("float32")
    block = ResidualDenseBlock.esrgan(growth_rate=2, kernel_initializer=ZEROS)
    block.build(x.shape)
    randomize(block, rng)
    assert (block.num_layers, block.fusion_kernel_size, block.residual_scale) == (4, 3, 0.2)
    want = rdb_oracle(x.astype(np.float64), block, leaky_relu)
    np.testing.assert_allclose(to_numpy(block(x)), want, rtol=1e-4, atol=1e-5)


def test_residual_dense_block_esrgan_plus_matches_numpy_oracle(rng):
    """ESRGAN+ (Rakotonirina and Rasoanaivo 2020): x2 += conv1x1(x) and x4 += x2, then fusion."""
    x = rng.normal(size=(1, 5, 6, 4)).astype("float32")
    block = ResidualDenseBlock.esrgan(growth_rate=2, plus=True, kernel_initializer=ZEROS)
    block.build(x.shape)
    randomize(block, rng)
    xd, outs = x.astype(np.float64), []
    for index, conv in enumerate(block.dense_convs):
        kernel, bias = (to_numpy(w) for w in conv.weights)
        out = leaky_relu(conv2d_same(np.concatenate([xd] + outs, axis=-1), kernel, bias))
        if index == 1:
            out = out + conv2d_same(xd, to_numpy(block.skip_conv.kernel), np.zeros(2))
        if index == 3:
            out = out + outs[1]
        outs.append(out)
    kernel, bias = (to_numpy(w) for w in block.fusion_conv.weights)
    want = xd + 0.2 * conv2d_same(np.concatenate([xd] + outs, axis=-1), kernel, bias)
    np.testing.assert_allclose(to_numpy(block(x)), want, rtol=1e-4, atol=1e-5)
    assert block.skip_conv.kernel.shape == (1, 1, 4, 2) and block.skip_conv.bias is None
    clone = ResidualDenseBlock.from_config(block.get_config())
    assert clone.plus and clone.num_layers == 4
    with pytest.raises(ValueError, match="plus"):
        ResidualDenseBlock(growth_rate=2, num_layers=3, plus=True)


def test_rrdb_matches_composition_of_oracles(rng):
    x = rng.normal(size=(1, 5, 5, 4)).astype("float32")
    block = ResidualInResidualDenseBlock(growth_rate=2, kernel_initializer=ZEROS)
    block.build(x.shape)
    randomize(block, rng, scale=0.2)
    y = x.astype(np.float64)
    for dense in block.dense_blocks:
        y = rdb_oracle(y, dense, leaky_relu)
    np.testing.assert_allclose(to_numpy(block(x)), x + 0.2 * y, rtol=1e-4, atol=1e-5)


def conv_params(cin, cout, k=3):
    return k * k * cin * cout + cout


def test_dense_block_parameter_counts_equal_official_modules():
    # RDN RDB (EDSR-PyTorch rdn.py, G0=64, G=64, C=8): RDB_Conv(64 + c*64 -> 64) for c < 8, LFF 1x1 576 -> 64.
    rdb = ResidualDenseBlock(growth_rate=64, num_layers=8, kernel_initializer=ZEROS)
    rdb.build((None, None, None, 64))
    assert rdb.count_params() == sum(conv_params(64 + c * 64, 64) for c in range(8)) + conv_params(576, 64, 1) == 1_364_544
    # ESRGAN RRDB (RRDBNet_arch.py, nf=64, gc=32): 3 x ResidualDenseBlock_5C.
    rrdb = ResidualInResidualDenseBlock(growth_rate=32, kernel_initializer=ZEROS)
    rrdb.build((None, None, None, 64))
    rdb5 = sum(conv_params(64 + c * 32, 32) for c in range(4)) + conv_params(64 + 4 * 32, 64)
    assert rrdb.count_params() == 3 * rdb5 == 719_424


def test_rcab_and_group_match_numpy_oracle_and_official_counts(rng):
    x = rng.normal(size=(1, 5, 4, 8)).astype("float32")
    block = ResidualChannelAttentionBlock(reduction=4, kernel_initializer=ZEROS)
    block.build(x.shape)
    randomize(block, rng)
    k1, b1, k2, b2 = (to_numpy(w) for w in (block.conv1.kernel, block.conv1.bias, block.conv2.kernel, block.conv2.bias))
    ca = block.attention
    branch = conv2d_same(relu(conv2d_same(x.astype(np.float64), k1, b1)), k2, b2)
    want = x + channel_attention_oracle(branch, *[to_numpy(w) for w in (ca.down_kernel, ca.down_bias, ca.up_kernel, ca.up_bias)])
    np.testing.assert_allclose(to_numpy(block(x)), want, rtol=1e-4, atol=1e-5)

    # RCAN (EDSR-PyTorch rcan.py, 64 feats, r=16): RCAB = 2 convs + CALayer; RG = 20 RCAB + conv.
    rcab = ResidualChannelAttentionBlock(reduction=16, kernel_initializer=ZEROS)
    group = ResidualGroup(num_blocks=20, reduction=16, kernel_initializer=ZEROS)
    rcab.build((None, None, None, 64))
    group.build((None, None, None, 64))
    rcab_official = 2 * conv_params(64, 64) + conv_params(64, 4, 1) + conv_params(4, 64, 1)
    assert rcab.count_params() == rcab_official == 74_436
    assert group.count_params() == 20 * rcab_official + conv_params(64, 64) == 1_525_648


def test_residual_group_is_short_skip_over_its_blocks(rng):
    x = rng.normal(size=(1, 4, 4, 8)).astype("float32")
    group = ResidualGroup(num_blocks=2, reduction=4, kernel_initializer=ZEROS)
    group.build(x.shape)
    randomize(group, rng, scale=0.2)
    y = x
    for block in group.blocks:
        y = block(y)
    np.testing.assert_allclose(to_numpy(group(x)), x + to_numpy(group.conv(y)), rtol=1e-5, atol=1e-5)


# ----------------------------------------------------------------------------- wide activation
def test_wide_activation_blocks_match_numpy_oracle_and_official_counts(rng):
    x = rng.normal(size=(1, 5, 5, 8)).astype("float32")
    for block, activations in ((WideActivationBlockA(expansion=2, residual_scale=0.5, kernel_initializer=ZEROS), (relu, None)),
                               (WideActivationBlockB(expansion=3, low_rank_ratio=0.5, kernel_initializer=ZEROS), (relu, None, None))):
        block.build(x.shape)
        randomize(block, rng, scale=0.2)
        y = x.astype(np.float64)
        for wn, activation in zip(block.convs, activations):
            kernel = weight_norm_kernel(to_numpy(wn.layer.kernel), to_numpy(wn.g))
            y = conv2d_same(y, kernel, to_numpy(wn.layer.bias))
            y = activation(y) if activation else y
        np.testing.assert_allclose(to_numpy(block(x)), x + block.residual_scale * y, rtol=1e-4, atol=1e-5)

    def wn_conv(cin, cout, k):  # weight_v + bias + weight_g
        return k * k * cin * cout + 2 * cout

    # wdsr_a.py Block(n_feats=32, block_feats=128): two weight-normed 3x3 convs.
    a = WideActivationBlockA(expansion=4, kernel_initializer=ZEROS)
    a.build((None, None, None, 32))
    assert a.count_params() == wn_conv(32, 128, 3) + wn_conv(128, 32, 3) == 74_048
    # wdsr_b.py Block(n_feats=32): 1x1 32 -> 192, 1x1 192 -> int(32 * 0.8) = 25, 3x3 25 -> 32.
    b = WideActivationBlockB(kernel_initializer=ZEROS)
    b.build((None, None, None, 32))
    assert b.count_params() == wn_conv(32, 192, 1) + wn_conv(192, 25, 1) + wn_conv(25, 32, 3) == 18_642


# ----------------------------------------------------------------------------- pixel shuffle
def test_space_to_depth_inverts_depth_to_space(rng):
    x = rng.normal(size=(2, 6, 4, 12)).astype("float32")
    up = DepthToSpace(2)(x)
    assert tuple(up.shape) == (2, 12, 8, 3)
    np.testing.assert_array_equal(to_numpy(SpaceToDepth(2)(up)), x)
    with pytest.raises(ValueError, match="divisible by 2"):
        SpaceToDepth(2).compute_output_shape((1, 5, 4, 3))


# ----------------------------------------------------------------------------- serialization
LAYER_CASES = [
    (lambda: ChannelAttention(reduction=4, kernel_initializer=ZEROS), 8),
    (lambda: ResidualChannelAttentionBlock(reduction=4, residual_scale=0.5, kernel_initializer=ZEROS), 8),
    (lambda: ResidualGroup(num_blocks=2, reduction=4, kernel_initializer=ZEROS), 8),
    (lambda: ResidualDenseBlock(growth_rate=3, num_layers=2, kernel_initializer=ZEROS), 6),
    (lambda: ResidualDenseBlock.esrgan(growth_rate=3, kernel_initializer=ZEROS), 6),
    (lambda: ResidualInResidualDenseBlock(growth_rate=3, kernel_initializer=ZEROS), 6),
    (lambda: WeightNormalization(keras.layers.Conv2D(4, 3, padding="same", activation="relu", kernel_initializer=ZEROS)), 3),
    (lambda: WideActivationBlockA(expansion=2, kernel_initializer=ZEROS), 4),
    (lambda: WideActivationBlockB(expansion=3, low_rank_ratio=0.5, kernel_initializer=ZEROS), 4),
    (lambda: SpaceToDepth(2), 3),
]


@pytest.mark.parametrize("make,channels", LAYER_CASES)
def test_layer_config_round_trip_keeps_outputs(make, channels, rng):
    x = rng.normal(size=(1, 4, 6, channels)).astype("float32")
    layer = make()
    layer.build(x.shape)
    randomize(layer, rng, scale=0.2)
    y = to_numpy(layer(x))
    serialized = keras.saving.serialize_keras_object(layer)
    assert serialized["registered_name"] == f"keras_sr>{type(layer).__name__}"
    clone = keras.saving.deserialize_keras_object(serialized, safe_mode=True)
    assert type(clone) is type(layer) and clone.get_config() == layer.get_config()
    assert clone.built  # the serialized build config rebuilds it
    clone.set_weights(layer.get_weights())
    np.testing.assert_allclose(to_numpy(clone(x)), y, rtol=1e-6, atol=1e-6)
    assert tuple(layer.compute_output_shape(x.shape)) == tuple(y.shape)
