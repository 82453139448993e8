"""A preset from a released checkpoint: the converted weights plus our protocol's scores.

`make_preset_from_checkpoint` converts the file (`keras_sr.convert.from_checkpoint`),
scores it with the evaluation protocol (`keras_sr.evaluation.evaluate_folders`:
MATLAB-bicubic LR, Y channel, `scale` pixels cropped) on the given HR folders, and
writes `<folder>/<name>.weights.h5` and `<name>.json` as any preset: `{"model",
"config", "weights", "description", "metrics", "training"}`, where `training`
records the source file (name, size, SHA-256), the converter and the command,
instead of a keras-sr training run. `keras_sr.models.from_preset(name)` and
`python -m tools.evaluate --model name` then use it.

Example:
    $ python -m tools.make_preset --from-checkpoint edsr_baseline_x4-6b446fab.pt \\
        --eval-data ../shared/data/Set5/HR ../shared/data/Set14/HR
    >>> models.from_preset("edsr_baseline_x4_official")
"""

import hashlib
import json
import os
import shutil
import sys
from keras_sr.evaluation import evaluate_folders, results_to_json
from keras_sr.fileio import atomic_write_text
from keras_sr.upscalers import model_upscaler
from keras_sr.models.presets import PRESET_DIR, get_preset, preset_name

__all__ = ["make_preset_from_checkpoint", "sha256"]


def sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _jsonable(config):
    return json.loads(json.dumps(config, default=list))


def make_preset_from_checkpoint(checkpoint, name=None, converter=None, eval_data=(), description="", folder=None,
                                log=print, **overrides):
    """Convert `checkpoint`, score it on `eval_data` HR folders, write the preset; returns the `Preset`.

    `name` defaults to `<model>[_<variant>]_x<scale>_official`. `converter` and `overrides` are those of
    `from_checkpoint` (MDSR needs `scale=`: a preset is one single-output model).
    """
    import tempfile

    from keras_sr.convert import detect, from_checkpoint, read_checkpoint

    folder = folder or PRESET_DIR
    state = read_checkpoint(checkpoint)
    converter, found = detect(state, converter)
    config = _jsonable({**found["config"], **overrides})
    if config.get("scale") is None:
        raise ValueError(f"{checkpoint}: a preset holds one scale; pass scale= (--scale) to take one MDSR branch")
    model = from_checkpoint(state, converter, **overrides)
    name = name or preset_name(found["model"], config) + "_official"
    metrics = {}
    if eval_data:
        results = evaluate_folders(model_upscaler(model, config["scale"]), list(eval_data), [config["scale"]],
                                   log=log)
        metrics = results_to_json(results)
    os.makedirs(folder, exist_ok=True)
    weights_name = f"{name}.weights.h5"
    with tempfile.TemporaryDirectory(dir=folder) as scratch:
        tmp = os.path.join(scratch, weights_name)
        model.save_weights(tmp)
        shutil.move(tmp, os.path.join(folder, weights_name))
    command = " ".join(["python -m tools.make_preset"] + sys.argv[1:]) if sys.argv[0].endswith("make_preset.py") \
        else None
    training = {"converted_from": {"file": os.path.basename(os.fspath(checkpoint)),
                                   "bytes": os.path.getsize(checkpoint), "sha256": sha256(checkpoint),
                                   "converter": converter},
                "command": command}
    meta = {"model": found["model"], "config": config, "weights": weights_name, "description": description,
            "metrics": metrics, "training": training}
    atomic_write_text(os.path.join(folder, f"{name}.json"), json.dumps(meta, indent=2))
    return get_preset(name, folder)
