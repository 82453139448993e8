"""EDSR recipe: `python -m recipes.edsr --scale 4` (or `keras-sr train edsr --scale 4`).

Paper setup (Lim et al., "Enhanced Deep Residual Networks for Single Image
Super-Resolution", CVPRW 2017, Sec. 4.2): 48x48 RGB LR patches, batch 16,
flips and 90-degree rotations, L1 loss, Adam (beta_1 0.9, beta_2 0.999,
epsilon 1e-8), learning rate 1e-4 halved every 2e5 steps, 3e5 steps
(EDSR-PyTorch's `--decay 200`, 300 epochs of 1000 steps). The per-scale rule
keeps the LR patch at 48 for x2, x3 and x4 (HR patch 96, 144, 192).

Without `--data` it is a demo that runs on a laptop CPU: EDSR-baseline on the
eight photographs bundled with scikit-image, held-out `chelsea` and `coffee`,
LR patches of 24 pixels at every scale (HR 48 / 72 / 96), batch 16, Adam 1e-3
with cosine decay to 0 over 300 steps (about 9 minutes in all on 2 CPU cores
at x4, with PyTorch's default conv init as the official code), then
held-out PSNR/SSIM beside bicubic, exports and a comparison PNG. When a
preset for the scale is shipped (`keras_sr/presets/`), the demo fine-tunes
it instead (`--init preset`, the default without `--data`): `edsr_baseline_x2`,
`_x3` and `_x4` are shipped (trained on the CPU on 291 images; see the
README), so the demo fine-tunes the preset of its scale for 100 steps at 1e-5
(`Recipe.finetune_defaults`). `--init-from SOURCE` starts from another
model's matching layers (the x2/x3 presets started from the x4 run's body,
as the paper starts x3/x4 from x2).

Example:
    $ python -m recipes.edsr --scale 4
    $ python -m recipes.edsr --scale 2 --variant full --data T91/HR BSD200/HR --out runs/edsr_full_x2
    $ python -m recipes.edsr --resume --out runs/edsr_full_x2 --steps 400000     # continue, extend
    $ python -m recipes.edsr --scale 3 --init-from edsr_baseline_x4 --data T91/HR --ema-decay 0.995
"""

import dataclasses
import sys

from keras_sr.training.cli import recipe_main
from keras_sr.training.recipe import Recipe, field

__all__ = ["EDSRRecipe", "main"]

DEMO_LR_PATCH = 24  # the body runs at LR size: the same patch keeps every scale's step at or below x4's cost


@dataclasses.dataclass(frozen=True)
class EDSRRecipe(Recipe):
    """Train EDSR (Lim et al., CVPRW 2017) at x2/x3/x4 with the paper's setup; without --data, a CPU demo."""

    model: str = field("edsr", "registered model name", flag=False)
    variant: str = field("baseline", "EDSR variant (baseline: 16x64, full: 32x256, res_scale 0.1)",
                         choices=("baseline", "full"))
    num_blocks: int = field(0, "residual blocks (0: the variant's)")
    filters: int = field(0, "feature channels (0: the variant's)")
    res_scale: float = field(0.0, "residual scaling (0: the variant's)")

    @classmethod
    def scale_defaults(cls, scale):
        return {"patch_size": 48}

    @classmethod
    def demo_defaults(cls, scale):
        return {
            "patch_size": DEMO_LR_PATCH,
            "batch_size": 16,
            "steps": 300,
            "learning_rate": 1e-3,
            "schedule": "cosine",
            "val_every": 100,
            "checkpoint_every": 50,
            "steps_per_epoch": 25,
            "val_images": 0,
        }

    def model_config(self):
        config = {"scale": self.scale, "variant": self.variant}
        for name in ("num_blocks", "filters", "res_scale"):
            if getattr(self, name):
                config[name] = getattr(self, name)
        return config


main = recipe_main(EDSRRecipe, prog="recipes.edsr")

if __name__ == "__main__":
    sys.exit(main())
