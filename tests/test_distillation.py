"""Knowledge distillation on the fit engine (`keras_sr.training.distillation`, `--teacher`), SRKD and FAKD.

The affinity matrix, the attention map and their losses against numpy oracles written from the official FAKD
code's layout (`(B, C, HW)`); the trainer's loss against the formula and one fit step through `DistillationTrainer`;
two steps through the engine with `--teacher` (a `.keras` teacher) on TensorFlow here and on JAX in a subprocess
(the teacher's weights unchanged, the run writes the student only; `--resume` on TensorFlow); the
teacher-reference and shape errors; the SRKD / FAKD parameter counts and recipes.
"""

import json
import os

import keras
import numpy as np
import pytest

from conftest import run_modules_on_backend
from keras_sr import models
from keras_sr.training import distillation
from keras_sr.training.distillation import (DistillationTrainer, TeacherError, affinity_loss, attention_map,
                                            check_teacher_reference, parse_feature_pairs, spatial_affinity)
from keras_sr.training.losses import get_loss

BACKEND = keras.backend.backend()
MAIN = BACKEND == "tensorflow" and not os.environ.get("KERAS_SR_DISTILL_SUBPROCESS")
TINY_STUDENT = dict(scale=2, variant="student", filters=4, num_blocks=2)
TINY_TEACHER = dict(scale=2, variant="teacher", filters=6, num_blocks=3)


def np_affinity(f, eps=1e-7):
    """The official `spatial_similarity` in numpy: `(B, C, HW)`, each column L2-normalised, `norm^T norm`."""
    b, h, w, c = f.shape
    fm = f.transpose(0, 3, 1, 2).reshape(b, c, h * w).astype(np.float64)
    norm = fm / (np.sqrt((fm ** 2).sum(axis=1, keepdims=True)) + eps)
    return np.einsum("bci,bcj->bij", norm, norm)


def np_attention(f, eps=1e-6):
    a = (f.astype(np.float64) ** 2).mean(axis=-1).reshape(f.shape[0], -1)
    return a / (a.mean(axis=-1, keepdims=True) + eps)


def _np(x):
    return keras.ops.convert_to_numpy(x)


