"""A PyTorch SRNTT (content extractor + texture transfer) exported in the official TensorLayer layout (oracle).

Written here from the paper (Zhang et al., "Image Super-Resolution by Neural Texture Transfer", CVPR
2019) and the structure of the official TensorFlow 1 + TensorLayer 1.5 code (ZZUTK/SRNTT
`SRNTT/model.py` `SRNTT.model`; `SRNTT/tensorlayer/layers.py` for what each layer adds to
`all_params`; `SRNTT/tensorlayer/files.py` `save_npz`), read, never copied. The official weights are
TensorLayer `.npz` files: `np.savez(name, params=[...])` of a network's `all_params`, the variables
in creation order, TensorFlow layouts:

* `Conv2d`: `W_conv2d` (kh, kw, in, out), then `b_conv2d` (out,) unless `b_init=None`;
* `BatchNormLayer`: `beta`, `gamma`, `moving_mean`, `moving_variance` (epsilon 1e-5);
* `SubpixelConv2d` (`tf.depth_to_space`, channel order "DCR"), `ElementwiseLayer`, `ConcatLayer`,
  `InputLayer`: no variables (the merges keep the first occurrence of each, i.e. creation order).

`ContentExtractor.tensorlayer_params()` is `upscale.npz`'s list (`net_upscale`: the extractor and
its x4 pre-training head, `n256s1/1`, `n256s1/2`, `out`), `TextureTransfer.tensorlayer_params()`
is `srntt.npz` / `srntt_init.npz`'s list (`net_srntt`: it starts from an `InputLayer` of the
content features, so it holds the texture transfer network only). `save_tensorlayer_npz` writes
such a list as TensorLayer does (one object array `params`). `vgg19_features` is torchvision's
`vgg19().features` layout (`features.{i}`, widths as parameters) with `vgg19_relu_features` for
relu1_1 / relu2_1 / relu3_1 on torchvision-normalized input. `discriminator_param_shapes` lists the
shapes of the official discriminator's list (`discrim.npz`, training only).

NCHW tensors; widths and block counts are parameters (the official code: 64 features, 16 blocks).

Example:
    >>> ce, tt = ContentExtractor(n_feats=8, blocks=1), TextureTransfer(8, 4, (4, 8, 16))
    >>> save_tensorlayer_npz("upscale.npz", ce.tensorlayer_params())
"""

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

__all__ = ["ContentExtractor", "TextureTransfer", "save_tensorlayer_npz", "depth_to_space_tf", "vgg19_features",
           "vgg19_relu_features", "discriminator_param_shapes"]


def depth_to_space_tf(x, r):
    """`tf.depth_to_space` on NCHW: output (c, h*r + i, w*r + j) = input channel (i*r + j)*C + c at (h, w)."""
    n, crr, h, w = x.shape
    c = crr // (r * r)
    return x.view(n, r, r, c, h, w).permute(0, 3, 4, 1, 5, 2).reshape(n, c, h * r, w * r)


def _conv_params(conv):
    out = [conv.weight.detach().permute(2, 3, 1, 0).numpy().copy()]  # OIHW -> HWIO (TensorFlow)
    if conv.bias is not None:
        out.append(conv.bias.detach().numpy().copy())
    return out


def _bn_params(bn):
    return [t.detach().numpy().copy() for t in (bn.bias, bn.weight, bn.running_mean, bn.running_var)]


class _ResBlock(nn.Module):
    """conv (no bias) - BN - ReLU - conv (no bias) - BN, + skip (the official `n64s1/c1`, `b1`, `c2`, `b2`)."""

    def __init__(self, f):
        super().__init__()
        self.conv1 = nn.Conv2d(f, f, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(f, eps=1e-5)
        self.conv2 = nn.Conv2d(f, f, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(f, eps=1e-5)

    def forward(self, x):
        return x + self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))

    def tensorlayer_params(self):
        return _conv_params(self.conv1) + _bn_params(self.bn1) + _conv_params(self.conv2) + _bn_params(self.bn2)


class ContentExtractor(nn.Module):
    """`content_extractor`: conv + ReLU, blocks, conv - BN, + long skip; the x4 head (two sub-pixel x2, 1x1, tanh)."""

    def __init__(self, n_feats=64, blocks=16):
        super().__init__()
        f = n_feats
        self.head = nn.Conv2d(3, f, 3, 1, 1)
        self.blocks = nn.ModuleList([_ResBlock(f) for _ in range(blocks)])
        self.conv_m = nn.Conv2d(f, f, 3, 1, 1, bias=False)
        self.bn_m = nn.BatchNorm2d(f, eps=1e-5)
        self.up1 = nn.Conv2d(f, 4 * f, 3, 1, 1)
        self.up2 = nn.Conv2d(f, 4 * f, 3, 1, 1)
        self.out = nn.Conv2d(f, 3, 1)

    def forward(self, lr):
        """LR in [-1, 1] -> (content features, the x4 head's image in [-1, 1])."""
        head = F.relu(self.head(lr))
        x = head
        for block in self.blocks:
            x = block(x)
        content = self.bn_m(self.conv_m(x)) + head
        y = F.relu(depth_to_space_tf(self.up1(content), 2))
        y = F.relu(depth_to_space_tf(self.up2(y), 2))
        return content, torch.tanh(self.out(y))

    def tensorlayer_params(self):
        params = _conv_params(self.head)
        for block in self.blocks:
            params += block.tensorlayer_params()
        params += _conv_params(self.conv_m) + _bn_params(self.bn_m)
        return params + _conv_params(self.up1) + _conv_params(self.up2) + _conv_params(self.out)


