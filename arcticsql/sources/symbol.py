"""A lazy SQL table over one ArcticDB symbol version, speaking DuckDB's scan protocol.

DuckDB asks ``accepts(predicate)`` for each filter (True only when we can apply it exactly), then calls
``stream(columns, filters)``. The stream reads ArcticDB in chunks (``row_range`` slices for a full scan,
date slices for a date range) of about ``chunk_bytes`` each, so a symbol larger than memory streams through
without being held whole; once DuckDB has come back for more than the first chunk's first batch, the next
chunk is read ahead on a worker thread (a LIMIT that stops early reads nothing more). A statement needing
only its first or last rows reads just those (:mod:`arcticsql.sources.limits`). Every ArcticDB call is
recorded in the session's :class:`ReadLog`, which is how tests prove what pushdown asked for.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from arcticdb.exceptions import NoDataFoundException

from arcticsql.catalog.schema import SymbolSchema
from arcticsql.conform import conform
from arcticsql.errors import IndexNotMicroseconds, SymbolChanged
from arcticsql.missing import nan_to_null
from arcticsql.sources.cache import ScanCache
from arcticsql.sources.cached_scan import (
    CachedScan,
    cache_state,
    cached_scan,
    holds_every_row,
    latest_changes,
)
from arcticsql.sources.limits import LimitHint, Windows, limited
from arcticsql.sources.plan import (
    ReadPlan,
    arrow_filter,
    columns_of,
    node_key,
    node_text,
    plan_read,
    query_builder,
    translatable,
)
from arcticsql.sources.protocol import Node, ScanSource, export_batches
from arcticsql.sources.read_ahead import ReadAhead
from arcticsql.sources.read_log import ReadLog, ReadRecord


class _Batches:
    """An iterator of record batches that knows whether it comes from a single ArcticDB read."""

    def __init__(self, batches: Iterator[pa.RecordBatch], single_read: bool) -> None:
        self._batches = batches
        self.single_read = single_read

    def __iter__(self) -> Iterator[pa.RecordBatch]:
        return self._batches

    def __next__(self) -> pa.RecordBatch:
        return next(self._batches)


class ArcticSymbolSource(ScanSource):
    """One symbol version as a table; holds no per-query state (two streams may run at once)."""

    schema_is_stable = True

    def __init__(self, library, schema: SymbolSchema, *, chunk_bytes: int, log: ReadLog | None = None,
                 executor: ThreadPoolExecutor | None = None, verify_latest: bool = False,
                 nan_is_null: bool = True, snapshot: str | None = None, limit: LimitHint | None = None,
                 preloaded: pa.Table | None = None, cache: ScanCache | None = None) -> None:
        super().__init__()
        self.library = library
        self.schema = schema
        self.chunk_bytes = chunk_bytes
        self.log = log
        self.executor = executor
        self._accepted: dict[tuple, bool] = {}
        #: ``schema.version`` is the latest version last seen, not pinned for this statement: a read asks for
        #: the latest and raises :class:`~arcticsql.errors.SymbolChanged` if it is another version.
        self.verify_latest = verify_latest
        #: Float NaN reads as NULL (see :mod:`arcticsql.missing`).
        self.nan_is_null = nan_is_null
        #: What reads ask ArcticDB for: the pinned version, or the snapshot it was pinned through (which
        #: still reads after the symbol itself was deleted; a version number does not).
        self.read_as_of: int | str = snapshot if snapshot is not None else schema.version
        #: The statement needs at most this many rows from one end (used when DuckDB hands over every
        #: WHERE condition): see :mod:`arcticsql.sources.limits`.
        self.limit = limit
        #: The whole version as ArcticDB returned it while planning (a wildcard's small member): reads are
        #: served from it.
        self.preloaded = preloaded
        #: The session's cache of decoded columns (see :mod:`arcticsql.sources.cached_scan`), or None.
        self.cache = cache

    def pinned(self) -> ArcticSymbolSource:
        """This source reading its version as pinned (its latest version was just checked)."""
        return ArcticSymbolSource(self.library, self.schema, chunk_bytes=self.chunk_bytes, log=self.log,
                                  executor=self.executor, verify_latest=False, nan_is_null=self.nan_is_null,
                                  snapshot=self.read_as_of if isinstance(self.read_as_of, str) else None,
                                  limit=self.limit, preloaded=self.preloaded, cache=self.cache)

    @property
    def key(self) -> tuple:
        """What this source reads; equal keys read equal rows (versions are immutable)."""
        schema = self.schema
        # read through a snapshot, a version can still be read after its number is gone: another key
        through = self.read_as_of if isinstance(self.read_as_of, str) else None
        return ("symbol", schema.library, schema.symbol, schema.version, schema.created,
                tuple(schema.casts) if schema.casts else (), self.verify_latest, self.nan_is_null, self.limit,
                through)

    # -- protocol -------------------------------------------------------------------------------------
    def __arrow_c_schema__(self) -> object:
        return self.schema.arrow.__arrow_c_schema__()

    def rows(self) -> int | None:
        return self.schema.row_count

    def accepts(self, predicate: Node) -> bool:
        # Memoised by the predicate's shape and values: the same filters come back on every repeated query. The memo
        # depends only on the (immutable) schema, so it is not per-query state.
        text = node_key(predicate)
        known = self._accepted.get(text)
        if known is None:
            known = self._accepted[text] = translatable(predicate, self.schema.arrow)
            if len(self._accepted) > 1024:
                self._accepted.clear()
        if known and self.cache is not None and columns_of(predicate) != {self.schema.date_index} \
                and holds_every_row(self):
            return False  # nothing to save by filtering in Arrow: DuckDB filters faster (a date range is a slice)
        return known

    def scan(self, columns: Sequence[int] | None, filters: Sequence[Node]) -> tuple[object, bool]:
        names = self.schema.names
        wanted = list(names) if columns is None else [names[i] for i in columns]
        plan = plan_read(tuple(filters), self.schema)
        out_schema = pa.schema([self.schema.arrow.field(n) for n in wanted])
        if self.limit is not None and self.limit.usable(filters):
            tables = self.limited_tables(plan, wanted, self.limit)
            if self.limit.rows <= self.schema.chunk_rows(self.chunk_bytes):
                return pa.Table.from_batches([b for t in tables for b in t.to_batches()],
                                             schema=out_schema).__arrow_c_stream__(), True
            return export_batches(out_schema, (b for t in tables for b in t.to_batches())), True
        batches = self.batches(plan, wanted)
        if getattr(batches, "single_read", False):
            # One ArcticDB read holds the whole result anyway: hand DuckDB the table's own stream, with no
            # Python generator between its pulls.
            return pa.Table.from_batches(list(batches), schema=out_schema).__arrow_c_stream__(), True
        return export_batches(out_schema, batches), True

    # -- explaining -----------------------------------------------------------------------------------
    def explain(self, columns: Sequence[str] | None, filters: Sequence[Node]) -> dict:
        """What a scan of ``columns`` (None: all) with the accepted ``filters`` asks ArcticDB for, as
        EXPLAIN shows it: the read plan and the reads it makes (the first windows of a limited scan)."""
        schema = self.schema
        wanted = list(schema.names) if columns is None else list(columns)
        plan = plan_read(tuple(filters), schema)
        stored = self.stored_columns(set(wanted) | set(plan.residual_columns))
        q = query_builder(plan)
        out = {"library": schema.library, "symbol": schema.symbol, "version": schema.version,
               "version_checked": self.verify_latest, "rows": schema.row_count, "columns": stored,
               "date_range": plan.date_range, "query_builder": str(q) if q is not None else None,
               "filter_after_read": [node_text(p) for p in plan.residual], "limit": None,
               "from_planning_read": self.preloaded is not None, "reads": [], "read_count": 0}
        if plan.empty:
            return out
        if self.limit is not None and self.limit.usable(filters):
            out["limit"] = self.limit.describe()
            windows = Windows(plan, schema, self.limit, schema.chunk_rows(self.chunk_bytes))
            out["reads"] = [windows.next_call()]
            # one read holds exactly the rows needed, unless filters or gaps between dates leave too few
            out["read_count"] = 1 if windows.exact and not windows.dates else None
            return out
        calls = list(self.chunk_calls(plan, stored))
        out["reads"] = [{k: v for k, v in call.items() if k in ("row_range", "date_range")} for call in calls[:3]]
        out["read_count"] = len(calls)
        cached = cache_state(self, plan, set(wanted) | set(plan.residual_columns))
        if cached is not None:  # whole ranges for the cache (no QueryBuilder); what it holds is not read
            out["query_builder"] = None
            out["cache"] = cached
            if cached == "held":
                out["read_count"] = None
        return out

    # -- reading --------------------------------------------------------------------------------------
    def read_table(self, wanted: Sequence[str] | None = None, plan: ReadPlan | None = None,
                   scan: CachedScan | None = None) -> pa.Table:
        """The whole (filtered, projected) result as one Arrow table.

        Read without prefetch: nothing consumes it meanwhile, and it may itself run on the executor (a
        wildcard's read group), where waiting on a nested task could exhaust the pool.
        """
        wanted = list(self.schema.names) if wanted is None else list(wanted)
        out_schema = pa.schema([self.schema.arrow.field(n) for n in wanted])
        batches = self.batches(plan or ReadPlan(), wanted, prefetch=False, scan=scan)
        return pa.Table.from_batches(list(batches), schema=out_schema)

    def batches(self, plan: ReadPlan, wanted: list[str], prefetch: bool = True,
                scan: CachedScan | None = None) -> Iterator[pa.RecordBatch]:
        """Record batches of ``wanted`` columns holding exactly the rows the plan's filters keep; with
        ``prefetch`` the next chunk is read on the executor while this one is consumed. The session cache
        gives what it holds (``scan``: the cache's answer, when already asked)."""
        if plan.empty:
            return iter(())
        schema = self.schema
        needed = set(wanted) | set(plan.residual_columns)
        executor = self.executor if prefetch else None
        scan = scan if scan is not None else cached_scan(self, plan, needed)
        if scan is not None:
            return self._cached_batches(scan, plan, wanted, executor)
        stored_columns = self.stored_columns(needed)
        read_schema = pa.schema([schema.arrow.field(n) for n in schema.names if n in needed])
        expression = arrow_filter(plan.residual, read_schema) if plan.residual else None
        calls = list(self.chunk_calls(plan, stored_columns))
        self._latest_for(calls)
        return _Batches(self._pipeline(calls, read_schema, expression, wanted, executor),
                        single_read=len(calls) == 1)

    def limited_tables(self, plan: ReadPlan, wanted: list[str], hint: LimitHint) -> Iterator[pa.Table]:
        """Tables of ``wanted`` columns holding the first (or last) ``hint.rows`` rows the plan keeps, read a
        window at a time (see :mod:`arcticsql.sources.limits`), in index order."""
        if plan.empty:
            return iter(())
        needed = set(wanted) | set(plan.residual_columns)
        base = {"columns": self.stored_columns(needed), "query_builder": query_builder(plan)}
        read_schema = pa.schema([self.schema.arrow.field(n) for n in self.schema.names if n in needed])
        expression = arrow_filter(plan.residual, read_schema) if plan.residual else None

        def read(window: dict) -> pa.Table:
            call = {**base, **window}
            if self.verify_latest:
                call["as_of"] = None  # each read checks it is the version planned with
            table = self.decode(self._read(call), read_schema, window["row_range"][0] if "row_range" in window else 0)
            return table.filter(expression) if expression is not None else table

        windows = Windows(plan, self.schema, hint, self.schema.chunk_rows(self.chunk_bytes))
        tables = (t.select(wanted) for t in limited(windows, read))
        if hint.from_end:  # read backwards from the end: put them back in index order
            return reversed(list(tables))
        return tables
    def _latest_for(self, calls: list[dict]) -> None:
        """With ``verify_latest``: a single read asks for the latest version (``_read`` checks it); otherwise
        (several reads, or none: the cache holds it all) the latest is checked now, before any read, with
        the cheapest call that says it (one request on object storage, none while ArcticDB's own version
        map is fresh)."""
        if not self.verify_latest:
            return
        if len(calls) == 1:
            calls[0]["as_of"] = None  # read the latest; _read checks it is the version planned with
            return
        changes = latest_changes([self])
        if changes:
            raise SymbolChanged(changes)

    def _cached_batches(self, scan: CachedScan, plan: ReadPlan, wanted: list[str], executor) -> _Batches:
        """The scan's batches, through the session cache: ArcticDB is called only for what it lacks."""
        self._latest_for(scan.calls)
        scan.log_served(self.log, plan.date_range)
        expression = arrow_filter(plan.residual, scan.fields) if plan.residual else None

        def batches() -> Iterator[pa.RecordBatch]:
            reads = ReadAhead(scan.calls, self._read, executor)
            for table in scan.tables(reads):
                if expression is not None:
                    table = table.filter(expression)
                if table.num_rows:
                    yield from reads.batches(table.select(wanted))

        return _Batches(batches(), single_read=len(scan.calls) <= 1)

    def stored_columns(self, needed: set[str]) -> list[str]:
        """ArcticDB column names to read for the declared columns ``needed``.

        ArcticDB returns the index with any read, which carries the row count; a RangeIndex is not
        returned, so a symbol with one reads one value column even when none is needed (count(*)).
        """
        schema = self.schema
        names = [schema.stored_names[c] for c in schema.value_columns if c in needed]
        if not names and schema.range_index is not None and schema.value_columns:
            names = [schema.stored_names[schema.value_columns[0]]]
        return names

    def chunk_calls(self, plan: ReadPlan, stored_columns: list[str],
                    rows: tuple[int, int] | None = None) -> Iterator[dict]:
        """Keyword arguments for each ArcticDB read, in order (``rows``: only the rows [first, end))."""
        schema = self.schema
        chunk = schema.chunk_rows(self.chunk_bytes)
        base = {"columns": stored_columns, "query_builder": query_builder(plan)}
        if plan.date_range is not None:
            for start, end in _date_slices(plan.start, plan.end, schema, chunk):
                yield {**base, "date_range": (start, end)}
            return
        total = schema.row_count
        begin, end = rows if rows is not None else (0, total)
        if begin == 0 and end >= total and total <= chunk:
            yield {**base, "row_range": None}
            return
        for first in range(begin, end, chunk):
            yield {**base, "row_range": (first, min(end, first + chunk))}

    def _read(self, call: dict) -> pa.Table:
        schema = self.schema
        preloaded = self.preloaded  # (released by another scan at any time: then read ArcticDB)
        if preloaded is not None:
            return self.read_preloaded(call, preloaded)
        as_of = call.get("as_of", self.read_as_of)
        kwargs = {k: v for k, v in call.items() if v is not None and k != "as_of"}
        started = time.perf_counter()
        try:
            item = self.library.read(schema.symbol, as_of=as_of, output_format="pyarrow", **kwargs)
        except NoDataFoundException:
            if as_of is None:
                self.check_latest(None)  # deleted since it was seen: planned again, it is an unknown symbol
            raise
        if as_of is None:
            self.check_latest(int(item.version), item.timestamp)
        table = item.data
        self.log_read(call, table.num_rows, time.perf_counter() - started, "read")
        return table

    def log_read(self, call: dict, rows: int, seconds: float, kind: str) -> None:
        """Record one read (``kind``: see :class:`~arcticsql.sources.read_log.ReadRecord`) in the log."""
        if self.log is not None:
            schema = self.schema
            q = call.get("query_builder")
            self.log.add(ReadRecord(schema.library, schema.symbol, schema.version,
                                    tuple(call["columns"]) if call.get("columns") is not None else None,
                                    call.get("date_range"), call.get("row_range"),
                                    str(q) if q is not None else None, rows, seconds, kind))

    def read_preloaded(self, call: dict, table: pa.Table | None = None) -> pa.Table:
        """What ``library.read`` would return for ``call``, from the version read while planning (its
        QueryBuilder is left out: the plan's exact filter, applied afterwards, covers it); ArcticDB's
        answer once that was released."""
        table = self.preloaded if table is None else table
        if table is None:
            return self._read(call)
        schema = self.schema
        if call.get("row_range") is not None:
            start, end = call["row_range"]
            table = table.slice(start, max(0, end - start))
        if call.get("date_range") is not None and schema.date_index is not None:
            index = table.column(schema.stored_names[schema.date_index])
            start, end = call["date_range"]
            keep = None
            for bound, compare in ((start, pc.greater_equal), (end, pc.less_equal)):
                if bound is not None:
                    term = compare(index, pa.scalar(pd.Timestamp(bound).value, pa.timestamp("ns", index.type.tz)))
                    keep = term if keep is None else pc.and_(keep, term)
            if keep is not None:
                table = table.filter(keep)
        if call.get("columns") is not None:
            stored = set(call["columns"]) | {schema.stored_names[c] for c in schema.index_columns
                                              if c in schema.stored_names}
            table = table.select([name for name in table.column_names if name in stored])
        self.log_read(call, table.num_rows, 0.0, "memory")
        return table

    def check_latest(self, version: int | None, created: int | None = None) -> None:
        """The latest version (None: the symbol is gone), made at ``created`` (ns, when known), is the one
        planned with, or the statement must be planned again."""
        change = self.change(version, created)
        if change is not None:
            raise SymbolChanged([change])

    def change(self, version: int | None, created: int | None = None) -> tuple[str, str, int | None] | None:
        """(library, symbol, version) when the latest ``version`` is not the one planned with — another
        number, or the same number made at another time (the symbol was deleted and written again) — else
        None."""
        schema = self.schema
        if version == schema.version and (created is None or schema.created is None or created == schema.created):
            return None
        return schema.library, schema.symbol, version

    def _pipeline(self, calls: list[dict], read_schema: pa.Schema, expression, wanted: list[str], executor):
        """The chunks' batches, the next chunk read ahead only once DuckDB wants more than it pulls ahead (see
        :mod:`arcticsql.sources.read_ahead`): a LIMIT satisfied early reads no more."""
        reads = ReadAhead(calls, self._read, executor)
        for call, table in reads:
            first_row = call["row_range"][0] if call.get("row_range") else 0
            table = self.decode(table, read_schema, first_row)
            if expression is not None:
                table = table.filter(expression)
            if table.num_rows:
                yield from reads.batches(table.select(wanted))

    def decode(self, table: pa.Table, read_schema: pa.Schema, first_row: int = 0) -> pa.Table:
        """ArcticDB's Arrow output with the declared names and types of ``read_schema``: a RangeIndex made
        into row numbers counted from ``first_row``, a column the version lacks null, a float NaN null
        (unless raw NaN is kept), and a timestamp that is not a whole microsecond an error rather than
        rounded."""
        if not len(read_schema):
            return table.select([])  # no columns, but the row count (count(*)) survives
        schema = self.schema
        names, columns = [], []
        for field in read_schema:
            if schema.range_index is not None and field.name == schema.index_columns[0]:
                start, step = schema.range_index
                columns.append(pa.array(range(start + step * first_row,
                                              start + step * (first_row + table.num_rows), step), pa.int64()))
            elif schema.stored_names[field.name] in table.column_names:
                column = table.column(schema.stored_names[field.name])
                if field.name in schema.casts:
                    column = self._microseconds(column, schema.casts[field.name])
                columns.append(nan_to_null(column) if self.nan_is_null else column)
            else:
                continue
            names.append(field.name)
        renamed = pa.Table.from_arrays(columns, names=names) if columns else table.select([])
        return conform(renamed, read_schema, f"{schema.library}/{schema.symbol}")


    def _microseconds(self, column: pa.ChunkedArray, kind: pa.DataType) -> pa.ChunkedArray:
        """The nanosecond index as the declared microseconds, or IndexNotMicroseconds (never rounded)."""
        try:
            return column.cast(kind, safe=True)
        except pa.ArrowInvalid:
            raise IndexNotMicroseconds(self.schema.library, self.schema.symbol, self.schema.version) from None


def _date_slices(start: pd.Timestamp | None, end: pd.Timestamp | None, schema: SymbolSchema,
                 chunk_rows: int) -> list[tuple]:
    """Disjoint inclusive date ranges covering [start, end], each expected to hold about ``chunk_rows``
    rows given the symbol's average density; one range when the whole request fits in a chunk."""
    first, last = schema.first_index, schema.last_index
    if first is None or last is None or schema.row_count <= chunk_rows:
        return [(start, end)]
    lo = first if start is None else max(start, first)
    hi = last if end is None else min(end, last)
    if lo > hi:
        return [(start, end)]
    span = (last - first).value or 1
    expected = schema.row_count * ((hi - lo).value / span)
    pieces = int(expected // chunk_rows) + 1
    if pieces <= 1:
        return [(start, end)]
    step = (hi - lo) / pieces
    edges = [lo + step * i for i in range(pieces)] + [hi]
    slices = []
    for i in range(pieces):
        slice_start = start if i == 0 else edges[i]
        slice_end = end if i == pieces - 1 else edges[i + 1] - pd.Timedelta(1, "ns")
        slices.append((slice_start, slice_end))
    return slices
