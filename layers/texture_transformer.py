"""TTSR's texture transformer: learnable texture extractor, relevance embedding, hard and soft
attention, and cross-scale feature integration (CSFI).

Yang, Yang, Fu, Lu, Guo, "Learning Texture Transformer Network for Image
Super-Resolution", CVPR 2020 (https://arxiv.org/abs/2006.04139); layout and
numbers follow the official code (github.com/researchmm/TTSR, `model/LTE.py`,
`model/SearchTransfer.py`, `model/MainNet.py`).

* `LearnableTextureExtractor` (LTE): VGG19 up to relu3_1, returning relu1_1,
  relu2_1 and relu3_1 (1x, 1/2, 1/4 resolution). TTSR initializes it from
  ImageNet VGG19 and fine-tunes it; here it loads a user `.npz` file
  (`weights=`) or trains from scratch; nothing is downloaded.
* `TextureTransformer`: Q = LTE(LR-up) relu3_1, K = LTE(Ref-down-up) relu3_1,
  V = LTE(Ref) at the three levels. Relevance embedding: 3x3 patches of Q and
  K (zero padding 1), L2-normalized, compared by inner product; hard
  attention: for every Q patch the argmax K patch; its V patches (3x3 at
  relu3_1, 6x6 stride 2 at relu2_1, 12x12 stride 4 at relu1_1) are folded
  back with overlap averaging into T_lv3/T_lv2/T_lv1 (1x, 2x, 4x the LR
  feature size); soft attention S is the max relevance (a confidence map).
  Matching is chunked (`keras_sr.layers.patch_matching.match_patches`), so the
  `(HW) x (HrWr)` relevance matrix is never built.
* `SoftAttentionFusion`: `F + conv(concat(F, T)) * up(S)`, TTSR's
  soft-attention fusion at each scale.
* `CrossScaleFeatureIntegration`: CSFI2/CSFI3 (and, with `finest_only`, the
  merge of `MergeTail`).

Fold normalization: the official code divides folded patches by 9, the
interior overlap count, so border pixels (1 px at relu3_1, 2 at relu2_1, 4 at
relu1_1) are darkened; `fold_normalization="count"` (default) divides by the
true number of overlapping patches, `"constant"` reproduces the official 9.
Upsampling (CSFI and `up(S)`) is by default `keras_sr.imresize.imresize_ops`,
MATLAB's bicubic (Keys a=-0.5, mirrored borders); the official code uses
PyTorch's bicubic (a=-0.75, clamped borders), which `interpolation="pytorch"`
selects (`keras_sr.layers.bicubic_resize.pytorch_bicubic_upsample`; a converted
official checkpoint uses it, see `keras_sr.convert.ttsr`).

Example:
    >>> lte = LearnableTextureExtractor()
    >>> (_, _, q), (_, _, k), (v1, v2, v3) = lte(lr_up), lte(ref_down_up), lte(ref)
    >>> s, t3, t2, t1 = TextureTransformer(chunk_size=1024)([q, k, v1, v2, v3])
"""

import keras
from keras import ops

from keras_sr.imresize import imresize_ops
from keras_sr.layers.bicubic_resize import pytorch_bicubic_upsample
from keras_sr.layers.patch_matching import flatten_grid, gather_rows, match_patches, patch_norms, unfold_patches
from keras_sr.layers.vgg_features import VGGFeatures

__all__ = [
    "LearnableTextureExtractor",
    "TextureTransformer",
    "SoftAttentionFusion",
    "CrossScaleFeatureIntegration",
    "transfer_patches",
    "bicubic_upsample",
]

TEXTURE_LEVELS = ("relu1_1", "relu2_1", "relu3_1")
INTERPOLATIONS = ("matlab", "pytorch")


def bicubic_upsample(x, factor, interpolation="matlab"):
    """Bicubic upsampling of `(B, H, W, C)` by an integer factor (identity for 1).

    `interpolation`: "matlab" (`imresize_ops`, a=-0.5, mirrored borders) or "pytorch"
    (`F.interpolate(mode="bicubic")`, a=-0.75, clamped borders, as the official TTSR).
    """
    if interpolation not in INTERPOLATIONS:
        raise ValueError(f"interpolation must be one of {INTERPOLATIONS}, got {interpolation!r}.")
    if factor == 1:
        return x
    return pytorch_bicubic_upsample(x, factor) if interpolation == "pytorch" else imresize_ops(x, factor)


