"""RefVAE recipe: `python -m recipes.refvae [--scale 8|4] [--data DIR ...] [--steps N]`.

Liu, Siu, Wang, "Reference based Image Super-Resolution via Variational
AutoEncoder", CVPR Workshops 2021 (https://arxiv.org/abs/2106.04090), and the
official `main_GAN.py` / `dataset.py` (github.com/Holmes-Alan/RefVAE):

* data: DIV2K + Flickr2K HR images, LR patches 64x64 (x8: 512x512 HR, MATLAB
  bicubic LR in the official loader too), flips and rotations, batch 8;
* **the posterior encodes the HR target** in training (`G(input, LR_feat,
  tar_feat)` with `tar_feat = enc(target)`; the loader's reference image is
  not used), the reference only at test: `posterior_from="target"` (default)
  puts the HR patch into the model's `ref` input on every step;
  `"reference"` trains on the loader's synthetic references instead;
* Adam (0.9, 0.999, eps 1e-8) at 1e-4, divided by 10 at half of the 500
  epochs (`--steps` 216,000 = 500 epochs of ceil(3,450 / 8) = 432 steps,
  milestone 108,000);
* the generator loss, official weights on **sums** over pixels (L1 with
  `size_average=False`) and the batch: `100 L1(down(SR), LR) + [L1(SR, HR) +
  L1 at 1/2 + L1 at 1/4] + KL + 0.01 content + 10 style + 1e4 LPIPS + GAN +
  0.01 GAN-feature`. keras-sr's reconstruction term is a per-pixel mean on
  [-1, 1] images, so the same balance is: `rec_weight` 1 for L1(SR, HR),
  `multiscale_weight` 1 for `L1/4 at 1/2 + L1/16 at 1/4` (the sums' pixel
  ratios), `lr_weight` = 100 / scale^2 for the LR-consistency L1 (6.25 at x4,
  1.5625 at x8) and `kl_weight` = 2 / (3 x HR-patch pixels) for the KL per
  sample (summed over the latent; 2.5e-6 at 512x512), all derived from the
  official weights by dividing its sum-loss by 3 x HR pixels / 2. **Left at
  weight 0**: the VGG content/style terms, LPIPS and the GAN terms (keras-sr
  has no LPIPS network or the official multi-scale discriminator; the
  official weights are stated here for the record). The downscalings in the
  losses are MATLAB bicubic (official: PyTorch bicubic, no antialiasing).

The network: `keras_sr.models.refvae` (33,924,163 trainable parameters + the
frozen VGG encoder, 3,505,740; `--encoder-weights vgg_r41.npz` loads the
official `vgg_r41.pth`, else the encoder stays random and frozen).

Without `--data`: an embedded CPU demo (a small RefVAE at x8: VGG widths
8/16/32/32 (trained: no official VGG weights here), latent 8 x 8 x 8 -> 32,
one mask block, decoder 16/16/16; 400
steps of batch 4 with 16x16 LR patches, Adam 5e-4 constant, on the
scikit-image photographs), then scikit-image's `motorcycle_left` with
`motorcycle_right` and an unrelated reference. Its numbers show the pipeline,
not RefVAE's quality.

Example:
    $ python -m recipes.refvae --out runs/refvae_demo                                  # CPU demo
    $ python -m recipes.refvae --data DIV2K/HR Flickr2K/HR --encoder-weights vgg_r41.npz --out runs/refvae_x8
"""

import dataclasses
import sys
import typing

from keras import ops

from keras_sr.imresize import imresize_ops
from keras_sr.layers.gaussian_latent import kl_divergence
from keras_sr.models import refvae as refvae_module
from keras_sr.training.cli import recipe_main
from keras_sr.training.recipe import field
from keras_sr.training.refsr import RefSRRecipe

from keras_sr.recipes.ttsr import run_ttsr

__all__ = ["RefVAERecipe", "main", "OFFICIAL_STEPS_PER_EPOCH"]

