"""Patch operations of reference-based SR: unfold, fold and chunked patch matching (`keras.ops`).

Reference-based SR (TTSR, Yang et al. CVPR 2020; C2-Matching, Jiang et al.
CVPR 2021; SRNTT before them) matches every 3x3 feature patch of the input
against every 3x3 patch of the reference by cosine similarity and keeps the
best one. Written naively, that is a `(H*W) x (Hr*Wr)` correlation matrix:
for a 500x500 LR-upsampled input and a 500x500 reference the features at
1/4 resolution are 125x125, so the matrix alone is 15625^2 float32 = 977 MB
per image, and 61 GB for a 2000x2000 pair. `match_patches` never builds it:
it walks the query patches `chunk_size` at a time (`keras.ops.fori_loop`)
and, when `ref_chunk_size` is set, the reference patches too, keeping a
running max/argmax. One block of scores is `B * chunk_size *
min(Nr, ref_chunk_size) * 4` bytes (`matching_score_bytes`); the unfolded
patches (`B * N * 9 * C * 4` bytes each for query and reference) are
materialized once.

Peak memory, 500x500 input and 500x500 reference, C = 256 (TTSR relu3_1),
batch 1, `chunk_size=1024`: unfolded query 144 MB + unfolded reference 144 MB
+ score block 64 MB = 352 MB by this formula; XLA's buffer assignment for
TTSR's whole relevance step (unfold, norms, matching, soft attention;
`KERAS_BACKEND=jax python -m tools.benchmark refsr_matching`) measures
432 MB of temporaries chunked against 1265 MB unchunked (977 MB of it the
correlation matrix). Past the chunking, memory is linear in the image sizes.

Conventions (channels last):

* `unfold_patches(x, k, strides, padding)` -> `(B, Ho, Wo, k * k * C)`, each
  vector ordered `(ky, kx, c)`, with symmetric zero padding like
  `torch.nn.functional.unfold`;
* `fold_patches` is its adjoint (overlapping patches are summed), like
  `torch.nn.functional.fold`;
* `match_patches(query, key, key_weights=1 / |key|)` on `(B, Nq, D)` /
  `(B, Nk, D)` vectors returns the index of the best key by cosine similarity
  and its score (not differentiable: recompute the score with `gather_rows`
  if gradients must flow, as TTSR's soft attention does).

Example:
    >>> q = l2_normalize(unfold_patches(lr_features, 3))        # (B, H, W, 9C)
    >>> k = l2_normalize(unfold_patches(ref_features, 3))
    >>> index, score = match_patches(flatten_grid(q), flatten_grid(k), chunk_size=1024)
"""

from keras import ops

__all__ = [
    "unfold_patches",
    "fold_patches",
    "l2_normalize",
    "flatten_grid",
    "gather_rows",
    "match_patches",
    "matching_score_bytes",
    "patch_norms",
]


def unfold_patches(x, patch_size=3, strides=1, padding=None):
    """Sliding `patch_size` x `patch_size` patches of `(B, H, W, C)` as `(B, Ho, Wo, k * k * C)`.

    Args:
        x: `(B, H, W, C)` tensor.
        patch_size: patch side `k`.
        strides: step between patches.
        padding: symmetric zero padding (default `k // 2`: one patch per pixel for stride 1).

    Returns:
        `(B, Ho, Wo, k * k * C)` with `Ho = (H + 2 * padding - k) // strides + 1`; each vector is
        ordered `(ky, kx, c)`.
    """
    k = int(patch_size)
    s = int(strides)
    p = k // 2 if padding is None else int(padding)
    if p:
        x = ops.pad(x, [[0, 0], [p, p], [p, p], [0, 0]])
    shape = ops.shape(x)
    height, width = shape[1], shape[2]
    out_h = (height - k) // s + 1
    out_w = (width - k) // s + 1
    slabs = []
    for ky in range(k):
        for kx in range(k):
            slabs.append(x[:, ky:ky + (out_h - 1) * s + 1:s, kx:kx + (out_w - 1) * s + 1:s, :])
    return ops.concatenate(slabs, axis=-1)


