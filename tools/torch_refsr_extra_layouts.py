"""PyTorch re-implementations of MASA-SR and CrossNet in the official state-dict layouts (conversion oracles).

Written here from the papers and the official code's module structure (read, never copied), so
that `state_dict()` has exactly the official key names and shapes; NCHW RGB in [0, 1]:

* `MASA`: Lu et al., CVPR 2021; dvlab-research/MASA-SR `models/archs/MASA_arch.py` (`Encoder`:
  `conv_L1/2/3`, `blk_L1/2/3`; `Decoder`: `conv_L3/2/1`, `blk_L3/2/1`, `merge_warp_x1`, `blk_x1`,
  `dram_x2/x4` (`DRAM`), `blk_x2/x4`, `conv_out`, `pAda` (`SAM`)). The match & extraction step
  (block and patch matching, no weights) is not re-implemented: `forward(lr, warps, base)` takes the
  warped reference features at x4, x2, x1 (the official `warp_ref_l` order) and the base image
  (the official `lrsr`, PyTorch's bicubic of the LR), and `encode(x)` is the shared encoder.
* `MultiscaleWarpingNet` (CrossNet): Zheng et al., ECCV 2018; htzheng/ECCV2018_CrossNet_RefSR
  `Model/MultiscaleWarpingNet.py`, `FlowNet_model.py`, `net_utils.py`, `Backward_warp_layer.py`
  (`FlowNet`, `Encoder`, `UNet_decoder_2` with its unused `post_fusion2`; backward warping with
  coordinates clamped to the image, bilinear). `forward(flow_input, sr_input, ref)`: the official
  flow comes from `input_img1_LR` (the bicubic-upsampled LR) and the reference, the encoder reads
  `input_img1_SR` (an MDSR x4 image in the paper).

Widths are parameters here (the official code fixes 64 features and FlowNet's 64 ... 1024).

Example:
    >>> net = MASA(nf=8, n_blocks=(1, 1, 1), n_blocks_dec=(1, 1, 1, 1, 1, 1))
    >>> sorted(net.state_dict())[:2]   # ['decoder.blk_L1.0.conv1.bias', 'decoder.blk_L1.0.conv1.weight']
"""

import torch
import torch.nn as nn
import torch.nn.functional as F

__all__ = ["MASA", "MultiscaleWarpingNet", "backward_warp"]


# ---------------------------------------------------------------------------------------------- MASA-SR
class _ResBlock(nn.Module):
    def __init__(self, nf):
        super().__init__()
        self.conv1 = nn.Conv2d(nf, nf, 3, 1, 1)
        self.conv2 = nn.Conv2d(nf, nf, 3, 1, 1)

    def forward(self, x):
        return x + self.conv2(F.relu(self.conv1(x)))


def _blocks(nf, n):
    return nn.Sequential(*[_ResBlock(nf) for _ in range(n)])


class _SAM(nn.Module):
    """Spatial adaptation: the instance-normalized reference re-styled by the LR's statistics plus learned maps."""

    def __init__(self, nf):
        super().__init__()
        self.conv_shared = nn.Sequential(nn.Conv2d(2 * nf, nf, 3, 1, 1), nn.ReLU())
        self.conv_gamma = nn.Conv2d(nf, nf, 3, 1, 1)
        self.conv_beta = nn.Conv2d(nf, nf, 3, 1, 1)

    def forward(self, lr, ref):
        normed = F.instance_norm(ref, eps=1e-5)
        style = self.conv_shared(torch.cat([lr, ref], 1))
        flat = lr.flatten(2)
        gamma = self.conv_gamma(style) + flat.std(-1, unbiased=True)[..., None, None]
        beta = self.conv_beta(style) + flat.mean(-1)[..., None, None]
        return normed * gamma + beta


class _DRAM(nn.Module):
    def __init__(self, nf):
        super().__init__()
        self.conv_down_a = nn.Conv2d(nf, nf, 3, 2, 1)
        self.conv_up_a = nn.ConvTranspose2d(nf, nf, 3, 2, 1, 1)
        self.conv_down_b = nn.Conv2d(nf, nf, 3, 2, 1)
        self.conv_up_b = nn.ConvTranspose2d(nf, nf, 3, 2, 1, 1)
        self.conv_cat = nn.Conv2d(2 * nf, nf, 3, 1, 1)

    def forward(self, lr, ref):
        out_a = F.relu(self.conv_up_a(F.relu(self.conv_down_a(ref)) - lr)) + ref
        res_b = lr - F.relu(self.conv_down_b(ref))
        out_b = F.relu(self.conv_up_b(res_b + lr))
        return F.relu(self.conv_cat(torch.cat([out_a, out_b], 1)))


