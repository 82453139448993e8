"""A PyTorch re-implementation of RefVAE in the official state-dict layouts (the conversion oracle).

Liu, Siu, Wang, "Reference-based Image Super-Resolution via Variational AutoEncoder", CVPR
Workshops 2021 (arXiv 2106.04090). Written here from the paper and the module structure of the
official code (Holmes-Alan/RefVAE `model.py` `VAE_v3_8x` / `VAE_v3_4x` / `ResnetBlock`, `network.py`
`encoder4` / `decoder4`; read, never copied), so that `state_dict()` has exactly the official key
names and shapes; NCHW RGB in [0, 1]:

* `Generator` (`VAE_v3_8x` with `up_factor=8`, `VAE_v3_4x` with 4: the same modules): `init_feat`
  (conv 1x1, BN, LeakyReLU, conv 3x3, BN, LeakyReLU), `VAE_encoder.0` / `VAE_decoder.0` (Linear),
  `dec_feat` (conv 1x1 + ResnetBlock), `mask` (conv 1x1, ResnetBlocks, conv 1x1 to 2 x features),
  `decoder` (three bilinear x2 + conv + LeakyReLU, conv 1x1, LeakyReLU, conv 3x3 to RGB) and the
  `bn` BatchNorm1d that the official forward never calls. `forward(base, lr_feat, ref_feat)`
  returns `(sr, kl)` as the official one; `base` is the bicubic-upsampled LR, which the official
  `decode` computes inside (`F.interpolate(LR, scale_factor=up_factor, mode="bicubic")`, see
  `official_base`) and which is passed here so that keras-sr's `lr_up` can be fed to both.
  `posterior_mean=True` decodes the posterior mean instead of a sample (keras-sr's default
  inference path); `encode(ref_feat)` gives the posterior's `(mean, log_var)`.
* `Encoder4` (`vgg_r41.pth`): conv1 (1x1, 3 -> 3), then VGG19 conv1_1 ... relu4_1 as `conv2` ...
  `conv10`, reflection padding, 2x2 max-pools after conv3, conv5 and conv9; returns relu4_1 (the
  official returns a dict and RefVAE reads its `'r41'`).
* `Decoder4` (`dec_r41.pth`): conv11 ... conv19 of the style-transfer decoder that the official
  eval scripts load but never use to super-resolve; here only for its keys and shapes.
* `run(generator, encoder, lr_up, ref)`: the official eval path (`enc(bicubic(LR))`, `enc(ref)`,
  the generator) with `lr_up` as the bicubic image.

Widths are parameters here (the official code fixes VGG 64/128/256/512, 64 latent channels on a
16x16 grid, a 256-d latent, 3 mask blocks, decoder 256/128/64).

Example:
    >>> net, enc = Generator(), Encoder4()
    >>> sum(p.numel() for p in net.parameters()), sum(p.numel() for p in enc.parameters())  # 33,924,675 3,505,740
    >>> sr = run(net, enc, lr_up, ref, posterior_mean=True)
"""

import torch
import torch.nn as nn
import torch.nn.functional as F

__all__ = ["Generator", "Encoder4", "Decoder4", "ResnetBlock", "run", "official_base"]


class ResnetBlock(nn.Module):
    """LeakyReLU(conv2(LeakyReLU(conv1(x))) + x), 3x3 convs with bias."""

    def __init__(self, channels):
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, 1, 1)
        self.conv2 = nn.Conv2d(channels, channels, 3, 1, 1)

    def forward(self, x):
        return F.leaky_relu(self.conv2(F.leaky_relu(self.conv1(x))) + x)


