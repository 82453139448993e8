"""LPIPS, the learned perceptual image patch similarity (v0.1), with a backbone the user supplies.

Zhang, Isola, Efros, Shechtman & Wang, "The Unreasonable Effectiveness of Deep
Features as a Perceptual Metric", CVPR 2018 (https://arxiv.org/abs/1801.03924;
official code richzhang/PerceptualSimilarity, the `lpips` wheel). Lower is
more similar. As `lpips.LPIPS(net=..., version='0.1')` computes it:

1. RGB in [0, 255] -> [-1, 1], then the scaling layer `(x - shift) / scale`
   (shift -0.030, -0.088, -0.188; scale 0.458, 0.448, 0.450);
2. the ImageNet-trained torchvision backbone's features after the ReLUs
   relu1..relu5 (AlexNet `features.1, 4, 7, 9, 11`) or relu1_2, relu2_2,
   relu3_3, relu4_3, relu5_3 (VGG16 `features.3, 8, 15, 22, 29`);
3. each feature map unit-normalised over channels (`x / (||x|| + 1e-10)`),
   squared difference, weighted by the learned linear layer (1x1, no bias),
   averaged over space, summed over the five layers.

The linear weights are the official v0.1 ones: the numbers of the `lpips`
wheel's `weights/v0.1/{alex,vgg}.pth` (BSD-2-Clause, richzhang/
PerceptualSimilarity), stored as `lpips_v0.1_linear.npz`. The backbone is
**not** shipped (ImageNet weights; keras-sr downloads nothing): pass the
torchvision state dict of `alexnet(weights="IMAGENET1K_V1")`
(`alexnet-owt-7be5be79.pth`) or `vgg16(weights="IMAGENET1K_V1")`
(`vgg16-397923af.pth`) as a .pth (read with torch), .safetensors or .npz
file with torchvision's keys (`features.0.weight`, ...). Without it, `LPIPS`
raises an error; a number from random backbone weights is never reported.
The computation runs in `keras.ops` on the active backend.

Example:
    >>> metric = LPIPS("alexnet-owt-7be5be79.pth", net="alex")
    >>> metric(sr_uint8, hr_uint8)          # RGB (h, w, 3), any size >= 32 px (AlexNet)
"""

import os

import numpy as np

__all__ = ["LPIPS", "load_backbone", "BACKBONE_LAYOUT", "LINEAR_FILE"]

LINEAR_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "lpips_v0.1_linear.npz")
SHIFT = np.array([-0.030, -0.088, -0.188], np.float32)
SCALE = np.array([0.458, 0.448, 0.450], np.float32)

# torchvision `features` index -> ("conv", stride, padding) | ("pool",) | ("tap",) (a ReLU whose output LPIPS reads)
BACKBONE_LAYOUT = {
    "alex": [(0, "conv", 4, 2), (1, "tap"), (2, "pool"), (3, "conv", 1, 2), (4, "tap"), (5, "pool"),
             (6, "conv", 1, 1), (7, "tap"), (8, "conv", 1, 1), (9, "tap"), (10, "conv", 1, 1), (11, "tap")],
    "vgg": [(i, "conv", 1, 1) if i in (0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28) else
            (i, "pool") if i in (4, 9, 16, 23) else (i, "tap") if i in (3, 8, 15, 22, 29) else (i, "relu")
            for i in range(30)],
}
_DOWNLOAD_HINT = {"alex": "torchvision alexnet(weights='IMAGENET1K_V1'): alexnet-owt-7be5be79.pth",
                  "vgg": "torchvision vgg16(weights='IMAGENET1K_V1'): vgg16-397923af.pth"}


def _read_state_dict(path):
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path}: LPIPS backbone file not found.")
    if path.endswith(".safetensors"):
        from safetensors.numpy import load_file

        return load_file(path)
    if path.endswith(".npz"):
        with np.load(path) as data:
            return {k: data[k] for k in data.files}
    try:
        import torch
    except ImportError as err:
        raise ImportError(f"{path}: reading a .pth backbone needs torch; or convert it to .safetensors/.npz.") from err
    state = torch.load(path, map_location="cpu", weights_only=True)
    if isinstance(state, dict) and "state_dict" in state:
        state = state["state_dict"]
    return {k: v.detach().cpu().numpy() for k, v in state.items()}


