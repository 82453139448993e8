"""PyTorch LIIF and Meta-RDN in the official state-dict layouts, for checkpoint-conversion parity tests.

spandrel has neither arbitrary-scale model. Written here from the papers and the
official code's module structure (never copied), so that `state_dict()` has the
official key names and shapes:

* `LIIF` (Chen et al., CVPR 2021; yinboc/liif `models/liif.py`, `edsr.py`, `rdn.py`, `mlp.py`):
  `encoder` (EDSR-baseline with its unused `sub_mean`/`add_mean` MeanShift convs at rgb_range 1, or
  RDN, both without upsampler) and `imnet` (`layers` = Linear/ReLU pairs). `forward(inp, coord,
  cell)` takes the normalized image `(x - 0.5) / 0.5` and `coord`/`cell` `(B, Q, 2)` as `(y, x)`,
  and returns the normalized RGB `(B, Q, 3)`: 3x3 feature unfolding, the four-code local ensemble
  (`grid_sample` nearest, shifts of a half latent cell plus 1e-6, clamped), relative coordinates and
  cell in latent pixels, area weights with the diagonal swap. `spec(...)` gives the official
  checkpoint container `{"model": {"name", "args", "sd"}, ...}`.
* `MetaRDN` (Hu et al., CVPR 2019; XuecaiHu/Meta-SR-Pytorch `model/metardn.py`, `trainer.py`):
  `sub_mean`/`add_mean` (rgb_range 255, DIV2K mean), the RDN body, `P2W.meta_block`
  (Linear(3, 256), ReLU, Linear(256, 9 G0 * 3)). `forward(x, scale)` on [0, 255] returns the
  `int(scale * h) x int(scale * w)` image: output pixel `(i, j)` takes LR pixel
  `(floor(i / s), floor(j / s))` (positions `arange(out) * (1 / s)` in float32 as the official
  `input_matrix_wpn`) and the filter `P2W(1 / s, frac(i / s), frac(j / s))` viewed as `(9 G0, 3)`,
  applied to the `F.unfold` 3x3 neighbourhood. This is the per-pixel form of the official code, which
  lays the same products out on a `ceil(s) h x ceil(s) w` grid and keeps the valid ones with a mask.

Example:
    >>> net = LIIF("edsr-baseline", n_resblocks=2, n_feats=8, hidden=(16, 16))
    >>> net(inp, coord, cell).shape                      # (B, Q, 3)
    >>> MetaRDN(blocks=2, layers=2, growth=4, g0=8)(x, 2.5).shape
"""

import torch
import torch.nn as nn
import torch.nn.functional as F

__all__ = ["LIIF", "MetaRDN", "make_coord", "DIV2K_RGB_MEAN"]

DIV2K_RGB_MEAN = (0.4488, 0.4371, 0.4040)


