"""The seed's patch flows: aligned LR/HR patch folders or one HDF5 file (see `keras_sr.data.patch_pairs`).

    python -m tools.data_aug --input DIR --output DIR --width 41 --height 41 --stride 41 \
        -uf 2 3 4 --scales 1.0 0.7 0.5 --rotations 0 90 180 270 --flips 0 1 2 3 \
        --upsampling bicubic --single_y --same_size [--use_h5py]
"""

import argparse
import sys

from keras_sr.data import patch_pairs
from keras_sr.image_io import ImageError

__all__ = ["main"]


def main(argv=None):
    """The command line (`keras-sr data-aug` runs the same flags through `add_arguments` / `run`)."""
    parser = patch_pairs.add_arguments(argparse.ArgumentParser(
        prog="tools.data_aug", description=patch_pairs.__doc__.split("\n")[0]))
    args = parser.parse_args(argv)
    try:
        patch_pairs.run(args)
    except (ImageError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
