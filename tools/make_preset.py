"""Ship a trained run as a preset: `python -m tools.make_preset --run runs/fsrcnn_x3 [--name fsrcnn_x3]`.

Or a released PyTorch checkpoint, converted and scored by our protocol
(`keras_sr.convert.preset`): `python -m tools.make_preset --from-checkpoint
RCAN_BIX4.pt --eval-data ../shared/data/Set5/HR [--model rcan] [--scale 4]`.

Writes `keras_sr/presets/<name>.weights.h5` and `<name>.json` (builder config,
the training command, steps, minutes, and the run's `eval.json` table); see
`keras_sr.models.presets.make_preset`. Afterwards
`keras_sr.models.from_preset(name)` and `python -m tools.evaluate --model name`
use it.

`--from-run DIR` takes what a GPU call of the preset factory returned
(`tools.device_run --tasks presets`: `presets_bundle.tar.gz` or its parts, and
`factory.json`): every run in it is unpacked (float32 weights restored from
their float16 transport copy), scored here on the CPU on BSD100 and Urban100
with `tools.evaluate` (its exact command is kept), and shipped as the preset
named after its job. Its JSON's `training` records the recipe command the GPU
ran, the steps, the minutes, the data, the GPU model, the factory command, the
Set5 PSNR change of the float16 round trip, and the stage it started from.

Example:
    $ python -m tools.make_preset --run runs/fsrcnn_x3
    $ python -m tools.make_preset --from-run ../shared/gpu-runs/2026-12-05-presets --data-root ../shared/data
"""

import argparse
import json
import os
import sys

from keras_sr.models.presets import PRESET_DIR, make_preset
from keras_sr.cli import main as cli_main
from tools.preset_factory import _build
from tools.preset_factory import unpack_bundle
from keras_sr.convert import CheckpointMismatch
from keras_sr.convert.preset import make_preset_from_checkpoint

CPU_SETS = ("BSD100", "Urban100")


def _score_on_cpu(run_dir, data_root, sets, log):
    """`tools.evaluate` on the run's final model for `sets`; merged into the run's `eval.json`; returns the command."""

    with open(os.path.join(run_dir, "model.json"), encoding="utf-8") as f:
        meta = json.load(f)
    model = _build(meta)
    model.load_weights(os.path.join(run_dir, "final.weights.h5"))
    model_path = os.path.join(run_dir, "final.keras")
    model.save(model_path)
    folders = [os.path.join(data_root, s, "HR") for s in sets]
    missing = [d for d in folders if not os.path.isdir(d)]
    if missing:
        raise ValueError(f"--data-root {data_root}: missing {', '.join(missing)}")
    out = os.path.join(run_dir, "eval_cpu.json")
    argv = ["evaluate", "--model", model_path, "--scale", str(meta["config"]["scale"]), "--data", *folders,
            "--json", out, "--quiet"]
    cli_main(argv)
    path = os.path.join(run_dir, "eval.json")
    scores = json.load(open(path, encoding="utf-8")) if os.path.isfile(path) else {}
    scores.update(json.load(open(out, encoding="utf-8")))
    with open(path, "w", encoding="utf-8") as f:
        json.dump(scores, f, indent=2)
    log(f"{os.path.basename(run_dir)}: scored on the CPU: python -m tools.evaluate {' '.join(argv[1:])}")
    return "python -m tools.evaluate " + " ".join(argv[1:])


