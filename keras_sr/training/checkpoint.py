"""Checkpoints that never lose work: atomic files, the last K kept, the best by validation PSNR.

Layout of `<run>/checkpoints/`:

* `ckpt-00005000.weights.h5`: model weights + optimizer state (Adam moments,
  EMA averages, the step counter `iterations`), written to a temporary file
  and renamed into place, so a kill leaves the previous checkpoint intact.
* `best.weights.h5`: model weights only (EMA weights when EMA is on) of the
  best validation PSNR so far.
* `checkpoints.json`: `{"latest": ..., "checkpoints": [{step, file, time}],
  "best": {step, file, psnr, ssim}}`, also written atomically.

`--resume` builds and compiles the model, calls `restore_latest`, and
continues from `optimizer.iterations`.

Example:
    >>> manager = CheckpointManager("runs/x/checkpoints", keep=3)
    >>> manager.save(model, step=5000)
    >>> step = manager.restore_latest(model)          # 5000, optimizer state restored
"""

import json
import os
import re
import time

import keras

from keras_sr.fileio import atomic_path, atomic_write_text

__all__ = ["CheckpointManager", "CheckpointCallback", "save_weights_atomic"]

INDEX = "checkpoints.json"
_CKPT = re.compile(r"^ckpt-(\d+)\.weights\.h5$")


def save_weights_atomic(model, path):
    """`model.save_weights(path)` through a temporary file renamed into place."""
    if not path.endswith(".weights.h5"):
        raise ValueError(f"{path}: weights files must end with .weights.h5.")
    with atomic_path(path) as tmp:
        # Keras insists on the `.weights.h5` suffix: write beside `tmp`, then move onto it.
        staging = tmp + ".weights.h5"
        try:
            model.save_weights(staging)
            os.replace(staging, tmp)
        finally:
            if os.path.exists(staging):
                os.remove(staging)


def _step_of(name):
    match = _CKPT.match(name)
    return int(match.group(1)) if match else None


class CheckpointManager:
    """Writes, lists, prunes and restores the checkpoints of one run."""

    def __init__(self, folder, keep=3):
        self.folder = os.fspath(folder)
        self.keep = max(1, int(keep))
        os.makedirs(self.folder, exist_ok=True)
        self.index = self._read_index()

    # Index -----------------------------------------------------------------
    def _read_index(self):
        path = os.path.join(self.folder, INDEX)
        if os.path.isfile(path):
            with open(path, encoding="utf-8") as f:
                index = json.load(f)
        else:
            index = {"latest": None, "checkpoints": [], "best": None}
        # Trust the files on disk over the index (a kill between rename and index write).
        on_disk = {s: n for n in os.listdir(self.folder) if (s := _step_of(n)) is not None}
        known = {c["step"]: c for c in index["checkpoints"] if c["step"] in on_disk}
        index["checkpoints"] = [known.get(s, {"step": s, "file": n, "time": None}) for s, n in sorted(on_disk.items())]
        index["latest"] = index["checkpoints"][-1]["file"] if index["checkpoints"] else None
        if index.get("best") and not os.path.isfile(os.path.join(self.folder, index["best"]["file"])):
            index["best"] = None
        return index

    def _write_index(self):
        atomic_write_text(os.path.join(self.folder, INDEX), json.dumps(self.index, indent=2))

    @property
    def steps(self):
        return [c["step"] for c in self.index["checkpoints"]]

    def latest_path(self):
        latest = self.index.get("latest")
        return os.path.join(self.folder, latest) if latest else None

    def best_path(self):
        best = self.index.get("best")
        return os.path.join(self.folder, best["file"]) if best else None

    @property
    def best_psnr(self):
        best = self.index.get("best")
        return best["psnr"] if best else None

    # Writing ----------------------------------------------------------------
    def save(self, model, step):
        """Write `ckpt-<step>.weights.h5` (weights + optimizer) and prune to the last `keep`."""
        name = f"ckpt-{int(step):08d}.weights.h5"
        save_weights_atomic(model, os.path.join(self.folder, name))
        entries = [c for c in self.index["checkpoints"] if c["step"] != int(step)]
        entries.append({"step": int(step), "file": name, "time": time.strftime("%Y-%m-%dT%H:%M:%S")})
        entries.sort(key=lambda c: c["step"])
        self.index["checkpoints"] = entries
        self.index["latest"] = name
        self._write_index()
        for old in entries[:-self.keep]:
            try:
                os.remove(os.path.join(self.folder, old["file"]))
            except FileNotFoundError:
                pass
        self.index["checkpoints"] = entries[-self.keep:]
        self._write_index()
        return os.path.join(self.folder, name)

    def update_best(self, weights_model, step, psnr, ssim=None):
        """Save `best.weights.h5` from `weights_model` when `psnr` beats the best so far; True if it did."""
        if self.best_psnr is not None and psnr <= self.best_psnr:
            return False
        save_weights_atomic(weights_model, os.path.join(self.folder, "best.weights.h5"))
        self.index["best"] = {"step": int(step), "file": "best.weights.h5", "psnr": float(psnr),
                              "ssim": None if ssim is None else float(ssim)}
        self._write_index()
        return True

    # Reading ----------------------------------------------------------------
    def restore_latest(self, model):
        """Load the latest checkpoint into a compiled model (optimizer built first); returns its step or 0."""
        path = self.latest_path()
        if path is None:
            return 0
        if model.optimizer is not None and not model.optimizer.built:
            model.optimizer.build(model.trainable_variables)
        model.load_weights(path)
        return int(keras.ops.convert_to_numpy(model.optimizer.iterations)) if model.optimizer is not None else 0


class CheckpointCallback(keras.callbacks.Callback):
    """Checkpoint every `every` steps (checked at epoch ends) and when training ends.

    Also keeps the best model by `monitor` (e.g. `val_psnr` from the validation
    callback, which must run earlier in the callback list); `best_model` is an
    uncompiled float32 copy into which the (EMA) weights are copied first.
    """

    def __init__(self, manager, every, total_steps, monitor="val_psnr", best_model=None, weights_for_best=None):
        super().__init__()
        self.manager = manager
        self.every = int(every)
        self.total_steps = int(total_steps)
        self.monitor = monitor
        self.best_model = best_model
        self.weights_for_best = weights_for_best  # callable(model) -> list of weights (EMA-aware)
        self.last_saved = None

    def _step(self):
        return int(keras.ops.convert_to_numpy(self.model.optimizer.iterations))

    def on_epoch_end(self, epoch, logs=None):
        step = self._step()
        logs = logs or {}
        if self.monitor in logs and self.best_model is not None:
            weights = self.weights_for_best(self.model) if self.weights_for_best else self.model.get_weights()
            self.best_model.set_weights(weights)
            self.manager.update_best(self.best_model, step, float(logs[self.monitor]), logs.get("val_ssim"))
        if step % self.every == 0 or step >= self.total_steps:
            self._save(step)

    def on_train_end(self, logs=None):
        step = self._step()
        if self.last_saved != step:
            self._save(step)

    def _save(self, step):
        self.manager.save(self.model, step)
        self.last_saved = step
