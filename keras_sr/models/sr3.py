"""SR3's conditional denoising U-Net: `eps = f(noisy HR, bicubic-upsampled LR, gamma)`, the registered model.

Saharia, Ho, Chan, Salimans, Fleet, Norouzi, "Image Super-Resolution via
Iterative Refinement" (SR3, 2021, https://arxiv.org/abs/2104.07636). Google
released no code; this is built from the paper and the DDPM U-Net it adapts
(Ho et al., NeurIPS 2020, App. B), and every choice the papers leave open is
marked. (The unofficial Janspiry/Image-Super-Resolution-via-Iterative-Refinement
was read for orientation only; keras-sr follows the paper where the two differ:
it conditions on gamma, not sqrt(gamma), and samples gamma uniformly between
schedule steps.)

* inputs (registry kind "diffusion"): `noisy` (the HR-size noisy image y_gamma,
  in the [-1, 1] image space), `lr_up` (the LR image upsampled to the HR size by
  bicubic, RGB in [0, 255]; SR3 conditions by channel concatenation, Sec. 2.3)
  and `gamma` (N, 1), the continuous noise level `y_gamma = sqrt(gamma) y0 +
  sqrt(1 - gamma) eps`; output: the predicted noise eps (float32);
* noise-level conditioning: `NoiseLevelEmbedding` (sinusoid of 5000 * gamma,
  marked) -> Dense(4C) -> swish -> Dense(4C), fed to every residual block by a
  FiLM affine (`FiLMResidualBlock`);
* U-Net: conv3x3 to C, per level `num_res_blocks` residual blocks of
  `C * channel_multipliers[level]` (self-attention after each at the
  `attention_resolutions`, counted on `image_size`; the paper does not list them:
  16x16 as DDPM, marked), a stride-2 conv between levels; middle: block,
  attention, block; decoder: `num_res_blocks + 1` blocks per level on the
  concatenated skips, nearest x2 + conv3x3 between levels; GroupNorm -> swish ->
  conv3x3 to 3. Skip connections rescaled by 1/sqrt(2) (paper, App. A).

The paper's 16x16 -> 128x128 face model (App. A, Table: channel dim 128,
multipliers {1, 2, 4, 8, 8}, 3 residual blocks, "550M" parameters) is
`sr3(**PAPER_16_128)`; `parameter_count` counts this architecture by formula
(no official implementation to count against). Inputs of any height and width
are padded (symmetric) to a multiple of `2 ** (len(channel_multipliers) - 1)` and the
output cropped back.

How it fits the registry: the registered model is only the denoiser; the
sampler (`keras_sr.diffusion`: the paper's ancestral sampler, DDIM) is a
separate object whose settings are part of the model's config (`sampler=`), so a
saved `.keras` file knows how it is sampled; `keras_sr.upscalers.load(model)`
returns an upscaler that runs that sampler (`upscale(lr)`).

Example:
    >>> from keras_sr import models
    >>> denoiser = models.build("sr3", **PAPER_16_128)                       # 16 -> 128 faces
    >>> sr = keras_sr.upscalers.load(denoiser).upscale(lr_uint8)            # runs the sampler
"""

import keras

from keras_sr.layers.film_residual_block import FiLMResidualBlock, _groups
from keras_sr.layers.noise_level_embedding import NoiseLevelEmbedding
from keras_sr.layers.spatial_self_attention import SpatialSelfAttention
from keras_sr.layers.window_padding import CropToScaledSize, PadToMultiple
from keras_sr.models import register

__all__ = ["sr3", "parameter_count", "PAPER_16_128", "INPUT_NAMES", "DEFAULT_SAMPLER", "SAMPLER_KINDS"]

INPUT_NAMES = ("noisy", "lr_up", "gamma")

PAPER_16_128 = dict(scale=8, image_size=128, base_channels=128, channel_multipliers=(1, 2, 4, 8, 8),
                    num_res_blocks=3, attention_resolutions=(16,))

