"""C2-Matching's contrastive losses and correspondence metric (keras.ops, every backend).

Jiang et al., "Robust Reference-based Super-Resolution via C2-Matching", CVPR 2021, Sec. 3.2-3.3, and the
official `TeacherContrasModel.loss_function` / `StudentContrasDistillationModel`: the margin loss on
L2-normalized descriptors `relu(margin + d(pos) - min(hardest negative in the reference, hardest negative in
the input))`, distances `2 - 2 cos`, negatives outside a Chebyshev `safe_radius` (official `+10` mask); the
KL distillation of correlation rows over the valid correspondences; `correspondence_accuracy`.

Example:
    >>> loss = contrastive_loss(f_in, f_ref, batch["target_index"], batch["valid"])
    >>> hits, count = correspondence_accuracy(f_in, f_ref, batch["target_index"], batch["valid"])
"""

from keras import ops

from keras_sr.layers.patch_matching import l2_normalize

__all__ = ["contrastive_terms", "contrastive_loss", "masked_distillation_loss", "correspondence_accuracy",
           "used_pairs", "flatten_grid", "gather_rows"]

MASK_PENALTY = 10.0     # official: distances inside the safe radius get +10 (distances are <= 4)
EXCLUDED = 1e4          # invalid correspondences: never the hardest negative, zero probability


def flatten_grid(features):
    shape = ops.shape(features)
    return ops.reshape(features, (shape[0], shape[1] * shape[2], shape[3]))


def _grid_yx(height, width):
    rows = ops.repeat(ops.arange(height, dtype="int32"), width)
    cols = ops.tile(ops.arange(width, dtype="int32"), [height])
    return rows, cols


def _chebyshev(y1, x1, y2, x2):
    """`max(|y1_i - y2_j|, |x1_i - x2_j|)` for `(..., N)` and `(..., M)` int positions -> `(..., N, M)`."""
    dy = ops.abs(ops.expand_dims(y1, -1) - ops.expand_dims(y2, -2))
    dx = ops.abs(ops.expand_dims(x1, -1) - ops.expand_dims(x2, -2))
    return ops.maximum(dy, dx)


def gather_rows(values, index):
    """`values[b, index[b, n]]` for `(B, M, C)` values and `(B, N)` int index -> `(B, N, C)`."""
    return ops.take_along_axis(values, ops.expand_dims(ops.cast(index, "int32"), -1), axis=1)


def contrastive_terms(input_features, reference_features, target_index, valid, margin=1.0, safe_radius=4):
    """Per-pair terms of the official contrastive loss (`TeacherContrasModel.loss_function`), batched.

    Args:
        input_features: `(B, h1, w1, C)`; reference_features: `(B, h2, w2, C)`.
        target_index: int `(B, h1 * w1)` into the flattened reference grid; valid: `(B, h1 * w1)` 1/0.
        margin, safe_radius: the official 1.0 and 4.

    Returns:
        dict of `(B,)` tensors: `loss` (mean hinge over valid locations), `pos_dist`, `neg_dist`,
        `count` (valid locations), and the L2-normalized descriptors `query` `(B, N, C)` (input) and
        `key` `(B, N, C)` (reference at the targets) for the distillation term.
    """
    valid = ops.cast(valid, input_features.dtype)
    ref_w = ops.shape(reference_features)[2]
    h1, w1 = ops.shape(input_features)[1], ops.shape(input_features)[2]
    query = l2_normalize(flatten_grid(input_features))                     # all_descriptors1 (B, N1, C)
    ref_all = flatten_grid(reference_features)
    key = l2_normalize(gather_rows(ref_all, target_index))            # descriptors2 (B, N1, C)

    positive = 2.0 - 2.0 * ops.sum(query * key, axis=-1)               # (B, N1)
    target_index = ops.cast(target_index, "int32")
    ty, tx = target_index // ref_w, target_index % ref_w
    near = ops.cast(_chebyshev(ty, tx, ty, tx) <= safe_radius, query.dtype)
    distance = 2.0 - 2.0 * ops.matmul(query, ops.swapaxes(key, -1, -2))  # d(query_i, key_j)
    distance = distance + MASK_PENALTY * near + EXCLUDED * (1.0 - ops.expand_dims(valid, -2))
    negative2 = ops.min(distance, axis=-1)

    gy, gx = _grid_yx(h1, w1)
    near = ops.cast(_chebyshev(gy, gx, gy, gx) <= safe_radius, query.dtype)   # (N1, N1), same for every item
    distance = 2.0 - 2.0 * ops.matmul(key, ops.swapaxes(query, -1, -2))       # d(key_i, query_k), all k
    negative1 = ops.min(distance + MASK_PENALTY * near[None], axis=-1)

    negative = ops.minimum(negative1, negative2)
    hinge = ops.relu(margin + positive - negative)
    count = ops.sum(valid, axis=-1)
    denominator = ops.maximum(count, 1.0)
    return {
        "loss": ops.sum(hinge * valid, axis=-1) / denominator,
        "pos_dist": ops.sum(positive * valid, axis=-1) / denominator,
        "neg_dist": ops.sum(negative * valid, axis=-1) / denominator,
        "count": count,
        "query": query,
        "key": key,
    }