def fold_patches(patches, output_size, patch_size=3, strides=1, padding=None):
    """Sum overlapping patches back into an image: the adjoint of `unfold_patches`.

    Args:
        patches: `(B, Ho, Wo, k * k * C)` ordered `(ky, kx, c)`.
        output_size: `(H, W)` of the image before padding.
        patch_size, strides, padding: as in `unfold_patches`.

    Returns:
        `(B, H, W, C)`; pixels covered by several patches receive the sum.
    """
    k = int(patch_size)
    s = int(strides)
    p = k // 2 if padding is None else int(padding)
    channels = patches.shape[-1] // (k * k)
    shape = ops.shape(patches)
    batch, grid_h, grid_w = shape[0], shape[1], shape[2]
    height, width = output_size
    # A canvas `s` larger than the padded image takes the trailing zeros of the last cell.
    canvas_h, canvas_w = height + 2 * p + s, width + 2 * p + s
    total = None
    for ky in range(k):
        for kx in range(k):
            i = ky * k + kx
            slab = patches[..., i * channels:(i + 1) * channels]
            if s > 1:  # each value at the top-left of an s x s cell, zeros elsewhere
                slab = ops.reshape(slab, (batch, grid_h, 1, grid_w, 1, channels))
                slab = ops.pad(slab, [[0, 0], [0, 0], [0, s - 1], [0, 0], [0, s - 1], [0, 0]])
                slab = ops.reshape(slab, (batch, grid_h * s, grid_w * s, channels))
            placed = ops.pad(slab, [[0, 0], [ky, canvas_h - ky - grid_h * s], [kx, canvas_w - kx - grid_w * s],
                                    [0, 0]])
            total = placed if total is None else total + placed
    return total[:, p:p + height, p:p + width, :]


def l2_normalize(x, axis=-1, epsilon=1e-12):
    """`x / max(||x||, epsilon)` along `axis` (`torch.nn.functional.normalize`).

    Written as `x * rsqrt(max(||x||^2, epsilon^2))`: the same values, and a finite gradient at `x = 0`
    (`sqrt`'s derivative there is infinite, and `0 * inf` made NaN gradients for all-zero patches).
    """
    squared = ops.sum(ops.square(x), axis=axis, keepdims=True)
    return x * ops.rsqrt(ops.maximum(squared, epsilon * epsilon))


def flatten_grid(x):
    """`(B, H, W, D)` -> `(B, H * W, D)` (row-major positions)."""
    shape = ops.shape(x)
    return ops.reshape(x, (shape[0], shape[1] * shape[2], x.shape[-1]))


def gather_rows(x, index):
    """`out[b, i] = x[b, index[b, i]]` for `x` `(B, N, D)` and integer `index` `(B, M)`."""
    shape = ops.shape(x)
    batch, rows = shape[0], shape[1]
    index = ops.cast(index, "int32")
    offsets = ops.arange(batch, dtype="int32")[:, None] * ops.cast(rows, "int32")
    flat = ops.reshape(x, (-1, x.shape[-1]))
    out = ops.take(flat, ops.reshape(index + offsets, (-1,)), axis=0)
    return ops.reshape(out, (batch, ops.shape(index)[1], x.shape[-1]))


def _minimum(a, b):
    return min(a, b) if isinstance(a, int) and isinstance(b, int) else ops.minimum(a, b)


