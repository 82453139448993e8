"""Cross-MPI: Cross-scale Stereo for Image Super-Resolution using Multiplane Images (x8 in the paper; any scale).

Zhou, Wu, Fu, Li, Liu, CVPR 2021 (https://arxiv.org/abs/2011.14631). Built
after the official TensorFlow 1 code (github.com/Mayzazhou/Cross-MPI:
`crossmpi/nets.py` `f_extract_net`, `guided_att_hr_syn_net`,
`res_fuse_net`; `crossmpi/mpi.py` `attention_ref_sr`, `train.py`), its final
model `guided_nnup_denseASPP_lowres_image_psv_lowresL1` read layer by layer,
with the same layers and parameter count:

* inputs: `lr_up` (the target view's LR image upsampled to the HR size, the
  official "global" image) and `ref` (the high-resolution reference view, same
  size); RGB in [0, 255] (the official network works on [-1, 1]: rescaled
  inside). `prepare_inputs(lr, ref)` makes them (HR size a multiple of 4);
* the plane sweep volume (`PlaneSweepVolume`): the reference at D = 32 planes.
  **keras-sr's reduction**: the official sweep warps by each plane's
  homography from camera intrinsics and poses (`plane_sweep`, planes uniform
  in inverse depth from 1 to 100); RefSR inputs carry no cameras, so the pair
  is taken as rectified stereo and plane `i` is the reference shifted by a
  disparity, `linspace(min_disparity, max_disparity, D)` HR pixels (our
  defaults 0 and 64: an open choice, set it to the pair's range);
* `feature_extractor` (dense residual ASPP, 531,656 parameters, shared): the
  target view and every plane bicubic-downscaled by 4, a 3x3 conv, a residual
  block, three ASPP steps (3x3 convs at dilation 1, 4, 8 and one **shared**
  1x1 fusion conv, as the official `aspp0/co` scope under `AUTO_REUSE`, each
  added to the trunk), a residual block, a conv, and a 1x1 conv to 8 channels;
* plane-aware attention: per-pixel dot products of the target's and each
  plane's features (`PlaneAttention`), three 3x3 convs and a 1x1 conv to D, a
  softmax over the planes, and the low-resolution synthesis `init_syn`
  (`PlaneBlend` of the downscaled planes: the official internal-supervision
  output; off the SR path, so `lowres_synthesis(model)` rebuilds it for training);
* multiscale guided upsampling: a guidance encoder on `[target | planes]`
  (3 (D + 1) channels at HR) with residual blocks at 1, 1/2, 1/4 (stride-2
  convs), and the attention decoded from 1/4 to HR by residual blocks on the
  attention concatenated with the guidance, nearest x2 steps (the official
  `nnup`), a 1x1 conv to D and a softmax: the HR synthesis `hr_syn` =
  `PlaneBlend` of the HR planes (the reference rendered onto the target view);
* `res_fuse_net` (32 features): the target and `hr_syn` through 3x3 convs,
  six residual blocks, a long skip from the target's features, and a 1x1 conv
  with tanh to RGB.
  Every official residual block of the attention path (`my_residue_block`) is
  an input conv, three times `x + conv(conv(conv(x)))`, and an output conv;
  every conv has a ReLU unless said otherwise (TF-slim's default).

Parameters: 3,807,627 at D = 32 (extractor 531,656 + attention and guided
upsampling 3,126,144 + fusion 149,827), counted by formula from `nets.py`
(`official_parameter_count`; the official TF1-slim graph does not run here).

Differences from the official code: the planes are disparity shifts (above;
zero outside the reference, as the official sampler); the downscaling by 4
is keras-sr's MATLAB bicubic on floats (official: PIL bicubic on uint8
images); the target is keras-sr's MATLAB bicubic `lr_up` (official: the LR
view resized up). The official training runs in three stages (the low-res
attention alone, then the HR synthesis, then everything, with a normalized
VGG19 loss); `recipes.cross_mpi` trains one stage with L1 losses.

Example:
    >>> from keras_sr import models
    >>> model = models.build("cross_mpi", max_disparity=64.0)
    >>> inputs, (h, w) = prepare_inputs(lr_uint8, right_view_uint8, scale=8)
    >>> sr = model(inputs)[:, :h, :w]                          # [0, 255]
"""

import numpy as np

