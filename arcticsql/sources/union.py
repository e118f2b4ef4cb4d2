"""A wildcard reference (``"prices_*/AAPL"``, ``"prices_1min/*"``) as one lazy table.

The relation is ``UNION ALL BY NAME`` of the matching symbol versions, with ``library`` and ``symbol``
columns first: columns missing from a symbol are NULL, differing numeric types are promoted, and types that
cannot be unified are an error naming two symbols that disagree.

Pushdown: filters on ``library``/``symbol`` prune members before anything is read; every other accepted
filter is pushed into each member's read (date range, QueryBuilder) where it applies to that member's own
columns, and is then applied exactly to the unioned rows unless the member's read already answered it
exactly. Members are read with ArcticDB's batched reads in groups, the next group read ahead on a worker
thread once DuckDB has asked for more than it pulls ahead, so many small symbols load in parallel while
memory holds at most two groups (a member larger than a scan chunk streams on its own). A member read
whole while planning (see :meth:`arcticsql.catalog.Catalog.wildcard`) is served from that read.

A group's members of one shape (the usual case: equal schemas, equal plans) are decoded, filtered and given
their ``library``/``symbol`` values together, as one table. A statement needing only a few rows of each
member (``ORDER BY ts DESC LIMIT 10``) reads only those of each (see :mod:`arcticsql.sources.limits`).
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from arcticsql.conform import conform, union_schema
from arcticsql.errors import IndexNotMicroseconds, ProgrammingError, SymbolChanged
from arcticsql.sources.cached_scan import CachedScan, cached_scan, latest_changes, version_of
from arcticsql.sources.limits import LimitHint, Windows
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
from arcticsql.sources.read_ahead import PULLED_AHEAD, ReadAhead
from arcticsql.sources.symbol import ArcticSymbolSource

#: The columns every union starts with.
KEY_COLUMNS = ("library", "symbol")
#: Bytes a batched group of members may hold at once (two groups are in flight).
_GROUP_BYTES = 64 * 1024 * 1024
_GROUP_MAX = 512
#: Members in the first group of a scan that needs only its first rows (groups then grow fourfold): one
#: batch for each batch DuckDB may pull, so that its pulls ahead take them rather than another read.
_FIRST_GROUP = max(2, PULLED_AHEAD)


def wildcard_schema(members: Sequence[ArcticSymbolSource]) -> pa.Schema:
    """``library``, ``symbol``, then every member column by name in first-seen order, types unified."""
    checked: set[int] = set()
    for member in members:
        if id(member.schema.arrow) in checked:
            continue
        checked.add(id(member.schema.arrow))
        clash = [name for name in KEY_COLUMNS if name in member.schema.names]
        if clash:
            raise ProgrammingError(f"{_label(member)} has a column named {clash[0]!r}, which a wildcard table "
                                   "uses for the member's name; query it by its exact name")
    distinct: dict[int, ArcticSymbolSource] = {}
    for member in members:  # members of one schema object (the usual case) are unified once
        distinct.setdefault(id(member.schema.arrow), member)
    values = union_schema((_label(m), m.schema.arrow) for m in distinct.values())
    return pa.schema([pa.field("library", pa.string()), pa.field("symbol", pa.string()), *values])


def _label(member: ArcticSymbolSource) -> str:
    return f"{member.schema.library}/{member.schema.symbol}"


_SCHEMAS: OrderedDict[tuple, pa.Schema] = OrderedDict()


def _cached_union_schema(members: Sequence[ArcticSymbolSource], key: tuple) -> pa.Schema:
    """``wildcard_schema``, remembered by the members' keys (``key``): versions never change."""
    schema = _SCHEMAS.get(key)
    if schema is None:
        schema = _SCHEMAS[key] = wildcard_schema(members)
        while len(_SCHEMAS) > 64:
            _SCHEMAS.popitem(last=False)
    return schema


