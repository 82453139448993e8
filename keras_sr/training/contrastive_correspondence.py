"""C2-Matching's contrastive correspondence stages: the teacher, then the student with distillation.

Jiang, Chan, Zhou, Loy, Liu, "Robust Reference-based Super-Resolution via
C2-Matching", CVPR 2021 (https://arxiv.org/abs/2106.01863), Sec. 3.2-3.3, and
the official code (github.com/yumingj/C2-Matching: `teacher_contras_model.py`,
`student_contras_distillation_model.py`, `contras_dataset.py`, options
`stage1_teacher_contras_network.yml`, `stage2_student_contras_network.yml`).

* Data (`ContrastivePairDataset`): an HR crop `img_in` (160 px), its LR
  bicubic x4 re-upsampled `img_in_up`, and a second view `img_ref` of the
  same scene with a known homography. The official code perturbs the crop's
  corners by up to 10 px; we use `keras_sr.data.reference_views` (our
  documented CUFED substitute: zoom, rotation, shift, perspective, colour
  jitter). `transform` maps reference-patch (x, y) -> input-patch (x, y);
  `correspondence_targets` inverts it to give each input feature location
  (pixel `4 i`, as official `grid_positions * 4`) its reference feature
  location `round(p / 4)`, valid when it falls more than 10 px inside the
  reference (official `warp`).
* Teacher (`stage="teacher"`): `ContrastiveFeatureExtractor(img_in, img_ref)`
  trained with the official margin loss on L2-normalized descriptors:
  `relu(margin + d(pos) - min(hardest negative in the reference, hardest
  negative in the input))`, distances `2 - 2 cos`, negatives outside a
  Chebyshev `safe_radius` of 4 feature pixels (official `+10` mask), margin 1,
  pairs with fewer than 128 valid correspondences skipped. Adam 1e-3, batch 8,
  5,000 iterations.
* Student (`stage="student"`): the same extractor on `img_in_up` (what
  restoration matches with) vs `img_ref`, loss = the contrastive loss + 15 x
  the KL divergence between the frozen teacher's and the student's
  correlation rows `softmax(q . k / 0.15)` over the valid correspondences
  (official `kl_div(..., reduction="batchmean")`; `correlation_distillation_loss`
  with a validity mask). Adam 1e-3, x0.1 at 72,545 of 75,000 iterations.
  The official student starts from ImageNet VGG16; without those weights we
  start it from the teacher (`init_weights` overrides).
* `correspondence_accuracy`: the fraction of valid input locations whose
  nearest reference descriptor (argmax cosine over all reference locations)
  lies within 1 feature pixel (Chebyshev) of the true one: the stage's
  learning signal in one number.

Initialization: the official trunks both start from ImageNet VGG16
(`init_weights=` takes a torchvision VGG16 `.npz`); keras-sr downloads no
weights, so without it both trunks start from the *same* random VGG16 (two
unrelated random trunks would start with no correspondence at all). From that
random start, short CPU runs at the official 1e-3 collapsed the descriptors
(positive and negative distances -> 0, loss -> margin) while 1e-4 trained
stably (measurements in issue #7): lower `learning_rate` when
training from scratch.

The step is a `keras.Model` subclass overriding `compute_loss`, so `fit`
trains it on TensorFlow and JAX (both tested). Run directory: `config.json`,
`checkpoints/` (atomic, last K: `keras_sr.training.checkpoint`), `log.csv`
(loss terms and held-out accuracy per checkpoint), `extractor.npz` (the
trained extractor in the official `net_g` / `net_student` key layout,
`feature_extraction_image{1,2}.model.conv*.weight`, loadable by
`ContrastiveFeatureExtractor(weights=...)` and `c2_matching(contrastive_weights=...)`),
`summary.json` (accuracy before/after). `resume=True` continues at the
checkpoint's step with the same batches.

Example:
    >>> teacher = train_contrastive("teacher", 5000, ["T91/HR"], "runs/c2/teacher")
    >>> student = train_contrastive("student", 75000, ["T91/HR"], "runs/c2/student",
    ...                             teacher_weights=teacher.extractor_path)
    >>> model = models.build("c2_matching", contrastive_weights=student.extractor_path)
"""

