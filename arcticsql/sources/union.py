"""A wildcard reference (``"prices_*/AAPL"``, ``"prices_1min/*"``) as one lazy table.

The relation is ``UNION ALL BY NAME`` of the matching symbol versions, with ``library`` and ``symbol``
columns first: columns missing from a symbol are NULL, differing numeric types are promoted, and types that
cannot be unified are an error naming two symbols that disagree.

Pushdown: filters on ``library``/``symbol`` prune members before anything is read; every other accepted
filter is pushed into each member's read (date range, QueryBuilder) where it applies to that member's own
columns, and is then applied exactly to the unioned rows unless the member's read already answered it
exactly. Members are read with ArcticDB's batched reads in groups, one group read ahead on a worker thread,
so many small symbols load in parallel while memory holds at most two groups (a member larger than a scan
chunk streams on its own).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future
from dataclasses import dataclass

import pyarrow as pa

from arcticsql.conform import conform, union_schema
from arcticsql.errors import ProgrammingError, SymbolChanged
from arcticsql.sources.cached_scan import CachedScan, cached_scan, latest_changes, version_of
from arcticsql.sources.plan import ReadPlan, arrow_filter, columns_of, plan_read, query_builder, translatable
from arcticsql.sources.protocol import Node, ScanSource, export_batches
from arcticsql.sources.read_log import ReadRecord
from arcticsql.sources.symbol import ArcticSymbolSource

#: The columns every union starts with.
KEY_COLUMNS = ("library", "symbol")
#: Bytes a batched group of members may hold at once (two groups are in flight).
_GROUP_BYTES = 64 * 1024 * 1024
_GROUP_MAX = 512


def wildcard_schema(members: Sequence[ArcticSymbolSource]) -> pa.Schema:
    """``library``, ``symbol``, then every member column by name in first-seen order, types unified."""
    for member in members:
        clash = [name for name in KEY_COLUMNS if name in member.schema.names]
        if clash:
            raise ProgrammingError(f"{_label(member)} has a column named {clash[0]!r}, which a wildcard table "
                                   "uses for the member's name; query it by its exact name")
    values = union_schema((_label(m), m.schema.arrow) for m in members)
    return pa.schema([pa.field("library", pa.string()), pa.field("symbol", pa.string()), *values])


def _label(member: ArcticSymbolSource) -> str:
    return f"{member.schema.library}/{member.schema.symbol}"


_SCHEMAS: OrderedDict[tuple, pa.Schema] = OrderedDict()


def _cached_union_schema(members: Sequence[ArcticSymbolSource]) -> pa.Schema:
    """``wildcard_schema``, remembered by the members' (library, symbol, version) keys: versions never change."""
    key = tuple(m.key for m in members)
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
                 progress: Callable[[int, int, str], None] | None = None, label: str = "") -> None:
        super().__init__()
        self.members = members
        self.arrow = _cached_union_schema(members)
        self.executor = executor
        self.progress = progress
        self.label = label
        self._keys = pa.table({"library": [m.schema.library for m in members],
                               "symbol": [m.schema.symbol for m in members]})

    @property
    def key(self) -> tuple:
        return ("union", tuple(m.key for m in self.members))

    # -- protocol -------------------------------------------------------------------------------------
    def __arrow_c_schema__(self) -> object:
        return self.arrow.__arrow_c_schema__()

    def rows(self) -> int | None:
        return sum(m.schema.row_count for m in self.members)

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

    def batches(self, wanted: list[str], filters: tuple[Node, ...]) -> Iterator[pa.RecordBatch]:
        members = self.selected(filters)
        value_filters = tuple(f for f in filters if not columns_of(f) <= set(KEY_COLUMNS))
        needed = set(wanted).union(*(columns_of(f) for f in value_filters))
        read_schema = pa.schema([f for f in self.arrow if f.name in needed])
        exact = arrow_filter(value_filters, read_schema) if value_filters else None
        planner = _Planner(value_filters, needed)
        jobs = [planner.job(m) for m in members]
        done = 0
        for results in self._read_groups(jobs):
            # One table per group: DuckDB then takes a few large batches instead of one per symbol.
            unfiltered = [_conform(t, job.member, read_schema) for job, t in results if job.exact_in_read]
            filtered = [_conform(t, job.member, read_schema) for job, t in results if not job.exact_in_read]
            for tables, apply in ((unfiltered, False), (filtered, exact is not None)):
                tables = [t for t in tables if t.num_rows]
                if not tables:
                    continue
                table = pa.concat_tables(tables) if len(tables) > 1 else tables[0]
                if apply:
                    table = table.filter(exact)
                if table.num_rows:
                    yield from table.select(wanted).combine_chunks().to_batches()
            done += len(results)
            if self.progress is not None:
                self.progress(done, len(jobs), self.label)

    def _read_groups(self, jobs: list[_Job]) -> Iterator[list[tuple[_Job, pa.Table]]]:
        """Groups of (job, member table), the next group read ahead on a worker thread."""
        groups = _group(jobs)
        pending: Future | None = None
        for position, group in enumerate(groups):
            results = pending.result() if pending is not None else _read_group(group)
            pending = None
            if self.executor is not None and position + 1 < len(groups):
                pending = self.executor.submit(_read_group, groups[position + 1])
            yield results


