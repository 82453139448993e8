"""Knowledge distillation on the fit engine: a frozen teacher inside the compiled train step.

Any fit recipe distils from any trained model given as `--teacher` (a recipe
field of the base `Recipe`, so every recipe has the flag): a preset name
(`edsr_baseline_x3`), a `.keras` file, a run directory (its `final.keras`), or
a registered name with `--teacher-weights FILE` (without weights: the shipped
preset of that name at the recipe's scale). The engine
(`keras_sr.training.engine.train`) then wraps the student network in
`DistillationTrainer`, whose `compute_loss` (the documented Keras override,
used by `fit` on TensorFlow, JAX and PyTorch) runs the frozen teacher on the
same LR batch and returns

    (1 - alpha) * pixel(HR, S(x)) + alpha * pixel(T(x), S(x))
        + feature_weight * sum_k feature_loss(S_k(x), T_k(x)),

with `pixel` the recipe's loss (`--loss`), `alpha` = `--distill-alpha`, and the
pairs `S_k` / `T_k` the outputs of named layers of the student and the teacher
(`--distill-features "student_layer:teacher_layer,..."`; a bare name means the
same name in both). This is FAKD's objective (He, Wu, Xu, Ji, Hu,
"FAKD: Feature-Affinity Based Knowledge Distillation for Efficient Image
Super-Resolution", ICIP 2020; official code
github.com/Vincent-Hoo/Knowledge-Distillation-for-Super-resolution,
`code/loss.py`: DS weight `1 - alpha`, TS weight `alpha`, feature terms
`weight * L1`). Feature losses (`--distill-feature-loss`):

* `affinity`: FAKD's spatial affinity (`spatial_affinity`): every position's
  C-vector L2-normalised (+1e-7), then the `(HW, HW)` matrix of cosine
  similarities per image; L1 (mean) between student and teacher matrices
  (official `feature_transformation.spatial_similarity` + `nn.L1Loss`). Needs
  equal spatial sizes only, any channel counts.
* `attention`: a spatial statistic map per image, `mean_c F^2` (the
  attention map of Zagoruyko & Komodakis, ICLR 2017), divided by its mean over
  the positions so its size does not depend on the patch size; L1 (mean).
  keras-sr's form of SRKD's statistical maps (see `recipes.srkd`). Any channels.
* `l1`: the features themselves (FitNets-style); needs equal shapes.

The teacher is frozen (`trainable = False`, called with `training=False`,
outputs under `stop_gradient`): the optimizer (and the weight EMA) holds the
student's variables only. The trainer tracks the teacher, so checkpoints
(`checkpoints/ckpt-*.weights.h5`, for `--resume`) hold its weights too; the
run's model files (`final.keras`, `final.weights.h5`, `best.weights.h5`, the
exports) are the student alone.

A Y-channel student (the classic recipes: ESPCN, FSRCNN, ...) may learn from
an RGB teacher: the teacher sees the gray RGB image whose BT.601 Y is the LR
patch (R = G = B = (Y - 16) * 255 / 219) and its output is taken back to Y
(`keras_sr.color.rgb_to_y_ops`). Other channel mismatches are refused.

Example:
    $ python -m recipes.espcn --scale 3 --data T91/HR --teacher edsr_baseline_x3 --distill-alpha 0.5
    >>> trainer = DistillationTrainer(student, teacher, get_loss("l1"), alpha=0.5,
    ...                               features=[("group_2", "group_2")], feature_loss="affinity")
    >>> trainer.compile(optimizer="adam"); trainer.fit(batches, steps_per_epoch=10)
"""

import os

import keras
from keras import ops

from keras_sr.color import YCBCR_MATRIX, YCBCR_OFFSET, rgb_to_y_ops
from keras_sr.image_io import ImageError
from keras_sr import models
from keras_sr.models import loading, presets
from keras_sr.training.losses import get_loss
from keras_sr.training.multi_output import MultiOutputTrainer

