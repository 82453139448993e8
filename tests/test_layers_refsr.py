"""Reference-based SR layers: DeformableConv2D, patch matching, TTSR texture transformer, C2-Matching.

Oracles are direct numpy ports of the official PyTorch code paths (DCNv2's `dmcn_im2col_bilinear`,
TTSR's `SearchTransfer.forward`, C2-Matching's `feature_match_index` / `index_to_flow` /
`tensor_shift`, the distillation loss of `StudentContrasDistillationModel`).
"""

import numpy as np
import pytest

import keras
from keras import ops

from keras_sr.layers.bilinear_upsampling import BilinearUpsampling
from keras_sr.layers.correspondence import (ContrastiveFeatureExtractor, DynamicAggregation, PatchCorrespondence,
                                            correlation_distillation_loss, flow_to_pre_offsets, patch_flow)
from keras_sr.layers.deformable_conv import DeformableConv2D, deform_conv2d
from keras_sr.layers.patch_matching import (fold_patches, l2_normalize, match_patches, matching_score_bytes,
                                            unfold_patches)
from keras_sr.layers.texture_transformer import (CrossScaleFeatureIntegration, LearnableTextureExtractor,
                                                 SoftAttentionFusion, TextureTransformer)
from keras_sr.layers.vgg_features import VGGFeatures


def np_(x):
    return np.asarray(ops.convert_to_numpy(x))


# ----------------------------------------------------------------------------------------------
# DeformableConv2D
# ----------------------------------------------------------------------------------------------

def dcn_bilinear(img, h, w):
    """DCNv2's `dmcn_im2col_bilinear` for one point: img (H, W, C)."""
    height, width = img.shape[:2]
    if not (h > -1 and w > -1 and h < height and w < width):
        return np.zeros(img.shape[-1])
    h_low, w_low = int(np.floor(h)), int(np.floor(w))
    h_high, w_high = h_low + 1, w_low + 1
    lh, lw = h - h_low, w - w_low
    hh, hw = 1 - lh, 1 - lw
    v = np.zeros(img.shape[-1])
    if h_low >= 0 and w_low >= 0:
        v += hh * hw * img[h_low, w_low]
    if h_low >= 0 and w_high <= width - 1:
        v += hh * lw * img[h_low, w_high]
    if h_high <= height - 1 and w_low >= 0:
        v += lh * hw * img[h_high, w_low]
    if h_high <= height - 1 and w_high <= width - 1:
        v += lh * lw * img[h_high, w_high]
    return v


def dcn_numpy(x, kernel, offsets, masks, bias, stride, pad, dilation, groups):
    """Direct loop over outputs, groups and taps; offsets (g, k, [dy, dx]), masks (g, k)."""
    batch, _, _, channels = x.shape
    kh, kw, _, filters = kernel.shape
    out_h, out_w = offsets.shape[1:3]
    taps, cg = kh * kw, channels // groups
    out = np.zeros((batch, out_h, out_w, filters))
    for b in range(batch):
        for i in range(out_h):
            for j in range(out_w):
                for g in range(groups):
                    for ky in range(kh):
                        for kx in range(kw):
                            k = ky * kw + kx
                            dy, dx = offsets[b, i, j, 2 * (g * taps + k)], offsets[b, i, j, 2 * (g * taps + k) + 1]
                            m = 1.0 if masks is None else masks[b, i, j, g * taps + k]
                            h = i * stride - pad[0] + ky * dilation + dy
                            w = j * stride - pad[1] + kx * dilation + dx
                            v = dcn_bilinear(x[b, :, :, g * cg:(g + 1) * cg], h, w)
                            out[b, i, j] += m * v @ kernel[ky, kx, g * cg:(g + 1) * cg]
    return out + (0 if bias is None else bias)


DCN_CASES = [  # strides, dilation, padding, groups, (H, W)
    (1, 1, "same", 1, (5, 6)),
    (1, 1, "same", 2, (6, 5)),
    (2, 1, "same", 2, (7, 6)),
    (1, 2, "valid", 1, (7, 8)),
]


