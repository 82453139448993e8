"""An independent PyTorch Cross-MPI (the learned network) whose weights carry the official TF-slim variable names.

Written for keras-sr's converter test from the paper (Zhou et al., "Cross-MPI: Cross-scale Stereo
for Image Super-Resolution using Multiplane Images", CVPR 2021) and the structure of the official
TF1 code (Mayzazhou/Cross-MPI `crossmpi/nets.py` `f_extract_net(dense_res_aspp=True)`,
`guided_att_hr_syn_net(nnup=True)` with the low-res branch, `res_fuse_net`; `crossmpi/mpi.py`
`attention_ref_sr` for `which_model_predict=guided_nnup_denseASPP_lowres_image_psv_lowresL1`). No
code is taken from it. The modules are nested under the official scopes, so
`CrossMPI().state_dict()` keys are the TF variable names with `.` for `/` and PyTorch's
`weight`/`bias` for slim's `weights`/`biases`; `tf_variables(net)` gives the exact official
names (`f_extract_net/module0/aspp1/c2d4/weights`) with kernels in TF's HWIO layout, as
`tf.train.Saver` stores them.

What the network is given (NCHW, [-1, 1]): `net_input` = `[target | psv_0 | ... | psv_{D-1}]`
(3 (D + 1) channels at HR, the official `format_network_input` packing, planes furthest first)
and `net_input_lowres` = the same at 1/4 (the official `psvs_lowres_syn`). The plane sweep
itself (homographies from cameras in the official code) is not part of it: the test feeds both
sides the same planes. TF's "SAME" padding (asymmetric for the stride-2 convs) is written out;
every conv has a ReLU unless said otherwise (TF-slim's default); `aspp0/co` is one conv used by
the three ASPP steps (the official `tf.AUTO_REUSE`).

Example:
    >>> net = CrossMPI(num_planes=3, ngf=4, extractor_ngf=4)
    >>> out = net(net_input, net_input_lowres)         # {"sr_out", "hr_syn", "init_syn", ...}
    >>> variables = tf_variables(net)                  # official name -> numpy array (HWIO kernels)
"""

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["CrossMPI", "tf_variables", "tf_same_conv"]


