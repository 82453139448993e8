"""The preset factory: a queue of recipes trained in one short GPU call, scored, and packed for the way back.

`python -m tools.device_run --tasks presets --queue FILE --minutes M` calls
`run_factory`; the default queue is `tools/preset_queue.json` (EDSR-baseline
x2/x3/x4 from the shipped presets, FSRCNN/ESPCN/SRCNN x3, one mixed-scale
VDSR). What one call does:

1. Every job is a process (`python -m tools.preset_factory job ...`) with its
   slice of accelerator memory (`XLA_PYTHON_CLIENT_MEM_FRACTION`, no
   pre-allocation); the jobs run concurrently for the whole budget (default,
   `--concurrency processes`), or one after another with the whole GPU for
   `weight / sum(weights)` of the budget each (`--concurrency sequential`).
   Why concurrent by default: the small networks (FSRCNN, ESPCN, SRCNN) are
   bound by the host's dispatch, not the GPU, so several processes keep the
   GPU busy where one cannot; on the big ones time-slicing costs little. Which
   gives more total patches/s on a given GPU is measured, not assumed: each job
   prints and records its rate, and the factory prints the sum (run both modes
   once to choose). `--concurrency inline` runs the same jobs one after another
   inside the calling process (the CPU dry run of the tests).
2. A job measures its own training rate first (`keras_sr.benchmarks.train`,
   same recipe, the device-resident path), plans the steps that fit its time
   (`plan_steps`), compresses the paper's schedule into them (a step
   schedule's milestones scale with the steps; cosine schedules follow
   `--steps`), trains with the recipe's own command line parsed by the recipe
   CLI (`keras_sr.training.cli`), stops at its deadline if the plan was too
   optimistic, and scores the final weights on Set5/Set14 with the
   evaluation protocol (`eval.json`). `job.json` records the exact recipe
   command, the steps, rate, seconds, device and data.
3. `pack_runs` returns what fits the device tool's limits (at most 8 files of
   at most 16 MB): the small files of every run in ONE archive
   (`presets_bundle.tar.gz`, split in parts when larger), weights above
   `fp16_above_mb` in float16 (`final.weights.fp16.npz`) with the PSNR change
   of that round trip measured on Set5 in the job (`job.json: fp16`).
   Checkpoints, `final.keras` and exports stay on the device machine.

`tools.make_preset --from-run DIR` unpacks the bundle, restores float32
weights, scores BSD100 and Urban100 on the CPU and writes the presets.

Example:
    $ python -m tools.device_run --data-root .gpu-data --out "$OUT" --minutes 9 --tasks presets
    $ python -m tools.device_run --data-root ../shared/data --out /tmp/f --minutes 2 --tasks presets --dry-run
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tarfile
import time
from keras_sr.training.recipe import Recipe
from keras_sr.benchmarks import train as bench
from keras_sr.evaluation import evaluate_folders
from keras_sr.upscalers import model_upscaler
from keras_sr.benchmarks.train import _device
from keras_sr.benchmarks.train import measure  # noqa: F401 (imported early: the same modules as training)
from keras_sr.training import cli
from keras_sr import models

__all__ = ["DEFAULT_QUEUE", "read_queue", "job_command", "compressed_schedule", "run_factory", "run_job",
           "pack_runs", "unpack_bundle", "main"]

DEFAULT_QUEUE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "preset_queue.json")
TRAIN_SETS = ("T91", "BSD200")
SCORE_SETS = ("Set5", "Set14")
BUNDLE = "presets_bundle.tar.gz"
FP16_WEIGHTS = "final.weights.fp16.npz"
KEPT_FILES = ("job.json", "recipe.json", "model.json", "summary.json", "eval.json", "log.csv")
MAX_FILE_MB = 16.0
MAX_FILES = 8
# Smallest networks per recipe for --dry-run on a CPU (recipe fields, as tools.device_run's DRY_RUN_FIELDS).
DRY_RUN_FLAGS = {"edsr": ["--num-blocks", "1", "--filters", "8"], "fsrcnn": ["--d", "8", "--s", "4", "--m", "1"],
                 "espcn": [], "srcnn": [], "vdsr": ["--depth", "3", "--filters", "8", "--batch-size", "3"],  # a patch of each scale
                 "swinir": ["--embed-dim", "8", "--num-groups", "1", "--blocks-per-group", "2", "--window-size", "4"],
                 "liif": ["--num-blocks", "1", "--filters", "8", "--sample-q", "16"]}
DRY_RUN_SET = {"edsr": ["num_blocks=1", "filters=8"], "fsrcnn": ["d=8", "s=4", "m=1"], "espcn": [], "srcnn": [],
               "vdsr": ["depth=3", "filters=8"], "swinir": ["embed_dim=8", "num_groups=1", "blocks_per_group=2",
                                                          "window_size=4"],
               "liif": ["num_blocks=1", "filters=8", "sample_q=16"]}
# Recipe flags the rate measurement (tools.benchmark train) takes over from a job's flags: the network measured
# is the one trained (e.g. SwinIR's lightweight variant).
BENCH_FLAGS = ("--variant",)


class QueueError(ValueError):
    """A queue file that cannot be run (the message names the file and the job)."""


def plan_steps(steps_per_second, seconds, overhead_seconds, minimum=1):
    """Training steps that fit in `seconds` after `overhead_seconds` (compilation, evaluation) at the measured rate."""
    return max(int(minimum), int((seconds - overhead_seconds) * steps_per_second))


def read_queue(path):
    """The jobs of a queue file: `[{"name", "recipe", "scale", "init", "weight", "flags"}]`, checked."""
    try:
        with open(path, encoding="utf-8") as f:
            queue = json.load(f)
    except (OSError, json.JSONDecodeError) as err:
        raise QueueError(f"{path}: not a readable JSON queue ({err}).") from err
    jobs = queue.get("jobs") if isinstance(queue, dict) else None
    if not jobs:
        raise QueueError(f"{path}: no \"jobs\" list.")
    names = set()
    for i, job in enumerate(jobs):
        missing = [k for k in ("name", "recipe", "scale") if k not in job]
        if missing:
            raise QueueError(f"{path}: job {i} has no {', '.join(missing)}.")
        if job["name"] in names:
            raise QueueError(f"{path}: job name {job['name']!r} appears twice.")
        names.add(job["name"])
        if job.get("init", "scratch") not in ("preset", "scratch"):
            raise QueueError(f"{path}: job {job['name']}: init must be preset or scratch, got {job['init']!r}.")
        job.setdefault("init", "scratch")
        job.setdefault("weight", 1.0)
        job.setdefault("flags", [])
        if float(job["weight"]) <= 0:
            raise QueueError(f"{path}: job {job['name']}: weight must be > 0.")
    return jobs


def _recipe_class(name):
    import importlib


    module = importlib.import_module(f"keras_sr.recipes.{name}")
    for value in vars(module).values():
        if isinstance(value, type) and issubclass(value, Recipe) and value.model_name() == name:
            return value
    raise QueueError(f"keras_sr.recipes.{name} defines no recipe for model {name!r}.")


def compressed_schedule(recipe_cls, scale, steps):
    """Flags that fit the paper's schedule into `steps`: a step schedule's milestones scaled by `steps / paper`."""
    paper = recipe_cls.for_scale(scale)
    if paper.schedule != "step":
        return []  # cosine / constant follow --steps
    milestones = sorted({max(1, round(m * steps / paper.steps)) for m in paper.lr_milestones})
    return ["--lr-milestones", *[str(m) for m in milestones]]


def job_command(job, data_root, steps, run_dir, dry_run=False, steps_per_epoch=None):
    """The recipe's own flags for `job` (what `python -m recipes.<recipe>` takes), `--steps` planned."""
    recipe_cls = _recipe_class(job["recipe"])
    every = str(max(1, min(steps_per_epoch or 1000, steps)))
    argv = ["--scale", str(job["scale"]), "--init", "scratch" if dry_run else job["init"],
            "--data", *[os.path.join(data_root, s, "HR") for s in TRAIN_SETS],
            "--val-data", os.path.join(data_root, "Set5", "HR"), "--val-images", "5",
            *job["flags"], "--steps", str(steps), *compressed_schedule(recipe_cls, job["scale"], steps),
            "--steps-per-epoch", every, "--val-every", str(steps), "--checkpoint-every", every,
            "--loader", "auto", "--steps-per-execution", str(1 if dry_run else job.get("steps_per_execution", 10)),
            "--no-export", "--quiet", "--out", run_dir,
            "--eval-data", *[os.path.join(data_root, s, "HR") for s in SCORE_SETS]]
    if dry_run:
        argv += ["--jit-compile", "off", "--batch-size", "2", "--patch-size", "8"] + DRY_RUN_FLAGS.get(job["recipe"], [])
    return argv


