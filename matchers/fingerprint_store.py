"""The fingerprint gallery's re-ranking store: append-only memory-mapped files of float32 rows.

What a search reads only for its shortlist lives here, out of the process's anonymous memory
(issue 24 item 4: resident memory per subject at most 2 kB): the minutiae the pairing re-rank
compares, the full spectral codes that re-score a position shortlist exactly, the float32
subject vectors that re-score the subject shortlist exactly. Rows are appended (`append`) and
read by row number (`read`) through `numpy.memmap` (mmap(2) of the file: the pages are file
backed, the kernel reads them in on first touch and may drop them under memory pressure;
numpy.memmap docs). An erased row is overwritten with zeros (`erase`), so the biometric data
leaves the file, and stays as a tombstone whose row number is never reused.

File layout: a 64-byte header (magic `PRUMFPS1`, the 16-byte id of the store the file belongs
to, the number of float32 columns as little-endian int64, zero padding), then the rows. The
gallery's JSON file names the store id and the row count of every file; `RowFile.open` refuses
(`StaleIndexError`) a file whose magic, store id or width differs, or that is shorter than the
rows it must hold: a file from another gallery, a truncated one, one of another format.
Rows past the count (appended by a gallery that lived on after the save) are ignored.
"""

from __future__ import annotations

import os
import struct
from pathlib import Path

import numpy as np
import numpy.typing as npt

from matchers.errors import StaleIndexError, TemplateError

MAGIC = b"PRUMFPS1"
HEADER_BYTES = 64
F32 = npt.NDArray[np.float32]
I64 = npt.NDArray[np.int64]


class RowFile:
    """One file of fixed-width float32 rows (see the module docstring)."""

    def __init__(self, path: Path, columns: int, store_id: bytes, rows: int) -> None:
        self.path = path
        self.columns = columns
        self.store_id = store_id
        self.rows = rows
        self._map: np.memmap[tuple[int, int], np.dtype[np.float32]] | None = None
        self._mapped = 0
        self._writable = os.access(path, os.W_OK)

    @classmethod
    def create(cls, path: Path, columns: int, store_id: bytes) -> RowFile:
        header = MAGIC + store_id + struct.pack("<q", columns)
        path.write_bytes(header.ljust(HEADER_BYTES, b"\0"))
        return cls(path, columns, store_id, 0)

    @classmethod
    def open(cls, path: Path, columns: int, store_id: bytes, rows: int) -> RowFile:
        """An existing file that must hold `rows` rows of `columns` for store `store_id`."""
        try:
            with path.open("rb") as f:
                header = f.read(HEADER_BYTES)
            size = path.stat().st_size
        except OSError as exc:
            raise StaleIndexError(str(path), "unreadable", "a fingerprint store file") from exc
        if len(header) < HEADER_BYTES or header[:8] != MAGIC:
            raise StaleIndexError(str(path), "not a fingerprint store file", MAGIC.decode())
        if header[8:24] != store_id:
            raise StaleIndexError(str(path), f"store {header[8:24].hex()}", store_id.hex())
        (width,) = struct.unpack("<q", header[24:32])
        if width != columns:
            raise StaleIndexError(str(path), f"{width} columns", f"{columns} columns")
        if size < HEADER_BYTES + rows * columns * 4:
            raise StaleIndexError(
                str(path), f"{(size - HEADER_BYTES) // (columns * 4)} rows", f"{rows} rows"
            )
        return cls(path, columns, store_id, rows)

    def append(self, x: npt.ArrayLike) -> I64:
        """Write rows at the end; their row numbers."""
        a = np.ascontiguousarray(x, dtype="<f4")
        if a.ndim != 2 or a.shape[1] != self.columns:
            raise TemplateError(f"rows of {self.columns} columns expected, got {a.shape}")
        with self.path.open("r+b") as f:  # at the row count, not the file's end: later rows
            f.seek(HEADER_BYTES + self.rows * self.columns * 4)  # of a dead gallery are dropped
            f.write(a.tobytes())
        first = self.rows
        self.rows += len(a)
        return np.arange(first, self.rows, dtype=np.int64)

    def read(self, rows: npt.ArrayLike) -> F32:
        """Rows by number (a copy), shape (len(rows), columns)."""
        idx = np.asarray(rows, dtype=np.int64)
        if idx.size == 0:
            return np.zeros((0, self.columns), np.float32)
        out: F32 = np.asarray(self._view()[idx], dtype=np.float32)
        return out

    def erase(self, rows: npt.ArrayLike) -> None:
        """Overwrite rows with zeros in the file (the erased data leaves the disk copy too)."""
        idx = np.unique(np.asarray(rows, dtype=np.int64))
        if idx.size == 0:
            return
        self._map, self._mapped = None, 0  # the next read maps the file again
        view = np.memmap(
            self.path, np.float32, "r+", HEADER_BYTES, (self.rows, self.columns), order="C"
        )
        view[idx] = 0.0
        view.flush()
        del view

    def _view(self) -> np.memmap[tuple[int, int], np.dtype[np.float32]]:
        if self._map is None or self._mapped != self.rows:
            self._map = np.memmap(
                self.path, np.float32, "r", HEADER_BYTES, (self.rows, self.columns), order="C"
            )
            self._mapped = self.rows
        return self._map

    def copy_to(self, path: Path) -> None:
        """Header and the first `rows` rows into `path` (written whole, then renamed)."""
        part = path.with_name(path.name + ".part")
        end = HEADER_BYTES + self.rows * self.columns * 4
        with self.path.open("rb") as src, part.open("wb") as dst:
            left = end
            while left:
                block = src.read(min(left, 1 << 24))
                if not block:
                    raise StaleIndexError(str(self.path), "shorter than its rows", f"{end} B")
                dst.write(block)
                left -= len(block)
        part.replace(path)
