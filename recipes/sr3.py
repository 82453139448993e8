"""SR3 recipe: `python -m recipes.sr3 --scale 8 --data FFHQ/images` (16 -> 128 faces), on the `fit` engine.

Saharia et al., "Image Super-Resolution via Iterative Refinement" (SR3, 2021,
https://arxiv.org/abs/2104.07636), Sec. 2 and App. A; no official code (every
setting the paper does not state is marked): the denoiser `sr3` (the paper's
16 -> 128 configuration: channel dim 128, multipliers {1, 2, 4, 8, 8}, 3
residual blocks; attention at 16x16, marked), trained with Alg. 1 (the noise
loss, p = 1 by default, the paper's p in {1, 2}) on the continuous noise level
gamma drawn between the steps of a T = 2000 linear schedule (1e-6 -> 0.01,
marked), `keras_sr.training.diffusion.DiffusionTrainer`; Adam 1e-4, batch 256,
1M steps, a 10k-step linear warm-up (cosine schedule with its floor at the peak
= constant after the warm-up). Whole 128x128 face images: HR patches of 128 at
every scale (LR 16 at x8). The model's sampler (validation, the exported model,
`keras_sr.upscalers.load`): the paper's ancestral sampler, 100 steps
(`--sampler-kind ddim --sampler-steps 50` for DDIM).

Without `--data` it is a CPU-sized demo on the embedded photographs: a small x4
U-Net (32 channels, multipliers 1/2/2, one block per level, attention at 8x8 of
32x32 HR crops), batch 8, 1200 steps at 2e-4, sampled with 25 DDIM
steps; it shows the pipeline runs end to end, its PSNR is weak (a diffusion
model needs far more training than a CPU gives; see the README).

Example:
    $ python -m recipes.sr3 --scale 4                                  # CPU demo
    $ python -m recipes.sr3 --scale 8 --data FFHQ/images --val-data CelebA-HQ/val --out runs/sr3_16_128
    >>> SR3Recipe.for_scale(8).model_config()["channel_multipliers"]
    (1, 2, 4, 8, 8)
"""

import dataclasses
import sys

from keras_sr.training.cli import recipe_main
from keras_sr.training.recipe import Recipe, field

__all__ = ["SR3Recipe", "main", "HR_SIZE"]

HR_SIZE = 128


@dataclasses.dataclass(frozen=True)
class SR3Recipe(Recipe):
    """Train SR3's denoiser (Saharia et al. 2021) with the noise-prediction loss; without --data, a CPU demo."""

    model: str = field("sr3", "registered model name", flag=False)
    batch_size: int = field(256, "global batch size")
    steps: int = field(1_000_000, "optimizer steps")
    learning_rate: float = field(1e-4, "Adam learning rate (after the warm-up)")
    schedule: str = field("cosine", "learning-rate schedule (cosine with min = peak: constant after warm-up)",
                          choices=("step", "cosine", "constant"))
    warmup_steps: int = field(10_000, "linear warm-up steps")
    min_learning_rate: float = field(1e-4, "cosine floor (= learning_rate: no decay)")
    loss: str = field("l1", "norm of the noise-prediction loss (the paper's p = 1 or 2)", choices=("l1", "l2"))
    augment: bool = field(False, "random flips and rotations (off: aligned faces)")
    base_channels: int = field(128, "U-Net channel dim C")
    channel_multipliers: tuple = field((1, 2, 4, 8, 8), "per-level channel multipliers")
    num_res_blocks: int = field(3, "residual blocks per level")
    attention_resolutions: tuple = field((16,), "feature sizes (of the HR patch) with self-attention")
    dropout: float = field(0.0, "dropout in the residual blocks")
    groups: int = field(32, "GroupNorm groups")
    sampler_kind: str = field("ancestral", "the model's sampler", choices=("ancestral", "ddim"))
    sampler_steps: int = field(100, "sampler steps (denoiser calls)")
    val_images: int = field(2, "held-out images sampled at each validation (sampling is slow)")

    @classmethod
    def scale_defaults(cls, scale):
        return {"patch_size": HR_SIZE // int(scale)}

    @classmethod
    def demo_defaults(cls, scale):
        return {"patch_size": 32 // int(scale), "batch_size": 8, "steps": 1200, "learning_rate": 2e-4,
                "schedule": "constant", "warmup_steps": 0, "base_channels": 32, "channel_multipliers": (1, 2, 2),
                "num_res_blocks": 1, "attention_resolutions": (8,), "groups": 8, "sampler_kind": "ddim",
                "sampler_steps": 25, "val_every": 1200, "checkpoint_every": 200, "steps_per_epoch": 100,
                "val_images": 1, "augment": True}

    def sampler(self):
        if self.sampler_kind == "ddim":
            return {"kind": "ddim", "steps": self.sampler_steps, "train_steps": 2000, "beta_start": 1e-6,
                    "beta_end": 1e-2}
        return {"kind": "ancestral", "steps": self.sampler_steps, "beta_start": 1e-4, "beta_end": 0.1}

    def model_config(self):
        return {"scale": self.scale, "image_size": self.hr_patch_size, "base_channels": self.base_channels,
                "channel_multipliers": tuple(self.channel_multipliers), "num_res_blocks": self.num_res_blocks,
                "attention_resolutions": tuple(self.attention_resolutions), "dropout": self.dropout,
                "groups": self.groups, "sampler": self.sampler()}

    def training_model(self, network):
        from keras_sr.training.diffusion import DiffusionTrainer

        return DiffusionTrainer(network, self.scale, loss=self.loss, seed=self.seed)


main = recipe_main(SR3Recipe, prog="recipes.sr3")

if __name__ == "__main__":
    sys.exit(main())