import csv
import dataclasses
import json
import math
import os
import time

import numpy as np

import keras
from keras import ops

from keras_sr.data.reference_views import ViewParams, project_points
from keras_sr.data.refsr_dataset import RefSRPatchDataset
from keras_sr.layers.correspondence import ContrastiveFeatureExtractor
from keras_sr.layers.patch_matching import l2_normalize
from keras_sr.training.engine import fit_jit_compile

__all__ = [
    "STAGES",
    "ContrastiveConfig",
    "ContrastivePairDataset",
    "ContrastiveCorrespondenceModel",
    "ContrastiveResult",
    "correspondence_targets",
    "contrastive_terms",
    "contrastive_loss",
    "masked_distillation_loss",
    "correspondence_accuracy",
    "evaluate_accuracy",
    "save_extractor_npz",
    "load_extractor_npz",
    "load_and_freeze_extractor",
    "train_contrastive",
]

STAGES = ("teacher", "student")
OFFICIAL_KEYS = ("feature_extraction_image1.model.", "feature_extraction_image2.model.")
MASK_PENALTY = 10.0     # official: distances inside the safe radius get +10 (distances are <= 4)
EXCLUDED = 1e4          # invalid correspondences: never the hardest negative, zero probability
LOG_COLUMNS = ("step", "loss", "contrastive", "pos_dist", "neg_dist", "distill", "valid_pairs", "accuracy",
               "learning_rate", "elapsed_s")


@dataclasses.dataclass(frozen=True)
class ContrastiveConfig:
    """Hyperparameters of one contrastive stage; defaults are the official stage-1/2 options."""

    widths: tuple = (64, 128, 256)     # VGG16 blocks 1-3 (conv3_1 descriptors)
    patch_size: int = 160              # gt_size
    batch_size: int = 8
    scale: int = 4                     # LR factor of img_in_up
    learning_rate: float = 1e-3        # lr_g (Adam)
    lr_milestones: tuple = ()          # student: (72545,)
    lr_gamma: float = 0.1
    margin: float = 1.0
    safe_radius: int = 4               # feature pixels (Chebyshev)
    stride: int = 4                    # 2 ** scaling_steps
    border: float = 10.0               # correspondences within 10 px of the reference's edge are dropped
    min_valid: int = 128               # pairs with fewer valid correspondences are skipped
    distill_weight: float = 15.0
    temperature: float = 0.15
    seed: int = 10                     # manual_seed
    checkpoint_every: int = 1000
    keep_checkpoints: int = 3
    eval_batches: int = 4              # held-out batches for correspondence_accuracy
    eval_seed: int = 1234
    augment: bool = True               # flips and 90-degree rotations (use_flip, use_rot)
    view_params: ViewParams = ViewParams()
    jit_compile: str = "auto"          # auto | on | off
    workers: int = 1                   # PyDataset workers

    @classmethod
    def official(cls, stage, **overrides):
        """The official configuration of `stage` (teacher: 5k its at 1e-3; student: 75k, x0.1 at 72,545)."""
        _check_stage(stage)
        values = {"lr_milestones": (72545,)} if stage == "student" else {}
        values.update(overrides)
        return cls(**values)

    def to_dict(self):
        values = dataclasses.asdict(self)
        values["view_params"] = dataclasses.asdict(self.view_params)
        return values

    @classmethod
    def from_dict(cls, values):
        values = dict(values)
        if isinstance(values.get("view_params"), dict):
            values["view_params"] = ViewParams(**{k: tuple(v) if isinstance(v, list) else v
                                                  for k, v in values["view_params"].items()})
        for key in ("widths", "lr_milestones"):
            if key in values:
                values[key] = tuple(values[key])
        return cls(**values)


def _check_stage(stage):
    if stage not in STAGES:
        raise ValueError(f"contrastive stage must be one of {STAGES}, got {stage!r}.")


# Targets ----------------------------------------------------------------------------------------------------