def _flag_value(argv, flag, default=None):
    """The value of `flag` in `argv` as argparse reads it: the last occurrence wins."""
    return argv[len(argv) - 1 - argv[::-1].index(flag) + 1] if flag in argv else default


def _measure_rate(job, data_root, argv, dry_run, steps, warmup):
    """Training steps/s of the job's recipe on this machine (the benchmark's `measure`, device-resident path)."""

    recipe_cls = _recipe_class(job["recipe"])
    defaults = recipe_cls.for_scale(job["scale"])
    bench_argv = ["--model", job["recipe"], "--scale", str(job["scale"]),
                  "--batch-size", _flag_value(argv, "--batch-size", str(defaults.batch_size)),
                  "--patch-size", _flag_value(argv, "--patch-size", str(defaults.patch_size)),
                  "--steps", str(steps), "--warmup", str(warmup), "--loader", "auto",
                  "--mixed-precision", _flag_value(argv, "--mixed-precision", "off"),
                  "--data", *[os.path.join(data_root, s, "HR") for s in TRAIN_SETS]]
    for flag in BENCH_FLAGS:
        if flag in argv:
            bench_argv += [flag, _flag_value(argv, flag)]
    if dry_run:
        bench_argv += ["--jit-compile", "off", "--set", *DRY_RUN_SET.get(job["recipe"], [])]
    return bench.measure(bench.add_arguments(argparse.ArgumentParser()).parse_args(bench_argv))