import keras

from keras_sr.imresize import imresize
from keras_sr.layers.bicubic_resize import BicubicResize
from keras_sr.layers.plane_attention import PlaneAttention
from keras_sr.layers.plane_blend import PlaneBlend
from keras_sr.layers.plane_sweep_volume import PlaneSweepVolume
from keras_sr.layers.planes_to_channels import PlanesToChannels
from keras_sr.models import register
from keras_sr.models.refsr_inputs import rgb_pair


__all__ = ["cross_mpi", "prepare_inputs", "official_parameter_count", "plane_disparities", "lowres_synthesis",
           "INPUT_NAMES",
           "SIZE_MULTIPLE", "LOWRES_FACTOR"]

INPUT_NAMES = ("lr_up", "ref")
LOWRES_FACTOR = 4   # the attention is estimated at 1/4 of the HR size (official `psvs_lowres_syn`)
SIZE_MULTIPLE = 4   # two stride-2 levels of the guidance encoder


def official_parameter_count(num_planes=32, ngf=64, extractor_ngf=64, feature_channels=8, fuse_ngf=32,
                             fuse_blocks=6, res_repeat=3, aspp_levels=3):
    """Parameters of the official final model by formula: `(total, extractor, attention, fusion)`."""

    def conv(cin, cout, k=3):
        return k * k * cin * cout + cout

    e, g, d = extractor_ngf, ngf, num_planes
    extractor = conv(3, e) + 2 * conv(e, e) + aspp_levels * 3 * conv(e, e) + conv(3 * e, e, 1) + 3 * conv(e, e) \
        + conv(e, feature_channels, 1)

    def block(cin):
        return conv(cin, g) + 3 * res_repeat * conv(g, g) + conv(g, g)

    attention = conv(d, g) + 2 * conv(g, g) + conv(g, d, 1)                       # the low-res refinement
    attention += block(3 * (d + 1)) + 2 * (conv(g, g) + block(g))                 # the guidance encoder
    attention += block(d) + 3 * block(2 * g) + conv(g, d, 1)                     # the attention decoder
    f = fuse_ngf
    fusion = 2 * conv(3, f) + conv(2 * f, f) + 2 * fuse_blocks * conv(f, f) + 2 * conv(f, f) + conv(f, 3, 1)
    return extractor + attention + fusion, extractor, attention, fusion


def plane_disparities(num_planes, min_disparity, max_disparity):
    """The planes' disparities in HR pixels: uniform from `min_disparity` to `max_disparity` (uniform in 1/depth)."""
    if int(num_planes) == 1:
        return (float(min_disparity),)
    return tuple(float(d) for d in np.linspace(float(min_disparity), float(max_disparity), int(num_planes)))


def _conv(filters, name, kernel=3, strides=1, dilation=1, activation="relu"):
    return keras.layers.Conv2D(filters, kernel, strides=strides, dilation_rate=dilation, padding="same",
                               activation=activation, name=name)


def feature_extractor(ngf=64, out_channels=8, aspp_levels=3, name="feature_extractor"):
    """The official `f_extract_net(dense_res_aspp=True)` on [-1, 1] images."""
    image = keras.Input((None, None, 3), name="image")
    net = _conv(ngf, "conv_in")(image)
    branch = _conv(ngf, "res_in_c2")(_conv(ngf, "res_in_c1")(net))
    net = keras.layers.Add(name="res_in_add")([net, branch])
    fuse = _conv(ngf, "aspp_co", kernel=1)  # one 1x1 conv for the three steps (official scope aspp0/co, reused)
    aspp = net
    for j in range(int(aspp_levels)):
        parts = [_conv(ngf, f"aspp{j}_d{rate}", dilation=rate)(aspp) for rate in (1, 4, 8)]
        aspp = fuse(keras.layers.Concatenate(name=f"aspp{j}_cat")(parts))
        net = keras.layers.Add(name=f"aspp{j}_add")([net, aspp])
    branch = _conv(ngf, "res0_c2")(_conv(ngf, "res0_c1")(net))
    net = _conv(ngf, "res0_co")(keras.layers.Add(name="res0_add")([net, branch]))
    out = _conv(out_channels, "conv_out", kernel=1, activation=None)(net)
    return keras.Model(image, out, name=name)


