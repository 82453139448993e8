"""Training throughput of keras-sr's own training path, input pipeline included.

    python -m tools.benchmark train --model edsr --scale 4 --batch-size 16 --patch-size 48

Builds the model, optimizer, loss and input pipeline exactly as the training
engine does (`keras_sr.training.engine.compile_model`,
`keras_sr.training.data.make_train_data`: tf.data on TensorFlow, the
PyDataset loader on JAX/PyTorch), runs `model.fit` for `--warmup` steps
(compilation), then times `--steps` steps and prints LR patches/s and
steps/s. The clock waits for the device only at both ends of the timed
steps. `--loader device` (or `auto`) times the device-resident path of
`keras_sr.data.device_patches`; `--versus-arrays` also times plain
`model.fit` on in-memory numpy arrays of the same shapes and prints the ratio
(path / arrays), the host cost per step of the path: on a CPU with a tiny
model it is the proxy that CI can run. `--loader-only` times the input
pipeline alone.

    python -m tools.benchmark train --model edsr --set num_blocks=1 filters=8 --patch-size 16 --batch-size 4 \
        --steps 300 --warmup 20 --loader device --versus-arrays

Compare with `../shared/bench/torch_edsr_reference.py` in the same run on the
same machine (absolute figures drift between machines).
"""

import dataclasses
import importlib
import os
import platform
import time

from keras_sr import models
from keras_sr.data.sources import resolve_data
from keras_sr.training.recipe import Recipe


__all__ = ["add_arguments", "run", "measure"]


def add_arguments(parser):
    parser.add_argument("--model", default="edsr", help="registered model with a recipe in keras_sr.recipes")
    parser.add_argument("--scale", type=int, default=4)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--patch-size", type=int, default=48, help="LR patch size")
    parser.add_argument("--variant", default=None, help="model variant (EDSR: baseline or full)")
    parser.add_argument("--steps", type=int, default=50, help="timed steps")
    parser.add_argument("--warmup", type=int, default=10, help="untimed steps first (compilation)")
    parser.add_argument("--data", nargs="+", default=None, help="training data (default: the embedded photographs)")
    parser.add_argument("--loader", default=None, choices=("tfdata", "pydataset", "device", "auto"),
                        help="input pipeline (default by backend: tf.data / PyDataset; device: images on the device, "
                             "keras_sr.data.device_patches; auto: as training chooses)")
    parser.add_argument("--versus-arrays", action="store_true",
                        help="also time plain model.fit on in-memory arrays (same model, steps and batches) and print "
                             "the ratio: the host cost of the path per step (a CPU proxy for the GPU figure)")
    parser.add_argument("--mixed-precision", default="off", choices=("off", "auto", "float16", "bfloat16"))
    parser.add_argument("--jit-compile", default="auto", choices=("auto", "on", "off"))
    parser.add_argument("--steps-per-execution", type=int, default=1)
    parser.add_argument("--workers", type=int, default=0, help="PyDataset workers (0: per core, at most 8)")
    parser.add_argument("--strategy", default="none", choices=("auto", "mirrored", "multiworker", "tpu", "none"))
    parser.add_argument("--loader-only", action="store_true", help="time the input pipeline without the model")
    parser.add_argument("--set", nargs="+", default=[], metavar="FIELD=VALUE",
                        help="other recipe fields, e.g. --set num_blocks=32 filters=256")
    return parser


def _recipe_class(model):
    try:
        module = importlib.import_module(f"keras_sr.recipes.{model}")
    except ModuleNotFoundError:
        module = None
    if module is not None:
        found = [v for v in vars(module).values() if isinstance(v, type) and issubclass(v, Recipe) and v is not Recipe]
        for value in found:
            if value.model_name() == model:  # the module's own recipe, not a base class it imports
                return value
        if found:
            return found[0]
    return dataclasses.make_dataclass(f"{model}Recipe", [("model", str, dataclasses.field(default=model))],
                                      bases=(Recipe,), frozen=True)


