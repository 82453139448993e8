"""Where the references of reference-based SR come from: `open_reference_source(spec, data)`.

A reference source pairs every HR test image with one reference image
(TTSR, Yang et al., CVPR 2020; C2-Matching, Jiang et al., CVPR 2021), or with
several (`num_refs > 1`: SRNTT's pooled matching, CIMR-SR's reference pool,
CUFED5's five levels). `spec` chooses how:

* `"cufed5:K"`: the CUFED5 test set (SRNTT, Zhang et al., CVPR 2019): folder(s)
  `data` hold groups `XXX_0.png` (the HR image) and `XXX_1.png` ... `XXX_5.png`
  (references, similarity level 1 (most similar) to 5); `K` picks the level,
  `"cufed5:all"` gives all five (levels 1..5, in order). Evaluation then
  follows the CUFED5 protocol (PIL bicubic LR, see `keras_sr.scoring`);
* `"self-lr"`: the reference is the LR input itself, the papers' protocol for
  Urban100 (which has no references): `reference(i, lr=lr)`;
* `"pairs:FILE"`: a text file with one `hr_path ref_path [ref_path ...]` per
  line (the same number of references on every line; paths
  relative to the file's folder, shell quoting for spaces, `#` comments;
  `# dataset: NAME` and `# reference: LABEL` comment lines name the rows of
  result tables), as written by `python -m tools.make_refsr_benchmark`;
* `"synthetic[:SEED[:K]]"`: the HR images of `data`, each with a seeded warped
  view of itself (`keras_sr.data.reference_views.synthesize_reference`, default
  `ViewParams`) as reference: another view of the same scene; with `K`, `K`
  independent views (view 0 is the `synthetic:SEED` one);
* `"tfrecord[:K]"`: TFRecord shards (`data` = manifest, its folder or a shard
  pattern) written with `tools.make_tfrecords --ref DIR`; the K-th stored
  reference of each record (`TFRecordReferenceSource`).

Every source has `len(source)`, `name(i)`, `hr(i)` (uint8 HxWx3),
`reference(i, lr=None)` (uint8 HxWx3; the first one of several),
`references(i, lr=None)` (a list of `num_refs` of them), `dataset` and `label` (the row name of
result tables, e.g. "CUFED5 (ref 1)") and `lr_method` ("pil" for CUFED5,
"matlab" otherwise). Bad input raises `ReferenceSourceError` (an `ImageError`)
naming the file and the problem.

Example:
    >>> source = open_reference_source("cufed5:1", "CUFED5")
    >>> hr, ref = source.hr(0), source.reference(0)
    >>> source = open_reference_source("pairs:bench/BSD100/relevant.txt"); source.label
"""

import os
import re
import shlex

import numpy as np

from keras_sr.image_io import ImageError, dataset_name, list_images, load_image
from keras_sr.tfrecords import schema


__all__ = ["ReferenceSourceError", "ReferenceSource", "CUFED5Source", "SelfLRSource", "PairsSource",
           "SyntheticReferenceSource", "TFRecordReferenceSource", "open_reference_source", "read_pairs",
           "view_rng", "SPEC_HELP"]

SPEC_HELP = "cufed5:K, self-lr, pairs:FILE, synthetic[:SEED[:K]], tfrecord[:K] or cufed5:all"
MULTI_VIEW_STREAM = 1000  # view_rng stream of view k >= 1 of synthetic:SEED:K is MULTI_VIEW_STREAM + k
CUFED5_LEVELS = (1, 2, 3, 4, 5)


class ReferenceSourceError(ImageError):
    """A reference source that cannot be used; the message names the file or folder and the problem."""


def _folders(data, spec):
    if data is None:
        raise ReferenceSourceError(f"reference source {spec!r} needs image folder(s) (--data DIR).")
    folders = [os.fspath(data)] if isinstance(data, (str, os.PathLike)) else [os.fspath(d) for d in data]
    if not folders:
        raise ReferenceSourceError(f"reference source {spec!r} needs image folder(s) (--data DIR).")
    return folders


def _name_of(folders):
    return "+".join(dataset_name(f) for f in folders)