__all__ = ["FEATURE_LOSSES", "TeacherError", "spatial_affinity", "affinity_loss", "attention_map", "attention_loss",
           "feature_l1_loss", "parse_feature_pairs", "gray_rgb_from_y", "gray_view", "check_teacher_reference", "resolve_teacher", "tap_model",
           "DistillationTrainer", "distillation_trainer", "describe_distillation"]

AFFINITY_EPSILON = 1e-7  # official feature_transformation.spatial_similarity
ATTENTION_EPSILON = 1e-6


class TeacherError(ValueError):
    """A `--teacher` that cannot be used (missing, not a Keras model, another scale, unknown layer); one line."""


# Feature statistics and their losses (float32, batch-first, channels-last) ----------------------------------------

def _flat(features):
    """`(B, H, W, C)` -> `(B, H * W, C)` float32."""
    features = ops.cast(features, "float32")
    shape = ops.shape(features)
    return ops.reshape(features, (shape[0], -1, shape[-1]))


def spatial_affinity(features, epsilon=AFFINITY_EPSILON):
    """FAKD's spatial affinity: `(B, HW, HW)` cosine similarities between the C-vectors of all positions.

    Each position's vector is divided by its L2 norm plus `epsilon`, as in the official
    `spatial_similarity` (`norm_fm.transpose(1, 2).bmm(norm_fm)` on `(B, C, HW)`).

    Example:
        >>> spatial_affinity(keras.random.normal((2, 4, 4, 8))).shape     # (2, 16, 16)
    """
    f = _flat(features)
    norm = ops.sqrt(ops.sum(ops.square(f), axis=-1, keepdims=True))
    f = f / (norm + epsilon)
    return ops.matmul(f, ops.transpose(f, (0, 2, 1)))


def affinity_loss(student, teacher):
    """L1 (mean) between the spatial affinities of two feature maps of equal spatial size."""
    return ops.mean(ops.abs(spatial_affinity(student) - spatial_affinity(teacher)))


def attention_map(features, epsilon=ATTENTION_EPSILON):
    """`(B, HW)`: the channel mean of squares at each position, divided by its mean over the positions."""
    a = ops.mean(ops.square(_flat(features)), axis=-1)
    return a / (ops.mean(a, axis=-1, keepdims=True) + epsilon)


def attention_loss(student, teacher):
    """L1 (mean) between the `attention_map`s of two feature maps of equal spatial size."""
    return ops.mean(ops.abs(attention_map(student) - attention_map(teacher)))


def feature_l1_loss(student, teacher):
    """L1 (mean) between two feature maps of the same shape (FitNets-style)."""
    return ops.mean(ops.abs(ops.cast(student, "float32") - ops.cast(teacher, "float32")))


FEATURE_LOSSES = {"affinity": affinity_loss, "attention": attention_loss, "l1": feature_l1_loss}


def parse_feature_pairs(text):
    """`"a:b,c"` -> `[("a", "b"), ("c", "c")]` (student layer, teacher layer); empty text -> `[]`.

    Example:
        >>> parse_feature_pairs("group_2,group_6,long_skip")
        [('group_2', 'group_2'), ('group_6', 'group_6'), ('long_skip', 'long_skip')]
    """
    pairs = []
    for item in (text or "").split(","):
        item = item.strip()
        if not item:
            continue
        student, _, teacher = item.partition(":")
        student, teacher = student.strip(), (teacher.strip() or student.strip())
        if not student or ":" in teacher:
            raise TeacherError(f"--distill-features: bad pair {item!r} (expected student_layer:teacher_layer)")
        pairs.append((student, teacher))
    return pairs


# The teacher -------------------------------------------------------------------------------------------------------