class UnionSource(ScanSource):
    """Several symbol versions as one table; holds no per-query state."""

    schema_is_stable = True

    def __init__(self, members: list[ArcticSymbolSource], *, executor=None,
                 progress: Callable[[int, int, str], None] | None = None, label: str = "",
                 limit: LimitHint | None = None) -> None:
        super().__init__()
        self.members = members
        self._members_key = tuple(m.key for m in members)
        self._rows = sum(m.schema.row_count for m in members)
        self.arrow = _cached_union_schema(members, self._members_key)
        self.executor = executor
        self.progress = progress
        self.label = label
        #: The statement needs at most ``limit.rows`` rows of each member from one end (see
        #: :mod:`arcticsql.sources.limits`), when DuckDB hands over every WHERE condition.
        self.limit = limit
        self._keys = pa.table({"library": [m.schema.library for m in members],
                               "symbol": [m.schema.symbol for m in members]})

    @property
    def key(self) -> tuple:
        return ("union", self._members_key, self.limit)

    # -- protocol -------------------------------------------------------------------------------------
    def __arrow_c_schema__(self) -> object:
        return self.arrow.__arrow_c_schema__()

    def rows(self) -> int | None:
        return self._rows

    def accepts(self, predicate: Node) -> bool:
        return translatable(predicate, self.arrow)

    def scan(self, columns: Sequence[int] | None, filters: Sequence[Node]) -> tuple[object, bool]:
        names = self.arrow.names
        wanted = list(names) if columns is None else [names[i] for i in columns]
        out = pa.schema([self.arrow.field(n) for n in wanted])
        return export_batches(out, self.batches(wanted, tuple(filters))), True

    # -- reading --------------------------------------------------------------------------------------
    def selected(self, filters: Sequence[Node]) -> list[ArcticSymbolSource]:
        """The members that filters on ``library``/``symbol`` alone keep."""
        key_filters = [f for f in filters if columns_of(f) <= set(KEY_COLUMNS)]
        if not key_filters:
            return list(self.members)
        mask = self._keys.filter(arrow_filter(tuple(key_filters), self._keys.schema))
        kept = set(zip(mask.column("library").to_pylist(), mask.column("symbol").to_pylist()))
        return [m for m in self.members if (m.schema.library, m.schema.symbol) in kept]

    def jobs(self, wanted: list[str], filters: tuple[Node, ...]) -> Iterator[_Job]:
        """How each member the filters keep is read (also what EXPLAIN shows), made as needed."""
        value_filters = tuple(f for f in filters if not columns_of(f) <= set(KEY_COLUMNS))
        needed = set(wanted).union(*(columns_of(f) for f in value_filters))
        limit = self.limit if self.limit is not None and self.limit.usable(filters) else None
        planner = _Planner(value_filters, needed, limit)
        return (planner.job(m) for m in self.selected(filters))

    def release(self) -> None:
        """Drop the members' rows read while planning (scans then read ArcticDB at the same versions)."""
        for member in self.members:
            member.preloaded = None

    def explain(self, columns: Sequence[str] | None, filters: Sequence[Node]) -> dict:
        """What a scan of ``columns`` (None: all) with the accepted ``filters`` asks ArcticDB for, as
        EXPLAIN shows it: the members kept, and how they are read (summed up over members)."""
        wanted = list(self.arrow.names) if columns is None else list(columns)
        filters = tuple(filters)
        jobs = list(self.jobs(wanted, filters))
        value_filters = [f for f in filters if not columns_of(f) <= set(KEY_COLUMNS)]
        after = {node_text(p) for job in jobs for p in job.plan.residual}
        if any(not job.exact_in_read for job in jobs):
            after.update(node_text(f) for f in value_filters)

        def distinct(values) -> list:
            return list(dict.fromkeys(v for v in values if v is not None))

        usable = self.limit is not None and self.limit.usable(filters)
        return {"members": len(jobs), "of": len(self.members),
                "version_checked": any(m.verify_latest for m in self.members),
                "versions": [(j.member.schema.library, j.member.schema.symbol, j.member.schema.version)
                             for j in jobs],
                "key_filters": [node_text(f) for f in filters if columns_of(f) <= set(KEY_COLUMNS)],
                "columns": distinct(c for job in jobs for c in job.call()["columns"]),
                "date_ranges": distinct(job.plan.date_range for job in jobs),
                "query_builders": distinct(str(query_builder(job.plan)) if job.plan.clauses else None
                                           for job in jobs),
                "filter_after_read": sorted(after), "limit": self.limit.describe() if usable else None,
                "limited_members": sum(1 for job in jobs if job.limit is not None),
                "row_ranges": distinct(job.row_range for job in jobs),
                "from_planning_read": sum(1 for job in jobs if job.member.preloaded is not None),
                "rows": sum(job.member.schema.row_count for job in jobs)}

    def batches(self, wanted: list[str], filters: tuple[Node, ...]) -> Iterator[pa.RecordBatch]:
        value_filters = tuple(f for f in filters if not columns_of(f) <= set(KEY_COLUMNS))
        needed = set(wanted).union(*(columns_of(f) for f in value_filters))
        read_schema = pa.schema([f for f in self.arrow if f.name in needed])
        exact = arrow_filter(value_filters, read_schema) if value_filters else None
        total = len(self.selected(filters))
        first_rows_only = self.limit is not None and self.limit.order is None and self.limit.usable(filters)
        # the first rows only: batches of at most LIMIT rows, which DuckDB's pulls ahead take
        small = max(1, min(2048, self.limit.rows)) if first_rows_only else None
        done = 0
        groups = _group(self.jobs(wanted, filters), _FIRST_GROUP if first_rows_only else _GROUP_MAX)
        reads = ReadAhead(groups, _read_group, self.executor)
        for _, results in reads:
            for table in _assemble(results, read_schema, exact):
                yield from reads.batches(table.select(wanted).combine_chunks(), small)
            done += len(results)
            if self.progress is not None:
                self.progress(done, total, self.label)


