"""RefVAE: Reference-based Image Super-Resolution via Variational AutoEncoder (x8, also x4; a conditional VAE).

Liu, Siu, Wang, CVPR Workshops 2021 (NTIRE 2021 "Learning the SR space",
https://arxiv.org/abs/2106.04090). Built after the official PyTorch code
(github.com/Holmes-Alan/RefVAE: `model.py` `VAE_v3_8x` / `VAE_v3_4x`,
`network.py` `encoder4`, `main_GAN.py`, `eval_8x.py`), read layer by layer,
with the same layers and parameter count:

* inputs: `lr_up` (the LR image bicubic x`scale`, the base the output is added
  to) and `ref` (any RGB image: official test resizes it to 256x256); RGB in
  [0, 255] (the official network works on [0, 1]: rescaled inside).
  `prepare_inputs(lr, ref)` makes them (the LR edge-padded so the HR size is a
  multiple of 8);
* `vgg_encoder` (frozen, 3,505,740 parameters): the official `encoder4`, a 1x1
  conv (3 -> 3) then VGG19 conv1_1 ... relu4_1 with reflection padding and
  2x2 max-pools (features at 1/8 of the input, 512 channels), applied to
  `ref` and to `lr_up`; the official loads `vgg_r41.pth` (the linear
  style-transfer VGG) and never trains it: `load_encoder_weights(model, npz)`
  loads such a file, else it stays random and frozen;
* the posterior (conditional encoder): `init_feat` (1x1 conv 512 -> 64, BN,
  LeakyReLU, 3x3 conv, BN, LeakyReLU) on the reference features, bilinear to
  16x16, flattened (NCHW order, as `view`) and a dense layer to 512 = the mean
  and log-variance of a 256-d latent (`GaussianLatent`, layer `latent`);
* the decoder: dense 256 -> 64 x 16 x 16, bilinear to the LR-feature grid,
  `dec_feat` (1x1 conv to 512 + a residual block), modulated by the LR
  features (`mask`: 1x1 conv, 3 residual blocks, 1x1 conv to 2 x 512 =
  `(mu, var)`, `feat * (1 + var) + mu`), then three bilinear x2 steps with
  3x3 convs 512 -> 256 -> 128 -> 64 (LeakyReLU), a 1x1 conv and a 3x3 conv to
  RGB, added to `lr_up`. The features sit at 1/8 of the HR size, so the x8 and
  x4 models are the same layers (`VAE_v3_8x`, `VAE_v3_4x`: only the bicubic
  base differs).

Parameters: 33,924,163 trainable (+ 256 BN moving statistics + the frozen
encoder's 3,505,740). The official `VAE_v3_8x` counts 33,924,675: it also
builds `self.bn = BatchNorm1d(256)` (512 parameters) that `forward` never
uses; a functional graph only holds the layers on its output's path, so it is
left out (`official_parameter_count()` gives both numbers). Counted by
instantiating the official classes (CPU, no weights).

A stochastic model in the registry (kind "refsr", deterministic by default):
in training the latent is sampled from the posterior of the reference (the
official training encodes the HR target itself: `recipes.refvae`,
`posterior_from="target"`); at inference the model returns the decoded
posterior **mean** (keras-sr's choice, for scoring), unless it is built with
`sample_latent=True` (then each call draws `z ~ q(z | ref)`, seeded by
`seed`: the official behaviour, and the way to its diverse outputs). The KL
term lives in the trainer, which reads the input of layer `latent`
(`keras_sr.layers.gaussian_latent.kl_divergence`).

Differences from the official code, all outside the learned layers: the base
image and the encoder's LR input are keras-sr's MATLAB bicubic `lr_up`
(official: PyTorch bicubic, `F.interpolate(mode="bicubic")`), and
`prepare_inputs` resizes the reference to 256x256 with MATLAB bicubic
(official: torchvision's bilinear `Resize`).

Example:
    >>> from keras_sr import models
    >>> model = models.build("refvae", scale=8)
    >>> inputs, (h, w) = prepare_inputs(lr_uint8, ref_uint8, scale=8)
    >>> sr = model(inputs)[:, :h, :w]                          # [0, 255]; sample_latent=True for diverse draws
"""

import numpy as np

import keras