def check_teacher_reference(reference, weights=""):
    """Raise `TeacherError` (one line) when `reference` / `weights` name no file, run, preset or model; no loading."""
    if weights and not os.path.isfile(weights):
        raise TeacherError(f"--teacher-weights {weights}: file not found")
    if os.path.isdir(reference):
        if loading.is_saved_model(reference):
            raise TeacherError(f"--teacher {reference}: a SavedModel cannot teach (the teacher runs inside the "
                               "training step as a Keras model); pass its run's final.keras or a preset")
        if not os.path.isfile(os.path.join(reference, "final.keras")):
            raise TeacherError(f"--teacher {reference}: a run directory without final.keras (has the run finished?)")
        return
    if reference.endswith(".keras"):
        if not os.path.isfile(reference):
            raise TeacherError(f"--teacher {reference}: file not found")
        return
    if presets.get_preset(reference) is not None:
        return
    if reference in models.list_models():
        if reference == "bicubic":
            raise TeacherError("--teacher bicubic: bicubic interpolation has nothing to teach")
        kind = models.get_spec(reference).kind
        if kind != "sisr":
            raise TeacherError(f"--teacher {reference}: a {kind} model; a teacher maps the LR image alone to SR "
                               "(a single-image SR model)")
        return
    available = ", ".join(p.name for p in presets.list_presets()) or "none"
    raise TeacherError(f"--teacher {reference}: not a run directory, a .keras file, a preset ({available}) or a "
                       "registered model name")


def resolve_teacher(reference, scale, weights=""):
    """The teacher `keras.Model` of a `--teacher` reference (see the module docstring), frozen."""
    check_teacher_reference(reference, weights)
    try:
        if os.path.isdir(reference):
            model = loading.load_model(os.path.join(reference, "final.keras"))
        else:
            model = loading.resolve_model(reference, scale=scale, weights=weights or None)
    except (ImageError, ValueError) as err:
        raise TeacherError(f"--teacher {reference}: {err}") from None
    if model is None:
        raise TeacherError(f"--teacher {reference}: not a Keras model")
    if len(model.inputs) != 1:
        raise TeacherError(f"--teacher {reference}: {model.name} takes {len(model.inputs)} inputs; a teacher maps "
                           "the LR image alone to SR (a single-image SR model)")
    model.trainable = False
    return model


def tap_model(model, layer_names, label="model"):
    """`keras.Model(model.inputs, [model output, *outputs of the named layers])`, sharing `model`'s layers."""
    taps = []
    names = [layer.name for layer in model.layers]
    for name in layer_names:
        if name not in names:
            raise TeacherError(f"{label} {model.name!r} has no layer {name!r} (layers: {', '.join(names)})")
        taps.append(model.get_layer(name).output)
    output = model.outputs[0] if isinstance(model.outputs, (list, tuple)) else model.outputs
    inputs = model.inputs[0] if len(model.inputs) == 1 else model.inputs
    return keras.Model(inputs, [output, *taps], name=f"{model.name}_taps")


def _as_list(outputs):
    """A tap model's outputs as a list (Keras returns a single output as a bare tensor)."""
    return list(outputs) if isinstance(outputs, (list, tuple)) else [outputs]


def _channels(model):
    return int(model.inputs[0].shape[-1])


_GRAY_GAIN = 255.0 / float(YCBCR_MATRIX[0].sum())  # RGB level of a gray pixel per Y level above the offset


def gray_rgb_from_y(y):
    """The gray RGB image whose BT.601 Y is `y` (`(..., 1)` in [16, 235] -> `(..., 3)`, R = G = B)."""
    gray = (ops.cast(y, "float32") - float(YCBCR_OFFSET[0])) * _GRAY_GAIN
    return ops.concatenate([gray, gray, gray], axis=-1)


def gray_view(teacher):
    """`keras.Model`: Y in, Y out, the RGB `teacher` as a Y student sees it (gray RGB in, BT.601 Y of its output).

    Example:
        >>> view = gray_view(presets.load_preset("edsr_baseline_x3"))
        >>> evaluate_folders(model_upscaler(view, 3), ["Set5/HR"], [3])      # how good the target is on Y
    """
    inputs = keras.Input((None, None, 1), name="lr")
    return keras.Model(inputs, rgb_to_y_ops(teacher(gray_rgb_from_y(inputs))), name=f"{teacher.name}_gray_view")