def from_run(folder, data_root, folder_out=PRESET_DIR, unpack_to=None, sets=CPU_SETS, only=None, log=print):
    """Presets from a returned factory folder; returns the `Preset`s written."""
    import tempfile


    factory = {}
    if os.path.isfile(os.path.join(folder, "factory.json")):
        with open(os.path.join(folder, "factory.json"), encoding="utf-8") as f:
            factory = json.load(f)
    unpack_to = unpack_to or tempfile.mkdtemp(prefix="factory_runs_")
    made = []
    for run_dir in unpack_bundle(folder, unpack_to):
        job_path = os.path.join(run_dir, "job.json")
        if not os.path.isfile(job_path) or not os.path.isfile(os.path.join(run_dir, "final.weights.h5")):
            log(f"{os.path.basename(run_dir)}: no finished run in the bundle (failed on the device?): skipped")
            continue
        with open(job_path, encoding="utf-8") as f:
            job = json.load(f)
        if only and job["name"] not in only:
            continue
        evaluate_command = _score_on_cpu(run_dir, data_root, sets, log) if sets else None
        started = job.get("started_from")
        if started and not os.path.isfile(os.path.join(folder_out, f"{started}.json")):
            started = None  # started from a preset this folder does not hold (e.g. a test folder)
        preset = make_preset(run_dir, job["name"], job.get("description", f"{job['name']}: preset factory, "
                             f"{job['device']}, {job['steps']} steps"), folder_out, started_from=started)
        meta_path = os.path.join(folder_out, f"{preset.name}.json")
        with open(meta_path, encoding="utf-8") as f:
            meta = json.load(f)
        training = meta["training"]
        training.update(command=job["command"], steps=job["steps"], minutes=round(job["train_minutes"], 2),
                        data=job["data"], backend=job["backend"])
        training["gpu"] = {"device": job["device"], "job_minutes": round(job["job_minutes"], 2),
                           "patches_per_second": round(job["patches_per_second"]),
                           "factory_command": factory.get("command"), "concurrency": factory.get("concurrency"),
                           "call_minutes": factory.get("minutes"), "float16_transport": job.get("fp16"),
                           "scored_on_device": job.get("scored_on"), "scored_on_cpu": list(sets),
                           "cpu_evaluate_command": evaluate_command}
        with open(meta_path, "w", encoding="utf-8") as f:
            json.dump(meta, f, indent=2)
        log(f"preset {preset.name}: {preset.weights}")
        made.append(preset)
    return made


def main(argv=None):
    parser = argparse.ArgumentParser(prog="tools.make_preset", description=__doc__.split("\n")[0])
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--run", help="a finished training run directory")
    source.add_argument("--from-checkpoint", metavar="CKPT", help="a released .pth/.pt/.safetensors checkpoint "
                        "(keras_sr.convert), scored on --eval-data")
    source.add_argument("--from-run", metavar="DIR",
                        help="a folder returned by `tools.device_run --tasks presets` (the preset factory)")
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
    parser.add_argument("--data-root", default=os.path.join("..", "shared", "data"),
                        help="--from-run: folder holding BSD100/ and Urban100/ (each HR/) for the CPU scores")
    parser.add_argument("--cpu-sets", nargs="*", default=list(CPU_SETS),
                        help="--from-run: sets scored on the CPU (default: BSD100 Urban100)")
    parser.add_argument("--only", nargs="+", default=None, help="--from-run: only these jobs")
    parser.add_argument("--unpack-to", default=None,
                        help="--from-run: where the runs are unpacked (default: a temp dir)")
    args = parser.parse_args(argv)
    try:
        if args.from_checkpoint:

            overrides = {"scale": args.scale} if args.scale else {}
            try:
                preset = make_preset_from_checkpoint(args.from_checkpoint, args.name, args.model, args.eval_data,
                                                     args.description, args.folder, **overrides)
            except (CheckpointMismatch, FileNotFoundError) as err:
                raise ValueError(str(err)) from err
            print(f"preset {preset.name}: {preset.weights}")
            return 0
        if args.from_run:
            made = from_run(args.from_run, args.data_root, args.folder, args.unpack_to, args.cpu_sets, args.only)
            if not made:
                print(f"error: {args.from_run}: no finished run to ship", file=sys.stderr)
                return 2
            return 0
        preset = make_preset(args.run, args.name, args.description, args.folder, started_from=args.started_from)
    except (ValueError, FileNotFoundError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"preset {preset.name}: {preset.weights}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
