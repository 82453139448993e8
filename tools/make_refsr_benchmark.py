"""Warped-view RefSR benchmark: `python -m tools.make_refsr_benchmark --data BSD100/HR Urban100/HR --out DIR --seed 0`.

CUFED5 is not available here; this benchmark measures what a reference adds
on ordinary SR test sets. For every dataset folder it writes, under
`DIR/<dataset>/`:

* `relevant/<image>.png` + `relevant.txt`: a seeded warped view of the same
  HR image (`keras_sr.data.reference_views.synthesize_reference`, default
  `ViewParams`: zoom 0.8-1.25, rotation +-15 degrees, shift <= 1/4, mild
  perspective, colour jitter), i.e. another view of the same scene, the size of
  the HR image. It is the reference `synthetic:SEED` would make for that image.
  `relevant_transforms.json` holds each view's reference -> HR homography;
* `unrelated/<image>.png` + `unrelated.txt`: a different image of the same set
  (a seeded derangement: no image is its own partner), resized to cover the
  HR size, centre-cropped to it, with the same kind of colour jitter;

and `DIR/benchmark.json` + `DIR/README.md` with the seed, the parameters and
the commands. The pairs files (`hr_path ref_path` per line, paths relative to
the file; `# dataset:` / `# reference:` comments name the table rows) feed
`python -m tools.evaluate --ref-mode pairs:DIR/BSD100/relevant.txt`. The same
seed gives byte-identical files.

Example:
    $ python -m tools.make_refsr_benchmark --data /data/BSD100/HR --out bench --seed 0
    $ python -m tools.evaluate --model bicubic --scale 4 --ref-mode pairs:bench/BSD100/relevant.txt pairs:bench/BSD100/unrelated.txt
    >>> summary = build_benchmark(["/data/BSD100/HR"], "bench", seed=0)
"""

import argparse
import dataclasses
import json
import os
import shlex
import sys

import numpy as np

from keras_sr.data.reference_sources import SyntheticReferenceSource, view_rng
from keras_sr.fileio import atomic_write_text
from keras_sr.image_io import ImageError, load_image, save_image


__all__ = ["derangement", "unrelated_reference", "build_dataset", "build_benchmark", "main"]

RELEVANT_LABEL = "warped ref"
UNRELATED_LABEL = "unrelated ref"
DERANGEMENT_STREAM = 2
UNRELATED_STREAM = 1  # relevant views use stream 0 (`SyntheticReferenceSource`)


def derangement(n, rng):
    """A random permutation of `range(n)` with no fixed point (n >= 2), by rejection."""
    if n < 2:
        raise ValueError(f"a derangement needs at least 2 images, got {n}.")
    while True:
        order = rng.permutation(n)
        if not np.any(order == np.arange(n)):
            return order


def unrelated_reference(other, size, rng, params):
    """`other` resized (bicubic) to cover `size` (h, w), centre-cropped to it, colour-jittered."""
    from PIL import Image

    from keras_sr.data.reference_views import jitter_colors

    h, w = (int(v) for v in size)
    oh, ow = other.shape[:2]
    factor = max(h / oh, w / ow)
    new_h, new_w = max(h, int(np.ceil(oh * factor))), max(w, int(np.ceil(ow * factor)))
    resized = np.asarray(Image.fromarray(other).resize((new_w, new_h), Image.BICUBIC))
    top, left = (new_h - h) // 2, (new_w - w) // 2
    return jitter_colors(resized[top:top + h, left:left + w], rng, params)


def _quote(path):
    return shlex.quote(path.replace(os.sep, "/"))


def _write_pairs(path, dataset, label, rows):
    lines = [f"# dataset: {dataset}", f"# reference: {label}",
             "# hr_path ref_path (relative to this file), written by tools.make_refsr_benchmark"]
    lines += [f"{_quote(hr)} {_quote(ref)}" for hr, ref in rows]

    atomic_write_text(path, "\n".join(lines) + "\n")


