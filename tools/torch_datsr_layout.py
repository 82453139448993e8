"""PyTorch DATSR in the official state-dict layouts, for checkpoint-conversion parity tests.

Cao et al., "Reference-based Image Super-Resolution with Deformable Attention Transformer", ECCV
2022 (https://arxiv.org/abs/2207.11938). spandrel does not have DATSR. These modules are written
here from the paper and the official code's module structure (caojiezhang/DATSR
`datsr/models/archs/swin_unetv3_ref_restoration_arch.py`, `dcn_v2.py`
(`DCN_sep_pre_multi_offset_flow_similarity`), `flow_similarity_corres_generation_arch.py`,
`ref_map_util.py`, `contras_extractor_arch.py`, `vgg_arch.py`), never copied, so that
`state_dict()` has the official key names and shapes (buffers included) and `forward` computes the
official test network on NCHW RGB in [0, 1]:

* `restoration` is `SwinUnetv3RestorationNet`: `content_extractor` (conv + residual blocks, built
  and saved but never read by the forward pass, as official) and `dyn_agg_restore`, the U-Net on
  the bilinear x4 LR: five stages (`down_large`, `down_medium`, `up_small`, `up_medium`,
  `up_large`), each the reference features pre-warped by the flow (`grid_sample`, bilinear, zeros,
  `align_corners=True`) -> `{stage}_offset_conv1/2` -> the deformable attention `{stage}_dyn_agg`
  (DCNv2 with pre-offsets, `10 tanh` learned offsets, `sigmoid(logits * similarity)` masks),
  `{a}_head_{b}.0`, the Swin body `{a}_body_{b}` (`patch_embed.norm`, `layers.{i}` RSTBs with
  `residual_group.blocks.{j}` and `conv`, `norm`; shifted windows with their `attn_mask`
  buffers at the official training size `img_size` 160 / 80 / 40, recomputed for the actual
  size in `forward` as official) and the tail (stride-2 conv, conv + PixelShuffle + LeakyReLU,
  or two convs).
* `extractor` is `ContrasExtractorSep` and `vgg` torchvision's `vgg19()` layout, both from
  `tools/torch_refsr_layouts.py` (C2-Matching's: the same modules); so are the modulated
  deformable convolution, the residual block and the patch matching.
* `flow_similarity` is `FlowSimCorrespondenceGenerationArch` without its VGG: C2-Matching's
  shifted `[x, y]` pre-offsets, the flow at 1x / 2x / 4x (the unshifted copy) and the best
  cosine score (`feature_match_index(..., norm_input=True)`), zero-padded by one on each side and
  repeated 2x / 4x.

`vgg_widths` generalizes the official hard-coded 64 / 128 / 256 (tiny tests); `img_size` the
official 160 / 80 / 40 of the Swin bodies (it only sizes the `attn_mask` buffers and, when not
above the window, shrinks the window as official).

Example:
    >>> net = DATSR(ngf=8, groups=2, depths=(1,), num_heads=(1,), window_size=4, vgg_widths=(4, 8, 16),
    ...             contrastive_widths=(4, 8, 16), img_size=(32, 16, 8))
    >>> net(lr, lr_up, ref).shape              # (1, 3, 4h, 4w)
    >>> sum(p.numel() for p in DATSR().restoration.parameters())   # 18,026,971
"""

import torch
import torch.nn as nn
import torch.nn.functional as F

from tools.torch_refsr_layouts import _Block, _ContrasExtractorSep, _DynAgg, correspondence, modulated_deform_conv
from tools.torch_refsr_layouts import vgg19_features

__all__ = ["DATSR", "SwinBody", "flow_similarity", "flow_warp", "STAGES"]

# (stage, VGG level it aggregates), in forward order; stage "a_b" has keys a_head_b, a_body_b, a_tail_b.
STAGES = (("down_large", "relu1_1"), ("down_medium", "relu2_1"), ("up_small", "relu3_1"),
          ("up_medium", "relu2_1"), ("up_large", "relu1_1"))
LEVEL_INDEX = {"relu1_1": 0, "relu2_1": 1, "relu3_1": 2}


def _conv(cin, cout, stride=1):
    return nn.Conv2d(cin, cout, 3, stride=stride, padding=1)


