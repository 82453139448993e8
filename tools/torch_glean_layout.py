"""PyTorch StyleGAN2 generator and GLEAN in mmagic's state-dict layout (conversion oracles).

Written here from the papers and the official code's module structure (read, never copied), so
that `state_dict()` has exactly mmagic's key names and shapes:

* `StyleGAN2Generator`: Karras et al., "Analyzing and Improving the Image Quality of StyleGAN",
  CVPR 2020 (config F); open-mmlab/mmagic `mmagic/models/editors/stylegan2/stylegan2_generator.py`
  and `stylegan2_modules.py`: `style_mapping.{1..n}` (index 0 is the parameter-free PixelNorm;
  `linear.weight_orig`, `bias`, lr_mul 0.01), `constant_input.input`, `conv1`, `to_rgb1`,
  `convs.{j}`, `to_rgbs.{i}` (`conv.weight_orig` (1, out, in, k, k), `conv.style_modulation.linear.
  weight_orig`, `conv.style_modulation.bias`, `noise_injector.weight`, `activate.bias`, the FIR
  buffers `conv.blur.kernel` / `upsample.kernel` = 4 * outer([1, 3, 3, 1]) / 64) and the fixed noise
  buffers `injected_noise_{k}`. Equalized learning rate: the stored weights are unscaled, the forward
  multiplies by `lr_mul / sqrt(fan_in)`. `forward(z)` is the "single" style mode without truncation.
  (This is the independent StyleGAN2 that tests/test_glean.py checks the bank converter against.)
* `GLEANStyleGANv2`: Chan et al., "GLEAN: Generative Latent Bank for Large-Factor Image
  Super-Resolution", CVPR 2021; mmagic `mmagic/models/editors/glean/glean_styleganv2.py`:
  `encoder.0` = (RRDBFeatureExtractor `conv_first`, `body.{i}.rdb{1,2,3}.conv{1..5}`, `conv_body`;
  conv; LeakyReLU), `encoder.{k}` per halving (stride-2 conv, conv; at 4x4 conv, flatten, linear to
  the W+ latents), `fusion_out.{b}`, `fusion_skip.{b}` (the to-RGB skip path, computed but never
  reaching the output), `decoder.{i}` (PixelShufflePack `upsample_conv`; last: conv, LeakyReLU, conv)
  and the bank `generator.*` (a `StyleGAN2Generator`, frozen). `forward(lq)` takes and returns NCHW
  RGB in [-1, 1] (mmagic's data preprocessor maps [0, 255] with mean = std = 127.5).

Widths are parameters (`max_channels`, `rrdb_channels`, `growth_channels`, `decoder_channels`; mmagic
fixes 512, 64, 32, 64) so tests can be tiny. Build under `torch.device("meta")` to count the
paper-size parameters without allocating them.

Example:
    >>> net = GLEANStyleGANv2(8, 32, style_channels=8, max_channels=8, rrdb_channels=8, num_rrdbs=1)
    >>> net(torch.zeros(1, 3, 8, 8)).shape      # (1, 3, 32, 32)
"""

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

__all__ = ["StyleGAN2Generator", "GLEANStyleGANv2", "stylegan2_channels", "fir"]