def used_pairs(count, min_valid):
    used = ops.cast(count >= float(min_valid), count.dtype)
    return used, ops.maximum(ops.sum(used), 1.0)


def contrastive_loss(input_features, reference_features, target_index, valid, margin=1.0, safe_radius=4,
                     min_valid=128):
    """The official teacher loss: `contrastive_terms`' per-pair loss averaged over pairs with >= `min_valid`.

    Pairs with too few valid correspondences are skipped (official: `< 128`); with none left the loss is 0.
    """
    terms = contrastive_terms(input_features, reference_features, target_index, valid, margin, safe_radius)
    used, n = used_pairs(terms["count"], min_valid)
    return ops.sum(terms["loss"] * used) / n


def masked_distillation_loss(student_query, student_key, teacher_query, teacher_key, valid, temperature=0.15):
    """Per-pair KL(teacher || student) of correlation rows over the valid correspondences, `(B,)`.

    As `keras_sr.layers.correspondence.correlation_distillation_loss` (official
    `kl_div(log_softmax(s / T), softmax(t / T), reduction="batchmean")` on the valid rows and columns
    only), with a `(B, N)` validity mask instead of gathering the valid locations.
    """
    valid = ops.cast(valid, student_query.dtype)
    exclude = EXCLUDED * (1.0 - ops.expand_dims(valid, -2))

    def log_probs(query, key):
        logits = ops.matmul(l2_normalize(query), ops.swapaxes(l2_normalize(key), -1, -2)) / temperature
        return ops.log_softmax(logits - exclude, axis=-1)

    student = log_probs(student_query, student_key)
    teacher = ops.stop_gradient(log_probs(teacher_query, teacher_key))
    rows = ops.sum(ops.exp(teacher) * (teacher - student), axis=-1)
    return ops.sum(rows * valid, axis=-1) / ops.maximum(ops.sum(valid, axis=-1), 1.0)


def correspondence_accuracy(input_features, reference_features, target_index, valid, tolerance=1):
    """`(hits, count)`: valid input locations whose best reference match is within `tolerance` of the truth.

    The match is the argmax of the cosine similarity over all reference feature locations; "within"
    is the Chebyshev distance on the feature grid. Accuracy = hits / count.
    """
    ref_w = ops.shape(reference_features)[2]
    query = l2_normalize(flatten_grid(input_features))
    ref_all = l2_normalize(flatten_grid(reference_features))
    best = ops.cast(ops.argmax(ops.matmul(query, ops.swapaxes(ref_all, -1, -2)), axis=-1), "int32")
    target_index = ops.cast(target_index, "int32")
    error = ops.maximum(ops.abs(best // ref_w - target_index // ref_w), ops.abs(best % ref_w - target_index % ref_w))
    valid = ops.cast(valid, "float32")
    hits = ops.sum(ops.cast(error <= tolerance, "float32") * valid)
    return hits, ops.sum(valid)