def tf_same_conv(x, conv, stride=1, dilation=1):
    """`conv` (an `nn.Conv2d` without padding) applied with TF's "SAME" padding (extra pixel bottom/right)."""
    k = conv.weight.shape[-1]
    extent = dilation * (k - 1) + 1
    pads = []
    for size in (x.shape[3], x.shape[2]):  # F.pad order: width first
        out = math.ceil(size / stride)
        total = max((out - 1) * stride + extent - size, 0)
        pads += [total // 2, total - total // 2]
    return F.conv2d(F.pad(x, pads), conv.weight, conv.bias, stride=stride, dilation=dilation)


class _Scope(nn.Module):
    """Modules nested by a slash path (`scope.add("res_in/c1", conv)`), as TF variable scopes nest."""

    def add(self, path, module):
        head, _, rest = path.partition("/")
        if not rest:
            self.add_module(head, module)
            return module
        if not hasattr(self, head):
            self.add_module(head, _Scope())
        return getattr(self, head).add(rest, module)

    def get(self, path):
        node = self
        for part in path.split("/"):
            node = getattr(node, part)
        return node


def _conv(cin, cout, k=3):
    return nn.Conv2d(cin, cout, k, padding=0, bias=True)


class _Net(_Scope):
    def conv(self, path, cin, cout, k=3):
        return self.add(path, _conv(cin, cout, k))

    def run(self, path, x, stride=1, dilation=1, act=F.relu):
        y = tf_same_conv(x, self.get(path), stride, dilation)
        return act(y) if act is not None else y


class FExtractNet(_Net):
    """`f_extract_net(dense_res_aspp=True)`: conv, res block, `aspp_levels` ASPP steps (shared `aspp0/co`), res, 1x1."""

    def __init__(self, ngf=64, aspp_levels=3, out_channels=None):
        super().__init__()
        e, self.aspp_levels = ngf, aspp_levels
        self.conv("conv_in", 3, e)
        self.conv("res_in/c1", e, e)
        self.conv("res_in/c2", e, e)
        for j in range(aspp_levels):
            for name in ("c1d1", "c2d4", "c3d8"):
                self.conv(f"module0/aspp{j}/{name}", e, e)
        self.conv("aspp0/co", 3 * e, e, 1)
        for name in ("c1", "c2", "co"):
            self.conv(f"res0/{name}", e, e)
        self.conv("conv_out", e, out_channels or e // 8, 1)

    def forward(self, x):
        net = self.run("conv_in", x)
        net = net + self.run("res_in/c2", self.run("res_in/c1", net))
        aspp = net
        for j in range(self.aspp_levels):
            parts = [self.run(f"module0/aspp{j}/{name}", aspp, dilation=rate)
                     for name, rate in (("c1d1", 1), ("c2d4", 4), ("c3d8", 8))]
            aspp = self.run("aspp0/co", torch.cat(parts, 1))
            net = net + aspp
        net = net + self.run("res0/c2", self.run("res0/c1", net))
        net = self.run("res0/co", net)
        return self.run("conv_out", net, act=None)


class GuidedAttHrSynNet(_Net):
    """`guided_att_hr_syn_net(nnup=True)` with the low-res branch: attention refinement, guidance encoder, decoder."""

    BLOCKS = ("guid_lv0_res", "guid_lv1_res", "guid_lv2_res", "a_lv2_res0", "a_lv2_res_com2", "a_lv1_res_com1",
              "a_lv0_res_com0")

    def __init__(self, num_planes=32, ngf=64, res_repeat=3):
        super().__init__()
        d, g, self.repeat = num_planes, ngf, res_repeat
        self.conv("attention_out_0", d, g)
        self.conv("attention_out_1", g, g)
        self.conv("attention_out_2", g, g)
        self.conv("attention_out", g, d, 1)
        inputs = {"guid_lv0_res": 3 * (d + 1), "a_lv2_res0": d}
        for name in self.BLOCKS:
            cin = inputs.get(name, 2 * g if name.startswith("a_lv") else g)
            self.conv(f"{name}/in", cin, g)
            for j in range(res_repeat):
                for c in ("c1", "c2", "c3"):
                    self.conv(f"{name}/b{j}/{c}", g, g)
            self.conv(f"{name}/out", g, g)
        self.conv("guid_lv1_down", g, g)
        self.conv("guid_lv2_down", g, g)
        self.conv("a_out1", g, d, 1)

    def block(self, x, name):
        x = self.run(f"{name}/in", x)
        for j in range(self.repeat):
            x = x + self.run(f"{name}/b{j}/c3", self.run(f"{name}/b{j}/c2", self.run(f"{name}/b{j}/c1", x)))
        return self.run(f"{name}/out", x)

    def forward(self, f_lr, f_planes, net_input, planes, planes_lowres):
        scores = torch.stack([(f_lr * f).sum(1) for f in f_planes], 1)         # (B, D, h, w)
        a = scores
        for i in range(3):
            a = self.run(f"attention_out_{i}", a)
        init_attention = torch.softmax(self.run("attention_out", a, act=None), 1)
        init_syn = sum(init_attention[:, i:i + 1] * p for i, p in enumerate(planes_lowres))
        g0 = self.block(net_input, "guid_lv0_res")
        g1 = self.block(self.run("guid_lv1_down", g0, stride=2), "guid_lv1_res")
        g2 = self.block(self.run("guid_lv2_down", g1, stride=2), "guid_lv2_res")
        up = lambda t: t.repeat_interleave(2, 2).repeat_interleave(2, 3)  # noqa: E731  (TF nearest, x2)
        a = self.block(init_attention, "a_lv2_res0")
        a = self.block(torch.cat([a, g2], 1), "a_lv2_res_com2")
        a = self.block(torch.cat([up(a), g1], 1), "a_lv1_res_com1")
        a = self.block(torch.cat([up(a), g0], 1), "a_lv0_res_com0")
        attention = torch.softmax(self.run("a_out1", a, act=None), 1)
        hr_syn = sum(attention[:, i:i + 1] * p for i, p in enumerate(planes))
        return hr_syn, attention, init_syn, init_attention


class ResFuseNet(_Net):
    """`res_fuse_net`: the target and `hr_syn` through convs, residual blocks, a long skip, a 1x1 conv with tanh."""

    def __init__(self, ngf=32, blocks=6):
        super().__init__()
        f, self.blocks = ngf, blocks
        self.conv("in_f_lr", 3, f)
        self.conv("in_f_hr", 3, f)
        self.conv("conv1_1", 2 * f, f)
        for i in range(blocks):
            self.conv(f"conv2_1/b{i}/c1", f, f)
            self.conv(f"conv2_1/b{i}/c2", f, f)
        self.conv("conv3_2", f, f)
        self.conv("conv4_1", f, f)
        self.conv("sr_output", f, 3, 1)

    def forward(self, target, hr_syn):
        f_lr = self.run("in_f_lr", target)
        net = self.run("conv1_1", torch.cat([f_lr, self.run("in_f_hr", hr_syn)], 1))
        for i in range(self.blocks):
            net = net + self.run(f"conv2_1/b{i}/c2", self.run(f"conv2_1/b{i}/c1", net))
        net = f_lr + self.run("conv3_2", net)
        net = self.run("conv4_1", net)
        return self.run("sr_output", net, act=torch.tanh)


class CrossMPI(nn.Module):
    """The final model's learned network under the official scopes `f_extract_net`, `net`, `fuse_part`."""

    def __init__(self, num_planes=32, ngf=64, extractor_ngf=64, feature_channels=None, fuse_ngf=32, fuse_blocks=6,
                 res_repeat=3, aspp_levels=3):
        super().__init__()
        self.num_planes = num_planes
        self.f_extract_net = FExtractNet(extractor_ngf, aspp_levels, feature_channels)
        self.net = GuidedAttHrSynNet(num_planes, ngf, res_repeat)
        self.fuse_part = ResFuseNet(fuse_ngf, fuse_blocks)

    def forward(self, net_input, net_input_lowres):
        d = self.num_planes
        planes = [net_input[:, 3 * (i + 1):3 * (i + 2)] for i in range(d)]
        planes_lowres = [net_input_lowres[:, 3 * (i + 1):3 * (i + 2)] for i in range(d)]
        f_lr = self.f_extract_net(net_input_lowres[:, :3])
        f_planes = [self.f_extract_net(p) for p in planes_lowres]
        hr_syn, attention, init_syn, init_attention = self.net(f_lr, f_planes, net_input, planes, planes_lowres)
        sr_out = self.fuse_part(net_input[:, :3], hr_syn)
        return {"sr_out": sr_out, "hr_syn": hr_syn, "attention_map": attention, "init_syn": init_syn,
                "init_attention_map": init_attention, "f_lr": f_lr}


def tf_variables(net):
    """`official TF variable name -> numpy array` of `net` (`.../weights` HWIO kernels, `.../biases`)."""
    out = {}
    for key, value in net.state_dict().items():
        path, _, kind = key.rpartition(".")
        array = value.detach().cpu().numpy()
        if kind == "weight":
            out[path.replace(".", "/") + "/weights"] = np.ascontiguousarray(array.transpose(2, 3, 1, 0))
        elif kind == "bias":
            out[path.replace(".", "/") + "/biases"] = array.copy()
        else:
            raise ValueError(f"unexpected tensor {key}")
    return out
