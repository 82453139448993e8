"""PyTorch re-implementations of DASR, SMSR and ClassSR in the official state-dict layouts (conversion oracles).

Written here from the papers and the official code's module structure (read, never copied), so
that `state_dict()` has exactly the official key names and shapes and `forward` computes the
official inference network on NCHW RGB:

* `BlindSR` (DASR): Wang et al., CVPR 2021; The-Learning-And-Vision-Atelier-LAVA/DASR
  `model/blindsr.py` and `moco/builder.py`: `G` (the degradation-aware generator: MeanShift,
  `compress`, `head`, `body` of DAGs of DABs with DA convs, `tail`) and `E` (MoCo: `encoder_q`
  and `encoder_k`, each `E` six conv + BN + LeakyReLU and an `mlp` head, and the `queue` /
  `queue_ptr` buffers). Inference: `G(x, E.encoder_q.E(x))`, on [0, 255]. The widths are
  parameters here (the official code fixes 64 features and a 256-d representation);
  `released_state_dict()` drops `E.encoder_k.*` and the queue as the official `trainer.py` saves.
* `SMSR`: Wang et al., CVPR 2021; LongguangWang/SMSR `model/smsr.py` (`SMM`, `SMB`, `CALayer`).
  Inference with hard masks, written as the official sparse convolution's channel split (dense
  channels everywhere, sparse ones and every part reading sparse input only at the masked
  positions), with plain dense convolutions of the split kernels instead of the official
  gather / `torch.mm`; PyTorch's bicubic skip (`F.interpolate`), on [0, 255].
* `ClassSRFSRCNN`, `ClassSRRCAN`: Kong et al., CVPR 2021; XPixelGroup/ClassSR
  `codes/models/archs/classSR_fsrcnn_arch.py`, `classSR_rcan_arch.py`, `FSRCNN_arch.py`,
  `RCAN_arch.py`: `classifier` (`CondNet`, `lastOut`) and `net1` ... `net3`; inference routes each
  image to its argmax branch. FSRCNN on [0, 1]; RCAN on [0, 255] with MeanShifts at
  `rgb_range` 1 (as the official ClassSR RCAN), the classifier on `x / 255`.

Example:
    >>> net = BlindSR(scale=2, filters=8, num_groups=1, num_blocks=1, reduction=4, encoder_widths=(8, 8, 16))
    >>> sorted(net.released_state_dict())[:2]   # ['E.encoder_q.E.0.bias', 'E.encoder_q.E.0.weight']
    >>> net(255 * torch.rand(1, 3, 8, 8)).shape  # (1, 3, 16, 16)
"""

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

__all__ = ["BlindSR", "SMSR", "ClassSRFSRCNN", "ClassSRRCAN", "FSRCNN", "RCAN", "DIV2K_RGB_MEAN"]

DIV2K_RGB_MEAN = (0.4488, 0.4371, 0.4040)


