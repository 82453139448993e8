"""The backend-agnostic core again under KERAS_BACKEND=torch (README: layers and models run on PyTorch too).

The suite runs on TensorFlow and tests/test_jax_backend.py re-runs the core on JAX; this
test re-runs, in a subprocess on PyTorch (CPU), the layers, every model family (shapes,
parameter counts, serialization, numpy oracles), the metrics, the TensorFlow-free loader,
the training engine (`model.fit` on the PyDataset loader, checkpoints, the recipe CLI), RefSR
evaluation and tiled upscaling, plus `keras_sr.torch_backend_fixes`, whose tests fail on
torch without it. The GAN and RefSR custom training loops are TensorFlow/JAX only and say so.
"""

from conftest import run_modules_on_backend

TORCH_MODULES = [
    "tests/test_torch_backend_fixes.py",
    "tests/test_imresize.py",
    "tests/test_metrics.py",
    "tests/test_layers_sr_blocks.py",
    "tests/test_layers_deep.py",
    "tests/test_layers_refsr.py",
    "tests/test_edsr.py",
    "tests/test_models_classic.py",
    "tests/test_models_deep.py",
    "tests/test_models_refsr.py",
    "tests/test_refsr_evaluation.py",
    "tests/test_data_py_dataset.py",
    "tests/test_training_engine.py",
    "tests/test_upscale.py",
]


def test_core_modules_pass_on_torch():
    run_modules_on_backend("torch", "torch", TORCH_MODULES, CUDA_VISIBLE_DEVICES="")
