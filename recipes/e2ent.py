"""E2ENT recipe: `python -m recipes.e2ent [--variant rec|gan] [--data DIR ...] [--vgg-weights FILE]`.

Xie et al., "Feature Representation Matters: End-to-End Learning for
Reference-based Image Super-resolution", ECCV 2020. **No official code was
released**, and the training settings here are SRNTT's official ones
(`recipes.srntt`: batch 9, 40x40 LR patches, Adam 1e-4 x0.1 halfway, 5
reconstruction-only epochs then 100 with perceptual 1e-4 and WGAN-GP 1e-6;
**choice**: the paper builds on SRNTT's training) with the matching extractor
trained end to end with the rest (its learning rate the main one,
**choice**). `--matching-vgg-weights FILE.npz` starts the matching extractor
from ImageNet VGG19 (the paper starts from VGG features); without it, from
random weights. The same differences from SRNTT's official loss as
`recipes.srntt` (no Gram texture loss, no back-projection loss).

Without `--data`: a CPU demo with the narrow network of `recipes.srntt`'s demo.

Example:
    $ python -m recipes.e2ent --out runs/e2ent_demo                                   # CPU demo
    $ python -m recipes.e2ent --variant rec --data CUFED/train/input --out runs/e2ent_rec
"""

import dataclasses
import sys
import typing

from keras_sr.recipes.srntt import SRNTTRecipe, run_srntt_family
from keras_sr.training.recipe import field
from keras_sr.training.cli import recipe_main

__all__ = ["E2ENTRecipe", "main"]


@dataclasses.dataclass(frozen=True)
class E2ENTRecipe(SRNTTRecipe):
    """Train E2ENT (Xie et al., ECCV 2020; paper-based): SRNTT with matching features learned end to end."""

    run_name: typing.ClassVar[str] = "e2ent"
    display_name: typing.ClassVar[str] = "E2ENT"

    model: str = field("e2ent", "registered model name", flag=False)
    matching_vgg_weights: str = field("", "ImageNet VGG19 .npz (torchvision keys) to start the learned matching "
                                          "extractor from (empty: random)")


def main(argv=None):
    return recipe_main(E2ENTRecipe, prog="recipes.e2ent", run=run_srntt_family)(argv)


if __name__ == "__main__":
    sys.exit(main())
