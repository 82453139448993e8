"""The backend-agnostic core again under KERAS_BACKEND=jax (the GPU training backend).

The suite runs on TensorFlow; this test re-runs the modules that must not depend on it
(imresize_ops, Keras metrics, the EDSR layers and model, the deep-SISR layers, the
TensorFlow-free loader) in a subprocess on JAX.
"""

from conftest import run_modules_on_backend

JAX_MODULES = [
    "tests/test_imresize.py",
    "tests/test_metrics.py",
    "tests/test_layers_sr_blocks.py",
    "tests/test_edsr.py",
    "tests/test_layers_deep.py",
    "tests/test_data_py_dataset.py",
    "tests/test_data_device_patches.py",
]


def test_core_modules_pass_on_jax():
    run_modules_on_backend("jax", "jax", JAX_MODULES, JAX_PLATFORMS="cpu")
