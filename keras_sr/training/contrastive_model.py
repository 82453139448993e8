"""C2-Matching's contrastive teacher / student as a trainable `keras.Model`, and its weights files.

Jiang et al., "Robust Reference-based Super-Resolution via C2-Matching", CVPR 2021, Sec. 3.2-3.3 (official
`teacher_contras_model.py`, `student_contras_distillation_model.py`). The loss is in `compute_loss`
(`keras_sr.training.contrastive_losses`), so `fit` trains it on every backend; `extractor.npz` files use the
official `net_g` / `net_student` key layout (`feature_extraction_image{1,2}.model.conv*.weight`, OIHW).

Example:
    >>> model = ContrastiveCorrespondenceModel("teacher", widths=(64, 128, 256))
    >>> model.compile(keras.optimizers.Adam(1e-3))
    >>> save_extractor_npz(model.extractor, "extractor.npz")
"""

import os

import numpy as np

import keras
from keras import ops

from keras_sr.layers.correspondence import ContrastiveFeatureExtractor
from keras_sr.training.contrastive_losses import (contrastive_terms, flatten_grid, gather_rows,
                                                  masked_distillation_loss, used_pairs)
from keras_sr.fileio import atomic_path

__all__ = ["STAGES", "ContrastiveCorrespondenceModel", "save_extractor_npz", "load_extractor_npz",
           "load_and_freeze_extractor"]

STAGES = ("teacher", "student")
OFFICIAL_KEYS = ("feature_extraction_image1.model.", "feature_extraction_image2.model.")


def _check_stage(stage):
    if stage not in STAGES:
        raise ValueError(f"contrastive stage must be one of {STAGES}, got {stage!r}.")


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
        used, n = used_pairs(terms["count"], self.min_valid)
        contrastive = ops.sum(terms["loss"] * used) / n
        logs = {"contrastive": contrastive, "pos_dist": ops.sum(terms["pos_dist"] * used) / n,
                "neg_dist": ops.sum(terms["neg_dist"] * used) / n, "valid_pairs": ops.sum(used)}
        total = contrastive
        if self.teacher is not None:
            teacher_query = flatten_grid(outputs["teacher_input_features"])
            teacher_key = gather_rows(flatten_grid(outputs["teacher_reference_features"]), inputs["target_index"])
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
