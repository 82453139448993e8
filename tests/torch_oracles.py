"""What the PyTorch-oracle tests share: a `tools/` module loaded by its path, random torch weights, layouts, checks.

The oracles (`tools/torch_official_layouts.py`, `torch_refsr_layouts.py`,
`torch_arbitrary_scale_layouts.py`, `torch_blind_layouts.py`,
`torch_refsr_extra_layouts.py`, `torch_sisr_reference.py`) are scripts, not an
installed package, so the tests load them from the checkout.

The converter tests also share the NHWC <-> NCHW moves, the printed parity figure
(`report_parity`, the lines the README's `grep parity` commands collect) and the
four tampered files every converter must refuse by name (`check_tampering`).

Example:
    >>> ref = load_tool("torch_official_layouts")
    >>> net = randomize(ref.EDSR(scale=2), seed=0)
    >>> rel = report_parity("edsr x2", keras_output, nhwc(net(nchw(x))))
"""

import importlib.util
import os

import numpy as np

__all__ = ["TOOLS", "load_tool", "randomize", "torch_params", "state_numpy", "nchw", "nhwc", "report_parity",
           "check_tampering"]

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


def torch_params(module, skip=()):
    """Parameters of a torch module, leaving out those whose names start with `skip` (a prefix or a tuple)."""
    return sum(p.numel() for name, p in module.named_parameters() if not name.startswith(skip))


def state_numpy(module, prefix=""):
    """`module.state_dict()` as numpy copies (keys prefixed with `prefix`)."""
    return {prefix + k: v.detach().cpu().numpy().copy() for k, v in module.state_dict().items()}


def nchw(x):
    """NHWC numpy (or Keras) images as a contiguous NCHW torch tensor."""
    import torch

    return torch.from_numpy(np.ascontiguousarray(np.asarray(x).transpose(0, 3, 1, 2)))


def nhwc(t):
    """An NCHW torch tensor as NHWC numpy."""
    return t.detach().numpy().transpose(0, 2, 3, 1)


def report_parity(label, got, want):
    """Print `parity <label>: max abs ..., rel ...` and return the max difference relative to max |want|."""
    assert got.shape == want.shape, (got.shape, want.shape)
    err = float(np.abs(got - want).max())
    rel = err / float(np.abs(want).max())
    print(f"parity {label}: max abs {err:.2g}, rel {rel:.2g}")
    return rel


def check_tampering(state, removed, reshaped, tmp_path, extra_files=()):
    """Each of: `removed` missing, `removed` renamed, `reshaped` one column wider, one extra key is refused.

    `state` (name -> numpy) is saved with `torch.save` as `removed.pt`, `renamed.pt`, ... and converted
    (together with `extra_files`, for families of several files); each must raise a `CheckpointMismatch`
    naming the file and the key.
    """
    import re

    import pytest
    import torch

    from keras_sr.convert import CheckpointMismatch, from_checkpoint

    def convert(arrays, name):
        torch.save({k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in arrays.items()}, str(tmp_path / name))
        return from_checkpoint([str(tmp_path / name), *extra_files] if extra_files else str(tmp_path / name))

    gone, wide = re.escape(removed), re.escape(reshaped)
    with pytest.raises(CheckpointMismatch, match=rf"removed\.pt[^:]*: missing key '{gone}'"):
        convert({k: v for k, v in state.items() if k != removed}, "removed.pt")
    with pytest.raises(CheckpointMismatch, match=rf"renamed\.pt[^:]*: .*{gone}"):
        convert({(k + "_renamed" if k == removed else k): v for k, v in state.items()}, "renamed.pt")
    bad = np.zeros(state[reshaped].shape[:-1] + (state[reshaped].shape[-1] + 1,), np.float32)
    with pytest.raises(CheckpointMismatch, match=rf"reshaped\.pt[^:]*: .*'{wide}'"):
        convert(dict(state, **{reshaped: bad}), "reshaped.pt")
    with pytest.raises(CheckpointMismatch, match=r"extra\.pt[^:]*: 1 unused key\(s\): surplus\.weight"):
        convert(dict(state, **{"surplus.weight": np.zeros((2,), np.float32)}), "extra.pt")