class DistillationTrainer(MultiOutputTrainer):
    """The student network trained with a frozen teacher's outputs and features (the module docstring's loss).

    `call` returns the student's output and its tapped features (a dict);
    `compute_loss` runs the teacher on the same batch. The network's variables
    are exactly the exported student's (`keras_sr.training.multi_output.inference_weights`).

    Args:
        network: the student (a functional model).
        teacher: the teacher (a functional model; frozen here).
        pixel_loss: `loss(y_true, y_pred)` (`keras_sr.training.losses.get_loss`).
        alpha: weight of the teacher-output term; the HR term has `1 - alpha`.
        features: `[(student_layer, teacher_layer), ...]`.
        feature_loss: "affinity", "attention" or "l1" (`FEATURE_LOSSES`).
        feature_weight: weight of each feature term.

    Example:
        >>> trainer = DistillationTrainer(student, teacher, get_loss("l1"), alpha=0.5)
        >>> trainer.compile(optimizer="adam"); trainer.fit(batches, steps_per_epoch=10)
    """

    def __init__(self, network, teacher, pixel_loss, alpha=0.5, features=(), feature_loss="affinity",
                 feature_weight=10.0, name=None, **kwargs):
        if feature_loss not in FEATURE_LOSSES:
            raise TeacherError(f"feature loss must be one of {', '.join(FEATURE_LOSSES)}, got {feature_loss!r}")
        if not 0.0 <= float(alpha) <= 1.0:
            raise TeacherError(f"distill_alpha must be in [0, 1], got {alpha}")
        if len(network.inputs) != 1:
            raise TeacherError(f"the student {network.name!r} takes {len(network.inputs)} inputs: distillation "
                               "trains single-image SR students (LR in, SR out)")
        super().__init__(network, loss=None, name=name or f"{network.name}_distillation", **kwargs)
        teacher.trainable = False
        self.teacher = teacher
        self.pixel_loss = pixel_loss
        self.alpha = float(alpha)
        self.features = [tuple(pair) for pair in features]
        self.feature_loss_name = feature_loss
        self.feature_loss = FEATURE_LOSSES[feature_loss]
        self.feature_weight = float(feature_weight)
        self.student_taps = tap_model(network, [s for s, _ in self.features], "the student")
        self.teacher_taps = tap_model(teacher, [t for _, t in self.features], "the teacher")
        student_channels, teacher_channels = _channels(network), _channels(teacher)
        if student_channels == teacher_channels:
            self.gray_teacher = False
        elif (student_channels, teacher_channels) == (1, 3):
            self.gray_teacher = True  # a Y student, an RGB teacher: the teacher sees gray RGB, its output goes to Y
        else:
            raise TeacherError(f"the student takes {student_channels} channel(s), the teacher {teacher_channels}: "
                               "only equal channels or a Y student with an RGB teacher can be distilled")
        self._check_shapes(student_channels)

    def _check_shapes(self, channels, size=8):
        """Teacher and student agree on the output size and on each feature pair's shape (an 8x8 probe)."""
        probe = ops.ones((1, size, size, channels), "float32") * 128.0
        student = _as_list(self.student_taps(probe, training=False))
        teacher = _as_list(self.teacher_taps(self._teacher_input(probe), training=False))
        s_out, t_out = tuple(student[0].shape[1:3]), tuple(teacher[0].shape[1:3])
        if s_out != t_out:
            raise TeacherError(f"the teacher {self.teacher.name!r} maps an {size}x{size} LR image to "
                               f"{t_out[0]}x{t_out[1]}, the student to {s_out[0]}x{s_out[1]}: teach with a model "
                               "of the same scale")
        for (s_name, t_name), s, t in zip(self.features, student[1:], teacher[1:]):
            s_shape, t_shape = tuple(s.shape[1:]), tuple(t.shape[1:])
            same = s_shape == t_shape if self.feature_loss_name == "l1" else s_shape[:2] == t_shape[:2]
            if not same:
                raise TeacherError(f"feature pair {s_name}:{t_name}: student {s_shape} vs teacher {t_shape} "
                                   f"(the {self.feature_loss_name} loss needs equal "
                                   f"{'shapes' if self.feature_loss_name == 'l1' else 'spatial sizes'})")

    def _teacher_input(self, x):
        if not self.gray_teacher:
            return x
        return gray_rgb_from_y(x)

    def _teacher_output(self, sr):
        return rgb_to_y_ops(sr) if self.gray_teacher else ops.cast(sr, "float32")

    def call(self, inputs, training=False):
        outputs = _as_list(self.student_taps(inputs, training=training))
        return {"sr": outputs[0], **{f"feature_{k}": f for k, f in enumerate(outputs[1:])}}

    def teacher_outputs(self, inputs):
        """`(teacher output in the student's channels, [teacher features])`, no gradient."""
        taps = _as_list(self.teacher_taps(self._teacher_input(inputs), training=False))
        outputs = [ops.stop_gradient(t) for t in taps]
        return self._teacher_output(outputs[0]), outputs[1:]

    def distillation_terms(self, x, y, y_pred):
        """`{"hr": ..., "teacher": ..., "features": [...]}`: the unweighted terms of the loss (float32 scalars)."""
        student_sr = ops.cast(y_pred["sr"], "float32")
        teacher_sr, teacher_features = self.teacher_outputs(x)
        terms = {"hr": self.pixel_loss(ops.cast(y, "float32"), student_sr),
                 "teacher": self.pixel_loss(teacher_sr, student_sr), "features": []}
        for k, teacher_feature in enumerate(teacher_features):
            terms["features"].append(self.feature_loss(y_pred[f"feature_{k}"], teacher_feature))
        return terms

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        terms = self.distillation_terms(x, y, y_pred)
        loss = (1.0 - self.alpha) * terms["hr"] + self.alpha * terms["teacher"]
        for term in terms["features"]:
            loss = loss + self.feature_weight * term
        if training:
            self.train_steps.assign(ops.convert_to_tensor(self.train_steps) + 1.0)
        for extra in self.network.losses:  # regularizers of the student's layers, if any
            loss = loss + ops.sum(ops.cast(extra, loss.dtype))
        return loss


