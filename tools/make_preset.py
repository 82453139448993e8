"""Ship a trained run as a preset: `python -m tools.make_preset --run runs/fsrcnn_x3 [--name fsrcnn_x3]`.

Writes `keras_sr/presets/<name>.weights.h5` and `<name>.json` (builder config,
the training command, steps, minutes, and the run's `eval.json` table); see
`keras_sr.models.presets.make_preset`. Afterwards
`keras_sr.models.from_preset(name)` and `python -m tools.evaluate --model name`
use it.
"""

import argparse
import sys

from keras_sr.models.presets import PRESET_DIR, make_preset


def main(argv=None):
    parser = argparse.ArgumentParser(prog="tools.make_preset", description=__doc__.split("\n")[0])
    parser.add_argument("--run", required=True, help="a finished training run directory")
    parser.add_argument("--name", default=None, help="preset name (default: <model>[_<variant>]_x<scale>)")
    parser.add_argument("--description", default="", help="one line for the preset listing")
    parser.add_argument("--folder", default=PRESET_DIR, help="where presets live (default: keras_sr/presets)")
    parser.add_argument("--started-from", default=None, metavar="SOURCE",
                        help="what the run started from (--init preset / --init-from): a preset name, a preset "
                             ".json file or a run directory; its training record is kept in the new preset's JSON")
    args = parser.parse_args(argv)
    try:
        preset = make_preset(args.run, args.name, args.description, args.folder, started_from=args.started_from)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"preset {preset.name}: {preset.weights}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
