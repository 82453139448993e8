"""Training of the arbitrary-scale models (LIIF, Meta-SR) with `fit` on `ImplicitSRDataset` query batches.

The generic engine (`keras_sr.training.engine`) trains `lr -> hr` models at
one integer scale; LIIF and Meta-SR train on `(lr, coord, cell) -> rgb`
queries at scales drawn per image or per batch, so they have this small
trainer beside it: a frozen recipe dataclass (`ImplicitRecipe`, every field a
flag, `recipe.json` in the run), `keras.Model.fit` on
`keras_sr.data.implicit_dataset.ImplicitSRDataset` (TensorFlow, JAX or
PyTorch), Adam with the step decay of the papers, then the held-out images
scored with the evaluation protocol at integer and real scales, and the run
written as `final.keras`, `final.weights.h5`, `model.json`, `recipe.json`,
`eval.json`.

Example:
    >>> recipe = LIIFRecipe(steps_per_epoch=10, epochs=1, batch_size=2)
    >>> result = train(recipe, "runs/liif_demo", data=None, init_from="edsr_baseline_x4")
    >>> result["eval"]["x4"]["psnr"]
"""

import argparse
import dataclasses
import json
import os
import sys
import time

from keras_sr.training.recipe import command_line, field

__all__ = ["ImplicitRecipe", "build_model", "make_dataset", "train", "recipe_main"]


@dataclasses.dataclass(frozen=True)
class ImplicitRecipe:
    """Fields shared by the arbitrary-scale recipes (defaults: LIIF's `train_edsr-baseline-liif.yaml`)."""

    model: str = field("liif", "registered model name", flag=False)
    encoder: str = field("edsr_baseline", "LIIF encoder", choices=("edsr_baseline", "rdn"))
    normalization: str = field("liif", "encoder input normalisation (mean_shift: to start from a keras-sr EDSR)",
                               choices=("liif", "mean_shift", "none"))
    num_blocks: int = field(0, "encoder blocks (0: the encoder's default)")
    filters: int = field(0, "encoder channels (0: the encoder's default)")
    patch_size: int = field(48, "LR patch size (HR crop: round(patch_size * scale))")
    scale_min: float = field(1.0, "smallest training scale (continuous, drawn per image)")
    scale_max: float = field(4.0, "largest training scale")
    scales: tuple = field((), "a discrete set of training scales instead (Meta-SR: 1.1 ... 4.0)")
    scale_per: str = field("image", "draw the scale per image (LIIF) or per batch (Meta-SR)", choices=("image", "batch"))
    sample_q: int = field(2304, "query pixels per image (0: every HR pixel)")
    batch_size: int = field(16, "images per batch")
    epochs: int = field(1000, "epochs")
    steps_per_epoch: int = field(1000, "batches per epoch (LIIF: 800 DIV2K images x 20 repeats / 16)")
    learning_rate: float = field(1e-4, "Adam learning rate")
    lr_decay_epochs: int = field(200, "multiply the learning rate by lr_gamma every N epochs")
    lr_gamma: float = field(0.5, "step decay factor")
    schedule: str = field("step", "learning-rate schedule", choices=("step", "cosine"))
    augment: bool = field(True, "random horizontal, vertical and diagonal flips")
    freeze_encoder: bool = field(False, "train only the decoder (the encoder keeps its --init-from weights)")
    eval_scales: tuple = field((2, 3, 4, 6, 8, 12), "scales scored on the held-out images at the end")
    seed: int = field(0, "random seed (weights, batches)")
    jit_compile: str = field("auto", "XLA compilation of the train step", choices=("auto", "on", "off"))

    @classmethod
    def demo_defaults(cls):
        """Overrides for the CPU demo (no --data); {} by default."""
        return {}

    def model_config(self):
        config = {"encoder": self.encoder, "normalization": self.normalization}
        if self.num_blocks:
            config["num_blocks"] = self.num_blocks
        if self.filters:
            config["filters"] = self.filters
        return config

    def to_dict(self):
        return {f.name: (list(v) if isinstance(v := getattr(self, f.name), tuple) else v)
                for f in dataclasses.fields(self)}


def build_model(recipe):
    from keras_sr import models

    return models.build(recipe.model, **recipe.model_config())


def make_dataset(recipe, images, steps_per_epoch=None, **kwargs):
    from keras_sr.data.implicit_dataset import ImplicitSRDataset

    return ImplicitSRDataset(images, patch_size=recipe.patch_size, batch_size=recipe.batch_size,
                             sample_q=recipe.sample_q, scale_min=recipe.scale_min, scale_max=recipe.scale_max,
                             scales=recipe.scales or None, scale_per=recipe.scale_per, augment=recipe.augment,
                             steps_per_epoch=steps_per_epoch or recipe.steps_per_epoch, seed=recipe.seed, **kwargs)


def _schedule(recipe):
    import keras

    total = recipe.epochs * recipe.steps_per_epoch
    if recipe.schedule == "cosine":
        return keras.optimizers.schedules.CosineDecay(recipe.learning_rate, max(total, 1))
    return keras.optimizers.schedules.ExponentialDecay(recipe.learning_rate,
                                                       recipe.lr_decay_epochs * recipe.steps_per_epoch,
                                                       recipe.lr_gamma, staircase=True)


