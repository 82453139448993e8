"""TTSR: Learning Texture Transformer Network for Image Super-Resolution (x4 reference-based SR).

Yang, Yang, Fu, Lu, Guo, CVPR 2020 (https://arxiv.org/abs/2006.04139). A port
of the official `MainNet` + `LTE` + `SearchTransfer`
(github.com/researchmm/TTSR, `model/`), same layers and parameter count:

* inputs (the paper's Fig. 2): `lr` (h x w), `lr_up` (LR bicubic x4), `ref`
  (Hr x Wr, multiples of 4) and `ref_down_up` (Ref bicubic down x4 then up
  x4); RGB in [0, 255]. `prepare_inputs(lr, ref)` makes the last two and
  `lr_up` with keras-sr's MATLAB bicubic;
* `lte` (LearnableTextureExtractor, VGG19 to relu3_1, 555,328 parameters) on
  `lr_up`, `ref_down_up` and `ref`; `texture_transformer` (relevance
  embedding, hard/soft attention; chunked matching, no weights);
* `main_net`, a nested functional model (6,174,275 parameters with the
  official 16+16+8+4 residual blocks and 64 features): shallow feature
  extraction, three stages with soft-attention fusion of T_lv3/T_lv2/T_lv1 at
  1x/2x/4x, sub-pixel x2 steps, CSFI2/CSFI3, and the merge tail; its output
  is clamped to [-1, 1] as the official code, i.e. [0, 255] here.

Total 6,729,603 trainable parameters = the official `MainNet` + `LTE`
(`sum(p.numel())` of the official model also counts LTE's frozen 1x1
MeanShift conv, 12 values, which is a constant normalization here, and the
loss-only `LTE_copy`). The paper's table lists 6.73M.

Example:
    >>> from keras_sr import models
    >>> model = models.build("ttsr")
    >>> sr = model(prepare_inputs(lr_uint8, ref_uint8))          # (1, 4h, 4w, 3) in [0, 255]
"""

import numpy as np

import keras

from keras_sr.layers.residual_block import ResidualBlock
from keras_sr.layers.subpixel_upsampling import SubPixelUpsampling
from keras_sr.layers.texture_transformer import (CrossScaleFeatureIntegration, LearnableTextureExtractor,
                                                 SoftAttentionFusion, TextureTransformer)
from keras_sr.models import register
from keras_sr.models.refsr_inputs import make_inputs


__all__ = ["ttsr_discriminator", "ttsr", "prepare_inputs", "official_parameter_count", "INPUT_NAMES"]

INPUT_NAMES = ("lr", "lr_up", "ref", "ref_down_up")
SCALE = 4


def _torch_default_init():
    """PyTorch's default conv init (kaiming_uniform, a=sqrt(5)): U(+-1/sqrt(fan_in))."""
    return keras.initializers.VarianceScaling(1.0 / 3.0, "fan_in", "uniform")


