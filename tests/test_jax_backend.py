"""The backend-agnostic core again under KERAS_BACKEND=jax (the GPU training backend).

The suite runs on TensorFlow; this test re-runs the modules that must not depend on it
(imresize_ops, Keras metrics, the EDSR layers and model, the deep-SISR layers, the
TensorFlow-free loader) in a subprocess on JAX.
"""

import importlib.util
import os
import subprocess
import sys

import pytest

from conftest import REPO_ROOT

JAX_MODULES = [
    "tests/test_imresize.py",
    "tests/test_metrics.py",
    "tests/test_layers_sr_blocks.py",
    "tests/test_edsr.py",
    "tests/test_layers_deep.py",
    "tests/test_data_py_dataset.py",
]


def test_core_modules_pass_on_jax():
    if importlib.util.find_spec("jax") is None:
        pytest.fail("jax is not installed: it is part of the test extras (pip install -e '.[test]')")
    env = dict(os.environ, KERAS_BACKEND="jax", JAX_PLATFORMS="cpu")
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *JAX_MODULES],
                          cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=1200)
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-3000:]
    assert " passed" in proc.stdout.splitlines()[-1]
