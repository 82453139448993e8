"""Upscale images or folders: `python -m tools.upscale photos/ --model bicubic --scale 2 --out up/`.

Same as `keras-sr upscale`; inputs, tiling and outputs are documented in `keras_sr.upscale_cli`.
"""

import sys

from keras_sr.cli import main

if __name__ == "__main__":
    sys.exit(main(["upscale", *sys.argv[1:]]))
