"""C2-Matching's contrastive correspondence: contrastive feature extractor, patch correspondence
as deformable-conv pre-offsets, teacher-student correlation distillation, dynamic aggregation.

Jiang, Chan, Zhou, Loy, Liu, "Robust Reference-based Super-Resolution via
C2-Matching", CVPR 2021 (https://arxiv.org/abs/2106.01863); layout and numbers
follow the official code (github.com/yumingj/C2-Matching,
`mmsr/models/archs/contras_extractor_arch.py`, `corres_generation_arch.py`,
`ref_map_util.py`, `ref_restoration_arch.py`, `DCNv2/dcn_v2.py`).

* `ContrastiveFeatureExtractor`: two separate VGG16 trunks up to conv3_1 (no
  ReLU after it), one for the LR-upsampled input and one for the reference
  (`ContrasExtractorSep`; 2 x 555,328 = 1,110,656 parameters). The official
  network has no projection head: the conv3_1 activations are the
  descriptors. The official code starts both copies from ImageNet VGG16;
  here `weights=` loads a `.npz` (torchvision or C2-Matching key names),
  otherwise they train from scratch.
* `PatchCorrespondence`: per-pixel L2-normalized descriptors, 3x3 patches
  without padding, cosine similarity, argmax over the reference (chunked, see
  `keras_sr.layers.patch_matching`) turned into a flow `(dy, dx)` from each
  input patch to its match, zero-padded at the bottom/right as
  `index_to_flow`; then, for each of the 3x3 taps `(i, j)` of the aggregation
  DCN, the flow shifted by `(i, j) * s` (`tensor_shift`) at the three
  scales `s = 1, 2, 4` (relu3_1, relu2_1, relu1_1, flow multiplied by `s`).
* `correlation_distillation_loss`: KL divergence between the teacher's and
  the student's softmax-normalized correlations with temperature (0.15 in the
  official stage-2 config, weight 15).
* `DynamicAggregation`: `concat(content, ref) -> conv3x3 -> lrelu -> conv3x3 ->
  lrelu` predicts offsets/masks of a `DeformableConv2D` (8 deformable groups)
  that samples the reference features around the pre-offsets; lrelu after.

Example:
    >>> feat_in, feat_ref = ContrastiveFeatureExtractor()([lr_up, ref])
    >>> off3, off2, off1 = PatchCorrespondence(chunk_size=1024)([feat_in, feat_ref])
    >>> swapped = DynamicAggregation(256, deformable_groups=8)([content, ref_relu3_1, off3])
"""

import os

import numpy as np

import keras
from keras import ops

from keras_sr.layers.deformable_conv import DeformableConv2D
from keras_sr.layers.patch_matching import flatten_grid, l2_normalize, match_patches, patch_norms, unfold_patches
from keras_sr.layers.vgg_features import VGGFeatures

__all__ = [
    "ContrastiveFeatureExtractor",
    "PatchCorrespondence",
    "DynamicAggregation",
    "correlation_distillation_loss",
    "patch_flow",
    "flow_to_pre_offsets",
]

# Key prefixes of the two trunks in an official `net_extractor` state dict (ContrasExtractorSep).
OFFICIAL_PREFIXES = ("feature_extraction_image1.model.", "feature_extraction_image2.model.")


