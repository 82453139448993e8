"""The seed's patch flows: aligned LR/HR patch folders or one HDF5 file (see `keras_sr.data.patch_pairs`).

    python -m tools.data_aug --input DIR --output DIR --width 41 --height 41 --stride 41 \
        -uf 2 3 4 --scales 1.0 0.7 0.5 --rotations 0 90 180 270 --flips 0 1 2 3 \
        --upsampling bicubic --single_y --same_size [--use_h5py]
"""

import sys

from keras_sr.data.patch_pairs import main

if __name__ == "__main__":
    sys.exit(main())
