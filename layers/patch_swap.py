"""PatchSwap: SRNTT's conditional texture swap over one or several references (`keras.ops`).

Zhang, Wang, Lin, Qi, "Image Super-Resolution by Neural Texture Transfer",
CVPR 2019 (https://arxiv.org/abs/1903.00834), Sec. 3.1; read from the official
TensorFlow code (github.com/ZZUTK/SRNTT, `SRNTT/swap.py`
`Swap.conditional_swap_multi_layer` and `SRNTT/model.py` `SRNTT.test`):

* content (query): VGG19 relu3_1 of the bicubic x4 LR; condition (key): relu3_1
  of the reference bicubic down x4 then up x4; styles (values): relu3_1,
  relu2_1, relu1_1 of the reference itself;
* 3x3 patches with stride 1 and **no padding** (`padding='VALID'`): the query
  grid is `(H - 2) x (W - 2)`, each key patch is L2-normalized and the best
  one is the argmax of `<query patch, key patch / |key patch|>` (the official
  code also normalizes the query, which does not change the argmax);
* swapping: the matched 3x3 value patch (at relu2_1 / relu1_1 the
  `3s x 3s` patch with stride `s`, `s = 2, 4`) is placed at its query position
  and overlapping patches are averaged by their true count (`count_map`),
  giving maps of the query's size (times `s`);
* several references: the patches of all references are pooled
  (`np.concatenate` over references) and every query patch picks the best one
  among all of them: SRNTT's own multi-reference rule. Here the references
  come folded into the batch, `(B * K, ...)` (`FoldReferences`), and the layer
  regroups them by the query's batch `B`.

The similarity (the max cosine of each query patch, differentiable with
respect to query and key as TTSR's soft attention; the official `weights`
map) is returned too, edge-padded to the query's size as the official
`np.pad(weight, 1, 'edge')`. Matching is chunked (`match_patches`), so the
`(HW) x (K HrWr)` score matrix is never built.

Example:
    >>> swap = PatchSwap(chunk_size=1024)
    >>> t3, t2, t1, s = swap([query, key, value_lv1, value_lv2, value_lv3])   # keys/values (B*K, ...)
    >>> t1.shape                                                              # (B, 4H, 4W, C1)
"""

import keras
from keras import ops

from keras_sr.layers.patch_matching import flatten_grid, gather_rows, match_patches, patch_norms, unfold_patches

__all__ = ["PatchSwap", "swap_valid_patches"]


def swap_valid_patches(values, index, query_size, key_size, scale, batch):
    """Stitch the matched `3s x 3s` value patches (stride `s`, no padding) at their query positions.

    Args:
        values: `(B * K, Hk * s, Wk * s, C)` reference features (larger inputs are cropped).
        index: `(B, (Hq - 2) * (Wq - 2))` int: the matched patch among the pooled valid patches of the
            `K` references of each batch item, `k * (Hk - 2) * (Wk - 2) + r * (Wk - 2) + c` for the patch of
            reference `k` with top-left `(r, c)` on the `Hk x Wk` key grid.
        query_size: `(Hq, Wq)`; key_size: `(Hk, Wk)`.
        scale: `s` (1, 2 or 4 for relu3_1, relu2_1, relu1_1).
        batch: `B`.

    Returns:
        `(B, Hq * s, Wq * s, C)`: overlapping patches averaged by their count (SRNTT's `count_map`).
    """
    q_h, q_w = query_size
    k_h, k_w = key_size
    s = int(scale)
    values = values[:, :k_h * s, :k_w * s, :]
    blocks = ops.space_to_depth(values, s) if s > 1 else values  # (B*K, Hk, Wk, s*s*C)
    depth = blocks.shape[-1]
    flat = ops.reshape(blocks, (batch, -1, depth))  # (B, K * Hk * Wk, depth)
    index = ops.cast(index, "int32")
    k_h_i, k_w_i = ops.cast(k_h, "int32"), ops.cast(k_w, "int32")
    per_ref = (k_h_i - 2) * (k_w_i - 2)
    ref, rest = index // per_ref, index % per_ref
    row, col = rest // (k_w_i - 2), rest % (k_w_i - 2)
    grid_h, grid_w = q_h - 2, q_w - 2
    total = None
    for by in range(3):
        for bx in range(3):
            gathered = gather_rows(flat, ref * k_h_i * k_w_i + (row + by) * k_w_i + col + bx)
            gathered = ops.reshape(gathered, (-1, grid_h, grid_w, depth))
            placed = ops.pad(gathered, [[0, 0], [by, 2 - by], [bx, 2 - bx], [0, 0]])
            total = placed if total is None else total + placed
    ones = ops.ones((1, grid_h, grid_w, 1), total.dtype)
    count = sum(ops.pad(ones, [[0, 0], [by, 2 - by], [bx, 2 - bx], [0, 0]]) for by in range(3) for bx in range(3))
    total = total / count
    return ops.depth_to_space(total, s) if s > 1 else total