@keras.saving.register_keras_serializable(package="keras_sr")
class ContrastiveFeatureExtractor(keras.layers.Layer):
    """Two VGG16 trunks to conv3_1: `[lr_up, ref] -> [input_features, reference_features]`.

    Inputs are RGB in `[0, input_range]`; outputs have `widths[2]` channels at 1/4 resolution.

    Args:
        widths: channels of the three VGG blocks (64, 128, 256; smaller for tests).
        weights: optional `.npz`: an official C2-Matching extractor (keys prefixed
            `feature_extraction_image1.model.` / `feature_extraction_image2.model.`) or one VGG16
            (torchvision keys) used to initialize both trunks.
        input_range: pixel range of the input (255).

    Example:
        >>> extractor = ContrastiveFeatureExtractor()
        >>> f_in, f_ref = extractor([lr_up, ref])      # (B, H/4, W/4, 256) each
        >>> extractor.count_params()                   # 1,110,656
    """

    def __init__(self, widths=(64, 128, 256), weights=None, input_range=255.0, **kwargs):
        super().__init__(**kwargs)
        self.widths = tuple(int(w) for w in widths)
        self.input_range = float(input_range)
        prefixes = ("", "")
        if weights is not None:
            weights = os.fspath(weights)
            if not os.path.isfile(weights):
                raise FileNotFoundError(f"{weights}: contrastive extractor weights file not found.")
            with np.load(weights) as data:
                if any(k.startswith(OFFICIAL_PREFIXES[0]) for k in data.files):
                    prefixes = OFFICIAL_PREFIXES
        common = dict(variant="vgg16", output_layers=("conv3_1",), widths=self.widths, weights=weights,
                      input_range=self.input_range, dtype=self.dtype_policy)
        self.input_extractor = VGGFeatures(weights_prefix=prefixes[0], name="feature_extraction_image1", **common)
        self.reference_extractor = VGGFeatures(weights_prefix=prefixes[1], name="feature_extraction_image2",
                                               **common)

    def build(self, input_shape):
        self.input_extractor.build(input_shape[0])
        self.reference_extractor.build(input_shape[1])

    def call(self, inputs):
        lr_up, ref = inputs
        return [self.input_extractor(lr_up), self.reference_extractor(ref)]

    def compute_output_shape(self, input_shape):
        return [self.input_extractor.compute_output_shape(input_shape[0]),
                self.reference_extractor.compute_output_shape(input_shape[1])]

    def get_config(self):
        config = super().get_config()
        config.update({"widths": list(self.widths), "input_range": self.input_range})
        return config


