"""spandrel (PyTorch copies of the official architectures) as a test oracle.

`import_spandrel()` returns the `spandrel` module, or skips the calling test when spandrel (or torch)
is not installed.
"""

import sys
import types

import pytest


def import_spandrel():
    """`spandrel`, importable without torchvision; skips the test when spandrel or torch is absent."""
    pytest.importorskip("torch")
    # spandrel imports torchvision at package import time for two architectures we never use
    # (LaMa: `InterpolationMode`, `rotate`; RestoreFormer: `normalize`). torchvision is not installed
    # here, so minimal stand-in modules are put into sys.modules when the real one is missing; they
    # are never called by the SwinIR / HAT code.
    try:
        import torchvision  # noqa: F401
    except ImportError:
        def _unavailable(*args, **kwargs):
            raise RuntimeError("torchvision stand-in (tests/spandrel_oracle.py): not available")

        functional = types.ModuleType("torchvision.transforms.functional")
        functional.InterpolationMode = type("InterpolationMode", (), {"BILINEAR": "bilinear", "NEAREST": "nearest"})
        functional.rotate = functional.normalize = _unavailable
        transforms = types.ModuleType("torchvision.transforms")
        transforms.functional = functional
        torchvision = types.ModuleType("torchvision")
        torchvision.transforms = transforms
        sys.modules.setdefault("torchvision", torchvision)
        sys.modules.setdefault("torchvision.transforms", transforms)
        sys.modules.setdefault("torchvision.transforms.functional", functional)
    return pytest.importorskip("spandrel")
