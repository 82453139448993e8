"""ESRGAN's VGG-style and StyleGAN2's discriminators in the official state-dict layouts (conversion oracles).

Written here from the papers and the module structure of the official code (read, never copied), so that
`state_dict()` has exactly the official key names and shapes; widths are parameters so tests can be tiny.
NCHW inputs; one logit per image.

* `VGGStyleDiscriminator`: Wang et al., "ESRGAN", ECCVW 2018; XPixelGroup/BasicSR
  `basicsr/archs/discriminator_arch.py` (`VGGStyleDiscriminator`; mmsr's `Discriminator_VGG_128` has the same
  keys): `conv0_0` (bias), then `conv{s}_{t}` (no bias) + `bn{s}_{t}` for 5 stride-2 stages (6 when
  `input_size=256`: `conv5_*`), `linear1` (8nf * 4 * 4 -> 100), `linear2` (100 -> 1). Input in [0, 1].
* `OldVGGDiscriminator`: the earlier BasicSR (`codes/models/modules/architecture.py`,
  `Discriminaotr_VGG_128` / `_96` / `_192`, built from `block.conv_block`) that trained the ESRGAN paper's
  models: one flattened `features` Sequential of conv (with bias, also before batch norm) / BN / LeakyReLU
  modules (`features.0` conv, `features.1` LReLU, then per conv k >= 1 `features.{3k-1}` conv,
  `features.{3k}` BN, `features.{3k+1}` LReLU) and `classifier` = (Linear, LeakyReLU, Linear): keys
  `classifier.0`, `classifier.2`.
* `StyleGAN2Discriminator`: Karras et al., "Analyzing and Improving the Image Quality of StyleGAN", CVPR 2020
  (App. B); open-mmlab/mmagic `mmagic/models/editors/stylegan2/stylegan2_discriminator.py` and
  `stylegan2_modules.py` (`ConvDownLayer`, `ResBlock`, `ModMBStddevLayer`), `stylegan1_modules.py`
  (`EqualLinearActModule`, `Blur`), `pggan_modules.py` (`EqualizedLRConvModule`, equalized lr: the stored
  `weight_orig` is scaled by `gain / sqrt(fan_in)` at run time, gain 1). Keys: `convs.0.0.conv.weight_orig`,
  `convs.0.1.bias` (fused bias + LeakyReLU(0.2) * sqrt 2), per halving `convs.{k}.conv1.{0.conv.weight_orig,
  1.bias}`, `convs.{k}.conv2.{0.kernel (blur buffer), 1.conv.weight_orig, 2.bias}`, `convs.{k}.skip.{0.kernel,
  1.conv.weight_orig}`, `final_conv.{0.conv.weight_orig, 1.bias}`, `final_linear.{0,1}.{linear.weight_orig,
  bias}`. Input in [-1, 1]. `max_channels` (mmagic: 512) is a parameter here.

Example:
    >>> net = VGGStyleDiscriminator(3, 4)
    >>> net(torch.rand(2, 3, 128, 128)).shape          # (2, 1)
    >>> StyleGAN2Discriminator(16, channel_multiplier=1, max_channels=4)(torch.rand(4, 3, 16, 16)).shape
"""

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

__all__ = ["VGGStyleDiscriminator", "OldVGGDiscriminator", "StyleGAN2Discriminator", "stylegan2_channels"]


def _stage_channels(nf, stages):
    return [nf, 2 * nf, 4 * nf] + [8 * nf] * (stages - 3)


class VGGStyleDiscriminator(nn.Module):
    """BasicSR's `VGGStyleDiscriminator(num_in_ch, num_feat, input_size)`: 128 (5 stages) or 256 (6 stages)."""

    def __init__(self, num_in_ch=3, num_feat=64, input_size=128):
        super().__init__()
        self.input_size = input_size
        stages = 5 if input_size == 128 else 6
        self.names = []
        cin = num_in_ch
        for s, c in enumerate(_stage_channels(num_feat, stages)):
            for t, (k, stride) in enumerate(((3, 1), (4, 2))):
                first = s == 0 and t == 0
                setattr(self, f"conv{s}_{t}", nn.Conv2d(cin, c, k, stride, 1, bias=first))
                if not first:
                    setattr(self, f"bn{s}_{t}", nn.BatchNorm2d(c, affine=True))
                self.names.append((f"conv{s}_{t}", None if first else f"bn{s}_{t}"))
                cin = c
        self.linear1 = nn.Linear(cin * 4 * 4, 100)
        self.linear2 = nn.Linear(100, 1)

    def forward(self, x):
        for conv, bn in self.names:
            x = getattr(self, conv)(x)
            if bn:
                x = getattr(self, bn)(x)
            x = F.leaky_relu(x, 0.2)
        x = F.leaky_relu(self.linear1(x.flatten(1)), 0.2)
        return self.linear2(x)