class _Deadline:
    """Keras callback factory: stop `fit` at a wall-clock deadline (a plan that was too optimistic)."""

    @staticmethod
    def make(deadline, log):
        import keras

        class Deadline(keras.callbacks.Callback):
            def on_train_batch_end(self, batch, logs=None):
                if time.monotonic() > deadline:
                    log(f"deadline reached at batch {batch + 1} of this epoch: stopping early")
                    self.model.stop_training = True

        return Deadline()


def _fp16_round_trip(result, folder, log):
    """Set5 PSNR of the final weights and of the same weights through float16: `{"psnr_fp32", "psnr_fp16", ...}`."""
    import numpy as np


    model, scale = result.model, result.recipe.scale
    weights = model.get_weights()
    scores = {}
    for label, values in (("fp32", weights), ("fp16", [w.astype(np.float16).astype(w.dtype) for w in weights])):
        model.set_weights(values)
        results = evaluate_folders(model_upscaler(model, scale), [folder], [scale])
        scores[f"psnr_{label}"] = float(next(iter(results.values()))[scale]["psnr"])
    model.set_weights(weights)
    scores["delta_db"] = scores["psnr_fp16"] - scores["psnr_fp32"]
    log(f"float16 transport: Set5 {scores['psnr_fp32']:.4f} -> {scores['psnr_fp16']:.4f} dB "
        f"({scores['delta_db']:+.4f})")
    return scores


def _device_name():

    return _device()