class ReferenceSource:
    """Base class: HR images `hr(i)` with references `reference(i, lr=None)`, both RGB uint8."""

    kind = "base"
    lr_method = "matlab"  # how the LR input is made: "matlab" (keras_sr.imresize) or "pil" (CUFED5 protocol)
    needs_lr = False      # reference(i) needs the LR image (self-lr)
    num_refs = 1          # references per image (`references(i)`)

    def __init__(self, dataset, label):
        self.dataset = dataset
        self.label = label

    def __len__(self):
        raise NotImplementedError

    def name(self, i):
        raise NotImplementedError

    def hr(self, i):
        raise NotImplementedError

    def reference(self, i, lr=None):
        raise NotImplementedError

    def references(self, i, lr=None):
        """The `num_refs` references of image `i` (uint8 HxWx3 each); one-reference sources: `[reference(i)]`."""
        return [self.reference(i, lr=lr)]

    def _check_index(self, i):
        if not 0 <= int(i) < len(self):
            raise IndexError(f"{self.label}: index {i} out of range ({len(self)} images)")
        return int(i)

    def describe(self):
        """A JSON-able summary (recorded in evaluation results)."""
        return {"kind": self.kind, "dataset": self.dataset, "label": self.label, "n_images": len(self),
                "lr_method": self.lr_method, "num_refs": self.num_refs}

    def __repr__(self):
        return f"<{type(self).__name__} {self.label!r}: {len(self)} images>"


class _FolderSource(ReferenceSource):
    """HR images listed from folders (sorted, recursive)."""

    def __init__(self, folders, label):
        self.paths = [p for folder in folders for p in list_images(folder)]
        super().__init__(_name_of(folders), label.format(name=_name_of(folders)))

    def __len__(self):
        return len(self.paths)

    def name(self, i):
        return os.path.basename(self.paths[self._check_index(i)])

    def hr(self, i):
        return load_image(self.paths[self._check_index(i)])


class SelfLRSource(_FolderSource):
    """The LR input is its own reference (the TTSR / C2-Matching Urban100 protocol)."""

    kind = "self-lr"
    needs_lr = True

    def __init__(self, folders):
        super().__init__(folders, "{name} (LR ref)")

    def reference(self, i, lr=None):
        self._check_index(i)
        if lr is None:
            raise ReferenceSourceError(f"{self.paths[int(i)]}: the self-lr reference is the LR image; "
                                       "call reference(i, lr=lr).")
        return np.asarray(lr, np.uint8)


def view_rng(seed, index, stream=0):
    """The random generator of image `index`'s view: independent of the other images and of the order of use."""
    return np.random.default_rng([int(seed), int(stream), int(index)])


class SyntheticReferenceSource(_FolderSource):
    """Each HR image with `count` seeded warped views of itself (homography + colour jitter) as references."""

    kind = "synthetic"

    def __init__(self, folders, seed=0, params=None, count=1):
        from keras_sr.data.reference_views import ViewParams

        self.seed = int(seed)
        self.num_refs = int(count)
        if self.num_refs < 1:
            raise ReferenceSourceError(f"synthetic:{seed}:{count}: the number of views must be >= 1.")
        self.params = ViewParams() if params is None else params
        views = "" if self.num_refs == 1 else f" x{self.num_refs}"
        super().__init__(folders, "{name} (synthetic ref" + views + ", seed " + str(self.seed) + ")")

    def reference_and_transform(self, i, hr=None, view=0):
        """`(reference, transform)`: view `view` (the HR image's size) and its reference -> HR homography."""
        from keras_sr.data.reference_views import synthesize_reference

        i = self._check_index(i)
        hr = self.hr(i) if hr is None else hr
        stream = 0 if view == 0 else MULTI_VIEW_STREAM + int(view)
        return synthesize_reference(hr, view_rng(self.seed, i, stream), params=self.params)

    def reference(self, i, lr=None):
        return self.reference_and_transform(i)[0]

    def references(self, i, lr=None):
        hr = self.hr(i)
        return [self.reference_and_transform(i, hr, view)[0] for view in range(self.num_refs)]

    def describe(self):
        import dataclasses

        return {**super().describe(), "seed": self.seed, "view_params": dataclasses.asdict(self.params)}