def describe_distillation(recipe):
    """One line: the teacher and the loss of a distilling recipe (for the run log)."""
    pairs = parse_feature_pairs(recipe.distill_features)
    text = (f"distilling from {recipe.teacher}{' (' + recipe.teacher_weights + ')' if recipe.teacher_weights else ''}"
            f": {1 - recipe.distill_alpha:g} * {recipe.loss}(HR) + {recipe.distill_alpha:g} * {recipe.loss}(teacher)")
    if pairs:
        text += (f" + {recipe.distill_feature_weight:g} * {recipe.distill_feature_loss} over "
                 + ", ".join(f"{s}:{t}" for s, t in pairs))
    return text


def distillation_trainer(recipe, network, log=print):
    """`DistillationTrainer` of `network` with the recipe's `--teacher` and `--distill-*` settings."""
    teacher = resolve_teacher(recipe.teacher, recipe.scale, recipe.teacher_weights)
    log(describe_distillation(recipe) + f"; teacher {teacher.name}: {teacher.count_params():,} parameters (frozen)")
    pixel = get_loss(recipe.loss, **({"epsilon": recipe.charbonnier_epsilon} if recipe.loss == "charbonnier" else {}))
    return DistillationTrainer(network, teacher, pixel, alpha=recipe.distill_alpha,
                               features=parse_feature_pairs(recipe.distill_features),
                               feature_loss=recipe.distill_feature_loss, feature_weight=recipe.distill_feature_weight)
