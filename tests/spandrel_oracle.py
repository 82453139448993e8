"""spandrel as the independent oracle for checkpoint conversion tests.

spandrel (https://github.com/chaiNNer-org/spandrel) builds the official PyTorch
architectures (RCAN, ESRGAN/RRDBNet, Real-ESRGAN, SwinIR, HAT, ...) in their
official state-dict layouts. Nobody in this project wrote it, so a converted
keras-sr model that equals spandrel's output is checked against an implementation
independent of ours.

Stand-in note: importing `spandrel` imports every architecture package, and two we
never use (LaMa, RestoreFormer) import `torchvision.transforms.functional` at module
level. The test machines carry a CPU torch without a matching torchvision build, so
`import_spandrel()` inserts minimal stand-in `torchvision`, `torchvision.transforms`
and `torchvision.transforms.functional` modules into `sys.modules` when the real one
is absent. The stand-in functions raise if ever called; none of the architectures
the tests build calls them.

Example:
    >>> spandrel = import_spandrel()          # skips the test when spandrel is absent
    >>> from spandrel.architectures.RCAN import RCAN
"""

import importlib
import importlib.util
import sys
import types

import pytest

__all__ = ["import_spandrel", "install_torchvision_stand_in"]


def _unavailable(name):
    def stand_in(*args, **kwargs):
        raise RuntimeError(f"torchvision.transforms.functional.{name} is a test stand-in (torchvision is not "
                           "installed); the spandrel architecture that called it is not supported here.")
    stand_in.__name__ = name
    return stand_in


def install_torchvision_stand_in():
    """Put minimal `torchvision` stand-in modules into `sys.modules` unless torchvision imports for real.

    Returns True when the stand-in was installed.
    """
    if "torchvision" in sys.modules:
        return False
    try:
        if importlib.util.find_spec("torchvision") is not None:
            importlib.import_module("torchvision")
            return False
    except Exception:  # a broken torchvision build (torch/torchvision mismatch) counts as absent
        for name in [n for n in sys.modules if n == "torchvision" or n.startswith("torchvision.")]:
            del sys.modules[name]
    torchvision = types.ModuleType("torchvision")
    transforms = types.ModuleType("torchvision.transforms")
    functional = types.ModuleType("torchvision.transforms.functional")

    class InterpolationMode:  # the names LaMa reads at import time
        NEAREST = "nearest"
        BILINEAR = "bilinear"
        BICUBIC = "bicubic"

    functional.InterpolationMode = InterpolationMode
    for name in ("rotate", "normalize", "resize"):
        setattr(functional, name, _unavailable(name))
    transforms.functional = functional
    torchvision.transforms = transforms
    torchvision.__is_keras_sr_stand_in__ = True
    sys.modules.update({"torchvision": torchvision, "torchvision.transforms": transforms,
                        "torchvision.transforms.functional": functional})
    return True


def import_spandrel():
    """The `spandrel` module (torchvision stand-in installed if needed); skips the test when torch or
    spandrel is not installed."""
    pytest.importorskip("torch")
    if importlib.util.find_spec("spandrel") is None:
        pytest.skip("spandrel is not installed (pip install keras-sr[test])")
    install_torchvision_stand_in()
    return importlib.import_module("spandrel")
