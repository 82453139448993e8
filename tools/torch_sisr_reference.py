"""PyTorch peers of keras-sr's RCAN and RDN for training-throughput ratios (the deep-SISR issue).

The architectures follow the official EDSR-PyTorch code (`model/rcan.py`,
`model/rdn.py`) as BasicSR users train them: Zhang et al., "Image
Super-Resolution Using Very Deep Residual Channel Attention Networks", ECCV
2018 (RCAN: 10 residual groups of 20 RCABs, 64 channels, reduction 16), and
Zhang et al., "Residual Dense Network for Image Super-Resolution", CVPR 2018
(RDN-B: D=16 blocks of C=8 layers, G=64, G0=64). The frozen MeanShift 1x1
convolutions of the official RCAN are constant offsets here, as in keras-sr,
so the parameter counts equal keras-sr's (RCAN x4 15,592,355; RDN x4
22,271,107). The timing loop and the output line are those of
`../shared/bench/torch_edsr_reference.py` (L1 loss, Adam, random tensors,
channels-last, TF32, cudnn.benchmark; fp32 and bf16 autocast, eager and
`torch.compile`), so `tools.device_run` parses both the same way.

Example:
    $ python tools/torch_sisr_reference.py --model rcan --scale 4 --batch 16 --patch 48 --steps 50
    $ python tools/torch_sisr_reference.py --model rdn --params          # parameter count only (CPU)
    >>> sum(p.numel() for p in build("rdn", 4).parameters())
    22271107
"""

import argparse
import json
import time

import torch
import torch.nn as nn

__all__ = ["RCAN", "RDN", "build", "run"]

DIV2K_RGB_MEAN = (0.4488, 0.4371, 0.4040)


