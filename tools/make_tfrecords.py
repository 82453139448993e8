"""Write HR image folders into TFRecord shards + manifest.json (see `keras_sr.tfrecords.writer`).

    python -m tools.make_tfrecords --hr DIR [DIR ...] --scale 2 3 4 --out DIR [--shard-mb 100] [--skip-small]
"""

import argparse
import sys

from keras_sr.image_io import ImageError
from keras_sr.tfrecords import schema, writer

__all__ = ["main"]


def main(argv=None):
    """The command line (`keras-sr make-tfrecords` runs the same flags through `add_arguments` / `run`)."""
    parser = writer.add_arguments(argparse.ArgumentParser(
        prog="tools.make_tfrecords", description=writer.__doc__.split("\n")[0]))
    args = parser.parse_args(argv)
    try:
        writer.run(args)
    except (ImageError, schema.SchemaError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