@dataclass(frozen=True)
class _Job:
    """How one member is read: its plan, the columns wanted of it, whether the plan is exact, and the rows
    a LIMIT needs of it (``row_range`` when one read gives exactly those, else ``limit``: windows)."""

    member: ArcticSymbolSource
    plan: ReadPlan
    columns: tuple[str, ...]
    exact_in_read: bool
    limit: LimitHint | None = None
    row_range: tuple[int, int] | None = None

    @property
    def bytes(self) -> int:
        rows = self.member.schema.row_count
        if self.row_range is not None:
            rows = self.row_range[1] - self.row_range[0]
        elif self.limit is not None:
            rows = min(rows, self.limit.rows)
        return rows * self.member.schema.row_bytes

    @property
    def read_names(self) -> set[str]:
        return set(self.columns) | set(self.plan.residual_columns)

    def shape(self) -> pa.Schema:
        """The member's declared fields this job reads."""
        names = self.read_names
        return pa.schema([f for f in self.member.schema.arrow if f.name in names])

    def call(self) -> dict:
        """Keyword arguments of ``library.read`` for this job's one read."""
        member = self.member
        call = {"columns": member.stored_columns(self.read_names), "query_builder": query_builder(self.plan)}
        if self.row_range is not None:
            call["row_range"] = self.row_range
        else:
            call["date_range"] = self.plan.date_range
        return call