def _conv(cin, cout, k):
    return nn.Conv2d(cin, cout, k, padding=k // 2)


def _upsampler(scale, cin, cout):
    """EDSR-PyTorch's Upsampler: conv to r^2 * cout then PixelShuffle(r), twice at x4."""
    layers = []
    if scale in (2, 4):
        for i in range(scale // 2):
            layers += [_conv(cin if i == 0 else cout, 4 * cout, 3), nn.PixelShuffle(2)]
    elif scale == 3:
        layers += [_conv(cin, 9 * cout, 3), nn.PixelShuffle(3)]
    else:
        raise ValueError(f"scale must be 2, 3 or 4, got {scale}")
    return nn.Sequential(*layers)


class ChannelAttention(nn.Module):
    def __init__(self, c, reduction):
        super().__init__()
        self.down, self.up = nn.Conv2d(c, c // reduction, 1), nn.Conv2d(c // reduction, c, 1)

    def forward(self, x):
        w = x.mean(dim=(2, 3), keepdim=True)
        return x * torch.sigmoid(self.up(torch.relu(self.down(w))))


class RCAB(nn.Module):
    def __init__(self, c, reduction):
        super().__init__()
        self.c1, self.c2, self.ca = _conv(c, c, 3), _conv(c, c, 3), ChannelAttention(c, reduction)

    def forward(self, x):
        return x + self.ca(self.c2(torch.relu(self.c1(x))))


class ResidualGroup(nn.Module):
    def __init__(self, c, blocks, reduction):
        super().__init__()
        self.body = nn.Sequential(*[RCAB(c, reduction) for _ in range(blocks)], _conv(c, c, 3))

    def forward(self, x):
        return x + self.body(x)


class RCAN(nn.Module):
    def __init__(self, scale=4, groups=10, blocks=20, c=64, reduction=16):
        super().__init__()
        self.register_buffer("mean", 255.0 * torch.tensor(DIV2K_RGB_MEAN).view(1, 3, 1, 1))
        self.head = _conv(3, c, 3)
        self.groups = nn.Sequential(*[ResidualGroup(c, blocks, reduction) for _ in range(groups)])
        self.body_end = _conv(c, c, 3)
        self.up = _upsampler(scale, c, c)
        self.tail = _conv(c, 3, 3)

    def forward(self, x):
        h = self.head(x - self.mean)
        return self.tail(self.up(self.body_end(self.groups(h)) + h)) + self.mean


class RDB(nn.Module):
    def __init__(self, g0, growth, layers):
        super().__init__()
        self.convs = nn.ModuleList([_conv(g0 + i * growth, growth, 3) for i in range(layers)])
        self.fusion = nn.Conv2d(g0 + layers * growth, g0, 1)

    def forward(self, x):
        features = x
        for conv in self.convs:
            features = torch.cat([features, torch.relu(conv(features))], dim=1)
        return x + self.fusion(features)


class RDN(nn.Module):
    def __init__(self, scale=4, blocks=16, layers=8, growth=64, g0=64):
        super().__init__()
        self.sfe_1, self.sfe_2 = _conv(3, g0, 3), _conv(g0, g0, 3)
        self.blocks = nn.ModuleList([RDB(g0, growth, layers) for _ in range(blocks)])
        self.gff_1x1, self.gff_3x3 = nn.Conv2d(blocks * g0, g0, 1), _conv(g0, g0, 3)
        self.up = _upsampler(scale, g0, growth)
        self.tail = _conv(growth, 3, 3)

    def forward(self, x):
        shallow = self.sfe_1(x)
        h = self.sfe_2(shallow)
        outs = []
        for block in self.blocks:
            h = block(h)
            outs.append(h)
        h = self.gff_3x3(self.gff_1x1(torch.cat(outs, dim=1))) + shallow
        return self.tail(self.up(h))


def build(model, scale, **kwargs):
    """`RCAN(scale, **kwargs)` or `RDN(scale, **kwargs)` (the papers' sizes by default)."""
    classes = {"rcan": RCAN, "rdn": RDN}
    if model not in classes:
        raise ValueError(f"model must be one of {sorted(classes)}, got {model!r}")
    return classes[model](scale, **kwargs)


def run(model, scale, batch, patch, steps, precision, compile_, device="cuda", warmup=20, config=None):
    """LR patches per second of L1 + Adam training steps on random tensors (`config`: `build` kwargs)."""
    m = build(model, scale, **(config or {})).to(device).to(memory_format=torch.channels_last)
    if compile_:
        m = torch.compile(m)
    opt = torch.optim.Adam(m.parameters(), 1e-4)
    x = (255 * torch.rand(batch, 3, patch, patch, device=device)).to(memory_format=torch.channels_last)
    y = 255 * torch.rand(batch, 3, patch * scale, patch * scale, device=device)
    if device == "cuda":
        torch.backends.cudnn.benchmark = True
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True

    def step():
        with torch.autocast(device, dtype=torch.bfloat16, enabled=precision == "bf16"):
            loss = (m(x).float() - y).abs().mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    def sync():
        if device == "cuda":
            torch.cuda.synchronize()

    for _ in range(warmup):
        step()
    sync()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    sync()
    return batch * steps / (time.perf_counter() - start)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", choices=("rcan", "rdn"), default="rcan")
    ap.add_argument("--scale", type=int, default=4)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--patch", type=int, default=48)
    ap.add_argument("--steps", type=int, default=50)
    ap.add_argument("--warmup", type=int, default=20)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--no-compile", action="store_true", help="eager only (torch.compile needs a compiler)")
    ap.add_argument("--params", action="store_true", help="print the parameter count and exit")
    ap.add_argument("--config", type=json.loads, default=None, metavar="JSON",
                    help='size of the network instead of the paper\'s, e.g. \'{"blocks": 3, "layers": 2}\' (build kwargs)')
    a = ap.parse_args(argv)
    if a.params:
        count = sum(p.numel() for p in build(a.model, a.scale, **(a.config or {})).parameters())
        print(f"torch {a.model} x{a.scale}: {count} parameters")
        return 0
    for prec in ("fp32", "bf16"):
        for comp in (False,) if a.no_compile else (False, True):
            r = run(a.model, a.scale, a.batch, a.patch, a.steps, prec, comp, a.device, a.warmup, a.config)
            print(f"torch {prec} compile={comp}: {r:.3f} patches/s ({a.model} x{a.scale})", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
