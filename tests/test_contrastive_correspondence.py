"""C2-Matching's contrastive stages (keras_sr.training.contrastive_correspondence): loss, targets, training."""

import csv
import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import keras

from conftest import REPO_ROOT
from keras_sr.data.reference_views import ViewParams
from keras_sr.layers.correspondence import ContrastiveFeatureExtractor, correlation_distillation_loss
from keras_sr.training.contrastive_correspondence import (
    ContrastiveConfig, ContrastiveCorrespondenceModel, ContrastivePairDataset, contrastive_loss,
    correspondence_accuracy, correspondence_targets, load_extractor_npz, masked_distillation_loss,
    save_extractor_npz, train_contrastive)

WIDTHS = (4, 8, 16)


def _image(seed=0, size=96):
    """A smooth random colour texture (structure at several scales), uint8 RGB."""
    rng = np.random.default_rng(seed)
    from PIL import Image

    layers = [np.asarray(Image.fromarray(rng.integers(0, 256, (s, s, 3), dtype=np.uint8)).resize((size, size),
                                                                                                Image.BICUBIC),
                         np.float32) for s in (6, 12, 24)]
    return np.clip(sum(layers) / 3.0, 0, 255).astype(np.uint8)


def _normalize(x):
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)


def _official_loss(f1, f2, index, valid, margin, safe_radius, min_valid):
    """The official TeacherContrasModel.loss_function for one batch, in numpy (HWC features, per-item loop)."""
    total, used = 0.0, 0
    for b in range(f1.shape[0]):
        h1, w1, c = f1[b].shape
        h2, w2 = f2[b].shape[:2]
        all_d1 = _normalize(f1[b].reshape(-1, c))
        ids = np.flatnonzero(valid[b] > 0)
        if len(ids) < min_valid:
            continue
        grid = np.stack(np.meshgrid(np.arange(h1), np.arange(w1), indexing="ij"), 0).reshape(2, -1)
        pos1 = grid[:, ids]
        d1 = all_d1[ids]
        pos2 = np.stack([index[b, ids] // w2, index[b, ids] % w2])
        d2 = _normalize(f2[b].reshape(-1, c)[index[b, ids]])
        positive = 2 - 2 * np.sum(d1 * d2, -1)
        dist = np.max(np.abs(pos2[:, :, None] - pos2[:, None, :]), axis=0)
        neg2 = np.min(2 - 2 * d1 @ d2.T + (dist <= safe_radius) * 10.0, axis=1)
        dist = np.max(np.abs(pos1[:, :, None] - grid[:, None, :]), axis=0)
        neg1 = np.min(2 - 2 * d2 @ all_d1.T + (dist <= safe_radius) * 10.0, axis=1)
        total += np.mean(np.maximum(margin + positive - np.minimum(neg1, neg2), 0.0))
        used += 1
    return total / max(used, 1)


def _random_case(rng, batch=3, size=7, channels=5):
    f1 = rng.normal(size=(batch, size, size, channels)).astype(np.float32)
    f2 = rng.normal(size=(batch, size, size, channels)).astype(np.float32)
    index = rng.integers(0, size * size, size=(batch, size * size)).astype(np.int32)
    valid = (rng.random((batch, size * size)) < 0.7).astype(np.float32)
    valid[-1, 5:] = 0.0  # one pair with too few correspondences: skipped
    return f1, f2, index, valid


def test_contrastive_loss_matches_official_numpy_loop():
    rng = np.random.default_rng(0)
    f1, f2, index, valid = _random_case(rng)
    for margin, radius in ((1.0, 4), (0.5, 1)):
        expected = _official_loss(f1, f2, index, valid, margin, radius, min_valid=10)
        got = float(keras.ops.convert_to_numpy(contrastive_loss(f1, f2, index, valid, margin, radius, 10)))
        assert got == pytest.approx(expected, rel=1e-5, abs=1e-6)
        assert expected > 0
    # no pair has enough correspondences: zero loss, not NaN
    assert float(keras.ops.convert_to_numpy(contrastive_loss(f1, f2, index, valid, min_valid=10**6))) == 0.0


def test_masked_distillation_matches_official_kl_and_the_layer_loss():
    rng = np.random.default_rng(1)
    sq, sk, tq, tk = (rng.normal(size=(2, 12, 6)).astype(np.float32) for _ in range(4))
    valid = (rng.random((2, 12)) < 0.6).astype(np.float32)
    got = keras.ops.convert_to_numpy(masked_distillation_loss(sq, sk, tq, tk, valid, 0.15))
    for b in range(2):
        ids = np.flatnonzero(valid[b])
        s = _normalize(sq[b, ids]) @ _normalize(sk[b, ids]).T / 0.15
        t = _normalize(tq[b, ids]) @ _normalize(tk[b, ids]).T / 0.15
        log_s = s - np.log(np.exp(s).sum(-1, keepdims=True))
        p_t = np.exp(t) / np.exp(t).sum(-1, keepdims=True)
        expected = np.sum(p_t * (np.log(p_t) - log_s)) / len(ids)  # kl_div(..., reduction="batchmean")
        assert got[b] == pytest.approx(expected, rel=1e-4)
    everything = np.ones_like(valid)
    full = keras.ops.convert_to_numpy(masked_distillation_loss(sq, sk, tq, tk, everything, 0.15)).mean()
    layer = keras.ops.convert_to_numpy(correlation_distillation_loss(sq, sk, tq, tk, 0.15))
    assert full == pytest.approx(float(layer), rel=1e-5)


def test_targets_of_a_pure_translation_are_exact():
    # reference pixel (x, y) shows input pixel (x + 8, y + 4): input feature (i, j) is reference feature (i - 1, j - 2)
    transform = np.array([[1.0, 0.0, 8.0], [0.0, 1.0, 4.0], [0.0, 0.0, 1.0]])
    index, valid = correspondence_targets(transform, (48, 64), (48, 64), stride=4, border=10)
    h1, w1, w2 = 12, 16, 16
    i, j = np.divmod(np.arange(h1 * w1), w1)
    ref_x, ref_y = 4 * j - 8, 4 * i - 4
    expected_valid = (ref_x > 10) & (ref_x < 54) & (ref_y > 10) & (ref_y < 38)
    np.testing.assert_array_equal(valid, expected_valid.astype(np.float32))
    np.testing.assert_array_equal(index[expected_valid], ((i - 1) * w2 + (j - 2))[expected_valid])
    # batched form, and a reference of another size
    index_b, valid_b = correspondence_targets(np.stack([transform, np.eye(3)]), (48, 64), (32, 32))
    assert index_b.shape == valid_b.shape == (2, h1 * w1)
    np.testing.assert_array_equal(index_b[1][valid_b[1] > 0] // 8, i[valid_b[1] > 0])


def test_identity_views_give_identity_targets_and_batches_are_deterministic():
    images = [_image(0), _image(1)]
    ds = ContrastivePairDataset(images, patch_size=48, batch_size=2, seed=3, steps_per_epoch=2,
                                view_params=ViewParams.identity(), augment=False)
    (batch,) = ds[0]
    assert batch["img_in"].shape == batch["img_ref"].shape == batch["img_in_up"].shape == (2, 48, 48, 3)
    np.testing.assert_allclose(batch["transform"], np.broadcast_to(np.eye(3), (2, 3, 3)), atol=1e-5)
    np.testing.assert_allclose(batch["img_ref"], batch["img_in"], atol=1.0)
    ok = batch["valid"] > 0
    assert ok.sum() > 0 and not ok.all()  # the 10 px border is dropped
    np.testing.assert_array_equal(batch["target_index"][ok], np.broadcast_to(np.arange(144), (2, 144))[ok])
    assert np.abs(batch["img_in_up"] - batch["img_in"]).mean() > 0.5  # LR-upsampled, not the HR crop
    again = ContrastivePairDataset(images, patch_size=48, batch_size=2, seed=3, steps_per_epoch=2)
    other = ContrastivePairDataset(images, patch_size=48, batch_size=2, seed=3, steps_per_epoch=2)
    first = again[1][0]
    np.testing.assert_array_equal(first["img_ref"], other[1][0]["img_ref"])
    other.on_epoch_end()
    assert not np.array_equal(first["img_ref"], other[1][0]["img_ref"])
    with pytest.raises(ValueError, match="patch_size"):
        ContrastivePairDataset(images, patch_size=50)


def test_accuracy_counts_matches_within_one_feature_pixel():
    rng = np.random.default_rng(2)
    features = rng.normal(size=(1, 6, 6, 8)).astype(np.float32)
    identity = np.arange(36, dtype=np.int32)[None]
    valid = np.ones((1, 36), np.float32)
    hits, count = correspondence_accuracy(features, features, identity, valid)
    assert float(hits) == float(count) == 36.0
    shifted = np.roll(features, 3, axis=2)  # every match lands 3 columns away (mod 6): never within 1
    hits, _ = correspondence_accuracy(features, shifted, identity, valid)
    assert float(hits) == 0.0
    valid[0, :10] = 0
    assert float(correspondence_accuracy(features, features, identity, valid)[1]) == 26.0


def _fixed_batch():
    ds = ContrastivePairDataset([_image(0), _image(1)], patch_size=64, batch_size=2, seed=0, steps_per_epoch=1)
    return ds[0][0]


def test_teacher_steps_lower_the_loss_on_a_fixed_batch():
    batch = _fixed_batch()
    keras.utils.set_random_seed(0)
    model = ContrastiveCorrespondenceModel("teacher", WIDTHS, min_valid=16)
    model.build()
    model.compile(keras.optimizers.Adam(1e-3))
    before = float(keras.ops.convert_to_numpy(model.loss_terms(batch, model(batch))[0]))
    for _ in range(12):
        model.train_on_batch(batch)
    after = float(keras.ops.convert_to_numpy(model.loss_terms(batch, model(batch))[0]))
    assert after < before - 0.05, (before, after)


def test_extractor_npz_round_trip(tmp_path):
    model = ContrastiveCorrespondenceModel("teacher", WIDTHS)
    model.build()
    path = save_extractor_npz(model.extractor, str(tmp_path / "extractor.npz"))
    with np.load(path) as data:
        assert "feature_extraction_image2.model.conv3_1.weight" in data.files
        assert data["feature_extraction_image1.model.conv1_1.weight"].shape == (4, 3, 3, 3)  # OIHW
    x = [np.full((1, 16, 16, 3), 100.0, np.float32), np.full((1, 16, 16, 3), 30.0, np.float32)]
    expected = [keras.ops.convert_to_numpy(t) for t in model.extractor(x)]
    for loaded in (ContrastiveFeatureExtractor(WIDTHS, weights=path),
                   load_extractor_npz(_built(ContrastiveFeatureExtractor(WIDTHS)), path)):
        for got, want in zip(loaded(x), expected):
            np.testing.assert_allclose(keras.ops.convert_to_numpy(got), want, rtol=1e-5, atol=1e-5)


def _built(layer):
    layer.build([(None, None, None, 3)] * 2)
    return layer


def _config(**overrides):
    values = dict(widths=WIDTHS, patch_size=48, batch_size=2, min_valid=8, checkpoint_every=2, eval_batches=1,
                  jit_compile="off", workers=1)
    values.update(overrides)
    return ContrastiveConfig(**values)


def test_resume_continues_the_step_and_writes_the_extractor(tmp_path):
    images, val = [_image(0), _image(1)], [_image(2)]
    out = str(tmp_path / "teacher")
    first = train_contrastive("teacher", 2, images, out, config=_config(), val_data=val, log=lambda *a: None)
    assert first.steps == 2
    second = train_contrastive("teacher", 4, images, out, config=_config(), val_data=val, resume=True,
                               log=lambda *a: None)
    assert second.steps == 4
    with open(os.path.join(out, "log.csv"), encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["step"]) for r in rows] == [2, 4]
    assert all(0.0 <= float(r["accuracy"]) <= 1.0 and float(r["loss"]) > 0 for r in rows)
    summary = json.load(open(os.path.join(out, "summary.json"), encoding="utf-8"))
    assert summary["steps"] == 4 and summary["accuracy_initial"] == pytest.approx(first.accuracy_before)
    assert sorted(os.listdir(os.path.join(out, "checkpoints"))) == ["checkpoints.json", "ckpt-00000002.weights.h5",
                                                                    "ckpt-00000004.weights.h5"]
    # the resumed run started from the saved state, not from scratch
    assert second.accuracy_before == pytest.approx(first.accuracy_after)
    loaded = ContrastiveFeatureExtractor(WIDTHS, weights=second.extractor_path)
    x = [np.full((1, 16, 16, 3), 80.0, np.float32)] * 2
    np.testing.assert_allclose(keras.ops.convert_to_numpy(loaded(x)[0]),
                               keras.ops.convert_to_numpy(second.model.extractor(x)[0]), rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="teacher_weights"):
        train_contrastive("student", 1, images, str(tmp_path / "s"), config=_config())


def _student_step():
    """One student step (random teacher) on the fixed batch: logs and whether each network's weights moved."""
    keras.utils.set_random_seed(0)
    batch = _fixed_batch()
    model = ContrastiveCorrespondenceModel("student", WIDTHS, min_valid=16)
    model.build()
    model.compile(keras.optimizers.Adam(1e-3))
    teacher = [keras.ops.convert_to_numpy(v) for v in model.teacher.weights]
    student = [keras.ops.convert_to_numpy(v) for v in model.extractor.weights]
    logs = model.train_on_batch(batch, return_dict=True)
    return {
        "backend": keras.backend.backend(),
        "logs": {k: float(v) for k, v in logs.items()},
        "teacher_fixed": all(np.array_equal(a, keras.ops.convert_to_numpy(b))
                             for a, b in zip(teacher, model.teacher.weights)),
        "student_moved": any(not np.array_equal(a, keras.ops.convert_to_numpy(b))
                             for a, b in zip(student, model.extractor.weights)),
    }


JAX_STEP = textwrap.dedent("""
    import json, sys
    sys.path.insert(0, "tests")
    from test_contrastive_correspondence import _student_step
    print(json.dumps(_student_step()))
""")


@pytest.mark.parametrize("backend", ["tensorflow", "jax"])
def test_one_student_step_with_distillation(backend):
    if backend == keras.backend.backend():
        result = _student_step()
    else:  # the suite runs on TensorFlow: JAX in a subprocess, as tests/test_jax_backend.py
        env = dict(os.environ, KERAS_BACKEND=backend, JAX_PLATFORMS="cpu", TF_CPP_MIN_LOG_LEVEL="3")
        proc = subprocess.run([sys.executable, "-c", JAX_STEP], cwd=REPO_ROOT, env=env, capture_output=True,
                              text=True, timeout=600)
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
        result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["backend"] == backend
    logs = result["logs"]
    assert logs["distill"] > 0 and logs["contrastive"] > 0 and np.isfinite(logs["loss"])
    assert logs["loss"] == pytest.approx(logs["contrastive"] + 15.0 * logs["distill"], rel=1e-4)
    assert result["teacher_fixed"] and result["student_moved"]
