"""PSNR/SSIM of a model on HR folders: `python -m tools.evaluate --model bicubic --scale 2 3 4 --data DIR`.

Same as `keras-sr evaluate`; the protocol is documented in `keras_sr.evaluation`.
"""

import sys

from keras_sr.cli import main

if __name__ == "__main__":
    sys.exit(main(["evaluate", *sys.argv[1:]]))