def correspondence_targets(transform, input_size, ref_size, stride=4, border=10.0):
    """Every input feature location's true reference feature location, from the view's homography.

    Args:
        transform: `(3, 3)` or `(B, 3, 3)`: reference pixel (x, y) -> input pixel (x, y).
        input_size, ref_size: `(h, w)` of the input and reference images (pixels).
        stride: feature stride (4 at conv3_1).
        border: correspondences closer than this (pixels) to the reference's edge are invalid.

    Returns:
        `(index, valid)`: int32 `(B, N)` indices into the flattened `(h_r / stride) x (w_r / stride)`
        reference feature grid, and float32 `(B, N)` 1/0, for the `N = (h / stride) * (w / stride)`
        input feature locations in row-major order (location `(i, j)` is pixel `(stride j, stride i)`).
    """
    transform = np.asarray(transform, np.float64)
    squeeze = transform.ndim == 2
    transforms = transform[None] if squeeze else transform
    h1, w1 = int(input_size[0]) // stride, int(input_size[1]) // stride
    ref_h, ref_w = int(ref_size[0]), int(ref_size[1])
    h2, w2 = ref_h // stride, ref_w // stride
    ys, xs = np.meshgrid(np.arange(h1), np.arange(w1), indexing="ij")
    points = np.stack([xs.ravel(), ys.ravel()], axis=1) * float(stride)
    indices, valids = [], []
    for t in transforms:
        ref_xy = project_points(np.linalg.inv(t), points)
        x, y = ref_xy[:, 0], ref_xy[:, 1]
        valid = (x > border) & (x < ref_w - border) & (y > border) & (y < ref_h - border) & np.isfinite(x + y)
        fx = np.clip(np.round(np.nan_to_num(x) / stride), 0, w2 - 1).astype(np.int64)
        fy = np.clip(np.round(np.nan_to_num(y) / stride), 0, h2 - 1).astype(np.int64)
        indices.append((fy * w2 + fx).astype(np.int32))
        valids.append(valid.astype(np.float32))
    index, valid = np.stack(indices), np.stack(valids)
    return (index[0], valid[0]) if squeeze else (index, valid)


# Data -------------------------------------------------------------------------------------------------------


def _resolve_images(images):
    from keras_sr.image_io import list_images

    if isinstance(images, (str, os.PathLike, np.ndarray)):
        images = [images]
    found = []
    for item in images:
        if isinstance(item, np.ndarray):
            found.append(item)
        elif os.path.isdir(item):
            found.extend(list_images(item))
        else:
            found.append(os.fspath(item))
    if not found:
        raise ValueError("ContrastivePairDataset: no training images given.")
    return found


