"""PyTorch oracle of WDSR's official checkpoint layouts (written here, not taken from the official code).

Yu et al., "Wide Activation for Efficient and Accurate Image Super-Resolution", arXiv 1808.08718.
Modules written from the paper and the structure of the official code, with widths as parameters so
tests can be tiny; their `state_dict()` has exactly the official key names and shapes:

* `WDSRA`, `WDSRB`: JiahuiYu/wdsr_ntire2018 `wdsr_a.py` / `wdsr_b.py` (`MODEL`, trained inside
  EDSR-PyTorch, whose trainer saves the bare `state_dict()` as `model_latest.pt` / `model_best.pt`).
  `head.0`, `body.<i>.body.<0,2>` (A: 3x3 F -> block_feats, ReLU, 3x3 back) or `body.<i>.body.<0,2,3>`
  (B: 1x1 F -> 6F, ReLU, 1x1 -> int(0.8F), 3x3 -> F), `tail.0` (3x3 -> 3 s^2, then PixelShuffle),
  `skip.0` (5x5 3 -> 3 s^2, then PixelShuffle); inputs 0-255, normalized by a fixed DIV2K mean that is a
  plain tensor attribute (no parameter, no buffer: nothing of it is in the state dict).
* `WDSRReloaded`: ychfan/wdsr `models/wdsr.py` (the "reloaded" version with the released x2 / x3 / x4
  files; its trainer saves `{"epoch", "model_state_dict", "optimizer_state_dict",
  "lr_scheduler_state_dict"}` as `epoch_<n>.pth` / `latest.pth`). `body.0` (head), `body.<1..N>.body.<0,2>`
  (WDSR-A blocks, no residual scale in the forward pass), `body.<N+1>` (tail), `skip.0`; inputs in [0, 1],
  `x - 0.5` in, `+ 0.5` out.

Every convolution is weight-normalized: `torch.nn.utils.weight_norm` (keys `weight_g` (O, 1, 1, 1),
`weight_v`, `bias`), or with `parametrized=True` `torch.nn.utils.parametrizations.weight_norm` (keys
`parametrizations.weight.original0` (g), `.original1` (v), `bias`), as a file re-saved with newer torch has.

Example:
    >>> net = WDSRA(scale=2, n_resblocks=16, n_feats=32, block_feats=128)
    >>> sum(p.numel() for p in net.parameters())     # 1,190,100 (the official README's WDSR baseline)
"""

import warnings

import torch
from torch import nn

__all__ = ["WDSRA", "WDSRB", "WDSRReloaded", "DIV2K_MEAN"]

DIV2K_MEAN = (0.4488, 0.4371, 0.4040)  # --r_mean --g_mean --b_mean of the NTIRE 2018 runs (issue #7)


def _wn(conv, parametrized):
    if parametrized:
        return nn.utils.parametrizations.weight_norm(conv, name="weight", dim=0)
    with warnings.catch_warnings():  # the legacy hook API is deprecated, but it wrote the released files
        warnings.simplefilter("ignore", FutureWarning)
        return nn.utils.weight_norm(conv, name="weight", dim=0)


def _conv(cin, cout, k, parametrized):
    return _wn(nn.Conv2d(cin, cout, k, padding=k // 2), parametrized)


class _Residual(nn.Module):
    """`x + res_scale * body(x)` with the branch held as `self.body` (keys `body.<j>`)."""

    def __init__(self, layers, res_scale=1.0):
        super().__init__()
        self.body = nn.Sequential(*layers)
        self.res_scale = res_scale

    def forward(self, x):
        return x + self.body(x) * self.res_scale


class _NTIRE2018(nn.Module):
    """head / body / tail / skip of wdsr_a.py and wdsr_b.py; 0-255 RGB in and out."""

    def __init__(self, scale, n_feats, blocks, parametrized, rgb_mean):
        super().__init__()
        out = 3 * scale * scale
        self.head = nn.Sequential(_conv(3, n_feats, 3, parametrized))
        self.body = nn.Sequential(*blocks)
        self.tail = nn.Sequential(_conv(n_feats, out, 3, parametrized), nn.PixelShuffle(scale))
        self.skip = nn.Sequential(_conv(3, out, 5, parametrized), nn.PixelShuffle(scale))
        self.rgb_mean = torch.tensor(rgb_mean, dtype=torch.float32).view(1, 3, 1, 1)  # not a buffer

    def forward(self, x):
        x = (x - 255.0 * self.rgb_mean) / 127.5
        y = self.tail(self.body(self.head(x))) + self.skip(x)
        return y * 127.5 + 255.0 * self.rgb_mean


class WDSRA(_NTIRE2018):
    """wdsr_a.py: blocks 3x3 `n_feats -> block_feats`, ReLU, 3x3 `block_feats -> n_feats`."""

    def __init__(self, scale=2, n_resblocks=16, n_feats=32, block_feats=128, res_scale=1.0, parametrized=False,
                 rgb_mean=DIV2K_MEAN):
        blocks = [_Residual([_conv(n_feats, block_feats, 3, parametrized), nn.ReLU(),
                             _conv(block_feats, n_feats, 3, parametrized)], res_scale) for _ in range(n_resblocks)]
        super().__init__(scale, n_feats, blocks, parametrized, rgb_mean)


class WDSRB(_NTIRE2018):
    """wdsr_b.py: blocks 1x1 `F -> F * expand`, ReLU, 1x1 `-> int(F * linear)`, 3x3 `-> F` (expand 6, linear 0.8)."""

    def __init__(self, scale=2, n_resblocks=16, n_feats=32, expand=6, linear=0.8, res_scale=1.0, parametrized=False,
                 rgb_mean=DIV2K_MEAN):
        low = int(n_feats * linear)
        blocks = [_Residual([_conv(n_feats, n_feats * expand, 1, parametrized), nn.ReLU(),
                             _conv(n_feats * expand, low, 1, parametrized),
                             _conv(low, n_feats, 3, parametrized)], res_scale) for _ in range(n_resblocks)]
        super().__init__(scale, n_feats, blocks, parametrized, rgb_mean)


class WDSRReloaded(nn.Module):
    """ychfan/wdsr models/wdsr.py: `body` = head conv, WDSR-A blocks, tail conv; `skip` 5x5; [0, 1] RGB in and out."""

    def __init__(self, scale=2, num_blocks=16, num_residual_units=32, width_multiplier=4.0, image_mean=0.5,
                 parametrized=False):
        super().__init__()
        f, wide, out = num_residual_units, int(num_residual_units * width_multiplier), 3 * scale * scale
        layers = [_conv(3, f, 3, parametrized)]
        layers += [_Residual([_conv(f, wide, 3, parametrized), nn.ReLU(), _conv(wide, f, 3, parametrized)])
                   for _ in range(num_blocks)]
        layers.append(_conv(f, out, 3, parametrized))
        self.body = nn.Sequential(*layers)
        self.skip = nn.Sequential(_conv(3, out, 5, parametrized))
        self.shuf = nn.Sequential(nn.PixelShuffle(scale))
        self.image_mean = image_mean

    def forward(self, x):
        x = x - self.image_mean
        return self.shuf(self.body(x) + self.skip(x)) + self.image_mean