def _residue_block(x, ngf, repeat, name):
    """The official `my_residue_block`: conv, `repeat` x [x + conv(conv(conv(x)))], conv (ReLU everywhere)."""
    x = _conv(ngf, f"{name}_in")(x)
    for j in range(int(repeat)):
        y = _conv(ngf, f"{name}_b{j}_c1")(x)
        y = _conv(ngf, f"{name}_b{j}_c3")(_conv(ngf, f"{name}_b{j}_c2")(y))
        x = keras.layers.Add(name=f"{name}_b{j}_add")([x, y])
    return _conv(ngf, f"{name}_out")(x)


def _concat(tensors, name):
    return keras.layers.Concatenate(name=name)(tensors)


def _spec_inputs(lr, ref, scale=8):
    """The registry spec's `prepare_inputs`: `(inputs, (out_h, out_w))` (see `prepare_inputs`)."""
    return prepare_inputs(lr, ref, scale)


TEST_CONFIG = dict(num_planes=2, max_disparity=2.0, ngf=2, extractor_ngf=2, feature_channels=1, fuse_ngf=2,
                   fuse_blocks=1, res_repeat=1, aspp_levels=1)


@register("cross_mpi", kind="refsr", inputs=INPUT_NAMES, prepare_inputs=_spec_inputs, test_config=TEST_CONFIG)
def cross_mpi(scale=8, num_planes=32, min_disparity=0.0, max_disparity=64.0, ngf=64, extractor_ngf=64,
              feature_channels=8, fuse_ngf=32, fuse_blocks=6, res_repeat=3, aspp_levels=3, name="cross_mpi"):
    """Build Cross-MPI as a functional `keras.Model` with dict inputs `lr_up` and `ref` (same size).

    Args:
        scale: the SR factor (the network itself works at the HR size; official x8). Only recorded.
        num_planes: D, the plane sweep's planes (official 32).
        min_disparity, max_disparity: the planes' disparity range in HR pixels (keras-sr's rectified-stereo
            reduction of the official depth range 1 ... 100; an open choice).
        ngf: features of the attention refinement, the guidance encoder and the decoder (64).
        extractor_ngf: features of the dense residual ASPP extractor (64).
        feature_channels: the extractor's output channels (8 = 64 // 8).
        fuse_ngf: features of the fusion network (32).
        fuse_blocks: residual blocks of the fusion network (6).
        res_repeat: inner steps of every attention-path residual block (3).
        aspp_levels: ASPP steps of the extractor (3).
        name: model name.

    Returns:
        A model mapping the RGB [0, 255] inputs to the SR image in [0, 255] (tanh output).
    """
    if int(scale) < 1:
        raise ValueError(f"cross_mpi: scale must be a positive integer, got {scale!r}.")
    d, g = int(num_planes), int(ngf)
    disparities = plane_disparities(d, min_disparity, max_disparity)

    inputs = {key: keras.Input((None, None, 3), name=key) for key in INPUT_NAMES}
    signed = {key: keras.layers.Rescaling(1.0 / 127.5, offset=-1.0, name=f"{key}_to_signed")(inputs[key])
              for key in INPUT_NAMES}
    target = signed["lr_up"]
    psv = PlaneSweepVolume(disparities, name="plane_sweep")(signed["ref"])           # (B * D, H, W, 3)
    guidance = _concat([target, PlanesToChannels(d, name="psv_channels")(psv)], "guidance_volume")
    target_low = BicubicResize(1.0 / LOWRES_FACTOR, name="lowres_target")(target)
    psv_low = BicubicResize(1.0 / LOWRES_FACTOR, name="lowres_psv")(psv)

    extractor = feature_extractor(int(extractor_ngf), int(feature_channels), int(aspp_levels))
    scores = PlaneAttention(d, name="plane_attention")([extractor(target_low), extractor(psv_low)])
    x = scores
    for i in range(3):
        x = _conv(g, f"attention_out_{i}")(x)
    x = _conv(d, "attention_out", kernel=1, activation=None)(x)
    attention = keras.layers.Softmax(axis=-1, name="init_attention")(x)  # its blend: `lowres_synthesis(model)`

    # Guidance encoder at 1, 1/2, 1/4 and the attention decoder (nearest x2 steps).
    repeat = int(res_repeat)
    guid0 = _residue_block(guidance, g, repeat, "guid_lv0")
    guid1 = _residue_block(_conv(g, "guid_lv1_down", strides=2)(guid0), g, repeat, "guid_lv1")
    guid2 = _residue_block(_conv(g, "guid_lv2_down", strides=2)(guid1), g, repeat, "guid_lv2")
    a = _residue_block(attention, g, repeat, "a_lv2_res0")
    a = _residue_block(_concat([a, guid2], "a_lv2_cat"), g, repeat, "a_lv2_com")
    a = keras.layers.UpSampling2D(2, name="a_lv1_up")(a)
    a = _residue_block(_concat([a, guid1], "a_lv1_cat"), g, repeat, "a_lv1_com")
    a = keras.layers.UpSampling2D(2, name="a_lv0_up")(a)
    a = _residue_block(_concat([a, guid0], "a_lv0_cat"), g, repeat, "a_lv0_com")
    a = _conv(d, "a_out", kernel=1, activation=None)(a)
    hr_syn = PlaneBlend(d, name="hr_syn")([keras.layers.Softmax(axis=-1, name="hr_attention")(a), psv])

    # res_fuse_net
    f = int(fuse_ngf)
    f_lr = _conv(f, "fuse_in_lr")(target)
    net = _conv(f, "fuse_conv1")(_concat([f_lr, _conv(f, "fuse_in_hr")(hr_syn)], "fuse_cat"))
    for i in range(int(fuse_blocks)):
        y = _conv(f, f"fuse_b{i}_c2")(_conv(f, f"fuse_b{i}_c1")(net))
        net = keras.layers.Add(name=f"fuse_b{i}_add")([net, y])
    net = keras.layers.Add(name="fuse_skip")([f_lr, _conv(f, "fuse_conv3")(net)])
    net = _conv(f, "fuse_conv4")(net)
    out = _conv(3, "sr_output", kernel=1, activation="tanh")(net)
    outputs = keras.layers.Rescaling(127.5, offset=127.5, dtype="float32", name="to_pixels")(out)
    return keras.Model(inputs, outputs, name=name)