def _windows(x, m):
    """(B, H, W, C) -> (B * nW, m * m, C), windows row-major."""
    b, h, w, c = x.shape
    x = x.view(b, h // m, m, w // m, m, c).permute(0, 1, 3, 2, 4, 5)
    return x.reshape(-1, m * m, c)


def _unwindows(x, m, b, h, w):
    c = x.shape[-1]
    return x.view(b, h // m, w // m, m, m, c).permute(0, 1, 3, 2, 4, 5).reshape(b, h, w, c)


def _shift_mask(h, w, m, shift):
    """(nW, m m, m m) additive mask of the shifted windows: -100 between tokens of different regions."""
    region = torch.zeros(1, h, w, 1)
    cuts = ((0, h - m), (h - m, h - shift), (h - shift, h)), ((0, w - m), (w - m, w - shift), (w - shift, w))
    label = 0
    for y0, y1 in cuts[0]:
        for x0, x1 in cuts[1]:
            region[:, y0:y1, x0:x1] = label
            label += 1
    ids = _windows(region, m)[..., 0]
    diff = ids[:, None, :] - ids[:, :, None]
    return torch.where(diff != 0, torch.tensor(-100.0), torch.tensor(0.0))


class _WindowAttention(nn.Module):
    def __init__(self, dim, window, heads):
        super().__init__()
        self.window, self.heads = window, heads
        self.relative_position_bias_table = nn.Parameter(torch.zeros((2 * window - 1) ** 2, heads))
        ys, xs = torch.meshgrid(torch.arange(window), torch.arange(window), indexing="ij")
        coords = torch.stack([ys.flatten(), xs.flatten()])                 # (2, m m)
        rel = coords[:, :, None] - coords[:, None, :] + (window - 1)      # (2, m m, m m), from 0
        self.register_buffer("relative_position_index", rel[0] * (2 * window - 1) + rel[1])
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x, mask=None):
        n_windows, n, c = x.shape
        q, k, v = self.qkv(x).view(n_windows, n, 3, self.heads, c // self.heads).permute(2, 0, 3, 1, 4)
        scores = (q * (c // self.heads) ** -0.5) @ k.transpose(-2, -1)
        bias = self.relative_position_bias_table[self.relative_position_index.reshape(-1)].view(n, n, -1)
        scores = scores + bias.permute(2, 0, 1)[None]
        if mask is not None:
            groups = mask.shape[0]
            scores = (scores.view(-1, groups, self.heads, n, n) + mask[None, :, None]).view(-1, self.heads, n, n)
        out = (scores.softmax(-1) @ v).transpose(1, 2).reshape(n_windows, n, c)
        return self.proj(out)


class _SwinLayer(nn.Module):
    """Swin Transformer layer: (shifted) window attention and a GELU MLP, pre-LayerNorm, residuals."""

    def __init__(self, dim, resolution, heads, window, shift, mlp_ratio):
        super().__init__()
        if min(resolution) <= window:  # official: no partition when the training size fits in a window
            window, shift = min(resolution), 0
        self.window, self.shift = window, shift
        self.norm1 = nn.LayerNorm(dim)
        self.attn = _WindowAttention(dim, window, heads)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = nn.Module()
        self.mlp.fc1 = nn.Linear(dim, int(dim * mlp_ratio))
        self.mlp.fc2 = nn.Linear(int(dim * mlp_ratio), dim)
        self.register_buffer("attn_mask", _shift_mask(*resolution, window, shift) if shift else None)

    def forward(self, x, size):
        (h, w), b, c, m, s = size, x.shape[0], x.shape[-1], self.window, self.shift
        y = self.norm1(x).view(b, h, w, c)
        if s:
            y = torch.roll(y, (-s, -s), (1, 2))
        y = self.attn(_windows(y, m), _shift_mask(h, w, m, s) if s else None)
        y = _unwindows(y, m, b, h, w)
        if s:
            y = torch.roll(y, (s, s), (1, 2))
        x = x + y.reshape(b, h * w, c)
        return x + self.mlp.fc2(F.gelu(self.mlp.fc1(self.norm2(x))))


class _RSTB(nn.Module):
    def __init__(self, dim, resolution, depth, heads, window, mlp_ratio):
        super().__init__()
        self.residual_group = nn.Module()
        self.residual_group.blocks = nn.ModuleList(
            [_SwinLayer(dim, resolution, heads, window, 0 if i % 2 == 0 else window // 2, mlp_ratio)
             for i in range(depth)])
        self.conv = _conv(dim, dim)

    def forward(self, x, size):
        y = x
        for block in self.residual_group.blocks:
            y = block(y, size)
        b, n, c = y.shape
        y = self.conv(y.transpose(1, 2).reshape(b, c, *size))
        return y.flatten(2).transpose(1, 2) + x


class SwinBody(nn.Module):
    """The official `SwinBlock` (patch size 1): `patch_embed.norm`, RSTBs `layers.{i}`, `norm`; NCHW in and out."""

    def __init__(self, img_size, dim, depths, heads, window, mlp_ratio=2.0):
        super().__init__()
        self.patch_embed = nn.Module()
        self.patch_embed.norm = nn.LayerNorm(dim)
        self.layers = nn.ModuleList([_RSTB(dim, (img_size, img_size), d, h, window, mlp_ratio)
                                     for d, h in zip(depths, heads)])
        self.norm = nn.LayerNorm(dim)

    def forward(self, x):
        b, c, h, w = x.shape
        t = self.patch_embed.norm(x.flatten(2).transpose(1, 2))
        for layer in self.layers:
            t = layer(t, (h, w))
        return self.norm(t).transpose(1, 2).reshape(b, c, h, w)


class _DynAggFlowSim(_DynAgg):
    """`DCN_sep_pre_multi_offset_flow_similarity`: C2-Matching's DCN keys; bounded offsets, similarity-scaled masks."""

    def __init__(self, channels, groups, max_residue_magnitude=10.0):
        super().__init__(channels, groups)
        self.max_residue_magnitude = max_residue_magnitude

    def forward(self, x, features, pre_offset, similarity):
        out = self.conv_offset_mask(features)
        n = self.groups * 18
        offset = self.max_residue_magnitude * torch.tanh(out[:, :n])
        mask = torch.sigmoid(out[:, n:] * similarity)
        pre = pre_offset.repeat(1, self.groups, 1, 1, 1)          # (B, 9 G, H, W, [x, y])
        offset = offset + torch.stack([pre[..., 1], pre[..., 0]], 2).reshape(offset.shape)
        return modulated_deform_conv(x, offset, mask, self.weight, self.bias, self.groups)


def flow_warp(x, flow):
    """`x (B, C, H, W)` sampled at pixel + `flow (B, H, W, [x, y])`: bilinear, zeros outside, align_corners."""
    _, _, h, w = x.shape
    ys, xs = torch.meshgrid(torch.arange(h, dtype=x.dtype), torch.arange(w, dtype=x.dtype), indexing="ij")
    gx = 2.0 * (xs + flow[..., 0]) / max(w - 1, 1) - 1.0
    gy = 2.0 * (ys + flow[..., 1]) / max(h - 1, 1) - 1.0
    return F.grid_sample(x, torch.stack([gx, gy], -1), mode="bilinear", padding_mode="zeros", align_corners=True)


class _Restoration(nn.Module):
    """`SwinUnetv3RestorationNet`: `content_extractor` (unused) + `dyn_agg_restore` (the U-Net)."""

    def __init__(self, ngf, n_blocks, groups, depths, heads, window, vgg_widths, img_size):
        super().__init__()
        self.content_extractor = nn.Module()
        self.content_extractor.conv_first = _conv(3, ngf)
        self.content_extractor.body = nn.Sequential(*[_Block(ngf) for _ in range(n_blocks)])
        r = self.dyn_agg_restore = nn.Module()
        r.unet_head = _conv(3, ngf)
        sizes = {"relu1_1": img_size[0], "relu2_1": img_size[1], "relu3_1": img_size[2]}
        for stage, level in STAGES:
            c = vgg_widths[LEVEL_INDEX[level]]
            a, b = stage.split("_")
            setattr(r, f"{stage}_offset_conv1", _conv(ngf + 2 * c, c))
            setattr(r, f"{stage}_offset_conv2", _conv(c, c))
            setattr(r, f"{stage}_dyn_agg", _DynAggFlowSim(c, groups))
            setattr(r, f"{a}_head_{b}", nn.Sequential(_conv(ngf + c, ngf), nn.LeakyReLU(0.1)))
            setattr(r, f"{a}_body_{b}", SwinBody(sizes[level], ngf, depths, heads, window))
        r.down_tail_large = _conv(ngf, ngf, stride=2)
        r.down_tail_medium = _conv(ngf, ngf, stride=2)
        r.up_tail_small = nn.Sequential(_conv(ngf, 4 * ngf), nn.PixelShuffle(2), nn.LeakyReLU(0.1))
        r.up_tail_medium = nn.Sequential(_conv(ngf, 4 * ngf), nn.PixelShuffle(2), nn.LeakyReLU(0.1))
        r.up_tail_large = nn.Sequential(_conv(ngf, ngf // 2), nn.LeakyReLU(0.1), _conv(ngf // 2, 3))

    def forward(self, lr, pre_offset_flow_sim, ref_feats):
        """`lr` in [0, 1]; `[pre_offsets, flows, similarities]` dicts by VGG level; `ref_feats` by level."""
        pre_offset, pre_flow, pre_sim = pre_offset_flow_sim
        lrelu = lambda t: F.leaky_relu(t, 0.1)  # noqa: E731
        r = self.dyn_agg_restore
        base = F.interpolate(lr, scale_factor=4, mode="bilinear", align_corners=False)
        warped = {level: flow_warp(ref_feats[level], pre_flow[level]) for level in LEVEL_INDEX}
        x0 = x = r.unet_head(base)
        skips = {"up_medium": None, "up_large": x0}
        for stage, level in STAGES:
            a, b = stage.split("_")
            guide = lrelu(getattr(r, f"{stage}_offset_conv1")(torch.cat([x, warped[level], ref_feats[level]], 1)))
            guide = lrelu(getattr(r, f"{stage}_offset_conv2")(guide))
            swapped = lrelu(getattr(r, f"{stage}_dyn_agg")(ref_feats[level], guide, pre_offset[level],
                                                           pre_sim[level]))
            fused = x if skips.get(stage) is None else x + skips[stage]
            h = getattr(r, f"{a}_head_{b}")(torch.cat([fused, swapped], 1))
            h = getattr(r, f"{a}_body_{b}")(h) + x
            x = getattr(r, f"{a}_tail_{b}")(h)
            if stage == "down_large":
                skips["up_medium"] = x
        return x + base


def flow_similarity(feat_in, feat_ref):
    """`[pre_offsets, flows, similarities]` by VGG level, as `FlowSimCorrespondenceGenerationArch` (no VGG).

    pre-offsets `(B, 9, sH, sW, [x, y])` (C2-Matching's), flows `(B, sH, sW, [x, y])` (their unshifted copy),
    similarities `(B, 1, sH, sW)`: the best cosine of the per-pixel-normalized 3x3 patches, padded by one.
    """
    pre_offsets = correspondence(feat_in, feat_ref)
    flows = {level: offsets[:, 0] for level, offsets in pre_offsets.items()}
    sims = []
    for a, b in zip(feat_in, feat_ref):
        c, h, w = a.shape
        a = F.normalize(a.reshape(c, -1), dim=0).view(1, c, h, w)
        b = F.normalize(b.reshape(c, -1), dim=0).view(1, c, h, w)
        keys = F.unfold(b, 3)[0]
        keys = keys / (keys.norm(dim=0, keepdim=True) + 1e-5)
        queries = F.unfold(a, 3)[0]                                  # (9 C, N)
        best = (queries.t() @ keys).max(dim=1).values / (queries.norm(dim=0) + 1e-5)
        sims.append(F.pad(best.view(1, h - 2, w - 2), (1, 1, 1, 1)))
    sim = torch.stack(sims, 0)                                        # (B, 1, H, W)
    similarities = {"relu3_1": sim, "relu2_1": sim.repeat_interleave(2, 2).repeat_interleave(2, 3),
                    "relu1_1": sim.repeat_interleave(4, 2).repeat_interleave(4, 3)}
    return [pre_offsets, flows, similarities]


class DATSR(nn.Module):
    """The official test model: `extractor` -> `flow_similarity` + `vgg` reference features -> `restoration`."""

    def __init__(self, ngf=128, n_blocks=8, groups=8, depths=(4, 4), num_heads=(4, 4), window_size=8,
                 vgg_widths=(64, 128, 256), contrastive_widths=(64, 128, 256), img_size=(160, 80, 40)):
        super().__init__()
        self.restoration = _Restoration(ngf, n_blocks, groups, tuple(depths), tuple(num_heads), window_size,
                                        tuple(vgg_widths), tuple(img_size))
        self.extractor = _ContrasExtractorSep(contrastive_widths)
        self.vgg = vgg19_features(tuple(vgg_widths) + (8, 8))

    def forward(self, lr, lr_up, ref):
        feat_in = self.extractor.feature_extraction_image1(lr_up)
        feat_ref = self.extractor.feature_extraction_image2(ref)
        return self.restoration(lr, flow_similarity(feat_in, feat_ref), self.vgg.levels(ref))