class OldVGGDiscriminator(nn.Module):
    """Old BasicSR `Discriminaotr_VGG_{96,128,192}`: `features` (10 or 12 convs, all with bias) + `classifier`."""

    def __init__(self, in_nc=3, base_nf=64, input_size=128):
        super().__init__()
        stages = 6 if input_size == 192 else 5
        end = input_size // 2 ** stages
        modules, cin = [], in_nc
        for s, c in enumerate(_stage_channels(base_nf, stages)):
            for t, (k, stride) in enumerate(((3, 1), (4, 2))):
                modules.append(nn.Conv2d(cin, c, k, stride, (k - 1) // 2, bias=True))
                if not (s == 0 and t == 0):
                    modules.append(nn.BatchNorm2d(c, affine=True))
                modules.append(nn.LeakyReLU(0.2))
                cin = c
        self.features = nn.Sequential(*modules)
        self.classifier = nn.Sequential(nn.Linear(cin * end * end, 100), nn.LeakyReLU(0.2), nn.Linear(100, 1))

    def forward(self, x):
        return self.classifier(self.features(x).flatten(1))


def stylegan2_channels(res, channel_multiplier=2, max_channels=512):
    """mmagic's table: 512 up to 32x32, then 16384 * channel_multiplier / res (max_channels in place of 512)."""
    return int(min(max_channels, 16384 * channel_multiplier // int(res)))


class _Blur(nn.Module):
    """mmagic's `Blur`: the normalized outer([1, 3, 3, 1]) FIR buffer `kernel`, zero padding (p0, p1)."""

    def __init__(self, pad):
        super().__init__()
        k = torch.tensor([1.0, 3.0, 3.0, 1.0])
        k = torch.outer(k, k)
        self.register_buffer("kernel", k / k.sum())
        self.pad = pad

    def forward(self, x):
        c = x.shape[1]
        x = F.pad(x, [self.pad[0], self.pad[1], self.pad[0], self.pad[1]])
        weight = torch.flip(self.kernel, [0, 1])[None, None].repeat(c, 1, 1, 1)
        return F.conv2d(x, weight, groups=c)


class _EqualConv(nn.Module):
    """`EqualizedLRConvModule` without bias: `conv.weight_orig`, scaled by 1 / sqrt(fan_in)."""

    def __init__(self, cin, cout, k, stride, padding):
        super().__init__()
        self.conv = nn.Module()
        self.conv.weight_orig = nn.Parameter(torch.randn(cout, cin, k, k))
        self.stride, self.padding = stride, padding

    def forward(self, x):
        w = self.conv.weight_orig
        return F.conv2d(x, w / math.sqrt(w[0].numel()), stride=self.stride, padding=self.padding)


class _FusedBias(nn.Module):
    """mmcv's `FusedBiasLeakyReLU`: `bias` (C,), leaky_relu(x + b, 0.2) * sqrt(2)."""

    def __init__(self, channels):
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(channels))

    def forward(self, x):
        return F.leaky_relu(x + self.bias.view(1, -1, 1, 1), 0.2) * math.sqrt(2.0)


def _conv_down_layer(cin, cout, k, downsample=False, activate=True):
    """mmagic's `ConvDownLayer` (an nn.Sequential): [Blur], equalized conv, [fused bias + LeakyReLU]."""
    layers = []
    if downsample:
        p = 2 + (k - 1)
        layers.append(_Blur(((p + 1) // 2, p // 2)))
        layers.append(_EqualConv(cin, cout, k, 2, 0))
    else:
        layers.append(_EqualConv(cin, cout, k, 1, k // 2))
    if activate:
        layers.append(_FusedBias(cout))
    return nn.Sequential(*layers)


class _ResBlock(nn.Module):
    def __init__(self, cin, cout):
        super().__init__()
        self.conv1 = _conv_down_layer(cin, cin, 3)
        self.conv2 = _conv_down_layer(cin, cout, 3, downsample=True)
        self.skip = _conv_down_layer(cin, cout, 1, downsample=True, activate=False)

    def forward(self, x):
        return (self.conv2(self.conv1(x)) + self.skip(x)) / math.sqrt(2.0)


class _EqualLinear(nn.Module):
    """`EqualLinearActModule`: `linear.weight_orig` (out, in), `bias`; optional fused bias + LeakyReLU."""

    def __init__(self, cin, cout, activate=False):
        super().__init__()
        self.linear = nn.Module()
        self.linear.weight_orig = nn.Parameter(torch.randn(cout, cin))
        self.bias = nn.Parameter(torch.zeros(cout))
        self.activate = activate

    def forward(self, x):
        w = self.linear.weight_orig
        x = x @ (w / math.sqrt(w.shape[1])).t() + self.bias
        return F.leaky_relu(x, 0.2) * math.sqrt(2.0) if self.activate else x


class StyleGAN2Discriminator(nn.Module):
    """mmagic's `StyleGAN2Discriminator(in_size, channel_multiplier)` without conditioning (GLEAN's)."""

    def __init__(self, in_size, channel_multiplier=2, max_channels=512, group_size=4):
        super().__init__()
        ch = lambda r: stylegan2_channels(r, channel_multiplier, max_channels)  # noqa: E731
        log_size = int(math.log2(in_size))
        convs = [_conv_down_layer(3, ch(in_size), 1)]
        cin = ch(in_size)
        for i in range(log_size, 2, -1):
            convs.append(_ResBlock(cin, ch(2 ** (i - 1))))
            cin = ch(2 ** (i - 1))
        self.convs = nn.Sequential(*convs)
        self.group_size = group_size
        self.final_conv = _conv_down_layer(cin + 1, ch(4), 3)
        self.final_linear = nn.Sequential(_EqualLinear(ch(4) * 16, ch(4), activate=True), _EqualLinear(ch(4), 1))

    def minibatch_stddev(self, x):
        """mmagic's `ModMBStddevLayer` (channel_groups 1): the std over groups, sample n in group n // M."""
        n, c, h, w = x.shape
        g = min(n, self.group_size)
        y = x.reshape(g, -1, 1, c, h, w)
        y = torch.sqrt(y.var(dim=0, unbiased=False) + 1e-8)
        y = y.mean(dim=(2, 3, 4), keepdim=True).squeeze(2)
        return torch.cat([x, y.repeat(g, 1, h, w)], dim=1)

    def forward(self, x):
        x = self.final_conv(self.minibatch_stddev(self.convs(x)))
        return self.final_linear(x.flatten(1))