def _shift(x, dy, dx):
    """`out[:, i, j] = x[:, i - dy, j - dx]`, zero where that falls outside (|dy|, |dx| <= 1)."""
    shape = ops.shape(x)
    height, width = shape[1], shape[2]
    x = ops.pad(x, [[0, 0], [max(dy, 0), max(-dy, 0)], [max(dx, 0), max(-dx, 0)], [0, 0]])
    top, left = max(-dy, 0), max(-dx, 0)
    return x[:, top:top + height, left:left + width, :]


def transfer_patches(values, index, query_size, key_size, scale, fold_normalization="count"):
    """TTSR's hard-attention transfer: `fold(gather(unfold(values), index))`, without the unfold.

    The 3x3 patch of the key grid at `index` is, at a level `scale` times finer, the
    `3 scale x 3 scale` patch (stride `scale`, padding `scale`) of `values`. Each patch is placed
    at its query position and overlaps are averaged. Written as nine shifted gathers of
    `scale x scale` blocks (`space_to_depth`), which equals the official
    unfold -> gather -> fold with 9x less memory.

    Args:
        values: `(B, Hk * scale, Wk * scale, C)` reference features (larger inputs are cropped).
        index: `(B, Hq * Wq)` int, the matched key position (row-major on the `Hk x Wk` grid).
        query_size: `(Hq, Wq)`; key_size: `(Hk, Wk)`.
        scale: 1, 2 or 4 (relu3_1, relu2_1, relu1_1 for TTSR).
        fold_normalization: "count" (true overlap count) or "constant" (divide by 9, official).

    Returns:
        `(B, Hq * scale, Wq * scale, C)`.
    """
    if fold_normalization not in ("count", "constant"):
        raise ValueError(f"fold_normalization must be 'count' or 'constant', got {fold_normalization!r}.")
    q_h, q_w = query_size
    k_h, k_w = key_size
    s = int(scale)
    values = values[:, :k_h * s, :k_w * s, :]
    blocks = ops.space_to_depth(values, s) if s > 1 else values  # (B, Hk, Wk, s*s*C)
    blocks = ops.pad(blocks, [[0, 0], [1, 1], [1, 1], [0, 0]])
    flat = flatten_grid(blocks)
    index = ops.cast(index, "int32")
    k_w_i = ops.cast(k_w, "int32")
    row, col = index // k_w_i, index % k_w_i
    depth = blocks.shape[-1]
    total = None
    for by in range(3):
        for bx in range(3):
            gathered = gather_rows(flat, (row + by) * (k_w_i + 2) + col + bx)
            gathered = ops.reshape(gathered, (-1, q_h, q_w, depth))
            placed = _shift(gathered, by - 1, bx - 1)
            total = placed if total is None else total + placed
    if fold_normalization == "constant":
        total = total / 9.0
    else:
        ones = ops.ones((1, q_h, q_w, 1), total.dtype)
        count = sum(_shift(ones, by - 1, bx - 1) for by in range(3) for bx in range(3))
        total = total / count
    return ops.depth_to_space(total, s) if s > 1 else total


@keras.saving.register_keras_serializable(package="keras_sr")
class LearnableTextureExtractor(VGGFeatures):
    """TTSR's LTE: VGG19 to relu3_1 returning `[relu1_1, relu2_1, relu3_1]` (trainable).

    Args:
        widths: channels of the three blocks (64, 128, 256 as VGG19; smaller for tests).
        weights: optional `.npz` with VGG19 weights (`keras_sr.layers.vgg_features`); otherwise the
            extractor trains from scratch.
        weights_prefix: key prefix to strip (e.g. "LTE." for a converted TTSR checkpoint).
        input_range: pixel range of the RGB input (255).

    Example:
        >>> lte = LearnableTextureExtractor()
        >>> lv1, lv2, lv3 = lte(keras.ops.ones((1, 40, 40, 3)) * 128.0)   # 64, 128, 256 channels
        >>> lte.count_params()                                           # 555,328
    """

    def __init__(self, widths=(64, 128, 256), weights=None, weights_prefix="", input_range=255.0, **kwargs):
        kwargs.pop("variant", None)
        kwargs.pop("output_layers", None)
        super().__init__(variant="vgg19", output_layers=TEXTURE_LEVELS, widths=widths, weights=weights,
                         weights_prefix=weights_prefix, input_range=input_range, **kwargs)

    def get_config(self):
        config = super().get_config()
        config.pop("variant")
        config.pop("output_layers")
        return config