class CUFED5Source(ReferenceSource):
    """CUFED5 groups `XXX_0.png` (HR) + `XXX_K.png` (the level-K reference, or all five) in one or more folders."""

    kind = "cufed5"
    lr_method = "pil"

    def __init__(self, folders, level=1):
        if str(level).strip().lower() == "all":
            levels_wanted = CUFED5_LEVELS
        else:
            level = int(level)
            if level not in CUFED5_LEVELS:
                raise ReferenceSourceError(f"cufed5:{level}: the CUFED5 reference level must be 1..5 or 'all'.")
            levels_wanted = (level,)
        self.level = "all" if len(levels_wanted) > 1 else levels_wanted[0]
        self.num_refs = len(levels_wanted)
        self.groups = []  # (hr_path, ref_path, ...)
        pattern = re.compile(r"^(.+)_(\d+)$")
        for folder in folders:
            files = list_images(folder, recursive=False)
            by_group = {}
            for path in files:
                match = pattern.match(os.path.splitext(os.path.basename(path))[0])
                if match:
                    by_group.setdefault(match.group(1), {})[int(match.group(2))] = path
            if not by_group:
                raise ReferenceSourceError(f"{folder}: no CUFED5 groups (files XXX_0.png with references "
                                           "XXX_1.png ... XXX_5.png).")
            for group in sorted(by_group):
                levels = by_group[group]
                if 0 not in levels:
                    raise ReferenceSourceError(f"{os.path.join(folder, group)}_0.png: HR image of CUFED5 group "
                                               f"{group!r} is missing (found levels {sorted(levels)}).")
                for level in levels_wanted:
                    if level not in levels:
                        raise ReferenceSourceError(f"{levels[0]}: CUFED5 group {group!r} has no level-{level} "
                                                   f"reference {group}_{level}.* (found levels {sorted(levels)}).")
                self.groups.append((levels[0],) + tuple(levels[level] for level in levels_wanted))
        refs = "refs 1-5" if self.level == "all" else f"ref {self.level}"
        super().__init__(_name_of(folders), f"{_name_of(folders)} ({refs})")

    def __len__(self):
        return len(self.groups)

    def name(self, i):
        return os.path.basename(self.groups[self._check_index(i)][0])

    def hr(self, i):
        return load_image(self.groups[self._check_index(i)][0])

    def reference(self, i, lr=None):
        return load_image(self.groups[self._check_index(i)][1])

    def references(self, i, lr=None):
        return [load_image(path) for path in self.groups[self._check_index(i)][1:]]

    def describe(self):
        return {**super().describe(), "level": self.level}


