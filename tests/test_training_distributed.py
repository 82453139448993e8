"""Data-parallel training matches single-device training: TensorFlow MirroredStrategy over two logical CPUs,
and JAX keras.distribution.DataParallel over two forced host devices (each in a subprocess, since device
setup must precede backend initialization).

Both runs start from the same seeded weights and see the same fixed batches (global batch 4, split 2 + 2);
the per-step losses must agree within rtol 1e-4 and the final weights within atol 1e-4: data parallelism
only reorders float32 sums.
"""

import json
import os
import subprocess
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

DRIVER = r'''
import json, os, sys
import numpy as np
backend = os.environ["KERAS_BACKEND"]
if backend == "tensorflow":
    from keras_sr.training.distribution import split_cpu
    split_cpu(2)
import keras
from keras_sr.recipes.edsr import EDSRRecipe
from keras_sr.training.engine import train

rng = np.random.default_rng(0)
hr = rng.uniform(0, 255, (8, 16, 16, 3)).astype("float32")
hr = (hr + np.roll(hr, 1, 1) + np.roll(hr, 1, 2)) / 3  # some spatial correlation
lr = hr.reshape(8, 8, 2, 8, 2, 3).mean(axis=(2, 4)).astype("float32")


class FixedBatches(keras.utils.PyDataset):
    def __init__(self):
        super().__init__()
    def __len__(self):
        return 2
    def __getitem__(self, i):
        return lr[4 * i:4 * i + 4], hr[4 * i:4 * i + 4]


def data():
    if backend == "tensorflow":
        import tensorflow as tf
        return tf.data.Dataset.from_tensor_slices((lr, hr)).batch(4).repeat()
    return FixedBatches()


recipe = EDSRRecipe.for_scale(2, num_blocks=1, filters=8, patch_size=8, batch_size=4, steps=4, learning_rate=1e-3,
                              schedule="constant", steps_per_epoch=2, checkpoint_every=4, val_every=4,
                              jit_compile="off")
out = {}
for strategy in ("none", sys.argv[1]):
    result = train(recipe, out=os.path.join(sys.argv[2], strategy), strategy=strategy, train_data=data(),
                   val_pairs=[], verbose=0, log=None, tensorboard=False)
    out[strategy] = {"replicas": result.distribution, "loss": result.history["loss"],
                     "weights": [w.tolist() for w in result.model.get_weights()[:2]]}
print("RESULT" + json.dumps(out))
'''


def _run(backend, strategy, tmp_path, extra_env):
    env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "3", **extra_env}
    proc = subprocess.run([sys.executable, "-c", DRIVER, strategy, str(tmp_path)], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    line = [l for l in proc.stdout.splitlines() if l.startswith("RESULT")][-1]
    return json.loads(line[len("RESULT"):])


def _compare(result, strategy, expected_name):
    import numpy as np

    single, parallel = result["none"], result[strategy]
    assert single["replicas"] == "none" and parallel["replicas"] == expected_name
    assert len(single["loss"]) == len(parallel["loss"]) == 2
    np.testing.assert_allclose(parallel["loss"], single["loss"], rtol=1e-4)
    for a, b in zip(parallel["weights"], single["weights"]):
        np.testing.assert_allclose(np.array(a), np.array(b), atol=1e-4)


def test_mirrored_strategy_two_cpus_matches_single_device(tmp_path):
    pytest.importorskip("tensorflow")
    _compare(_run("tensorflow", "mirrored", tmp_path, {}), "mirrored", "mirrored")


def test_jax_data_parallel_two_devices_matches_single_device(tmp_path):
    pytest.importorskip("jax")
    flags = (os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=2").strip()
    _compare(_run("jax", "auto", tmp_path, {"XLA_FLAGS": flags, "JAX_PLATFORMS": "cpu"}), "auto", "data_parallel")