class _StepClock:
    """Wall time of the steps after `warmup`, waiting for the device once every `chunk` steps (and at the end).

    `rate()` is the mean over all timed steps; `best_rate()` the fastest chunk
    of `chunk` steps, which a shared, loaded machine (CI) disturbs least. One
    wait per chunk costs one pipeline drain per `chunk` steps (none per step).
    """

    def __init__(self, warmup, chunk=50):
        import keras

        class Clock(keras.callbacks.Callback):
            def __init__(inner):
                super().__init__()
                inner.marks = []  # (steps done, time) after a wait for the device
                inner.logs = None
                inner.last = 0

            def on_train_batch_end(inner, batch, logs=None):
                inner.logs, inner.last = logs, batch + 1
                if batch + 1 >= warmup and (not inner.marks or batch + 1 - inner.marks[-1][0] >= chunk):
                    _wait(logs)
                    inner.marks.append((batch + 1, time.perf_counter()))

            def on_train_end(inner, logs=None):
                if inner.marks and inner.last > inner.marks[-1][0]:
                    _wait(inner.logs)
                    inner.marks.append((inner.last, time.perf_counter()))

        self.callback = Clock()
        self.warmup = warmup

    def rate(self, steps_per_call=1):
        marks = self.callback.marks
        if len(marks) < 2:
            return float("nan")
        return (marks[-1][0] - marks[0][0]) / (marks[-1][1] - marks[0][1])

    def best_rate(self):
        marks = self.callback.marks
        rates = [(b[0] - a[0]) / (b[1] - a[1]) for a, b in zip(marks, marks[1:])]
        return max(rates) if rates else float("nan")


def _wait(logs):
    if logs and "loss" in logs:
        float(logs["loss"])  # the step's result: the host waits for the device here


def _device():
    import keras

    backend = keras.backend.backend()
    try:
        if backend == "jax":
            import jax

            return f"{jax.devices()[0].device_kind} x{len(jax.devices())}"
        if backend == "tensorflow":
            import tensorflow as tf

            gpus = tf.config.list_physical_devices("GPU")
            return f"GPU x{len(gpus)}" if gpus else f"CPU ({os.cpu_count()} cores)"
    except Exception:  # noqa: BLE001
        pass
    return platform.processor() or "cpu"


