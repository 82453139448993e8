"""PyTorch TTSR and C2-Matching in the official state-dict layouts, for checkpoint-conversion parity tests.

spandrel has neither reference-based model. These modules are written here from
the papers and the official code's module structure (never copied), so that
`state_dict()` has the official key names and shapes and `forward` computes the
official network on NCHW RGB:

* `TTSR` (Yang et al., CVPR 2020; researchmm/TTSR `model/TTSR.py`, `MainNet.py`, `LTE.py`,
  `SearchTransfer.py`): `forward(lr, lrsr, ref, refsr)` on [-1, 1] images returns the SR image in
  [-1, 1] (clamped); `LTE` is VGG19 to relu3_1 in `slice1/2/3` with torchvision's indices and a
  MeanShift conv; the search is cosine similarity of 3x3 patches (zero padded), the transfer
  unfold -> gather -> fold with the official `/ 9`; CSFI and the soft-attention map use
  `F.interpolate(mode="bicubic")`. `texture_widths` generalizes the official 64/128/256 (tiny tests).
  `state_dict()` leaves out `LTE_copy`, as the official `trainer.py` saves it.
* `C2Matching` (Jiang et al., CVPR 2021; yumingj/C2-Matching `ref_restoration_arch.py`,
  `contras_extractor_arch.py`, `corres_generation_arch.py`, `ref_map_util.py`, `DCNv2/dcn_v2.py`):
  three modules with the three released layouts, `restoration` (`RestorationNet`), `extractor`
  (`ContrasExtractorSep`) and `vgg` (torchvision's `vgg19()`: `features.{i}`, `classifier.{0,3,6}`),
  and `forward(lr, lr_up, ref)` on [0, 1] images. The modulated deformable convolution (DCNv2:
  bilinear sampling, zero outside the image, sigmoid masks, offsets ordered (group, tap, [y, x])) is
  written out here with `torch` gathers; the correspondence is per-pixel-normalized 3x3 patches
  without padding, argmax, the `[x, y]` flow padded at the bottom/right, and its 9 shifted copies at
  1x, 2x and 4x.

They are test oracles written independently of keras-sr's models: a converted keras-sr model must
compute the same image from the same state dicts.

Example:
    >>> net = TTSR(num_res_blocks=(1, 1, 1, 1), n_feats=8, texture_widths=(4, 8, 16))
    >>> sorted(net.state_dict())[:2]     # ['LTE.slice1.0.bias', 'LTE.slice1.0.weight']
    >>> net(lr, lrsr, ref, refsr).shape  # (1, 3, 4h, 4w)
"""

from collections import OrderedDict

import torch
import torch.nn as nn
import torch.nn.functional as F