@pytest.mark.parametrize("strides,dilation,padding,groups,size", DCN_CASES)
def test_deform_conv2d_matches_numpy_loop(strides, dilation, padding, groups, size, rng):
    x = rng.normal(size=(2, *size, 4)).astype("float32")
    kernel = rng.normal(size=(3, 3, 4, 3)).astype("float32")
    bias = rng.normal(size=(3,)).astype("float32")
    ref = keras.layers.Conv2D(3, 3, strides=strides, dilation_rate=dilation, padding=padding)
    out_h, out_w = ref.compute_output_shape((2, *size, 4))[1:3]
    # Offsets up to 3 px (many samples fall outside the image) and random masks.
    offsets = rng.uniform(-3, 3, size=(2, out_h, out_w, groups * 9 * 2)).astype("float32")
    masks = rng.uniform(0, 1, size=(2, out_h, out_w, groups * 9)).astype("float32")
    got = np_(deform_conv2d(x, kernel, offsets, masks, bias, strides=strides, padding=padding,
                            dilation_rate=dilation, deformable_groups=groups))
    if padding == "same":
        effective = dilation * 2 + 1
        pad = [max((o - 1) * strides + effective - n, 0) // 2 for o, n in zip((out_h, out_w), size)]
    else:
        pad = [0, 0]
    want = dcn_numpy(x, kernel, offsets, masks, bias, strides, pad, dilation, groups)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("strides,dilation,padding,groups,size", DCN_CASES)
def test_deform_conv2d_zero_offsets_equals_conv2d(strides, dilation, padding, groups, size, rng):
    x = rng.normal(size=(2, *size, 4)).astype("float32")
    conv = keras.layers.Conv2D(5, 3, strides=strides, dilation_rate=dilation, padding=padding,
                               bias_initializer="glorot_uniform")
    want = np_(conv(x))
    offsets = np.zeros((*want.shape[:3], groups * 9 * 2), "float32")
    for masks in (None, np.ones((*want.shape[:3], groups * 9), "float32")):
        got = np_(deform_conv2d(x, conv.kernel, offsets, masks, conv.bias, strides=strides, padding=padding,
                                dilation_rate=dilation, deformable_groups=groups))
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def test_deformable_layer_starts_as_half_masked_conv(rng):
    """Zero-initialized offset/mask conv: offsets 0, masks sigmoid(0) = 0.5 (DCNv2 init)."""
    x = rng.normal(size=(1, 6, 7, 4)).astype("float32")
    layer = DeformableConv2D(3, 3, deformable_groups=2, bias_initializer="glorot_uniform")
    got = np_(layer(x))
    conv = keras.layers.Conv2D(3, 3, padding="same", use_bias=False)
    conv.build(x.shape)
    conv.kernel.assign(layer.kernel)
    np.testing.assert_allclose(got, 0.5 * np_(conv(x)) + np_(layer.bias), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("shared", [True, False])
def test_deformable_layer_adds_pre_offsets_to_learned_offsets(shared, rng):
    """C2-Matching's DCN_sep_pre_multi_offset: offsets = conv(offset_features) + pre_offsets."""
    groups = 2
    x = rng.normal(size=(1, 5, 6, 4)).astype("float32")
    guide = rng.normal(size=(1, 5, 6, 3)).astype("float32")
    pre = rng.uniform(-2, 2, size=(1, 5, 6, 18 if shared else 18 * groups)).astype("float32")
    layer = DeformableConv2D(2, 3, deformable_groups=groups)
    layer(x, offset_features=guide, pre_offsets=pre)
    layer.conv_offset_mask.kernel.assign(rng.normal(scale=0.3, size=layer.conv_offset_mask.kernel.shape))
    layer.conv_offset_mask.bias.assign(rng.normal(scale=0.3, size=layer.conv_offset_mask.bias.shape))
    got = np_(layer(x, offset_features=guide, pre_offsets=pre))
    raw = np_(layer.conv_offset_mask(guide))
    offsets = raw[..., :36] + (np.tile(pre, (1, 1, 1, groups)) if shared else pre)
    masks = 1 / (1 + np.exp(-raw[..., 36:]))
    want = dcn_numpy(x, np_(layer.kernel), offsets, masks, np_(layer.bias), 1, (1, 1), 1, groups)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)


def test_deformable_layer_trains_its_offsets(rng):
    """Gradients reach the zero-initialized offset/mask conv through the bilinear weights."""
    inputs = keras.Input((None, None, 4))
    layer = DeformableConv2D(4, 3, deformable_groups=2)
    model = keras.Model(inputs, layer(inputs))
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse", run_eagerly=True)
    x = rng.normal(size=(2, 6, 6, 4)).astype("float32")
    model.train_on_batch(x, rng.normal(size=(2, 6, 6, 4)).astype("float32"))
    assert np.abs(np_(layer.conv_offset_mask.kernel)).max() > 0


def test_deformable_layer_output_grid_follows_offset_features(rng):
    layer = DeformableConv2D(3, 3)
    y = layer(rng.normal(size=(1, 8, 8, 2)).astype("float32"),
              offset_features=rng.normal(size=(1, 5, 6, 2)).astype("float32"))
    assert tuple(y.shape) == (1, 5, 6, 3)
    with pytest.raises(ValueError, match="pre_offsets"):
        DeformableConv2D(3, 3)(np.zeros((1, 4, 4, 2), "float32"), pre_offsets=np.zeros((1, 4, 4, 7), "float32"))


# ----------------------------------------------------------------------------------------------
# Patch operations and chunked matching
# ----------------------------------------------------------------------------------------------

def torch_unfold_numpy(x, k, s, p):
    """`F.unfold` on NHWC, vectors ordered (ky, kx, c)."""
    x = np.pad(x, [(0, 0), (p, p), (p, p), (0, 0)])
    out_h, out_w = (x.shape[1] - k) // s + 1, (x.shape[2] - k) // s + 1
    out = np.zeros((x.shape[0], out_h, out_w, k * k * x.shape[-1]), x.dtype)
    for i in range(out_h):
        for j in range(out_w):
            out[:, i, j] = x[:, i * s:i * s + k, j * s:j * s + k].reshape(x.shape[0], -1)
    return out


def torch_fold_numpy(patches, size, k, s, p):
    batch, out_h, out_w, _ = patches.shape
    channels = patches.shape[-1] // (k * k)
    out = np.zeros((batch, size[0] + 2 * p, size[1] + 2 * p, channels))
    for i in range(out_h):
        for j in range(out_w):
            out[:, i * s:i * s + k, j * s:j * s + k] += patches[:, i, j].reshape(batch, k, k, channels)
    return out[:, p:p + size[0], p:p + size[1]]


@pytest.mark.parametrize("k,s,p,size", [(3, 1, 1, (5, 4)), (6, 2, 2, (8, 6)), (12, 4, 4, (12, 8)),
                                        (3, 1, 0, (6, 5))])
def test_unfold_and_fold_match_torch_semantics(k, s, p, size, rng):
    x = rng.normal(size=(2, *size, 3)).astype("float32")
    got = np_(unfold_patches(x, k, s, p))
    np.testing.assert_array_equal(got, torch_unfold_numpy(x, k, s, p))
    patches = rng.normal(size=got.shape).astype("float32")
    np.testing.assert_allclose(np_(fold_patches(patches, size, k, s, p)), torch_fold_numpy(patches, size, k, s, p),
                               rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("chunk_size,ref_chunk_size", [(1, None), (7, None), (500, None), (7, 5), (None, 4),
                                                       (16, 37)])
def test_chunked_matching_equals_unchunked(chunk_size, ref_chunk_size, rng):
    query = np_(l2_normalize(rng.normal(size=(2, 50, 8)).astype("float32")))
    key = np_(l2_normalize(rng.normal(size=(2, 37, 8)).astype("float32")))
    full_index, full_score = match_patches(query, key, chunk_size=None)
    scores = np.einsum("bqd,bkd->bqk", query, key)
    np.testing.assert_array_equal(np_(full_index), scores.argmax(-1))
    index, score = match_patches(query, key, chunk_size=chunk_size, ref_chunk_size=ref_chunk_size)
    np.testing.assert_array_equal(np_(index), np_(full_index))
    np.testing.assert_allclose(np_(score), scores.max(-1), rtol=1e-5, atol=1e-6)


def test_matching_memory_figures():
    """The documented 500x500 figures: 125x125 positions at 1/4 resolution, float32."""
    n = 125 * 125
    assert matching_score_bytes(n, n, chunk_size=None) == 976_562_500
    assert matching_score_bytes(n, n, chunk_size=1024) == 64_000_000
    assert matching_score_bytes(n, n, chunk_size=1024, ref_chunk_size=4096) == 16_777_216


# ----------------------------------------------------------------------------------------------
# TTSR texture transformer
# ----------------------------------------------------------------------------------------------

def ttsr_search_transfer_numpy(q, k, v1, v2, v3, normalization):
    """Official `SearchTransfer.forward` on NHWC arrays (F.unfold/fold, normalize, bmm, max, gather)."""
    def normalize(a):
        return a / np.maximum(np.linalg.norm(a, axis=-1, keepdims=True), 1e-12)

    batch, h, w, _ = q.shape
    qu = normalize(torch_unfold_numpy(q, 3, 1, 1).reshape(batch, h * w, -1))
    ku = normalize(torch_unfold_numpy(k, 3, 1, 1).reshape(batch, k.shape[1] * k.shape[2], -1))
    relevance = np.einsum("bkd,bqd->bkq", ku, qu)
    star, arg = relevance.max(1), relevance.argmax(1)
    outputs = [star.reshape(batch, h, w, 1)]
    for v, size, s in ((v3, 3, 1), (v2, 6, 2), (v1, 12, 4)):
        unf = torch_unfold_numpy(v, size, s, s).reshape(batch, -1, size * size * v.shape[-1])
        gathered = np.stack([unf[b, arg[b]] for b in range(batch)]).reshape(batch, h, w, -1)
        folded = torch_fold_numpy(gathered, (h * s, w * s), size, s, s)
        if normalization == "constant":
            folded = folded / 9.0
        else:
            folded = folded / torch_fold_numpy(np.ones_like(gathered), (h * s, w * s), size, s, s)
        outputs.append(folded)
    return outputs


@pytest.mark.parametrize("normalization", ["constant", "count"])
def test_texture_transformer_matches_official_search_transfer(normalization, rng):
    q = rng.normal(size=(2, 5, 6, 4)).astype("float32")
    k = rng.normal(size=(2, 4, 5, 4)).astype("float32")
    v3 = rng.normal(size=(2, 4, 5, 4)).astype("float32")
    v2 = rng.normal(size=(2, 8, 10, 3)).astype("float32")
    v1 = rng.normal(size=(2, 16, 20, 2)).astype("float32")
    layer = TextureTransformer(chunk_size=7, fold_normalization=normalization)
    got = [np_(t) for t in layer([q, k, v1, v2, v3])]
    want = ttsr_search_transfer_numpy(q, k, v1, v2, v3, normalization)
    for g, w in zip(got, want):
        assert g.shape == w.shape
        np.testing.assert_allclose(g, w, rtol=1e-4, atol=1e-5)
    unchunked = [np_(t) for t in TextureTransformer(chunk_size=None, fold_normalization=normalization)(
        [q, k, v1, v2, v3])]
    for g, u in zip(got, unchunked):
        np.testing.assert_allclose(g, u, rtol=1e-6, atol=1e-6)


def test_texture_transformer_finds_the_reference_patch(rng):
    """A query copied from the reference is matched exactly: S = 1 and T_lv3 = the copied values."""
    k = rng.normal(size=(1, 6, 6, 8)).astype("float32")
    q = k[:, 1:5, 1:5]  # interior 4x4 crop: every 3x3 patch with its neighbours lies in k
    s, t3, _, _ = TextureTransformer(chunk_size=5)([q, k, np.zeros((1, 24, 24, 1), "float32"),
                                                    np.zeros((1, 12, 12, 1), "float32"), k])
    s, t3 = np_(s), np_(t3)
    np.testing.assert_allclose(s[:, 1:-1, 1:-1], 1.0, atol=1e-5)
    np.testing.assert_allclose(t3[:, 1:-1, 1:-1], k[:, 2:4, 2:4], atol=1e-5)


def test_learnable_texture_extractor_topology_and_weights_file(tmp_path, rng):
    lte = LearnableTextureExtractor()
    lv1, lv2, lv3 = lte(np.full((1, 16, 20, 3), 128.0, "float32"))
    assert [tuple(t.shape) for t in (lv1, lv2, lv3)] == [(1, 16, 20, 64), (1, 8, 10, 128), (1, 4, 5, 256)]
    # VGG19 conv1_1..conv3_1 with biases: 1792 + 36928 + 73856 + 147584 + 295168 (torchvision vgg19).
    assert lte.count_params() == 555_328
    # A converted official TTSR checkpoint: `LTE.slice1.0.weight`, ... (torchvision indices, OIHW).
    state = {}
    for index, (cin, cout) in zip((0, 2, 5, 7, 10), ((3, 4), (4, 4), (4, 8), (8, 8), (8, 16))):
        state[f"LTE.slice{1 + (index >= 2) + (index >= 7)}.{index}.weight"] = rng.normal(
            size=(cout, cin, 3, 3)).astype("float32")
        state[f"LTE.slice{1 + (index >= 2) + (index >= 7)}.{index}.bias"] = rng.normal(size=(cout,)).astype("float32")
    path = tmp_path / "lte.npz"
    np.savez(path, **state)
    small = LearnableTextureExtractor(widths=(4, 8, 16), weights=str(path), weights_prefix="LTE.")
    small(np.zeros((1, 8, 8, 3), "float32"))
    np.testing.assert_array_equal(np_(small.convs["conv2_1"].kernel),
                                  state["LTE.slice2.5.weight"].transpose(2, 3, 1, 0))
    np.testing.assert_array_equal(np_(small.convs["conv3_1"].bias), state["LTE.slice3.10.bias"])
    assert small.get_config()["widths"] == [4, 8, 16]
    with pytest.raises(ValueError, match="no weights for conv1_1"):
        LearnableTextureExtractor(widths=(4, 8, 16), weights=str(path))(np.zeros((1, 8, 8, 3), "float32"))
    with pytest.raises(ValueError, match="shape"):
        LearnableTextureExtractor(weights=str(path), weights_prefix="LTE.")(np.zeros((1, 8, 8, 3), "float32"))
    with pytest.raises(FileNotFoundError, match="missing.npz"):
        VGGFeatures(weights=str(tmp_path / "missing.npz"))(np.zeros((1, 8, 8, 3), "float32"))


def test_csfi_and_soft_attention_match_official_counts(rng):
    """Parameters of the official CSFI2, CSFI3 and MergeTail merge (model/MainNet.py) at 64 features."""
    def conv(cin, cout, k=3):
        return k * k * cin * cout + cout

    expected = {
        (2, False): conv(64, 64, 1) + conv(64, 64) + 2 * conv(128, 64),  # conv12, conv21, 2 merges
        (3, False): 3 * conv(64, 64, 1) + 4 * conv(64, 64) + 3 * conv(192, 64),
        (3, True): 2 * conv(64, 64, 1) + conv(192, 64),  # MergeTail's conv13, conv23, conv_merge
    }
    for (scales, finest), count in expected.items():
        layer = CrossScaleFeatureIntegration(64, scales, finest_only=finest)
        xs = [rng.normal(size=(1, 3 * 2 ** i, 4 * 2 ** i, 64)).astype("float32") for i in range(scales)]
        out = layer(xs)
        assert layer.count_params() == count
        out = [out] if finest else out
        assert [tuple(o.shape) for o in out] == [tuple(x.shape) for x in (xs[-1:] if finest else xs)]
    fuse = SoftAttentionFusion(8, scale=2)
    f = rng.normal(size=(1, 6, 8, 8)).astype("float32")
    y = np_(fuse([f, rng.normal(size=(1, 6, 8, 5)).astype("float32"), np.zeros((1, 3, 4, 1), "float32")]))
    np.testing.assert_allclose(y, f, atol=1e-6)  # S = 0: no texture enters
    assert fuse.count_params() == conv(13, 8)


# ----------------------------------------------------------------------------------------------
# C2-Matching correspondence
# ----------------------------------------------------------------------------------------------

def c2_official_pre_offsets_numpy(feat_in, feat_ref):
    """feature_match_index + index_to_flow + tensor_shift for one image (HWC), output (y, x) order."""
    def normalize(a):
        return a / np.maximum(np.linalg.norm(a, axis=-1, keepdims=True), 1e-12)

    feat_in, feat_ref = normalize(feat_in), normalize(feat_ref)
    h, w, _ = feat_in.shape

    def patches(f):
        return np.stack([f[i:i + 3, j:j + 3].reshape(-1)
                         for i in range(f.shape[0] - 2) for j in range(f.shape[1] - 2)])

    ref_patches = patches(feat_ref)
    ref_patches = ref_patches / (np.linalg.norm(ref_patches, axis=1, keepdims=True) + 1e-5)
    max_idx = (patches(feat_in) @ ref_patches.T).argmax(1).reshape(h - 2, w - 2)
    gh, gw = max_idx.shape
    grid_y, grid_x = np.meshgrid(np.arange(gh), np.arange(gw), indexing="ij")
    flow = np.stack([max_idx % gw - grid_x, max_idx // gw - grid_y], -1).astype("float32")  # (x, y)
    flow = np.pad(flow, [(0, 2), (0, 2), (0, 0)])
    out = {}
    for s in (1, 2, 4):
        up = np.repeat(np.repeat(flow, s, 0), s, 1) * s
        taps = []
        for i in range(3):
            for j in range(3):
                shifted = np.zeros_like(up)
                shifted[i * s:, j * s:] = up[:up.shape[0] - i * s, :up.shape[1] - j * s]
                taps.append(shifted[..., ::-1])  # DCN order (y, x)
        out[s] = np.concatenate(taps, -1)
    return out


def test_patch_correspondence_matches_official_pipeline(rng):
    feat_in = rng.normal(size=(2, 7, 8, 5)).astype("float32")
    feat_ref = rng.normal(size=(2, 7, 8, 5)).astype("float32")
    got = PatchCorrespondence(scales=(1, 2, 4), chunk_size=5)([feat_in, feat_ref])
    for b in range(2):
        want = c2_official_pre_offsets_numpy(feat_in[b], feat_ref[b])
        for g, s in zip(got, (1, 2, 4)):
            np.testing.assert_array_equal(np_(g)[b], want[s])


def test_patch_flow_recovers_a_shift_with_a_larger_reference(rng):
    feat_ref = rng.normal(size=(1, 10, 12, 6)).astype("float32")
    feat_in = feat_ref[:, 2:9, 3:11]
    flow, similarity = patch_flow(feat_in, feat_ref, chunk_size=4)
    flow = np_(flow)
    np.testing.assert_array_equal(flow[0, :-2, :-2, 0], 2.0)
    np.testing.assert_array_equal(flow[0, :-2, :-2, 1], 3.0)
    np.testing.assert_array_equal(flow[0, -2:], 0.0)
    np.testing.assert_allclose(np_(similarity), 1.0, atol=1e-5)
    # Scale 2: flow doubled, tap (i, j) shifted by (2i, 2j).
    pre = np_(flow_to_pre_offsets(flow, 2))
    assert pre.shape == (1, 14, 16, 18)
    np.testing.assert_array_equal(pre[0, 4:10, 4:10, 16:18], np.broadcast_to([4.0, 6.0], (6, 6, 2)))


def test_correlation_distillation_loss_matches_official(rng):
    def official(sq, sk, tq, tk, temperature):
        def normalize(a):
            return a / np.maximum(np.linalg.norm(a, axis=-1, keepdims=True), 1e-12)

        def log_softmax(z):
            z = z - z.max(-1, keepdims=True)
            return z - np.log(np.exp(z).sum(-1, keepdims=True))

        student = log_softmax(normalize(sq) @ normalize(sk).T / temperature)
        teacher = np.exp(log_softmax(normalize(tq) @ normalize(tk).T / temperature))
        return (teacher * (np.log(teacher) - student)).sum() / sq.shape[0]  # kl_div batchmean

    sq, sk, tq, tk = (rng.normal(size=(2, 20, 6)).astype("float32") for _ in range(4))
    got = float(np_(correlation_distillation_loss(sq, sk, tq, tk, temperature=0.15)))
    want = np.mean([official(sq[b], sk[b], tq[b], tk[b], 0.15) for b in range(2)])
    np.testing.assert_allclose(got, want, rtol=1e-4)
    assert float(np_(correlation_distillation_loss(sq, sk, sq, sk))) == pytest.approx(0.0, abs=1e-5)


def test_dynamic_aggregation_official_count_and_initial_state(rng):
    agg = DynamicAggregation(256, deformable_groups=8)
    agg.build([(None, None, None, 64), (None, None, None, 256), (None, None, None, 18)])
    # small_offset_conv1 (320->256), small_offset_conv2, DCN weight+bias, conv_offset_mask (256->216).
    assert agg.count_params() == 737_536 + 590_080 + 590_080 + 497_880
    small = DynamicAggregation(4, deformable_groups=2)
    content = rng.normal(size=(1, 5, 6, 3)).astype("float32")
    reference = rng.normal(size=(1, 5, 6, 4)).astype("float32")
    y = np_(small([content, reference, np.zeros((1, 5, 6, 18), "float32")]))
    # Zero-initialized offsets, masks 0.5, no pre-offsets: lrelu(0.5 * conv(reference) + bias).
    conv = keras.layers.Conv2D(4, 3, padding="same", use_bias=False)
    conv.build(reference.shape)
    conv.kernel.assign(small.dyn_agg.kernel)
    z = 0.5 * np_(conv(reference)) + np_(small.dyn_agg.bias)
    np.testing.assert_allclose(y, np.where(z > 0, z, 0.1 * z), rtol=1e-5, atol=1e-5)


def test_contrastive_extractor_two_vgg16_trunks(tmp_path, rng):
    extractor = ContrastiveFeatureExtractor()
    f_in, f_ref = extractor([np.zeros((1, 16, 16, 3), "float32"), np.zeros((1, 24, 20, 3), "float32")])
    assert tuple(f_in.shape) == (1, 4, 4, 256) and tuple(f_ref.shape) == (1, 6, 5, 256)
    assert extractor.count_params() == 2 * 555_328  # two VGG16 conv1_1..conv3_1 copies: 1.11M
    state = {}
    for trunk in (1, 2):
        for name, (cin, cout) in (("conv1_1", (3, 2)), ("conv1_2", (2, 2)), ("conv2_1", (2, 4)),
                                  ("conv2_2", (4, 4)), ("conv3_1", (4, 8))):
            prefix = f"feature_extraction_image{trunk}.model.{name}"
            state[f"{prefix}.weight"] = rng.normal(size=(cout, cin, 3, 3)).astype("float32")
            state[f"{prefix}.bias"] = rng.normal(size=(cout,)).astype("float32")
    np.savez(tmp_path / "c2.npz", **state)
    loaded = ContrastiveFeatureExtractor(widths=(2, 4, 8), weights=tmp_path / "c2.npz")
    loaded([np.zeros((1, 8, 8, 3), "float32")] * 2)
    np.testing.assert_array_equal(np_(loaded.reference_extractor.convs["conv3_1"].kernel),
                                  state["feature_extraction_image2.model.conv3_1.weight"].transpose(2, 3, 1, 0))


@pytest.mark.parametrize("factor", [2, 3, 4])
def test_bilinear_upsampling_matches_align_corners_false(factor, rng):
    """PyTorch `F.interpolate(x, scale_factor=r, mode="bilinear", align_corners=False)`, by formula."""
    x = rng.normal(size=(2, 5, 4, 3)).astype("float32")

    def taps(n):
        src = np.maximum((np.arange(n * factor) + 0.5) / factor - 0.5, 0.0)
        low = np.floor(src).astype(int)
        return low, np.minimum(low + 1, n - 1), src - low

    (y0, y1, wy), (x0, x1, wx) = taps(5), taps(4)
    rows = x[:, y0] * (1 - wy)[None, :, None, None] + x[:, y1] * wy[None, :, None, None]
    want = rows[:, :, x0] * (1 - wx)[None, None, :, None] + rows[:, :, x1] * wx[None, None, :, None]
    np.testing.assert_allclose(np_(BilinearUpsampling(factor)(x)), want, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("layer", [
    BilinearUpsampling(4),
    DeformableConv2D(8, 3, strides=2, deformable_groups=4, padding="valid"),
    TextureTransformer(chunk_size=64, ref_chunk_size=128, fold_normalization="constant"),
    SoftAttentionFusion(16, scale=4),
    CrossScaleFeatureIntegration(16, 3, finest_only=True),
    LearnableTextureExtractor(widths=(4, 8, 16)),
    VGGFeatures("vgg16", ("conv3_1", "pool1")),
    ContrastiveFeatureExtractor(widths=(4, 8, 16)),
    PatchCorrespondence(scales=(1, 2), chunk_size=32),
    DynamicAggregation(32, deformable_groups=4),
], ids=lambda layer: type(layer).__name__)
def test_layer_config_round_trip(layer):
    config = layer.get_config()
    clone = type(layer).from_config(config)
    assert clone.get_config() == config
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(layer))
    assert type(restored) is type(layer) and restored.get_config() == config