OFFICIAL_STEPS_PER_EPOCH = 432  # ceil((800 DIV2K + 2,650 Flickr2K) / batch 8)


def _l1(a, b):
    return ops.mean(ops.abs(a - b))


@dataclasses.dataclass(frozen=True)
class RefVAERecipe(RefSRRecipe):
    """Train RefVAE (Liu et al., CVPRW 2021): a conditional VAE for reference-based SR, x8 (or x4).

    Official defaults: LR 64x64, batch 8, Adam 1e-4 / 10 at half of 500 epochs; the posterior encodes the HR
    target; loss = multi-scale L1 + 100/scale^2 LR-consistency L1 + KL (rescaled from the official sums, see
    the module docstring), the official perceptual, LPIPS and GAN terms at weight 0.
    Without --data: a CPU demo (small RefVAE x8, 400 steps on the scikit-image photographs).
    """

    run_name: typing.ClassVar[str] = "refvae"
    demo_label: typing.ClassVar[str] = "RefVAE"

    model: str = field("refvae", "registered model name", flag=False)
    variant: str = field("rec", "losses: rec (multi-scale L1 + LR consistency + KL; the official perceptual / "
                                "LPIPS / GAN terms at weight 0)", choices=("rec",))
    scale: int = field(8, "upscaling factor (the paper's NTIRE x8; x4 is the same network)")
    patch_size: int = field(64, "LR patch size (official 64)")
    batch_size: int = field(8, "batch size (official 8)")
    steps: int = field(500 * OFFICIAL_STEPS_PER_EPOCH, "optimizer steps (official: 500 epochs of DIV2K+Flickr2K)")
    init_steps: int = field(0, "unused (no GAN stage)", flag=False)
    schedule: str = field("step", "learning-rate schedule (official: x0.1 at half of the epochs)",
                          choices=("step", "cosine", "constant"))
    lr_milestones: tuple = field((250 * OFFICIAL_STEPS_PER_EPOCH,), "step schedule: milestones (official: epoch 250)")
    lr_gamma: float = field(0.1, "step schedule: decay factor (official 0.1)")
    rec_weight: float = field(1.0, "L1(SR, HR) weight (per-pixel mean on [-1, 1] images; official 1 on sums)")
    multiscale_weight: float = field(1.0, "weight of L1/4 at 1/2 + L1/16 at 1/4 size (official 1 + 1 on sums)")
    lr_weight: float = field(-1.0, "LR-consistency L1(down(SR), LR) weight (negative: the official 100 on sums, "
                                   "100 / scale^2 here)")
    kl_weight: float = field(-1.0, "KL weight per sample (negative: the official 1 on sums, 2 / (3 HR-patch pixels) "
                                   "here)")
    posterior_from: str = field("target", "what the posterior encodes in training: target (the HR patch, "
                                          "official) or reference (the loader's synthetic reference)",
                                choices=("target", "reference"))
    perceptual_weight: float = field(0.0, "VGG perceptual weight (official content 0.01 + style 10 on sums: not "
                                          "implemented)", flag=False)
    tpl_weight: float = field(0.0, "texture loss weight (RefVAE: none)", flag=False)
    adversarial_weight: float = field(0.0, "adversarial weight (official GAN terms: not implemented)", flag=False)
    lte_learning_rate: float = field(1e-4, "unused (RefVAE has no LTE)", flag=False)
    # RefVAE's network (model_config)
    vgg_widths: tuple = field((64, 128, 256, 512), "frozen VGG encoder channels at relu1_1 ... relu4_1")
    latent_channels: int = field(64, "channels of init_feat and of the decoded latent grid")
    latent_size: int = field(16, "side of the latent grid")
    latent_dim: int = field(256, "latent dimensions")
    mask_blocks: int = field(3, "residual blocks of the LR-feature modulation")
    decoder_widths: tuple = field((256, 128, 64), "convs of the three x2 decoder steps")
    encoder_weights: str = field("", "the official vgg_r41.pth as .npz (refvae.load_encoder_weights); empty: random, "
                                     "frozen")
    train_encoder: bool = field(False, "let the VGG encoder learn (official: frozen; for runs without vgg_r41.pth)")

    @classmethod
    def scale_defaults(cls, scale):
        if int(scale) not in (4, 8):
            raise ValueError(f"RefVAERecipe: RefVAE is an x8 (or x4) architecture, got --scale {scale}.")
        return {}

    def validated(self):
        super().validated()
        name = type(self).__name__
        if self.hr_patch_size % refvae_module.SIZE_MULTIPLE:
            raise ValueError(f"{name}: the HR patch ({self.hr_patch_size}) must be a multiple of "
                             f"{refvae_module.SIZE_MULTIPLE} (the encoder's three pools)")
        if self.multiscale_weight < 0:
            raise ValueError(f"{name}: multiscale_weight must be >= 0, got {self.multiscale_weight}")
        if self.multiscale_weight and self.hr_patch_size % 4:
            raise ValueError(f"{name}: the multi-scale L1 needs HR patches that are a multiple of 4")
        return self

    @property
    def kl_weight_value(self):
        return self.kl_weight if self.kl_weight >= 0 else 2.0 / (3.0 * self.hr_patch_size ** 2)

    @property
    def lr_weight_value(self):
        return self.lr_weight if self.lr_weight >= 0 else 100.0 / self.scale ** 2

    def model_config(self):
        return {"scale": self.scale, "vgg_widths": tuple(self.vgg_widths), "latent_channels": self.latent_channels,
                "latent_size": self.latent_size, "latent_dim": self.latent_dim, "mask_blocks": self.mask_blocks,
                "decoder_widths": tuple(self.decoder_widths), "train_encoder": self.train_encoder}

    def build_model(self):
        model = super().build_model()
        if self.encoder_weights:
            refvae_module.load_encoder_weights(model, self.encoder_weights)
        return model

    def check_files(self, resuming=False):
        super().check_files(resuming)
        import os

        if self.encoder_weights and not os.path.isfile(self.encoder_weights):
            raise SystemExit(f"error: {type(self).__name__}: --encoder-weights {self.encoder_weights}: file not found")

    def training_inputs(self, inputs, hr):
        if self.posterior_from == "target":
            return {**inputs, "ref": hr}
        return inputs

    def auxiliary_outputs(self, model):
        return {"posterior": model.get_layer("latent").input}

    def auxiliary_log_keys(self):
        return ("g_kl", "g_lr", "g_multiscale")

    def auxiliary_losses(self, hr, outputs):
        sr = ops.cast(outputs["sr"], "float32") / 127.5 - 1.0
        hr = ops.cast(hr, "float32") / 127.5 - 1.0
        terms = {"g_kl": (self.kl_weight_value, ops.mean(kl_divergence(outputs["posterior"])))}
        if self.lr_weight_value:
            down = 1.0 / self.scale
            terms["g_lr"] = (self.lr_weight_value, _l1(imresize_ops(sr, down), imresize_ops(hr, down)))
        if self.multiscale_weight:
            half = _l1(imresize_ops(sr, 0.5), imresize_ops(hr, 0.5))
            quarter = _l1(imresize_ops(sr, 0.25), imresize_ops(hr, 0.25))
            terms["g_multiscale"] = (self.multiscale_weight, half / 4.0 + quarter / 16.0)
        return terms

    @classmethod
    def demo_defaults(cls, scale):
        return {"vgg_widths": (8, 16, 32, 32), "latent_channels": 8, "latent_size": 8, "latent_dim": 32,
                "mask_blocks": 1, "decoder_widths": (16, 16, 16), "train_encoder": True, "patch_size": 16,
                "batch_size": 4, "steps": 400,
                "schedule": "constant", "steps_per_epoch": 25, "learning_rate": 5e-4, "val_every": 400,
                "checkpoint_every": 100, "val_images": 0}


main = recipe_main(RefVAERecipe, prog="recipes.refvae", run=run_ttsr)

if __name__ == "__main__":
    sys.exit(main())
