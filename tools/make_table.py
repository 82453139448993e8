"""README result tables from evaluation JSON: `python -m tools.make_table runs/*/eval.json [--out FILE]`.

Each cell is `ours PSNR / SSIM (published PSNR, difference)`; see
`keras_sr.results_table`. Nothing in the README's result tables is typed by
hand: they are this command's output.

`--refsr-family` builds the reference-based SR family table instead: one row
per run folder (its `tools.evaluate --ref-mode` JSONs merged, its
`cpu_time.json` from `tools.refsr_cpu_time`): model | params | Urban100 x4
(LR as reference) | warped-view BSD100/Urban100 with the relevant and the
unrelated reference | CPU ms per 160x160 LR image | the robustness gate
against the SISR row (`--baseline LABEL`).
"""

import argparse
import sys

from keras_sr.fileio import atomic_write_text
from keras_sr.results_table import format_refsr_family, format_runs, load_family_runs, load_run


def main(argv=None):
    parser = argparse.ArgumentParser(prog="tools.make_table", description=__doc__.split("\n")[0])
    parser.add_argument("files", nargs="+", help="eval.json files (tools.evaluate --json / recipes --eval-data)")
    parser.add_argument("--out", default=None, help="also write the markdown here")
    parser.add_argument("--refsr-family", action="store_true",
                        help="the RefSR family table (one row per run folder of --ref-mode eval JSONs)")
    parser.add_argument("--baseline", default=None, help="--refsr-family: label of the SISR row of the gate")
    args = parser.parse_args(argv)
    try:
        if args.refsr_family:
            text = format_refsr_family(load_family_runs(args.files), baseline=args.baseline)
        else:
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