def read_pairs(path):
    """`(pairs, meta)` of a pairs file: `[(hr_path, ref_path, ...), ...]` (absolute) and its `# key: value` comments.

    Every line holds the HR path and one or more reference paths, the same number on every line.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise ReferenceSourceError(f"{path}: pairs file not found.")
    folder = os.path.dirname(os.path.abspath(path))
    pairs, meta = [], {}
    try:
        with open(path, encoding="utf-8") as f:
            lines = f.read().splitlines()
    except (OSError, UnicodeDecodeError) as err:
        raise ReferenceSourceError(f"{path}: unreadable pairs file ({err}).") from err
    for number, line in enumerate(lines, 1):
        stripped = line.strip()
        if not stripped:
            continue
        if stripped.startswith("#"):
            key, sep, value = stripped[1:].partition(":")
            if sep and key.strip().lower() in ("dataset", "reference"):
                meta[key.strip().lower()] = value.strip()
            continue
        try:
            columns = shlex.split(line, comments=True)
        except ValueError as err:
            raise ReferenceSourceError(f"{path}:{number}: cannot parse {line!r} ({err}).") from err
        if len(columns) < 2:
            raise ReferenceSourceError(f"{path}:{number}: expected 2 or more columns `hr_path ref_path "
                                       f"[ref_path ...]`, got {len(columns)} in {line!r}.")
        if pairs and len(columns) != len(pairs[0]):
            raise ReferenceSourceError(f"{path}:{number}: {len(columns) - 1} reference(s) on this line, "
                                       f"{len(pairs[0]) - 1} on the first: every line needs the same number.")
        resolved = []
        for column in columns:
            full = os.path.normpath(os.path.join(folder, column))
            if not os.path.isfile(full):
                raise ReferenceSourceError(f"{path}:{number}: image {column!r} not found ({full}).")
            resolved.append(full)
        pairs.append(tuple(resolved))
    if not pairs:
        raise ReferenceSourceError(f"{path}: no pairs (expected lines `hr_path ref_path`).")
    return pairs, meta


class PairsSource(ReferenceSource):
    """HR / reference pairs listed in a text file (see `read_pairs`)."""

    kind = "pairs"

    def __init__(self, path):
        self.path = os.fspath(path)
        self.pairs, meta = read_pairs(self.path)
        dataset = meta.get("dataset") or dataset_name(os.path.dirname(os.path.abspath(self.path)))
        reference = meta.get("reference") or os.path.splitext(os.path.basename(self.path))[0]
        self.num_refs = len(self.pairs[0]) - 1
        super().__init__(dataset, f"{dataset} ({reference})")

    def __len__(self):
        return len(self.pairs)

    def name(self, i):
        return os.path.basename(self.pairs[self._check_index(i)][0])

    def hr(self, i):
        return load_image(self.pairs[self._check_index(i)][0])

    def reference(self, i, lr=None):
        return load_image(self.pairs[self._check_index(i)][1])

    def references(self, i, lr=None):
        return [load_image(path) for path in self.pairs[self._check_index(i)][1:]]

    def describe(self):
        return {**super().describe(), "pairs": os.path.abspath(self.path)}


class TFRecordReferenceSource(ReferenceSource):
    """Records of keras-sr TFRecord shards that carry references (`ref/png`); the `level`-th one (1-based).

    Records are read once (compressed) and decoded on access. A record with
    fewer than `level` references raises `ReferenceSourceError` naming the
    shard and the record.
    """

    kind = "tfrecord"

    def __init__(self, shards, level=1):
        import tensorflow as tf

        from keras_sr.tfrecords import reader  # TensorFlow

        self.level = int(level)
        if self.level < 1:
            raise ReferenceSourceError(f"tfrecord:{level}: the reference level must be >= 1.")
        self.records = []  # (shard path, index, raw bytes)
        resolved = reader.resolve_shards(shards)
        for shard in resolved:
            try:
                for index, raw in enumerate(tf.data.TFRecordDataset(shard["path"])):
                    self.records.append((shard["path"], index, raw.numpy()))
            except tf.errors.OpError as err:
                raise ReferenceSourceError(f"{shard['path']}: unreadable shard ({err.message}).") from err
        if not self.records:
            raise ReferenceSourceError(f"{shards}: no records.")
        self._schema = schema
        self._cache = (None, None)
        folder = os.path.dirname(resolved[0]["path"])
        name = dataset_name(folder)
        super().__init__(name, f"{name} (ref {self.level})")

    def _record(self, i):
        i = self._check_index(i)
        if self._cache[0] != i:
            path, index, raw = self.records[i]
            self._cache = (i, self._schema.parse_example(raw, where=f"{path} record {index}"))
        return self._cache[1]

    def __len__(self):
        return len(self.records)

    def name(self, i):
        return self._record(i)["name"]

    def hr(self, i):
        return np.asarray(self._record(i)["hr"], np.uint8)

    def reference(self, i, lr=None):
        record = self._record(i)
        refs = record["refs"]
        if len(refs) < self.level:
            path, index, _ = self.records[int(i)]
            raise ReferenceSourceError(f"{path}: record {index} ({record['name']}) has {len(refs)} reference(s), "
                                       f"reference {self.level} asked (write shards with "
                                       "`tools.make_tfrecords --ref DIR`).")
        ref = np.asarray(refs[self.level - 1][1], np.uint8)
        return np.repeat(ref[..., None], 3, axis=-1) if ref.ndim == 2 else ref

    def describe(self):
        return {**super().describe(), "level": self.level}


def _int_argument(spec, value, default, what):
    if value in (None, ""):
        return default
    try:
        return int(value)
    except ValueError:
        raise ReferenceSourceError(f"reference source {spec!r}: {what} must be an integer, got {value!r}.") from None


def open_reference_source(spec, data=None):
    """The `ReferenceSource` of `spec` (see the module docstring) over `data` (folder(s) or shards)."""
    spec = os.fspath(spec)
    kind, _, argument = spec.partition(":")
    kind = kind.strip().lower()
    if kind == "cufed5":
        if not argument:
            raise ReferenceSourceError(f"reference source {spec!r}: give the CUFED5 level, e.g. cufed5:1 or cufed5:all.")
        level = "all" if argument.strip().lower() == "all" else _int_argument(spec, argument, 1, "the level")
        return CUFED5Source(_folders(data, spec), level)
    if kind == "self-lr":
        if argument:
            raise ReferenceSourceError(f"reference source {spec!r}: self-lr takes no argument.")
        return SelfLRSource(_folders(data, spec))
    if kind == "pairs":
        if not argument:
            raise ReferenceSourceError(f"reference source {spec!r}: give the pairs file, e.g. pairs:bench/relevant.txt.")
        return PairsSource(argument)
    if kind == "synthetic":
        seed, _, count = argument.partition(":")
        return SyntheticReferenceSource(_folders(data, spec), seed=_int_argument(spec, seed, 0, "the seed"),
                                        count=_int_argument(spec, count, 1, "the number of views"))
    if kind == "tfrecord":
        if data is None:
            raise ReferenceSourceError(f"reference source {spec!r} needs TFRecord shards (--data MANIFEST).")
        return TFRecordReferenceSource(data, level=_int_argument(spec, argument, 1, "the level"))
    raise ReferenceSourceError(f"unknown reference source {spec!r}: expected {SPEC_HELP}.")
