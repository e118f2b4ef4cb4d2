"""A scan of one symbol version through the session cache: the one place reads meet it.

:func:`cached_scan` asks the :class:`~arcticsql.sources.cache.ScanCache` what it holds of the rows and columns
a scan needs (a symbol's own scan, or a wildcard member's). The scan then takes those from the cache, reads
from ArcticDB only what it lacks — only those columns, only those rows, with no ``QueryBuilder`` (the exact
filter runs on the Arrow rows either way), so that what is read is a whole interval the cache can hold —
adds what it read to the cache and joins it, row for row, to what the cache gave.

A scan the cache could not hold (larger than its bound) goes past it, read and streamed as before; a
version whose creation time is unknown too.

    scan = cached_scan(source, plan, needed)     # None: read past the cache
    scan.calls                                   # the ArcticDB reads it makes, in order (none: all held)
    for table in scan.tables(ReadAhead(scan.calls, read, executor)):  # the needed columns, unfiltered,
        ...                                                          # in index or row order
        ...
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pandas as pd
import pyarrow as pa
from arcticdb import ReadInfoRequest

from arcticsql.catalog.catalog import missing
from arcticsql.errors import OperationalError, SymbolChanged
from arcticsql.sources.cache import HIGH, LOW, Axis, ColumnKey, Group, Lookup, VersionKey
from arcticsql.sources.plan import ReadPlan
from arcticsql.sources.read_ahead import ReadAhead
from arcticsql.sources.read_log import ReadLog, ReadRecord

#: ns per unit of a timestamp type
_SCALES = {"s": 1_000_000_000, "ms": 1_000_000, "us": 1_000, "ns": 1}


def column_key(schema, name: str, nan_is_null: bool) -> ColumnKey:
    """What a decoded column is: its ArcticDB column (None: a RangeIndex's row numbers), declared type and
    NaN rule — two scans that agree on these get the same values."""
    return (schema.stored_names.get(name), str(schema.arrow.field(name).type), nan_is_null)


def version_key(cache, schema) -> VersionKey | None:
    """The cache key of the version a schema describes (None when its creation time is unknown)."""
    if schema.created is None:
        return None
    return VersionKey(cache.store, schema.library, schema.symbol, schema.version, int(schema.created))


def _axis(source) -> tuple[Axis, int, int]:
    """The version's axis and its whole extent."""
    schema = source.schema
    date = schema.date_index
    if date is None:
        return Axis(), 0, schema.row_count - 1
    return Axis(column_key(schema, date, source.nan_is_null), _SCALES[schema.arrow.field(date).type.unit]), LOW, HIGH


def holds_every_row(source) -> bool:
    """Whether the cache holds every row of the source's version (for some columns): then filtering in
    Arrow saves no read, and DuckDB filters faster itself."""
    cache = source.cache
    if cache is None:
        return False
    key = version_key(cache, source.schema)
    if key is None:
        return False
    axis, lo, hi = _axis(source)
    return cache.covers(key, axis, lo, hi)


def latest_changes(sources: list, one_by_one: int | None = None) -> list[tuple[str, str, int | None]]:
    """The sources (of one library) whose latest version is not the one they were planned with. A few are
    asked one by one with ``list_versions`` (one request each on object storage, none while ArcticDB's own
    version map is fresh; about 0.3 ms each on LMDB), more with one metadata batch (read in parallel; about
    1.2 ms on LMDB whatever the count); ``one_by_one``: how many are few (a wildcard's members: 0)."""
    if not sources:
        return []
    if len(sources) <= (_ONE_BY_ONE if one_by_one is None else one_by_one):
        return [change for source in sources if (change := source.change(*_latest(source)))]
    infos = sources[0].library.read_metadata_batch([ReadInfoRequest(s.schema.symbol) for s in sources])
    return [change for source, info in zip(sources, infos) if (change := source.change(*version_of(info)))]


#: Up to this many symbols of one library are checked one by one (see latest_changes).
_ONE_BY_ONE = 3


def _latest(source) -> tuple[int | None, int | None]:
    """(version, creation time) of the source's symbol's latest version; (None, None) when it is gone."""
    listed = source.library.list_versions(source.schema.symbol, latest_only=True, skip_snapshots=True)
    for version, info in listed.items():
        return int(version.version), int(pd.Timestamp(info.date).value)
    return None, None


def version_of(item) -> tuple[int | None, int | None]:
    """(version, creation time) of a batch answer; (None, None) for a symbol that is gone."""
    if not hasattr(item, "version") or not hasattr(item, "timestamp"):
        missing(item, getattr(item, "symbol", "a symbol"))  # (a failure, not "gone", raises)
        return None, None
    return int(item.version), int(item.timestamp)


def pin_held(sources: list) -> list:
    """``sources`` with those planned with the version last seen (``verify_latest``) whose every row the cache
    holds checked now — one call per library for the whole statement — and pinned: their scans then make
    no ArcticDB call at all. :class:`~arcticsql.errors.SymbolChanged` when one has another latest version."""
    held = [i for i, source in enumerate(sources) if getattr(source, "verify_latest", False)
            and getattr(source, "cache", None) is not None and holds_every_row(source)]
    if not held:
        return sources
    by_library: dict[str, list[int]] = {}
    for i in held:
        by_library.setdefault(sources[i].schema.library, []).append(i)
    changes = [change for positions in by_library.values()
               for change in latest_changes([sources[i] for i in positions])]
    if changes:
        raise SymbolChanged(changes)
    return [source.pinned() if i in held else source for i, source in enumerate(sources)]


def cached_scan(source, plan: ReadPlan, needed: set[str]) -> CachedScan | None:
    """The scan of ``needed`` columns of the rows ``plan`` bounds, through ``source.cache``; None to read past
    it (no cache, an unknown creation time, more than the cache could hold)."""
    target = _target(source, plan, needed)
    if target is None:
        return None
    key, axis, lo, hi, names, keys = target
    return CachedScan(source, key, axis, names, keys, source.cache.lookup(key, axis, lo, hi, [keys[n] for n in names]))


def cache_state(source, plan: ReadPlan, needed: set[str]) -> str | None:
    """What :func:`cached_scan` would meet, without asking the cache (EXPLAIN): None (the scan reads past
    it), "held" (one piece holds every row it needs, for some columns) or "read"."""
    target = _target(source, plan, needed)
    if target is None:
        return None
    key, axis, lo, hi, _, _ = target
    return "held" if source.cache.covers(key, axis, lo, hi) else "read"


def _target(source, plan: ReadPlan, needed: set[str]):
    """(version key, axis, lo, hi, column names, their cache keys) of a scan through the cache, or None."""
    cache, schema = source.cache, source.schema
    if cache is None or plan.empty or schema.index_unsorted:  # (pieces are index ranges: rows in order only)
        return None
    key = version_key(cache, schema)
    if key is None:
        return None
    date = schema.date_index
    names = [n for n in schema.names if n in needed or n == date]
    if not names:
        names = list(schema.index_columns[:1])  # only the row count is needed
        if not names:
            return None
    keys = {name: column_key(schema, name, source.nan_is_null) for name in names}
    axis, lo, hi = _axis(source)
    if date is not None:
        lo = LOW if plan.start is None else int(plan.start.value)
        hi = HIGH if plan.end is None else int(plan.end.value)
    if not cache.admits(key, _estimated_bytes(schema, names, lo, hi)):
        return None
    return key, axis, lo, hi, names, keys


def _estimated_bytes(schema, names: list[str], lo: int, hi: int) -> int:
    """About how many bytes the scan's columns take over [lo, hi], from the symbol's size and density."""
    rows = schema.row_count
    first, last = schema.first_index, schema.last_index
    if schema.date_index is not None and first is not None and last is not None and (lo > LOW or hi < HIGH):
        span = max(1, last.value - first.value)
        covered = min(hi, last.value) - max(lo, first.value)
        rows = int(rows * min(1.0, max(0, covered) / span)) + 1
    return rows * schema.row_bytes * len(names) // max(1, len(schema.names))


class CachedScan:
    """One scan's groups (what the cache gave, what to read) and the ArcticDB calls for the missing parts."""

    def __init__(self, source, key: VersionKey, axis: Axis, names: list[str], keys: dict[str, ColumnKey],
                 lookup: Lookup) -> None:
        self.source, self.key, self.axis = source, key, axis
        self.names, self.keys = names, keys
        self.lookup = lookup
        self._names_of = {column: name for name, column in keys.items()}
        self.calls: list[dict] = []
        self._call_groups: list[int] = []
        for position, group in enumerate(lookup.groups):
            if group.missing:
                for call in self._group_calls(group):
                    self.calls.append(call)
                    self._call_groups.append(position)

    @property
    def complete(self) -> bool:
        """Whether the cache holds all of it (no ArcticDB call)."""
        return not self.calls

    @property
    def fields(self) -> pa.Schema:
        return pa.schema([self.source.schema.arrow.field(n) for n in self.names])

    def _group_calls(self, group: Group) -> Iterator[dict]:
        schema = self.source.schema
        missing = [self._names_of[c] for c in group.missing]
        stored = self.source.stored_columns(set(missing))
        if self.axis.is_date:
            start = None if group.lo == LOW else _timestamp(group.lo, schema)
            end = None if group.hi == HIGH else _timestamp(group.hi, schema)
            calls = self.source.chunk_calls(ReadPlan(start=start, end=end), stored)
        else:
            calls = self.source.chunk_calls(ReadPlan(), stored, rows=(group.lo, group.hi + 1))
        for call in calls:
            yield {**call, "query_builder": None}

    def log_served(self, log: ReadLog | None, date_range) -> None:
        """Record what the cache gave this scan (kind "cache"), when it gave anything."""
        served = self.lookup.served_columns
        if log is None or not served:
            return
        schema = self.source.schema
        log.add(ReadRecord(schema.library, schema.symbol, schema.version,
                           tuple(self._names_of[c] for c in served), date_range, None, None,
                           self.lookup.served_rows, kind="cache"))

    def table(self, read: Callable[[dict], pa.Table]) -> pa.Table:
        """All of it as one table (the needed columns, unfiltered): ``read(call)`` answers each of
        :attr:`calls` with ArcticDB's table."""
        tables = [t for t in self.tables(ReadAhead(self.calls, read, None)) if t.num_rows]
        if not tables:
            return self.fields.empty_table()
        return pa.concat_tables(tables) if len(tables) > 1 else tables[0]

    def tables(self, reads: ReadAhead[dict, pa.Table]) -> Iterator[pa.Table]:
        """Tables of the needed columns, unfiltered, in axis order; ``reads`` answers each of :attr:`calls`
        with ArcticDB's table."""
        results = iter(reads)
        fields = self.fields
        for position, group in enumerate(self.lookup.groups):
            if not group.missing:
                yield pa.Table.from_arrays([group.present[self.keys[n]] for n in self.names], schema=fields)
            else:
                yield from self._joined(group, _take(results, self._call_groups, position), fields)

    def _joined(self, group: Group, results: Iterator[tuple[dict, pa.Table]], fields: pa.Schema):
        """The group's rows: each read decoded, added to the cache, and joined to the columns the cache gave."""
        source, cache, axis = self.source, self.source.cache, self.axis
        missing_names = [n for n in self.names if self.keys[n] in group.missing]
        read_schema = pa.schema([source.schema.arrow.field(n) for n in missing_names])
        offset, whole = 0, []
        for call, raw in results:
            row_range = call.get("row_range")
            table = source.decode(raw, read_schema, row_range[0] if row_range else 0)
            arrays = {self.keys[n]: table.column(n) for n in missing_names}
            if axis.is_date and "date_range" not in call:
                whole.append(arrays)  # a whole-symbol read (in row chunks): one piece once all are read
            elif axis.is_date:
                start, end = call["date_range"]
                cache.add(self.key, axis, LOW if start is None else int(start.value),
                          HIGH if end is None else int(end.value), arrays)
            else:
                first = row_range[0] if row_range else 0
                cache.add(self.key, axis, first, first + table.num_rows - 1, arrays)
            rows = table.num_rows
            columns = [group.present[self.keys[n]].slice(offset, rows) if self.keys[n] in group.present
                       else table.column(n) for n in self.names]
            offset += rows
            yield pa.Table.from_arrays(columns, schema=fields)
        if group.present and offset != group.rows:
            raise OperationalError(f"{self.key.label}: ArcticDB returned {offset} rows where the cache holds "
                                   f"{group.rows}; clear the cache (.cache clear) and report this")
        if whole:
            cache.add(self.key, axis, LOW, HIGH,
                      {column: pa.chunked_array([c for part in whole for c in part[column].chunks],
                                                type=whole[0][column].type) for column in whole[0]})


def _take(results: Iterator[tuple[dict, pa.Table]], call_groups: list[int], position: int):
    """The results of the calls of group ``position`` (consumed in order from the shared iterator)."""
    for _ in range(call_groups.count(position)):
        yield next(results)


def _timestamp(value: int, schema) -> pd.Timestamp:
    """An axis value (ns) as the bound of an ArcticDB ``date_range`` for this symbol's index."""
    tz = schema.arrow.field(schema.date_index).type.tz
    return pd.Timestamp(value, tz="UTC").tz_convert(tz) if tz else pd.Timestamp(value)
