"""TTSR's training losses and the WGAN-GP critic losses of TTSR and C2-Matching, in keras.ops only (TensorFlow and JAX
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
* the critics are registered discriminators of their model families:
  `ttsr_discriminator` (`keras_sr.models.ttsr`, TTSR's official critic) and
  `c2_matching_discriminator` (`keras_sr.models.c2_matching`, SRNTT's
  `ImageDiscriminator`, which C2-Matching's official `gan_type: wgan` trains
  with the same WGAN-GP losses, BatchNorm and sigmoid included).

`build_critic(kind, ...)` builds either; `CRITIC_INPUT_SCALE[kind]` is the
factor from the trainer's [0, 255] pixels to the critic's official input
(127.5 for [-1, 1], 255 for [0, 1]): the gradient penalty is taken on
gradients with respect to that official input, as the papers' code does.

Example:
    >>> critic = build_critic("ttsr", input_size=160, filters=32)
    >>> d_loss = wgan_critic_loss(critic(hr), critic(sr)) + 10.0 * gradient_penalty(grads)
    >>> tpl = transferal_perceptual_loss([sr_lv1, sr_lv2, sr_lv3], [t_lv1, t_lv2, t_lv3])
"""

from keras import ops

from keras_sr import models
from keras_sr.layers.texture_transformer import bicubic_upsample

__all__ = ["build_critic", "CRITIC_INPUT_SCALE",
           "transferal_perceptual_loss", "wgan_critic_loss", "wgan_generator_loss", "gradient_penalty", "interpolate"]

CRITICS = ("ttsr", "c2_matching")
CRITIC_INPUT_SCALE = {"ttsr": 127.5, "c2_matching": 255.0}  # d(official critic input) / d(pixel): 1/that


def build_critic(kind, input_size, filters):
    """The WGAN-GP critic `kind` ("ttsr" or "c2_matching") for HR patches of `input_size` pixels: the registered
    discriminators `ttsr_discriminator` (`keras_sr.models.ttsr`) and `c2_matching_discriminator`
    (`keras_sr.models.c2_matching`)."""
    if kind == "ttsr":
        return models.build("ttsr_discriminator", input_size=input_size, filters=filters)
    if kind == "c2_matching":
        return models.build("c2_matching_discriminator", filters=filters)
    raise ValueError(f"Unknown critic {kind!r}; choose from {', '.join(CRITICS)}.")


def transferal_perceptual_loss(sr_features, textures, soft=None, criterion="l2"):
    """TTSR's TPL: mean over levels of `dist(F_lv * S_lv, T_lv * S_lv)` (S_lv = 1 without `soft`).

    Args:
        sr_features: `[lv1, lv2, lv3]` LTE features of SR (finest first: 4x, 2x, 1x the LR size).
        textures: `[T_lv1, T_lv2, T_lv3]` transferred textures, same shapes.
        soft: optional soft attention `(B, h, w, 1)` at the LR size (official `tpl_use_S`).
        criterion: "l2" (official) or "l1".
    """

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
