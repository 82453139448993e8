"""CrossNet: An End-to-end Reference-based Super Resolution Network using Cross-scale Warping (x4 here).

Zheng, Ji, Wang, Liu, Fang, ECCV 2018 (https://arxiv.org/abs/1807.10547). A
port of the official `MultiscaleWarpingNet` (github.com/htzheng/ECCV2018_CrossNet_RefSR,
`Model/MultiscaleWarpingNet.py`, `FlowNet_model.py`, `net_utils.py`,
`Backward_warp_layer.py`), same layers:

* inputs: `lr_up` (the LR image upsampled to the HR size) and `ref` (a
  reference of the same size); RGB in [0, 255] (official: [0, 1], rescaled
  inside). Height and width must be multiples of 64 (six stride-2 levels);
  `prepare_inputs(lr, ref)` pads them so;
* `flownet` (FlowNetS-style, 33,830,110 parameters): `concat(lr_up, ref)`
  through six stride-2 convs (LeakyReLU 0.1), a coarse-to-fine refinement
  with 4x4 transposed convs predicting flows at 1/64 ... 1/2, and two 7x7 SELU
  convs on `concat(ref, deconv0, flow1_up)` for the full-resolution flow; the
  flows at 1, 1/2, 1/4, 1/8 are used (`flow_12_1 .. flow_12_4`), in pixels of
  their own scale, `(dx, dy)`;
* `encoder` (shared, SELU, 5x5 convs; 414,720 parameters): features at 1,
  1/2, 1/4, 1/8 of the upsampled LR and of the reference;
* the reference features are backward-warped by the flows (`FlowWarp`,
  bilinear, border clamp) and fused by the U-Net decoder (three 4x4
  transposed convs, 5x5 SELU fusion, a 5x5 conv to RGB; no residual).

Parameters: 35,081,377. The official module counts 35,183,841 (the paper's
35.18M): its decoder also builds `post_fusion2` (a 5x5 64 -> 64 conv, 102,464
parameters) whose output the forward pass never uses (`final =
self.final(post_fusion1)`); a functional graph holds only the layers on the
path to its output, so that dead layer is left out here
(`official_parameter_count()` gives both numbers).

Differences from the official code: the paper's SISR input (`input_img1_SR`,
an MDSR x4 upsampling) is the same bicubic `lr_up` that feeds the flow
network (keras-sr ships no MDSR weights); the released training script
computes the flow from the ground-truth HR (`mode='input_img1_HR'`), which
leaks the target, so the flow here always comes from `lr_up` and the
reference (the module's default mode). PyTorch's symmetric padding of the
stride-2 convs is explicit (Keras "same" pads asymmetrically);
`ConvTranspose2d(4, stride 2, padding 1)` is Keras' `Conv2DTranspose(4, 2,
"same")` (the same output grid).

Example:
    >>> from keras_sr import models
    >>> model = models.build("crossnet")
    >>> inputs, (h, w) = prepare_inputs(lr_uint8, ref_uint8)
    >>> sr = model(inputs)[:, :h, :w]                          # [0, 255]
"""

import numpy as np

import keras

from keras_sr.imresize import imresize
from keras_sr.layers.flow_warp import FlowWarp
from keras_sr.models import register
from keras_sr.models.refsr_inputs import pad_edge, rgb_pair


__all__ = ["crossnet", "prepare_inputs", "official_parameter_count", "INPUT_NAMES", "SIZE_MULTIPLE"]

INPUT_NAMES = ("lr_up", "ref")
SCALE = 4
SIZE_MULTIPLE = 64  # FlowNet's six stride-2 levels
UNUSED_POST_FUSION2 = 5 * 5 * 64 * 64 + 64


def official_parameter_count(flow_widths=(64, 128, 256, 512, 512, 1024), features=64, include_unused=True):
    """Parameters of the official `MultiscaleWarpingNet` by formula: `(total, flownet)`.

    `include_unused=False` leaves out the decoder's `post_fusion2`, which the official forward never uses.
    """

    def conv(cin, cout, k):
        return k * k * cin * cout + cout

    c1, c2, c3, c4, c5, c6 = flow_widths
    flownet = conv(6, c1, 7) + conv(c1, c2, 5) + conv(c2, c3, 5) + conv(c3, c3, 3) + conv(c3, c4, 3) \
        + conv(c4, c4, 3) + conv(c4, c5, 3) + conv(c5, c5, 3) + conv(c5, c6, 3) + conv(c6, c6, 3)
    concat5, concat4 = c5 + 256 + 2, c4 + 256 + 2
    concat3, concat2, concat1 = c3 + 128 + 2, c2 + 64 + 2, c1 + 64 + 2
    refine = [(c6, 256), (concat5, 256), (concat4, 128), (concat3, 64), (concat2, 64), (concat1, 64)]
    for cin, cout in refine:  # flow conv, flow upsampling (2 -> 2, 4x4), leaky deconv (4x4)
        flownet += conv(cin, 2, 3) + conv(2, 2, 4) + conv(cin, cout, 4)
    flownet += conv(3 + 64 + 2, 16, 7) + conv(16, 16, 7) + conv(16, 2, 3)
    f = features
    encoder = conv(3, f, 5) + 4 * conv(f, f, 5)
    decoder = conv(2 * f, f, 4) + 2 * conv(3 * f, f, 4) + conv(3 * f, f, 5) + conv(f, 3, 5)
    decoder += conv(f, f, 5) if include_unused else 0
    return flownet + encoder + decoder, flownet