@keras.saving.register_keras_serializable(package="keras_sr")
class TextureTransformer(keras.layers.Layer):
    """Relevance embedding + hard attention + soft attention (no weights).

    Call with `[query, key, value_lv1, value_lv2, value_lv3]`:

    * query `(B, H, W, C3)`: LTE(LR-up) relu3_1; key `(B, Hk, Wk, C3)`: LTE(Ref-down-up) relu3_1;
    * values: LTE(Ref) relu1_1 `(B, 4Hk, 4Wk, C1)`, relu2_1 `(B, 2Hk, 2Wk, C2)`, relu3_1 `(B, Hk, Wk, C3)`.

    Returns `[S, T_lv3, T_lv2, T_lv1]`: S `(B, H, W, 1)` the max relevance (differentiable with
    respect to query and key, as in TTSR), T_lv3 `(B, H, W, C3)`, T_lv2 `(B, 2H, 2W, C2)`,
    T_lv1 `(B, 4H, 4W, C1)`.

    Args:
        chunk_size: query patches matched per step (bounds memory; None: all at once).
        ref_chunk_size: reference patches per step inside a chunk (None: all).
        fold_normalization: "count" (true overlap average) or "constant" (official /9).

    Example:
        >>> tt = TextureTransformer(chunk_size=512)
        >>> s, t3, t2, t1 = tt([q, k, v1, v2, v3])
        >>> s.shape                                  # (B, H, W, 1)
    """

    def __init__(self, chunk_size=1024, ref_chunk_size=None, fold_normalization="count", **kwargs):
        super().__init__(**kwargs)
        if fold_normalization not in ("count", "constant"):
            raise ValueError(f"fold_normalization must be 'count' or 'constant', got {fold_normalization!r}.")
        self.chunk_size = None if chunk_size is None else int(chunk_size)
        self.ref_chunk_size = None if ref_chunk_size is None else int(ref_chunk_size)
        self.fold_normalization = fold_normalization

    def relevance(self, query, key):
        """`(index, S)`: hard-attention argmax `(B, H*W)` and soft attention `(B, H, W, 1)`."""
        # Cosine similarity of the unfolded patches (F.normalize semantics) with the norms applied to
        # the scores, so no normalized copy of the (N, 9C) patch matrices is made.
        q = flatten_grid(unfold_patches(query, 3))
        k = flatten_grid(unfold_patches(key, 3))
        q_norm, k_norm = patch_norms(q), patch_norms(k)
        index, _ = match_patches(q, k, self.chunk_size, self.ref_chunk_size, key_weights=1.0 / k_norm)
        matched_norm = gather_rows(k_norm[..., None], index)[..., 0]
        soft = ops.sum(q * gather_rows(k, index), axis=-1) / (q_norm * matched_norm)  # max relevance
        shape = ops.shape(query)
        return index, ops.reshape(soft, (shape[0], shape[1], shape[2], 1))

    def call(self, inputs):
        query, key, value_lv1, value_lv2, value_lv3 = inputs
        index, soft = self.relevance(query, key)
        q_shape, k_shape = ops.shape(query), ops.shape(key)
        query_size, key_size = (q_shape[1], q_shape[2]), (k_shape[1], k_shape[2])
        t_lv3 = transfer_patches(value_lv3, index, query_size, key_size, 1, self.fold_normalization)
        t_lv2 = transfer_patches(value_lv2, index, query_size, key_size, 2, self.fold_normalization)
        t_lv1 = transfer_patches(value_lv1, index, query_size, key_size, 4, self.fold_normalization)
        return [soft, t_lv3, t_lv2, t_lv1]

    def compute_output_shape(self, input_shape):
        query, _, v1, v2, v3 = input_shape
        b, h, w = query[0], query[1], query[2]

        def times(n, f):
            return None if n is None else n * f

        return [(b, h, w, 1), (b, h, w, v3[-1]), (b, times(h, 2), times(w, 2), v2[-1]),
                (b, times(h, 4), times(w, 4), v1[-1])]

    def get_config(self):
        config = super().get_config()
        config.update({"chunk_size": self.chunk_size, "ref_chunk_size": self.ref_chunk_size,
                       "fold_normalization": self.fold_normalization})
        return config