def stylegan2_channels(res, channel_multiplier=2, max_channels=512):
    """mmagic's channel table: 512 up to 32x32, then 16384 * channel_multiplier / res (capped)."""
    return int(min(max_channels, 16384 * channel_multiplier // int(res)))


def _lrelu(x):
    return F.leaky_relu(x, 0.2) * math.sqrt(2.0)


def _blur_kernel():
    k = torch.tensor([1.0, 3.0, 3.0, 1.0])
    return torch.outer(k, k) / 64.0 * 4


def fir(x, kernel, up, pad):
    """upfirdn2d without downsampling: zero insertion by `up`, zero padding `pad`, correlation with the flipped kernel."""
    n, c, h, w = x.shape
    if up > 1:
        x = F.pad(x.reshape(n, c, h, 1, w, 1), [0, up - 1, 0, 0, 0, up - 1]).reshape(n, c, h * up, w * up)
    x = F.pad(x, [pad[0], pad[1], pad[0], pad[1]])
    k = torch.flip(kernel, [0, 1])[None, None].repeat(c, 1, 1, 1)
    return F.conv2d(x, k, groups=c)


def _meta():
    return torch.empty(0).device.type == "meta"


class _Kernel(nn.Module):
    """Holds a FIR kernel buffer as `kernel` (mmagic's `Blur` / `UpsampleUpFIRDn`)."""

    def __init__(self):
        super().__init__()
        self.register_buffer("kernel", _blur_kernel())


class EqualLinear(nn.Module):
    """`linear.weight_orig` (out, in), `bias`; y = x W^T * lr_mul / sqrt(in) + b * lr_mul (optional fused lReLU)."""

    def __init__(self, cin, cout, lr_mul=1.0, bias_init=0.0, activate=False):
        super().__init__()
        self.linear = nn.Module()
        self.linear.weight_orig = nn.Parameter(torch.randn(cout, cin) / lr_mul)
        self.bias = nn.Parameter(torch.full((cout,), float(bias_init)))
        self.lr_mul, self.activate, self.cin = lr_mul, activate, cin

    def forward(self, x):
        y = x @ (self.linear.weight_orig * self.lr_mul / math.sqrt(self.cin)).T + self.bias * self.lr_mul
        return _lrelu(y) if self.activate else y


class PixelNorm(nn.Module):
    def forward(self, z):
        return z / (torch.sqrt((z ** 2).mean(1, keepdim=True)) + 1e-6)


class ModulatedConv(nn.Module):
    """StyleGAN2's modulated conv: `weight_orig` (1, out, in, k, k), `style_modulation` (bias init 1), `blur`."""

    def __init__(self, cin, cout, k, style_channels, demodulate=True, upsample=False):
        super().__init__()
        self.weight_orig = nn.Parameter(torch.randn(1, cout, cin, k, k))
        self.style_modulation = EqualLinear(style_channels, cin, bias_init=1.0)
        if upsample:
            self.blur = _Kernel()
        self.demodulate, self.upsample = demodulate, upsample

    def forward(self, x, style):
        weight = self.weight_orig
        _, cout, cin, k, _ = weight.shape
        n = x.shape[0]
        s = self.style_modulation(style)
        weight = weight / math.sqrt(cin * k * k) * s.view(n, 1, cin, 1, 1)
        if self.demodulate:
            weight = weight * torch.rsqrt((weight ** 2).sum([2, 3, 4]) + 1e-8).view(n, cout, 1, 1, 1)
        xg = x.reshape(1, n * cin, *x.shape[2:])
        if self.upsample:   # transposed conv, stride 2, then the blur (pad 1, 1)
            wt = weight.transpose(1, 2).reshape(n * cin, cout, k, k)
            y = F.conv_transpose2d(xg, wt, stride=2, groups=n)
            return fir(y.reshape(n, cout, *y.shape[2:]), self.blur.kernel, 1, (1, 1))
        y = F.conv2d(xg, weight.reshape(n * cout, cin, k, k), padding=k // 2, groups=n)
        return y.reshape(n, cout, *y.shape[2:])


class _Scalar(nn.Module):
    def __init__(self, name, shape):
        super().__init__()
        self.register_parameter(name, nn.Parameter(torch.zeros(shape)))


class StyleConv(nn.Module):
    """Modulated 3x3 conv + `noise_injector.weight` * noise + `activate.bias`, fused lReLU (x sqrt 2)."""

    def __init__(self, cin, cout, style_channels, upsample=False):
        super().__init__()
        self.conv = ModulatedConv(cin, cout, 3, style_channels, upsample=upsample)
        self.noise_injector = _Scalar("weight", (1,))
        self.activate = _Scalar("bias", (cout,))

    def forward(self, x, style, noise):
        h = self.conv(x, style) + self.noise_injector.weight * noise
        return _lrelu(h + self.activate.bias.view(1, -1, 1, 1))


class ToRGB(nn.Module):
    """Modulated 1x1 conv without demodulation + `bias` (1, 3, 1, 1) + the upsampled skip (`upsample.kernel`)."""

    def __init__(self, cin, style_channels, upsample=True):
        super().__init__()
        self.conv = ModulatedConv(cin, 3, 1, style_channels, demodulate=False)
        self.bias = nn.Parameter(torch.zeros(1, 3, 1, 1))
        if upsample:
            self.upsample = _Kernel()

    def forward(self, x, style, skip=None):
        out = self.conv(x, style) + self.bias
        if skip is not None:
            out = out + fir(skip, self.upsample.kernel, 2, (2, 1))
        return out


class _Constant(nn.Module):
    def __init__(self, channels):
        super().__init__()
        self.input = nn.Parameter(torch.randn(1, channels, 4, 4))


class StyleGAN2Generator(nn.Module):
    """mmagic `StyleGANv2Generator`'s layout; `forward(z)` (N, style_channels) -> image (N, 3, out, out), NCHW."""

    def __init__(self, out_size, style_channels=512, num_mlps=8, channel_multiplier=2, max_channels=512,
                 lr_mlp=0.01, noise_seed=0):
        super().__init__()
        S = int(style_channels)
        ch = lambda r: stylegan2_channels(r, channel_multiplier, max_channels)  # noqa: E731
        self.channels = {2 ** i: ch(2 ** i) for i in range(2, int(math.log2(out_size)) + 1)}
        self.style_mapping = nn.Sequential(PixelNorm(), *[EqualLinear(S, S, lr_mul=lr_mlp, activate=True)
                                                          for _ in range(num_mlps)])
        self.constant_input = _Constant(ch(4))
        self.conv1 = StyleConv(ch(4), ch(4), S)
        self.to_rgb1 = ToRGB(ch(4), S, upsample=False)
        self.convs, self.to_rgbs = nn.ModuleList(), nn.ModuleList()
        self.num_blocks = int(math.log2(out_size)) - 2
        prev = ch(4)
        for b in range(self.num_blocks):
            c = ch(8 * 2 ** b)
            self.convs.append(StyleConv(prev, c, S, upsample=True))
            self.convs.append(StyleConv(c, c, S))
            self.to_rgbs.append(ToRGB(c, S))
            prev = c
        self.num_injected_noises = 1 + 2 * self.num_blocks
        g = torch.Generator().manual_seed(noise_seed)
        for k in range(self.num_injected_noises):
            res = 4 * 2 ** ((k + 1) // 2)
            noise = torch.empty(1, 1, res, res) if _meta() else torch.randn(1, 1, res, res, generator=g)
            self.register_buffer(f"injected_noise_{k}", noise)

    def noise(self, k):
        return getattr(self, f"injected_noise_{k}")

    def forward(self, z):
        w = self.style_mapping(z)
        h = self.constant_input.input.repeat(z.shape[0], 1, 1, 1)
        h = self.conv1(h, w, self.noise(0))
        skip = self.to_rgb1(h, w)
        for b in range(self.num_blocks):
            h = self.convs[2 * b](h, w, self.noise(2 * b + 1))
            h = self.convs[2 * b + 1](h, w, self.noise(2 * b + 2))
            skip = self.to_rgbs[b](h, w, skip)
        return skip


# ---------------------------------------------------------------------------------------------- GLEAN
class ResidualDenseBlock(nn.Module):
    """ESRGAN's dense block: `conv1..conv5` (growth `gc`), LeakyReLU(0.2), x5 * 0.2 + x."""

    def __init__(self, nf, gc):
        super().__init__()
        for j in range(1, 5):
            setattr(self, f"conv{j}", nn.Conv2d(nf + (j - 1) * gc, gc, 3, 1, 1))
        self.conv5 = nn.Conv2d(nf + 4 * gc, nf, 3, 1, 1)

    def forward(self, x):
        features = [x]
        for j in range(1, 5):
            features.append(F.leaky_relu(getattr(self, f"conv{j}")(torch.cat(features, 1)), 0.2))
        return self.conv5(torch.cat(features, 1)) * 0.2 + x


class RRDB(nn.Module):
    def __init__(self, nf, gc):
        super().__init__()
        self.rdb1, self.rdb2, self.rdb3 = ResidualDenseBlock(nf, gc), ResidualDenseBlock(nf, gc), \
            ResidualDenseBlock(nf, gc)

    def forward(self, x):
        return self.rdb3(self.rdb2(self.rdb1(x))) * 0.2 + x


class RRDBFeatureExtractor(nn.Module):
    """ESRGAN's trunk without upsampling: conv_first, body (RRDBs), conv_body, long skip."""

    def __init__(self, in_channels=3, mid_channels=64, num_blocks=23, growth_channels=32):
        super().__init__()
        self.conv_first = nn.Conv2d(in_channels, mid_channels, 3, 1, 1)
        self.body = nn.Sequential(*[RRDB(mid_channels, growth_channels) for _ in range(num_blocks)])
        self.conv_body = nn.Conv2d(mid_channels, mid_channels, 3, 1, 1)

    def forward(self, x):
        feat = self.conv_first(x)
        return feat + self.conv_body(self.body(feat))


class PixelShufflePack(nn.Module):
    def __init__(self, cin, cout, scale=2, kernel=3):
        super().__init__()
        self.upsample_conv = nn.Conv2d(cin, cout * scale * scale, kernel, 1, kernel // 2)
        self.scale = scale

    def forward(self, x):
        return F.pixel_shuffle(self.upsample_conv(x), self.scale)


class GLEANStyleGANv2(nn.Module):
    """GLEAN with a StyleGAN2 bank in mmagic's layout; NCHW RGB in [-1, 1] of size `in_size` -> `out_size`."""

    def __init__(self, in_size, out_size, style_channels=512, num_mlps=8, channel_multiplier=2, max_channels=512,
                 rrdb_channels=64, num_rrdbs=23, growth_channels=32, decoder_channels=64, noise_seed=0):
        super().__init__()
        if in_size >= out_size:
            raise ValueError(f"in_size must be smaller than out_size, got {in_size} and {out_size}")
        self.generator = StyleGAN2Generator(out_size, style_channels, num_mlps, channel_multiplier, max_channels,
                                            noise_seed=noise_seed)
        self.generator.requires_grad_(False)
        self.in_size, self.style_channels = in_size, style_channels
        ch = self.generator.channels
        num_styles = 2 * int(math.log2(out_size)) - 2
        encoder_res = [2 ** i for i in range(int(math.log2(in_size)), 1, -1)]
        self.encoder = nn.ModuleList([nn.Sequential(
            RRDBFeatureExtractor(3, rrdb_channels, num_rrdbs, growth_channels),
            nn.Conv2d(rrdb_channels, ch[in_size], 3, 1, 1), nn.LeakyReLU(0.2))])
        for res in encoder_res:
            if res > 4:
                self.encoder.append(nn.Sequential(
                    nn.Conv2d(ch[res], ch[res // 2], 3, 2, 1), nn.LeakyReLU(0.2),
                    nn.Conv2d(ch[res // 2], ch[res // 2], 3, 1, 1), nn.LeakyReLU(0.2)))
            else:
                self.encoder.append(nn.Sequential(
                    nn.Conv2d(ch[res], ch[res], 3, 1, 1), nn.LeakyReLU(0.2), nn.Flatten(),
                    nn.Linear(16 * ch[res], num_styles * style_channels)))
        self.fusion_out, self.fusion_skip = nn.ModuleList(), nn.ModuleList()
        for res in encoder_res[::-1]:
            self.fusion_out.append(nn.Conv2d(2 * ch[res], ch[res], 3, 1, 1))
            self.fusion_skip.append(nn.Conv2d(ch[res] + 3, 3, 3, 1, 1))
        self.decoder = nn.ModuleList()
        for log_res in range(int(math.log2(in_size)), int(math.log2(out_size)) + 1):
            res = 2 ** log_res
            cin = ch[res] if res == in_size else 2 * ch[res]
            if res < out_size:
                self.decoder.append(PixelShufflePack(cin, ch[2 * res]))
            else:
                self.decoder.append(nn.Sequential(nn.Conv2d(cin, decoder_channels, 3, 1, 1), nn.LeakyReLU(0.2),
                                                  nn.Conv2d(decoder_channels, 3, 3, 1, 1)))

    def forward(self, lq):
        assert lq.shape[2] == lq.shape[3] == self.in_size, lq.shape
        feats, feat = [], lq
        for block in self.encoder:
            feat = block(feat)
            feats.append(feat)
        feats = feats[::-1]
        latent = feats[0].view(lq.shape[0], -1, self.style_channels)
        feats = feats[1:]                     # 4x4, 8x8, ..., in_size features
        g = self.generator
        out = g.constant_input.input.repeat(lq.shape[0], 1, 1, 1)
        out = g.conv1(out, latent[:, 0], g.noise(0))
        skip = g.to_rgb1(out, latent[:, 1])
        index, bank = 1, []
        for b in range(g.num_blocks):
            if out.shape[2] <= self.in_size:  # fusion with the encoder feature at this size
                out = self.fusion_out[b](torch.cat([out, feats[b]], 1))
                skip = self.fusion_skip[b](torch.cat([skip, feats[b]], 1))
            out = g.convs[2 * b](out, latent[:, index], g.noise(2 * b + 1))
            out = g.convs[2 * b + 1](out, latent[:, index + 1], g.noise(2 * b + 2))
            skip = g.to_rgbs[b](out, latent[:, index + 2], skip)
            if out.shape[2] > self.in_size:
                bank.append(out)
            index += 2
        hr = feats[-1]
        for i, block in enumerate(self.decoder):
            if i > 0:
                hr = torch.cat([hr, bank[i - 1]], 1)
            hr = block(hr)
        return hr