def test_affinity_and_attention_match_numpy_oracles(rng):
    student = rng.normal(size=(2, 5, 4, 3)).astype("float32")
    teacher = rng.normal(size=(2, 5, 4, 7)).astype("float32")  # other channel count: the affinity is (HW, HW)
    a = _np(spatial_affinity(student))
    assert a.shape == (2, 20, 20)
    np.testing.assert_allclose(a, np_affinity(student), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(np.diagonal(a, axis1=1, axis2=2), 1.0, atol=1e-5)  # cosine of a vector with itself
    np.testing.assert_allclose(float(_np(affinity_loss(student, teacher))),
                               np.abs(np_affinity(student) - np_affinity(teacher)).mean(), rtol=1e-5)
    np.testing.assert_allclose(_np(attention_map(student)), np_attention(student), rtol=1e-5)
    # the statistic map is normalised: scaling the features leaves it (and the loss) unchanged
    np.testing.assert_allclose(_np(attention_map(3.0 * student)), _np(attention_map(student)), rtol=1e-4)
    assert float(_np(distillation.attention_loss(student, 3.0 * student))) < 1e-5
    assert float(_np(distillation.attention_loss(student, teacher))) > 0.05


def test_parse_feature_pairs():
    assert parse_feature_pairs("") == []
    assert parse_feature_pairs("group_2, a:b ,long_skip") == [("group_2", "group_2"), ("a", "b"),
                                                             ("long_skip", "long_skip")]
    with pytest.raises(TeacherError, match="bad pair"):
        parse_feature_pairs("a:b:c")


def _tiny_pair(pairs=(("block_0", "block_1"), ("block_1", "block_2")), loss="affinity"):
    keras.utils.set_random_seed(0)
    student = models.build("srkd", **TINY_STUDENT)
    teacher = models.build("srkd", **TINY_TEACHER)
    trainer = DistillationTrainer(student, teacher, get_loss("l1"), alpha=0.3, features=pairs, feature_loss=loss,
                                  feature_weight=10.0)
    return student, teacher, trainer


def test_fit_step_trains_the_student_only_and_the_loss_is_the_formula(rng):
    student, teacher, trainer = _tiny_pair()
    x = rng.uniform(0, 255, (2, 6, 6, 3)).astype("float32")
    y = rng.uniform(0, 255, (2, 12, 12, 3)).astype("float32")
    # the loss: 0.7 L1(HR) + 0.3 L1(teacher) + 10 * sum of the affinity L1s, from the tapped layers in numpy
    s_taps = [_np(t) for t in distillation.tap_model(student, ["block_0", "block_1"])(x)]
    t_taps = [_np(t) for t in distillation.tap_model(teacher, ["block_1", "block_2"])(x)]
    expected = 0.7 * np.abs(y - s_taps[0]).mean() + 0.3 * np.abs(t_taps[0] - s_taps[0]).mean()
    expected += 10.0 * sum(np.abs(np_affinity(s) - np_affinity(t)).mean() for s, t in zip(s_taps[1:], t_taps[1:]))
    got = trainer.compute_loss(x, y, trainer(x), training=False)
    np.testing.assert_allclose(float(_np(got)), expected, rtol=1e-4)

    assert {id(w) for w in trainer.trainable_weights} == {id(w) for w in student.trainable_weights}
    assert len(trainer.weights) == len(student.weights) + len(teacher.weights) + 1  # + the step counter, no copies
    teacher_before = [w.copy() for w in teacher.get_weights()]
    student_before = [w.copy() for w in student.get_weights()]
    trainer.compile(optimizer=keras.optimizers.Adam(1e-2), jit_compile=False)
    history = trainer.fit(x, y, batch_size=2, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    for before, after in zip(teacher_before, teacher.get_weights()):
        np.testing.assert_array_equal(before, after)  # the teacher is frozen
    assert any(not np.array_equal(b, a) for b, a in zip(student_before, student.get_weights()))
    assert float(_np(trainer.train_steps)) == 1.0


def test_engine_teacher_run_writes_the_student_only(tiny_photos, tmp_path):
    from keras_sr.recipes.srkd import SRKDRecipe
    from keras_sr.training.engine import train

    train_dir, val_dir = tiny_photos
    keras.utils.set_random_seed(1)
    teacher_path = str(tmp_path / "teacher.keras")
    teacher = models.build("srkd", **TINY_TEACHER)
    teacher.save(teacher_path)
    teacher_weights = [w.copy() for w in teacher.get_weights()]
    recipe = SRKDRecipe.for_scale(2, filters=4, num_blocks=2, teacher=teacher_path, distill_features="block_1:block_2",
                                  patch_size=6, batch_size=2, steps=2, steps_per_epoch=2, val_every=2,
                                  checkpoint_every=2, learning_rate=1e-3, jit_compile="off")
    out = str(tmp_path / "run")
    result = train(recipe, data=[train_dir], val_data=[val_dir], out=out, strategy="none", verbose=0, log=None,
                   tensorboard=False)
    assert result.steps == 2 and np.isfinite(result.final["psnr"])
    assert isinstance(result.train_model, DistillationTrainer)
    final = keras.saving.load_model(os.path.join(out, "final.keras"), safe_mode=True)
    student = models.build("srkd", **TINY_STUDENT)
    assert final.count_params() == student.count_params() and final.name == student.name
    student.load_weights(os.path.join(out, "final.weights.h5"))  # the student's variables, nothing else
    student.load_weights(os.path.join(out, "checkpoints", "best.weights.h5"))
    summary = json.load(open(os.path.join(out, "summary.json")))
    assert summary["teacher"] == teacher_path and summary["steps"] == 2
    assert json.load(open(os.path.join(out, "recipe.json")))["recipe"]["teacher"] == teacher_path
    for before, after in zip(teacher_weights, result.train_model.teacher.get_weights()):
        np.testing.assert_array_equal(before, after)
    if MAIN:  # --resume: the recorded teacher is resolved again and the checkpoint (student, teacher, Adam) restored
        resumed = train(recipe.replace(steps=4), data=[train_dir], val_data=[val_dir], out=out, strategy="none",
                        resume=True, verbose=0, log=None, tensorboard=False)
        assert resumed.resumed_from == 2 and resumed.steps == 4
        for before, after in zip(teacher_weights, resumed.train_model.teacher.get_weights()):
            np.testing.assert_array_equal(before, after)


@pytest.mark.skipif(not MAIN, reason="the subprocess itself")
def test_engine_teacher_run_on_jax():
    run_modules_on_backend("jax", "jax", ["tests/test_distillation.py", "-k", "engine_teacher"],
                           KERAS_SR_DISTILL_SUBPROCESS="1")


@pytest.mark.skipif(not MAIN, reason="TensorFlow process only")
def test_y_student_learns_from_an_rgb_teacher_through_gray_images(rng):
    keras.utils.set_random_seed(0)
    student = models.build("espcn", scale=2, channels=1, filters=(4, 4))
    teacher = models.build("srkd", **TINY_TEACHER)
    trainer = DistillationTrainer(student, teacher, get_loss("l2"), alpha=1.0)
    y = rng.uniform(16, 235, (1, 5, 5, 1)).astype("float32")
    gray = _np(trainer._teacher_input(y))
    assert gray.shape == (1, 5, 5, 3) and np.allclose(gray[..., 0], gray[..., 2])
    from keras_sr.color import YCBCR_MATRIX

    np.testing.assert_allclose(16.0 + gray @ (YCBCR_MATRIX[0] / 255.0), y[..., 0], atol=1e-3)  # BT.601 Y of the gray is the LR Y
    teacher_y, _ = trainer.teacher_outputs(y)
    np.testing.assert_allclose(_np(teacher_y), _np(distillation.rgb_to_y_ops(teacher(gray))), rtol=1e-5, atol=1e-3)
    assert teacher_y.shape == (1, 10, 10, 1)
    np.testing.assert_allclose(_np(distillation.gray_view(teacher)(y)), _np(teacher_y), rtol=1e-5, atol=1e-3)


@pytest.mark.skipif(not MAIN, reason="TensorFlow process only")
def test_mismatches_and_bad_teacher_references(tmp_path):
    student = models.build("srkd", **TINY_STUDENT)
    with pytest.raises(TeacherError, match="same scale"):
        DistillationTrainer(student, models.build("srkd", **{**TINY_TEACHER, "scale": 3}), get_loss("l1"))
    with pytest.raises(TeacherError, match="has no layer 'group_2'"):
        DistillationTrainer(student, models.build("srkd", **TINY_TEACHER), get_loss("l1"), features=[("group_2",) * 2])
    with pytest.raises(TeacherError, match="shapes"):  # 4 vs 6 channels: l1 needs equal shapes, affinity does not
        DistillationTrainer(student, models.build("srkd", **TINY_TEACHER), get_loss("l1"),
                            features=[("block_0", "block_0")], feature_loss="l1")
    with pytest.raises(TeacherError, match="3 channel"):
        DistillationTrainer(student, models.build("srkd", **{**TINY_TEACHER, "channels": 1}), get_loss("l1"))
    with pytest.raises(TeacherError, match="file not found"):
        check_teacher_reference(str(tmp_path / "missing.keras"))
    with pytest.raises(TeacherError, match="nothing to teach"):
        check_teacher_reference("bicubic")
    with pytest.raises(TeacherError, match="not a run directory"):
        check_teacher_reference("no_such_model_x9")
    with pytest.raises(TeacherError, match="without final.keras"):
        check_teacher_reference(str(tmp_path))
    (tmp_path / "saved_model.pb").write_bytes(b"")
    with pytest.raises(TeacherError, match="SavedModel cannot teach"):
        check_teacher_reference(str(tmp_path))
    with pytest.raises(TeacherError, match="a refsr model"):
        check_teacher_reference("ttsr")
    with pytest.raises(TeacherError, match="--teacher-weights .*file not found"):
        check_teacher_reference("rcan", str(tmp_path / "none.weights.h5"))
    check_teacher_reference("edsr_baseline_x3")  # a shipped preset
    teacher = distillation.resolve_teacher("edsr_baseline_x3", 3)
    assert teacher.trainable is False and not teacher.trainable_weights


def test_srkd_parameter_counts_and_layers():
    from keras_sr.models.srkd import srkd_parameters

    expected = {("teacher", 2): 743_427, ("teacher", 3): 747_267, ("teacher", 4): 752_643,
                ("student", 2): 33_283, ("student", 3): 37_123, ("student", 4): 42_499}
    for (variant, scale), count in expected.items():
        assert srkd_parameters(variant, scale) == count
    for variant in ("teacher", "student"):
        model = models.build("srkd", scale=4, variant=variant)
        assert model.count_params() == expected[(variant, 4)]
        names = [layer.name for layer in model.layers]
        assert names[2] == "head" and names[-2] == "upsample"
        assert [n for n in names if n.startswith("block_")] == [f"block_{i}" for i in range(10 if variant == "teacher"
                                                                                            else 3)]
    block = models.build("srkd", scale=2, variant="student").get_layer("block_0")
    assert type(block).__name__ == "SeparableResidualBlock" and block.count_params() == 2 * (9 * 64 + 64 * 64 + 64)


def test_fakd_teacher_and_student_counts():
    # FAKD (official code/train.py): teacher RCAN 10 groups x 20 RCABs, student 10 groups x 6 RCABs, 64 channels;
    # the official counts add two frozen 12-parameter MeanShift convs (+24): 15,592,379 and 5,171,339 at x4.
    # The student is built whole; the teacher differs from it only in its groups (20 RCABs instead of 6), so its
    # count is the student's plus 10 times the difference of one group (the whole teacher build takes ~40 s on
    # this CPU; tests/test_models_deep.py builds it too).
    from keras_sr.layers.residual_channel_attention import ResidualGroup
    from keras_sr.recipes.fakd import FAKDRecipe
    from keras_sr.recipes.rcan import RCANRecipe

    cheap = dict(kernel_initializer="zeros")  # the count does not depend on it; random init is slow here
    student_config, teacher_config = FAKDRecipe.for_scale(4).model_config(), RCANRecipe.for_scale(4).model_config()
    assert {k: v for k, v in student_config.items() if k != "num_blocks"} == \
        {k: v for k, v in teacher_config.items() if k != "num_blocks"}
    assert (student_config["num_groups"], student_config["num_blocks"], teacher_config["num_blocks"]) == (10, 6, 20)
    student = models.build("rcan", **student_config, **cheap)
    assert student.count_params() == 5_171_315

    def group(blocks):
        layer = ResidualGroup(num_blocks=blocks, reduction=16, kernel_initializer="zeros")
        layer.build((None, None, None, 64))
        return layer.count_params()

    assert student.get_layer("group_0").count_params() == group(6)
    assert student.count_params() + 10 * (group(20) - group(6)) == 15_592_355


def test_fakd_and_srkd_recipes():
    from keras_sr.recipes.fakd import FAKDRecipe
    from keras_sr.recipes.srkd import SRKDRecipe

    fakd = FAKDRecipe.for_scale(4)
    assert (fakd.distill_alpha, fakd.distill_feature_loss, fakd.distill_feature_weight) == (0.5, "affinity", 10.0)
    assert fakd.distill_features == "group_2,group_6,long_skip" and FAKDRecipe.for_scale(3).distill_features == \
        "group_6,long_skip"
    assert (fakd.patch_size, fakd.batch_size, fakd.loss, fakd.learning_rate, fakd.steps, fakd.lr_milestones) == \
        (48, 16, "l1", 1e-4, 200_000, (150_000,))
    assert fakd.learning_rate_at(150_001) == pytest.approx(5e-5)
    with pytest.raises(SystemExit, match="pass --teacher"):
        fakd.check_files()
    srkd = SRKDRecipe.for_scale(4)
    assert srkd.distill_features == "block_0:block_2,block_1:block_6,block_2:block_9"
    with pytest.raises(SystemExit, match="pass --teacher"):
        srkd.check_files()
    teacher = SRKDRecipe.for_scale(4, variant="teacher", **SRKDRecipe.demo_defaults(4))
    assert teacher.teacher == "" and teacher.model_config()["variant"] == "teacher"
    assert SRKDRecipe.for_scale(4, **SRKDRecipe.demo_defaults(4)).teacher == "edsr_baseline_x4"


@pytest.mark.skipif(not MAIN, reason="TensorFlow process only")
def test_teacher_is_refused_by_other_trainers_and_checked_before_training(tmp_path):
    from keras_sr.recipes.espcn import main as espcn_main
    from keras_sr.recipes.srgan import main

    with pytest.raises(SystemExit, match=r"--teacher .*missing.keras: file not found"):
        espcn_main(["--scale", "3", "--teacher", str(tmp_path / "missing.keras"), "--out", str(tmp_path / "run")])
    assert not (tmp_path / "run").exists()
    from keras_sr.recipes.liif import main as liif_main

    with pytest.raises(SystemExit, match="liif is arbitrary-scale SR"):
        liif_main(["--teacher", "edsr_baseline_x4", "--out", str(tmp_path / "run")])
    with pytest.raises(SystemExit, match="distillation runs on the fit trainer"):
        main(["--scale", "4", "--teacher", "edsr_baseline_x4", "--vgg-weights", "random", "--steps", "1",
              "--out", "unused_run"])
