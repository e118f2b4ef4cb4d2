"""The session cache of decoded ArcticDB data: columns of immutable symbol versions, kept for later scans.

**Keys.** An ArcticDB version never changes once written, but a symbol deleted and written again (a library
wiped and filled again) starts its version numbers over. So what is held belongs to a :class:`VersionKey`:
the store, library, symbol, version number *and the version's creation time*, which the pin or the read
returns anyway. A statement reads the latest version (pinned, or checked on reading), so a new version is
another key, a miss: the cache never serves stale rows.

**What is held.** Decoded columns: declared types, float NaN already NULL, a nanosecond index already
microseconds (the column key says which decoding), which is what DuckDB's next scan takes as it is. Per
version, *pieces*: a piece covers an inclusive interval of the version's *axis* and holds every row of that
interval for some columns.

- A symbol with a timestamp index: the axis is the index value (ns). A piece over [lo, hi] holds every row
  whose index is in [lo, hi] (what a ``date_range`` read or a whole read returns) and always its index
  column, whose binary search cuts a narrower range out of it.
- Any other symbol: the axis is the row number (``row_range`` reads).

**A scan** asks for an interval and columns. The interval is cut at every piece boundary; each part takes
each column from a piece that holds it (a zero-copy slice). Consecutive parts that lack the same columns
become one *group* with one ArcticDB read of just those columns over just that interval; what the read
returns is added as a new piece (the same interval as a piece already held: its columns join that piece)
and is joined, row for row, to the columns the cache gave. A scan wholly held makes no ArcticDB call.

**The bound.** Every column of every piece is an entry of an :class:`~arcticsql.eviction.LRU` sized by its
Arrow buffers; adding evicts the least recently used columns (a piece losing its index goes whole), so the
held buffers never exceed ``limit`` bytes. A scan keeps the slices it took alive until DuckDB has them,
whatever is evicted meanwhile. All of it is guarded by one lock: scans run on DuckDB's threads and the
session's executor at once.

**Across processes** a :class:`~arcticsql.sources.disk_cache.DiskPieces` folder (optional) holds the same
pieces under the same keys: a part the memory lacks is looked for there before ArcticDB is asked.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa

from arcticsql.eviction import LRU

#: The axis' unbounded ends (an interval is inclusive at both ends).
LOW, HIGH = -(2 ** 63), 2 ** 63 - 1

#: (ArcticDB column name, or None for a RangeIndex made into row numbers; declared type; NaN read as NULL).
ColumnKey = tuple


@dataclass(frozen=True)
class VersionKey:
    """One symbol version, unique even across a delete and re-create (``created``: its creation time, ns)."""

    store: str
    library: str
    symbol: str
    version: int
    created: int

    @property
    def label(self) -> str:
        return f"{self.library}/{self.symbol} v{self.version}"


@dataclass(frozen=True)
class Axis:
    """How a version's rows are addressed: by a sorted timestamp index column (``index``, whose values times
    ``scale`` are ns), or by row number (``index`` None)."""

    index: ColumnKey | None = None
    scale: int = 1

    @property
    def is_date(self) -> bool:
        return self.index is not None


class Piece:
    """Every row of [lo, hi] for some columns (an interval of the version's axis)."""

    __slots__ = ("axis", "columns", "hi", "id", "key", "lo", "positions", "rows")

    def __init__(self, key: VersionKey, axis: Axis, lo: int, hi: int, rows: int,
                 positions: np.ndarray | None) -> None:
        self.id = next(_IDS)
        self.key, self.axis, self.lo, self.hi, self.rows = key, axis, lo, hi, rows
        self.columns: dict[ColumnKey, pa.ChunkedArray] = {}
        #: on a date axis: the index values (in the index column's unit) as a zero-copy view to search
        self.positions = positions

    def bounds(self, lo: int, hi: int, scale: int) -> tuple[int, int]:
        """Row offsets [start, stop) of this piece's rows in [lo, hi] (an interval within the piece's)."""
        if self.positions is None:
            return lo - self.lo, hi - self.lo + 1
        low, high = -((-lo) // scale), hi // scale
        start = int(np.searchsorted(self.positions, low, "left")) if lo > self.lo else 0
        stop = int(np.searchsorted(self.positions, high, "right")) if hi < self.hi else self.rows
        return start, stop


_IDS = itertools.count()


@dataclass
class Group:
    """Consecutive rows of a scan: the columns the cache gave (``present``, sliced) and the ones to read for
    [lo, hi] (``missing``: none when the group is wholly held)."""

    lo: int
    hi: int
    present: dict[ColumnKey, pa.ChunkedArray] = field(default_factory=dict)
    missing: tuple[ColumnKey, ...] = ()

    @property
    def rows(self) -> int | None:
        """Rows known from the present columns (None when nothing is present)."""
        for column in self.present.values():
            return len(column)
        return None


@dataclass
class Lookup:
    """What the cache holds of one scan, group by group in axis order."""

    groups: list[Group]

    @property
    def complete(self) -> bool:
        return all(not group.missing for group in self.groups)

    @property
    def served_rows(self) -> int:
        return sum(group.rows or 0 for group in self.groups)

    @property
    def served_columns(self) -> tuple[ColumnKey, ...]:
        seen: dict[ColumnKey, None] = {}
        for group in self.groups:
            seen.update(dict.fromkeys(group.present))
        return tuple(seen)


@dataclass
class CacheStats:
    """Counters since the cache was made or cleared."""

    scans: int = 0            # scans that asked the cache
    hits: int = 0             # ... served wholly from it
    partial: int = 0          # ... partly
    bytes_served: int = 0     # bytes of columns scans took from the cache
    bytes_read: int = 0       # bytes of columns scans read from ArcticDB instead
    bytes_from_disk: int = 0  # bytes of column files loaded from the disk folder
    evicted: int = 0          # bytes evicted

    @property
    def hit_rate(self) -> float | None:
        """The share of the bytes scans took that the cache gave (None before any scan)."""
        total = self.bytes_served + self.bytes_read
        return self.bytes_served / total if total else None


class ScanCache:
    """Decoded column pieces of symbol versions, at most ``limit`` bytes, least recently used out."""

    def __init__(self, limit: int, *, store: str = "", disk=None) -> None:
        #: the store the versions belong to (part of every key)
        self.store = store
        self._policy = LRU(limit)
        #: by version and axis (a version planned again with its index as TIMESTAMP_NS has a second axis)
        self._pieces: dict[tuple[VersionKey, Axis], list[Piece]] = {}
        self._by_id: dict[int, Piece] = {}
        self._lock = threading.Lock()
        #: versions whose index proved unsorted: never cached on a date axis
        self._unsorted: set[VersionKey] = set()
        self.stats = CacheStats()
        #: the folder shared across processes (a DiskPieces), or None
        self.disk = disk

    @property
    def limit(self) -> int:
        return self._policy.limit

    @property
    def used(self) -> int:
        return self._policy.used

    def admits(self, key: VersionKey, estimated_bytes: int) -> bool:
        """Whether a scan of about ``estimated_bytes`` new bytes of ``key`` should go through the cache (one
        that could not be held is streamed past it)."""
        return 0 < self._policy.limit and estimated_bytes <= self._policy.limit and key not in self._unsorted

    # -- scans --------------------------------------------------------------------------------------------
    def covers(self, key: VersionKey, axis: Axis, lo: int, hi: int) -> bool:
        """Whether one piece holds every row of [lo, hi] (for some columns)."""
        with self._lock:
            return any(p.lo <= lo and p.hi >= hi for p in self._pieces.get((key, axis), ()))

    def lookup(self, key: VersionKey, axis: Axis, lo: int, hi: int, columns: Sequence[ColumnKey]) -> Lookup:
        """The groups of a scan of ``columns`` over [lo, hi] (the date index among them on a date axis)."""
        with self._lock:
            found = self._lookup(key, axis, lo, hi, columns)
        if self.disk is not None and not found.complete:
            missing = {column for group in found.groups for column in group.missing}
            loaded = self.disk.load(key, axis, lo, hi, [c for c in columns if c in missing or c == axis.index])
            if loaded:
                with self._lock:
                    for piece_lo, piece_hi, arrays, sizes in loaded:
                        self.stats.bytes_from_disk += sum(sizes.values())
                        self._add(key, axis, piece_lo, piece_hi, arrays, sizes)
                    found = self._lookup(key, axis, lo, hi, columns)
        with self._lock:
            stats = self.stats
            stats.scans += 1
            if found.complete:
                stats.hits += 1
            elif found.served_columns:
                stats.partial += 1
            stats.bytes_served += sum(c.nbytes for g in found.groups for c in g.present.values())
        return found

    def _lookup(self, key: VersionKey, axis: Axis, lo: int, hi: int, columns: Sequence[ColumnKey]) -> Lookup:
        if lo > hi:
            return Lookup([])
        pieces = [p for p in self._pieces.get((key, axis), ()) if p.lo <= hi and p.hi >= lo]
        cuts = {lo, hi + 1}
        for piece in pieces:
            if piece.lo > lo:
                cuts.add(piece.lo)
            if piece.hi < hi:
                cuts.add(piece.hi + 1)
        points = sorted(cuts)
        groups: list[Group] = []
        for start, stop in zip(points, points[1:]):
            part_hi = stop - 1
            covering = [p for p in pieces if p.lo <= start and p.hi >= part_hi]
            covering.sort(key=lambda p: -sum(c in p.columns for c in columns))
            present: dict[ColumnKey, pa.ChunkedArray] = {}
            sliced: dict[int, tuple[int, int]] = {}
            for column in columns:
                piece = next((p for p in covering if column in p.columns), None)
                if piece is None:
                    continue
                if piece.id not in sliced:
                    sliced[piece.id] = piece.bounds(start, part_hi, axis.scale)
                begin, end = sliced[piece.id]
                present[column] = piece.columns[column].slice(begin, end - begin)
                self._policy.touch((piece.id, column))
                if axis.is_date:
                    self._policy.touch((piece.id, axis.index))
            missing = tuple(c for c in columns if c not in present)
            if axis.is_date and missing and axis.index in present:
                # the read makes a piece of its own, which needs its index: read it again and keep ours
                missing = (*missing, axis.index) if axis.index not in missing else missing
            previous = groups[-1] if groups else None
            if previous is not None and previous.missing == missing and previous.present.keys() == present.keys():
                previous.hi = part_hi
                for column, values in present.items():
                    previous.present[column] = pa.chunked_array(
                        previous.present[column].chunks + values.chunks, type=values.type)
            else:
                groups.append(Group(start, part_hi, present, missing))
        return Lookup(groups)

    def add(self, key: VersionKey, axis: Axis, lo: int, hi: int, arrays: dict[ColumnKey, pa.ChunkedArray],
            *, save: bool = True) -> bool:
        """Hold every row of [lo, hi] for ``arrays`` (just read); whether it is held. With ``save`` it is also
        written to the disk folder, if there is one."""
        with self._lock:
            self.stats.bytes_read += sum(a.nbytes for a in arrays.values())
            held = self._add(key, axis, lo, hi, arrays)
        if held and save and self.disk is not None:
            self.disk.save(key, lo, hi, arrays)
        return held

    def _add(self, key: VersionKey, axis: Axis, lo: int, hi: int, arrays: dict[ColumnKey, pa.ChunkedArray],
             sizes: dict[ColumnKey, int] | None = None) -> bool:
        """Hold a piece (its columns joining a piece of the same rows); ``sizes``: what each column takes when
        more than its Arrow buffers say (columns loaded from a file share its buffer)."""
        if not arrays or key in self._unsorted:
            return False
        rows = len(next(iter(arrays.values())))
        positions = None
        if axis.is_date:
            index = arrays.get(axis.index)
            if index is None or index.null_count:
                return False
            combined = index.combine_chunks() if index.num_chunks != 1 else index.chunk(0)
            positions = _positions(combined)
            if positions is None:  # not sorted: no range can be cut from it, now or later
                self._unsorted.add(key)
                self._drop_version(key)
                return False
            arrays = {**arrays, axis.index: pa.chunked_array([combined], type=index.type)}
        pieces = self._pieces.setdefault((key, axis), [])
        piece = next((p for p in pieces if p.lo == lo and p.hi == hi and p.rows == rows), None)
        if piece is not None:  # the same rows: the new columns join it
            arrays = {c: a for c, a in arrays.items() if c not in piece.columns}
            if axis.is_date:
                self._policy.touch((piece.id, axis.index))
        sizes = {column: max(_size(values), (sizes or {}).get(column, 0)) for column, values in arrays.items()}
        if sum(sizes.values()) > self._policy.limit:
            return False
        if piece is None:
            piece = Piece(key, axis, lo, hi, rows, positions)
            pieces.append(piece)
            self._by_id[piece.id] = piece
        for column, values in arrays.items():
            if piece.id not in self._by_id:  # evicted while its columns were added
                break
            piece.columns[column] = values
            for evicted_id, evicted_column in self._policy.add((piece.id, column), sizes[column]):
                self._evict(evicted_id, evicted_column)
        if not self._pieces.get((key, axis)):
            self._pieces.pop((key, axis), None)
        return piece.id in self._by_id

    def _evict(self, piece_id: int, column: ColumnKey) -> None:
        piece = self._by_id.get(piece_id)
        if piece is None:
            return
        values = piece.columns.pop(column, None)
        if values is not None:
            self.stats.evicted += _size(values)
        if not piece.columns or column == piece.axis.index:
            self._remove(piece)

    def _remove(self, piece: Piece) -> None:
        for column in list(piece.columns):
            self._policy.discard((piece.id, column))
        piece.columns.clear()
        self._by_id.pop(piece.id, None)
        pieces = self._pieces.get((piece.key, piece.axis))
        if pieces is not None:
            pieces[:] = [p for p in pieces if p.id != piece.id]
            if not pieces:
                del self._pieces[(piece.key, piece.axis)]

    def _drop_version(self, key: VersionKey) -> None:
        for (version, _axis), pieces in list(self._pieces.items()):
            if version == key:
                for piece in list(pieces):
                    self._remove(piece)

    # -- what the REPL shows ------------------------------------------------------------------------------
    def clear(self) -> None:
        """Empty the cache (the disk folder is left alone) and start counting again."""
        with self._lock:
            self._pieces.clear()
            self._by_id.clear()
            self._policy.clear()
            self._unsorted.clear()
            self.stats = CacheStats()

    def largest(self, count: int = 10) -> list[tuple[Piece, tuple[ColumnKey, ...], int]]:
        """The ``count`` largest pieces: (piece, its columns, bytes), largest first."""
        with self._lock:
            rows = [(p, tuple(p.columns), sum(self._policy.size((p.id, c)) for c in p.columns))
                    for p in self._by_id.values()]
        rows.sort(key=lambda row: -row[-1])
        return rows[:count]

    def report(self, count: int = 10) -> tuple[list[str], list[str], list[tuple], str]:
        """What the REPL's ``.cache`` shows: (column names, DuckDB types, rows, a summary line) for the
        ``count`` largest pieces."""
        stats = self.stats
        rate = "no scans yet" if stats.hit_rate is None else (
            f"{stats.hit_rate:.0%} of the bytes {stats.scans} scans took came from it "
            f"({stats.hits} wholly, {stats.partial} in part)")
        pieces = len(self._by_id)
        note = (f"{_mb(self.used)} of {_mb(self.limit)} held in {pieces} piece{'s' * (pieces != 1)}; {rate}"
                if self.limit else "the cache is off (processing.cache_mb: 0)")
        if self.disk is not None:
            note += f"; disk: {self.disk.root}"
        rows = []
        for piece, columns, size in self.largest(count):
            names = ", ".join(column[0] or "index" for column in columns)
            rows.append((f"{piece.key.library}/{piece.key.symbol}", piece.key.version, _span(piece), piece.rows,
                         names, round(size / 2**20, 3)))
        return (["symbol", "version", "range", "rows", "columns", "MB"],
                ["VARCHAR", "BIGINT", "VARCHAR", "BIGINT", "VARCHAR", "DOUBLE"], rows, note)

    def held(self) -> Iterator[tuple[Piece, ColumnKey, int]]:
        """Every held column: (piece, column, bytes) — for tests of the bound."""
        with self._lock:
            return iter([(self._by_id[piece_id], column, size)
                         for (piece_id, column), size in self._policy.items()])


def _mb(size: int) -> str:
    return f"{size / 2**20:.1f} MB"


def _span(piece: Piece) -> str:
    """A piece's interval as people read it: dates on a date axis, row numbers otherwise."""
    if piece.axis.is_date:
        def stamp(value: int, end: str) -> str:
            return end if value in (LOW, HIGH) else str(np.datetime64(value, "ns")).replace("T", " ")
        return f"{stamp(piece.lo, '…')} – {stamp(piece.hi, '…')}"
    return f"rows {piece.lo} – {piece.hi}"


def _size(values: pa.ChunkedArray) -> int:
    """Bytes of the Arrow buffers ``values`` holds (each buffer once, whole even when sliced)."""
    return values.get_total_buffer_size()


def _positions(values: pa.Array) -> np.ndarray | None:
    """The index values (no nulls) as int64 for binary search, a zero-copy view; None when not sorted."""
    view = values.view(pa.int64()).to_numpy(zero_copy_only=True) if len(values) else np.empty(0, np.int64)
    if len(view) > 1 and not bool(np.all(view[1:] >= view[:-1])):
        return None
    return view