from keras_sr.imresize import imresize
from keras_sr.layers.bilinear_resize import BilinearResize
from keras_sr.layers.bilinear_upsampling import BilinearUpsampling
from keras_sr.layers.gaussian_latent import GaussianLatent
from keras_sr.layers.reflection_padding import ReflectionPadding2D
from keras_sr.models import register
from keras_sr.models.refsr_inputs import ceil_to, rgb_pair


__all__ = ["refvae", "prepare_inputs", "official_parameter_count", "load_encoder_weights", "INPUT_NAMES",
           "SIZE_MULTIPLE", "REF_SIZE"]

INPUT_NAMES = ("lr_up", "ref")
SIZE_MULTIPLE = 8   # three 2x2 max-pools in the encoder, three x2 steps in the decoder
REF_SIZE = 256      # the official test resizes every reference to 256x256
_BATCH_NORM = dict(momentum=0.9, epsilon=1e-5)  # PyTorch BatchNorm2d defaults
_SLOPE = 0.01                                   # PyTorch LeakyReLU default


def official_parameter_count(vgg_widths=(64, 128, 256, 512), latent_channels=64, latent_size=16, latent_dim=256,
                             mask_blocks=3, decoder_widths=(256, 128, 64), include_unused=True):
    """Parameters of the official RefVAE by formula: `(generator, encoder)`.

    `generator` is `VAE_v3_8x` (33,924,675 at the defaults); `include_unused=False` leaves out its unused
    `BatchNorm1d(latent_dim)`. `encoder` is the frozen `encoder4` (3,505,740).
    """

    def conv(cin, cout, k=3):
        return k * k * cin * cout + cout

    c1, c2, c3, c4 = vgg_widths
    encoder = conv(3, 3, 1) + conv(3, c1) + conv(c1, c1) + conv(c1, c2) + conv(c2, c2) + conv(c2, c3) \
        + 3 * conv(c3, c3) + conv(c3, c4)
    f, grid = latent_channels, latent_size * latent_size
    block = 2 * conv(c4, c4)
    init_feat = conv(c4, f, 1) + 2 * f + conv(f, f) + 2 * f
    posterior = f * grid * 2 * latent_dim + 2 * latent_dim
    decode = latent_dim * f * grid + f * grid
    dec_feat = conv(f, c4, 1) + block
    mask = conv(c4, c4, 1) + mask_blocks * block + conv(c4, 2 * c4, 1)
    widths = (c4, *decoder_widths)
    decoder = sum(conv(a, b) for a, b in zip(widths[:-1], widths[1:])) + conv(widths[-1], widths[-1], 1) \
        + conv(widths[-1], 3)
    generator = init_feat + posterior + decode + dec_feat + mask + decoder + (2 * latent_dim if include_unused else 0)
    return generator, encoder


def _lrelu(name):
    return keras.layers.LeakyReLU(negative_slope=_SLOPE, name=name)


def _conv(filters, kernel, name):
    return keras.layers.Conv2D(filters, kernel, padding="same", name=name)


def _resnet_block(x, filters, name):
    """The official `ResnetBlock`: LeakyReLU(conv(LeakyReLU(conv(x))) + x)."""
    y = _lrelu(f"{name}_act1")(_conv(filters, 3, f"{name}_conv1")(x))
    y = _conv(filters, 3, f"{name}_conv2")(y)
    return _lrelu(f"{name}_act2")(keras.layers.Add(name=f"{name}_add")([y, x]))


def vgg_encoder(widths=(64, 128, 256, 512), name="vgg_encoder"):
    """The official `encoder4` (relu4_1 of a reflection-padded VGG19 after a 1x1 conv) on [0, 1] RGB."""
    c1, c2, c3, c4 = widths
    image = keras.Input((None, None, 3), name="image")
    x = keras.layers.Conv2D(3, 1, name="conv1")(image)
    plan = [(c1, "conv2"), (c1, "conv3"), "pool1", (c2, "conv4"), (c2, "conv5"), "pool2", (c3, "conv6"),
            (c3, "conv7"), (c3, "conv8"), (c3, "conv9"), "pool3", (c4, "conv10")]
    for step in plan:
        if isinstance(step, str):
            x = keras.layers.MaxPooling2D(2, name=step)(x)
            continue
        filters, label = step
        x = ReflectionPadding2D(1, name=f"{label}_pad")(x)
        x = keras.layers.Conv2D(filters, 3, activation="relu", name=label)(x)
    return keras.Model(image, x, name=name)