class _Stage(nn.Module):
    """concat(x, T) -> conv + ReLU -> blocks -> conv - BN, + x (then conv to 4f for the sub-pixel step, or to f/2)."""

    def __init__(self, f, channels, blocks, last):
        super().__init__()
        self.conv1 = nn.Conv2d(f + channels, f, 3, 1, 1)
        self.blocks = nn.ModuleList([_ResBlock(f) for _ in range(blocks)])
        self.conv2 = nn.Conv2d(f, f, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(f, eps=1e-5)
        self.conv3 = nn.Conv2d(f, f // 2 if last else 4 * f, 3, 1, 1)
        self.last = last

    def forward(self, x, texture):
        y = F.relu(self.conv1(torch.cat([x, texture], 1)))
        for block in self.blocks:
            y = block(y)
        y = self.bn2(self.conv2(y)) + x
        y = self.conv3(y)
        return y if self.last else F.relu(depth_to_space_tf(y, 2))

    def tensorlayer_params(self):
        params = _conv_params(self.conv1)
        for block in self.blocks:
            params += block.tensorlayer_params()
        return params + _conv_params(self.conv2) + _bn_params(self.bn2) + _conv_params(self.conv3)


class TextureTransfer(nn.Module):
    """`texture_transfer`: stages small / medium / large (n, n // 2, n // 4 blocks), then the 1x1 conv + tanh."""

    def __init__(self, n_feats=64, num_res_blocks=16, vgg_widths=(64, 128, 256)):
        super().__init__()
        c1, c2, c3 = vgg_widths
        n = num_res_blocks
        self.small = _Stage(n_feats, c3, n, False)
        self.medium = _Stage(n_feats, c2, n // 2, False)
        self.large = _Stage(n_feats, c1, n // 4, True)
        self.out = nn.Conv2d(n_feats // 2, 3, 1)

    def forward(self, content, maps):
        """`maps` = [T_lv3 (relu3_1, 1x), T_lv2 (relu2_1, 2x), T_lv1 (relu1_1, 4x)] -> image in [-1, 1]."""
        x = self.small(content, maps[0])
        x = self.medium(x, maps[1])
        x = self.large(x, maps[2])
        return torch.tanh(self.out(x))

    def tensorlayer_params(self):
        return (self.small.tensorlayer_params() + self.medium.tensorlayer_params()
                + self.large.tensorlayer_params() + _conv_params(self.out))


def save_tensorlayer_npz(path, params):
    """`tl.files.save_npz`: `np.savez(path, params=list)`, the list stored as one object array (pickled)."""
    listed = np.empty(len(params), dtype=object)
    for i, value in enumerate(params):  # element by element: numpy would otherwise try to stack equal shapes
        listed[i] = np.asarray(value, dtype=np.float32)
    np.savez(path, params=listed)


_VGG19 = (2, 2, 4, 4, 4)


def vgg19_features(widths=(64, 128, 256, 512, 512)):
    """torchvision's `vgg19().features` module layout (`features.{i}`: conv, ReLU, ..., max-pool), any widths."""
    layers, channels = [], 3
    for width, convs in zip(widths, _VGG19):
        for _ in range(convs):
            layers += [nn.Conv2d(channels, width, 3, 1, 1), nn.ReLU(inplace=False)]
            channels = width
        layers.append(nn.MaxPool2d(2, 2))
    return nn.Sequential(*layers)


def vgg19_relu_features(features, rgb255):
    """relu1_1, relu2_1, relu3_1 of `features` on RGB [0, 255] (NCHW), normalized as torchvision."""
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    x = (rgb255 / 255.0 - mean) / std
    found = []
    for i, layer in enumerate(features):
        x = layer(x)
        if i in (1, 6, 11):
            found.append(x)
        if i == 11:
            return found
    return found


def discriminator_param_shapes(df_dim=32, input_size=160):
    """Shapes of the official discriminator's list (`discrim.npz`): 5 x [conv, BN, stride-2 conv, BN], two dense."""
    shapes, channels = [], 3
    for i in range(5):
        width = df_dim * 2 ** i
        for _ in range(2):
            shapes += [(3, 3, channels, width)] + [(width,)] * 4
            channels = width
    flat = (input_size // 32) ** 2 * channels
    return shapes + [(flat, 1024), (1024,), (1024, 1), (1,)]