__all__ = ["TTSR", "C2Matching", "IMAGENET_MEAN", "IMAGENET_STD", "vgg19_features", "modulated_deform_conv"]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def _conv(cin, cout, k=3, stride=1):
    return nn.Conv2d(cin, cout, k, stride=stride, padding=k // 2)


def _bicubic(x, factor):
    return F.interpolate(x, scale_factor=factor, mode="bicubic", align_corners=False)


class _Block(nn.Module):
    """conv -> ReLU -> conv, plus the input (TTSR's ResBlock, C2-Matching's ResidualBlockNoBN)."""

    def __init__(self, f, res_scale=1.0):
        super().__init__()
        self.conv1, self.conv2 = _conv(f, f), _conv(f, f)
        self.res_scale = res_scale

    def forward(self, x):
        return x + self.conv2(F.relu(self.conv1(x))) * self.res_scale


# ----------------------------------------------------------------------------------------------- TTSR


class _SFE(nn.Module):
    def __init__(self, blocks, f, res_scale):
        super().__init__()
        self.conv_head = _conv(3, f)
        self.RBs = nn.ModuleList([_Block(f, res_scale) for _ in range(blocks)])
        self.conv_tail = _conv(f, f)

    def forward(self, x):
        head = F.relu(self.conv_head(x))
        x = head
        for block in self.RBs:
            x = block(x)
        return self.conv_tail(x) + head


class _CSFI2(nn.Module):
    def __init__(self, f):
        super().__init__()
        self.conv12, self.conv21 = _conv(f, f, 1), _conv(f, f, 3, 2)
        self.conv_merge1, self.conv_merge2 = _conv(2 * f, f), _conv(2 * f, f)

    def forward(self, x1, x2):
        up = F.relu(self.conv12(_bicubic(x1, 2)))
        down = F.relu(self.conv21(x2))
        return (F.relu(self.conv_merge1(torch.cat([x1, down], 1))),
                F.relu(self.conv_merge2(torch.cat([x2, up], 1))))


class _CSFI3(nn.Module):
    def __init__(self, f):
        super().__init__()
        self.conv12, self.conv13, self.conv23 = _conv(f, f, 1), _conv(f, f, 1), _conv(f, f, 1)
        self.conv21, self.conv32 = _conv(f, f, 3, 2), _conv(f, f, 3, 2)
        self.conv31_1, self.conv31_2 = _conv(f, f, 3, 2), _conv(f, f, 3, 2)
        self.conv_merge1, self.conv_merge2, self.conv_merge3 = _conv(3 * f, f), _conv(3 * f, f), _conv(3 * f, f)

    def forward(self, x1, x2, x3):
        x12 = F.relu(self.conv12(_bicubic(x1, 2)))
        x13 = F.relu(self.conv13(_bicubic(x1, 4)))
        x21 = F.relu(self.conv21(x2))
        x23 = F.relu(self.conv23(_bicubic(x2, 2)))
        x31 = F.relu(self.conv31_2(F.relu(self.conv31_1(x3))))
        x32 = F.relu(self.conv32(x3))
        return (F.relu(self.conv_merge1(torch.cat([x1, x21, x31], 1))),
                F.relu(self.conv_merge2(torch.cat([x2, x12, x32], 1))),
                F.relu(self.conv_merge3(torch.cat([x3, x13, x23], 1))))


class _MergeTail(nn.Module):
    def __init__(self, f):
        super().__init__()
        self.conv13, self.conv23 = _conv(f, f, 1), _conv(f, f, 1)
        self.conv_merge = _conv(3 * f, f)
        self.conv_tail1, self.conv_tail2 = _conv(f, f // 2), _conv(f // 2, 3, 1)

    def forward(self, x1, x2, x3):
        x13 = F.relu(self.conv13(_bicubic(x1, 4)))
        x23 = F.relu(self.conv23(_bicubic(x2, 2)))
        x = F.relu(self.conv_merge(torch.cat([x3, x13, x23], 1)))
        return torch.clamp(self.conv_tail2(self.conv_tail1(x)), -1, 1)


def _run(blocks, x):
    for block in blocks:
        x = block(x)
    return x


class _MainNet(nn.Module):
    def __init__(self, num_res_blocks, f, res_scale, texture_widths):
        super().__init__()
        c1, c2, c3 = texture_widths
        n = num_res_blocks
        self.SFE = _SFE(n[0], f, res_scale)
        self.conv11_head = _conv(c3 + f, f)
        self.RB11 = nn.ModuleList([_Block(f, res_scale) for _ in range(n[1])])
        self.conv11_tail = _conv(f, f)
        self.conv12 = _conv(f, 4 * f)
        self.conv22_head = _conv(c2 + f, f)
        self.ex12 = _CSFI2(f)
        self.RB21 = nn.ModuleList([_Block(f, res_scale) for _ in range(n[2])])
        self.RB22 = nn.ModuleList([_Block(f, res_scale) for _ in range(n[2])])
        self.conv21_tail, self.conv22_tail = _conv(f, f), _conv(f, f)
        self.conv23 = _conv(f, 4 * f)
        self.conv33_head = _conv(c1 + f, f)
        self.ex123 = _CSFI3(f)
        self.RB31 = nn.ModuleList([_Block(f, res_scale) for _ in range(n[3])])
        self.RB32 = nn.ModuleList([_Block(f, res_scale) for _ in range(n[3])])
        self.RB33 = nn.ModuleList([_Block(f, res_scale) for _ in range(n[3])])
        self.conv31_tail, self.conv32_tail, self.conv33_tail = _conv(f, f), _conv(f, f), _conv(f, f)
        self.merge_tail = _MergeTail(f)

    def forward(self, x, s, t_lv3, t_lv2, t_lv1):
        x11 = self.SFE(x)
        x11 = x11 + self.conv11_head(torch.cat([x11, t_lv3], 1)) * s
        x11 = x11 + self.conv11_tail(_run(self.RB11, x11))

        x22 = F.relu(F.pixel_shuffle(self.conv12(x11), 2))
        x22 = x22 + self.conv22_head(torch.cat([x22, t_lv2], 1)) * _bicubic(s, 2)
        r21, r22 = self.ex12(x11, x22)
        x21 = x11 + self.conv21_tail(_run(self.RB21, r21))
        x22 = x22 + self.conv22_tail(_run(self.RB22, r22))

        x33 = F.relu(F.pixel_shuffle(self.conv23(x22), 2))
        x33 = x33 + self.conv33_head(torch.cat([x33, t_lv1], 1)) * _bicubic(s, 4)
        r31, r32, r33 = self.ex123(x21, x22, x33)
        x31 = x21 + self.conv31_tail(_run(self.RB31, r31))
        x32 = x22 + self.conv32_tail(_run(self.RB32, r32))
        x33 = x33 + self.conv33_tail(_run(self.RB33, r33))
        return self.merge_tail(x31, x32, x33)


class _MeanShiftConv(nn.Conv2d):
    """`(x - mean) / std` as a frozen 1x1 conv (weight diag(1 / std), bias -mean / std)."""

    def __init__(self, mean=IMAGENET_MEAN, std=IMAGENET_STD):
        super().__init__(3, 3, 1)
        std_t = torch.tensor(std)
        with torch.no_grad():
            self.weight.copy_(torch.diag(1.0 / std_t).view(3, 3, 1, 1))
            self.bias.copy_(-torch.tensor(mean) / std_t)
        for p in self.parameters():
            p.requires_grad = False


class _LTE(nn.Module):
    """VGG19 to relu3_1 split at relu1_1 / relu2_1 / relu3_1, torchvision's indices as module names."""

    def __init__(self, widths):
        super().__init__()
        c1, c2, c3 = widths
        self.slice1 = nn.Sequential(OrderedDict([("0", _conv(3, c1)), ("1", nn.ReLU())]))
        self.slice2 = nn.Sequential(OrderedDict([("2", _conv(c1, c1)), ("3", nn.ReLU()), ("4", nn.MaxPool2d(2)),
                                                 ("5", _conv(c1, c2)), ("6", nn.ReLU())]))
        self.slice3 = nn.Sequential(OrderedDict([("7", _conv(c2, c2)), ("8", nn.ReLU()), ("9", nn.MaxPool2d(2)),
                                                 ("10", _conv(c2, c3)), ("11", nn.ReLU())]))
        self.sub_mean = _MeanShiftConv()

    def forward(self, x):
        lv1 = self.slice1(self.sub_mean(x))
        lv2 = self.slice2(lv1)
        return lv1, lv2, self.slice3(lv2)


def search_transfer(lrsr_lv3, refsr_lv3, ref_lv1, ref_lv2, ref_lv3):
    """TTSR's relevance embedding, hard and soft attention: `(S, T_lv3, T_lv2, T_lv1)`."""
    query = F.normalize(F.unfold(lrsr_lv3, 3, padding=1), dim=1)            # (B, 9 C, HW)
    keys = F.normalize(F.unfold(refsr_lv3, 3, padding=1), dim=1)            # (B, 9 C, HrWr)
    relevance = torch.bmm(keys.transpose(1, 2), query)                      # (B, HrWr, HW)
    soft, hard = relevance.max(dim=1)
    h, w = lrsr_lv3.shape[-2:]

    def transfer(values, kernel, padding, stride, factor):
        patches = F.unfold(values, kernel, padding=padding, stride=stride)  # (B, D, HrWr)
        picked = torch.gather(patches, 2, hard[:, None, :].expand(-1, patches.shape[1], -1))
        return F.fold(picked, (h * factor, w * factor), kernel, padding=padding, stride=stride) / 9.0

    return (soft.view(-1, 1, h, w), transfer(ref_lv3, 3, 1, 1, 1), transfer(ref_lv2, 6, 2, 2, 2),
            transfer(ref_lv1, 12, 4, 4, 4))


class TTSR(nn.Module):
    """The official TTSR (`MainNet` + `LTE` + search/transfer) on [-1, 1] images."""

    def __init__(self, num_res_blocks=(16, 16, 8, 4), n_feats=64, res_scale=1.0, texture_widths=(64, 128, 256)):
        super().__init__()
        self.MainNet = _MainNet(tuple(num_res_blocks), n_feats, res_scale, tuple(texture_widths))
        self.LTE = _LTE(tuple(texture_widths))

    def forward(self, lr, lrsr, ref, refsr):
        _, _, lrsr_lv3 = self.LTE((lrsr + 1.0) / 2.0)
        _, _, refsr_lv3 = self.LTE((refsr + 1.0) / 2.0)
        ref_lv1, ref_lv2, ref_lv3 = self.LTE((ref + 1.0) / 2.0)
        s, t_lv3, t_lv2, t_lv1 = search_transfer(lrsr_lv3, refsr_lv3, ref_lv1, ref_lv2, ref_lv3)
        return self.MainNet(lr, s, t_lv3, t_lv2, t_lv1)


# ---------------------------------------------------------------------------------------- C2-Matching


def _bilinear_zero(x, py, px):
    """Bilinear samples of `x (B, C, H, W)` at float positions `py, px (B, N)`, zero outside: `(B, C, N)`."""
    b, c, h, w = x.shape
    y0, x0 = torch.floor(py), torch.floor(px)
    flat = x.reshape(b, c, h * w)
    out = 0.0
    for dy in (0, 1):
        for dx in (0, 1):
            yy, xx = y0 + dy, x0 + dx
            weight = (1 - (py - yy).abs()) * (1 - (px - xx).abs())
            valid = (yy >= 0) & (yy < h) & (xx >= 0) & (xx < w)
            index = (yy.clamp(0, h - 1) * w + xx.clamp(0, w - 1)).long()
            values = torch.gather(flat, 2, index[:, None, :].expand(-1, c, -1))
            out = out + values * (weight * valid)[:, None, :]
    return out


def modulated_deform_conv(x, offset, mask, weight, bias, groups):
    """DCNv2, 3x3, stride 1, padding 1: offsets `(B, 2 G 9, H, W)` as (group, tap, [y, x]), masks `(B, G 9, H, W)`."""
    b, c, h, w = x.shape
    cg = c // groups
    grid_y = torch.arange(h, dtype=x.dtype).view(1, h, 1).expand(b, h, w)
    grid_x = torch.arange(w, dtype=x.dtype).view(1, 1, w).expand(b, h, w)
    columns = x.new_zeros(b, c, 9, h * w)
    for g in range(groups):
        for k in range(9):
            ky, kx = divmod(k, 3)
            channel = g * 9 + k
            py = grid_y + ky - 1 + offset[:, 2 * channel]
            px = grid_x + kx - 1 + offset[:, 2 * channel + 1]
            sampled = _bilinear_zero(x[:, g * cg:(g + 1) * cg], py.reshape(b, -1), px.reshape(b, -1))
            columns[:, g * cg:(g + 1) * cg, k] = sampled * mask[:, channel].reshape(b, 1, -1)
    out = torch.einsum("ock,bckn->bon", weight.reshape(weight.shape[0], c, 9), columns)
    return out.view(b, -1, h, w) + bias.view(1, -1, 1, 1)


class _DynAgg(nn.Module):
    """`DCN_sep_pre_multi_offset`: DCNv2 whose offsets/masks come from other features, plus pre-offsets."""

    def __init__(self, channels, groups):
        super().__init__()
        self.groups = groups
        self.weight = nn.Parameter(torch.randn(channels, channels, 3, 3) * 0.05)
        self.bias = nn.Parameter(torch.zeros(channels))
        self.conv_offset_mask = _conv(channels, groups * 27)

    def forward(self, x, features, pre_offset):
        out = self.conv_offset_mask(features)
        n = self.groups * 18
        offset, mask = out[:, :n], torch.sigmoid(out[:, n:])
        pre = pre_offset.repeat(1, self.groups, 1, 1, 1)          # (B, 9 G, H, W, [x, y])
        reordered = torch.stack([pre[..., 1], pre[..., 0]], 2)    # (B, 9 G, [y, x], H, W)
        offset = offset + reordered.reshape(offset.shape)
        return modulated_deform_conv(x, offset, mask, self.weight, self.bias, self.groups)


class _Restoration(nn.Module):
    """`RestorationNet`: `content_extractor` + `dyn_agg_restore` (three aggregation + residual stages)."""

    def __init__(self, ngf, n_blocks, groups, vgg_widths):
        super().__init__()
        self.content_extractor = nn.Module()
        self.content_extractor.conv_first = _conv(3, ngf)
        self.content_extractor.body = nn.Sequential(*[_Block(ngf) for _ in range(n_blocks)])
        r = self.dyn_agg_restore = nn.Module()
        for stage, c in zip(("small", "medium", "large"), reversed(tuple(vgg_widths))):
            setattr(r, f"{stage}_offset_conv1", _conv(ngf + c, c))
            setattr(r, f"{stage}_offset_conv2", _conv(c, c))
            setattr(r, f"{stage}_dyn_agg", _DynAgg(c, groups))
            setattr(r, f"head_{stage}", nn.Sequential(_conv(ngf + c, ngf), nn.LeakyReLU(0.1)))
            setattr(r, f"body_{stage}", nn.Sequential(*[_Block(ngf) for _ in range(n_blocks)]))
        r.tail_small = nn.Sequential(_conv(ngf, 4 * ngf), nn.PixelShuffle(2), nn.LeakyReLU(0.1))
        r.tail_medium = nn.Sequential(_conv(ngf, 4 * ngf), nn.PixelShuffle(2), nn.LeakyReLU(0.1))
        r.tail_large = nn.Sequential(_conv(ngf, ngf // 2), nn.LeakyReLU(0.1), _conv(ngf // 2, 3))

    def forward(self, lr, pre_offsets, ref_feats):
        lrelu = lambda t: F.leaky_relu(t, 0.1)  # noqa: E731
        base = F.interpolate(lr, scale_factor=4, mode="bilinear", align_corners=False)
        x = self.content_extractor.body(lrelu(self.content_extractor.conv_first(lr)))
        r = self.dyn_agg_restore
        for stage, level in (("small", "relu3_1"), ("medium", "relu2_1"), ("large", "relu1_1")):
            ref = ref_feats[level]
            guide = lrelu(getattr(r, f"{stage}_offset_conv1")(torch.cat([x, ref], 1)))
            guide = lrelu(getattr(r, f"{stage}_offset_conv2")(guide))
            swapped = lrelu(getattr(r, f"{stage}_dyn_agg")(ref, guide, pre_offsets[level]))
            h = getattr(r, f"head_{stage}")(torch.cat([x, swapped], 1))
            h = getattr(r, f"body_{stage}")(h) + x
            x = getattr(r, f"tail_{stage}")(h)
        return x + base


def _vgg_layers(variant, widths, last):
    """torchvision VGG `features` as `(name, module)` pairs up to layer name `last` (names conv1_1, relu1_1, ...)."""
    convs = {"vgg16": (2, 2, 3, 3, 3), "vgg19": (2, 2, 4, 4, 4)}[variant]
    layers, cin = [], 3
    for block, count in enumerate(convs, start=1):
        for i in range(1, count + 1):
            layers += [(f"conv{block}_{i}", _conv(cin, widths[block - 1])), (f"relu{block}_{i}", nn.ReLU())]
            cin = widths[block - 1]
        layers.append((f"pool{block}", nn.MaxPool2d(2)))
    names = [n for n, _ in layers]
    return layers[:names.index(last) + 1] if last else layers


class _ContrasLayer(nn.Module):
    def __init__(self, widths):
        super().__init__()
        self.model = nn.Sequential(OrderedDict(_vgg_layers("vgg16", tuple(widths) + (8, 8), "conv3_1")))
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1))

    def forward(self, x):
        return self.model((x - self.mean) / self.std)


class _ContrasExtractorSep(nn.Module):
    def __init__(self, widths):
        super().__init__()
        self.feature_extraction_image1 = _ContrasLayer(widths)
        self.feature_extraction_image2 = _ContrasLayer(widths)


class vgg19_features(nn.Module):  # noqa: N801 (torchvision's layout: `features`, `classifier`)
    """torchvision's `vgg19()` layout (`features.{0..36}`, `classifier.{0,3,6}`) at small widths."""

    def __init__(self, widths=(64, 128, 256, 512, 512), hidden=8, classes=10):
        super().__init__()
        self.features = nn.Sequential(*[m for _, m in _vgg_layers("vgg19", widths, None)])
        self.classifier = nn.Sequential(nn.Linear(widths[4] * 49, hidden), nn.ReLU(), nn.Dropout(),
                                        nn.Linear(hidden, hidden), nn.ReLU(), nn.Dropout(), nn.Linear(hidden, classes))

    def levels(self, x):
        """relu1_1, relu2_1, relu3_1 of the [0, 1] image `x` (ImageNet-normalized, as `VGGFeatureExtractor`)."""
        mean, std = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
        x = (x - mean) / std
        out = {}
        for index, layer in enumerate(self.features[:12]):
            x = layer(x)
            if index in (1, 6, 11):
                out[{1: "relu1_1", 6: "relu2_1", 11: "relu3_1"}[index]] = x
        return out


def correspondence(feat_in, feat_ref):
    """Per-item patch matching -> `{level: (B, 9, H s, W s, 2)}` shifted `[x, y]` flows (s = 1, 2, 4)."""
    batches = {"relu3_1": [], "relu2_1": [], "relu1_1": []}
    for a, b in zip(feat_in, feat_ref):
        c, h, w = a.shape
        a = F.normalize(a.reshape(c, -1), dim=0).view(1, c, h, w)
        b = F.normalize(b.reshape(c, -1), dim=0).view(1, c, h, w)
        keys = F.unfold(b, 3)[0]                                      # (9 C, Nr), row-major patches
        keys = keys / (keys.norm(dim=0, keepdim=True) + 1e-5)
        scores = F.unfold(a, 3)[0].t() @ keys                         # (N, Nr)
        index = scores.argmax(dim=1).view(h - 2, w - 2)
        gy, gx = torch.meshgrid(torch.arange(h - 2), torch.arange(w - 2), indexing="ij")
        flow = torch.stack([index % (w - 2) - gx, index // (w - 2) - gy], -1).float()  # [x, y]
        flow = F.pad(flow, (0, 0, 0, 2, 0, 2))[None]                  # (1, h, w, 2)
        for level, s in (("relu3_1", 1), ("relu2_1", 2), ("relu1_1", 4)):
            scaled = flow.repeat_interleave(s, 1).repeat_interleave(s, 2) * s
            shifted = []
            for i in range(3):
                for j in range(3):
                    moved = torch.zeros_like(scaled)
                    moved[:, i * s:, j * s:] = scaled[:, :scaled.shape[1] - i * s, :scaled.shape[2] - j * s]
                    shifted.append(moved)
            batches[level].append(torch.cat(shifted, 0))
    return {level: torch.stack(items, 0) for level, items in batches.items()}


class C2Matching(nn.Module):
    """The official test model: `extractor` -> correspondence + `vgg` reference features -> `restoration`."""

    def __init__(self, ngf=64, n_blocks=16, groups=8, vgg_widths=(64, 128, 256), contrastive_widths=(64, 128, 256)):
        super().__init__()
        self.restoration = _Restoration(ngf, n_blocks, groups, vgg_widths)
        self.extractor = _ContrasExtractorSep(contrastive_widths)
        self.vgg = vgg19_features(tuple(vgg_widths) + (8, 8))

    def forward(self, lr, lr_up, ref):
        feat_in = self.extractor.feature_extraction_image1(lr_up)
        feat_ref = self.extractor.feature_extraction_image2(ref)
        pre_offsets = correspondence(feat_in, feat_ref)
        return self.restoration(lr, pre_offsets, self.vgg.levels(ref))