def load_encoder_weights(model, path):
    """Load the official `vgg_r41.pth` (saved as `.npz` of its state dict: `conv1.weight`, ...) into `vgg_encoder`.

    Make the file with `np.savez("vgg_r41.npz", **{k: v.numpy() for k, v in torch.load("vgg_r41.pth").items()})`.
    """
    encoder = model.get_layer("vgg_encoder")
    with np.load(path) as arrays:
        names = sorted({k.rsplit(".", 1)[0] for k in arrays.files}, key=lambda k: int(k[4:]) if k[4:].isdigit() else 0)
        expected = [f"conv{i}" for i in range(1, 11)]
        if names != expected:
            raise ValueError(f"{path}: expected the keys of encoder4 ({', '.join(expected)}, .weight/.bias), "
                             f"got {names}")
        for label in expected:
            layer = encoder.get_layer(label)
            kernel = np.transpose(arrays[f"{label}.weight"], (2, 3, 1, 0))
            if kernel.shape != tuple(layer.kernel.shape):
                raise ValueError(f"{path}: {label}.weight has shape {kernel.shape} (HWIO), the model "
                                 f"{tuple(layer.kernel.shape)}")
            layer.set_weights([kernel, arrays[f"{label}.bias"]])
    return model


def _spec_inputs(lr, ref, scale=8):
    """The registry spec's `prepare_inputs`: `(inputs, (out_h, out_w))` (see `prepare_inputs`)."""
    return prepare_inputs(lr, ref, scale)


TEST_CONFIG = dict(vgg_widths=(2, 2, 2, 4), latent_channels=2, latent_size=2, latent_dim=2, mask_blocks=1,
                   decoder_widths=(2, 2, 2))


@register("refvae", kind="refsr", inputs=INPUT_NAMES, scales=(8, 4), prepare_inputs=_spec_inputs,
          test_config=TEST_CONFIG)
