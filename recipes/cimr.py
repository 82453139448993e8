"""CIMR-SR recipe: `python -m recipes.cimr [--refs-per-sample K] [--data DIR ...] [--steps N]`.

Yan et al., "Towards Content-independent Multi-Reference Super-Resolution:
Adaptive Pattern Matching and Feature Aggregation", ECCV 2020. **No official
code was released**; the training settings here are SRNTT's official ones
(`recipes.srntt`; **choice**) with a reference pool per training patch:
`--refs-per-sample 2` by default (**choice**: two independent synthetic
views, or the first two references of `--reference cufed5:all` /
multi-reference pairs files), so the attention over references is trained.
Default variant `rec` (the reconstruction loss; **choice**, the paper reports
PSNR-oriented results), with `--variant gan` adding SRNTT's perceptual and
WGAN-GP terms (`--vgg-weights` needed).

Without `--data`: a CPU demo with the narrow network of `recipes.srntt`'s demo.

Example:
    $ python -m recipes.cimr --out runs/cimr_demo                                      # CPU demo
    $ python -m recipes.cimr --data CUFED/train/input --refs-per-sample 5 --out runs/cimr
"""

import dataclasses
import sys
import typing

from keras_sr.recipes.srntt import SRNTTRecipe, run_srntt_family
from keras_sr.training.recipe import field
from keras_sr.training.cli import recipe_main

__all__ = ["CIMRRecipe", "main"]


@dataclasses.dataclass(frozen=True)
class CIMRRecipe(SRNTTRecipe):
    """Train CIMR-SR (Yan et al., ECCV 2020; paper-based): per-reference matching + attention over a pool."""

    run_name: typing.ClassVar[str] = "cimr"
    display_name: typing.ClassVar[str] = "CIMR-SR"

    model: str = field("cimr", "registered model name", flag=False)
    variant: str = field("rec", "losses: rec (reconstruction only) or gan (+ perceptual + WGAN-GP)",
                         choices=("rec", "gan"))
    refs_per_sample: int = field(2, "references per training patch (the pool the attention learns over)")


def main(argv=None):
    return recipe_main(CIMRRecipe, prog="recipes.cimr", run=run_srntt_family)(argv)


if __name__ == "__main__":
    sys.exit(main())