# The paper's inference: ancestral sampling (Alg. 2) with a 100-step schedule; the paper searches the inference
# schedule per task, the linear betas 1e-4 -> 0.1 are keras-sr's default (marked).
DEFAULT_SAMPLER = {"kind": "ancestral", "steps": 100, "beta_start": 1e-4, "beta_end": 0.1}
SAMPLER_KINDS = ("ancestral", "ddim")


def _check_sampler(sampler):
    sampler = dict(DEFAULT_SAMPLER if sampler is None else sampler)
    if sampler.get("kind") not in SAMPLER_KINDS:
        raise ValueError(f"sr3 sampler kind must be one of {SAMPLER_KINDS}, got {sampler.get('kind')!r}.")
    if int(sampler.get("steps", 0)) < 1:
        raise ValueError(f"sr3 sampler needs steps >= 1, got {sampler.get('steps')!r}.")
    return sampler


def _levels_with_attention(image_size, channel_multipliers, attention_resolutions):
    return [image_size // 2 ** i in set(attention_resolutions) for i in range(len(channel_multipliers))]


@register("sr3", kind="diffusion", inputs=INPUT_NAMES,
          test_config=dict(scale=2, image_size=8, base_channels=4, channel_multipliers=(1, 2), num_res_blocks=1,
                           attention_resolutions=(4,), groups=2, sampler={"kind": "ddim", "steps": 2}))
def sr3(scale=4, image_size=128, base_channels=128, channel_multipliers=(1, 2, 4, 8, 8), num_res_blocks=3,
        attention_resolutions=(16,), dropout=0.0, groups=32, noise_level_scale=5000.0, num_heads=1, sampler=None,
        name=None):
    """Build SR3's denoiser as a functional `keras.Model` with dict inputs `noisy`, `lr_up`, `gamma`.

    Args:
        scale: the SR factor the model is trained for (used by the upscaler: `lr_up` is the x`scale` bicubic).
        image_size: the HR training size, only to place attention (`attention_resolutions` are sizes of it).
        base_channels: C (128 in the paper's 16 -> 128 model).
        channel_multipliers: per-level width multipliers ({1, 2, 4, 8, 8}).
        num_res_blocks: residual blocks per encoder level (3; the decoder has one more).
        attention_resolutions: feature sizes with self-attention (16: DDPM's, marked).
        dropout: dropout in the residual blocks (the paper does not give it; 0, marked).
        groups: GroupNorm groups (32).
        noise_level_scale: gamma multiplier of the sinusoidal embedding (5000, WaveGrad's, marked).
        num_heads: attention heads (1).
        sampler: the default sampler's settings (`keras_sr.diffusion.sampler_from_config`), e.g.
            `{"kind": "ancestral", "steps": 100, "beta_start": 1e-4, "beta_end": 0.1}` (the default) or
            `{"kind": "ddim", "steps": 50, "train_steps": 2000, "beta_start": 1e-6, "beta_end": 0.01}`.
        name: model name.
    """
    _check_sampler(sampler)
    if int(scale) < 1:
        raise ValueError(f"sr3 scale must be >= 1, got {scale!r}.")
    C = int(base_channels)
    mults = tuple(int(m) for m in channel_multipliers)
    attn = _levels_with_attention(int(image_size), mults, tuple(int(r) for r in attention_resolutions))
    block = lambda f, name: FiLMResidualBlock(f, dropout=dropout, groups=groups, name=name)  # noqa: E731
    attention = lambda name: SpatialSelfAttention(num_heads, groups, name=name)  # noqa: E731

    noisy = keras.Input((None, None, 3), name="noisy")
    lr_up = keras.Input((None, None, 3), name="lr_up")
    gamma = keras.Input((1,), name="gamma")
    emb = NoiseLevelEmbedding(C, noise_level_scale, name="noise_level_embedding")(gamma)
    emb = keras.layers.Dense(4 * C, activation="silu", name="noise_level_dense1")(emb)
    emb = keras.layers.Dense(4 * C, name="noise_level_dense2")(emb)
    condition = keras.layers.Rescaling(1.0 / 127.5, offset=-1.0, name="lr_to_signed_unit")(lr_up)
    x = keras.layers.Concatenate(name="input_concat")([condition, noisy])
    h = PadToMultiple(2 ** (len(mults) - 1), mode="symmetric", name="pad_to_multiple")(x)
    h = keras.layers.Conv2D(C, 3, padding="same", name="conv_in")(h)
    skips = [h]
    for level, mult in enumerate(mults):
        for b in range(int(num_res_blocks)):
            h = block(C * mult, f"down_{level}_block_{b}")([h, emb])
            if attn[level]:
                h = attention(f"down_{level}_attention_{b}")(h)
            skips.append(h)
        if level < len(mults) - 1:
            h = keras.layers.Conv2D(C * mult, 3, strides=2, padding="same", name=f"down_{level}_downsample")(h)
            skips.append(h)
    h = block(C * mults[-1], "mid_block_0")([h, emb])
    h = attention("mid_attention")(h)
    h = block(C * mults[-1], "mid_block_1")([h, emb])
    for level in reversed(range(len(mults))):
        for b in range(int(num_res_blocks) + 1):
            h = keras.layers.Concatenate(name=f"up_{level}_concat_{b}")([h, skips.pop()])
            h = block(C * mults[level], f"up_{level}_block_{b}")([h, emb])
            if attn[level]:
                h = attention(f"up_{level}_attention_{b}")(h)
        if level > 0:
            h = keras.layers.UpSampling2D(2, interpolation="nearest", name=f"up_{level}_nearest")(h)
            h = keras.layers.Conv2D(C * mults[level], 3, padding="same", name=f"up_{level}_upsample")(h)
    h = keras.layers.GroupNormalization(_groups(C * mults[0], groups), epsilon=1e-5, name="norm_out")(h)
    h = keras.layers.Activation("silu", name="silu_out")(h)
    h = keras.layers.Conv2D(3, 3, padding="same", dtype="float32", name="conv_out")(h)
    eps = CropToScaledSize(1, dtype="float32", name="crop_to_input")([h, x])
    return keras.Model({"noisy": noisy, "lr_up": lr_up, "gamma": gamma}, eps, name=name or f"sr3_x{int(scale)}")


def parameter_count(base_channels=128, channel_multipliers=(1, 2, 4, 8, 8), num_res_blocks=3, image_size=128,
                    attention_resolutions=(16,), **_):
    """Parameters of `sr3(...)`, by formula (the architecture above; no official implementation to count)."""
    C = base_channels
    mults = tuple(channel_multipliers)
    attn = _levels_with_attention(image_size, mults, attention_resolutions)
    E = 4 * C

    def conv(cin, cout, k=3, bias=True):
        return k * k * cin * cout + (cout if bias else 0)

    def res(cin, cout):
        return (2 * cin + conv(cin, cout) + (E * 2 * cout + 2 * cout) + 2 * cout + conv(cout, cout)
                + (conv(cin, cout, 1) if cin != cout else 0))

    def attention(c):
        return 2 * c + conv(c, 3 * c, 1, bias=False) + conv(c, c, 1)

    total = (C * E + E) + (E * E + E) + conv(6, C)
    chans, ch = [C], C
    for level, mult in enumerate(mults):
        for _ in range(num_res_blocks):
            total += res(ch, C * mult) + (attention(C * mult) if attn[level] else 0)
            ch = C * mult
            chans.append(ch)
        if level < len(mults) - 1:
            total += conv(ch, ch)
            chans.append(ch)
    total += 2 * res(ch, ch) + attention(ch)
    for level in reversed(range(len(mults))):
        for _ in range(num_res_blocks + 1):
            total += res(ch + chans.pop(), C * mults[level]) + (attention(C * mults[level]) if attn[level] else 0)
            ch = C * mults[level]
        if level > 0:
            total += conv(ch, ch)
    return total + 2 * ch + conv(ch, 3)
