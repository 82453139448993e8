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

A damaged checkpoint (cut short by a full disk or an interrupted copy of the
run folder, or otherwise unreadable by HDF5) never stops a resume while an
older one is intact: `restore_latest` / `restore` check each file from the
newest back (`check_weights_file`: HDF5 opens it and every dataset reads in
full), rename a damaged one to `<name>.damaged` (kept for inspection, never
deleted), say so in one line naming the file, and load the newest intact
one. Only when no checkpoint is intact do they raise `CheckpointError` naming
the run folder. An intact file that does not fit the model (another config)
is not "damaged": its loading error is raised, naming the file, and the file
is left in place. `best.weights.h5` gets the same check when the manager
opens a folder that has one (`check_best`): a damaged best is set aside and
forgotten, so the next validation writes a new one.

Example:
    >>> manager = CheckpointManager("runs/x/checkpoints", keep=3)
    >>> manager.save(model, step=5000)
    >>> step = manager.restore_latest(model)          # 5000, optimizer state restored
    >>> step = manager.restore(gan_networks.load_weights, lambda: gan_networks.step, log=print)  # custom trainers
"""

import json
import os
import re
import time

import keras

from keras_sr.fileio import atomic_path, atomic_write_text

__all__ = ["CheckpointManager", "CheckpointCallback", "CheckpointError", "check_weights_file", "save_weights_atomic"]

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


class CheckpointError(ValueError):
    """No checkpoint of a run can be loaded, or an intact one does not fit the model (one line, names the file)."""


def check_weights_file(path):
    """None if HDF5 opens `path` and reads every dataset in full, else the reason in a few words.

    Catches what a full disk or an interrupted copy leaves (a file cut short,
    a damaged header or B-tree). HDF5 keeps no checksums of the data itself,
    so flipped bytes inside a weight array are not detected.
    """
    import h5py

    if not os.path.isfile(path):
        return "file not found"
    if os.path.getsize(path) == 0:
        return "empty file"
    problems = []

    def visit(name, item):
        if isinstance(item, h5py.Dataset) and not problems:
            try:
                item[()]
            except Exception as err:  # noqa: BLE001 - any read failure means the file is damaged
                problems.append(f"dataset {name} unreadable: {_first_line(err)}")

    try:
        with h5py.File(path, "r") as f:
            f.visititems(visit)
    except Exception as err:  # noqa: BLE001 - h5py raises OSError, KeyError, RuntimeError ... on damaged files
        return _first_line(err)
    return problems[0] if problems else None


def _first_line(err):
    text = str(err).strip().splitlines()
    return (text[0] if text else type(err).__name__)[:300]


def _set_aside(path):
    """Rename a damaged file to `<path>.damaged` (`.damaged-2`, ... when taken); returns the new path."""
    target, n = path + ".damaged", 1
    while os.path.exists(target):
        n += 1
        target = f"{path}.damaged-{n}"
    os.replace(path, target)
    return target


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
    def restore(self, load, step=None, log=print):
        """Load the newest intact checkpoint with `load(path)`; returns `step()` after it (or its file's step).

        Damaged files (`check_weights_file`) are renamed to `*.damaged` with a
        one-line message naming them, newest first, until one is intact.
        Returns None when the run has no checkpoint; raises `CheckpointError`
        when none is intact, or when the intact one does not load (naming it).
        """
        log = log or (lambda *_: None)
        self.check_best(log)
        entries = list(self.index["checkpoints"])
        if not entries:
            return None
        damaged = []
        for entry in reversed(entries):
            path = os.path.join(self.folder, entry["file"])
            problem = check_weights_file(path)
            if problem is not None:
                kept = _set_aside(path) if os.path.exists(path) else None
                damaged.append(entry["file"])
                self.index["checkpoints"] = [c for c in self.index["checkpoints"] if c["file"] != entry["file"]]
                self.index["latest"] = self.index["checkpoints"][-1]["file"] if self.index["checkpoints"] else None
                self._write_index()
                log(f"checkpoint {path} is damaged ({problem}); "
                    + (f"kept as {os.path.basename(kept)}, " if kept else "")
                    + "trying the previous one")
                continue
            try:
                load(path)
            except Exception as err:  # noqa: BLE001 - an intact file that does not fit: name it, stop
                raise CheckpointError(f"{path}: intact but does not load into this model ({_first_line(err)}); "
                                      "was the run started with another config?") from err
            if damaged:
                log(f"resuming from {path}, the newest intact checkpoint ({len(damaged)} damaged one(s) set aside "
                    "as *.damaged)")
            return int(step()) if step is not None else int(entry["step"])
        raise CheckpointError(f"{os.path.dirname(os.path.abspath(self.folder))}: no checkpoint can be loaded "
                              f"({len(damaged)} damaged, kept as {self.folder}/*.damaged); nothing to resume from")

    def restore_latest(self, model, log=print):
        """Load the newest intact checkpoint into a compiled model (optimizer built first); returns its step or 0.

        See `restore` for damaged files.
        """
        if model.optimizer is not None and not model.optimizer.built:
            model.optimizer.build(model.trainable_variables)

        def step():
            return int(keras.ops.convert_to_numpy(model.optimizer.iterations)) if model.optimizer is not None else 0

        restored = self.restore(model.load_weights, step, log)
        return 0 if restored is None else restored

    def check_best(self, log=print):
        """Set a damaged `best.weights.h5` aside (`*.damaged`) and forget its score; True if the best is intact."""
        path = self.best_path()
        if path is None:
            return False
        problem = check_weights_file(path)
        if problem is None:
            return True
        kept = _set_aside(path)
        log(f"best checkpoint {path} is damaged ({problem}); kept as {os.path.basename(kept)}, the next validation "
            "writes a new best")
        self.index["best"] = None
        self._write_index()
        return False


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