def train(recipe, out, data=None, init_from=None, log=print, workers=1, val_data=None):
    """Train `recipe` into the run folder `out`; returns `{"model", "eval", "seconds"}`.

    `data`: HR image folders/files (None: the scikit-image photographs, `chelsea` and `coffee` held out).
    `val_data`: held-out HR images/folders (default: the data's held-out split).
    `init_from`: a preset, `.keras` file or run folder whose EDSR/RDN body starts the encoder (by layer name),
    or a run of the same model (all its weights: continue training with a new schedule).
    """
    import keras

    from keras_sr.arbitrary_scale import scale_key
    from keras_sr.data.sources import default_images, resolve_data
    from keras_sr.evaluation import evaluate_images
    from keras_sr.fileio import atomic_write_text
    from keras_sr.models.loading import write_model_json
    from keras_sr.models.query_inference import query_upscaler

    keras.utils.set_random_seed(recipe.seed)
    if data:
        split = resolve_data(data, val_data=val_data)
        if split.kind != "images":
            raise ValueError(f"--data: arbitrary-scale training reads image folders, got {split.kind}.")
        train_paths, val_paths = list(split.train), list(split.val)
    else:
        train_paths, val_paths = default_images()
        if val_data:
            val_paths = list(resolve_data(None, val_data=val_data).val)
    os.makedirs(out, exist_ok=True)
    model = build_model(recipe)
    if init_from:
        from keras_sr.models.weight_transfer import load_source_model, transfer_weights

        source = load_source_model(init_from)
        names = {layer.name for layer in source.layers}
        # Another run of this model: every weight (encoder and decoder); an SR network: its body, by name.
        target = model if {"encoder", "decoder"} <= names else model.get_layer("encoder")
        report = transfer_weights(source, target)
        log(f"--init-from {init_from}: {report.summary()}")
    if recipe.freeze_encoder:
        model.get_layer("encoder").trainable = False
    model.compile(optimizer=keras.optimizers.Adam(_schedule(recipe)), loss="mean_absolute_error",
                  jit_compile={"auto": "auto", "on": True, "off": False}[recipe.jit_compile])
    dataset = make_dataset(recipe, train_paths, workers=workers)
    start = time.perf_counter()
    history = model.fit(dataset, epochs=recipe.epochs, verbose=2)
    seconds = time.perf_counter() - start
    model.save(os.path.join(out, "final.keras"))
    model.save_weights(os.path.join(out, "final.weights.h5"))
    write_model_json(out, recipe.model, recipe.model_config())
    atomic_write_text(os.path.join(out, "recipe.json"), json.dumps(
        {"recipe": recipe.to_dict(), "model": {"name": recipe.model, "config": recipe.model_config()},
         "init_from": init_from, "data": data, "command": command_line(), "backend": keras.backend.backend(),
         "train_seconds": seconds, "loss": [float(v) for v in history.history.get("loss", [])]}, indent=2))
    upscaler = query_upscaler(model)
    from keras_sr.evaluation import bicubic_upscaler

    results = {}
    for scale in (scale_key(s) for s in recipe.eval_scales):
        ours = evaluate_images(upscaler, val_paths, scale)
        base = evaluate_images(bicubic_upscaler, val_paths, scale)
        results[f"x{scale}"] = {"psnr": ours["psnr"], "ssim": ours["ssim"], "bicubic_psnr": base["psnr"],
                                "bicubic_ssim": base["ssim"], "n_images": ours["n_images"]}
        log(f"held-out x{scale}: {ours['psnr']:.2f} dB / {ours['ssim']:.4f} "
            f"(bicubic {base['psnr']:.2f} / {base['ssim']:.4f})")
    atomic_write_text(os.path.join(out, "eval_heldout.json"), json.dumps(results, indent=2))
    return {"model": model, "eval": results, "seconds": seconds}


def _parse_value(kind, default):
    if isinstance(default, bool):
        return lambda text: text.lower() in ("1", "true", "yes", "on")
    if isinstance(default, tuple):
        return float
    return kind


def recipe_main(recipe_cls, prog):
    """`main(argv)` for a recipe: every flag-enabled field a `--flag`, plus --data, --out, --init-from."""

    def main(argv=None):
        parser = argparse.ArgumentParser(prog=prog, description=(recipe_cls.__doc__ or "").strip())
        parser.add_argument("--data", nargs="+", default=None, help="HR image folders (default: the CPU demo on "
                                                                     "the scikit-image photographs)")
        parser.add_argument("--out", default=f"runs/{recipe_cls.model_name_default()}", help="run folder")
        parser.add_argument("--init-from", default=None, help="preset / .keras / run folder for the encoder")
        parser.add_argument("--val-data", nargs="+", default=None, help="held-out HR images scored at the end")
        parser.add_argument("--workers", type=int, default=1, help="PyDataset loader workers")
        for f in dataclasses.fields(recipe_cls):
            if not f.metadata.get("flag", True):
                continue
            default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
            kwargs = {"default": None, "help": f.metadata.get("help", "")}
            if isinstance(default, tuple):
                kwargs["nargs"] = "*"
            if f.metadata.get("choices"):
                kwargs["choices"] = f.metadata["choices"]
            parser.add_argument("--" + f.name.replace("_", "-"), type=_parse_value(type(default), default), **kwargs)
        args = parser.parse_args(argv)
        overrides = {} if args.data else dict(recipe_cls.demo_defaults())
        for f in dataclasses.fields(recipe_cls):
            value = getattr(args, f.name, None)
            if value is not None:
                overrides[f.name] = tuple(value) if isinstance(value, list) else value
        init_from = args.init_from
        if init_from is None and not args.data:
            init_from = overrides.pop("init_from", None)
        else:
            overrides.pop("init_from", None)
        recipe = recipe_cls(**overrides)
        print(json.dumps(recipe.to_dict()), file=sys.stderr)
        train(recipe, args.out, data=args.data, init_from=init_from, workers=args.workers,
              val_data=args.val_data)
        return 0

    return main
