"""PyTorch re-implementations in the official state-dict layouts, for checkpoint-conversion parity tests.

spandrel (the independent oracle of tests/test_convert_spandrel.py) has no EDSR,
MDSR, RDN or MSRResNet. These modules are written here from the papers and the
official code's module structure (never copied), so that `state_dict()` has
exactly the official key names and shapes and `forward` computes the official
network on NCHW RGB in [0, 255] (EDSR family, RDN) or [0, 1] (MSRResNet):

* `EDSR`, `MDSR`: Lim et al., CVPRW 2017; sanghyun-son/EDSR-PyTorch `src/model/edsr.py`,
  `mdsr.py`, `common.py` (MeanShift as a frozen 1x1 conv, `ResBlock.body` =
  conv, ReLU, conv; `Upsampler` = [conv, PixelShuffle] per step).
* `BasicSREDSR`: the same EDSR as XPixelGroup/BasicSR `basicsr/archs/edsr_arch.py` lays it out
  (`conv_first`, `body.{i}.conv1/2`, `conv_after_body`, `upsample.{0,2}`, `conv_last`; the mean is a
  plain attribute, not in the state dict; input in [0, 1] times `img_range` 255).
* `RDN`: Zhang et al., CVPR 2018; EDSR-PyTorch `src/model/rdn.py` (`SFENet1/2`,
  `RDBs.{d}.convs.{c}.conv.0`, `RDBs.{d}.LFF`, `GFF.{0,1}`, `UPNet`).
* `MSRResNet`: Wang et al. (ESRGAN) 2018; XPixelGroup/BasicSR `basicsr/archs/srresnet_arch.py`
  (`conv_first`, `body.{i}.conv1/2`, `upconv1/2`, `conv_hr`, `conv_last`, bilinear base).

They are test oracles written independently of keras-sr's models: a converted
keras-sr model must compute the same image from the same state dict.

Example:
    >>> net = EDSR(scale=4, n_resblocks=2, n_feats=16)
    >>> sorted(net.state_dict())[:3]     # ['add_mean.bias', 'add_mean.weight', 'body.0.body.0.bias']
    >>> net(255 * torch.rand(1, 3, 8, 8)).shape   # (1, 3, 32, 32)
"""

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

__all__ = ["EDSR", "BasicSREDSR", "MDSR", "RDN", "MSRResNet", "DIV2K_RGB_MEAN"]

DIV2K_RGB_MEAN = (0.4488, 0.4371, 0.4040)