class _Planner:
    """Makes each member's job; members of one shape (the usual case: their schemas are one object) share
    one translation and one plan."""

    def __init__(self, value_filters: tuple[Node, ...], needed: set[str], limit: LimitHint | None) -> None:
        self.value_filters = value_filters
        self.needed = needed
        self.limit = limit
        self._by_shape: dict[tuple, tuple[pa.Schema, ReadPlan, tuple[str, ...], bool]] = {}

    def job(self, member: ArcticSymbolSource) -> _Job:
        schema = member.schema
        shape = (id(schema.arrow), schema.date_index, schema.value_columns, schema.range_index is None,
                 schema.first_index is None)
        known = self._by_shape.get(shape)
        if known is None or known[0] is not schema.arrow:
            # A filter is pushed into a member only if it reads its own columns at their own types.
            own = tuple(f for f in self.value_filters if translatable(f, schema.arrow))
            known = (schema.arrow, plan_read(own, schema), tuple(n for n in schema.names if n in self.needed),
                     len(own) == len(self.value_filters))
            self._by_shape[shape] = known
        _, plan, columns, exact = known
        limit = self.limit
        if limit is None or not exact or plan.empty or (limit.order is not None and not schema.in_index_order(
                _spelled(limit.order, schema.names))):
            return _Job(member, plan, columns, exact)
        if not plan.residual and not plan.clauses and plan.date_range is None:
            rows = schema.row_count
            window = (max(0, rows - limit.rows), rows) if limit.from_end else (0, min(rows, limit.rows))
            return _Job(member, plan, columns, exact, limit, window)
        return _Job(member, plan, columns, exact, limit)


def _spelled(name: str, names: list[str]) -> str:
    return next((n for n in names if n.lower() == name.lower()), name)


# -- reading a group ------------------------------------------------------------------------------------------
@dataclass
class _Result:
    """A member's rows: ``raw`` as ArcticDB returns them (decoded with the group), else decoded, filtered
    by the member's plan and narrowed to the job's columns."""

    job: _Job
    table: pa.Table
    raw: bool


def _read_group(group: list[_Job]) -> list[_Result]:
    """Every job's rows: members read while planning from that read, large members (or a group of one) on
    their own, in chunks; windowed members in rounds of batched reads; members the session cache holds
    wholly not read at all (their versions checked with one metadata batch per library when only the latest
    seen), one it holds in part read for the rest; the rest in one batched read per library."""
    results: dict[int, _Result] = {}
    batched: list[tuple[int, _Job, CachedScan | None]] = []
    windowed: list[tuple[int, _Job]] = []
    held: dict[str, list[tuple[int, _Job, CachedScan]]] = {}
    for position, job in enumerate(group):
        member = job.member
        alone = len(group) == 1 or job.bytes > _GROUP_BYTES
        if job.plan.empty:
            results[position] = _Result(job, member.read_table(list(job.columns), job.plan), False)
        elif job.limit is not None and (alone or member.preloaded is not None):
            tables = list(member.limited_tables(job.plan, list(job.columns), job.limit))
            results[position] = _Result(job, _concat(tables, job), False)
        elif job.limit is not None and job.row_range is None:
            windowed.append((position, job))
        else:
            scan = cached_scan(member, job.plan, job.read_names) if job.row_range is None else None
            if scan is not None and scan.complete:
                held.setdefault(member.schema.library, []).append((position, job, scan))
            elif scan is not None and (len(scan.calls) > 1 or alone or member.preloaded is not None):
                results[position] = _Result(job, member.read_table(list(job.columns), job.plan, scan), False)
            elif scan is not None:
                batched.append((position, job, scan))
            elif member.preloaded is not None:
                results[position] = _Result(job, member.read_preloaded(job.call()), True)
            elif alone and job.row_range is None:
                results[position] = _Result(job, member.read_table(list(job.columns), job.plan), False)
            else:
                batched.append((position, job, None))
    changes = [change for entries in held.values() for change in _held_changes(entries)]
    if batched:
        calls = [job.call() if scan is None else scan.calls[0] for _, job, scan in batched]
        tables = _read_batch([job for _, job, _ in batched], calls, changes)
        for (position, job, scan), table in zip(batched, tables):
            results[position] = (_Result(job, table, True) if scan is None
                                 else _Result(job, _finish(job, scan, table), False))
    elif changes:  # every member of the group that changed, so that one new plan takes them all
        raise SymbolChanged(changes)
    for entries in held.values():
        for position, job, scan in entries:
            results[position] = _Result(job, _finish(job, scan, None), False)
    if windowed:
        for (position, job), table in zip(windowed, _read_windows([job for _, job in windowed])):
            results[position] = _Result(job, table, False)
    for job in group:  # served: the registered table holds no rows (a later scan reads ArcticDB)
        job.member.preloaded = None
    return [results[i] for i in range(len(group))]