def measure(args):
    """`{"steps_per_second", "patches_per_second", ...}` for the parsed arguments."""
    import keras

    from keras_sr.training.data import make_train_data
    from keras_sr.training.distribution import resolve_distribution
    from keras_sr.training.engine import dtype_policy, compile_model, resolve_policy

    recipe_cls = _recipe_class(args.model)
    overrides = dict(batch_size=args.batch_size, patch_size=args.patch_size, steps=args.warmup + args.steps,
                     mixed_precision=args.mixed_precision, jit_compile=args.jit_compile,
                     steps_per_execution=args.steps_per_execution, workers=args.workers)
    if args.variant:
        overrides["variant"] = args.variant
    hints = {f.name: type(f.default) for f in dataclasses.fields(recipe_cls)}
    for item in args.set:
        name, _, value = item.partition("=")
        if name not in hints:
            raise SystemExit(f"error: --set {item}: {recipe_cls.__name__} has no field {name!r}")
        overrides[name] = hints[name](value) if hints[name] in (int, float, str) else value
    recipe = recipe_cls.for_scale(args.scale, **overrides)
    split = resolve_data(args.data)
    per_call = max(1, args.steps_per_execution)
    total = (args.warmup + args.steps) // per_call * per_call
    chosen = []
    hook = getattr(recipe, "train_data", None)  # a recipe's own batches (e.g. LIIF's queries), as the engine uses
    if callable(hook):
        data = hook(split, seed=0, steps_per_epoch=total, loader=args.loader, log=chosen.append)
        loader = f"recipe ({type(data).__name__})"
    else:
        data = make_train_data(split, recipe, seed=0, steps_per_epoch=total, loader=args.loader, log=chosen.append)
        loader = args.loader or "default"
        if args.loader == "auto":
            loader = "auto: " + chosen[0].split("(")[0].replace("training data path: ", "").strip()
    result = {"backend": keras.backend.backend(), "device": _device(), "model": args.model, "scale": args.scale,
              "batch": args.batch_size, "patch": args.patch_size, "loader": loader,
              "policy": resolve_policy(args.mixed_precision)}
    if args.loader_only:
        iterator = iter(data) if not hasattr(data, "__getitem__") else (data[i % len(data)] for i in range(10**9))
        for _ in range(args.warmup):
            next(iterator)
        start = time.perf_counter()
        for _ in range(args.steps):
            batch = next(iterator)
        keras.ops.convert_to_numpy(batch[1][:1, :1, :1])  # device batches: wait for the last one
        seconds = time.perf_counter() - start
        result.update(steps_per_second=args.steps / seconds, patches_per_second=args.steps * args.batch_size / seconds)
        return result
    dist = resolve_distribution(args.strategy)
    with dtype_policy(result["policy"]), dist.scope():
        model = models.build(recipe.model, **recipe.model_config())
        compile_model(model, recipe)
        clock = _StepClock(args.warmup)
        model.fit(data, steps_per_epoch=total, epochs=1, verbose=0, callbacks=[clock.callback], shuffle=False)
        rate = clock.rate(per_call)
        if args.versus_arrays:
            arrays_clock = _arrays_clock(split, recipe, total, args.warmup)
    result.update(steps_per_second=rate, patches_per_second=rate * args.batch_size, params=model.count_params(),
                  replicas=dist.num_replicas)
    if args.versus_arrays:
        best, arrays_best = clock.best_rate(), arrays_clock.best_rate()
        result.update(arrays_steps_per_second=arrays_clock.rate(), best_chunk_steps_per_second=best,
                      arrays_best_chunk_steps_per_second=arrays_best, ratio_to_arrays=rate / arrays_clock.rate())
    return result


def _arrays_clock(split, recipe, total, warmup):
    """The clock of plain `model.fit(x, y)` on in-memory numpy batches (same recipe, model and number of steps)."""
    import numpy as np

    from keras_sr.data.py_dataset import SRPatchDataset
    from keras_sr.training.engine import compile_model

    source = SRPatchDataset(split.train, recipe.scale, recipe.patch_size, recipe.batch_size, steps_per_epoch=total,
                            augment=recipe.augment, y_only=recipe.y_only, seed=1, skip_small=True)
    batches = [source[i] for i in range(total)]
    x = np.concatenate([b[0] for b in batches])
    y = np.concatenate([b[1] for b in batches])
    model = models.build(recipe.model, **recipe.model_config())
    compile_model(model, recipe)
    clock = _StepClock(warmup)
    model.fit(x, y, batch_size=recipe.batch_size, epochs=1, verbose=0, callbacks=[clock.callback], shuffle=False)
    return clock


def run(args):
    r = measure(args)
    print("| backend | device | model | scale | batch | LR patch | policy | loader | steps/s | patches/s |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    print(f"| {r['backend']} | {r['device']} | {r['model']} | x{r['scale']} | {r['batch']} | {r['patch']} | "
          f"{r['policy']} | {r['loader']}{' (loader only)' if args.loader_only else ''} | "
          f"{r['steps_per_second']:.2f} | {r['patches_per_second']:.1f} |")
    if "ratio_to_arrays" in r:
        print(f"plain model.fit on in-memory arrays: {r['arrays_steps_per_second']:.2f} steps/s; ratio, this path / "
              f"arrays: {r['ratio_to_arrays']:.2f}x (fastest 50-step chunk: this path "
              f"{r['best_chunk_steps_per_second']:.2f}, arrays {r['arrays_best_chunk_steps_per_second']:.2f} steps/s)")
    return r