@dataclass(frozen=True)
class _Job:
    """How one member is read: its plan, the columns wanted of it, and whether the plan is exact."""

    member: ArcticSymbolSource
    plan: ReadPlan
    columns: tuple[str, ...]
    exact_in_read: bool

    @property
    def bytes(self) -> int:
        return self.member.schema.row_count * self.member.schema.row_bytes

    @property
    def needed(self) -> set[str]:
        """The member columns its read needs: those wanted and those the exact filter reads."""
        return set(self.columns) | set(self.plan.residual_columns)


class _Planner:
    """Makes each member's job; members with equal schemas (the usual case) share one translation."""

    def __init__(self, value_filters: tuple[Node, ...], needed: set[str]) -> None:
        self.value_filters = value_filters
        self.needed = needed
        self._by_shape: dict[tuple, tuple[tuple[Node, ...], tuple[str, ...]]] = {}

    def job(self, member: ArcticSymbolSource) -> _Job:
        schema = member.schema
        shape = (schema.arrow, schema.date_index, schema.value_columns, schema.range_index is None)
        known = self._by_shape.get(shape)
        if known is None:
            # A filter is pushed into a member only if it reads its own columns at their own types.
            own = tuple(f for f in self.value_filters if translatable(f, schema.arrow))
            known = (own, tuple(n for n in schema.names if n in self.needed))
            self._by_shape[shape] = known
        own, columns = known
        return _Job(member, plan_read(own, schema), columns, len(own) == len(self.value_filters))


def _read_group(group: list[_Job]) -> list[tuple[_Job, pa.Table]]:
    if len(group) == 1 or group[0].bytes > _GROUP_BYTES:
        return [(job, job.member.read_table(list(job.columns), job.plan)) for job in group]
    return _read_batch(group)