def _held_changes(entries: list[tuple[int, _Job, CachedScan]]) -> list[tuple[str, str, int | None]]:
    """The members (of one library) served wholly by the cache that were planned with their latest version
    seen and have another now."""
    return latest_changes([job.member for _, job, _ in entries if job.member.verify_latest], one_by_one=0)


def _finish(job: _Job, scan: CachedScan, data: pa.Table | None) -> pa.Table:
    """A member's rows from its cached scan (``data``: ArcticDB's answer to its one read), filtered exactly."""
    table = scan.table(lambda call: data)
    scan.log_served(job.member.log, job.plan.date_range)
    if job.plan.residual:
        table = table.filter(arrow_filter(job.plan.residual, scan.fields))
    return table.select(list(job.columns))


def _as_of(member: ArcticSymbolSource):
    return None if member.verify_latest else member.read_as_of  # the latest is checked on reading


def _concat(tables: list[pa.Table], job: _Job) -> pa.Table:
    if not tables:
        return pa.table({n: pa.array([], job.member.schema.arrow.field(n).type) for n in job.columns})
    return pa.concat_tables(tables) if len(tables) > 1 else tables[0]


def _read_batch(jobs: list[_Job], calls: list[dict], changes: Sequence = ()) -> list[pa.Table]:
    """ArcticDB's raw output of ``calls`` (one per job), with one ``read_batch`` per library (parallel
    inside ArcticDB); each read recorded in its member's log. A member planned with its latest version seen
    that has another now, or one of ``changes`` (found by the caller): SymbolChanged naming them all, so that
    one new plan takes them all."""
    from arcticdb import ReadRequest

    out: list[pa.Table | None] = [None] * len(jobs)
    by_library: dict[str, list[int]] = {}
    for position, job in enumerate(jobs):
        by_library.setdefault(job.member.schema.library, []).append(position)
    changes = list(changes)
    answers = []
    for positions in by_library.values():
        requests = []
        for position in positions:
            member, call = jobs[position].member, calls[position]
            requests.append(ReadRequest(member.schema.symbol, as_of=_as_of(member), date_range=call.get("date_range"),
                                        row_range=call.get("row_range"), columns=call.get("columns"),
                                        query_builder=call.get("query_builder")))
        started = time.perf_counter()
        items = jobs[positions[0]].member.library.read_batch(requests, output_format="pyarrow")
        seconds = (time.perf_counter() - started) / max(1, len(items))
        changes += [change for position, item in zip(positions, items) if jobs[position].member.verify_latest
                    and (change := jobs[position].member.change(*version_of(item)))]
        answers.append((positions, items, seconds))
    if changes:
        raise SymbolChanged(changes)
    for positions, items, seconds in answers:
        for position, item in zip(positions, items):
            member = jobs[position].member
            if not hasattr(item, "data"):
                raise ProgrammingError(f"reading {_label(member)} failed: {item}")
            member.log_read(calls[position], item.data.num_rows, seconds, "read")
            out[position] = item.data
    return out  # type: ignore[return-value]


def _read_windows(jobs: list[_Job]) -> list[pa.Table]:
    """The rows each job's LIMIT needs, read in rounds: one batched read of every unfinished member's next
    window per round (see :mod:`arcticsql.sources.limits`); decoded, filtered and narrowed."""
    states = []
    for job in jobs:
        member = job.member
        chunk = member.schema.chunk_rows(member.chunk_bytes)
        shape = job.shape()
        expression = arrow_filter(job.plan.residual, shape) if job.plan.residual else None
        states.append((job, Windows(job.plan, member.schema, job.limit, chunk), shape, expression, []))
    while True:
        active, calls = [], []
        for state in states:
            window = state[1].next_call()
            if window is not None:
                active.append(state)
                calls.append({**state[0].call(), **window})
        if not active:
            break
        for (job, windows, shape, expression, tables), call, raw in zip(
                active, calls, _read_batch([state[0] for state in active], calls)):
            first_row = call["row_range"][0] if call.get("row_range") else 0
            table = job.member.decode(raw, shape, first_row)
            if expression is not None:
                table = table.filter(expression)
            windows.passed(table.num_rows)
            table = windows.trim(table)
            if table.num_rows:
                tables.append(table.select(list(job.columns)))
    return [_concat(tables[::-1] if job.limit.from_end else tables, job) for job, _, _, _, tables in states]