def patch_flow(input_features, reference_features, chunk_size=1024, ref_chunk_size=None):
    """C2-Matching's dense correspondence as a flow field.

    Descriptors are L2-normalized per pixel, then 3x3 patches (no padding) are compared by cosine
    similarity. For the input patch with top-left `t` and its best reference patch with top-left
    `r`, `flow[t] = r - t` as `(dy, dx)`; the last two rows/columns (no patch) are zero.

    Args:
        input_features: `(B, H, W, C)`; reference_features: `(B, Hr, Wr, C)` (H, W, Hr, Wr >= 3).
        chunk_size, ref_chunk_size: see `match_patches`.

    Returns:
        `(flow, similarity)`: `(B, H, W, 2)` float and `(B, H - 2, W - 2)` best cosine similarity.
    """
    feat_in = l2_normalize(input_features)
    feat_ref = l2_normalize(reference_features)
    q = flatten_grid(unfold_patches(feat_in, 3, padding=0))
    k = flatten_grid(unfold_patches(feat_ref, 3, padding=0))
    index, score = match_patches(q, k, chunk_size, ref_chunk_size, key_weights=1.0 / patch_norms(k))
    score = score / patch_norms(q)
    in_shape, ref_shape = ops.shape(input_features), ops.shape(reference_features)
    batch, height, width = in_shape[0], in_shape[1], in_shape[2]
    grid_h, grid_w = height - 2, width - 2
    ref_grid_w = ops.cast(ref_shape[2] - 2, "int32")
    ref_y = ops.reshape(index // ref_grid_w, (batch, grid_h, grid_w))
    ref_x = ops.reshape(index % ref_grid_w, (batch, grid_h, grid_w))
    flow_y = ref_y - ops.arange(grid_h, dtype="int32")[None, :, None]
    flow_x = ref_x - ops.arange(grid_w, dtype="int32")[None, None, :]
    flow = ops.cast(ops.stack([flow_y, flow_x], axis=-1), input_features.dtype)
    flow = ops.pad(flow, [[0, 0], [0, 2], [0, 2], [0, 0]])
    return flow, ops.reshape(score, (batch, grid_h, grid_w))


def flow_to_pre_offsets(flow, scale=1):
    """Pre-offsets of a 3x3 `DeformableConv2D` at `scale` times the flow's resolution.

    The flow is repeated `scale` x `scale` (nearest) and multiplied by `scale`; tap `(i, j)` gets
    it shifted down/right by `(i * scale, j * scale)` with zero fill (official `tensor_shift`).

    Args:
        flow: `(B, H, W, 2)` `(dy, dx)` from `patch_flow`.
        scale: 1, 2 or 4.

    Returns:
        `(B, H * scale, W * scale, 18)`, ordered `(k = 3 i + j, [dy, dx])`.
    """
    s = int(scale)
    if s > 1:
        flow = ops.repeat(ops.repeat(flow, s, axis=1), s, axis=2) * float(s)
    shape = ops.shape(flow)
    height, width = shape[1], shape[2]
    taps = []
    for i in range(3):
        for j in range(3):
            shifted = ops.pad(flow, [[0, 0], [i * s, 0], [j * s, 0], [0, 0]])
            taps.append(shifted[:, :height, :width, :])
    return ops.concatenate(taps, axis=-1)


@keras.saving.register_keras_serializable(package="keras_sr")
class PatchCorrespondence(keras.layers.Layer):
    """`[input_features, reference_features] -> [pre_offsets at each scale]` (no weights).

    Args:
        scales: pre-offset resolutions relative to the features (C2-Matching: 1, 2, 4 for
            relu3_1, relu2_1, relu1_1).
        chunk_size, ref_chunk_size: matching chunk sizes (`match_patches`).

    Example:
        >>> corr = PatchCorrespondence(scales=(1, 2, 4), chunk_size=1024)
        >>> off3, off2, off1 = corr([f_in, f_ref])       # (B, H, W, 18), (B, 2H, 2W, 18), ...
        >>> corr.flow([f_in, f_ref])                     # the (dy, dx) flow itself
    """

    def __init__(self, scales=(1, 2, 4), chunk_size=1024, ref_chunk_size=None, **kwargs):
        super().__init__(**kwargs)
        self.scales = tuple(int(s) for s in scales)
        self.chunk_size = None if chunk_size is None else int(chunk_size)
        self.ref_chunk_size = None if ref_chunk_size is None else int(ref_chunk_size)

    def flow(self, inputs):
        return patch_flow(inputs[0], inputs[1], self.chunk_size, self.ref_chunk_size)[0]

    def call(self, inputs):
        flow = self.flow(inputs)
        return [flow_to_pre_offsets(flow, s) for s in self.scales]

    def compute_output_shape(self, input_shape):
        b, h, w = input_shape[0][:3]
        return [(b, None if h is None else h * s, None if w is None else w * s, 18) for s in self.scales]

    def get_config(self):
        config = super().get_config()
        config.update({"scales": list(self.scales), "chunk_size": self.chunk_size,
                       "ref_chunk_size": self.ref_chunk_size})
        return config


def correlation_distillation_loss(student_query, student_key, teacher_query, teacher_key, temperature=0.15):
    """KL(teacher || student) of correlation rows, C2-Matching's teacher-student distillation.

    For descriptors at corresponding positions (`query[n]` matches `key[n]`), the correlation
    `softmax(q_n . k_m / temperature)` over `m` of the teacher is the target of the student's;
    `kl_div(log_softmax(student), softmax(teacher), reduction="batchmean")` as the official
    `StudentContrasDistillationModel`. Descriptors are L2-normalized here.

    Args:
        student_query, student_key, teacher_query, teacher_key: `(..., N, C)`.
        temperature: 0.15 in the official configuration.

    Returns:
        Scalar: the per-item batchmean KL, averaged over leading dimensions.
    """
    def log_probs(query, key):
        logits = ops.matmul(l2_normalize(query), ops.swapaxes(l2_normalize(key), -1, -2)) / temperature
        return ops.log_softmax(logits, axis=-1)

    student = log_probs(student_query, student_key)
    teacher = ops.stop_gradient(log_probs(teacher_query, teacher_key))
    kl = ops.sum(ops.exp(teacher) * (teacher - student), axis=(-2, -1)) / ops.cast(ops.shape(student)[-2],
                                                                                   student.dtype)
    return ops.mean(kl)


@keras.saving.register_keras_serializable(package="keras_sr")
class DynamicAggregation(keras.layers.Layer):
    """C2-Matching's dynamic aggregation of reference features around the pre-offsets.

    Call with `[content, reference, pre_offsets]`: content `(B, H, W, Cc)`, reference features
    `(B, H, W, filters)` (same grid, as the official test pads both images), pre_offsets
    `(B, H, W, 18)` from `PatchCorrespondence`. Returns `(B, H, W, filters)`.

    Args:
        filters: channels of the reference features (256, 128, 64 at relu3_1, relu2_1, relu1_1).
        deformable_groups: 8 in C2-Matching.
        negative_slope: of the leaky ReLUs (0.1).
        kernel_initializer: for the two offset convs (official: normal, std 0.02).
        dcn_initializer: for the deformable conv's kernel (official: uniform +-1/sqrt(9 C)).

    Example:
        >>> agg = DynamicAggregation(256, deformable_groups=8)
        >>> swapped = agg([content, ref_relu3_1, pre_offsets])
        >>> agg.count_params()                   # 2,415,576 at 64 content channels
    """

    def __init__(self, filters, deformable_groups=8, negative_slope=0.1,
                 kernel_initializer=None, dcn_initializer=None, **kwargs):
        super().__init__(**kwargs)
        self.filters = int(filters)
        self.deformable_groups = int(deformable_groups)
        self.negative_slope = float(negative_slope)
        self.kernel_initializer = keras.initializers.get(
            kernel_initializer or keras.initializers.RandomNormal(stddev=0.02))
        self.dcn_initializer = keras.initializers.get(
            dcn_initializer or keras.initializers.VarianceScaling(1.0 / 3.0, "fan_in", "uniform"))
        conv = dict(padding="same", kernel_initializer=self.kernel_initializer, dtype=self.dtype_policy)
        self.offset_conv1 = keras.layers.Conv2D(self.filters, 3, name="offset_conv1", **conv)
        self.offset_conv2 = keras.layers.Conv2D(self.filters, 3, name="offset_conv2", **conv)
        self.dyn_agg = DeformableConv2D(self.filters, 3, deformable_groups=self.deformable_groups,
                                        kernel_initializer=self.dcn_initializer, dtype=self.dtype_policy,
                                        name="dyn_agg")

    def build(self, input_shape):
        content, reference, pre_offsets = input_shape
        self.offset_conv1.build((None, None, None, content[-1] + reference[-1]))
        self.offset_conv2.build((None, None, None, self.filters))
        self.dyn_agg.build(reference, offset_features_shape=(None, None, None, self.filters),
                           pre_offsets_shape=pre_offsets)

    def _lrelu(self, x):
        return ops.leaky_relu(x, self.negative_slope)

    def call(self, inputs):
        content, reference, pre_offsets = inputs
        guide = self._lrelu(self.offset_conv1(ops.concatenate([content, reference], axis=-1)))
        guide = self._lrelu(self.offset_conv2(guide))
        return self._lrelu(self.dyn_agg(reference, offset_features=guide, pre_offsets=pre_offsets))

    def compute_output_shape(self, input_shape):
        content = input_shape[0]
        return (content[0], content[1], content[2], self.filters)

    def get_config(self):
        config = super().get_config()
        config.update({
            "filters": self.filters,
            "deformable_groups": self.deformable_groups,
            "negative_slope": self.negative_slope,
            "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
            "dcn_initializer": keras.initializers.serialize(self.dcn_initializer),
        })
        return config