def refvae(scale=8, vgg_widths=(64, 128, 256, 512), latent_channels=64, latent_size=16, latent_dim=256,
           mask_blocks=3, decoder_widths=(256, 128, 64), sample_latent=False, seed=None, train_encoder=False,
           name="refvae"):
    """Build RefVAE as a functional `keras.Model` with dict inputs `lr_up` and `ref`.

    Args:
        scale: 8 (the paper's NTIRE setting, `VAE_v3_8x`) or 4 (`VAE_v3_4x`): the same layers.
        vgg_widths: the frozen encoder's channels at relu1_1 ... relu4_1 (64, 128, 256, 512).
        latent_channels: channels of `init_feat` and of the decoded latent grid (64).
        latent_size: side of the latent grid (16: the dense layers see 64 x 16 x 16 = 16,384 values).
        latent_dim: latent dimensions (256; the posterior dense layer has 2 x 256 outputs).
        mask_blocks: residual blocks of the LR-feature modulation `mask` (3).
        decoder_widths: the three x2 steps' convs (256, 128, 64).
        sample_latent: sample `z ~ q(z | ref)` at inference too (official; default: the posterior mean).
        seed: seed of the latent's sampling (None: random).
        train_encoder: let the VGG encoder learn (keras-sr's option for training without the official
            `vgg_r41.pth`; official: frozen).
        name: model name.

    Returns:
        A model mapping the RGB [0, 255] inputs to the SR image in [0, 255] (not clipped, as official).
    """
    if int(scale) not in (4, 8):
        raise ValueError(f"RefVAE is an x8 (or x4) architecture, got scale={scale!r}.")
    vgg_widths = tuple(int(w) for w in vgg_widths)
    decoder_widths = tuple(int(w) for w in decoder_widths)
    if len(vgg_widths) != 4 or len(decoder_widths) != 3:
        raise ValueError(f"refvae: vgg_widths needs 4 numbers and decoder_widths 3, got {vgg_widths}, "
                         f"{decoder_widths}.")
    f, size, dim, c4 = int(latent_channels), int(latent_size), int(latent_dim), vgg_widths[-1]

    inputs = {key: keras.Input((None, None, 3), name=key) for key in INPUT_NAMES}
    unit = {key: keras.layers.Rescaling(1.0 / 255.0, name=f"{key}_to_unit")(inputs[key]) for key in INPUT_NAMES}
    encoder = vgg_encoder(vgg_widths)
    encoder.trainable = bool(train_encoder)  # official: loaded from vgg_r41.pth and frozen
    lr_feat = encoder(unit["lr_up"])
    ref_feat = encoder(unit["ref"])

    # The posterior q(z | ref): init_feat, 16x16 grid, flattened channel-first (PyTorch's view), dense.
    x = _conv(f, 1, "init_conv1")(ref_feat)
    x = _lrelu("init_act1")(keras.layers.BatchNormalization(name="init_bn1", **_BATCH_NORM)(x))
    x = _conv(f, 3, "init_conv2")(x)
    x = _lrelu("init_act2")(keras.layers.BatchNormalization(name="init_bn2", **_BATCH_NORM)(x))
    x = BilinearResize((size, size), name="posterior_grid")(x)
    x = keras.layers.Flatten(name="posterior_flatten")(keras.layers.Permute((3, 1, 2), name="posterior_nchw")(x))
    stats = keras.layers.Dense(2 * dim, name="vae_encoder")(x)
    z = GaussianLatent(sample_at_inference=sample_latent, seed=seed, name="latent")(stats)

    # The decoder p(sr | z, lr).
    x = keras.layers.Dense(f * size * size, name="vae_decoder")(z)
    x = keras.layers.Permute((2, 3, 1), name="latent_nhwc")(keras.layers.Reshape((f, size, size), name="latent_grid")(x))
    x = BilinearResize(name="latent_to_lr")([x, lr_feat])
    feat = _resnet_block(_conv(c4, 1, "dec_feat_conv")(x), c4, "dec_feat_block")
    m = _conv(c4, 1, "mask_conv_in")(lr_feat)
    for i in range(int(mask_blocks)):
        m = _resnet_block(m, c4, f"mask_block{i}")
    m = _conv(2 * c4, 1, "mask_conv_out")(m)
    mu, var = m[..., :c4], m[..., c4:]
    feat = keras.layers.Add(name="modulate")([feat, keras.layers.Multiply(name="modulate_scale")([feat, var]), mu])
    for i, width in enumerate(decoder_widths):
        feat = BilinearUpsampling(2, name=f"up{i + 1}")(feat)
        feat = _lrelu(f"up{i + 1}_act")(_conv(width, 3, f"up{i + 1}_conv")(feat))
    feat = _lrelu("out_act")(_conv(decoder_widths[-1], 1, "out_conv1")(feat))
    out = _conv(3, 3, "out_conv2")(feat)
    out = keras.layers.Add(name="add_base")([out, unit["lr_up"]])
    outputs = keras.layers.Rescaling(255.0, dtype="float32", name="to_pixels")(out)
    return keras.Model(inputs, outputs, name=name)


def prepare_inputs(lr, ref, scale=8, ref_size=REF_SIZE):
    """`(inputs, (out_h, out_w))` for one LR image and one reference (RGB HWC, uint8 or float).

    The LR is edge-padded at the bottom/right so that `scale` x its size is a multiple of 8 (the encoder's
    pools and the decoder's steps); `lr_up` = MATLAB bicubic x`scale` of the padded LR; the reference is
    resized to `ref_size` x `ref_size` (official 256; MATLAB bicubic). Crop the output to `[:out_h, :out_w]`.
    """
    lr, ref = rgb_pair(lr, ref)
    scale = int(scale)
    if scale not in (4, 8):
        raise ValueError(f"RefVAE is an x8 (or x4) architecture, got scale={scale!r}.")
    out_h, out_w = lr.shape[0] * scale, lr.shape[1] * scale
    multiple = SIZE_MULTIPLE // scale
    lr_h, lr_w = ceil_to(lr.shape[0], multiple), ceil_to(lr.shape[1], multiple)
    lr = np.pad(lr, [(0, lr_h - lr.shape[0]), (0, lr_w - lr.shape[1]), (0, 0)], mode="edge")
    if ref.shape[:2] != (ref_size, ref_size):
        ref = imresize(ref, output_shape=(int(ref_size), int(ref_size)))
    batch = {"lr_up": imresize(lr, scale), "ref": ref}
    return {k: np.asarray(v, np.float32)[None] for k, v in batch.items()}, (out_h, out_w)
