"""recipes.c2_matching: official defaults, stage chaining teacher -> student -> restoration (frozen extractor)."""

import json
import os

import numpy as np
import pytest

import keras

from keras_sr.image_io import save_image
from keras_sr.recipes.c2_matching import OFFICIAL_VIEWS, C2MatchingRecipe, main


def test_defaults_follow_the_official_options():
    recipe = C2MatchingRecipe.for_scale(4)
    assert (recipe.teacher_steps, recipe.student_steps, recipe.student_lr_milestones) == (5000, 75000, (72545,))
    assert (recipe.contrastive_learning_rate, recipe.contrastive_batch_size, recipe.contrastive_patch_size) == \
        (1e-3, 8, 160)
    assert (recipe.margin, recipe.safe_radius, recipe.distill_weight, recipe.temperature) == (1.0, 4, 15.0, 0.15)
    assert (recipe.steps, recipe.lr_milestones, recipe.lr_gamma, recipe.batch_size, recipe.hr_patch_size) == \
        (255000, (72545, 211040), 0.1, 9, 160)
    assert (recipe.perceptual_weight, recipe.adversarial_weight, recipe.gp_weight, recipe.tpl_weight) == \
        (1e-4, 1e-6, 10.0, 0.0)
    assert (recipe.init_steps, recipe.d_steps, recipe.rec_weight) == (10000, 1, 0.5)
    teacher, student = recipe.contrastive_config("teacher"), recipe.contrastive_config("student")
    assert teacher.lr_milestones == () and student.lr_milestones == (72545,)
    assert teacher.view_params == OFFICIAL_VIEWS and teacher.min_valid == 128
    assert recipe.model_config()["contrastive_widths"] == (64, 128, 256)
    with pytest.raises(ValueError, match="x4"):
        C2MatchingRecipe.for_scale(2)


def _images(folder, count=3, size=80):
    from PIL import Image

    os.makedirs(folder, exist_ok=True)
    for i in range(count):
        rng = np.random.default_rng(i)
        layers = [np.asarray(Image.fromarray(rng.integers(0, 256, (s, s, 3), dtype=np.uint8)).resize(
            (size, size), Image.BICUBIC), np.float32) for s in (5, 10, 20)]
        save_image(os.path.join(folder, f"img{i}.png"), np.clip(sum(layers) / 3, 0, 255).astype(np.uint8))
    return folder


TINY = ["--contrastive-widths", "4", "8", "16", "--vgg-widths", "4", "8", "16", "--ngf", "8", "--n-blocks", "1",
        "--groups", "2", "--contrastive-patch-size", "48", "--contrastive-batch-size", "2", "--min-valid", "8",
        "--eval-batches", "1", "--patch-size", "8", "--batch-size", "2", "--steps", "2", "--teacher-steps", "2",
        "--student-steps", "2", "--student-lr-milestones", "--lr-milestones", "--checkpoint-every", "2",
        "--val-every", "2", "--steps-per-epoch", "2", "--val-images", "1", "--workers", "1", "--jit-compile", "off",
        "--variant", "rec", "--quiet"]


def test_stages_chain_and_restoration_loads_the_frozen_student(tmp_path):
    data = _images(str(tmp_path / "train"))
    val = _images(str(tmp_path / "val"), count=1)
    out = str(tmp_path / "run")
    assert main(["--data", data, "--val-data", val, "--out", out, "--stage", "all", *TINY]) == 0
    for stage in ("teacher", "student"):
        summary = json.load(open(os.path.join(out, stage, "summary.json"), encoding="utf-8"))
        assert summary["steps"] == 2 and 0.0 <= summary["accuracy_after"] <= 1.0
    student_config = json.load(open(os.path.join(out, "student", "config.json"), encoding="utf-8"))
    assert student_config["teacher_weights"] == os.path.join(out, "teacher", "extractor.npz")
    restoration = os.path.join(out, "restoration")
    assert json.load(open(os.path.join(restoration, "summary.json"), encoding="utf-8"))["steps"] == 2
    model = keras.models.load_model(os.path.join(restoration, "final.keras"), safe_mode=True)
    extractor = model.get_layer("contrastive_extractor")
    assert not extractor.trainable
    with np.load(os.path.join(out, "student", "extractor.npz")) as student:
        for prefix, trunk in (("feature_extraction_image1.model.", extractor.input_extractor),
                              ("feature_extraction_image2.model.", extractor.reference_extractor)):
            for name, conv in trunk.convs.items():
                np.testing.assert_array_equal(keras.ops.convert_to_numpy(conv.kernel),
                                              np.transpose(student[f"{prefix}{name}.weight"], (2, 3, 1, 0)))
    # a later restoration-only run finds the student in the same run directory; a missing one is named
    missing = str(tmp_path / "empty")
    with pytest.raises(SystemExit, match="student's extractor"):
        main(["--data", data, "--out", missing, "--stage", "restoration", *TINY])