class _MASAEncoder(nn.Module):
    def __init__(self, nf, n_blocks):
        super().__init__()
        self.conv_L1 = nn.Conv2d(3, nf, 3, 1, 1)
        self.blk_L1 = _blocks(nf, n_blocks[0])
        self.conv_L2 = nn.Conv2d(nf, nf, 3, 2, 1)
        self.blk_L2 = _blocks(nf, n_blocks[1])
        self.conv_L3 = nn.Conv2d(nf, nf, 3, 2, 1)
        self.blk_L3 = _blocks(nf, n_blocks[2])

    def forward(self, x):
        l1 = self.blk_L1(F.relu(self.conv_L1(x)))
        l2 = self.blk_L2(F.relu(self.conv_L2(l1)))
        return [l1, l2, self.blk_L3(F.relu(self.conv_L3(l2)))]


class _MASADecoder(nn.Module):
    def __init__(self, nf, n):
        super().__init__()
        self.conv_L3, self.blk_L3 = nn.Conv2d(nf, nf, 3, 1, 1), _blocks(nf, n[0])
        self.conv_L2, self.blk_L2 = nn.Conv2d(2 * nf, nf, 3, 1, 1), _blocks(nf, n[1])
        self.conv_L1, self.blk_L1 = nn.Conv2d(2 * nf, nf, 3, 1, 1), _blocks(nf, n[2])
        self.merge_warp_x1, self.blk_x1 = nn.Conv2d(2 * nf, nf, 3, 1, 1), _blocks(nf, n[3])
        self.dram_x2, self.blk_x2 = _DRAM(nf), _blocks(nf, n[4])
        self.dram_x4, self.blk_x4 = _DRAM(nf), _blocks(nf, n[5])
        self.conv_out = nn.Conv2d(nf, 3, 3, 1, 1)
        self.pAda = _SAM(nf)

    def forward(self, lr, warps):
        def up(t):
            return F.interpolate(t, scale_factor=2, mode="bilinear", align_corners=False)

        warp_x4, warp_x2, warp_x1 = warps
        f3 = up(self.blk_L3(F.relu(self.conv_L3(lr[2]))))
        f2 = up(self.blk_L2(F.relu(self.conv_L2(torch.cat([f3, lr[1]], 1)))))
        f1 = self.blk_L1(F.relu(self.conv_L1(torch.cat([f2, lr[0]], 1))))
        x1 = self.blk_x1(F.relu(self.merge_warp_x1(torch.cat([self.pAda(f1, warp_x1), f1], 1))))
        x2 = self.blk_x2(self.dram_x2(x1, self.pAda(up(x1), warp_x2)))
        x4 = self.blk_x4(self.dram_x4(x2, self.pAda(up(x2), warp_x4)))
        return self.conv_out(x4)


class MASA(nn.Module):
    def __init__(self, nf=64, n_blocks=(4, 4, 4), n_blocks_dec=(2, 2, 2, 12, 8, 4)):
        super().__init__()
        self.enc = _MASAEncoder(nf, n_blocks)
        self.decoder = _MASADecoder(nf, n_blocks_dec)

    def encode(self, x):
        return self.enc(x)

    def forward(self, lr, warps, base):
        return self.decoder(self.enc(lr), warps) + base


