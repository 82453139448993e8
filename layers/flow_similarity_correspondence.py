"""FlowSimilarityCorrespondence: DATSR's correspondence (flows, deformable pre-offsets and similarities, 3 scales).

Cao, Liang, Zhang, Li, Zhang, Timofte, Van Gool, "Reference-based Image
Super-Resolution with Deformable Attention Transformer", ECCV 2022
(https://arxiv.org/abs/2207.11938); official `FlowSimCorrespondenceGenerationArch`
(github.com/caojiezhang/DATSR, `datsr/models/archs/flow_similarity_corres_generation_arch.py`).
It extends C2-Matching's correspondence (`keras_sr.layers.correspondence.patch_flow`:
per-pixel L2-normalized descriptors, 3x3 patches, cosine argmax) with

* the flow itself at each scale `s` (repeated `s x s`, times `s`) for the
  pre-warping of the reference features (`FlowWarp`);
* the best cosine similarity, zero-padded by one on each side (the patch
  centres) and repeated `s x s`, which scales the mask logits of the
  deformable attention (`DeformableConv2D(mask_scale=...)`);
* the pre-offsets of a 3x3 deformable conv (`flow_to_pre_offsets`).

Call with `[input_features, reference_features]` (same grid, `(B, H, W, C)`); returns, for each scale in
`scales` (official 1, 2, 4 for relu3_1, relu2_1, relu1_1), `pre_offsets (B, sH, sW, 18)`, `flow (B, sH, sW, 2)`
as `(dy, dx)` and `similarity (B, sH, sW, 1)`, flattened in that order. No weights.

Example:
    >>> corr = FlowSimilarityCorrespondence()
    >>> off3, flow3, sim3, off2, flow2, sim2, off1, flow1, sim1 = corr([f_in, f_ref])
"""

import keras
from keras import ops

from keras_sr.layers.correspondence import flow_to_pre_offsets, patch_flow

__all__ = ["FlowSimilarityCorrespondence"]


def _repeat(x, s):
    return x if s == 1 else ops.repeat(ops.repeat(x, s, axis=1), s, axis=2)


@keras.saving.register_keras_serializable(package="keras_sr")
class FlowSimilarityCorrespondence(keras.layers.Layer):
    """`[input_features, reference_features] -> [pre_offsets, flow, similarity] per scale` (DATSR; no weights).

    Args:
        scales: output resolutions relative to the features (1, 2, 4).
        chunk_size, ref_chunk_size: matching chunk sizes (`match_patches`).

    Example:
        >>> outs = FlowSimilarityCorrespondence(scales=(1, 2))([f_in, f_ref])   # 6 tensors
    """

    def __init__(self, scales=(1, 2, 4), chunk_size=1024, ref_chunk_size=None, **kwargs):
        super().__init__(**kwargs)
        self.scales = tuple(int(s) for s in scales)
        self.chunk_size = None if chunk_size is None else int(chunk_size)
        self.ref_chunk_size = None if ref_chunk_size is None else int(ref_chunk_size)

    def call(self, inputs):
        flow, similarity = patch_flow(inputs[0], inputs[1], self.chunk_size, self.ref_chunk_size)
        similarity = ops.pad(similarity[..., None], [[0, 0], [1, 1], [1, 1], [0, 0]])
        outputs = []
        for s in self.scales:
            outputs += [flow_to_pre_offsets(flow, s), _repeat(flow, s) * float(s), _repeat(similarity, s)]
        return outputs

    def compute_output_shape(self, input_shape):
        b, h, w = input_shape[0][:3]
        out = []
        for s in self.scales:
            hs, ws = (None if h is None else h * s), (None if w is None else w * s)
            out += [(b, hs, ws, 18), (b, hs, ws, 2), (b, hs, ws, 1)]
        return out

    def get_config(self):
        config = super().get_config()
        config.update({"scales": list(self.scales), "chunk_size": self.chunk_size,
                       "ref_chunk_size": self.ref_chunk_size})
        return config
