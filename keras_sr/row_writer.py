"""The part every streaming image writer shares: row checks, an atomic output file, abort on error.

`RowWriter` is the base of `keras_sr.png_stream.PNGRowWriter` and
`keras_sr.tiff_stream.TIFFRowWriter`: it checks the layout (1-4 channels,
uint8/uint16, a non-empty size), opens a temporary file beside the target
(`keras_sr.fileio.atomic_path`), checks every band handed to `write_rows`,
counts the rows, and on `close()` moves the file into place only when every
row arrived; an error or a missing row leaves no output file. A format
implements `_start(file)`, `_write(rows)` and `_finish(file)`.

Example:
    >>> with TIFFRowWriter("big.tif", width=16000, height=12000, channels=3) as out:
    ...     out.write_rows(band)               # (rows, 16000, 3) uint8, top to bottom
"""

import numpy as np
from keras_sr.fileio import atomic_path

__all__ = ["RowWriter"]


class RowWriter:
    """Base of the row-streaming writers; see the module docstring."""

    format_name = "image"

    def __init__(self, path, width, height, channels=3, dtype=np.uint8):
        if channels not in (1, 2, 3, 4):
            raise ValueError(f"{path}: {self.format_name} takes 1, 2, 3 or 4 channels, got {channels}.")
        self.dtype = np.dtype(dtype)
        if self.dtype not in (np.uint8, np.uint16):
            raise ValueError(f"{path}: {self.format_name} takes uint8 or uint16 rows, got {self.dtype}.")
        if width < 1 or height < 1:
            raise ValueError(f"{path}: image size {width}x{height} is empty.")
        self.path, self.width, self.height, self.channels = path, int(width), int(height), int(channels)
        self.rows_written = 0
        self._open = False

    def _open_file(self):
        """Open the temporary output file (subclasses call this once their header is known to be valid)."""
        self._atomic = atomic_path(self.path)
        self._tmp = self._atomic.__enter__()
        self._file = open(self._tmp, "wb")
        self._open = True
        self._start(self._file)

    def _start(self, file):
        """Write what precedes the rows."""

    def _write(self, rows):
        """Write checked `(n, width, channels)` rows of the writer's dtype."""
        raise NotImplementedError

    def _finish(self, file):
        """Write what follows the rows."""

    def write_rows(self, rows):
        """Append `(n, width)` or `(n, width, channels)` rows of the writer's dtype, top to bottom."""
        rows = np.asarray(rows)
        if rows.ndim == 2 and self.channels == 1:
            rows = rows[..., None]
        if rows.ndim != 3 or rows.shape[1:] != (self.width, self.channels) or rows.dtype != self.dtype:
            raise ValueError(f"{self.path}: rows must be (n, {self.width}, {self.channels}) {self.dtype}, got "
                             f"{rows.shape} {rows.dtype}.")
        if self.rows_written + rows.shape[0] > self.height:
            raise ValueError(f"{self.path}: more than {self.height} rows written.")
        self._write(rows)
        self.rows_written += rows.shape[0]

    def close(self):
        """Finish the file and move it into place; raises (and writes nothing) if rows are missing."""
        if not self._open:
            return
        try:
            if self.rows_written != self.height:
                raise ValueError(f"{self.path}: {self.rows_written} of {self.height} rows written.")
            self._finish(self._file)
            self._file.close()
            self._open = False
            self._atomic.__exit__(None, None, None)
        except BaseException as err:
            self.abort(err)
            raise

    def abort(self, err=None):
        """Drop the temporary file (no output is written)."""
        if self._open:
            self._file.close()
            self._open = False
            error = err or RuntimeError("aborted")
            try:
                self._atomic.__exit__(type(error), error, None)
            except BaseException:  # noqa: BLE001 - atomic_path re-raises the error it was given
                pass

    def __enter__(self):
        return self

    def __exit__(self, kind, value, traceback):
        if kind is None:
            self.close()
        else:
            self.abort(value)
        return False
