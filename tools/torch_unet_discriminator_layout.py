"""Real-ESRGAN's U-Net discriminator with spectral normalization, in the official state-dict layout (oracle).

Wang, Xie, Dong, Shan, "Real-ESRGAN: Training Real-World Blind Super-Resolution
with Pure Synthetic Data", ICCVW 2021. Written here from the paper and the module
structure of the official code (xinntao/Real-ESRGAN `realesrgan/archs/discriminator_arch.py`,
`UNetDiscriminatorSN`; read, not copied), so that `state_dict()` has the official
keys: `conv0` and `conv9` plain convs with biases, `conv1` ... `conv8` wrapped by
`torch.nn.utils.spectral_norm` (bias-free; `weight_orig`, `weight_u`, `weight_v`).
NCHW RGB in [0, 1]; per-pixel logits.

Example:
    >>> net = UNetDiscriminatorSN(num_feat=8)
    >>> sorted(net.state_dict())[:4]     # ['conv0.bias', 'conv0.weight', 'conv1.weight_orig', 'conv1.weight_u']
    >>> net(torch.rand(1, 3, 32, 32)).shape    # (1, 1, 32, 32)
"""

import torch.nn as nn
import torch.nn.functional as F

__all__ = ["UNetDiscriminatorSN"]


class UNetDiscriminatorSN(nn.Module):
    """Encoder of three stride-2 4x4 convs, decoder of three bilinear x2 + 3x3 convs with skips, two convs, a logit."""

    def __init__(self, num_in_ch=3, num_feat=64, skip_connection=True):
        super().__init__()
        norm = nn.utils.spectral_norm
        f = num_feat
        self.skip_connection = skip_connection
        self.conv0 = nn.Conv2d(num_in_ch, f, 3, 1, 1)
        self.conv1 = norm(nn.Conv2d(f, 2 * f, 4, 2, 1, bias=False))
        self.conv2 = norm(nn.Conv2d(2 * f, 4 * f, 4, 2, 1, bias=False))
        self.conv3 = norm(nn.Conv2d(4 * f, 8 * f, 4, 2, 1, bias=False))
        self.conv4 = norm(nn.Conv2d(8 * f, 4 * f, 3, 1, 1, bias=False))
        self.conv5 = norm(nn.Conv2d(4 * f, 2 * f, 3, 1, 1, bias=False))
        self.conv6 = norm(nn.Conv2d(2 * f, f, 3, 1, 1, bias=False))
        self.conv7 = norm(nn.Conv2d(f, f, 3, 1, 1, bias=False))
        self.conv8 = norm(nn.Conv2d(f, f, 3, 1, 1, bias=False))
        self.conv9 = nn.Conv2d(f, 1, 3, 1, 1)

    def forward(self, x):
        def act(t):
            return F.leaky_relu(t, 0.2)

        x0 = act(self.conv0(x))
        x1 = act(self.conv1(x0))
        x2 = act(self.conv2(x1))
        y = act(self.conv3(x2))
        for conv, skip in ((self.conv4, x2), (self.conv5, x1), (self.conv6, x0)):
            y = act(conv(F.interpolate(y, scale_factor=2, mode="bilinear", align_corners=False)))
            if self.skip_connection:
                y = y + skip
        y = act(self.conv7(y))
        y = act(self.conv8(y))
        return self.conv9(y)
