"""The prepared GPU session: every device check of the EDSR issue in one command, inside a time budget.

A task is lent a GPU rarely and briefly (minutes, one call at a time, no
TensorFlow there: KERAS_BACKEND=jax). This script is what such a call runs, so
no device time goes into typing commands or fixing them:

1. `throughput`: keras-sr's own training path (`tools.benchmark train`:
   `model.fit` with the loader training picks, `--loader auto`: the
   device-resident patches of `keras_sr.data.device_patches` when the images
   fit, else the PyDataset loader) for EDSR-baseline x4, batch 16, LR
   48x48, in float32 and bfloat16, then the PyTorch peer
   (`../shared/bench/torch_edsr_reference.py`, copied along) in the same run;
   `throughput.json` and a table with the ratio of the best figures.
2. `edsr_x4`: EDSR-baseline x4 fine-tuned from the shipped preset on T91 +
   BSD200 for the minutes left (the step count comes from the rate step 1
   measured), scored on Set5/Set14/BSD100 with the evaluation protocol:
   `edsr_baseline_x4_gpu/{final.weights.h5, eval.json, log.csv}` (Urban100 does
   not fit in a call: score it on the CPU with the returned weights).
3. `deep_throughput` (the deep-SISR issue; not in the default tasks): RCAN
   and RDN x4 the same way, each beside its PyTorch peer in
   `tools/torch_sisr_reference.py` (same architecture: equal parameter counts,
   and the same image from copied weights, tests/test_torch_sisr_reference.py);
   `throughput_rcan.json`, `throughput_rdn.json` and a ratio per model.

4. `presets` (the preset factory; not in the default tasks): the queue
   `--queue FILE` (default `tools/preset_queue.json`) trained concurrently in
   the budget, each job scored on Set5/Set14, everything packed into
   `presets_bundle.tar.gz` (weights above 1 MB in float16) and `factory.json`
   (`tools.preset_factory`); `python -m tools.make_preset --from-run DIR` turns
   the returned folder into presets. Needs T91/ BSD200/ Set5/ Set14/ only.

Each task is skipped with a line when the budget left is too short for it.
Every call prints the payload it carried in (working tree, `.whl/`,
`.gpu-data/`: at most 64 MiB).

Example (the device call; `.gpu-data` holds T91/ BSD200/ Set5/ Set14/ BSD100/ and the torch script):
    $ python -m tools.device_run --data-root .gpu-data --out "$OUT" --minutes 9 \\
          --torch-reference .gpu-data/torch_edsr_reference.py
    $ python -m tools.device_run --data-root .gpu-data --out "$OUT" --minutes 6 --tasks deep_throughput
    $ python -m tools.device_run --data-root .gpu-data --out "$OUT" --minutes 9 --tasks presets
    $ python -m tools.device_run --data-root ../shared/data --out /tmp/dry --minutes 2 --dry-run   # CPU check
"""

import argparse
import json
import os
import re
import subprocess
import sys
import time

from keras_sr.benchmarks import train as bench
from tools.preset_factory import add_factory_arguments, plan_steps
from tools.preset_factory import payload_mb
from tools.preset_factory import run_factory


__all__ = ["main", "plan_steps", "parse_torch_lines", "throughput_table", "deep_throughput"]

TORCH_LINE = re.compile(r"torch (\w+) compile=(\w+): (\d+(?:\.\d+)?) patches/s")
TRAIN_SETS = ("T91", "BSD200")
DEEP_MODELS = ("rcan", "rdn")
TORCH_SISR_REFERENCE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "torch_sisr_reference.py")
# The smallest networks of each family, for --dry-run on a CPU (recipe fields).
DRY_RUN_FIELDS = {"edsr": ["num_blocks=1", "filters=8"],
                  "rcan": ["num_groups=1", "num_blocks=1", "filters=8", "reduction=4"],
                  "rdn": ["num_blocks=1", "num_layers=1", "growth_rate=8", "filters=8"]}
EVAL_SETS = ("Set5", "Set14", "BSD100")


def parse_torch_lines(text):
    """`[{"precision", "compile", "patches_per_second"}]` from torch_edsr_reference.py's output."""
    return [{"precision": m.group(1), "compile": m.group(2) == "True", "patches_per_second": float(m.group(3))}
            for m in TORCH_LINE.finditer(text)]