def build_dataset(folder, out, seed=0, params=None, log=None):
    """Write one dataset's relevant/unrelated references and pairs files under `out/<dataset>`; its summary."""
    source = SyntheticReferenceSource([folder], seed=seed, params=params)
    if len(source) < 2:
        raise ValueError(f"{folder}: the unrelated references need at least 2 images, found {len(source)}.")
    root = os.path.join(out, source.dataset)
    partners = derangement(len(source), np.random.default_rng([int(seed), DERANGEMENT_STREAM]))
    relevant, unrelated, transforms = [], [], {}
    for i, path in enumerate(source.paths):
        relative = os.path.splitext(os.path.relpath(path, folder))[0] + ".png"
        hr = load_image(path)
        ref, transform = source.reference_and_transform(i, hr=hr)
        save_image(os.path.join(root, "relevant", relative), ref)
        other = load_image(source.paths[partners[i]])
        save_image(os.path.join(root, "unrelated", relative),
                   unrelated_reference(other, hr.shape[:2], view_rng(seed, i, UNRELATED_STREAM), source.params))
        hr_rel = os.path.relpath(os.path.abspath(path), os.path.abspath(root))
        relevant.append((hr_rel, os.path.join("relevant", relative)))
        unrelated.append((hr_rel, os.path.join("unrelated", relative)))
        transforms[relative.replace(os.sep, "/")] = np.round(transform, 10).tolist()
        if log and (i + 1) % 25 == 0:
            log(f"{source.dataset}: {i + 1}/{len(source)}")
    _write_pairs(os.path.join(root, "relevant.txt"), source.dataset, RELEVANT_LABEL, relevant)
    _write_pairs(os.path.join(root, "unrelated.txt"), source.dataset, UNRELATED_LABEL, unrelated)
    atomic_write_text(os.path.join(root, "relevant_transforms.json"),
                      json.dumps({"maps": "reference (x, y) pixel centre -> HR image (x, y)", "transforms": transforms},
                                 indent=1, sort_keys=True) + "\n")
    return {"dataset": source.dataset, "hr_folder": os.path.abspath(folder), "n_images": len(source),
            "unrelated_partner": {os.path.basename(source.paths[i]): os.path.basename(source.paths[j])
                                  for i, j in enumerate(partners)}}


def build_benchmark(folders, out, seed=0, params=None, log=None):
    """Build every dataset of `folders` under `out`; writes `benchmark.json` and `README.md`; returns the summary."""
    from keras_sr.data.reference_views import ViewParams

    params = ViewParams() if params is None else params
    datasets = [build_dataset(folder, out, seed, params, log) for folder in folders]
    summary = {
        "seed": int(seed),
        "view_params": dataclasses.asdict(params),
        "relevant": "keras_sr.data.reference_views.synthesize_reference(hr, np.random.default_rng([seed, 0, i]), "
                    "params) of image i (sorted order), the HR size",
        "unrelated": "image derangement(n, default_rng([seed, 2]))[i], bicubic resize to cover the HR size, centre "
                     "crop, jitter_colors(default_rng([seed, 1, i]))",
        "datasets": datasets,
    }
    atomic_write_text(os.path.join(out, "benchmark.json"), json.dumps(summary, indent=2, sort_keys=True) + "\n")
    lines = ["# Warped-view RefSR benchmark", "",
             f"Written by `python -m tools.make_refsr_benchmark` with seed {int(seed)} "
             f"(parameters in `benchmark.json`).", "",
             f"* `<dataset>/relevant.txt` ({RELEVANT_LABEL}): a seeded warped view of the same HR image "
             f"(zoom {params.zoom[0]}-{params.zoom[1]}, rotation +-{params.rotation_degrees} deg, shift <= "
             f"{params.max_shift}, perspective {params.perspective}, brightness/contrast/saturation "
             f"+-{params.brightness}/{params.contrast}/{params.saturation}); homographies in "
             "`relevant_transforms.json`.",
             f"* `<dataset>/unrelated.txt` ({UNRELATED_LABEL}): another image of the same set (seeded "
             "derangement), resized and centre-cropped to the HR size, same colour jitter.", "",
             "Evaluate (x4; SISR models ignore the reference):", ""]
    for entry in datasets:
        name = entry["dataset"]
        lines.append(f"    python -m tools.evaluate --model bicubic --scale 4 --ref-mode "
                     f"pairs:{name}/relevant.txt pairs:{name}/unrelated.txt   # {entry['n_images']} images")
    atomic_write_text(os.path.join(out, "README.md"), "\n".join(lines) + "\n")
    return summary


def main(argv=None):
    parser = argparse.ArgumentParser(prog="tools.make_refsr_benchmark", description=__doc__.split("\n")[0])
    parser.add_argument("--data", nargs="+", required=True, help="HR image folders (one dataset each)")
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument("--seed", type=int, default=0, help="seed of the views, jitter and derangement (0)")
    args = parser.parse_args(argv)

    try:
        summary = build_benchmark(args.data, args.out, args.seed, log=lambda m: print(m, file=sys.stderr, flush=True))
    except (ImageError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    for entry in summary["datasets"]:
        print(f"{entry['dataset']}: {entry['n_images']} images -> {os.path.join(args.out, entry['dataset'])}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