class ContrastivePairDataset(RefSRPatchDataset):
    """Batches of (HR crop, LR-upsampled crop, homography view, transform, targets) for the contrastive stages.

    `RefSRPatchDataset` with C2-Matching's data rules (`joint_augment`, `enlarge_small`).
    Batch `index` of epoch `e` depends only on `(seed, e, index)`. Each sample:
    a random image, a random flip/rotation of it, a `patch_size` crop `img_in` (images
    smaller than the crop are enlarged first, as the official data resizes every
    image to 160 px), `img_in_up = imresize(imresize(img_in, 1/scale), scale)`
    (MATLAB bicubic), and `img_ref, T = synthesize_reference(image, target_box=crop)`.

    `__getitem__` returns `(inputs,)`, inputs a dict of float32 arrays: `img_in`, `img_in_up`,
    `img_ref` `(B, P, P, 3)` in [0, 255]; `transform` `(B, 3, 3)` (reference-patch (x, y) ->
    input-patch (x, y)); `target_index` int32 and `valid` float32 `(B, (P / stride) ** 2)`
    (`correspondence_targets`).

    Example:
        >>> ds = ContrastivePairDataset(["T91/HR"], patch_size=160, batch_size=8, seed=10)
        >>> (batch,) = ds[0]
        >>> batch["img_ref"].shape, batch["target_index"].shape      # (8, 160, 160, 3), (8, 1600)
    """

    def __init__(self, images, patch_size=160, batch_size=8, scale=4, steps_per_epoch=1000, seed=0,
                 view_params=None, augment=True, stride=4, border=10.0, **kwargs):
        patch_size, scale, stride = int(patch_size), int(scale), int(stride)
        if patch_size % (stride * scale) or patch_size < 4 * stride:
            raise ValueError(f"ContrastivePairDataset: patch_size {patch_size} must be a multiple of "
                             f"stride x scale = {stride * scale} and at least {4 * stride}.")
        super().__init__(_resolve_images(images), ("lr_up", "ref"), patch_size=patch_size // scale,
                         batch_size=batch_size, scale=scale, steps_per_epoch=steps_per_epoch, augment=augment,
                         seed=seed, view_params=view_params, return_transforms=True, joint_augment=True,
                         enlarge_small=True, **kwargs)
        self.stride = stride
        self.border = float(border)

    def batch(self, index, epoch=None):
        """The inputs dict of batch `index` of `epoch` (default: the current epoch)."""
        epoch = self.epoch if epoch is None else int(epoch)
        rng = np.random.default_rng([self.seed, epoch, int(index)])
        samples = [self.sample(rng) for _ in range(self.batch_size)]
        hr, transform = np.stack([s[1] for s in samples]), np.stack([s[2] for s in samples])
        up, ref = (np.stack([s[0][name] for s in samples]) for name in ("lr_up", "ref"))
        index_, valid = correspondence_targets(transform, hr.shape[1:3], ref.shape[1:3], self.stride, self.border)
        return {"img_in": hr.astype(np.float32), "img_in_up": up.astype(np.float32),
                "img_ref": ref.astype(np.float32), "transform": transform.astype(np.float32),
                "target_index": index_, "valid": valid}

    def __getitem__(self, index):
        if not 0 <= index < self.steps_per_epoch:
            raise IndexError(f"batch {index} out of range (steps_per_epoch={self.steps_per_epoch}).")
        return (self.batch(index),)


# Losses and metric --------------------------------------------------------------------------------------------


def _flatten(features):
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


def _gather_rows(values, index):
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
    query = l2_normalize(_flatten(input_features))                     # all_descriptors1 (B, N1, C)
    ref_all = _flatten(reference_features)
    key = l2_normalize(_gather_rows(ref_all, target_index))            # descriptors2 (B, N1, C)

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


def _used(count, min_valid):
    used = ops.cast(count >= float(min_valid), count.dtype)
    return used, ops.maximum(ops.sum(used), 1.0)