def throughput_table(keras_rows, torch_rows):
    """Markdown table of both frameworks' figures and the ratio of the best keras-sr to the best PyTorch one."""
    lines = ["| framework | configuration | patches/s |", "|---|---|---|"]
    lines += [f"| keras-sr ({r['backend']}) | {r['policy']}, model.fit, loader {r.get('loader', 'default')} | "
              f"{r['patches_per_second']:.0f} |" for r in keras_rows]
    lines += [f"| PyTorch | {r['precision']}{', torch.compile' if r['compile'] else ''} | "
              f"{r['patches_per_second']:.0f} |" for r in torch_rows]
    if keras_rows and torch_rows:
        best_k = max(r["patches_per_second"] for r in keras_rows)
        best_t = max(r["patches_per_second"] for r in torch_rows)
        lines.append(f"\nratio, best keras-sr / best PyTorch: {best_k / best_t:.2f}x")
    return "\n".join(lines)


def _measure(args, policy, model="edsr"):
    argv = ["--model", model, "--scale", "4", "--batch-size", str(args.batch_size), "--patch-size",
            str(args.patch_size), "--steps", str(args.bench_steps), "--warmup", str(args.bench_warmup),
            "--mixed-precision", policy, "--loader", args.loader, "--steps-per-execution",
            str(args.steps_per_execution), "--data", *args.train_dirs]
    if args.dry_run:
        argv += ["--set", *DRY_RUN_FIELDS[model], "--jit-compile", "off"]
    return bench.measure(bench.add_arguments(argparse.ArgumentParser()).parse_args(argv))


def throughput(args, log, model="edsr", reference=None, extra=(), steps=200, json_name="throughput.json"):
    """keras-sr's training path in float32 and bfloat16, then the PyTorch `reference` script in the same call."""
    rows = [_measure(args, policy, model) for policy in ("off", "bfloat16")]
    for row in rows:
        log(f"keras-sr {model} {row['policy']}: {row['patches_per_second']:.0f} patches/s ({row['device']})")
    torch_rows = []
    if reference:
        if args.dry_run:
            log("dry run: the PyTorch reference is not run")
        else:
            done = subprocess.run([sys.executable, reference, *extra, "--scale", "4", "--batch", str(args.batch_size),
                                   "--patch", str(args.patch_size), "--steps", str(steps)],
                                  capture_output=True, text=True, check=False)
            torch_rows = parse_torch_lines(done.stdout)
            if not torch_rows:
                log(f"PyTorch reference printed no figure (exit {done.returncode}): {done.stderr[-2000:]}")
    table = throughput_table(rows, torch_rows)
    print(f"{model} x4, batch {args.batch_size}, LR {args.patch_size}x{args.patch_size}:\n{table}", flush=True)
    with open(os.path.join(args.out, json_name), "w", encoding="utf-8") as f:
        json.dump({"model": model, "keras_sr": rows, "torch": torch_rows}, f, indent=2)
    return rows


def deep_throughput(args, log, deadline):
    """RCAN and RDN x4 beside their PyTorch peers (tools/torch_sisr_reference.py), while the budget lasts."""
    for model in DEEP_MODELS:
        left = deadline - time.monotonic()
        if left < args.deep_seconds:
            log(f"deep_throughput {model} skipped: {left:.0f} s left, {args.deep_seconds:.0f} s needed")
            continue
        throughput(args, log, model, TORCH_SISR_REFERENCE, ["--model", model], steps=args.bench_steps,
                   json_name=f"throughput_{model}.json")


def train_edsr_x4(args, rate, seconds, log):
    run_dir = os.path.join(args.out, "edsr_baseline_x4_gpu")
    steps = args.steps or plan_steps(rate, seconds, args.overhead_seconds)
    log(f"edsr_x4: {steps} steps (measured {rate:.1f} steps/s; {seconds / 60:.1f} min left)")
    command = [sys.executable, "-m", "recipes.edsr", "--scale", "4", "--init", "preset", "--data", *args.train_dirs,
               "--val-data", os.path.join(args.data_root, "Set5", "HR"), "--val-images", "5",
               "--patch-size", str(args.patch_size), "--batch-size", str(args.batch_size), "--steps", str(steps),
               "--learning-rate", str(args.learning_rate), "--schedule", "cosine", "--ema-decay", "0.999",
               "--mixed-precision", "bfloat16", "--steps-per-epoch", str(max(1, min(1000, steps))),
               "--val-every", str(steps), "--checkpoint-every", str(max(1, min(1000, steps))),
               "--no-export", "--quiet", "--out", run_dir, "--eval-data",
               *[os.path.join(args.data_root, name, "HR") for name in EVAL_SETS]]
    if args.dry_run:
        command[command.index("--init") + 1] = "scratch"
        command += ["--num-blocks", "1", "--filters", "8", "--jit-compile", "off"]
    log(" ".join(command))
    return subprocess.run(command, check=False).returncode


