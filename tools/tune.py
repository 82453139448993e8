"""Hyperparameter search with keras-tuner: `python -m tools.tune --recipe fsrcnn --scale 3 --max-trials 8`.

Searches the recipe's declared space (`Recipe.search_space`, e.g. FSRCNN's d,
s, m and learning rate) with keras-tuner's RandomSearch, Hyperband or
BayesianOptimization oracle; every trial is a short run of the training
engine scored by the validation PSNR of its final weights on the held-out
images (maximized). Prints a markdown table of the trials, best first
(also `OUT/trials.md`), and writes the best configuration as an override
file, `OUT/best_config.json`:

    {"recipe": "fsrcnn", "scale": 3,
     "overrides": {"d": 32, "s": 12, "m": 2, "learning_rate": 0.0012},
     "search": {"tuner": "random", "objective": "val_psnr", "trial": "1", "val_psnr": 27.4, ...}}

which the recipe command line applies with `--config FILE` (over the
recipe's defaults and demo budget, below explicit flags; `scale` when
`--scale` is not given; `search` is only a record). A flat `{field: value}`
object is accepted too. Details: `keras_sr.tuning`.

Example:
    $ python -m tools.tune --recipe fsrcnn --scale 3 --max-trials 8 --tuner random --steps 300 --out runs/tune_fsrcnn_x3
    $ python -m tools.tune --recipe fsrcnn --scale 3 --tuner hyperband --max-epochs 9 --steps 900 \\
          --data ../shared/data/T91/HR --val-data ../shared/data/Set5/HR --out runs/tune_fsrcnn_x3_t91
    $ python -m recipes.fsrcnn --config runs/tune_fsrcnn_x3/best_config.json --data ../shared/data/T91/HR
"""

import os
import sys


def main(argv=None):
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # before TensorFlow loads: no C++ INFO/WARNING lines
    from keras_sr.tuning import main as tune_main

    return tune_main(argv)


if __name__ == "__main__":
    sys.exit(main())
