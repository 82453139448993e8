"""README result tables from evaluation JSON: `python -m tools.make_table runs/*/eval.json [--out FILE]`.

Each cell is `ours PSNR / SSIM (published PSNR, difference)`; see
`keras_sr.results_table`. Nothing in the README's result tables is typed by
hand: they are this command's output.
"""

import argparse
import sys

from keras_sr.fileio import atomic_write_text
from keras_sr.results_table import format_runs, load_run


def main(argv=None):
    parser = argparse.ArgumentParser(prog="tools.make_table", description=__doc__.split("\n")[0])
    parser.add_argument("files", nargs="+", help="eval.json files (tools.evaluate --json / recipes --eval-data)")
    parser.add_argument("--out", default=None, help="also write the markdown here")
    args = parser.parse_args(argv)
    try:
        text = format_runs([load_run(path) for path in args.files])
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(text)
    if args.out:
        atomic_write_text(args.out, text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
