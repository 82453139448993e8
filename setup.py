"""keras-sr: image super-resolution models for Keras 3 / TensorFlow.

The repository keeps `layers/`, `recipes/` and `tfrecords/` at the top level
(the design card's layout) and installs them as `keras_sr.layers`,
`keras_sr.recipes` and `keras_sr.tfrecords` through `package_dir`, the same
remapping Keras and keras-hub use. The wheel holds only `keras_sr`.
"""

from setuptools import setup

# Sub-packages that live in top-level folders of the repository.
REMAPPED = {"keras_sr.layers": "layers", "keras_sr.recipes": "recipes", "keras_sr.tfrecords": "tfrecords"}

# Explicit list (tests/test_packaging.py checks that it names every package folder).
PACKAGES = [
    "keras_sr",
    "keras_sr.analysis",
    "keras_sr.benchmarks",
    "keras_sr.convert",
    "keras_sr.data",
    "keras_sr.degradations",
    "keras_sr.export",
    "keras_sr.models",
    "keras_sr.quality",
    "keras_sr.training",
    *REMAPPED,
]

# TensorFlow: `tensorflow-cpu` where PyPI publishes it (Linux x86_64, Windows x86_64):
# the same TensorFlow without the CUDA build, ~270 MB instead of ~600 MB, which is what
# CPU CI, data pipelines, export and TFLite conversion need. Everywhere else (macOS,
# Linux aarch64) only `tensorflow` exists. GPU training uses the JAX backend; for
# TensorFlow on GPUs install `tensorflow[and-cuda]==2.21.*` yourself, after
# `pip uninstall tensorflow-cpu` (the two packages provide the same module).
TF_CPU_PLATFORMS = "(platform_system == 'Linux' and platform_machine == 'x86_64') or (platform_system == 'Windows' and platform_machine == 'AMD64')"
# Environment markers have no `not`: the exact complement of the line above.
TF_FULL_PLATFORMS = (
    "(platform_system != 'Linux' and platform_system != 'Windows') or "
    "(platform_system == 'Linux' and platform_machine != 'x86_64') or "
    "(platform_system == 'Windows' and platform_machine != 'AMD64')"
)

setup(
    name="keras-sr",
    version="0.1.0",
    description="Image super-resolution models (SISR and reference-based SR) for Keras 3 and TensorFlow.",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    license="Apache-2.0",
    python_requires=">=3.10",
    packages=PACKAGES,
    package_dir={"keras_sr": "keras_sr", **REMAPPED},
    include_package_data=False,
    package_data={"keras_sr": ["presets/*.json", "presets/*.weights.h5", "quality/*.npz"]},
    install_requires=[
        f"tensorflow-cpu==2.21.*; {TF_CPU_PLATFORMS}",
        f"tensorflow==2.21.*; {TF_FULL_PLATFORMS}",
        "keras>=3.14",
        "numpy>=1.26",
        "pillow>=10",
        "absl-py>=2.1",
        "scikit-image>=0.22",
        "h5py>=3.10",
    ],
    extras_require={
        # torch: the PyTorch-backend test (tests/test_torch_backend.py). Pinned: 2.13.0 is the CPU build
        # this project's machines carry; an open range would pull a multi-GB CUDA build into CI.
        # pytest-xdist: the suite runs in two worker processes (README's test command, `-n 2`).
        # spandrel, safetensors: the independent oracle and the file format of the checkpoint-conversion tests
        # (tests/spandrel_oracle.py; spandrel's torchvision import is stood in for there).
        "test": ["pytest>=8", "pytest-xdist>=3.5", "ai-edge-litert>=1.2", "keras-tuner[bayesian]>=1.4", "jax[cpu]>=0.4.30", "tf2onnx>=1.17",
                 "onnxruntime>=1.17", "torch==2.13.0", "spandrel>=0.4", "safetensors>=0.4",
                 "pyrtools>=1.0"],
        "jax": ["jax[cpu]>=0.4.30"],
        "torch": ["torch>=2.4"],
        # keras_sr.convert: .safetensors files need only safetensors; .pth/.pt files need torch (reading only).
        "convert": ["safetensors>=0.4", "torch>=2.4"],
        "tune": ["keras-tuner[bayesian]>=1.4"],
        "tflite": ["ai-edge-litert>=1.2"],
        "onnx": ["tf2onnx>=1.17", "onnxruntime>=1.17"],
        "tfds": ["tensorflow-datasets>=4.9"],
    },
    entry_points={"console_scripts": ["keras-sr=keras_sr.cli:main"]},
    classifiers=[
        "Programming Language :: Python :: 3",
        "Topic :: Scientific/Engineering :: Image Processing",
        "Framework :: Keras",
    ],
)
