"""GLEAN (generative latent bank) with a StyleGAN2 latent bank, and the StyleGAN2 discriminator.

Chan, Wang, Xu, Gu, Loy, "GLEAN: Generative Latent Bank for Large-Factor Image
Super-Resolution", CVPR 2021 (https://arxiv.org/abs/2012.00739). The official
implementation is mmagic's `GLEANStyleGANv2` (open-mmlab/mmagic
`mmagic/models/editors/glean/glean_styleganv2.py`, with the StyleGAN2 modules of
`mmagic/models/editors/stylegan2/`), read for the layout and counted; keras-sr's
layers are its own (`keras_sr.layers`: `ModulatedConv2D`, `ModulatedStyleConv`,
`ModulatedToRGB`, `NoiseInjection`, `ConstantInput`, `EqualizedDense`, `Blur`).

* encoder: an RRDB feature extractor (ESRGAN's trunk without upsampling; 23
  RRDBs of 64 channels, growth 32) + conv + LeakyReLU(0.2) at the LR size, then
  one stride-2 conv block per halving down to 4x4, and at 4x4 a conv and a dense
  layer giving the `2 * log2(out_size) - 2` style codes (W+ latents) of the bank;
* latent bank: StyleGAN2's synthesis network (4x4 learned constant, per
  resolution an upsampling and a plain modulated style conv with fixed injected
  noise; channels 512 up to 32x32, then `16384 * channel_multiplier / res`),
  frozen as in mmagic (`requires_grad_(False)`). At every resolution up to the
  LR size the bank's features are fused with the encoder's (concat + 3x3 conv);
* decoder: from the encoder's LR-size features, per x2 step a concat with the
  bank's features at that size and a PixelShufflePack (conv + pixel shuffle);
  at the output size conv 64 -> LeakyReLU -> conv 3.

Images are mapped to [-1, 1] as mmagic's data preprocessor (mean = std = 127.5);
inputs and outputs here are RGB in [0, 255]. The input size is fixed
(`out_size / scale`), as in mmagic (it asserts it).

What is *not* in the Keras model, and why: mmagic's module also holds
StyleGAN2's mapping MLP (unused by GLEAN: the encoder produces the latents) and
the to-RGB skip path (`to_rgb1`, `to_rgbs`, `fusion_skip`), which mmagic computes
but whose result never reaches the SR output. A functional Keras model holds
only the layers on the path to its output, so those parameters are absent; the
converters (`keras_sr.convert.stylegan2` for StyleGAN2 generator files,
`keras_sr.convert.glean` for mmagic's full GLEAN files) name and skip their keys.
`official_parameter_count(..., used_only=False)` is mmagic's full count,
`used_only=True` the count of this model; both by formula from mmagic's module
definitions, checked in tests/test_glean.py. The standalone
`stylegan2_generator` (mapping + synthesis with to-RGB skips, z -> image) holds
every generator parameter and is what the converter parity test compares.

Configurations of the paper / mmagic configs (`configs/glean/`): x8 (32 -> 256,
cat / FFHQ), x16 (16 -> 256, cat), x16 (64 -> 1024, FFHQ), x64 (16 -> 1024,
FFHQ, paper only), x8 (128 -> 1024, FFHQ -> CelebA-HQ). Loss weights and
training: `recipes.glean`.

Example:
    >>> from keras_sr import models
    >>> model = models.build("glean", scale=16, out_size=256)          # 16x16 -> 256x256
    >>> model = keras_sr.convert.from_checkpoint("stylegan2-cat-config-f.pth", name="glean", scale=8)
    >>> model = keras_sr.convert.from_checkpoint("glean_cat_8x_20210614-d3ac8683.pth")  # trained, x8 256
"""

import math

import keras