def _conv(cin, cout, k=3):
    return nn.Conv2d(cin, cout, k, padding=k // 2)


class MeanShift(nn.Conv2d):
    """x / std + sign * rgb_range * mean / std as a frozen 1x1 conv (the official parameterization)."""

    def __init__(self, rgb_range=255, rgb_mean=DIV2K_RGB_MEAN, rgb_std=(1.0, 1.0, 1.0), sign=-1):
        super().__init__(3, 3, 1)
        std = torch.tensor(rgb_std)
        with torch.no_grad():
            self.weight.copy_(torch.eye(3).view(3, 3, 1, 1) / std.view(3, 1, 1, 1))
            self.bias.copy_(sign * rgb_range * torch.tensor(rgb_mean) / std)
        for p in self.parameters():
            p.requires_grad = False


class ResBlock(nn.Module):
    def __init__(self, n_feats, kernel_size=3, res_scale=1.0):
        super().__init__()
        self.body = nn.Sequential(_conv(n_feats, n_feats, kernel_size), nn.ReLU(True),
                                  _conv(n_feats, n_feats, kernel_size))
        self.res_scale = res_scale

    def forward(self, x):
        return x + self.body(x) * self.res_scale


def upsampler(scale, n_feats):
    """[conv(F -> r^2 F), PixelShuffle(r)] for each x2 step, or one x3 step."""
    steps = [3] if scale == 3 else [2] * int(math.log2(scale))
    layers = []
    for r in steps:
        layers += [_conv(n_feats, r * r * n_feats), nn.PixelShuffle(r)]
    return nn.Sequential(*layers)


class EDSR(nn.Module):
    def __init__(self, scale=4, n_resblocks=16, n_feats=64, res_scale=1.0, rgb_mean=DIV2K_RGB_MEAN):
        super().__init__()
        self.sub_mean = MeanShift(255, rgb_mean, sign=-1)
        self.add_mean = MeanShift(255, rgb_mean, sign=1)
        self.head = nn.Sequential(_conv(3, n_feats))
        self.body = nn.Sequential(*[ResBlock(n_feats, 3, res_scale) for _ in range(n_resblocks)],
                                  _conv(n_feats, n_feats))
        self.tail = nn.Sequential(upsampler(scale, n_feats), _conv(n_feats, 3))

    def forward(self, x):
        x = self.head(self.sub_mean(x))
        return self.add_mean(self.tail(self.body(x) + x))


class BasicSREDSR(nn.Module):
    """EDSR in BasicSR's layout, on [0, 1] input: `(x - mean) * 255` in, `/ 255 + mean` out."""

    def __init__(self, scale=4, num_block=16, num_feat=64, res_scale=1.0, rgb_mean=DIV2K_RGB_MEAN):
        super().__init__()
        self.mean = torch.tensor(rgb_mean).view(1, 3, 1, 1)
        self.res_scale = res_scale
        self.conv_first = _conv(3, num_feat)
        self.body = nn.Sequential(*[_ResidualBlockNoBN(num_feat) for _ in range(num_block)])
        self.conv_after_body = _conv(num_feat, num_feat)
        self.upsample = upsampler(scale, num_feat)
        self.conv_last = _conv(num_feat, 3)

    def forward(self, x):
        x = self.conv_first((x - self.mean) * 255.0)
        res = x
        for block in self.body:
            res = res + (block(res) - res) * self.res_scale
        x = self.conv_last(self.upsample(self.conv_after_body(res) + x))
        return x / 255.0 + self.mean


class MDSR(nn.Module):
    """All branches of `scales` in one module; `forward(x, scale)` runs one (the official `scale_idx`)."""

    def __init__(self, scales=(2, 3, 4), n_resblocks=16, n_feats=64, rgb_mean=DIV2K_RGB_MEAN):
        super().__init__()
        self.scales = tuple(scales)
        self.sub_mean = MeanShift(255, rgb_mean, sign=-1)
        self.add_mean = MeanShift(255, rgb_mean, sign=1)
        self.head = nn.Sequential(_conv(3, n_feats))
        self.pre_process = nn.ModuleList([nn.Sequential(ResBlock(n_feats, 5), ResBlock(n_feats, 5))
                                          for _ in self.scales])
        self.body = nn.Sequential(*[ResBlock(n_feats) for _ in range(n_resblocks)], _conv(n_feats, n_feats))
        self.upsample = nn.ModuleList([upsampler(s, n_feats) for s in self.scales])
        self.tail = nn.Sequential(_conv(n_feats, 3))

    def forward(self, x, scale):
        i = self.scales.index(scale)
        x = self.pre_process[i](self.head(self.sub_mean(x)))
        x = self.upsample[i](self.body(x) + x)
        return self.add_mean(self.tail(x))


class RDBConv(nn.Module):
    def __init__(self, cin, growth):
        super().__init__()
        self.conv = nn.Sequential(_conv(cin, growth), nn.ReLU())

    def forward(self, x):
        return torch.cat((x, self.conv(x)), 1)


class RDB(nn.Module):
    def __init__(self, g0, growth, n_layers):
        super().__init__()
        self.convs = nn.Sequential(*[RDBConv(g0 + c * growth, growth) for c in range(n_layers)])
        self.LFF = nn.Conv2d(g0 + n_layers * growth, g0, 1)

    def forward(self, x):
        return self.LFF(self.convs(x)) + x


class RDN(nn.Module):
    def __init__(self, scale=4, g0=64, blocks=16, layers=8, growth=64):
        super().__init__()
        self.SFENet1, self.SFENet2 = _conv(3, g0), _conv(g0, g0)
        self.RDBs = nn.ModuleList([RDB(g0, growth, layers) for _ in range(blocks)])
        self.GFF = nn.Sequential(nn.Conv2d(blocks * g0, g0, 1), _conv(g0, g0))
        if scale in (2, 3):
            up = [_conv(g0, growth * scale * scale), nn.PixelShuffle(scale)]
        else:
            up = [_conv(g0, growth * 4), nn.PixelShuffle(2), _conv(growth, growth * 4), nn.PixelShuffle(2)]
        self.UPNet = nn.Sequential(*up, _conv(growth, 3))

    def forward(self, x):
        shallow = self.SFENet1(x)
        x = self.SFENet2(shallow)
        outs = []
        for block in self.RDBs:
            x = block(x)
            outs.append(x)
        return self.UPNet(self.GFF(torch.cat(outs, 1)) + shallow)


class _ResidualBlockNoBN(nn.Module):
    def __init__(self, n_feats):
        super().__init__()
        self.conv1, self.conv2 = _conv(n_feats, n_feats), _conv(n_feats, n_feats)

    def forward(self, x):
        return x + self.conv2(F.relu(self.conv1(x)))


class MSRResNet(nn.Module):
    def __init__(self, scale=4, num_feat=64, num_block=16):
        super().__init__()
        self.scale = scale
        self.conv_first = _conv(3, num_feat)
        self.body = nn.Sequential(*[_ResidualBlockNoBN(num_feat) for _ in range(num_block)])
        if scale == 3:
            self.upconv1 = _conv(num_feat, 9 * num_feat)
        else:
            self.upconv1 = _conv(num_feat, 4 * num_feat)
            if scale == 4:
                self.upconv2 = _conv(num_feat, 4 * num_feat)
        self.conv_hr, self.conv_last = _conv(num_feat, num_feat), _conv(num_feat, 3)

    def forward(self, x):
        act = lambda t: F.leaky_relu(t, 0.1)  # noqa: E731
        out = self.body(act(self.conv_first(x)))
        out = act(F.pixel_shuffle(self.upconv1(out), 3 if self.scale == 3 else 2))
        if self.scale == 4:
            out = act(F.pixel_shuffle(self.upconv2(out), 2))
        out = self.conv_last(act(self.conv_hr(out)))
        return out + F.interpolate(x, scale_factor=self.scale, mode="bilinear", align_corners=False)
