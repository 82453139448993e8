"""What the PyTorch-oracle tests share: a `tools/` module loaded by its path, random torch weights.

The oracles (`tools/torch_official_layouts.py`, `torch_refsr_layouts.py`,
`torch_arbitrary_scale_layouts.py`, `torch_blind_layouts.py`,
`torch_refsr_extra_layouts.py`, `torch_sisr_reference.py`) are scripts, not an
installed package, so the tests load them from the checkout.

Example:
    >>> ref = load_tool("torch_official_layouts")
    >>> net = randomize(ref.EDSR(scale=2), seed=0)
"""

import importlib.util
import os

import numpy as np

__all__ = ["TOOLS", "load_tool", "randomize"]

TOOLS = os.path.join(os.path.dirname(__file__), os.pardir, "tools")


def load_tool(name):
    """The module `tools/<name>.py`, imported from its file."""
    spec = importlib.util.spec_from_file_location(name, os.path.join(TOOLS, f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def randomize(net, seed, gain=0.7, frozen=False, batch_norm_statistics=False):
    """`net` in eval mode with seeded weights of a visible size: N(0, gain^2 / fan_in) per parameter.

    Parameters are drawn in `net.parameters()` order; frozen ones (`requires_grad=False`) keep their
    values unless `frozen`. With `batch_norm_statistics`, BatchNorm running means ~ N(0, 0.25) and
    variances ~ U(0.5, 1.5) are drawn after the parameters, so eval-mode BN is not the identity.
    """
    import torch

    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in net.parameters():
            if frozen or p.requires_grad:
                p.copy_(torch.randn(p.shape, generator=generator) * gain / np.sqrt(p[0].numel()))
        if batch_norm_statistics:
            for name, b in net.named_buffers():
                if name.endswith("running_mean"):
                    b.copy_(torch.randn(b.shape, generator=generator) * 0.5)
                elif name.endswith("running_var"):
                    b.copy_(torch.rand(b.shape, generator=generator) + 0.5)
    return net.eval()