def _best_over_keys(query, key, ref_chunk_size, key_weights):
    """Max and argmax over keys of `(query @ key^T) * key_weights`: `(B, n, D)`, `(B, Nk, D)` -> `(B, n)`."""
    if ref_chunk_size is None:
        scores = ops.einsum("bqd,bkd->bqk", query, key)
        if key_weights is not None:
            scores = scores * key_weights[:, None, :]
        return ops.max(scores, axis=-1), ops.cast(ops.argmax(scores, axis=-1), "int32")
    batch, num_keys = ops.shape(key)[0], ops.shape(key)[1]
    m = _minimum(int(ref_chunk_size), num_keys)
    n_chunks = (num_keys + m - 1) // m

    def body(i, state):
        best, best_index = state
        # The last block is moved back to end at the last key (no padded copy of the keys); keys seen
        # twice cannot win again because the update is strict.
        start = _minimum(i * m, num_keys - m)
        scores = ops.einsum("bqd,bkd->bqk", query, ops.slice(key, [0, start, 0], [batch, m, key.shape[-1]]))
        if key_weights is not None:
            scores = scores * ops.slice(key_weights, [0, start], [batch, m])[:, None, :]
        value = ops.max(scores, axis=-1)
        index = ops.cast(ops.argmax(scores, axis=-1), "int32") + ops.cast(start, "int32")
        better = value > best  # strict: the first maximum wins, as argmax
        return ops.where(better, value, best), ops.where(better, index, best_index)

    shape = ops.shape(query)
    init = (ops.full((shape[0], shape[1]), -3.0e38, query.dtype), ops.zeros((shape[0], shape[1]), "int32"))
    return ops.fori_loop(0, n_chunks, body, init)


def match_patches(query, key, chunk_size=1024, ref_chunk_size=None, key_weights=None):
    """Best key for every query by (weighted) dot product, without the full correlation matrix.

    Queries are processed `chunk_size` at a time in a loop that writes each chunk's result into
    the output (`keras.ops.fori_loop` + `slice_update`; the last chunk is moved back so it ends at
    the last query: no padded copy of the queries). With `ref_chunk_size`, each chunk also walks
    the keys in blocks keeping a running max/argmax.

    Args:
        query: `(B, Nq, D)`.
        key: `(B, Nk, D)`.
        chunk_size: queries per step; None computes all queries at once (the full matrix).
        ref_chunk_size: keys per step inside a query chunk (running max/argmax); None: all keys.
        key_weights: optional `(B, Nk)` factors on the scores of each key: `1 / |key|` gives
            cosine similarity (up to the query's norm, which does not change the argmax)
            without a normalized copy of the keys.

    Returns:
        `(index, score)`: `(B, Nq)` int32 argmax over keys (the first one on ties) and the max
        score. Both are computed under `stop_gradient`.
    """
    query = ops.stop_gradient(ops.convert_to_tensor(query))
    key = ops.stop_gradient(ops.convert_to_tensor(key))
    if key_weights is not None:
        key_weights = ops.stop_gradient(ops.cast(key_weights, query.dtype))
    if chunk_size is None:
        score, index = _best_over_keys(query, key, ref_chunk_size, key_weights)
        return index, score
    shape = ops.shape(query)
    batch, num_queries = shape[0], shape[1]
    c = _minimum(int(chunk_size), num_queries)
    n_chunks = (num_queries + c - 1) // c

    def body(i, state):
        scores, indices = state
        start = _minimum(i * c, num_queries - c)
        chunk = ops.slice(query, [0, start, 0], [batch, c, query.shape[-1]])
        score, index = _best_over_keys(chunk, key, ref_chunk_size, key_weights)
        return ops.slice_update(scores, [0, start], score), ops.slice_update(indices, [0, start], index)

    init = (ops.zeros((batch, num_queries), query.dtype), ops.zeros((batch, num_queries), "int32"))
    score, index = ops.fori_loop(0, n_chunks, body, init)
    return index, score


def patch_norms(patches, epsilon=1e-12):
    """`max(||v||, epsilon)` of every vector of `(B, N, D)` -> `(B, N)` (F.normalize's denominator)."""
    return ops.maximum(ops.sqrt(ops.sum(ops.square(patches), axis=-1)), epsilon)


def matching_score_bytes(num_queries, num_keys, chunk_size=1024, ref_chunk_size=None, batch=1, dtype_bytes=4):
    """Bytes of one block of patch scores in `match_patches` (the full matrix when chunk_size is None).

    Example: `matching_score_bytes(125 * 125, 125 * 125)` -> 64,000,000 (64 MB) for a 500x500
    input and reference at 1/4 feature resolution; unchunked: 976,562,500 (977 MB).
    """
    rows = num_queries if chunk_size is None else min(int(chunk_size), num_queries)
    cols = num_keys if ref_chunk_size is None else min(int(ref_chunk_size), num_keys)
    return int(batch) * rows * cols * int(dtype_bytes)