from keras_sr.layers.constant_input import ConstantInput
from keras_sr.layers.equalized_conv import EqualizedConv2D
from keras_sr.layers.equalized_dense import EqualizedDense
from keras_sr.layers.minibatch_stddev import MinibatchStddev
from keras_sr.layers.modulated_style_conv import ModulatedStyleConv
from keras_sr.layers.modulated_to_rgb import ModulatedToRGB
from keras_sr.layers.pixel_norm import PixelNorm
from keras_sr.layers.residual_dense_block import ResidualInResidualDenseBlock
from keras_sr.layers.subpixel_upsampling import SubPixelUpsampling
from keras_sr.models import register
from keras_sr.models.rrdbnet import esrgan_dense_initializer

__all__ = ["glean", "stylegan2_generator", "stylegan2_discriminator", "stylegan2_channels",
           "official_parameter_count", "stylegan2_generator_parameter_count",
           "stylegan2_discriminator_parameter_count", "PAPER_CONFIGS"]

# (scale, out_size) of the paper's and mmagic's configurations.
PAPER_CONFIGS = {
    "x8_256": dict(scale=8, out_size=256),     # cat / FFHQ 32 -> 256 (configs/glean/glean_x8_2xb8_cat.py)
    "x16_256": dict(scale=16, out_size=256),   # cat 16 -> 256 (glean_x16_2xb8_cat.py)
    "x16_1024": dict(scale=16, out_size=1024),  # FFHQ 64 -> 1024 (glean_x16_2xb8_ffhq.py)
    "x64_1024": dict(scale=64, out_size=1024),  # FFHQ 16 -> 1024 (the paper's x64; no mmagic config)
    "x8_1024": dict(scale=8, out_size=1024),   # FFHQ 128 -> 1024 (glean_in128out1024_4xb2-300k_ffhq-celeba-hq.py)
}


