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
trains it on TensorFlow and JAX (both tested), in a `keras_sr.training.run.Run`
(the run folder, atomic checkpoints, the logger, the summary of every
trainer). Run directory: `config.json`,
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

import dataclasses
import json
import math
import os

import numpy as np

import keras
from keras import ops

from keras_sr.data.contrastive_pairs import ContrastivePairDataset, resolve_images, correspondence_targets
from keras_sr.data.reference_views import ViewParams
from keras_sr.training.contrastive_losses import (contrastive_loss, contrastive_terms, correspondence_accuracy,
                                                  masked_distillation_loss)
from keras_sr.training.contrastive_model import (STAGES, ContrastiveCorrespondenceModel, _check_stage,
                                                 load_and_freeze_extractor, load_extractor_npz, save_extractor_npz)
from keras_sr.fileio import atomic_write_text
from keras_sr.training.checkpoint import CheckpointCallback
from keras_sr.training.engine import fit_jit_compile
from keras_sr.training.run import Run
from keras_sr.data.sources import resolve_data

# the stage's data (keras_sr.data.contrastive_pairs), losses (contrastive_losses) and model and weights files
# (contrastive_model) are re-exported: this module is the stages' one entry point
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
    """Held-out accuracy and a row of the run's logger (`log.csv`) at every epoch end (= every checkpoint interval)."""

    def __init__(self, logger, eval_batches, run, log):
        super().__init__()
        self.logger, self.eval_batches, self.run, self.log = logger, eval_batches, run, log
        self.rows = []

    def on_epoch_end(self, epoch, logs=None):
        logs = dict(logs or {})
        step = int(ops.convert_to_numpy(self.model.optimizer.iterations))
        accuracy = evaluate_accuracy(self.model, self.eval_batches)
        lr = self.model.optimizer.learning_rate
        row = {"step": step, "accuracy": accuracy, "elapsed_s": round(self.run.seconds, 1),
               "learning_rate": float(ops.convert_to_numpy(lr))}
        row.update({k: float(logs[k]) for k in LOG_COLUMNS if k in logs})
        self.rows.append(row)
        self.logger.write(step, row, train_keys=[k for k in LOG_COLUMNS[1:-1] if k in row])
        self.log(f"step {step}: loss {row.get('loss', float('nan')):.4f} pos {row.get('pos_dist', float('nan')):.3f} "
                 f"neg {row.get('neg_dist', float('nan')):.3f}"
                 + (f" distill {row['distill']:.4f}" if "distill" in row else "")
                 + f" accuracy {accuracy:.3f}")


def _split(data, val_data):
    """`(train, held_out)` images: arrays pass through, paths go through `resolve_data`."""

    def arrays(items):
        return isinstance(items, np.ndarray) or (isinstance(items, (list, tuple)) and items
                                                 and any(isinstance(i, np.ndarray) for i in items))

    if arrays(data):
        train = list(data) if isinstance(data, (list, tuple)) else [data]
        return train, (None if val_data is None else resolve_images(val_data))
    split = resolve_data(data, None if arrays(val_data) else val_data)
    held_out = resolve_images(val_data) if arrays(val_data) else split.val
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
    run = Run(config, os.fspath(out), resume, log=log)
    out, manager, resuming = run.dir, run.checkpoints, run.resuming

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
    atomic_write_text(run.path("config.json"), json.dumps(
        {"stage": stage, "steps": steps, "teacher_weights": teacher_weights, "init_weights": init_weights,
         "config": config.to_dict()}, indent=2, default=str))

    accuracy_before = evaluate_accuracy(model, eval_batches)
    log(f"{stage}: correspondence accuracy at step {start}: {accuracy_before:.3f} "
        f"({len(eval_batches)} held-out batches)")
    logger = _LogCallback(run.logger(LOG_COLUMNS), eval_batches, run, log)
    if start < steps:
        initial_epoch = start // epoch_steps
        train_data.epoch = initial_epoch
        callbacks = [logger, CheckpointCallback(manager, epoch_steps, steps, monitor=None)]
        model.fit(train_data, epochs=math.ceil(steps / epoch_steps), initial_epoch=initial_epoch,
                  steps_per_epoch=epoch_steps, callbacks=callbacks, verbose=verbose)
    accuracy_after = evaluate_accuracy(model, eval_batches) if start < steps else accuracy_before
    extractor_path = save_extractor_npz(model.extractor, run.path("extractor.npz"))
    seconds = run.seconds
    summary_path = run.path("summary.json")
    previous = {}
    if os.path.isfile(summary_path):
        with open(summary_path, encoding="utf-8") as f:
            previous = json.load(f)
    summary = {"stage": stage, "steps": int(ops.convert_to_numpy(model.optimizer.iterations)),
               "accuracy_initial": previous.get("accuracy_initial", accuracy_before) if resuming else accuracy_before,
               "accuracy_before": accuracy_before, "accuracy_after": accuracy_after,
               "eval_locations": int(sum(float(b["valid"].sum()) for b in eval_batches)),
               "seconds": round(seconds, 1), "backend": keras.backend.backend(), "extractor": extractor_path}
    run.write_summary(summary)
    log(f"{stage}: correspondence accuracy {accuracy_before:.3f} -> {accuracy_after:.3f}; extractor: "
        f"{extractor_path}")
    return ContrastiveResult(out, model, extractor_path, logger.rows, accuracy_before, accuracy_after,
                             summary["steps"], seconds)