def _torch_default_init():
    """PyTorch's default conv init (kaiming_uniform, a=sqrt(5)): U(+-1/sqrt(fan_in)) (the official convs keep it)."""
    return keras.initializers.VarianceScaling(1.0 / 3.0, "fan_in", "uniform")


def _conv(x, filters, kernel, name, stride=1, activation=None):
    """A PyTorch-padded conv (`padding = kernel // 2`, symmetric) with an optional activation."""
    init = _torch_default_init()
    if stride > 1:
        x = keras.layers.ZeroPadding2D(kernel // 2, name=f"{name}_pad")(x)
    x = keras.layers.Conv2D(filters, kernel, strides=stride, padding="same" if stride == 1 else "valid",
                            kernel_initializer=init, bias_initializer=init, name=name)(x)
    return _activation(x, activation, name)


def _deconv(x, filters, name, activation=None):
    """`ConvTranspose2d(kernel 4, stride 2, padding 1)`: exactly doubles the size, as Keras 'same'."""
    init = _torch_default_init()
    x = keras.layers.Conv2DTranspose(filters, 4, strides=2, padding="same", kernel_initializer=init,
                                     bias_initializer=init, name=name)(x)
    return _activation(x, activation, name)


def _activation(x, activation, name):
    if activation == "lrelu":
        return keras.layers.LeakyReLU(negative_slope=0.1, name=f"{name}_lrelu")(x)
    if activation == "selu":
        return keras.layers.Activation("selu", name=f"{name}_selu")(x)
    return x


def _flownet(widths):
    """The official `FlowNet(6)`: `[lr_up, ref]` -> flows at 1, 1/2, 1/4, 1/8 (`(dx, dy)` in pixels)."""
    image = keras.Input((None, None, 3), name="image")
    ref = keras.Input((None, None, 3), name="reference")
    c1, c2, c3, c4, c5, c6 = widths
    x = keras.layers.Concatenate(name="flow_input")([image, ref])
    conv1 = _conv(x, c1, 7, "flow_conv1", 2, "lrelu")
    conv2 = _conv(conv1, c2, 5, "flow_conv2", 2, "lrelu")
    conv3 = _conv(_conv(conv2, c3, 5, "flow_conv3", 2, "lrelu"), c3, 3, "flow_conv3_1", 1, "lrelu")
    conv4 = _conv(_conv(conv3, c4, 3, "flow_conv4", 2, "lrelu"), c4, 3, "flow_conv4_1", 1, "lrelu")
    conv5 = _conv(_conv(conv4, c5, 3, "flow_conv5", 2, "lrelu"), c5, 3, "flow_conv5_1", 1, "lrelu")
    h = _conv(_conv(conv5, c6, 3, "flow_conv6", 2, "lrelu"), c6, 3, "flow_conv6_1", 1, "lrelu")
    flows = {}
    for level, skip, width in ((6, conv5, 256), (5, conv4, 256), (4, conv3, 128), (3, conv2, 64), (2, conv1, 64),
                               (1, None, 64)):
        flows[level] = _conv(h, 2, 3, f"flow_flow{level}")
        flow_up = _deconv(flows[level], 2, f"flow_flow{level}_up")
        deconv = _deconv(h, width, f"flow_deconv{level - 1}", "lrelu")
        h = keras.layers.Concatenate(name=f"flow_concat{level - 1}")(
            [skip if skip is not None else ref, deconv, flow_up])
    h = _conv(h, 16, 7, "flow_concat0_conv1", 1, "selu")
    h = _conv(h, 16, 7, "flow_concat0_conv2", 1, "selu")
    flow_full = _conv(h, 2, 3, "flow_flow_12")
    return keras.Model([image, ref], [flow_full, flows[1], flows[2], flows[3]], name="flownet")


def _encoder(features):
    """The official `Encoder(3)` (SELU, 5x5): features at 1, 1/2, 1/4, 1/8."""
    image = keras.Input((None, None, 3), name="image")
    x = _conv(image, features, 5, "enc_layer_f", 1, "selu")
    conv1 = _conv(x, features, 5, "enc_conv1", 1, "selu")
    conv2 = _conv(conv1, features, 5, "enc_conv2", 2, "selu")
    conv3 = _conv(conv2, features, 5, "enc_conv3", 2, "selu")
    conv4 = _conv(conv3, features, 5, "enc_conv4", 2, "selu")
    return keras.Model(image, [conv1, conv2, conv3, conv4], name="encoder")


def _spec_inputs(lr, ref, scale=SCALE):
    """The registry spec's `prepare_inputs`: `(inputs, (out_h, out_w))` (see `prepare_inputs`)."""
    return prepare_inputs(lr, ref, scale)


@register("crossnet", kind="refsr", inputs=INPUT_NAMES, scales=(SCALE,), prepare_inputs=_spec_inputs,
          test_config=dict(flow_widths=(2, 2, 2, 2, 2, 2), features=2))
def crossnet(scale=4, flow_widths=(64, 128, 256, 512, 512, 1024), features=64, name="crossnet"):
    """Build CrossNet as a functional `keras.Model` with dict inputs `lr_up`, `ref` (same size, multiples of 64).

    Args:
        scale: 4 (the scale of `lr_up`; the network itself works at the HR size).
        flow_widths: FlowNet widths of conv1 .. conv6 (official 64, 128, 256, 512, 512, 1024).
        features: encoder/decoder features (official 64).
        name: model name.

    Returns:
        A model mapping the RGB [0, 255] inputs to the SR image in [0, 255] (not clipped, as official).
    """
    if int(scale) != SCALE:
        raise ValueError(f"keras-sr's CrossNet is built for x4 (the RefSR benchmarks), got scale={scale!r}.")
    widths = tuple(int(w) for w in flow_widths)
    if len(widths) != 6:
        raise ValueError(f"crossnet: flow_widths needs 6 numbers (conv1 .. conv6), got {widths}.")
    f = int(features)
    inputs = {key: keras.Input((None, None, 3), name=key) for key in INPUT_NAMES}
    image = keras.layers.Rescaling(1.0 / 255.0, name="lr_up_to_unit")(inputs["lr_up"])
    ref = keras.layers.Rescaling(1.0 / 255.0, name="ref_to_unit")(inputs["ref"])
    flows = _flownet(widths)([image, ref])
    encoder = _encoder(f)
    sr_feats = encoder(image)
    ref_feats = encoder(ref)
    warped = [FlowWarp("border", name=f"warp{i + 1}")([feat, flow])
              for i, (feat, flow) in enumerate(zip(ref_feats, flows))]
    x = keras.layers.Concatenate(name="dec_concat0")([sr_feats[3], warped[3]])
    x = _deconv(x, f, "dec_warp_deconv4", "selu")
    x = _deconv(keras.layers.Concatenate(name="dec_concat1")([x, sr_feats[2], warped[2]]), f, "dec_warp_deconv3",
                "selu")
    x = _deconv(keras.layers.Concatenate(name="dec_concat2")([x, sr_feats[1], warped[1]]), f, "dec_warp_deconv2",
                "selu")
    x = _conv(keras.layers.Concatenate(name="dec_concat3")([x, sr_feats[0], warped[0]]), f, 5,
              "dec_post_fusion1", 1, "selu")
    x = _conv(x, 3, 5, "dec_final")  # official: final(post_fusion1); post_fusion2 is never used
    outputs = keras.layers.Rescaling(255.0, dtype="float32", name="to_pixels")(x)
    return keras.Model(inputs, outputs, name=name)


def prepare_inputs(lr, ref, scale=SCALE):
    """`(inputs, (out_h, out_w))` for one LR image and one reference (RGB HWC, uint8 or float).

    The LR is edge-padded at the bottom/right so the HR size is a multiple of 64; `lr_up` is its MATLAB
    bicubic x4. The reference is edge-padded or cropped (bottom/right) to that same HR size: CrossNet
    concatenates the two images. Crop the output to `[:out_h, :out_w]`.
    """
    lr, ref = rgb_pair(lr, ref)
    scale = int(scale)
    if scale != SCALE:
        raise ValueError(f"keras-sr's CrossNet is built for x4, got scale={scale!r}.")
    out_h, out_w = lr.shape[0] * scale, lr.shape[1] * scale
    lr_multiple = SIZE_MULTIPLE // scale
    lr_h, lr_w = -(-lr.shape[0] // lr_multiple) * lr_multiple, -(-lr.shape[1] // lr_multiple) * lr_multiple
    lr = pad_edge(lr, lr_h, lr_w)
    ref = pad_edge(ref, lr_h * scale, lr_w * scale)
    batch = {"lr_up": imresize(lr, scale), "ref": ref}
    return {k: np.asarray(v, np.float32)[None] for k, v in batch.items()}, (out_h, out_w)