def _conv(cin, cout, k=3, bias=True):
    return nn.Conv2d(cin, cout, k, padding=k // 2, bias=bias)


class MeanShift(nn.Conv2d):
    """`x + sign * rgb_range * mean` as a frozen 1x1 conv (EDSR-PyTorch's parameterization, std 1)."""

    def __init__(self, rgb_range=255.0, rgb_mean=DIV2K_RGB_MEAN, sign=-1):
        super().__init__(3, 3, 1)
        with torch.no_grad():
            self.weight.copy_(torch.eye(3).view(3, 3, 1, 1))
            self.bias.copy_(sign * rgb_range * torch.tensor(rgb_mean))
        for p in self.parameters():
            p.requires_grad = False


def _upsampler(scale, n_feats):
    steps = [3] if scale == 3 else [2] * int(math.log2(scale))
    layers = []
    for r in steps:
        layers += [_conv(n_feats, r * r * n_feats), nn.PixelShuffle(r)]
    return nn.Sequential(*layers)


# ---------------------------------------------------------------------------------------------- DASR
class _ChannelGate(nn.Module):
    """CA_layer: `x * sigmoid(W2 lrelu(W1 r))`, the W's 1x1 convs without bias."""

    def __init__(self, channels, reduction):
        super().__init__()
        self.conv_du = nn.Sequential(nn.Conv2d(channels, channels // reduction, 1, bias=False), nn.LeakyReLU(0.1),
                                     nn.Conv2d(channels // reduction, channels, 1, bias=False), nn.Sigmoid())

    def forward(self, x, r):
        return x * self.conv_du(r[:, :, None, None])


class _DAConv(nn.Module):
    def __init__(self, channels, kernel_size, reduction):
        super().__init__()
        self.k = kernel_size
        self.kernel = nn.Sequential(nn.Linear(channels, channels, bias=False), nn.LeakyReLU(0.1),
                                    nn.Linear(channels, channels * kernel_size * kernel_size, bias=False))
        self.conv = nn.Conv2d(channels, channels, 1)
        self.ca = _ChannelGate(channels, reduction)

    def forward(self, x, r):
        b, c, h, w = x.shape
        kernels = self.kernel(r).reshape(b * c, 1, self.k, self.k)
        # one depthwise convolution per sample: loop over the batch (the official folds it into the channels)
        out = torch.cat([F.conv2d(x[i:i + 1], kernels[i * c:(i + 1) * c], padding=self.k // 2, groups=c)
                         for i in range(b)], 0)
        return self.conv(F.leaky_relu(out, 0.1)) + self.ca(x, r)


class _DAB(nn.Module):
    def __init__(self, n_feat, kernel_size, reduction):
        super().__init__()
        self.da_conv1 = _DAConv(n_feat, kernel_size, reduction)
        self.da_conv2 = _DAConv(n_feat, kernel_size, reduction)
        self.conv1 = _conv(n_feat, n_feat, kernel_size)
        self.conv2 = _conv(n_feat, n_feat, kernel_size)

    def forward(self, x, r):
        act = lambda t: F.leaky_relu(t, 0.1)  # noqa: E731
        out = act(self.conv1(act(self.da_conv1(x, r))))
        return self.conv2(act(self.da_conv2(out, r))) + x


class _DAG(nn.Module):
    def __init__(self, n_feat, kernel_size, reduction, n_blocks):
        super().__init__()
        self.body = nn.Sequential(*[_DAB(n_feat, kernel_size, reduction) for _ in range(n_blocks)],
                                  _conv(n_feat, n_feat, kernel_size))

    def forward(self, x, r):
        out = x
        for block in self.body[:-1]:
            out = block(out, r)
        return self.body[-1](out) + x


class _DASRGenerator(nn.Module):
    def __init__(self, scale, filters, num_groups, num_blocks, kernel_size, reduction, representation, rgb_mean):
        super().__init__()
        self.sub_mean = MeanShift(255.0, rgb_mean, -1)
        self.add_mean = MeanShift(255.0, rgb_mean, 1)
        self.head = nn.Sequential(_conv(3, filters, kernel_size))
        self.compress = nn.Sequential(nn.Linear(representation, filters, bias=False), nn.LeakyReLU(0.1))
        self.body = nn.Sequential(*[_DAG(filters, kernel_size, reduction, num_blocks) for _ in range(num_groups)],
                                  _conv(filters, filters, kernel_size))
        self.tail = nn.Sequential(_upsampler(scale, filters), _conv(filters, 3, kernel_size))

    def forward(self, x, representation):
        r = self.compress(representation)
        x = self.head(self.sub_mean(x))
        res = x
        for group in self.body[:-1]:
            res = group(res, r)
        return self.add_mean(self.tail(self.body[-1](res) + x))


class _DegradationEncoder(nn.Module):
    def __init__(self, widths):
        super().__init__()
        w0, w1, w2 = widths
        layers, cin = [], 3
        for cout, stride in ((w0, 1), (w0, 1), (w1, 2), (w1, 1), (w2, 2), (w2, 1)):
            layers += [nn.Conv2d(cin, cout, 3, stride=stride, padding=1), nn.BatchNorm2d(cout), nn.LeakyReLU(0.1)]
            cin = cout
        self.E = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1))
        self.mlp = nn.Sequential(nn.Linear(w2, w2), nn.LeakyReLU(0.1), nn.Linear(w2, w2))

    def forward(self, x):
        return self.E(x).flatten(1)  # the representation (the MLP head serves only the contrastive loss)


class _MoCo(nn.Module):
    def __init__(self, widths, queue=32):
        super().__init__()
        self.encoder_q = _DegradationEncoder(widths)
        self.encoder_k = _DegradationEncoder(widths)
        self.encoder_k.load_state_dict(self.encoder_q.state_dict())
        for p in self.encoder_k.parameters():
            p.requires_grad = False
        self.register_buffer("queue", F.normalize(torch.randn(widths[-1], queue), dim=0))
        self.register_buffer("queue_ptr", torch.zeros(1, dtype=torch.long))


class BlindSR(nn.Module):
    """DASR's `BlindSR` (`G` + `E`); `forward(x)` is the official inference on [0, 255]."""

    def __init__(self, scale=4, filters=64, num_groups=5, num_blocks=5, kernel_size=3, reduction=8,
                 encoder_widths=(64, 128, 256), rgb_mean=DIV2K_RGB_MEAN):
        super().__init__()
        self.G = _DASRGenerator(scale, filters, num_groups, num_blocks, kernel_size, reduction, encoder_widths[-1],
                                rgb_mean)
        self.E = _MoCo(encoder_widths)

    def forward(self, x):
        return self.G(x, self.E.encoder_q(x))

    def released_state_dict(self):
        """What the official `trainer.py` saves: the state dict without `E.encoder_k.*` and the queue."""
        return {k: v for k, v in self.state_dict().items() if "E.encoder_k" not in k and "queue" not in k}


# ---------------------------------------------------------------------------------------------- SMSR
class _CALayer(nn.Module):
    def __init__(self, channels, reduction):
        super().__init__()
        self.conv_du = nn.Sequential(nn.Conv2d(channels, channels // reduction, 1), nn.ReLU(),
                                     nn.Conv2d(channels // reduction, channels, 1), nn.Sigmoid())

    def forward(self, x):
        return x * self.conv_du(x.mean((2, 3), keepdim=True))


class _SMB(nn.Module):
    def __init__(self, channels, n_layers):
        super().__init__()
        self.n_layers = n_layers
        self.ch_mask = nn.Parameter(torch.rand(1, channels, n_layers, 2))
        self.body = nn.Sequential(*[nn.Conv2d(channels, channels, 3, 1, 1, bias=False) for _ in range(n_layers)])
        self.collect = nn.Conv2d(channels * n_layers, channels, 1)

    def forward(self, x, mask):
        """Hard masks: `sparse[c, l]` where the channel's sparse logit wins (the official `softmax(3).round()`)."""
        sparse = self.ch_mask[0, :, :, 1] > self.ch_mask[0, :, :, 0]  # (C, L)
        outputs, fea = [], x
        in_dense = torch.ones(x.shape[1], dtype=torch.bool)  # the first layer reads dense input only
        for i, conv in enumerate(self.body):
            d_out, s_out = ~sparse[:, i], sparse[:, i]
            w = conv.weight
            y = torch.zeros_like(fea[:, :w.shape[0]])
            # dense -> dense everywhere; sparse input -> dense only at the mask
            y[:, d_out] = F.conv2d(fea[:, in_dense], w[d_out][:, in_dense], padding=1)
            if (~in_dense).any():
                y[:, d_out] += mask * F.conv2d(fea[:, ~in_dense], w[d_out][:, ~in_dense], padding=1)
            # every input -> sparse only at the mask
            y[:, s_out] = mask * F.conv2d(fea, w[s_out], padding=1)
            fea = F.relu(y)
            outputs.append(fea)
            in_dense = d_out
        return self.collect(torch.cat(outputs, 1))


class _SMM(nn.Module):
    def __init__(self, channels, n_layers, reduction):
        super().__init__()
        q = channels // 4
        self.spa_mask = nn.Sequential(nn.Conv2d(channels, q, 3, 1, 1), nn.ReLU(), nn.AvgPool2d(2),
                                      nn.Conv2d(q, q, 3, 1, 1), nn.ReLU(),
                                      nn.ConvTranspose2d(q, 2, 3, 2, 1, output_padding=1))
        self.body = _SMB(channels, n_layers)
        self.ca = _CALayer(channels, reduction)

    def forward(self, x):
        logits = self.spa_mask(x)
        mask = (logits[:, 1:] > logits[:, :1]).float()
        return self.ca(self.body(x, mask)) + x


class SMSR(nn.Module):
    """SMSR's inference network (hard masks, PyTorch bicubic skip) on [0, 255]."""

    def __init__(self, scale=4, n_feats=64, n_modules=5, n_layers=4, reduction=16, rgb_mean=DIV2K_RGB_MEAN):
        super().__init__()
        self.scale = scale
        self.sub_mean = MeanShift(255.0, rgb_mean, -1)
        self.add_mean = MeanShift(255.0, rgb_mean, 1)
        self.head = nn.Sequential(_conv(3, n_feats), nn.ReLU(), _conv(n_feats, n_feats))
        self.body = nn.Sequential(*[_SMM(n_feats, n_layers, reduction) for _ in range(n_modules)])
        self.collect = nn.Sequential(nn.Conv2d(n_feats * n_modules, n_feats, 1), nn.ReLU(), _conv(n_feats, n_feats))
        self.tail = nn.Sequential(_conv(n_feats, 3 * scale * scale), nn.PixelShuffle(scale))

    def forward(self, x):
        x0 = self.sub_mean(x)
        head = self.head(x0)
        features, fea = [], head
        for module in self.body:
            fea = module(fea)
            features.append(fea)
        y = self.tail(self.collect(torch.cat(features, 1)) + head)
        up = F.interpolate(x0, scale_factor=self.scale, mode="bicubic", align_corners=False)
        return self.add_mean(y + up)


# ---------------------------------------------------------------------------------------------- ClassSR
class _Classifier(nn.Module):
    def __init__(self, filters=128, features=32, classes=3):
        super().__init__()
        self.lastOut = nn.Linear(features, classes)
        layers = [nn.Conv2d(3, filters, 4, 4), nn.LeakyReLU(0.1)]
        for _ in range(3):
            layers += [nn.Conv2d(filters, filters, 1), nn.LeakyReLU(0.1)]
        self.CondNet = nn.Sequential(*layers, nn.Conv2d(filters, features, 1))

    def forward(self, x):
        return self.lastOut(self.CondNet(x).mean((2, 3)))


class FSRCNN(nn.Module):
    """ClassSR's `FSRCNN_net(3, 4, d, s, m)` on [0, 1]."""

    def __init__(self, d=56, s=12, m=4, scale=4):
        super().__init__()
        self.head_conv = nn.Sequential(nn.Conv2d(3, d, 5, 1, 2), nn.PReLU())
        layers = [nn.Sequential(nn.Conv2d(d, s, 1), nn.PReLU())]
        layers += [nn.Conv2d(s, s, 3, 1, 1) for _ in range(m)]
        layers += [nn.PReLU(), nn.Sequential(nn.Conv2d(s, d, 1), nn.PReLU())]
        self.body_conv = nn.Sequential(*layers)
        self.tail_conv = nn.ConvTranspose2d(d, 3, 9, scale, 3, output_padding=1)

    def forward(self, x):
        return self.tail_conv(self.body_conv(self.head_conv(x)))


class _RCAB(nn.Module):
    def __init__(self, n_feat, reduction):
        super().__init__()
        self.body = nn.Sequential(_conv(n_feat, n_feat), nn.ReLU(), _conv(n_feat, n_feat), _CALayer(n_feat, reduction))

    def forward(self, x):
        return self.body(x) + x


class _ResidualGroup(nn.Module):
    def __init__(self, n_feat, reduction, n_blocks):
        super().__init__()
        self.body = nn.Sequential(*[_RCAB(n_feat, reduction) for _ in range(n_blocks)], _conv(n_feat, n_feat))

    def forward(self, x):
        return self.body(x) + x


class RCAN(nn.Module):
    """ClassSR's `RCAN(..., rgb_range=1, scale=4)`: MeanShift of `rgb_range * mean` on [0, 255] input."""

    def __init__(self, n_resgroups=10, n_resblocks=20, n_feats=64, reduction=16, scale=4, rgb_range=1.0,
                 rgb_mean=DIV2K_RGB_MEAN):
        super().__init__()
        self.sub_mean = MeanShift(rgb_range, rgb_mean, -1)
        self.head = nn.Sequential(_conv(3, n_feats))
        self.body = nn.Sequential(*[_ResidualGroup(n_feats, reduction, n_resblocks) for _ in range(n_resgroups)],
                                  _conv(n_feats, n_feats))
        self.tail = nn.Sequential(_upsampler(scale, n_feats), _conv(n_feats, 3))
        self.add_mean = MeanShift(rgb_range, rgb_mean, 1)

    def forward(self, x):
        x = self.head(self.sub_mean(x))
        return self.add_mean(self.tail(self.body(x) + x))


class _ClassSR(nn.Module):
    classifier_scale = 1.0

    def forward(self, x):
        """Official inference: each image goes to the branch of its classifier's argmax."""
        out = []
        for i in range(x.shape[0]):
            image = x[i:i + 1]
            flag = int(torch.argmax(self.classifier(image * self.classifier_scale), 1))
            out.append((self.net1, self.net2, self.net3)[flag](image))
        return torch.cat(out, 0)


class ClassSRFSRCNN(_ClassSR):
    """`classSR_3class_fsrcnn_net` on [0, 1]."""

    def __init__(self, widths=(16, 36, 56), s=12, m=4, classifier_filters=128, classifier_features=32):
        super().__init__()
        self.classifier = _Classifier(classifier_filters, classifier_features)
        self.net1, self.net2, self.net3 = (FSRCNN(d, s, m) for d in widths)


class ClassSRRCAN(_ClassSR):
    """`classSR_3class_rcan` on [0, 255]; the classifier sees `x / 255`."""

    classifier_scale = 1.0 / 255.0

    def __init__(self, widths=(36, 50, 64), n_resgroups=10, n_resblocks=20, reduction=16, classifier_filters=128,
                 classifier_features=32):
        super().__init__()
        self.classifier = _Classifier(classifier_filters, classifier_features)
        self.net1, self.net2, self.net3 = (RCAN(n_resgroups, n_resblocks, w, reduction) for w in widths)
