"""TensorFlow 1 name-based checkpoints (`tf.train.Saver`: `<prefix>.index` + `<prefix>.data-*-of-*`) as arrays.

Some official super-resolution code is TF1 / TF-slim (e.g. Mayzazhou/Cross-MPI, whose
`train.py` saves `model.latest-<step>` with `tf.train.Saver(tf.model_variables() +
[global_step])`). Such a checkpoint is found from:

* its prefix (`.../model.latest-302050`, the files `<prefix>.index` and `<prefix>.data-*` beside it),
* one of its files (`<prefix>.index`, `<prefix>.data-00000-of-00001`, `<prefix>.meta`),
* or its directory holding a `checkpoint` state file: its `model_checkpoint_path`, taken beside
  the `checkpoint` file when the recorded path does not exist (TF1 writes absolute paths of the
  training machine), else the `.index` of the highest step in the directory.

Reading needs TensorFlow (a core dependency of keras-sr, imported here only when a TF
checkpoint is read): `tf.train.load_checkpoint(prefix)`. The variable names become the keys as
they are (`f_extract_net/conv_in/weights`); values keep TF's layouts (a conv kernel is already
HWIO, Keras' layout: converters assign it without the PyTorch `conv_kernel` transpose).

Training state is not model weights: `training_state(keys)` names the keys that match
`TRAINING_STATE` (the step counter `global_step`, Adam's `beta1_power` / `beta2_power`, and
optimizer slots `<variable>/Adam`, `/Adam_1`, `/Momentum`, `/RMSProp`, `/RMSProp_1`,
`/Adagrad`, `/ExponentialMovingAverage`); a converter checks them out by that rule
(`state.skip(*training_state(state.keys()))`), so they are skipped by name, never silently.

Example:
    >>> is_tf_checkpoint("checkpoints/model.latest-302050")      # True when its .index exists
    >>> arrays, prefix = read_tf_checkpoint("checkpoints/")      # the latest checkpoint of the directory
    >>> arrays["fuse_part/sr_output/weights"].shape               # (1, 1, 32, 3)
"""

import glob
import os
import re

import numpy as np

from keras_sr.convert.registry import CheckpointMismatch

__all__ = ["is_tf_checkpoint", "checkpoint_prefix", "read_tf_checkpoint", "training_state", "TRAINING_STATE"]

# The named rule for TF1 training state (global step, optimizer accumulators and slots).
TRAINING_STATE = re.compile(r"^(global_step|beta1_power(_\d+)?|beta2_power(_\d+)?)$"
                            r"|/(Adam|Adam_1|Momentum|RMSProp|RMSProp_1|Adagrad|ExponentialMovingAverage)(_\d+)?$")

_FILE_SUFFIX = re.compile(r"(\.index|\.meta|\.data-\d+-of-\d+)$")
_STATE_LINE = re.compile(r'^\s*model_checkpoint_path\s*:\s*"(.*)"\s*$', re.M)


def training_state(keys):
    """The keys of `keys` that are TF1 training state by `TRAINING_STATE` (not model weights)."""
    return [k for k in keys if TRAINING_STATE.search(k)]


def _step(prefix):
    found = re.search(r"-(\d+)$", prefix)
    return int(found.group(1)) if found else -1


def _directory_prefix(directory):
    state_file = os.path.join(directory, "checkpoint")
    if os.path.isfile(state_file):
        with open(state_file, encoding="utf-8", errors="replace") as f:
            found = _STATE_LINE.search(f.read())
        if found:
            recorded = found.group(1)
            for candidate in (recorded if os.path.isabs(recorded) else os.path.join(directory, recorded),
                              os.path.join(directory, os.path.basename(recorded))):
                if os.path.isfile(candidate + ".index"):
                    return candidate
    indexes = [p[:-len(".index")] for p in glob.glob(os.path.join(glob.escape(directory), "*.index"))]
    if indexes:
        return max(indexes, key=lambda p: (_step(p), p))
    return None


def checkpoint_prefix(path):
    """The TF checkpoint prefix that `path` names (prefix, one of its files, or its directory), else None."""
    path = os.fspath(path)
    if os.path.isdir(path):
        return _directory_prefix(path) if os.path.isfile(os.path.join(path, "checkpoint")) \
            or glob.glob(os.path.join(glob.escape(path), "*.index")) else None
    if os.path.isfile(path + ".index"):
        return path
    stripped = _FILE_SUFFIX.sub("", path)
    if stripped != path and os.path.isfile(stripped + ".index"):
        return stripped
    return None


def is_tf_checkpoint(path):
    """Whether `path` names a TF name-based checkpoint (no TensorFlow import: file names only)."""
    try:
        return checkpoint_prefix(path) is not None
    except TypeError:
        return False


def read_tf_checkpoint(path):
    """`(name -> numpy array, prefix)` of every variable of the TF checkpoint that `path` names."""
    prefix = checkpoint_prefix(path)
    if prefix is None:
        raise FileNotFoundError(f"{os.fspath(path)}: no TensorFlow checkpoint (<prefix>.index) found")
    try:
        import tensorflow as tf
    except ImportError as error:
        raise ImportError(f"{prefix}: reading TensorFlow checkpoints needs tensorflow") from error
    try:
        reader = tf.train.load_checkpoint(prefix)
        names = sorted(reader.get_variable_to_shape_map())
        arrays = {name: np.asarray(reader.get_tensor(name)) for name in names}
    except Exception as error:  # DataLossError, NotFoundError (a missing .data shard), ...
        raise CheckpointMismatch(f"{prefix}: tf.train.load_checkpoint failed: {error}") from error
    return arrays, prefix
