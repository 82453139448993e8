"""CPU time and parameters of a (RefSR or SISR) model: `python -m tools.refsr_cpu_time --model RUN/final.keras --json RUN/cpu_time.json`.

Times `upscale(lr, ref, 4)` (`keras_sr.upscalers.resolve_ref_upscaler`: the model's own input
preparation included; SISR models ignore the reference) on one seeded 160x160 LR image with a
640x640 reference, after one warm-up call, and writes `{"params", "cpu_ms" (median), "runs",
"lr_size", "ref_size"}` for `tools.make_table --refsr-family`. Run it on an otherwise idle CPU
(`CUDA_VISIBLE_DEVICES=` keeps TensorFlow off a GPU); the numbers of a shared machine are noisy.

Example:
    $ python -m tools.refsr_cpu_time --model runs/masa/final.keras --runs 3 --json runs/masa/cpu_time.json
"""

import argparse
import json
import sys
import time

import numpy as np

from keras_sr.fileio import atomic_write_text
from keras_sr.upscalers import resolve_model, resolve_ref_upscaler


def measure(model, runs=3, lr_size=160, scale=4, weights=None):
    """`{"params", "cpu_ms", "runs", "lr_size", "ref_size"}` for `model` (a name, a file or a keras.Model)."""
    built = resolve_model(model, scale=scale, weights=weights) if not hasattr(model, "count_params") else model
    upscale = resolve_ref_upscaler(built, scale=scale)
    rng = np.random.default_rng(0)
    lr = rng.integers(0, 256, (lr_size, lr_size, 3), dtype=np.uint8)
    ref = rng.integers(0, 256, (lr_size * scale, lr_size * scale, 3), dtype=np.uint8)
    upscale(lr, ref, scale)  # warm-up (tracing)
    times = []
    for _ in range(int(runs)):
        start = time.perf_counter()
        upscale(lr, ref, scale)
        times.append((time.perf_counter() - start) * 1000.0)
    return {"params": int(built.count_params()), "cpu_ms": float(np.median(times)), "runs": int(runs),
            "lr_size": [lr_size, lr_size], "ref_size": [lr_size * scale, lr_size * scale]}


def main(argv=None):
    parser = argparse.ArgumentParser(prog="tools.refsr_cpu_time", description=__doc__.split("\n")[0])
    parser.add_argument("--model", required=True, help="a .keras file or a registered model name")
    parser.add_argument("--weights", default=None, help="weights for a registered model name")
    parser.add_argument("--runs", type=int, default=3, help="timed calls after one warm-up (3)")
    parser.add_argument("--lr-size", type=int, default=160, help="LR side (160)")
    parser.add_argument("--json", default=None, help="write the result here")
    args = parser.parse_args(argv)
    try:
        result = measure(args.model, args.runs, args.lr_size, weights=args.weights)
    except (OSError, ValueError) as err:
        print(f"error: {args.model}: {err}", file=sys.stderr)
        return 2
    print(json.dumps(result))
    if args.json:
        atomic_write_text(args.json, json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
