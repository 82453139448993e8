"""TTSR's training losses and the WGAN-GP critics of TTSR and C2-Matching, in keras.ops only (TensorFlow and JAX
train steps share them).

Yang et al., "Learning Texture Transformer Network for Image
Super-Resolution", CVPR 2020, Sec. 3.4, and the official code
(researchmm/TTSR, `loss/loss.py`, `loss/discriminator.py`, `train.sh`):

* reconstruction: L1 on images in [-1, 1] (the official range; here pixels
  are [0, 255], so the loss is taken on `x / 127.5`);
* perceptual: MSE of VGG19 `relu5_1` features of SR and HR
  (`keras_sr.training.perceptual.PerceptualLoss`);
* transferal perceptual loss (TPL, `transferal_perceptual_loss`): the
  official `TPerceptualLoss` with its defaults (`tpl_use_S=False`,
  `tpl_type="l2"`): the mean over the three levels of
  `MSE(LTE(SR)_lv, T_lv)`, LTE(SR) computed with a frozen copy of the current
  LTE weights (`LTE_copy`), T the transferred textures (gradients flow into
  the main network through SR and into the LTE through T). The paper writes
  it with Gram matrices; the released code (used for its results) compares
  the features directly, and so does this loss (`use_soft=True` applies the
  sigmoid of the soft attention as `tpl_use_S`);
* adversarial: WGAN-GP (Gulrajani et al., NeurIPS 2017): critic loss
  `E[D(fake)] - E[D(real)] + 10 E[(||grad D(x_hat)||_2 - 1)^2]`, generator
  loss `-E[D(fake)]`;
* `ttsr_discriminator`: the official critic: ten 3x3 convs (32, 32, 64, 64,
  128, 128, 256, 256, 512, 512 channels, stride 2 on every second one) with
  LeakyReLU(0.2), then dense 1024 + LeakyReLU and dense 1, on [-1, 1] images
  (no normalization layers, as WGAN-GP requires);
* `c2_matching_discriminator`: C2-Matching's critic (Jiang et al., CVPR 2021,
  official `ImageDiscriminator`, SRNTT's): five blocks of conv 3x3 + BN +
  LeakyReLU(0.2) and conv 3x3 stride 2 + BN + LeakyReLU (32 to 512 channels),
  global average pooling, 1x1 conv 1024 + LeakyReLU, 1x1 conv 1 and a sigmoid,
  on [0, 1] images of any size. Its official `gan_type: wgan` trains it with
  the same WGAN-GP losses, BatchNorm and sigmoid included.

`build_critic(kind, ...)` makes either; `CRITIC_INPUT_SCALE[kind]` is the
factor from the trainer's [0, 255] pixels to the critic's official input
(127.5 for [-1, 1], 255 for [0, 1]): the gradient penalty is taken on
gradients with respect to that official input, as the papers' code does.

Example:
    >>> critic = ttsr_discriminator(input_size=160)
    >>> d_loss = wgan_critic_loss(critic(hr), critic(sr)) + 10.0 * gradient_penalty(grads)
    >>> tpl = transferal_perceptual_loss([sr_lv1, sr_lv2, sr_lv3], [t_lv1, t_lv2, t_lv3])
"""

import keras
from keras import ops

__all__ = ["ttsr_discriminator", "c2_matching_discriminator", "build_critic", "CRITIC_INPUT_SCALE",
           "transferal_perceptual_loss", "wgan_critic_loss", "wgan_generator_loss", "gradient_penalty", "interpolate"]

CRITICS = ("ttsr", "c2_matching")
CRITIC_INPUT_SCALE = {"ttsr": 127.5, "c2_matching": 255.0}  # d(official critic input) / d(pixel): 1/that


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