def run_job(job, data_root, run_dir, seconds, dry_run=False, log=print, bench_steps=None, overhead=None,
            safety=0.9, max_steps=None):
    """Measure, plan, train, score one job within `seconds`; writes `run_dir/job.json` and returns it."""
    import keras

    from keras_sr.training.engine import train

    start = time.monotonic()
    deadline = start + seconds
    os.makedirs(run_dir, exist_ok=True)
    bench_steps = bench_steps or (3 if dry_run else 60)
    overhead = overhead if overhead is not None else (5.0 if dry_run else 60.0)
    probe = job_command(job, data_root, 1, run_dir, dry_run)
    rate = _measure_rate(job, data_root, probe, dry_run, bench_steps, warmup=2 if dry_run else 10)
    left = deadline - time.monotonic()
    steps = int(job.get("steps") or plan_steps(rate["steps_per_second"] * safety, left, overhead))
    if max_steps:
        steps = min(steps, int(max_steps))
    per_call = 1 if dry_run else int(job.get("steps_per_execution", 10))
    steps = max(per_call, steps // per_call * per_call)  # whole compiled calls: the run ends on its plan
    log(f"{job['name']}: {rate['steps_per_second']:.1f} steps/s measured ({rate['loader']}), "
        f"{steps} steps planned in {left:.0f} s")
    argv = job_command(job, data_root, steps, run_dir, dry_run)
    recipe_cls = _recipe_class(job["recipe"])
    parser = argparse.ArgumentParser(prog=f"recipes.{job['recipe']}")
    cli.add_recipe_arguments(parser, recipe_cls)
    args = parser.parse_args(argv)
    recipe = cli.recipe_from_args(recipe_cls, args)
    init, mode = cli._init_weights(recipe, args, log)
    train_start = time.monotonic()
    result = train(recipe, data=args.data, val_data=args.val_data, out=run_dir, init_weights=init,
                   loader=args.loader, verbose=2, log=log, tensorboard=False,
                   callbacks=[_Deadline.make(deadline - overhead / 2, log)])
    train_seconds = time.monotonic() - train_start
    cli.benchmark_run(result, args.eval_data, log)
    fp16 = _fp16_round_trip(result, os.path.join(data_root, "Set5", "HR"), log)
    record = {
        "name": job["name"], "recipe": job["recipe"], "scale": job["scale"], "init": mode,
        "started_from": job["name"] if mode == "preset" else None,
        "command": "python -m recipes." + job["recipe"] + " " + " ".join(argv),
        "device": _device_name(), "backend": keras.backend.backend(),
        "steps_planned": steps, "steps": result.steps, "measured_steps_per_second": rate["steps_per_second"],
        "train_steps_per_second": result.steps / max(train_seconds, 1e-9),
        "patches_per_second": result.steps * recipe.batch_size / max(train_seconds, 1e-9),
        "train_minutes": train_seconds / 60, "job_minutes": (time.monotonic() - start) / 60,
        "data": [f"{s}/HR" for s in TRAIN_SETS], "scored_on": list(SCORE_SETS), "fp16": fp16,
        "memory_fraction": os.environ.get("XLA_PYTHON_CLIENT_MEM_FRACTION"), "dry_run": dry_run,
    }
    with open(os.path.join(run_dir, "job.json"), "w", encoding="utf-8") as f:
        json.dump(record, f, indent=2)
    return record


def _job_env(count):
    env = dict(os.environ)
    env.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
    env["XLA_PYTHON_CLIENT_MEM_FRACTION"] = f"{0.9 / max(1, count):.3f}"
    env.setdefault("TF_FORCE_GPU_ALLOW_GROWTH", "true")
    env["PYTHONUNBUFFERED"] = "1"
    return env


def _spawn(job, args, run_dir, seconds, count):
    command = [sys.executable, "-m", "tools.preset_factory", "job", "--spec", json.dumps(job), "--data-root",
               args.data_root, "--run-dir", run_dir, "--seconds", f"{seconds:.1f}"]
    if args.dry_run:
        command.append("--dry-run")
    if args.max_steps:
        command += ["--max-steps", str(args.max_steps)]
    log_file = open(os.path.join(run_dir + ".log"), "w", encoding="utf-8")  # noqa: SIM115 - closed by the caller
    return subprocess.Popen(command, stdout=log_file, stderr=subprocess.STDOUT, env=_job_env(count)), log_file


def run_factory(args, log=print):
    """Train the queue (`args.queue`) within `args.minutes`, then pack; returns `(records, packed files)`."""
    start = time.monotonic()
    if args.dry_run and not args.max_steps:
        args.max_steps = 2
    jobs = read_queue(args.queue)
    if args.only:
        unknown = sorted(set(args.only) - {j["name"] for j in jobs})
        if unknown:
            raise QueueError(f"{args.queue}: no job(s) {', '.join(unknown)}.")
        jobs = [j for j in jobs if j["name"] in args.only]
    work = args.work or os.path.join(os.path.dirname(os.path.abspath(args.out)), "preset_factory_work")
    os.makedirs(work, exist_ok=True)
    os.makedirs(args.out, exist_ok=True)
    budget = 60 * args.minutes - (time.monotonic() - start) - args.pack_seconds
    log(f"preset factory: {len(jobs)} job(s), {args.concurrency}, {budget / 60:.1f} min of training and scoring "
        f"({args.pack_seconds:.0f} s kept for packing)")
    records = []
    if args.concurrency == "processes":
        running = []
        for job in jobs:
            run_dir = os.path.join(work, job["name"])
            os.makedirs(run_dir, exist_ok=True)
            running.append((job, run_dir, *_spawn(job, args, run_dir, budget, len(jobs))))
        for job, run_dir, proc, log_file in running:
            try:
                proc.wait(timeout=max(1.0, start + 60 * args.minutes - args.pack_seconds / 2 - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
                log(f"{job['name']}: killed at the deadline")
            log_file.close()
            records.append(_collect(job, run_dir, proc.returncode, log))
    elif args.concurrency == "inline":
        for i, job in enumerate(jobs):
            left = start + 60 * args.minutes - args.pack_seconds - time.monotonic()
            share = left * float(job["weight"]) / sum(float(j["weight"]) for j in jobs[i:])
            run_dir = os.path.join(work, job["name"])
            try:
                run_job(job, args.data_root, run_dir, share, args.dry_run, log=log, max_steps=args.max_steps)
                code = 0
            except Exception as err:  # noqa: BLE001 - one failed job must not lose the others
                log(f"{job['name']}: {type(err).__name__}: {err}")
                code = 1
            records.append(_collect(job, run_dir, code, log))
    else:
        for i, job in enumerate(jobs):
            left = start + 60 * args.minutes - args.pack_seconds - time.monotonic()
            share = left * float(job["weight"]) / sum(float(j["weight"]) for j in jobs[i:])
            run_dir = os.path.join(work, job["name"])
            os.makedirs(run_dir, exist_ok=True)
            proc, log_file = _spawn(job, args, run_dir, share, 1)
            try:
                proc.wait(timeout=max(1.0, share + 30))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            log_file.close()
            records.append(_collect(job, run_dir, proc.returncode, log))
    done = [r for r in records if r.get("steps")]
    if done:
        total = sum(r["patches_per_second"] for r in done)
        log(f"total training throughput, {args.concurrency}: {total:,.0f} patches/s over {len(done)} job(s) "
            + ", ".join(f"{r['name']} {r['patches_per_second']:,.0f}" for r in done))
    packed = pack_runs([os.path.join(work, j["name"]) for j in jobs], args.out, fp16_above_mb=args.fp16_above_mb,
                       log=log)
    with open(os.path.join(args.out, "factory.json"), "w", encoding="utf-8") as f:
        json.dump({"command": "python -m tools.device_run " + " ".join(sys.argv[1:]) if sys.argv[1:] else None,
                   "concurrency": args.concurrency, "minutes": args.minutes, "jobs": records,
                   "files": [os.path.basename(p) for p in packed]}, f, indent=2)
    return records, packed


def _collect(job, run_dir, code, log):
    path = os.path.join(run_dir, "job.json")
    tail = ""
    if os.path.isfile(run_dir + ".log"):
        with open(run_dir + ".log", encoding="utf-8", errors="replace") as f:
            tail = f.read()[-3000:]
    if code != 0 or not os.path.isfile(path):
        log(f"{job['name']}: failed (exit {code}); last output:\n{tail}")
        return {"name": job["name"], "failed": True, "exit": code, "log_tail": tail[-1500:]}
    with open(path, encoding="utf-8") as f:
        record = json.load(f)
    log(f"{job['name']}: {record['steps']} steps, {record['train_steps_per_second']:.1f} steps/s, "
        f"{record['patches_per_second']:,.0f} patches/s, {record['job_minutes']:.1f} min")
    return record


# -- packing for the way back ------------------------------------------------------------------------------------

def _build(meta):
    """The float32 model of a run's `model.json`."""
    from keras_sr.training.engine import dtype_policy

    with dtype_policy("float32"):
        return models.build(meta["name"], **meta["config"])


def _weights_to_fp16(run_dir, staged):
    """`final.weights.h5` as float16 arrays (in the model's weight order) in `staged/FP16_WEIGHTS`."""
    import numpy as np

    with open(os.path.join(run_dir, "model.json"), encoding="utf-8") as f:
        meta = json.load(f)
    model = _build(meta)
    model.load_weights(os.path.join(run_dir, "final.weights.h5"))
    arrays = {f"w{i:04d}": w.astype(np.float16) for i, w in enumerate(model.get_weights())}
    np.savez_compressed(os.path.join(staged, FP16_WEIGHTS), **arrays)


def pack_runs(run_dirs, out, fp16_above_mb=1.0, part_mb=15.5, log=print):
    """One archive (parts of at most `part_mb` MB when larger) of the runs' small files and (float16) weights."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        for run_dir in run_dirs:
            name = os.path.basename(run_dir.rstrip(os.sep))
            staged = os.path.join(tmp, name)
            os.makedirs(staged)
            for file in KEPT_FILES:
                if os.path.isfile(os.path.join(run_dir, file)):
                    shutil.copyfile(os.path.join(run_dir, file), os.path.join(staged, file))
            if os.path.isfile(run_dir + ".log"):
                shutil.copyfile(run_dir + ".log", os.path.join(staged, "job.log"))
            weights = os.path.join(run_dir, "final.weights.h5")
            if os.path.isfile(weights):
                if os.path.getsize(weights) > fp16_above_mb * 2**20:
                    _weights_to_fp16(run_dir, staged)
                else:
                    shutil.copyfile(weights, os.path.join(staged, "final.weights.h5"))
        archive = os.path.join(out, BUNDLE)
        with tarfile.open(archive, "w:gz") as tar:
            for name in sorted(os.listdir(tmp)):
                tar.add(os.path.join(tmp, name), arcname=name)
    size = os.path.getsize(archive)
    files = [archive]
    if size > part_mb * 2**20:
        files = []
        with open(archive, "rb") as f:
            index = 0
            while chunk := f.read(int(part_mb * 2**20)):
                part = f"{archive}.part{index:02d}"
                with open(part, "wb") as p:
                    p.write(chunk)
                files.append(part)
                index += 1
        os.remove(archive)
    if len(files) > MAX_FILES - 2:  # factory.json and the log go back too
        raise RuntimeError(f"{archive}: {size / 2**20:.1f} MB needs {len(files)} parts, more than the device tool "
                           f"returns; raise --fp16-above-mb's reach or train fewer jobs.")
    log(f"packed {len(run_dirs)} run(s) into {', '.join(os.path.basename(p) for p in files)}: "
        f"{size / 2**20:.2f} MB (limits: {MAX_FILES} files of {MAX_FILE_MB:.0f} MB)")
    return files


def unpack_bundle(folder, dest):
    """Extract a returned bundle (`presets_bundle.tar.gz` or its parts) from `folder` into `dest`; run dirs.

    Each run gets `final.weights.h5` back (float32; from `final.weights.fp16.npz` when it travelled as float16).
    """
    import glob
    import io

    import numpy as np

    single = os.path.join(folder, BUNDLE)
    parts = sorted(glob.glob(single + ".part*"))
    if os.path.isfile(single):
        data = open(single, "rb").read()
    elif parts:
        data = b"".join(open(p, "rb").read() for p in parts)
    else:
        raise FileNotFoundError(f"{folder}: no {BUNDLE} (or {BUNDLE}.partNN) returned by the factory.")
    os.makedirs(dest, exist_ok=True)
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        tar.extractall(dest, filter="data")
    runs = []
    for name in sorted(os.listdir(dest)):
        run_dir = os.path.join(dest, name)
        if not os.path.isdir(run_dir):
            continue
        fp16 = os.path.join(run_dir, FP16_WEIGHTS)
        if os.path.isfile(fp16) and not os.path.isfile(os.path.join(run_dir, "final.weights.h5")):
            with open(os.path.join(run_dir, "model.json"), encoding="utf-8") as f:
                meta = json.load(f)
            model = _build(meta)
            with np.load(fp16) as arrays:
                values = [arrays[f"w{i:04d}"] for i in range(len(arrays.files))]
            model.set_weights([v.astype(w.dtype) for v, w in zip(values, model.get_weights())])
            model.save_weights(os.path.join(run_dir, "final.weights.h5"))
        runs.append(run_dir)
    return runs


CARRIED_IGNORED = (".whl", ".gpu-data")  # the ignored folders a device call carries (README "GPU runs")


def _git_files(root):
    """Files a device call copies from the git work tree `root` (tracked + untracked, not ignored), or None."""
    try:
        out = subprocess.run(["git", "-C", root, "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                             capture_output=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    return [os.path.join(root, f) for f in out.decode().split("\0") if f]


def _walk_files(path):
    for root, dirs, files in os.walk(path):
        dirs[:] = [d for d in dirs if d not in (".git", "__pycache__", ".pytest_cache")]
        yield from (os.path.join(root, f) for f in files)


def payload_mb(paths):
    """Total size in MiB of what a device call carries in from `paths`.

    A git work tree counts as the device tool copies it: tracked and untracked files that git does not
    ignore, plus the carried ignored folders `.whl/` and `.gpu-data/` (so ignored build outputs such as
    `build/` are not counted); other folders count every file (`.git` and caches left out).
    """
    total = 0
    for path in paths:
        if os.path.isfile(path):
            total += os.path.getsize(path)
            continue
        files = _git_files(path) if os.path.isdir(os.path.join(path, ".git")) or os.path.isfile(
            os.path.join(path, ".git")) else None
        if files is None:
            files = list(_walk_files(path))
        else:
            for name in CARRIED_IGNORED:
                files += list(_walk_files(os.path.join(path, name)))
        total += sum(os.path.getsize(f) for f in set(files) if os.path.isfile(f) and not os.path.islink(f))
    return total / 2**20


def add_factory_arguments(parser):
    parser.add_argument("--queue", default=DEFAULT_QUEUE, help="queue file (default: tools/preset_queue.json)")
    parser.add_argument("--only", nargs="+", default=None, metavar="NAME", help="train only these jobs of the queue")
    parser.add_argument("--concurrency", default="processes", choices=("processes", "sequential", "inline"),
                        help="jobs at once, each a process with 0.9/N of the GPU memory (default); sequential: one "
                             "process after another with the whole GPU for its weight's share of the minutes; "
                             "inline: sequential inside this process (CPU checks, debugging)")
    parser.add_argument("--work", default=None, help="where full runs go (default: beside --out; not returned)")
    parser.add_argument("--fp16-above-mb", type=float, default=1.0,
                        help="weights files larger than this travel in float16")
    parser.add_argument("--pack-seconds", type=float, default=30.0, help="kept at the end for packing")
    parser.add_argument("--max-steps", type=int, default=0,
                        help="at most this many steps per job (0: as many as the budget allows; --dry-run: 2)")
    return parser


def main(argv=None):
    parser = argparse.ArgumentParser(prog="tools.preset_factory", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    job = sub.add_parser("job", help="one job (a process started by the factory)")
    job.add_argument("--spec", required=True, help="the job, as JSON")
    job.add_argument("--data-root", required=True)
    job.add_argument("--run-dir", required=True)
    job.add_argument("--seconds", type=float, required=True)
    job.add_argument("--dry-run", action="store_true")
    job.add_argument("--max-steps", type=int, default=0)
    args = parser.parse_args(argv)
    log = lambda line: print(line, flush=True)  # noqa: E731
    run_job(json.loads(args.spec), args.data_root, args.run_dir, args.seconds, args.dry_run, log=log,
            max_steps=args.max_steps)
    return 0


if __name__ == "__main__":
    sys.exit(main())
