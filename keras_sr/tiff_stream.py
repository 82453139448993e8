"""A TIFF writer that takes rows: an image of any size is written band by band, never held whole.

`TIFFRowWriter(path, width, height, channels, dtype)` writes a baseline TIFF
(TIFF 6.0, Adobe 1992: little-endian header, one IFD, uncompressed strips of
`ROWS_PER_STRIP` rows, chunky planar configuration). The IFD and the strip
tables go first: an uncompressed strip's size is known before any pixel
arrives, so every offset is computed up front and the rows that
`write_rows(array)` receives go straight to the file; memory is the band.

Layouts: `channels` 1 (gray, BlackIsZero), 2 (gray + alpha), 3 (RGB) or 4
(RGBA), alpha marked as unassociated (ExtraSamples 2); `dtype` uint8 or uint16
(stored little-endian, as the header says). No compression, so the file is the
pixel bytes plus about 100 bytes per 1,000 strips; classic TIFF addresses at
most 4 GiB, so larger outputs are refused (write PNG). The file is written to a
temporary name and renamed into place when `close()` finds every row written
(`keras_sr.fileio.atomic_path`); an error or a missing row leaves no file.

Example:
    >>> with TIFFRowWriter("big.tif", width=16000, height=12000, channels=3) as tif:
    ...     for band in bands:                 # (rows, 16000, 3) uint8, top to bottom
    ...         tif.write_rows(band)
"""

import struct

import numpy as np
from keras_sr.row_writer import RowWriter

__all__ = ["TIFFRowWriter", "ROWS_PER_STRIP"]

ROWS_PER_STRIP = 16
_SHORT, _LONG = 3, 4
_MAX_BYTES = 2**32 - 1


def _packed(kind, values):
    return struct.pack(f"<{len(values)}{'H' if kind == _SHORT else 'I'}", *values)


class TIFFRowWriter(RowWriter):
    """Streams rows into an uncompressed baseline TIFF file; see the module docstring."""

    format_name = "TIFF"

    def __init__(self, path, width, height, channels=3, dtype=np.uint8, rows_per_strip=ROWS_PER_STRIP):
        super().__init__(path, width, height, channels, dtype)
        row_bytes = self.width * self.channels * self.dtype.itemsize
        strips = -(-self.height // int(rows_per_strip))
        if row_bytes * self.height + 8 * strips + 4096 > _MAX_BYTES:  # pixels + strip tables + IFD
            raise ValueError(f"{path}: {self.width}x{self.height}x{self.channels} {self.dtype} is "
                             f"{row_bytes * self.height / 2**30:.1f} GiB, beyond classic TIFF's 4 GiB: write PNG.")
        self._header = self._layout(row_bytes, int(rows_per_strip))
        self._open_file()

    def _layout(self, row_bytes, rows_per_strip):
        """Header, IFD and the out-of-line tag values; the pixel data follows them at once."""
        strips = -(-self.height // rows_per_strip)
        counts = [min(rows_per_strip, self.height - i * rows_per_strip) * row_bytes for i in range(strips)]
        tags = [(256, _LONG, [self.width]), (257, _LONG, [self.height]),
                (258, _SHORT, [8 * self.dtype.itemsize] * self.channels),  # BitsPerSample
                (259, _SHORT, [1]),  # Compression: none
                (262, _SHORT, [2 if self.channels >= 3 else 1]),  # PhotometricInterpretation: RGB / BlackIsZero
                (273, _LONG, [0] * strips),  # StripOffsets (filled in below)
                (277, _SHORT, [self.channels]), (278, _LONG, [rows_per_strip]), (279, _LONG, counts),
                (284, _SHORT, [1])]  # PlanarConfiguration: chunky
        if self.channels in (2, 4):
            tags.append((338, _SHORT, [2]))  # ExtraSamples: unassociated alpha
        tags.append((339, _SHORT, [1] * self.channels))  # SampleFormat: unsigned integer
        ifd_end = 8 + 2 + 12 * len(tags) + 4
        data_start = ifd_end + sum(len(_packed(k, v)) for _, k, v in tags if len(_packed(k, v)) > 4)
        offsets = np.concatenate([[0], np.cumsum(counts[:-1])]).astype(np.int64) + data_start
        tags[5] = (273, _LONG, [int(o) for o in offsets])
        entries, blobs, cursor = [], [], ifd_end
        for tag, kind, values in tags:
            packed = _packed(kind, values)
            if len(packed) <= 4:
                entries.append(struct.pack("<HHI", tag, kind, len(values)) + packed.ljust(4, b"\0"))
            else:
                entries.append(struct.pack("<HHII", tag, kind, len(values), cursor))
                blobs.append(packed)
                cursor += len(packed)
        return (b"II*\0" + struct.pack("<IH", 8, len(tags)) + b"".join(entries) + struct.pack("<I", 0)
                + b"".join(blobs))

    def _start(self, file):
        file.write(self._header)

    def _write(self, rows):
        self._file.write(np.ascontiguousarray(rows, dtype=self.dtype.newbyteorder("<")).tobytes())
