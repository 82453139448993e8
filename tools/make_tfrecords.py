"""Write HR image folders into TFRecord shards + manifest.json (see `keras_sr.tfrecords.writer`).

    python -m tools.make_tfrecords --hr DIR [DIR ...] --scale 2 3 4 --out DIR [--shard-mb 100] [--skip-small]
"""

import sys

from keras_sr.tfrecords.writer import main

if __name__ == "__main__":
    sys.exit(main())