def stylegan2_channels(res, channel_multiplier=2, max_channels=512):
    """StyleGAN2's channels at resolution `res`: 512 up to 32, then 256*cm at 64, ..., 16*cm at 1024 (mmagic's table)."""
    return int(min(max_channels, 16384 * channel_multiplier // int(res)))


def _log2(n, what):
    k = int(round(math.log2(int(n))))
    if 2 ** k != int(n) or k < 2:
        raise ValueError(f"{what} must be a power of two >= 4, got {n}.")
    return k


def _torch_default_init():
    """PyTorch's default conv init (kaiming_uniform, a=sqrt(5)): U(+-1/sqrt(fan_in))."""
    return keras.initializers.VarianceScaling(1.0 / 3.0, "fan_in", "uniform")


def _synthesis(latent, out_size, channel_multiplier, max_channels, noise_seed, per_layer, fuse=None, collect=None):
    """StyleGAN2's synthesis network on `latent` ((N, L, S) W+ codes, or (N, S) when not `per_layer`).

    `fuse(block_index, out, skip, res) -> (out, skip)` is called before each block whose input resolution is
    <= the LR size (GLEAN's fusion; may return skip None); `collect(out, res)` after each block. Returns the RGB skip.
    """
    ch = lambda r: stylegan2_channels(r, channel_multiplier, max_channels)  # noqa: E731
    idx = (lambda i: i) if per_layer else (lambda i: None)
    seed = lambda i: None if noise_seed is None else int(noise_seed) + i  # noqa: E731
    out = ConstantInput(ch(4), name="bank_constant_input")(latent)
    out = ModulatedStyleConv(ch(4), 3, style_index=idx(0), noise_seed=seed(0), name="bank_conv1")([out, latent])
    skip = ModulatedToRGB(3, upsample=False, style_index=idx(1), name="bank_to_rgb1")([out, latent])
    index = 1
    for block, log_res in enumerate(range(3, _log2(out_size, "out_size") + 1)):
        res = 2 ** log_res
        if fuse is not None:
            out, skip = fuse(block, out, skip, res // 2)
        out = ModulatedStyleConv(ch(res), 3, upsample=True, style_index=idx(index), noise_seed=seed(2 * block + 1),
                                 name=f"bank_convs_{2 * block}")([out, latent])
        out = ModulatedStyleConv(ch(res), 3, style_index=idx(index + 1), noise_seed=seed(2 * block + 2),
                                 name=f"bank_convs_{2 * block + 1}")([out, latent])
        if skip is not None:
            skip = ModulatedToRGB(3, style_index=idx(index + 2), name=f"bank_to_rgbs_{block}")([out, latent, skip])
        if collect is not None:
            collect(out, res)
        index += 2
    return skip


def stylegan2_generator(out_size=1024, style_channels=512, num_mlps=8, channel_multiplier=2, max_channels=512,
                        lr_mlp=0.01, noise_seed=0, name=None):
    """StyleGAN2's generator, z `(N, style_channels)` -> image `(N, out_size, out_size, 3)` (about [-1, 1]).

    Karras et al., CVPR 2020 (config F), in mmagic's `StyleGAN2Generator` layout: PixelNorm ->
    `num_mlps` equalized-LR dense layers (lr_mul 0.01, fused lReLU) -> w, used by every layer
    ("single" style mode, no truncation) -> the synthesis network with fixed noise. Not a registered SR
    model: GLEAN's latent bank is its synthesis network (same layer names, `bank_*`), and this model is what
    the StyleGAN2 converter's parity test checks.
    """
    z = keras.Input((int(style_channels),), name="z")
    w = PixelNorm(name="bank_pixel_norm")(z)
    for i in range(int(num_mlps)):
        w = EqualizedDense(int(style_channels), lr_mul=lr_mlp, activation="fused_lrelu",
                           name=f"bank_mapping_{i}")(w)
    image = _synthesis(w, out_size, channel_multiplier, max_channels, noise_seed, per_layer=False)
    return keras.Model(z, image, name=name or f"stylegan2_generator_{out_size}")


@register("glean", test_config=dict(scale=2, out_size=16, style_channels=4, channel_multiplier=1, max_channels=4,
                                    rrdb_channels=4, num_rrdbs=0, growth_rate=2, decoder_channels=4))
def glean(scale=16, out_size=256, style_channels=512, channel_multiplier=2, max_channels=512, rrdb_channels=64,
          num_rrdbs=23, growth_rate=32, decoder_channels=64, freeze_bank=True, noise_seed=0, name=None):
    """Build GLEAN as a functional `keras.Model` on `(out_size / scale, out_size / scale, 3)` RGB in [0, 255].

    Args:
        scale: the SR factor (8, 16, 64 in the paper); the input size is `out_size // scale` (>= 4).
        out_size: the bank's (and the output's) size: 256 (cat, car, ...) or 1024 (FFHQ).
        style_channels: StyleGAN2's latent size (512).
        channel_multiplier: StyleGAN2 config F's 2.
        max_channels: StyleGAN2's channel cap (512; smaller only for tests).
        rrdb_channels, num_rrdbs, growth_rate: the encoder's RRDB trunk (64, 23, 32).
        decoder_channels: the last decoder conv's width (64).
        freeze_bank: the bank's weights are not trained (mmagic freezes the generator).
        noise_seed: seed of the bank's fixed noise maps (replaced by the converter with the released ones).
        name: model name (default `glean_x<scale>_<out_size>`).
    """
    scale, out_size = int(scale), int(out_size)
    log_out = _log2(out_size, "out_size")
    if scale < 2 or out_size % scale or out_size // scale < 4:
        raise ValueError(f"GLEAN needs out_size / scale to be a power of two >= 4 and scale >= 2, got "
                         f"scale={scale}, out_size={out_size}.")
    in_size = out_size // scale
    log_in = _log2(in_size, "out_size / scale")
    ch = lambda r: stylegan2_channels(r, channel_multiplier, max_channels)  # noqa: E731
    num_styles = 2 * log_out - 2
    S = int(style_channels)
    init = _torch_default_init()
    conv = lambda f, name, k=3, **kw: keras.layers.Conv2D(f, k, padding=kw.pop("padding", "same"),  # noqa: E731
                                                          kernel_initializer=init, name=name, **kw)
    lrelu = lambda name: keras.layers.LeakyReLU(negative_slope=0.2, name=name)  # noqa: E731

    inputs = keras.Input((in_size, in_size, 3), name="lr")
    x = keras.layers.Rescaling(1.0 / 127.5, offset=-1.0, name="to_signed_unit")(inputs)

    # Encoder: RRDB features at the LR size, then one block per halving; 4x4 -> the W+ latents.
    first = conv(int(rrdb_channels), "encoder_rrdb_conv_first")(x)
    f = first
    for i in range(int(num_rrdbs)):
        f = ResidualInResidualDenseBlock(growth_rate=int(growth_rate), kernel_initializer=esrgan_dense_initializer(),
                                         name=f"encoder_rrdb_{i}")(f)
    f = conv(int(rrdb_channels), "encoder_rrdb_conv_body")(f)
    f = keras.layers.Add(name="encoder_rrdb_skip")([first, f])
    f = lrelu("encoder_0_lrelu")(conv(ch(in_size), "encoder_0_conv")(f))
    features = {in_size: f}
    for k, log_res in enumerate(range(log_in, 1, -1), start=1):
        res = 2 ** log_res
        if res > 4:
            f = keras.layers.ZeroPadding2D(1, name=f"encoder_{k}_pad")(f)   # PyTorch's padding=1 at stride 2
            f = lrelu(f"encoder_{k}_lrelu1")(conv(ch(res // 2), f"encoder_{k}_conv1", strides=2, padding="valid")(f))
            f = lrelu(f"encoder_{k}_lrelu2")(conv(ch(res // 2), f"encoder_{k}_conv2")(f))
            features[res // 2] = f
        else:
            f = lrelu(f"encoder_{k}_lrelu1")(conv(ch(4), f"encoder_{k}_conv1")(f))
            f = keras.layers.Permute((3, 1, 2), name=f"encoder_{k}_to_chw")(f)   # PyTorch's flatten order
            f = keras.layers.Flatten(name=f"encoder_{k}_flatten")(f)
            f = keras.layers.Dense(num_styles * S, kernel_initializer=init, name=f"encoder_{k}_linear")(f)
            latent = keras.layers.Reshape((num_styles, S), name="latents")(f)

    # Latent bank, fused with the encoder features up to the LR size; its features above it feed the decoder.
    bank_features = {}

    def fuse(block, out, skip, res):
        if res > in_size:
            return out, skip
        out = keras.layers.Concatenate(name=f"fusion_{block}_concat")([out, features[res]])
        out = conv(ch(res), f"fusion_out_{block}")(out)
        return out, None  # the RGB skip path never reaches GLEAN's output (see the module docstring)

    def collect(out, res):
        if res > in_size:
            bank_features[res] = out

    _synthesis(latent, out_size, channel_multiplier, max_channels, noise_seed, per_layer=True, fuse=fuse,
               collect=collect)

    # Decoder.
    hr = features[in_size]
    for i, log_res in enumerate(range(log_in, log_out + 1)):
        res = 2 ** log_res
        if i > 0:
            hr = keras.layers.Concatenate(name=f"decoder_{i}_concat")([hr, bank_features[res]])
        if res < out_size:
            hr = SubPixelUpsampling(2, ch(2 * res), kernel_initializer=init, name=f"decoder_{i}")(hr)
        else:
            hr = lrelu(f"decoder_{i}_lrelu")(conv(int(decoder_channels), f"decoder_{i}_conv1")(hr))
            hr = conv(3, f"decoder_{i}_conv2", dtype="float32")(hr)
    outputs = keras.layers.Rescaling(127.5, offset=127.5, dtype="float32", name="to_pixels")(hr)
    model = keras.Model(inputs, outputs, name=name or f"glean_x{scale}_{out_size}")
    if freeze_bank:
        for layer in model.layers:
            if layer.name.startswith("bank_"):
                layer.trainable = False
    return model


@register("stylegan2_discriminator", kind="discriminator",
          test_config=dict(input_size=16, channel_multiplier=1, max_channels=4))
def stylegan2_discriminator(input_size=256, channel_multiplier=2, max_channels=512, group_size=4, channel_groups=1,
                            name=None):
    """StyleGAN2's residual discriminator on `(input_size, input_size, 3)` RGB in [0, 255] -> one logit.

    Karras et al., CVPR 2020 (App. B); mmagic's `StyleGAN2Discriminator` layout (read, counted): a 1x1
    conv, then per halving a residual block (3x3 conv, blur + stride-2 3x3 conv; skip: blur + stride-2 1x1
    conv without bias; sum / sqrt(2)) down to 4x4, the minibatch-stddev feature (groups of 4), a 3x3 conv
    and two equalized dense layers. GLEAN's GAN loss runs on it (mmagic starts it from the StyleGAN2
    checkpoint's discriminator; `keras_sr.convert.from_checkpoint(path, name="stylegan2_discriminator")`
    reads it out of mmagic's GLEAN / StyleGAN2 files, for `--pretrained-discriminator`). Images are mapped
    to [-1, 1]; batches must be <= `group_size` or a multiple of it.
    """
    input_size = int(input_size)
    log_size = _log2(input_size, "input_size")
    ch = lambda r: stylegan2_channels(r, channel_multiplier, max_channels)  # noqa: E731
    inputs = keras.Input((input_size, input_size, 3), name="image")
    x = keras.layers.Rescaling(1.0 / 127.5, offset=-1.0, name="to_signed_unit")(inputs)
    x = EqualizedConv2D(ch(input_size), 1, name="d_conv0")(x)
    for k, log_res in enumerate(range(log_size, 2, -1)):
        out_ch = ch(2 ** (log_res - 1))
        h = EqualizedConv2D(int(x.shape[-1]), 3, name=f"d_res{k}_conv1")(x)
        h = EqualizedConv2D(out_ch, 3, downsample=True, name=f"d_res{k}_conv2")(h)
        s = EqualizedConv2D(out_ch, 1, downsample=True, use_bias=False, activation=None, name=f"d_res{k}_skip")(x)
        x = keras.layers.Add(name=f"d_res{k}_add")([h, s])
        x = keras.layers.Rescaling(1.0 / math.sqrt(2.0), name=f"d_res{k}_scale")(x)
    x = MinibatchStddev(group_size, channel_groups, name="d_mbstd")(x)
    x = EqualizedConv2D(ch(4), 3, name="d_final_conv")(x)
    x = keras.layers.Permute((3, 1, 2), name="d_to_chw")(x)
    x = keras.layers.Flatten(name="d_flatten")(x)
    x = EqualizedDense(ch(4), activation="fused_lrelu", name="d_final_linear_0")(x)
    outputs = EqualizedDense(1, dtype="float32", name="d_final_linear_1")(x)
    return keras.Model(inputs, outputs, name=name or f"stylegan2_discriminator_{input_size}")


# Parameter counts by formula from mmagic's module definitions ---------------------------------------------------


def _conv(cin, cout, k=3, bias=True):
    return k * k * cin * cout + (cout if bias else 0)


def stylegan2_generator_parameter_count(out_size, style_channels=512, num_mlps=8, channel_multiplier=2,
                                        max_channels=512, parts=False):
    """mmagic `StyleGAN2Generator`'s `sum(p.numel())` (buffers, e.g. noise maps and blur kernels, excluded).

    `parts=True` returns `{"mapping", "synthesis", "to_rgb"}` (synthesis without the to-RGB layers).
    """
    S = style_channels
    ch = lambda r: stylegan2_channels(r, channel_multiplier, max_channels)  # noqa: E731

    def style_conv(cin, cout):   # weight + modulation (S x cin + cin bias) + noise weight + activation bias
        return cout * cin * 9 + S * cin + cin + 1 + cout

    def to_rgb(cin):
        return 3 * cin + S * cin + cin + 3

    mapping = num_mlps * (S * S + S)
    synthesis = 16 * ch(4) + style_conv(ch(4), ch(4))
    rgb = to_rgb(ch(4))
    prev = ch(4)
    for log_res in range(3, _log2(out_size, "out_size") + 1):
        c = ch(2 ** log_res)
        synthesis += style_conv(prev, c) + style_conv(c, c)
        rgb += to_rgb(c)
        prev = c
    if parts:
        return {"mapping": mapping, "synthesis": synthesis, "to_rgb": rgb}
    return mapping + synthesis + rgb


def official_parameter_count(scale=16, out_size=256, style_channels=512, channel_multiplier=2, max_channels=512,
                             rrdb_channels=64, num_rrdbs=23, growth_rate=32, decoder_channels=64, used_only=False):
    """mmagic `GLEANStyleGANv2`'s parameter count (generator included, frozen or not), by formula.

    `used_only=True`: without the unused mapping MLP and the to-RGB skip path (`to_rgb1`, `to_rgbs`,
    `fusion_skip`): the parameters that reach the SR output, i.e. keras-sr's `glean`.
    """
    in_size = out_size // scale
    ch = lambda r: stylegan2_channels(r, channel_multiplier, max_channels)  # noqa: E731
    num_styles = 2 * _log2(out_size, "out_size") - 2
    gen = stylegan2_generator_parameter_count(out_size, style_channels, 8, channel_multiplier, max_channels, parts=True)
    nf, gc = rrdb_channels, growth_rate
    rdb = sum(_conv(nf + i * gc, gc) for i in range(4)) + _conv(nf + 4 * gc, nf)
    encoder = _conv(3, nf) + num_rrdbs * 3 * rdb + _conv(nf, nf) + _conv(nf, ch(in_size))
    encoder_res = [2 ** i for i in range(_log2(in_size, "in_size"), 1, -1)]
    for res in encoder_res:
        if res > 4:
            encoder += _conv(ch(res), ch(res // 2)) + _conv(ch(res // 2), ch(res // 2))
        else:
            encoder += _conv(ch(4), ch(4)) + 16 * ch(4) * num_styles * style_channels + num_styles * style_channels
    fusion_out = sum(_conv(2 * ch(r), ch(r)) for r in encoder_res)
    fusion_skip = sum(_conv(ch(r) + 3, 3) for r in encoder_res)
    decoder = 0
    for log_res in range(_log2(in_size, "in_size"), _log2(out_size, "out_size") + 1):
        res = 2 ** log_res
        cin = ch(res) if res == in_size else 2 * ch(res)
        decoder += _conv(cin, 4 * ch(2 * res)) if res < out_size else _conv(cin, decoder_channels) + _conv(
            decoder_channels, 3)
    used = encoder + gen["synthesis"] + fusion_out + decoder
    if used_only:
        return used
    return used + gen["mapping"] + gen["to_rgb"] + fusion_skip


def stylegan2_discriminator_parameter_count(input_size, channel_multiplier=2, max_channels=512):
    """mmagic `StyleGAN2Discriminator`'s parameter count (no conditioning), by formula."""
    ch = lambda r: stylegan2_channels(r, channel_multiplier, max_channels)  # noqa: E731
    total = _conv(3, ch(input_size), 1)
    cin = ch(input_size)
    for log_res in range(_log2(input_size, "input_size"), 2, -1):
        cout = ch(2 ** (log_res - 1))
        total += _conv(cin, cin) + _conv(cin, cout) + _conv(cin, cout, 1, bias=False)
        cin = cout
    return total + _conv(cin + 1, ch(4)) + (16 * ch(4) * ch(4) + ch(4)) + (ch(4) + 1)