def c2_matching_discriminator(filters=32, dense_units=1024, name="c2_matching_discriminator"):
    """C2-Matching's `ImageDiscriminator` (ndf `filters`) for RGB [0, 255] images of any size (rescaled to [0, 1]).

    SRNTT initialization (`srntt_init_weights`, normal 0.02): conv kernels N(0, 0.02) with zero biases, BN
    scales N(1, 0.02) with zero offsets; PyTorch's BN (momentum 0.1, eps 1e-5) and its symmetric padding of
    1 on the stride-2 convs. 5,242,529 trainable parameters at ndf 32, as the official network.

    Example:
        >>> critic = c2_matching_discriminator()
        >>> critic(keras.ops.zeros((2, 160, 160, 3))).shape    # (2, 1), in (0, 1)
    """
    f = int(filters)
    conv_init = keras.initializers.RandomNormal(0.0, 0.02)
    x = inputs = keras.Input((None, None, 3), name="image")
    x = keras.layers.Rescaling(1.0 / 255.0, name="to_unit")(x)
    for block, width in enumerate((f, 2 * f, 4 * f, 8 * f, 16 * f), start=1):
        for part, strides in ((1, 1), (2, 2)):
            prefix = f"block{block}_{part}"
            if strides == 2:  # PyTorch padding=1 with stride 2 (Keras "same" would pad 0 on the left)
                x = keras.layers.ZeroPadding2D(1, name=f"{prefix}_pad")(x)
            x = keras.layers.Conv2D(width, 3, strides=strides, padding="same" if strides == 1 else "valid",
                                    kernel_initializer=conv_init, name=f"{prefix}_conv")(x)
            x = keras.layers.BatchNormalization(momentum=0.9, epsilon=1e-5,
                                                gamma_initializer=keras.initializers.RandomNormal(1.0, 0.02),
                                                name=f"{prefix}_bn")(x)
            x = keras.layers.LeakyReLU(0.2, name=f"{prefix}_lrelu")(x)
    x = keras.layers.GlobalAveragePooling2D(keepdims=True, name="pool")(x)
    x = keras.layers.Conv2D(int(dense_units), 1, kernel_initializer=conv_init, name="out_conv1")(x)
    x = keras.layers.LeakyReLU(0.2, name="out_lrelu")(x)
    x = keras.layers.Conv2D(1, 1, kernel_initializer=conv_init, name="out_conv2")(x)
    x = keras.layers.Flatten(name="flatten")(x)
    outputs = keras.layers.Activation("sigmoid", dtype="float32", name="sigmoid")(x)
    return keras.Model(inputs, outputs, name=name)


def build_critic(kind, input_size, filters):
    """The WGAN-GP critic `kind` ("ttsr" or "c2_matching") for HR patches of `input_size` pixels."""
    if kind == "ttsr":
        return ttsr_discriminator(input_size, filters)
    if kind == "c2_matching":
        return c2_matching_discriminator(filters)
    raise ValueError(f"Unknown critic {kind!r}; choose from {', '.join(CRITICS)}.")


def transferal_perceptual_loss(sr_features, textures, soft=None, criterion="l2"):
    """TTSR's TPL: mean over levels of `dist(F_lv * S_lv, T_lv * S_lv)` (S_lv = 1 without `soft`).

    Args:
        sr_features: `[lv1, lv2, lv3]` LTE features of SR (finest first: 4x, 2x, 1x the LR size).
        textures: `[T_lv1, T_lv2, T_lv3]` transferred textures, same shapes.
        soft: optional soft attention `(B, h, w, 1)` at the LR size (official `tpl_use_S`).
        criterion: "l2" (official) or "l1".
    """
    from keras_sr.layers.texture_transformer import bicubic_upsample

    if criterion not in ("l1", "l2"):
        raise ValueError(f"transferal_perceptual_loss: criterion must be l1 or l2, got {criterion!r}.")
    total = 0.0
    for level, (feature, texture) in enumerate(zip(sr_features, textures)):
        feature, texture = ops.cast(feature, "float32"), ops.cast(texture, "float32")
        if soft is not None:
            weight = ops.sigmoid(bicubic_upsample(ops.cast(soft, "float32"), 2 ** (2 - level)))
            feature, texture = feature * weight, texture * weight
        diff = feature - texture
        total = total + (ops.mean(ops.square(diff)) if criterion == "l2" else ops.mean(ops.abs(diff)))
    return total / float(len(sr_features))


def wgan_critic_loss(real_logits, fake_logits):
    """`E[D(fake)] - E[D(real)]` (without the gradient penalty)."""
    return ops.mean(ops.cast(fake_logits, "float32")) - ops.mean(ops.cast(real_logits, "float32"))


def wgan_generator_loss(fake_logits):
    """`-E[D(fake)]`."""
    return -ops.mean(ops.cast(fake_logits, "float32"))


def interpolate(real, fake, epsilon):
    """`x_hat = epsilon * real + (1 - epsilon) * fake`, epsilon `(B, 1, 1, 1)` in [0, 1]."""
    epsilon = ops.cast(epsilon, real.dtype)
    return epsilon * real + (1.0 - epsilon) * fake


def gradient_penalty(gradients):
    """`E[(||g||_2 - 1)^2]` over the batch of critic input gradients `(B, H, W, C)`."""
    g = ops.cast(gradients, "float32")
    g = ops.reshape(g, (ops.shape(g)[0], -1))
    norm = ops.sqrt(ops.sum(ops.square(g), axis=1) + 1e-12)
    return ops.mean(ops.square(norm - 1.0))
