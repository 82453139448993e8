"""Ship a trained run as a preset: `python -m tools.make_preset --run runs/fsrcnn_x3 [--name fsrcnn_x3]`.

Or a released PyTorch checkpoint, converted and scored by our protocol
(`keras_sr.convert.preset`): `python -m tools.make_preset --from-checkpoint
RCAN_BIX4.pt --eval-data ../shared/data/Set5/HR [--model rcan] [--scale 4]`.

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
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--run", help="a finished training run directory")
    source.add_argument("--from-checkpoint", metavar="CKPT", help="a released .pth/.pt/.safetensors checkpoint "
                        "(keras_sr.convert), scored on --eval-data")
    parser.add_argument("--model", default=None, help="--from-checkpoint: converter name instead of detection")
    parser.add_argument("--scale", type=int, default=None, help="--from-checkpoint: MDSR branch to keep")
    parser.add_argument("--eval-data", nargs="+", default=[], metavar="HR_DIR",
                        help="--from-checkpoint: HR folders to score (the paper protocol) into the preset's metrics")
    parser.add_argument("--name", default=None, help="preset name (default: <model>[_<variant>]_x<scale>)")
    parser.add_argument("--description", default="", help="one line for the preset listing")
    parser.add_argument("--folder", default=PRESET_DIR, help="where presets live (default: keras_sr/presets)")
    parser.add_argument("--started-from", default=None, metavar="SOURCE",
                        help="what the run started from (--init preset / --init-from): a preset name, a preset "
                             ".json file or a run directory; its training record is kept in the new preset's JSON")
    args = parser.parse_args(argv)
    try:
        if args.from_checkpoint:
            from keras_sr.convert import CheckpointMismatch
            from keras_sr.convert.preset import make_preset_from_checkpoint

            overrides = {"scale": args.scale} if args.scale else {}
            try:
                preset = make_preset_from_checkpoint(args.from_checkpoint, args.name, args.model, args.eval_data,
                                                     args.description, args.folder, **overrides)
            except (CheckpointMismatch, FileNotFoundError) as err:
                raise ValueError(str(err)) from err
            print(f"preset {preset.name}: {preset.weights}")
            return 0
        preset = make_preset(args.run, args.name, args.description, args.folder, started_from=args.started_from)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"preset {preset.name}: {preset.weights}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