def contrastive_loss(input_features, reference_features, target_index, valid, margin=1.0, safe_radius=4,
                     min_valid=128):
    """The official teacher loss: `contrastive_terms`' per-pair loss averaged over pairs with >= `min_valid`.

    Pairs with too few valid correspondences are skipped (official: `< 128`); with none left the loss is 0.
    """
    terms = contrastive_terms(input_features, reference_features, target_index, valid, margin, safe_radius)
    used, n = _used(terms["count"], min_valid)
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
    query = l2_normalize(_flatten(input_features))
    ref_all = l2_normalize(_flatten(reference_features))
    best = ops.cast(ops.argmax(ops.matmul(query, ops.swapaxes(ref_all, -1, -2)), axis=-1), "int32")
    target_index = ops.cast(target_index, "int32")
    error = ops.maximum(ops.abs(best // ref_w - target_index // ref_w), ops.abs(best % ref_w - target_index % ref_w))
    valid = ops.cast(valid, "float32")
    hits = ops.sum(ops.cast(error <= tolerance, "float32") * valid)
    return hits, ops.sum(valid)


# Model --------------------------------------------------------------------------------------------------------


class ContrastiveCorrespondenceModel(keras.Model):
    """The contrastive teacher or student as a trainable `keras.Model` (loss in `compute_loss`).

    Call with the `ContrastivePairDataset` inputs dict; returns the features. `fit` works on every
    backend (the loss is `keras.ops`).

    Args:
        stage: "teacher" (extractor on `img_in` vs `img_ref`) or "student" (on `img_in_up`, distilled
            from a frozen teacher on `img_in`).
        widths: extractor VGG16 block widths.
        init_weights: optional `.npz` (official extractor or torchvision VGG16) for the trained extractor.
        teacher_weights: `.npz` of the teacher (student stage; required for real runs).
        margin, safe_radius, min_valid, distill_weight, temperature: loss settings.

    Example:
        >>> model = ContrastiveCorrespondenceModel("teacher", widths=(64, 128, 256))
        >>> model.compile(keras.optimizers.Adam(1e-3))
        >>> model.fit(ContrastivePairDataset(["T91/HR"]), epochs=5)
    """

    def __init__(self, stage="teacher", widths=(64, 128, 256), init_weights=None, teacher_weights=None,
                 margin=1.0, safe_radius=4, min_valid=128, distill_weight=15.0, temperature=0.15, **kwargs):
        super().__init__(**kwargs)
        _check_stage(stage)
        self.stage = stage
        self.margin = float(margin)
        self.safe_radius = int(safe_radius)
        self.min_valid = int(min_valid)
        self.distill_weight = float(distill_weight)
        self.temperature = float(temperature)
        self.extractor = ContrastiveFeatureExtractor(widths, weights=init_weights, name="extractor")
        self.teacher = None
        if stage == "student":
            self.teacher = ContrastiveFeatureExtractor(widths, weights=teacher_weights, name="teacher")
            self.teacher.trainable = False
        names = ("contrastive", "pos_dist", "neg_dist", "valid_pairs") + (("distill",) if self.teacher else ())
        self.trackers = {name: keras.metrics.Mean(name=name) for name in names}
        self._tie_trunks = init_weights is None

    def build(self, input_shape=None):
        shape = (None, None, None, 3)
        self.extractor.build([shape, shape])
        if self._tie_trunks:
            # No pretrained weights: both trunks start from the same random VGG16, as the official ones both
            # start from the same ImageNet VGG16 (two unrelated random trunks would start with no correspondence).
            for name, conv in self.extractor.input_extractor.convs.items():
                other = self.extractor.reference_extractor.convs[name]
                other.kernel.assign(ops.convert_to_numpy(conv.kernel))  # copies: no shared JAX buffers
                other.bias.assign(ops.convert_to_numpy(conv.bias))
        if self.teacher is not None:
            self.teacher.build([shape, shape])
        self.built = True

    @property
    def query_key(self):
        """The input image the trained extractor sees: `img_in` (teacher) or `img_in_up` (student)."""
        return "img_in" if self.stage == "teacher" else "img_in_up"

    def call(self, inputs, training=False):
        f_in, f_ref = self.extractor([inputs[self.query_key], inputs["img_ref"]])
        outputs = {"input_features": f_in, "reference_features": f_ref}
        if self.teacher is not None:
            t_in, t_ref = self.teacher([inputs["img_in"], inputs["img_ref"]])
            outputs["teacher_input_features"] = ops.stop_gradient(t_in)
            outputs["teacher_reference_features"] = ops.stop_gradient(t_ref)
        return outputs

    def loss_terms(self, inputs, outputs):
        """`(total, logs)` of one batch: the official loss and its parts (scalars)."""
        terms = contrastive_terms(outputs["input_features"], outputs["reference_features"], inputs["target_index"],
                                  inputs["valid"], self.margin, self.safe_radius)
        used, n = _used(terms["count"], self.min_valid)
        contrastive = ops.sum(terms["loss"] * used) / n
        logs = {"contrastive": contrastive, "pos_dist": ops.sum(terms["pos_dist"] * used) / n,
                "neg_dist": ops.sum(terms["neg_dist"] * used) / n, "valid_pairs": ops.sum(used)}
        total = contrastive
        if self.teacher is not None:
            teacher_query = _flatten(outputs["teacher_input_features"])
            teacher_key = _gather_rows(_flatten(outputs["teacher_reference_features"]), inputs["target_index"])
            kl = masked_distillation_loss(terms["query"], terms["key"], teacher_query, teacher_key,
                                          inputs["valid"], self.temperature)
            logs["distill"] = ops.sum(kl * used) / n
            total = total + self.distill_weight * logs["distill"]
        return total, logs

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        total, logs = self.loss_terms(x, y_pred)
        for name, value in logs.items():
            self.trackers[name].update_state(value)
        return total

    def get_config(self):
        return {"stage": self.stage, "widths": list(self.extractor.widths), "margin": self.margin,
                "safe_radius": self.safe_radius, "min_valid": self.min_valid,
                "distill_weight": self.distill_weight, "temperature": self.temperature, "name": self.name}


# Weights files --------------------------------------------------------------------------------------------------


def save_extractor_npz(extractor, path):
    """Write a `ContrastiveFeatureExtractor`'s weights as an official-layout `.npz` (OIHW), atomically."""
    from keras_sr.fileio import atomic_path

    arrays = {}
    for prefix, trunk in zip(OFFICIAL_KEYS, (extractor.input_extractor, extractor.reference_extractor)):
        for name, conv in trunk.convs.items():
            kernel = ops.convert_to_numpy(conv.kernel).astype(np.float32)
            arrays[f"{prefix}{name}.weight"] = np.transpose(kernel, (3, 2, 0, 1))  # HWIO -> OIHW
            arrays[f"{prefix}{name}.bias"] = ops.convert_to_numpy(conv.bias).astype(np.float32)
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            np.savez(f, **arrays)
    return path


def load_extractor_npz(extractor, path):
    """Load an official-layout `.npz` (`save_extractor_npz`, or the official `net_student` converted) into both trunks."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path}: contrastive extractor weights file not found (the extractor.npz of a "
                                f"contrastive teacher/student run).")
    for prefix, trunk in zip(OFFICIAL_KEYS, (extractor.input_extractor, extractor.reference_extractor)):
        trunk.load_weights_file(path, prefix)
    return extractor


def load_and_freeze_extractor(path, layer_name="contrastive_extractor"):
    """A `model_hook(model)`: load the contrastive extractor `path` into `model`'s extractor and freeze it.

    For `keras_sr.training.refsr.train_refsr(..., model_hook=...)`: the restoration stage uses the
    student's extractor, frozen as in the official stage 3. Call before compiling.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path}: contrastive extractor weights file not found.")

    def hook(model):
        try:
            layer = model.get_layer(layer_name)
        except ValueError:
            layers = [l for l in model._flatten_layers() if isinstance(l, ContrastiveFeatureExtractor)]
            if not layers:
                raise ValueError(f"{model.name}: no ContrastiveFeatureExtractor layer to load {path} into.")
            layer = layers[0]
        load_extractor_npz(layer, path)
        layer.trainable = False
        return model

    return hook


# Training -----------------------------------------------------------------------------------------------------


@dataclasses.dataclass
class ContrastiveResult:
    run_dir: str
    model: ContrastiveCorrespondenceModel
    extractor_path: str
    history: list
    accuracy_before: float
    accuracy_after: float
    steps: int
    seconds: float


def evaluate_accuracy(model, batches, tolerance=1):
    """Correspondence accuracy of `model`'s extractor (its stage's query image) over `batches` (input dicts)."""
    hits = count = 0.0
    for batch in batches:
        f_in, f_ref = model.extractor([ops.convert_to_tensor(batch[model.query_key]),
                                       ops.convert_to_tensor(batch["img_ref"])])
        h, c = correspondence_accuracy(f_in, f_ref, batch["target_index"], batch["valid"], tolerance)
        hits += float(ops.convert_to_numpy(h))
        count += float(ops.convert_to_numpy(c))
    return hits / count if count else float("nan")


def _schedule(config):
    milestones = sorted(int(m) for m in config.lr_milestones if int(m) > 0)
    if not milestones:
        return float(config.learning_rate)
    values = [config.learning_rate * config.lr_gamma ** k for k in range(len(milestones) + 1)]
    return keras.optimizers.schedules.PiecewiseConstantDecay(milestones, values)


class _LogCallback(keras.callbacks.Callback):
    """Held-out accuracy and a `log.csv` row at every epoch end (= every checkpoint interval)."""

    def __init__(self, path, eval_batches, epoch_steps, started, log):
        super().__init__()
        self.path, self.eval_batches, self.epoch_steps, self.started, self.log = path, eval_batches, epoch_steps, \
            started, log
        self.rows = []

    def on_epoch_end(self, epoch, logs=None):
        logs = dict(logs or {})
        step = int(ops.convert_to_numpy(self.model.optimizer.iterations))
        accuracy = evaluate_accuracy(self.model, self.eval_batches)
        lr = self.model.optimizer.learning_rate
        row = {"step": step, "accuracy": accuracy, "elapsed_s": round(time.time() - self.started, 1),
               "learning_rate": float(ops.convert_to_numpy(lr))}
        row.update({k: float(logs[k]) for k in LOG_COLUMNS if k in logs})
        self.rows.append(row)
        new = not os.path.isfile(self.path)
        with open(self.path, "a", newline="", encoding="utf-8") as f:
            writer = csv.DictWriter(f, LOG_COLUMNS, extrasaction="ignore")
            if new:
                writer.writeheader()
            writer.writerow(row)
        self.log(f"step {step}: loss {row.get('loss', float('nan')):.4f} pos {row.get('pos_dist', float('nan')):.3f} "
                 f"neg {row.get('neg_dist', float('nan')):.3f}"
                 + (f" distill {row['distill']:.4f}" if "distill" in row else "")
                 + f" accuracy {accuracy:.3f}")


def _split(data, val_data):
    """`(train, held_out)` images: arrays pass through, paths go through `resolve_data`."""
    from keras_sr.data.sources import resolve_data

    def arrays(items):
        return isinstance(items, np.ndarray) or (isinstance(items, (list, tuple)) and items
                                                 and any(isinstance(i, np.ndarray) for i in items))

    if arrays(data):
        train = list(data) if isinstance(data, (list, tuple)) else [data]
        return train, (None if val_data is None else _resolve_images(val_data))
    split = resolve_data(data, None if arrays(val_data) else val_data)
    held_out = _resolve_images(val_data) if arrays(val_data) else split.val
    return split.train, list(held_out or [])


def train_contrastive(stage, steps, data, out, teacher_weights=None, config=None, val_data=None, resume=False,
                      init_weights=None, train_data=None, log=print, verbose=0):
    """Train the contrastive teacher or student; returns a `ContrastiveResult`.

    Args:
        stage: "teacher" or "student".
        steps: optimizer steps (official: teacher 5,000, student 75,000).
        data: HR training images (folders/files; None: the embedded photographs, see
            `keras_sr.data.sources.resolve_data`); val_data: held-out images for the accuracy metric
            (default: the split's held-out images, else the training images with another seed).
        out: run directory.
        teacher_weights: the teacher's `extractor.npz` (student stage).
        config: `ContrastiveConfig` (default `ContrastiveConfig.official(stage)`).
        resume: continue from the latest checkpoint in `out` (step and batches continue).
        init_weights: `.npz` initializing the trained extractor (official extractor or torchvision VGG16);
            student default: `teacher_weights` (the official student starts from ImageNet VGG16).
        train_data: a ready `ContrastivePairDataset` (overrides `data`).
        log: a print function; verbose: `fit` verbosity.
    """
    from keras_sr.training.checkpoint import CheckpointCallback, CheckpointManager

    _check_stage(stage)
    config = config or ContrastiveConfig.official(stage)
    steps = int(steps)
    if steps < 1:
        raise ValueError(f"train_contrastive: steps must be >= 1, got {steps}.")
    if stage == "student" and teacher_weights is None:
        raise ValueError("train_contrastive: the student stage needs teacher_weights (the teacher run's "
                         "extractor.npz).")
    for label, path in (("teacher_weights", teacher_weights), ("init_weights", init_weights)):
        if path is not None and not os.path.isfile(path):
            raise FileNotFoundError(f"{path}: {label} file not found.")
    if stage == "student" and init_weights is None:
        init_weights = teacher_weights
    out = os.fspath(out)
    os.makedirs(out, exist_ok=True)
    manager = CheckpointManager(os.path.join(out, "checkpoints"), keep=config.keep_checkpoints)
    resuming = bool(resume and manager.latest_path())
    if resume and not resuming:
        log(f"resume: no checkpoint in {out}/checkpoints, starting from step 0")

    epoch_steps = max(1, math.gcd(int(config.checkpoint_every), steps))
    common = dict(patch_size=config.patch_size, batch_size=config.batch_size, scale=config.scale,
                  view_params=config.view_params, stride=config.stride, border=config.border)
    train_images, held_out = _split(data, val_data)
    if train_data is None:
        train_data = ContrastivePairDataset(train_images, steps_per_epoch=epoch_steps, seed=config.seed,
                                            augment=config.augment, workers=config.workers, **common)
    if val_data is not None and not held_out:
        raise ValueError(f"train_contrastive: val_data {val_data!r} holds no images.")
    eval_images = held_out or train_images
    log(f"{stage}: {len(train_images)} training images; correspondence accuracy on "
        + (f"{len(held_out)} held-out images" if held_out else "the training images (no held-out images)")
        + " with seeded views")
    eval_set = ContrastivePairDataset(eval_images, steps_per_epoch=max(1, config.eval_batches),
                                      seed=config.eval_seed, augment=False, **common)
    eval_batches = [eval_set.batch(i) for i in range(len(eval_set))]

    keras.utils.set_random_seed(config.seed)
    model = ContrastiveCorrespondenceModel(stage, config.widths, init_weights=init_weights,
                                           teacher_weights=teacher_weights, margin=config.margin,
                                           safe_radius=config.safe_radius, min_valid=config.min_valid,
                                           distill_weight=config.distill_weight, temperature=config.temperature)
    model.build()
    model.compile(keras.optimizers.Adam(_schedule(config), beta_1=0.9, beta_2=0.999, epsilon=1e-8),
                  jit_compile=fit_jit_compile(config))
    start = manager.restore_latest(model) if resuming else 0
    if resuming:
        log(f"resumed {out} at step {start}")
    with open(os.path.join(out, "config.json"), "w", encoding="utf-8") as f:
        json.dump({"stage": stage, "steps": steps, "teacher_weights": teacher_weights,
                   "init_weights": init_weights, "config": config.to_dict()}, f, indent=2, default=str)

    started = time.time()
    accuracy_before = evaluate_accuracy(model, eval_batches)
    log(f"{stage}: correspondence accuracy at step {start}: {accuracy_before:.3f} "
        f"({len(eval_batches)} held-out batches)")
    logger = _LogCallback(os.path.join(out, "log.csv"), eval_batches, epoch_steps, started, log)
    if start < steps:
        initial_epoch = start // epoch_steps
        train_data.epoch = initial_epoch
        callbacks = [logger, CheckpointCallback(manager, epoch_steps, steps, monitor=None)]
        model.fit(train_data, epochs=math.ceil(steps / epoch_steps), initial_epoch=initial_epoch,
                  steps_per_epoch=epoch_steps, callbacks=callbacks, verbose=verbose)
    accuracy_after = evaluate_accuracy(model, eval_batches) if start < steps else accuracy_before
    extractor_path = save_extractor_npz(model.extractor, os.path.join(out, "extractor.npz"))
    seconds = time.time() - started
    summary_path = os.path.join(out, "summary.json")
    previous = {}
    if os.path.isfile(summary_path):
        with open(summary_path, encoding="utf-8") as f:
            previous = json.load(f)
    summary = {"stage": stage, "steps": int(ops.convert_to_numpy(model.optimizer.iterations)),
               "accuracy_initial": previous.get("accuracy_initial", accuracy_before) if resuming else accuracy_before,
               "accuracy_before": accuracy_before, "accuracy_after": accuracy_after,
               "eval_locations": int(sum(float(b["valid"].sum()) for b in eval_batches)),
               "seconds": round(seconds, 1), "backend": keras.backend.backend(), "extractor": extractor_path}
    from keras_sr.fileio import atomic_write_text

    atomic_write_text(summary_path, json.dumps(summary, indent=2))
    log(f"{stage}: correspondence accuracy {accuracy_before:.3f} -> {accuracy_after:.3f}; extractor: "
        f"{extractor_path}")
    return ContrastiveResult(out, model, extractor_path, logger.rows, accuracy_before, accuracy_after,
                             summary["steps"], seconds)