def official_parameter_count(num_res_blocks=(16, 16, 8, 4), n_feats=64, texture_widths=(64, 128, 256)):
    """Trainable parameters of the official TTSR (`MainNet` + `LTE`), by formula from `model/MainNet.py`."""

    def conv(cin, cout, k=3):
        return k * k * cin * cout + cout

    f = n_feats
    c1, c2, c3 = texture_widths
    block = 2 * conv(f, f)
    sfe = conv(3, f) + num_res_blocks[0] * block + conv(f, f)
    stage1 = conv(c3 + f, f) + num_res_blocks[1] * block + conv(f, f)
    csfi2 = conv(f, f, 1) + conv(f, f) + 2 * conv(2 * f, f)
    stage2 = conv(f, 4 * f) + conv(c2 + f, f) + csfi2 + 2 * num_res_blocks[2] * block + 2 * conv(f, f)
    csfi3 = 3 * conv(f, f, 1) + 4 * conv(f, f) + 3 * conv(3 * f, f)
    stage3 = conv(f, 4 * f) + conv(c1 + f, f) + csfi3 + 3 * num_res_blocks[3] * block + 3 * conv(f, f)
    merge_tail = 2 * conv(f, f, 1) + conv(3 * f, f) + conv(f, f // 2) + conv(f // 2, 3, 1)
    lte = conv(3, c1) + conv(c1, c1) + conv(c1, c2) + conv(c2, c2) + conv(c2, c3)
    return sfe + stage1 + stage2 + stage3 + merge_tail + lte


def _main_net(num_res_blocks, n_feats, res_scale, texture_widths, init):
    """The official `MainNet` as a functional model on [-1, 1] images."""
    f = n_feats
    c1, c2, c3 = texture_widths

    def conv(filters, kernel_size, name, activation=None):
        return keras.layers.Conv2D(filters, kernel_size, padding="same", activation=activation,
                                   kernel_initializer=init, name=name)

    def blocks(x, count, prefix):
        for i in range(count):
            x = ResidualBlock(f, res_scale=res_scale, kernel_initializer=init, name=f"{prefix}_{i}")(x)
        return x

    def residual_stage(x, count, prefix):
        """`x + conv_tail(resblocks(x))`."""
        y = conv(f, 3, f"{prefix}_tail")(blocks(x, count, prefix))
        return keras.layers.Add(name=f"{prefix}_skip")([x, y])

    lr = keras.Input((None, None, 3), name="lr")
    soft = keras.Input((None, None, 1), name="soft_attention")
    t_lv3 = keras.Input((None, None, c3), name="t_lv3")
    t_lv2 = keras.Input((None, None, c2), name="t_lv2")
    t_lv1 = keras.Input((None, None, c1), name="t_lv1")

    # Shallow feature extraction (SFE).
    head = conv(f, 3, "sfe_conv_head", "relu")(lr)
    x = conv(f, 3, "sfe_conv_tail")(blocks(head, num_res_blocks[0], "sfe_rb"))
    x = keras.layers.Add(name="sfe_skip")([x, head])

    # Stage 1 (LR size): soft-attention fusion of T_lv3.
    x11 = SoftAttentionFusion(f, 1, kernel_initializer=init, name="conv11_head")([x, t_lv3, soft])
    x11 = residual_stage(x11, num_res_blocks[1], "rb11")

    # Stage 2 (x2).
    x22 = SubPixelUpsampling(2, f, kernel_initializer=init, name="conv12")(x11)
    x22 = keras.layers.ReLU(name="ps12_relu")(x22)
    x22 = SoftAttentionFusion(f, 2, kernel_initializer=init, name="conv22_head")([x22, t_lv2, soft])
    r21, r22 = CrossScaleFeatureIntegration(f, 2, kernel_initializer=init, name="ex12")([x11, x22])
    r21 = conv(f, 3, "rb21_tail")(blocks(r21, num_res_blocks[2], "rb21"))
    r22 = conv(f, 3, "rb22_tail")(blocks(r22, num_res_blocks[2], "rb22"))
    x21 = keras.layers.Add(name="rb21_skip")([x11, r21])
    x22 = keras.layers.Add(name="rb22_skip")([x22, r22])

    # Stage 3 (x4).
    x33 = SubPixelUpsampling(2, f, kernel_initializer=init, name="conv23")(x22)
    x33 = keras.layers.ReLU(name="ps23_relu")(x33)
    x33 = SoftAttentionFusion(f, 4, kernel_initializer=init, name="conv33_head")([x33, t_lv1, soft])
    r31, r32, r33 = CrossScaleFeatureIntegration(f, 3, kernel_initializer=init, name="ex123")([x21, x22, x33])
    outs = []
    for name, skip, r in (("rb31", x21, r31), ("rb32", x22, r32), ("rb33", x33, r33)):
        r = conv(f, 3, f"{name}_tail")(blocks(r, num_res_blocks[3], name))
        outs.append(keras.layers.Add(name=f"{name}_skip")([skip, r]))

    # Merge tail.
    x = CrossScaleFeatureIntegration(f, 3, finest_only=True, kernel_initializer=init, name="merge_tail")(outs)
    x = conv(f // 2, 3, "merge_tail_conv_tail1")(x)
    x = conv(3, 1, "merge_tail_conv_tail2")(x)
    return keras.Model([lr, soft, t_lv3, t_lv2, t_lv1], x, name="main_net")


def _spec_inputs(lr, ref, scale=SCALE):
    """The registry spec's `prepare_inputs`: `(inputs, (out_h, out_w))` (see `prepare_inputs`)."""
    lr = np.asarray(lr)
    return prepare_inputs(lr, ref, scale), (int(scale) * lr.shape[0], int(scale) * lr.shape[1])


@register("ttsr", kind="refsr", inputs=INPUT_NAMES, scales=(SCALE,), prepare_inputs=_spec_inputs)
def ttsr(scale=4, num_res_blocks=(16, 16, 8, 4), n_feats=64, res_scale=1.0, texture_widths=(64, 128, 256),
         chunk_size=1024, ref_chunk_size=None, fold_normalization="count", vgg_weights=None, name="ttsr"):
    """Build TTSR as a functional `keras.Model` with dict inputs `lr`, `lr_up`, `ref`, `ref_down_up`.

    Args:
        scale: 4 (TTSR's architecture is x4 only).
        num_res_blocks: residual blocks of SFE and stages 1, 2, 3 (official 16+16+8+4).
        n_feats: features of the main network (64).
        res_scale: residual scaling (1.0).
        texture_widths: LTE channels at relu1_1, relu2_1, relu3_1 (64, 128, 256 as VGG19).
        chunk_size, ref_chunk_size: patch matching chunks (see `TextureTransformer`).
        fold_normalization: "count" (true overlap average) or "constant" (official /9).
        vgg_weights: optional `.npz` VGG19 weights for the LTE (otherwise trained from scratch).
        name: model name.

    Returns:
        A model mapping the four RGB [0, 255] inputs to the x4 SR image in [0, 255].
    """
    if int(scale) != SCALE:
        raise ValueError(f"TTSR is an x4 architecture, got scale={scale!r}.")
    num_res_blocks = tuple(int(n) for n in num_res_blocks)
    if len(num_res_blocks) != 4:
        raise ValueError(f"num_res_blocks needs 4 numbers (SFE, stage 1, 2, 3), got {num_res_blocks}.")
    texture_widths = tuple(int(w) for w in texture_widths)
    init = _torch_default_init()

    inputs = {key: keras.Input((None, None, 3), name=key) for key in INPUT_NAMES}
    lte = LearnableTextureExtractor(texture_widths, weights=vgg_weights, name="lte")
    _, _, query = lte(inputs["lr_up"])
    _, _, key = lte(inputs["ref_down_up"])
    v_lv1, v_lv2, v_lv3 = lte(inputs["ref"])
    soft, t_lv3, t_lv2, t_lv1 = TextureTransformer(chunk_size, ref_chunk_size, fold_normalization, dtype="float32",
                                                   name="texture_transformer")([query, key, v_lv1, v_lv2, v_lv3])
    lr = keras.layers.Rescaling(1.0 / 127.5, offset=-1.0, name="to_signed_unit")(inputs["lr"])
    main_net = _main_net(num_res_blocks, int(n_feats), float(res_scale), texture_widths, init)
    x = main_net([lr, soft, t_lv3, t_lv2, t_lv1])
    x = keras.layers.Rescaling(127.5, offset=127.5, dtype="float32", name="to_pixels")(x)
    outputs = keras.layers.ReLU(max_value=255.0, dtype="float32", name="clamp")(x)  # official clamp(-1, 1)
    return keras.Model(inputs, outputs, name=name)


def prepare_inputs(lr, ref, scale=SCALE):
    """The model's input dict for one LR image and one reference (uint8 or float RGB, HWC).

    `ref` is cropped to a multiple of 4; `lr_up = imresize(lr, 4)`, `ref_down_up =
    imresize(imresize(ref, 1/4), 4)` with keras-sr's MATLAB bicubic (the official data
    pipeline uses PIL's bicubic). Returns float32 batches of one, in [0, 255]; the training
    loader builds the same inputs (`keras_sr.models.refsr_inputs.make_inputs`).
    """
    return make_inputs(INPUT_NAMES, lr, ref, scale)


@register("ttsr_discriminator", kind="discriminator", test_config=dict(input_size=32, filters=2, dense_units=4))
def ttsr_discriminator(input_size=160, filters=32, dense_units=1024, name="ttsr_discriminator"):
    """TTSR's WGAN-GP critic for `input_size` x `input_size` RGB [0, 255] images (a multiple of 32).

    `filters` is the first width (official 32; it doubles every two convs up to 16x).

    Example:
        >>> critic = ttsr_discriminator(160)
        >>> critic(keras.ops.zeros((2, 160, 160, 3))).shape    # (2, 1)
    """
    size = int(input_size)
    if size % 32:
        raise ValueError(f"ttsr_discriminator: input_size must be a multiple of 32 (five stride-2 convs), got {size}.")
    f = int(filters)
    x = inputs = keras.Input((size, size, 3), name="image")
    x = keras.layers.Rescaling(1.0 / 127.5, offset=-1.0, name="to_signed_unit")(x)
    init = keras.initializers.VarianceScaling(1.0 / 3.0, "fan_in", "uniform")  # PyTorch's default
    widths = [f, f, 2 * f, 2 * f, 4 * f, 4 * f, 8 * f, 8 * f, 16 * f, 16 * f]
    for i, width in enumerate(widths):
        strides = 2 if i % 2 else 1
        if strides == 2:  # PyTorch padding=1 with stride 2
            x = keras.layers.ZeroPadding2D(1, name=f"pad{i + 1}")(x)
        x = keras.layers.Conv2D(width, 3, strides=strides, padding="valid" if strides == 2 else "same",
                                kernel_initializer=init, name=f"conv{i + 1}")(x)
        x = keras.layers.LeakyReLU(0.2, name=f"lrelu{i + 1}")(x)
    x = keras.layers.Flatten(name="flatten")(x)
    x = keras.layers.Dense(int(dense_units), kernel_initializer=init, name="fc1")(x)
    x = keras.layers.LeakyReLU(0.2, name="lrelu11")(x)
    outputs = keras.layers.Dense(1, kernel_initializer=init, dtype="float32", name="fc2")(x)
    return keras.Model(inputs, outputs, name=name)
