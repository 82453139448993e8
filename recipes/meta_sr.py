"""Meta-SR recipe: `python -m recipes.meta_sr --data DIV2K/HR` (Meta-RDN).

Official setup (Hu et al., CVPR 2019; XuecaiHu/Meta-SR-Pytorch): DIV2K,
LR patches of 50, one scale per batch drawn from 1.1, 1.2, ..., 4.0, every HR
pixel of the crop supervised (`sample_q 0`), batch 16, L1, Adam 1e-4 halved
every 200 epochs, 1000 epochs (1,000,000 steps on the `fit` engine,
`keras_sr.training.implicit`). keras-sr makes the LR with PIL bicubic as the
LIIF recipe (the official Meta-SR pre-computes its LR images with MATLAB
`imresize`; keras-sr's evaluation is MATLAB). Without `--data` it is a
short CPU demo with a tiny Meta-RDN (2 blocks), only to show the pipeline
runs; it is not a trained model.

Example:
    $ python -m recipes.meta_sr --data DIV2K/train_HR --out runs/meta_rdn
"""

import dataclasses
import sys

from keras_sr.data.implicit_dataset import meta_sr_scales
from keras_sr.training.cli import recipe_main
from keras_sr.training.implicit import ImplicitRecipe
from keras_sr.training.recipe import field

__all__ = ["MetaSRRecipe", "main"]


@dataclasses.dataclass(frozen=True)
class MetaSRRecipe(ImplicitRecipe):
    """Train Meta-RDN (Hu et al., CVPR 2019) with the official setup; without --data, a tiny CPU demo."""

    model: str = field("meta_rdn", "registered model name", flag=False)
    encoder: str = field("rdn", "Meta-SR's encoder (RDN)", choices=("rdn",), flag=False)
    normalization: str = field("mean_shift", "Meta-SR subtracts the DIV2K mean", flag=False)
    patch_size: int = field(50, "LR patch size")
    scales: tuple = field(meta_sr_scales(), "training scales (one per batch)")
    scale_per: str = field("batch", "one scale per batch, as Meta-SR", choices=("image", "batch"))
    sample_q: int = field(0, "query pixels per image (0: every HR pixel, as Meta-SR)")

    @classmethod
    def demo_defaults(cls, scale):
        return {"num_blocks": 2, "patch_size": 16, "batch_size": 4, "steps": 20, "steps_per_epoch": 20,
                "learning_rate": 1e-3, "val_every": 20, "checkpoint_every": 20, "eval_scales": (2, 3.5, 4)}

    def model_config(self):
        config = {}
        if self.num_blocks:
            config["num_blocks"] = self.num_blocks
        if self.filters:
            config["filters"] = self.filters
        return config


main = recipe_main(MetaSRRecipe, prog="recipes.meta_sr")

if __name__ == "__main__":
    sys.exit(main())