def load_backbone(path, net="alex"):
    """`{features index: (kernel HWIO, bias)}` of a torchvision AlexNet/VGG16 state dict file; checks every key."""
    if net not in BACKBONE_LAYOUT:
        raise ValueError(f"LPIPS net {net!r}: choose 'alex' or 'vgg'.")
    state = _read_state_dict(os.fspath(path))
    weights = {}
    for entry in BACKBONE_LAYOUT[net]:
        if entry[1] != "conv":
            continue
        i = entry[0]
        key_w, key_b = f"features.{i}.weight", f"features.{i}.bias"
        if key_w not in state or key_b not in state:
            raise ValueError(f"{path}: no {key_w!r}/{key_b!r}: not a torchvision {net} state dict "
                             f"({_DOWNLOAD_HINT[net]}).")
        kernel = np.asarray(state[key_w], np.float32)
        weights[i] = (np.transpose(kernel, (2, 3, 1, 0)), np.asarray(state[key_b], np.float32))
    return weights


class LPIPS:
    """LPIPS v0.1 distance between RGB images, with the user's backbone file (see the module docstring)."""

    def __init__(self, backbone=None, net="alex"):
        if net not in BACKBONE_LAYOUT:
            raise ValueError(f"LPIPS net {net!r}: choose 'alex' or 'vgg'.")
        if backbone is None:
            raise ValueError(f"LPIPS needs the ImageNet-trained {net} backbone, which keras-sr does not ship: pass "
                             f"--lpips-backbone FILE ({_DOWNLOAD_HINT[net]}).")
        self.net = net
        self.backbone = load_backbone(backbone, net)
        with np.load(LINEAR_FILE) as data:
            self.linear = [data[f"{net}_lin{i}"].astype(np.float32) for i in range(5)]

    def features(self, x):
        """The five tapped feature maps of a batch `x` (n, h, w, 3) already scaled (keras.ops, NHWC)."""
        from keras import ops

        taps = []
        for entry in BACKBONE_LAYOUT[self.net]:
            kind = entry[1]
            if kind == "conv":
                _, _, stride, pad = entry
                kernel, bias = self.backbone[entry[0]]
                x = ops.pad(x, [[0, 0], [pad, pad], [pad, pad], [0, 0]])
                x = ops.conv(x, ops.convert_to_tensor(kernel), strides=stride, padding="valid") + bias
            elif kind == "pool":
                x = ops.max_pool(x, 3 if self.net == "alex" else 2, strides=2, padding="valid")
            else:
                x = ops.relu(x)
                if kind == "tap":
                    taps.append(x)
        return taps

    def distance(self, a, b):
        """LPIPS of two batches (n, h, w, 3) in [0, 255]; returns (n,) numpy."""
        from keras import ops

        def prepare(img):
            img = ops.convert_to_tensor(np.asarray(img, np.float32) / 127.5 - 1.0)
            return (img - SHIFT) / SCALE

        total = 0.0
        for fa, fb, w in zip(self.features(prepare(a)), self.features(prepare(b)), self.linear):
            na = fa / (ops.sqrt(ops.sum(fa * fa, axis=-1, keepdims=True)) + 1e-10)
            nb = fb / (ops.sqrt(ops.sum(fb * fb, axis=-1, keepdims=True)) + 1e-10)
            total = total + ops.mean(ops.sum(ops.square(na - nb) * w, axis=-1), axis=(1, 2))
        return ops.convert_to_numpy(total)

    def __call__(self, img, ref, crop_border=0):
        """LPIPS between two RGB images (h, w, 3) in [0, 255], `crop_border` pixels shaved; a float."""
        img, ref = np.asarray(img), np.asarray(ref)
        if img.shape != ref.shape or img.ndim != 3 or img.shape[-1] != 3:
            raise ValueError(f"LPIPS: expected two RGB images of the same shape, got {img.shape} and {ref.shape}.")
        if crop_border:
            img = img[crop_border:-crop_border, crop_border:-crop_border]
            ref = ref[crop_border:-crop_border, crop_border:-crop_border]
        return float(self.distance(img[None], ref[None])[0])
