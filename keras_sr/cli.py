"""The `keras-sr` command: one subcommand per job.

Each subcommand lives in its own module exposing `add_arguments(parser)` and
`run(args)`; modules are imported only when their subcommand runs, so
`keras-sr --help` starts fast and TensorFlow is imported only where needed.

Example:
    $ keras-sr evaluate --model bicubic --scale 2 3 4 --data Set5/HR
    $ keras-sr --help
"""

import argparse
import importlib
import sys

from keras_sr.image_io import ImageError
from keras_sr.data_errors import data_error_line

__all__ = ["SUBCOMMANDS", "main"]

# name -> (module, one-line help). Later issues add train, upscale, export...
SUBCOMMANDS = {
    "evaluate": ("keras_sr.evaluation", "PSNR/SSIM of a model on HR folders (the paper protocol)"),
    "train": ("keras_sr.training.cli", "train a model by its recipe: keras-sr train edsr --scale 4 [--help]"),
    "make-tfrecords": ("keras_sr.tfrecords.writer", "HR image folders -> TFRecord shards + manifest.json"),
    "data-aug": ("keras_sr.data.patch_pairs", "the seed's LR/HR patch folders or HDF5 file (tools.data_aug)"),
    "upscale": ("keras_sr.upscale_cli", "upscale images/folders, tiled: keras-sr upscale DIR --model M --out O"),
    "convert": ("keras_sr.convert.cli", "a released PyTorch checkpoint -> .keras: keras-sr convert CKPT --out F.keras"),
}


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(prog="keras-sr", description="keras-sr: super-resolution models for Keras 3.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (_, help_text) in SUBCOMMANDS.items():
        sub.add_parser(name, help=help_text, add_help=False)
    if not argv or argv[0] in ("-h", "--help") or argv[0] not in SUBCOMMANDS:
        parser.print_help() if not argv or argv[0] in ("-h", "--help") else parser.error(
            f"unknown command {argv[0]!r}; choose from {', '.join(SUBCOMMANDS)}")
        return 0
    module_name, help_text = SUBCOMMANDS[argv[0]]
    module = importlib.import_module(module_name)
    sub_parser = module.add_arguments(argparse.ArgumentParser(prog=f"keras-sr {argv[0]}", description=help_text))
    args = sub_parser.parse_args(argv[1:])
    try:
        module.run(args)
    except ImageError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except Exception as err:  # noqa: BLE001 - data errors (corrupt record, HDF5 file, ...): one line naming the file

        line = data_error_line(err)
        if line is None:
            raise
        print(f"error: {line}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
