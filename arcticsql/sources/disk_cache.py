"""The scan cache's pieces in a folder that processes and sessions share (``processing.disk_cache_dir``).

For stores on object storage, where every request pays the network: a second process, or tomorrow's
notebook, finds the decoded columns a scan read before instead of downloading the same segments again.

**Keys** are the memory cache's (:class:`~arcticsql.sources.cache.VersionKey`: store, library, symbol,
version number and creation time), so a version deleted and written again under the same number is another
folder: never stale. ``root/<2 hex>/<sha256 of the version key>/<lo>~<hi>~<column digest>.arrow`` holds one
column of the rows of [lo, hi] (a date-axis piece's index column has a file of its own).

**Files** are Arrow IPC files followed by a footer (magic, length of the IPC bytes, their CRC-32), written
under a temporary name in the same folder and renamed: a reader sees a whole file or none, and a file whose
footer does not match (torn by a crash, truncated, overwritten) is a miss and is deleted. Several processes
may write the same file at once: each renames a whole copy of the same bytes.

**Bound**: the folder is trimmed with the shared policy (:func:`arcticsql.eviction.trim_folder`: least
recently used out, a read renews a file) whenever a twentieth of ``limit`` has been written since the last
trim.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import random
import struct
import threading
import zlib
from collections.abc import Sequence
from pathlib import Path

import pyarrow as pa

from arcticsql.eviction import touch, trim_folder
from arcticsql.sources.cache import Axis, ColumnKey, VersionKey

_MAGIC = b"asqlpc01"
_FOOTER = struct.Struct(">8sQI")  # magic, length of the IPC file before it, CRC-32 of those bytes
_SUFFIX = ".arrow"
_TEMP_SUFFIX = ".tmp"
_TEMP_NAMES = itertools.count()


class DiskPieces:
    """Cache pieces as files under ``root`` (at most about ``limit`` bytes)."""

    def __init__(self, root: str | os.PathLike, limit: int) -> None:
        self.root = Path(root).absolute()
        self.limit = max(0, int(limit))
        self._written = 0
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"DiskPieces({str(self.root)!r})"

    def folder(self, key: VersionKey) -> Path:
        digest = hashlib.sha256(repr((key.store, key.library, key.symbol, key.version, key.created))
                                .encode()).hexdigest()
        return self.root / digest[:2] / digest

    # -- reading ------------------------------------------------------------------------------------------
    def load(self, key: VersionKey, axis: Axis, lo: int, hi: int,
             columns: Sequence[ColumnKey]) -> list[tuple[int, int, dict[ColumnKey, pa.ChunkedArray], dict]]:
        """The pieces of ``key`` on disk that overlap [lo, hi], with those of ``columns`` they hold (on a date
        axis only with their index): (lo, hi, arrays, bytes each array's file takes)."""
        folder = self.folder(key)
        try:
            names = os.listdir(folder)
        except OSError:
            return []
        wanted = {_digest(column): column for column in columns}
        intervals: dict[tuple[int, int], dict[ColumnKey, str]] = {}
        for name in names:
            parsed = _parse(name)
            if parsed is None:
                continue
            piece_lo, piece_hi, digest = parsed
            if digest in wanted and piece_lo <= hi and piece_hi >= lo:
                intervals.setdefault((piece_lo, piece_hi), {})[wanted[digest]] = name
        found = []
        for (piece_lo, piece_hi), files in sorted(intervals.items()):
            if axis.is_date and axis.index not in files:
                continue  # a date-axis piece is cut by its index
            arrays, sizes = {}, {}
            for column, name in files.items():
                loaded = _read(folder / name)
                if loaded is not None:
                    arrays[column], sizes[column] = loaded
            if axis.is_date and axis.index not in arrays:
                continue
            if arrays and len({len(a) for a in arrays.values()}) == 1:
                found.append((piece_lo, piece_hi, arrays, sizes))
        return found

    # -- writing ------------------------------------------------------------------------------------------
    def save(self, key: VersionKey, lo: int, hi: int, arrays: dict[ColumnKey, pa.ChunkedArray]) -> None:
        """Write each column of the piece [lo, hi] that the folder lacks (best effort: a full disk or a
        folder without write access only costs later misses)."""
        folder = self.folder(key)
        written = 0
        for column, values in arrays.items():
            path = folder / f"{lo}~{hi}~{_digest(column)}{_SUFFIX}"
            if path.exists():
                touch(path)
                continue
            try:
                written += _write(path, column, values)
            except OSError:
                return
        with self._lock:
            self._written += written
            due = self._written > max(self.limit // 20, 1 << 20)
            if due:
                self._written = 0
        if due:
            trim_folder(self.root, self.limit, temp_suffix=_TEMP_SUFFIX)


def _digest(column: ColumnKey) -> str:
    return hashlib.sha256(json.dumps(list(column)).encode()).hexdigest()[:24]


def _parse(name: str) -> tuple[int, int, str] | None:
    if not name.endswith(_SUFFIX):
        return None
    parts = name[:-len(_SUFFIX)].split("~")
    if len(parts) != 3:
        return None
    try:
        return int(parts[0]), int(parts[1]), parts[2]
    except ValueError:
        return None


def _write(path: Path, column: ColumnKey, values: pa.ChunkedArray) -> int:
    """Publish one column's file atomically; its size."""
    sink = pa.BufferOutputStream()
    table = pa.table({json.dumps(list(column)): values})
    with pa.ipc.new_file(sink, table.schema) as writer:
        writer.write_table(table)
    body = sink.getvalue()
    footer = _FOOTER.pack(_MAGIC, body.size, zlib.crc32(body))
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.parent / f".{os.getpid()}-{next(_TEMP_NAMES)}-{random.getrandbits(32):08x}{_TEMP_SUFFIX}"
    try:
        with open(temp, "wb") as stream:
            stream.write(body)
            stream.write(footer)
        os.replace(temp, path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    return body.size + _FOOTER.size


def _read(path: Path) -> tuple[pa.ChunkedArray, int] | None:
    """A column file's values and its size, or None (gone, torn or corrupt: deleted)."""
    try:
        with open(path, "rb") as stream:
            data = stream.read()
    except OSError:
        return None
    if len(data) >= _FOOTER.size:
        magic, length, crc = _FOOTER.unpack_from(data, len(data) - _FOOTER.size)
        if magic == _MAGIC and length == len(data) - _FOOTER.size:
            buffer = pa.py_buffer(data)[:length]
            if zlib.crc32(buffer) == crc:
                try:
                    values = pa.ipc.open_file(buffer).read_all().column(0)
                except (pa.ArrowInvalid, OSError):
                    values = None
                if values is not None:
                    touch(path)
                    return values, len(data)
    path.unlink(missing_ok=True)  # a miss now, and never read again
    return None