@keras.saving.register_keras_serializable(package="keras_sr")
class SoftAttentionFusion(keras.layers.Layer):
    """TTSR soft-attention fusion: `F + conv3x3(concat(F, T)) * up(S, scale)`.

    Call with `[features, texture, soft_attention]`: F `(B, h, w, filters)`, T `(B, h, w, Ct)`,
    S `(B, h / scale, w / scale, 1)`.

    Args:
        filters: channels of F (and of the conv output).
        scale: upsampling of S to F's size (1, 2 or 4; bicubic).
        kernel_initializer, bias_initializer: for the conv.
        interpolation: "matlab" (default) or "pytorch" bicubic (see `bicubic_upsample`).

    Example:
        >>> fuse = SoftAttentionFusion(64, scale=2)
        >>> f = fuse([f, t_lv2, s])                     # same shape as f
        >>> fuse.count_params()                         # 9 * (64 + C_t) * 64 + 64
    """

    def __init__(self, filters, scale=1, kernel_initializer="glorot_uniform", bias_initializer="zeros",
                 interpolation="matlab", **kwargs):
        super().__init__(**kwargs)
        if interpolation not in INTERPOLATIONS:
            raise ValueError(f"interpolation must be one of {INTERPOLATIONS}, got {interpolation!r}.")
        self.filters = int(filters)
        self.scale = int(scale)
        self.interpolation = interpolation
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)
        self.conv = keras.layers.Conv2D(self.filters, 3, padding="same", kernel_initializer=self.kernel_initializer,
                                        bias_initializer=self.bias_initializer, dtype=self.dtype_policy,
                                        name="conv")

    def build(self, input_shape):
        features, texture, _ = input_shape
        self.conv.build((None, None, None, features[-1] + texture[-1]))

    def call(self, inputs):
        features, texture, soft = inputs
        residual = self.conv(ops.concatenate([features, texture], axis=-1))
        return features + residual * bicubic_upsample(soft, self.scale, self.interpolation)

    def compute_output_shape(self, input_shape):
        return input_shape[0]

    def get_config(self):
        config = super().get_config()
        config.update({
            "filters": self.filters,
            "scale": self.scale,
            "interpolation": self.interpolation,
            "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
            "bias_initializer": keras.initializers.serialize(self.bias_initializer),
        })
        return config


