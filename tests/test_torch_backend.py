"""The backend-agnostic core again under KERAS_BACKEND=torch (README: layers and models run on PyTorch too).

The suite runs on TensorFlow. Every registered model is built, called, round-tripped and (SISR)
fitted on PyTorch by tests/test_model_harness.py; this test re-runs, in a subprocess on PyTorch
(CPU), what the harness does not cover: the layer modules (numpy oracles), imresize_ops and the
metrics, the RefSR models' training step, the TensorFlow-free loader, the training engine
(`model.fit` on the PyDataset loader, checkpoints, resume, the recipe CLI) and tiled upscaling,
plus `keras_sr.torch_backend_fixes`, whose tests fail on torch without it. The model-family
modules (parameter counts: the same on every backend; builds and calls: the harness) run on
TensorFlow. The GAN and RefSR custom training loops are TensorFlow/JAX only and say so.
"""

from conftest import run_modules_on_backend

TORCH_MODULES = [
    "tests/test_torch_backend_fixes.py",
    "tests/test_imresize.py",
    "tests/test_metrics.py",
    "tests/test_layers_sr_blocks.py",
    "tests/test_layers_deep.py",
    "tests/test_layers_refsr.py",
    "tests/test_models_refsr.py::test_one_training_step_l1",
    "tests/test_data_py_dataset.py",
    "tests/test_training_engine.py",
    "tests/test_upscale.py",
]


def test_core_modules_pass_on_torch():
    run_modules_on_backend("torch", "torch", TORCH_MODULES, CUDA_VISIBLE_DEVICES="")