class Generator(nn.Module):
    """`VAE_v3_8x` / `VAE_v3_4x`: the conditional VAE on relu4_1 features (see the module docstring)."""

    def __init__(self, up_factor=8, features=512, latent_channels=64, latent_size=16, latent_dim=256,
                 mask_blocks=3, decoder_widths=(256, 128, 64)):
        super().__init__()
        self.up_factor, self.latent_channels, self.latent_size = up_factor, latent_channels, latent_size
        f, grid = latent_channels, latent_size * latent_size
        self.init_feat = nn.Sequential(nn.Conv2d(features, f, 1), nn.BatchNorm2d(f), nn.LeakyReLU(),
                                       nn.Conv2d(f, f, 3, 1, 1), nn.BatchNorm2d(f), nn.LeakyReLU())
        self.VAE_encoder = nn.Sequential(nn.Linear(f * grid, 2 * latent_dim))
        self.VAE_decoder = nn.Sequential(nn.Linear(latent_dim, f * grid))
        self.dec_feat = nn.Sequential(nn.Conv2d(f, features, 1), ResnetBlock(features))
        self.mask = nn.Sequential(nn.Conv2d(features, features, 1), *[ResnetBlock(features) for _ in range(mask_blocks)],
                                  nn.Conv2d(features, 2 * features, 1))
        a, b, c = decoder_widths
        self.decoder = nn.Sequential(
            nn.Upsample(scale_factor=2, mode="bilinear"), nn.Conv2d(features, a, 3, 1, 1), nn.LeakyReLU(),
            nn.Upsample(scale_factor=2, mode="bilinear"), nn.Conv2d(a, b, 3, 1, 1), nn.LeakyReLU(),
            nn.Upsample(scale_factor=2, mode="bilinear"), nn.Conv2d(b, c, 3, 1, 1), nn.LeakyReLU(),
            nn.Conv2d(c, c, 1), nn.LeakyReLU(), nn.Conv2d(c, 3, 3, 1, 1))
        self.bn = nn.BatchNorm1d(latent_dim)  # built by the official class, never called by its forward

    def encode(self, ref_feat):
        """`(mean, log_var)` of q(z | ref): init_feat, a bilinear 16x16 grid, flattened NCHW, the Linear layer."""
        x = F.interpolate(self.init_feat(ref_feat), size=[self.latent_size] * 2, mode="bilinear", align_corners=False)
        return self.VAE_encoder(x.reshape(x.shape[0], -1)).chunk(2, dim=1)

    def decode(self, base, lr_feat, z):
        x = self.VAE_decoder(z).view(lr_feat.shape[0], self.latent_channels, self.latent_size, self.latent_size)
        x = F.interpolate(x, size=list(lr_feat.shape[2:]), mode="bilinear", align_corners=False)
        feat = self.dec_feat(x)
        mu, var = self.mask(lr_feat).chunk(2, dim=1)
        return self.decoder(feat * (1 + var) + mu) + base

    def forward(self, base, lr_feat, ref_feat, z=None, posterior_mean=False):
        """`(sr, kl)`; `z` given: `sr` alone (as official); `posterior_mean`: decode the mean, no sampling."""
        if z is not None:
            return self.decode(base, lr_feat, z)
        mean, log_var = self.encode(ref_feat)
        z = mean if posterior_mean else mean + torch.exp(0.5 * log_var) * torch.randn_like(mean)
        kl = -0.5 * torch.sum(1 + log_var - mean.pow(2) - log_var.exp())
        return self.decode(base, lr_feat, z), kl


def _conv_plan(widths):
    c1, c2, c3, c4 = widths
    return [(3, c1), (c1, c1), (c1, c2), (c2, c2), (c2, c3), (c3, c3), (c3, c3), (c3, c3), (c3, c4)]


class Encoder4(nn.Module):
    """`encoder4` to relu4_1 (`vgg_r41.pth`: `conv1` ... `conv10`)."""

    POOL_AFTER = (3, 5, 9)

    def __init__(self, widths=(64, 128, 256, 512)):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 3, 1)
        for i, (cin, cout) in enumerate(_conv_plan(widths), start=2):
            setattr(self, f"conv{i}", nn.Conv2d(cin, cout, 3))

    def forward(self, x):
        x = self.conv1(x)
        for i in range(2, 11):
            x = F.relu(getattr(self, f"conv{i}")(F.pad(x, (1, 1, 1, 1), mode="reflect")))
            if i in self.POOL_AFTER:
                x = F.max_pool2d(x, 2)
        return x


class Decoder4(nn.Module):
    """`decoder4` (`dec_r41.pth`: `conv11` ... `conv19`): keys and shapes only, no forward needed here."""

    def __init__(self, widths=(64, 128, 256, 512)):
        super().__init__()
        c1, c2, c3, c4 = widths
        plan = [(c4, c3), (c3, c3), (c3, c3), (c3, c3), (c3, c2), (c2, c2), (c2, c1), (c1, c1), (c1, 3)]
        for i, (cin, cout) in enumerate(plan, start=11):
            setattr(self, f"conv{i}", nn.Conv2d(cin, cout, 3))


def official_base(lr, up_factor):
    """The official base image: PyTorch's bicubic of the LR (`F.interpolate(..., mode="bicubic")`)."""
    return F.interpolate(lr, scale_factor=up_factor, mode="bicubic")


def run(generator, encoder, lr_up, ref, posterior_mean=True):
    """The official eval path with `lr_up` as the bicubic image: `sr` (NCHW, [0, 1] scale)."""
    sr, _ = generator(lr_up, encoder(lr_up), encoder(ref), posterior_mean=posterior_mean)
    return sr