C2_TINY = dict(ngf=8, n_blocks=1, groups=2, vgg_widths=(8, 8, 16), contrastive_widths=(4, 8, 16), patch_size=8,
               batch_size=2, steps=1, steps_per_epoch=1, val_every=100, checkpoint_every=1, jit_compile="off",
               variant="rec", lr_milestones=(), epsilon=1e-30)


def test_offset_convolutions_train_at_the_official_group_rates(tmp_path):
    """relu3_1 / relu2_1 offset convs step at 1e-6 / 1e-5 (official lr_relu3_offset / lr_relu2_offset), the rest 1e-4.

    Adam's first step moves every weight by lr * |g| / (|g| + eps): with eps 1e-30, by the group's learning
    rate wherever the gradient is not zero, and never by more.
    """
    from keras_sr.data.refsr_dataset import RefSRPatchDataset
    from keras_sr.training.refsr import train_refsr

    recipe = C2MatchingRecipe.for_scale(4, **C2_TINY)
    assert (recipe.offset_relu3_learning_rate, recipe.offset_relu2_learning_rate) == (1e-6, 1e-5)
    groups = {name: (rate, sorted(v.path for v in variables))
              for name, rate, variables in recipe.learning_rate_groups(recipe.build_model())}
    for name, layer in (("offset_relu3", "small_dyn_agg"), ("offset_relu2", "medium_dyn_agg")):
        assert groups[name][1] == sorted(f"{layer}/{part}/{kind}" for part in ("offset_conv1", "offset_conv2",
                                                                               "dyn_agg/conv_offset_mask")
                                         for kind in ("kernel", "bias"))
    seen = {}

    def hook(model):  # non-zero offset/mask convolutions (zero-initialized as DCNv2), so every offset conv has a gradient
        rng = np.random.default_rng(0)
        for v in model.trainable_variables:
            if "conv_offset_mask" in v.path:
                v.assign(rng.normal(0.0, 0.1, v.shape).astype("float32"))
        seen["before"] = {v.path: keras.ops.convert_to_numpy(v).copy() for v in model.trainable_variables}

    folder = _images(str(tmp_path / "train"))
    paths = sorted(os.path.join(folder, name) for name in os.listdir(folder))
    data = RefSRPatchDataset(paths, recipe.input_names(), patch_size=recipe.patch_size, batch_size=recipe.batch_size,
                             steps_per_epoch=1, workers=1)
    messages = []
    result = train_refsr(recipe, out=str(tmp_path / "run"), train_data=data, val_triples=[], model_hook=hook,
                         log=messages.append)
    assert any("learning-rate group offset_relu3: 6 variables at 1e-06" in m for m in messages), messages
    rate_of = {path: rate for rate, group in groups.values() for path in group}
    moved = {}
    for v in result.model.trainable_variables:
        step = float(np.abs(keras.ops.convert_to_numpy(v) - seen["before"][v.path]).max())
        rate = rate_of.get(v.path, recipe.learning_rate)
        assert step <= rate * 1.05, (v.path, step, rate)  # float32 spacing of the weights: ~1%
        moved[rate] = max(moved.get(rate, 0.0), step)
    assert moved == pytest.approx({1e-6: 1e-6, 1e-5: 1e-5, 1e-4: 1e-4}, rel=0.05), moved
    optimizers = result.train_model.generator_optimizers
    assert [float(keras.ops.convert_to_numpy(o.learning_rate)) for o in optimizers] == pytest.approx([1e-4, 1e-6, 1e-5])
    assert hasattr(result.train_model, "offset_relu3_optimizer")  # checkpoints hold each group's Adam state
