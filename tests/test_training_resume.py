"""Training never loses work: a run SIGKILLed mid-way resumes from its latest checkpoint (weights, optimizer
state, step counter) and reaches the planned step count; the fit engine's resume is exact (pydataset loader)."""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

import keras

from keras_sr.image_io import save_image

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
STEPS = 60


def _data(root):
    from skimage import data

    photo, other = data.astronaut(), data.coffee()
    for i in range(4):
        save_image(os.path.join(root, "train", f"t{i}.png"), photo[60 * i:60 * i + 64, 100:164])
    save_image(os.path.join(root, "val", "v0.png"), other[100:148, 200:248])
    return os.path.join(root, "train"), os.path.join(root, "val")


def _command(train_dir, val_dir, out, resume=False):
    return [sys.executable, "-m", "recipes.edsr", "--scale", "2", "--data", train_dir, "--val-data", val_dir,
            "--out", out, "--steps", str(STEPS), "--num-blocks", "1", "--filters", "8", "--patch-size", "8",
            "--batch-size", "4", "--learning-rate", "1e-3", "--schedule", "cosine", "--steps-per-epoch", "10",
            "--checkpoint-every", "10", "--val-every", str(STEPS), "--strategy", "none", "--no-export", "--quiet",
            "--jit-compile", "off", *(["--resume"] if resume else [])]


def _summary(out):
    with open(os.path.join(out, "summary.json")) as f:
        return json.load(f)


def test_sigkill_then_resume_reaches_the_plan(tmp_path):
    train_dir, val_dir = _data(str(tmp_path / "data"))
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "KERAS_SR_CACHE": str(tmp_path / "cache")}
    reference = str(tmp_path / "reference")
    done = subprocess.run(_command(train_dir, val_dir, reference), cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]

    out = str(tmp_path / "killed")
    proc = subprocess.Popen(_command(train_dir, val_dir, out), cwd=REPO, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    first = os.path.join(out, "checkpoints", "ckpt-00000010.weights.h5")
    deadline = time.time() + 240
    while not os.path.exists(first) and proc.poll() is None and time.time() < deadline:
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, "the run finished before it could be killed"
    assert not os.path.exists(os.path.join(out, "summary.json"))
    index_steps = sorted(int(n[5:13]) for n in os.listdir(os.path.join(out, "checkpoints")) if n.startswith("ckpt-"))
    assert index_steps and max(index_steps) < STEPS

    resumed = subprocess.run(_command(train_dir, val_dir, out, resume=True), cwd=REPO, env=env,
                             capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    summary, ref = _summary(out), _summary(reference)
    assert summary["resumed_from"] == max(index_steps) and summary["resumed_from"] >= 10
    assert summary["steps"] == ref["steps"] == STEPS
    # Same weights, optimizer state and schedule position (resumed_from is read back from the restored
    # optimizer's step counter); only the patches sampled after the resume differ from the reference run, so
    # the last epoch's loss agrees within 20 % and held-out PSNR within 1.5 dB (60 steps of a 1-block model).
    assert summary["final_loss"] == pytest.approx(ref["final_loss"], rel=0.2)
    assert summary["final"]["psnr"] == pytest.approx(ref["final"]["psnr"], abs=1.5)
    with open(os.path.join(out, "log.csv")) as f:
        rows = [line.split(",") for line in f.read().splitlines()]
    steps_logged = [int(float(row[0])) for row in rows[1:]]
    # one log: the killed run's rows (flushed per epoch), then the resumed run's from its checkpoint on
    assert rows[0][0] == "step" and steps_logged[-1] == STEPS
    resumed_rows = steps_logged[-(STEPS - summary["resumed_from"]) // 10:]
    assert resumed_rows == list(range(summary["resumed_from"] + 10, STEPS + 1, 10))
    assert "resumed from" in resumed.stdout + resumed.stderr


class _Killed(Exception):
    """Stands for a SIGKILL: the run stops right after a checkpoint, without its final files."""


class _KillAfter(keras.callbacks.Callback):
    def __init__(self, step):
        super().__init__()
        self.step = step

    def on_epoch_end(self, epoch, logs=None):  # after the CheckpointCallback (user callbacks come later)
        if int(keras.ops.convert_to_numpy(self.model.optimizer.iterations)) >= self.step:
            raise _Killed()


def _state(model):
    """Every weight and optimizer variable (Adam moments, EMA averages, step counter) by path (optimizer
    variables without the optimizer's own name, which counts up per process: adam, adam_1, ...)."""
    state = {v.path: keras.ops.convert_to_numpy(v) for v in model.weights}
    state.update({"optimizer/" + v.path.split("/", 1)[-1]: keras.ops.convert_to_numpy(v)
                  for v in model.optimizer.variables})
    return state


def test_fit_resume_is_exact(tiny_photos, tmp_path):
    """Killed after the step-2 checkpoint and resumed to 6 steps == 6 uninterrupted steps, exactly: weights,
    optimizer state (moments, EMA, counter) and the schedule position (the step schedule halves at step 3)."""
    from keras_sr.recipes.edsr import EDSRRecipe
    from keras_sr.training.engine import train

    train_dir, val_dir = tiny_photos
    recipe = EDSRRecipe.for_scale(2, steps=6, num_blocks=1, filters=8, patch_size=8, batch_size=2,
                                  learning_rate=1e-3, schedule="step", lr_milestones=(3,), lr_gamma=0.5,
                                  ema_decay=0.5, steps_per_epoch=2, checkpoint_every=2, val_every=6,
                                  jit_compile="off", workers=2)
    run = dict(data=[train_dir], val_data=[val_dir], strategy="none", loader="pydataset", verbose=0, log=None,
               tensorboard=False)
    straight = train(recipe, out=str(tmp_path / "straight"), **run)
    out = str(tmp_path / "killed")
    with pytest.raises(_Killed):
        train(recipe, out=out, callbacks=[_KillAfter(2)], **run)
    assert not os.path.exists(os.path.join(out, "summary.json"))
    resumed = train(recipe, out=out, resume=True, **run)

    assert resumed.resumed_from == 2 and resumed.steps == straight.steps == 6
    a, b = _state(resumed.train_model), _state(straight.train_model)
    assert a.keys() == b.keys() and "optimizer/iteration" in a and any("average" in k for k in a)
    for key in a:
        np.testing.assert_array_equal(a[key], b[key], err_msg=key)
    for result in (resumed, straight):
        assert float(keras.ops.convert_to_numpy(result.train_model.optimizer.learning_rate)) == pytest.approx(5e-4)
    for x, y in zip(resumed.model.get_weights(), straight.model.get_weights()):  # the exported EMA model too
        np.testing.assert_array_equal(x, y)
    assert summary_rows(out) == [2, 4, 6]


def summary_rows(out):
    with open(os.path.join(out, "log.csv")) as f:
        return [int(float(line.split(",")[0])) for line in f.read().splitlines()[1:]]