# ---------------------------------------------------------------------------------------------- CrossNet
def _conv_act(cin, cout, k, stride, act):
    layers = [nn.Conv2d(cin, cout, k, stride, k // 2)]
    if act == "lrelu":
        layers.append(nn.LeakyReLU(0.1))
    elif act == "selu":
        layers.append(nn.SELU())
    return nn.Sequential(*layers)


def _deconv_act(cin, cout, act):
    return nn.Sequential(nn.ConvTranspose2d(cin, cout, 4, 2, 1), nn.LeakyReLU(0.1) if act == "lrelu" else nn.SELU())


class _FlowNet(nn.Module):
    def __init__(self, widths):
        super().__init__()
        c1, c2, c3, c4, c5, c6 = widths
        self.conv1 = _conv_act(6, c1, 7, 2, "lrelu")
        self.conv2 = _conv_act(c1, c2, 5, 2, "lrelu")
        self.conv3, self.conv3_1 = _conv_act(c2, c3, 5, 2, "lrelu"), _conv_act(c3, c3, 3, 1, "lrelu")
        self.conv4, self.conv4_1 = _conv_act(c3, c4, 3, 2, "lrelu"), _conv_act(c4, c4, 3, 1, "lrelu")
        self.conv5, self.conv5_1 = _conv_act(c4, c5, 3, 2, "lrelu"), _conv_act(c5, c5, 3, 1, "lrelu")
        self.conv6, self.conv6_1 = _conv_act(c5, c6, 3, 2, "lrelu"), _conv_act(c6, c6, 3, 1, "lrelu")
        ins = [c6, c5 + 256 + 2, c4 + 256 + 2, c3 + 128 + 2, c2 + 64 + 2, c1 + 64 + 2]
        outs = [256, 256, 128, 64, 64, 64]
        for level, cin, cout in zip(range(6, 0, -1), ins, outs):
            setattr(self, f"flow{level}", _conv_act(cin, 2, 3, 1, None))
            setattr(self, f"flow{level}_up", nn.ConvTranspose2d(2, 2, 4, 2, 1))
            setattr(self, f"deconv{level - 1}", _deconv_act(cin, cout, "lrelu"))
        self.concat0_conv1 = _conv_act(3 + 64 + 2, 16, 7, 1, "selu")
        self.concat0_conv2 = _conv_act(16, 16, 7, 1, "selu")
        self.flow_12 = _conv_act(16, 2, 3, 1, None)

    def forward(self, image, ref):
        conv1 = self.conv1(torch.cat([image, ref], 1))
        conv2 = self.conv2(conv1)
        conv3 = self.conv3_1(self.conv3(conv2))
        conv4 = self.conv4_1(self.conv4(conv3))
        conv5 = self.conv5_1(self.conv5(conv4))
        h = self.conv6_1(self.conv6(conv5))
        flows = {}
        for level, skip in zip(range(6, 0, -1), (conv5, conv4, conv3, conv2, conv1, ref)):
            flows[level] = getattr(self, f"flow{level}")(h)
            h = torch.cat([skip, getattr(self, f"deconv{level - 1}")(h), getattr(self, f"flow{level}_up")(flows[level])],
                          1)
        full = self.flow_12(self.concat0_conv2(self.concat0_conv1(h)))
        return full, flows[1], flows[2], flows[3]


class _CrossNetEncoder(nn.Module):
    def __init__(self, f):
        super().__init__()
        self.layer_f = _conv_act(3, f, 5, 1, "selu")
        self.conv1 = _conv_act(f, f, 5, 1, "selu")
        self.conv2 = _conv_act(f, f, 5, 2, "selu")
        self.conv3 = _conv_act(f, f, 5, 2, "selu")
        self.conv4 = _conv_act(f, f, 5, 2, "selu")

    def forward(self, x):
        conv1 = self.conv1(self.layer_f(x))
        conv2 = self.conv2(conv1)
        conv3 = self.conv3(conv2)
        return conv1, conv2, conv3, self.conv4(conv3)


class _UNetDecoder(nn.Module):
    def __init__(self, f):
        super().__init__()
        self.warp_deconv4 = _deconv_act(2 * f, f, "selu")
        self.warp_deconv3 = _deconv_act(3 * f, f, "selu")
        self.warp_deconv2 = _deconv_act(3 * f, f, "selu")
        self.post_fusion1 = _conv_act(3 * f, f, 5, 1, "selu")
        self.post_fusion2 = _conv_act(f, f, 5, 1, "selu")  # built, never used by the forward pass
        self.final = _conv_act(f, 3, 5, 1, None)

    def forward(self, sr, warped):
        x = self.warp_deconv4(torch.cat([sr[3], warped[3]], 1))
        x = self.warp_deconv3(torch.cat([x, sr[2], warped[2]], 1))
        x = self.warp_deconv2(torch.cat([x, sr[1], warped[1]], 1))
        return self.final(self.post_fusion1(torch.cat([x, sr[0], warped[0]], 1)))


def backward_warp(x, flow):
    """`x` sampled at `grid + flow` (pixels, `(dx, dy)`), coordinates clamped to the image, bilinear."""
    b, c, h, w = x.shape
    ys, xs = torch.meshgrid(torch.arange(h, dtype=x.dtype), torch.arange(w, dtype=x.dtype), indexing="ij")
    px = (xs + flow[:, 0]).clamp(0, w - 1)
    py = (ys + flow[:, 1]).clamp(0, h - 1)
    x0, y0 = px.floor(), py.floor()
    fx, fy = px - x0, py - y0
    x0, y0 = x0.long(), y0.long()
    x1, y1 = (x0 + 1).clamp(max=w - 1), (y0 + 1).clamp(max=h - 1)
    flat = x.flatten(2)  # (B, C, H*W)

    def at(yy, xx):
        return torch.gather(flat, 2, (yy * w + xx).flatten(1)[:, None].expand(b, c, -1)).view(b, c, h, w)

    fx, fy = fx[:, None], fy[:, None]
    return (at(y0, x0) * (1 - fx) * (1 - fy) + at(y1, x0) * (1 - fx) * fy + at(y0, x1) * fx * (1 - fy)
            + at(y1, x1) * fx * fy)


class MultiscaleWarpingNet(nn.Module):
    def __init__(self, flow_widths=(64, 128, 256, 512, 512, 1024), features=64):
        super().__init__()
        self.FlowNet = _FlowNet(flow_widths)
        self.Encoder = _CrossNetEncoder(features)
        self.UNet_decoder_2 = _UNetDecoder(features)

    def forward(self, flow_input, sr_input, ref):
        flows = self.FlowNet(flow_input, ref)
        warped = [backward_warp(feat, flow) for feat, flow in zip(self.Encoder(ref), flows)]
        return self.UNet_decoder_2(self.Encoder(sr_input), warped)