@keras.saving.register_keras_serializable(package="keras_sr")
class CrossScaleFeatureIntegration(keras.layers.Layer):
    """TTSR's CSFI: every scale receives every other scale, then a 3x3 merge conv.

    Call with `num_scales` tensors, coarsest first, each twice the previous size. For target scale
    `i` and source `j`: `j < i`: bicubic x`2^(i-j)` then 1x1 conv + ReLU; `j > i`: `j - i` stride-2
    3x3 convs (padding 1) each + ReLU. Then `relu(conv3x3(concat(x_i, sources in order)))`.
    Conv names follow the official code (`conv12`, `conv21`, `conv31_1`, `conv31_2`,
    `conv_merge1`, ...). Official parameter counts at 64 filters: CSFI2 188,672, CSFI3 492,160,
    and MergeTail's merge (`finest_only=True`) 118,976.

    Args:
        filters: channels of every scale.
        num_scales: 2 (CSFI2) or 3 (CSFI3).
        finest_only: compute only the finest output (TTSR's `MergeTail`); returns one tensor.
        kernel_initializer, bias_initializer: for the convs.
        interpolation: "matlab" (default) or "pytorch" bicubic (see `bicubic_upsample`).

    Example:
        >>> csfi = CrossScaleFeatureIntegration(64, num_scales=3)
        >>> x1, x2, x3 = csfi([x1, x2, x3])         # 1x, 2x, 4x sizes, unchanged
        >>> merged = CrossScaleFeatureIntegration(64, 3, finest_only=True)([x1, x2, x3])
    """

    def __init__(self, filters, num_scales=2, finest_only=False, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", interpolation="matlab", **kwargs):
        super().__init__(**kwargs)
        if interpolation not in INTERPOLATIONS:
            raise ValueError(f"interpolation must be one of {INTERPOLATIONS}, got {interpolation!r}.")
        self.interpolation = interpolation
        if int(num_scales) < 2:
            raise ValueError(f"CrossScaleFeatureIntegration needs num_scales >= 2, got {num_scales}.")
        self.filters = int(filters)
        self.num_scales = int(num_scales)
        self.finest_only = bool(finest_only)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)
        self.targets = [self.num_scales - 1] if self.finest_only else list(range(self.num_scales))
        self.convs = {}  # official names -> Conv2D (+ ReLU)
        for i in self.targets:
            for j in range(self.num_scales):
                for name, kernel_size, strides in self._route(j, i):
                    self.convs[name] = self._conv(kernel_size, strides, name)
            self.convs[f"conv_merge{i + 1}"] = self._conv(3, 1, f"conv_merge{i + 1}")

    def _route(self, j, i):
        """`(name, kernel_size, strides)` of the convs that bring scale `j` to scale `i`."""
        if j < i:
            return [(f"conv{j + 1}{i + 1}", 1, 1)]
        steps = j - i
        return [(f"conv{j + 1}{i + 1}" + (f"_{n + 1}" if steps > 1 else ""), 3, 2) for n in range(steps)]

    def _conv(self, kernel_size, strides, name):
        return keras.layers.Conv2D(self.filters, kernel_size, strides=strides, padding="valid" if strides > 1 else
                                   "same", activation="relu", kernel_initializer=self.kernel_initializer,
                                   bias_initializer=self.bias_initializer, dtype=self.dtype_policy, name=name)

    def build(self, input_shape):
        if len(input_shape) != self.num_scales:
            raise ValueError(f"CrossScaleFeatureIntegration({self.num_scales}) got {len(input_shape)} inputs.")
        for shape in input_shape:
            if shape[-1] != self.filters:
                raise ValueError(f"CrossScaleFeatureIntegration needs {self.filters} channels, got {shape[-1]}.")
        for name, conv in self.convs.items():
            channels = self.filters * self.num_scales if name.startswith("conv_merge") else self.filters
            conv.build((None, None, None, channels))

    def _from(self, x, j, i):
        if j < i:
            return self.convs[self._route(j, i)[0][0]](bicubic_upsample(x, 2 ** (i - j), self.interpolation))
        for name, _, _ in self._route(j, i):  # PyTorch's padding=1 with stride 2
            x = self.convs[name](ops.pad(x, [[0, 0], [1, 1], [1, 1], [0, 0]]))
        return x

    def call(self, inputs):
        outputs = []
        for i in self.targets:
            parts = [inputs[i]] + [self._from(inputs[j], j, i) for j in range(self.num_scales) if j != i]
            outputs.append(self.convs[f"conv_merge{i + 1}"](ops.concatenate(parts, axis=-1)))
        return outputs[0] if self.finest_only else outputs

    def compute_output_shape(self, input_shape):
        shapes = [tuple(s) for s in input_shape]
        return shapes[-1] if self.finest_only else shapes

    def get_config(self):
        config = super().get_config()
        config.update({
            "filters": self.filters,
            "num_scales": self.num_scales,
            "finest_only": self.finest_only,
            "interpolation": self.interpolation,
            "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
            "bias_initializer": keras.initializers.serialize(self.bias_initializer),
        })
        return config