def _conv(cin, cout, k=3):
    return nn.Conv2d(cin, cout, k, padding=k // 2)


class _MeanShift(nn.Conv2d):
    def __init__(self, rgb_range, sign, mean=DIV2K_RGB_MEAN):
        super().__init__(3, 3, 1)
        with torch.no_grad():
            self.weight.copy_(torch.eye(3).view(3, 3, 1, 1))
            self.bias.copy_(sign * rgb_range * torch.tensor(mean))
        for p in self.parameters():
            p.requires_grad = False


class _ResBlock(nn.Module):
    def __init__(self, f, res_scale):
        super().__init__()
        self.body = nn.Sequential(_conv(f, f), nn.ReLU(True), _conv(f, f))
        self.res_scale = res_scale

    def forward(self, x):
        return x + self.body(x) * self.res_scale


class _EDSREncoder(nn.Module):
    def __init__(self, n_resblocks, n_feats, res_scale):
        super().__init__()
        self.sub_mean, self.add_mean = _MeanShift(1, -1), _MeanShift(1, 1)  # built, never called (as LIIF's)
        self.head = nn.Sequential(_conv(3, n_feats))
        self.body = nn.Sequential(*[_ResBlock(n_feats, res_scale) for _ in range(n_resblocks)], _conv(n_feats, n_feats))
        self.out_dim = n_feats

    def forward(self, x):
        x = self.head(x)
        return self.body(x) + x


class _DenseLayer(nn.Module):
    def __init__(self, cin, growth):
        super().__init__()
        self.conv = nn.Sequential(_conv(cin, growth), nn.ReLU())

    def forward(self, x):
        return torch.cat([x, self.conv(x)], 1)


class _RDB(nn.Module):
    def __init__(self, g0, growth, layers):
        super().__init__()
        self.convs = nn.Sequential(*[_DenseLayer(g0 + c * growth, growth) for c in range(layers)])
        self.LFF = nn.Conv2d(g0 + layers * growth, g0, 1)

    def forward(self, x):
        return x + self.LFF(self.convs(x))


class _RDNBody(nn.Module):
    """SFENet1/2, RDBs, GFF and the global skip (RDN without `UPNet`)."""

    def __init__(self, g0, blocks, layers, growth):
        super().__init__()
        self.SFENet1, self.SFENet2 = _conv(3, g0), _conv(g0, g0)
        self.RDBs = nn.ModuleList([_RDB(g0, growth, layers) for _ in range(blocks)])
        self.GFF = nn.Sequential(nn.Conv2d(blocks * g0, g0, 1), _conv(g0, g0))
        self.out_dim = g0

    def features(self, x):
        shallow = self.SFENet1(x)
        x = self.SFENet2(shallow)
        outs = []
        for block in self.RDBs:
            x = block(x)
            outs.append(x)
        return self.GFF(torch.cat(outs, 1)) + shallow

    forward = features


class _MLP(nn.Module):
    def __init__(self, in_dim, out_dim, hidden):
        super().__init__()
        layers, width = [], in_dim
        for units in hidden:
            layers += [nn.Linear(width, units), nn.ReLU()]
            width = units
        layers.append(nn.Linear(width, out_dim))
        self.layers = nn.Sequential(*layers)

    def forward(self, x):
        return self.layers(x)


def make_coord(h, w):
    """Pixel-centre coordinates `(h * w, 2)` as `(y, x)` in [-1, 1] (row-major)."""
    ys = -1 + (2 * torch.arange(h, dtype=torch.float32) + 1) / h
    xs = -1 + (2 * torch.arange(w, dtype=torch.float32) + 1) / w
    return torch.stack(torch.meshgrid(ys, xs, indexing="ij"), -1).view(-1, 2)


def _nearest(grid, coord):
    """`grid (B, C, H, W)` at `coord (B, Q, 2)` `(y, x)`, nearest, `align_corners=False`: `(B, Q, C)`."""
    return F.grid_sample(grid, coord.flip(-1).unsqueeze(1), mode="nearest", align_corners=False)[:, :, 0, :] \
        .permute(0, 2, 1)


class LIIF(nn.Module):
    def __init__(self, encoder="edsr-baseline", n_resblocks=16, n_feats=64, res_scale=1.0, rdn=(16, 8, 64),
                 hidden=(256, 256, 256, 256), feat_unfold=True, local_ensemble=True, cell_decode=True):
        super().__init__()
        self.encoder_name = encoder
        if encoder in ("edsr-baseline", "edsr"):
            self.encoder = _EDSREncoder(n_resblocks, n_feats, res_scale)
        else:
            self.encoder = _RDNBody(n_feats, *rdn)
        in_dim = self.encoder.out_dim * (9 if feat_unfold else 1) + 2 + (2 if cell_decode else 0)
        self.imnet = _MLP(in_dim, 3, hidden)
        self.feat_unfold, self.local_ensemble, self.cell_decode = feat_unfold, local_ensemble, cell_decode
        self.hidden, self.n_resblocks, self.n_feats, self.res_scale = list(hidden), n_resblocks, n_feats, res_scale

    def forward(self, inp, coord, cell):
        feat = self.encoder(inp)
        b, c, h, w = feat.shape
        if self.feat_unfold:
            feat = F.unfold(feat, 3, padding=1).view(b, c * 9, h, w)
        centres = make_coord(h, w).permute(1, 0).view(1, 2, h, w).expand(b, 2, h, w)
        if self.local_ensemble:
            shifts, eps = [(-1, -1), (-1, 1), (1, -1), (1, 1)], 1e-6
        else:
            shifts, eps = [(0, 0)], 0.0
        preds, areas = [], []
        for vy, vx in shifts:
            shifted = coord.clone()
            shifted[..., 0] += vy / h + eps
            shifted[..., 1] += vx / w + eps
            shifted = shifted.clamp(-1 + 1e-6, 1 - 1e-6)
            code, centre = _nearest(feat, shifted), _nearest(centres, shifted)
            rel = (coord - centre) * torch.tensor([h, w], dtype=coord.dtype)
            parts = [code, rel] + ([cell * torch.tensor([h, w], dtype=cell.dtype)] if self.cell_decode else [])
            preds.append(self.imnet(torch.cat(parts, -1)))
            areas.append((rel[..., 0] * rel[..., 1]).abs() + 1e-9)
        if not self.local_ensemble:
            return preds[0]
        total = sum(areas)
        return sum(p * (a / total).unsqueeze(-1) for p, a in zip(preds, reversed(areas)))

    def spec(self):
        """The official checkpoint container (`train_liif.py`'s `sv_file`)."""
        if self.encoder_name in ("edsr-baseline", "edsr"):
            encoder_args = {"n_resblocks": self.n_resblocks, "n_feats": self.n_feats, "res_scale": self.res_scale,
                            "no_upsampling": True}
        else:
            encoder_args = {"G0": self.n_feats, "no_upsampling": True}
        args = {"encoder_spec": {"name": self.encoder_name, "args": encoder_args},
                "imnet_spec": {"name": "mlp", "args": {"out_dim": 3, "hidden_list": self.hidden}},
                "local_ensemble": self.local_ensemble, "feat_unfold": self.feat_unfold,
                "cell_decode": self.cell_decode}
        sd = {k: v.detach().clone() for k, v in self.state_dict().items()}
        return {"model": {"name": "liif", "args": args, "sd": sd},
                "optimizer": {"name": "adam", "args": {"lr": 1e-4}, "sd": {"state": {}, "param_groups": []}},
                "epoch": 1000}


class MetaRDN(nn.Module):
    def __init__(self, blocks=16, layers=8, growth=64, g0=64, hidden=256):
        super().__init__()
        self.sub_mean, self.add_mean = _MeanShift(255, -1), _MeanShift(255, 1)
        body = _RDNBody(g0, blocks, layers, growth)
        self.SFENet1, self.SFENet2, self.RDBs, self.GFF = body.SFENet1, body.SFENet2, body.RDBs, body.GFF
        self.P2W = nn.Module()
        self.P2W.meta_block = nn.Sequential(nn.Linear(3, hidden), nn.ReLU(True), nn.Linear(hidden, 9 * g0 * 3))

    def forward(self, x, scale):
        x = self.sub_mean(x)
        shallow = self.SFENet1(x)
        y = self.SFENet2(shallow)
        outs = []
        for block in self.RDBs:
            y = block(y)
            outs.append(y)
        feat = self.GFF(torch.cat(outs, 1)) + shallow
        b, c, h, w = feat.shape
        out_h, out_w = int(scale * h), int(scale * w)
        proj_y = torch.arange(out_h).float().mul(1.0 / scale)
        proj_x = torch.arange(out_w).float().mul(1.0 / scale)
        row, col = torch.floor(proj_y), torch.floor(proj_x)
        pos = torch.stack([torch.full((out_h, out_w), 1.0 / scale),
                           (proj_y - row)[:, None].expand(out_h, out_w),
                           (proj_x - col)[None, :].expand(out_h, out_w)], -1).view(-1, 3)
        weights = self.P2W.meta_block(pos).view(out_h * out_w, 9 * c, 3)
        cols = F.unfold(feat, 3, padding=1).view(b, 9 * c, h, w)
        index = (row.long()[:, None] * w + col.long()[None, :]).view(-1)
        picked = cols.view(b, 9 * c, h * w)[:, :, index]                     # (B, 9 C, out_h * out_w)
        out = torch.einsum("bkq,qko->boq", picked, weights).view(b, 3, out_h, out_w)
        return self.add_mean(out)