def lowres_synthesis(model):
    """The official `init_syn` of a built model, symbolic: the low-res planes blended by the initial attention.

    The internal-supervision output ([-1, 1], 1/4 of the HR size). It is not on the SR output's path, so the
    functional model does not hold it; trainers add it to their training graph from the model's layers.
    """
    attention = model.get_layer("init_attention").output
    num_planes = model.get_layer("plane_sweep").get_config()["disparities"]
    return PlaneBlend(len(num_planes), name="init_syn")([attention, model.get_layer("lowres_psv").output])


def prepare_inputs(lr, ref, scale=8):
    """`(inputs, (out_h, out_w))` for the target view's LR image and the reference view (RGB HWC).

    The LR is edge-padded at the bottom/right until `scale` x its size is a multiple of 4; `lr_up` = MATLAB
    bicubic x`scale` of it. The reference (the other view, at HR) is edge-padded the same way when it has the
    unpadded HR size, and resized to `lr_up`'s size with MATLAB bicubic otherwise (keras-sr's choice: the
    official pairs are calibrated views of one size). Crop the output to `[:out_h, :out_w]`.
    """
    lr, ref = rgb_pair(lr, ref)
    scale = int(scale)
    out_h, out_w = lr.shape[0] * scale, lr.shape[1] * scale
    lr_h, lr_w = lr.shape[0], lr.shape[1]
    while (lr_h * scale) % SIZE_MULTIPLE:
        lr_h += 1
    while (lr_w * scale) % SIZE_MULTIPLE:
        lr_w += 1
    padded = np.pad(lr, [(0, lr_h - lr.shape[0]), (0, lr_w - lr.shape[1]), (0, 0)], mode="edge")
    lr_up = imresize(padded, scale)
    if ref.shape[:2] == (out_h, out_w):
        ref = np.pad(ref, [(0, lr_up.shape[0] - out_h), (0, lr_up.shape[1] - out_w), (0, 0)], mode="edge")
    elif ref.shape[:2] != lr_up.shape[:2]:
        ref = imresize(ref, output_shape=lr_up.shape[:2])
    batch = {"lr_up": lr_up, "ref": ref}
    return {k: np.asarray(v, np.float32)[None] for k, v in batch.items()}, (out_h, out_w)