# -- assembling a group's rows --------------------------------------------------------------------------------
def _assemble(results: list[_Result], schema: pa.Schema, exact) -> Iterator[pa.Table]:
    """The group's rows in the union's shape (``schema``): members of one shape together, then the exact
    filter where a member's read did not answer it."""
    buckets: dict[tuple, list[_Result]] = {}
    for result in results:
        buckets.setdefault(_bucket(result), []).append(result)
    for bucket in buckets.values():
        table = _decode_bucket(bucket, schema)
        if exact is not None and not bucket[0].job.exact_in_read:
            table = table.filter(exact)
        if table.num_rows:
            yield table


def _bucket(result: _Result) -> tuple:
    """Results decoded together: raw ones of members sharing one declared schema object (built from one
    stored schema: their rows have equal types), read for the same columns and filters."""
    job = result.job
    schema = job.member.schema
    if not result.raw or schema.range_index is not None:
        return ("one", id(result))
    return (id(schema.arrow), job.columns, tuple(node_key(p) for p in job.plan.residual), job.exact_in_read,
            tuple(result.table.column_names))


def _decode_bucket(bucket: list[_Result], schema: pa.Schema) -> pa.Table:
    """The bucket's rows decoded (raw ones once, together), with their ``library`` and ``symbol``, in
    ``schema``'s shape."""
    first = bucket[0]
    members = [result.job.member for result in bucket]
    label = _label(members[0]) if len(members) == 1 else f"{_label(members[0])} (or another of {len(members)})"
    if not first.raw:
        table = first.table
        which = np.zeros(table.num_rows, dtype=np.int32)
    else:
        tables = [result.table for result in bucket]
        try:
            raw = pa.concat_tables(tables) if len(tables) > 1 else tables[0]
        except pa.ArrowInvalid:  # (types that differ after all: each on its own)
            return pa.concat_tables([_decode_bucket([result], schema) for result in bucket])
        job, member = first.job, first.job.member
        shape = job.shape()
        first_row = job.row_range[0] if job.row_range else 0  # a RangeIndex member is alone in its bucket
        try:
            table = member.decode(raw, shape, first_row)
        except IndexNotMicroseconds:
            for result in bucket:  # name the member whose index is finer than a microsecond
                result.job.member.decode(result.table, shape)
            raise
        which = np.repeat(np.arange(len(tables), dtype=np.int32), [t.num_rows for t in tables])
        if job.plan.residual:  # filtered with the members' positions alongside
            marked = table.append_column("__member", pa.array(which)).filter(arrow_filter(job.plan.residual, shape))
            which = marked.column("__member").to_numpy()
            table = marked.drop_columns(["__member"])
        table = table.select(list(job.columns))
    indices = pa.array(which, pa.int32())
    for name in KEY_COLUMNS:
        values = pa.array([getattr(m.schema, name) for m in members], pa.string())
        table = table.append_column(name, pa.DictionaryArray.from_arrays(indices, values).cast(pa.string()))
    return conform(table, schema, label)


def _group(jobs: Iterator[_Job], first: int) -> Iterator[list[_Job]]:
    """Consecutive jobs in groups of about ``_GROUP_BYTES``: the first of at most ``first`` members, each
    later one of up to four times as many, at most ``_GROUP_MAX``."""
    current: list[_Job] = []
    size, most = 0, first
    for job in jobs:
        estimate = job.bytes
        if current and (size + estimate > _GROUP_BYTES or len(current) >= most):
            yield current
            current, size, most = [], 0, min(_GROUP_MAX, most * 4)
        current.append(job)
        size += estimate
    if current:
        yield current