@keras.saving.register_keras_serializable(package="keras_sr")
class PatchSwap(keras.layers.Layer):
    """SRNTT's patch matching and texture swapping at three levels (no weights).

    Call with `[query, key, value_lv1, value_lv2, value_lv3]`:

    * query `(B, H, W, C3)` (H, W >= 3): relu3_1 of the LR upsampled;
    * key `(B * K, Hk, Wk, C3)` (Hk, Wk >= 3): relu3_1 of each reference down-up;
    * values `(B * K, 4Hk, 4Wk, C1)`, `(B * K, 2Hk, 2Wk, C2)`, `(B * K, Hk, Wk, C3)`: relu1_1, relu2_1,
      relu3_1 of each reference.

    Returns `[T_lv3, T_lv2, T_lv1, S]`: `(B, H, W, C3)`, `(B, 2H, 2W, C2)`, `(B, 4H, 4W, C1)` and the
    similarity `(B, H, W, 1)`. With `pool_references=True` (SRNTT) the `K` references of an item
    are searched together; with False the key batch must equal the query batch (one reference per
    row, as CIMR's per-reference matching after `RepeatPerReference`).

    Args:
        chunk_size, ref_chunk_size: matching chunks (`keras_sr.layers.patch_matching.match_patches`).
        pool_references: pool the patches of the `K` references of each item (SRNTT's rule).

    Example:
        >>> t3, t2, t1, s = PatchSwap()([q, k, v1, v2, v3])
        >>> s.shape                                              # (B, H, W, 1), max cosine
        >>> PatchSwap(pool_references=False)                     # one reference per query row
    """

    def __init__(self, chunk_size=1024, ref_chunk_size=None, pool_references=True, **kwargs):
        super().__init__(**kwargs)
        self.chunk_size = None if chunk_size is None else int(chunk_size)
        self.ref_chunk_size = None if ref_chunk_size is None else int(ref_chunk_size)
        self.pool_references = bool(pool_references)

    def match(self, query, key):
        """`(index, similarity)`: pooled argmax `(B, (H-2)(W-2))` and max cosine `(B, H, W, 1)` (edge-padded)."""
        batch = ops.shape(query)[0]
        q = flatten_grid(unfold_patches(query, 3, padding=0))
        k = flatten_grid(unfold_patches(key, 3, padding=0))  # (B*K, Nk, D)
        k_norm = patch_norms(k)
        if self.pool_references:
            k = ops.reshape(k, (batch, -1, k.shape[-1]))
            k_norm = ops.reshape(k_norm, (batch, -1))
        index, _ = match_patches(q, k, self.chunk_size, self.ref_chunk_size, key_weights=1.0 / k_norm)
        matched_norm = gather_rows(k_norm[..., None], index)[..., 0]
        similarity = ops.sum(q * gather_rows(k, index), axis=-1) / (patch_norms(q) * matched_norm)
        shape = ops.shape(query)
        similarity = ops.reshape(similarity, (shape[0], shape[1] - 2, shape[2] - 2, 1))
        return index, ops.pad(similarity, [[0, 0], [1, 1], [1, 1], [0, 0]], mode="symmetric")

    def call(self, inputs):
        query, key, value_lv1, value_lv2, value_lv3 = inputs
        index, similarity = self.match(query, key)
        q_shape, k_shape = ops.shape(query), ops.shape(key)
        query_size, key_size = (q_shape[1], q_shape[2]), (k_shape[1], k_shape[2])
        batch = q_shape[0]
        t_lv3 = swap_valid_patches(value_lv3, index, query_size, key_size, 1, batch)
        t_lv2 = swap_valid_patches(value_lv2, index, query_size, key_size, 2, batch)
        t_lv1 = swap_valid_patches(value_lv1, index, query_size, key_size, 4, batch)
        return [t_lv3, t_lv2, t_lv1, similarity]

    def compute_output_shape(self, input_shape):
        query, _, v1, v2, v3 = input_shape
        b, h, w = query[0], query[1], query[2]

        def times(n, f):
            return None if n is None else n * f

        return [(b, h, w, v3[-1]), (b, times(h, 2), times(w, 2), v2[-1]), (b, times(h, 4), times(w, 4), v1[-1]),
                (b, h, w, 1)]

    def get_config(self):
        config = super().get_config()
        config.update({"chunk_size": self.chunk_size, "ref_chunk_size": self.ref_chunk_size,
                       "pool_references": self.pool_references})
        return config