def build_parser():
    parser = argparse.ArgumentParser(prog="tools.device_run", description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-root", required=True, help="folder holding T91/ BSD200/ Set5/ Set14/ BSD100/ (each HR/)")
    parser.add_argument("--out", required=True, help="where results go ($OUT on the device machine)")
    parser.add_argument("--minutes", type=float, default=9.0, help="wall-clock budget of the whole call")
    parser.add_argument("--tasks", nargs="+", default=["throughput", "edsr_x4"],
                        choices=("throughput", "edsr_x4", "deep_throughput", "presets"))
    parser.add_argument("--torch-reference", default=None, help="torch_edsr_reference.py, run in the same call")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--patch-size", type=int, default=48, help="LR patch (the issue's benchmark: 48)")
    parser.add_argument("--loader", default="auto", choices=("auto", "device", "pydataset", "tfdata"),
                        help="keras-sr's input path in the throughput tasks (auto: as training chooses, logged)")
    parser.add_argument("--steps-per-execution", type=int, default=1, help="throughput tasks: steps per compiled call")
    parser.add_argument("--bench-steps", type=int, default=100)
    parser.add_argument("--bench-warmup", type=int, default=20)
    parser.add_argument("--learning-rate", type=float, default=2e-4, help="fine-tuning peak rate (cosine to 0)")
    parser.add_argument("--overhead-seconds", type=float, default=120.0,
                        help="kept for compilation, validation and the Set5/Set14/BSD100 evaluation")
    parser.add_argument("--steps", type=int, default=0, help="edsr_x4 steps (0: as many as the budget allows)")
    parser.add_argument("--deep-seconds", type=float, default=150.0,
                        help="deep_throughput: time one model needs (two compilations, two timings, the peer)")
    parser.add_argument("--dry-run", action="store_true", help="tiny EDSR, no torch: checks the plumbing on a CPU")
    parser.add_argument("--payload", nargs="*", default=None, metavar="PATH",
                        help="what the call carried in, measured and printed (default: the working tree, .whl and "
                             "--data-root)")

    add_factory_arguments(parser.add_argument_group("presets task (tools.preset_factory)"))
    return parser


PAYLOAD_LIMIT_MB = 64.0


def report_payload(args, log):
    """Print (and return) the MB carried into the call; warn above the device tool's 64 MiB."""

    paths = args.payload if args.payload is not None else ["."]
    if args.payload is None and not os.path.abspath(args.data_root).startswith(os.path.abspath(".") + os.sep):
        paths.append(args.data_root)  # .gpu-data inside the tree is counted with it
    size = payload_mb(paths)
    log(f"payload carried in: {size:.1f} MiB ({', '.join(paths)}; limit {PAYLOAD_LIMIT_MB:.0f} MiB)"
        + ("" if size <= PAYLOAD_LIMIT_MB else " -- OVER THE LIMIT"))
    return size


def main(argv=None, log=print):
    args = build_parser().parse_args(argv)
    start = time.monotonic()
    deadline = start + 60 * args.minutes
    args.train_dirs = [os.path.join(args.data_root, name, "HR") for name in TRAIN_SETS]
    needed = ("Set5", "Set14") if args.tasks == ["presets"] else EVAL_SETS
    missing = [d for d in args.train_dirs + [os.path.join(args.data_root, n, "HR") for n in needed]
               if not os.path.isdir(d)]
    if missing:
        raise SystemExit(f"error: --data-root {args.data_root}: missing {', '.join(missing)}")
    os.makedirs(args.out, exist_ok=True)
    report_payload(args, log)
    rate = None
    if "throughput" in args.tasks:
        rows = throughput(args, log, reference=args.torch_reference)
        rate = rows[-1]["steps_per_second"]  # bfloat16, as edsr_x4 trains
    code = 0
    if "edsr_x4" in args.tasks:
        left = deadline - time.monotonic()
        if rate is None:
            rate = _measure(args, "bfloat16")["steps_per_second"]
            left = deadline - time.monotonic()
        if not args.steps and left < args.overhead_seconds + 30:
            log(f"edsr_x4 skipped: {left:.0f} s left, {args.overhead_seconds + 30:.0f} s needed")
        else:
            code = train_edsr_x4(args, rate, left, log)
    if "deep_throughput" in args.tasks:
        deep_throughput(args, log, deadline)
    if "presets" in args.tasks:

        args.minutes = (deadline - time.monotonic()) / 60
        records, _ = run_factory(args, log)
        code = code or (0 if records and not any(r.get("failed") for r in records) else 1)
    log(f"device_run: {(time.monotonic() - start) / 60:.1f} min")
    return code


if __name__ == "__main__":
    sys.exit(main())