def _read_batch(group: list[_Job]) -> list[tuple[_Job, pa.Table]]:
    """One ArcticDB ``read_batch`` per library for the group's members (parallel inside ArcticDB); members the
    session cache holds wholly are not read (their versions are checked with one metadata batch when only the
    latest seen), and a member it holds in part is read for the rest on its own."""
    out: dict[int, tuple[_Job, pa.Table]] = {}
    to_read: dict[str, list[tuple[int, _Job, CachedScan | None]]] = {}
    held: dict[str, list[tuple[int, _Job, CachedScan]]] = {}
    for position, job in enumerate(group):
        scan = None if job.plan.empty else cached_scan(job.member, job.plan, job.needed)
        library = job.member.schema.library
        if job.plan.empty or (scan is not None and len(scan.calls) > 1):
            out[position] = (job, job.member.read_table(list(job.columns), job.plan, scan))
        elif scan is not None and scan.complete:
            held.setdefault(library, []).append((position, job, scan))
        else:
            to_read.setdefault(library, []).append((position, job, scan))
    changes = [change for entries in held.values() for change in _held_changes(entries)]
    answers = []
    for entries in to_read.values():
        items = entries[0][1].member.library.read_batch([_request(job, scan) for _, job, scan in entries],
                                                       output_format="pyarrow")
        changes += [change for (_, job, _), item in zip(entries, items) if job.member.verify_latest
                    and (change := job.member.change(*version_of(item)))]
        answers.append((entries, items))
    if changes:  # every member of the group that changed, so that one new plan takes them all
        raise SymbolChanged(changes)
    for entries in held.values():
        for position, job, scan in entries:
            out[position] = (job, _finish(job, scan, None))
    for entries, items in answers:
        for (position, job, scan), item in zip(entries, items):
            member = job.member
            if not hasattr(item, "data"):
                raise ProgrammingError(f"reading {member.schema.library}/{member.schema.symbol} failed: {item}")
            if member.log is not None:
                member.log.add(_record(job, scan, item.data.num_rows))
            if scan is not None:
                out[position] = (job, _finish(job, scan, item.data))
                continue
            shape = pa.schema([f for f in member.schema.arrow if f.name in job.needed])
            table = member.decode(item.data, shape)
            if job.plan.residual:
                table = table.filter(arrow_filter(job.plan.residual, shape))
            out[position] = (job, table.select(list(job.columns)))
    return [out[i] for i in range(len(group))]


def _request(job: _Job, scan: CachedScan | None):
    """The ``read_batch`` request for a member: the one read its cached scan lacks, or its whole plan."""
    from arcticdb import ReadRequest

    member = job.member
    schema = member.schema
    as_of = None if member.verify_latest else member.read_as_of  # the latest is checked after the read
    if scan is not None:
        call = scan.calls[0]
        return ReadRequest(schema.symbol, as_of=as_of, date_range=call.get("date_range"),
                           row_range=call.get("row_range"), columns=call["columns"])
    return ReadRequest(schema.symbol, as_of=as_of, date_range=job.plan.date_range,
                       columns=member.stored_columns(job.needed), query_builder=query_builder(job.plan))


def _record(job: _Job, scan: CachedScan | None, rows: int) -> ReadRecord:
    """The read log's record of a member's batched read."""
    schema = job.member.schema
    if scan is None:
        columns = tuple(c for c in schema.names if c in schema.value_columns and c in job.needed)
        query = str(query_builder(job.plan)) if job.plan.clauses else None
        return ReadRecord(schema.library, schema.symbol, schema.version, columns, job.plan.date_range, None,
                          query, rows)
    call = scan.calls[0]
    columns = tuple(c for c in schema.value_columns if schema.stored_names[c] in call["columns"])
    return ReadRecord(schema.library, schema.symbol, schema.version, columns, call.get("date_range"),
                      call.get("row_range"), None, rows)


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


def _group(jobs: list[_Job]) -> list[list[_Job]]:
    """Consecutive jobs in groups of at most ``_GROUP_MAX`` members and about ``_GROUP_BYTES``."""
    groups: list[list[_Job]] = []
    current: list[_Job] = []
    size = 0
    for job in jobs:
        estimate = job.bytes
        if current and (size + estimate > _GROUP_BYTES or len(current) >= _GROUP_MAX):
            groups.append(current)
            current, size = [], 0
        current.append(job)
        size += estimate
    if current:
        groups.append(current)
    return groups


def _conform(table: pa.Table, member: ArcticSymbolSource, schema: pa.Schema) -> pa.Table:
    """A member's rows in the union's shape: key columns filled, missing columns NULL, types promoted."""
    return conform(table, schema, _label(member),
                   {"library": member.schema.library, "symbol": member.schema.symbol})
