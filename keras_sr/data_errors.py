"""Data errors as one line that names the file: what every command line prints instead of a stack dump.

Bad input is found in three places, and each reaches the user differently:

* in keras-sr's own Python code: `ImageError` (images, folders), the
  TFRecord `SchemaError` (manifests, shards), `DataSourceError` (`--data`
  entries, HDF5 files) and `CheckpointError` already carry one line naming
  the file;
* inside a tf.data pipeline (a corrupt record met while training): TensorFlow
  raises an `InvalidArgumentError` whose message holds the reader's
  `keras_sr.tfrecords: shard PATH record N ...` assertion inside a few
  hundred lines of graph context;
* in h5py (an HDF5 file cut short or without the expected datasets): an
  `OSError` / `KeyError` that does not always name the file.

`data_error_line(err)` returns the one line for any of these (None for
anything else: a bug keeps its traceback); `report_data_errors(prog)` is the
context manager the entry points wrap their work in: it prints
`error: <line>` to stderr and exits with status 2.

Example:
    >>> with report_data_errors("recipes.edsr"):
    ...     run_recipe(EDSRRecipe, args)
    error: /data/shards/train-00000.tfrecord: record 2 is corrupt or truncated; pass --skip-corrupt to skip it
"""

import contextlib
import re
import sys
from keras_sr.image_io import ImageError

__all__ = ["data_error_line", "report_data_errors", "DATA_ERRORS"]


def _own_errors():
    """keras-sr's data error classes among the modules already imported (an error needs its module loaded)."""

    errors = [ImageError]
    for module, name in (("keras_sr.data.sources", "DataSourceError"), ("keras_sr.tfrecords.schema", "SchemaError"),
                         ("keras_sr.training.checkpoint", "CheckpointError")):
        if module in sys.modules:
            errors.append(getattr(sys.modules[module], name))
    return tuple(errors)


DATA_ERRORS = "ImageError, SchemaError, DataSourceError, CheckpointError and tf.data reader assertions"
_ASSERT = re.compile(r"keras_sr\.tfrecords: shard\]?\s*\[?(?P<path>[^\]\n]+?)\]?\s*\[?record\]?\s*"
                     r"\[?(?P<index>-?\d+)\]?\s*\[?(?P<rest>[^\n]*)")


def _first_line(text):
    lines = str(text).strip().splitlines()
    return lines[0].strip() if lines else ""


def _tf_assertion(message):
    """The reader's assertion in a TensorFlow error message as one line, or None."""
    match = _ASSERT.search(message)
    if not match:
        return None
    rest = re.sub(r"\]\s*\[", " ", match.group("rest")).strip(" []")
    rest = re.sub(r"\s+", " ", rest.split("\n")[0])
    rest = rest.replace("pass skip_corrupt=True / --skip-corrupt to skip it", "pass --skip-corrupt to skip it "
                        "(skip_corrupt=True in Python)")
    return f"{match.group('path').strip()}: record {match.group('index')} {rest}"


def data_error_line(err):
    """One line naming the file for a data error `err`, else None (see the module docstring)."""
    seen = set()
    while err is not None and id(err) not in seen:
        seen.add(id(err))
        if isinstance(err, _own_errors()):
            return _first_line(err)
        message = getattr(err, "message", None) or str(err)
        if "keras_sr.tfrecords: shard" in message:
            line = _tf_assertion(message)
            if line:
                return line
        module = type(err).__module__ or ""
        if module.startswith("h5py") or (isinstance(err, OSError) and "HDF5" in message):
            filename = getattr(err, "filename", None)
            return f"{filename + ': ' if filename else ''}unreadable HDF5 file ({_first_line(message)})"
        err = err.__cause__ or err.__context__
    return None


@contextlib.contextmanager
def report_data_errors(prog=None):
    """Turn a data error raised inside into `error: <one line>` on stderr and `SystemExit(2)`."""
    try:
        yield
    except (KeyboardInterrupt, SystemExit):
        raise
    except Exception as err:  # noqa: BLE001 - only data errors are translated; the rest re-raise unchanged
        line = data_error_line(err)
        if line is None:
            raise
        print(f"error: {line}", file=sys.stderr, flush=True)
        raise SystemExit(2) from None
