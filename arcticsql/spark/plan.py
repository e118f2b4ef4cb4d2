"""Planning a Spark read of ArcticDB: the symbol versions read, the filters Spark pushes, and the partitions.

**Members.** A table is one or more pinned symbol versions (a wildcard's members), each described by a
:class:`Member`: what the driver learned from the catalog (names, types, index, row count, first and last
index value), small enough to travel in the data source's options and in every partition.

**Filters** (:func:`push_filters`). Spark hands the reader a list of conjuncts; each becomes, per member:

- on the timestamp index (``=``, ``<``, ``<=``, ``>``, ``>=``): a ``date_range``, exact to the nanosecond
  (strict bounds one nanosecond inside), which also prunes partitions;
- on ``library``/``symbol`` of a wildcard: members left out before anything is read;
- on a column the member lacks (NULL on all its rows): the member left out, or the filter dropped, by what
  the filter says of NULL;
- on a value column, a ``QueryBuilder`` clause where ArcticDB's answer is exactly Spark's: ``=``, ``IN``
  and comparisons of integers, ``=`` and ``IN`` of strings and booleans, and comparisons of doubles when NaN
  reads as NULL (ArcticDB's NaN fails every comparison, as Spark's NULL does; with raw NaN, Spark orders
  NaN above every number, so nothing on doubles is pushed then).

A filter answered exactly for every member is kept by the reader; any other is returned to Spark, which
applies it to the rows read (a clause still narrows the members it is exact for).

**Partitions** (:func:`partitions`). A member is read in pieces of about ``rows_per_partition`` rows: row
ranges when unfiltered, date slices (estimated from its row density) inside its date bounds otherwise, so a
date filter reads, and schedules, only the part of each symbol it keeps; a member whose bounds miss its
first..last index is not read at all. Small pieces (a wildcard's many small symbols) share a partition.
"""

from __future__ import annotations

import datetime
import json
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from pyspark.sql.datasource import (
    EqualNullSafe,
    EqualTo,
    Filter,
    GreaterThan,
    GreaterThanOrEqual,
    In,
    InputPartition,
    IsNotNull,
    IsNull,
    LessThan,
    LessThanOrEqual,
    Not,
    StringContains,
    StringEndsWith,
    StringStartsWith,
)

from arcticsql.catalog.schema import SymbolSchema
from arcticsql.sources.plan import ValueClause, tightened

#: The columns a wildcard table starts with.
KEY_COLUMNS = ("library", "symbol")
#: Rows a partition aims at; a member larger than this is read by several tasks.
ROWS_PER_PARTITION = 1_000_000
#: Pieces (symbols, mostly) one partition may hold.
PIECES_PER_PARTITION = 64

_COMPARISONS = {EqualTo: "=", GreaterThan: ">", GreaterThanOrEqual: ">=", LessThan: "<", LessThanOrEqual: "<="}
_ONE_NS = 1  # bounds here are int nanoseconds


@dataclass(frozen=True)
class Member:
    """One pinned symbol version of a table, as the reader needs it."""

    library: str
    symbol: str
    version: int
    rows: int
    stored: dict[str, str]              # declared column -> ArcticDB Arrow column
    kinds: dict[str, str]               # declared column -> int | float | float32 | string | bool | time | other
    index_columns: tuple[str, ...] = () # declared names of the index levels
    date_index: str | None = None       # declared name of a timestamp index usable for date_range
    zone: str | None = None             # the date index's time zone (None: naive)
    range_index: tuple[int, int] | None = None  # (start, step) of a RangeIndex, synthesised as ``index``
    first: int | None = None            # first and last date index values, nanoseconds
    last: int | None = None

    @classmethod
    def of(cls, schema: SymbolSchema) -> Member:
        first, last = (_ns(schema.first_index), _ns(schema.last_index)) if schema.date_index else (None, None)
        zone = schema.arrow.field(schema.date_index).type.tz if schema.date_index else None
        return cls(schema.library, schema.symbol, schema.version, schema.row_count, dict(schema.stored_names),
                   {f.name: _kind(f.type) for f in schema.arrow}, tuple(schema.index_columns),
                   None if schema.index_unsorted else schema.date_index, zone,  # rows out of order: no date_range
                   tuple(schema.range_index) if schema.range_index is not None else None, first, last)

    @property
    def label(self) -> str:
        return f"{self.library}/{self.symbol}"

    def has(self, column: str) -> bool:
        return column in self.stored or (self.range_index is not None and column == "index")

    def bound(self, ns: int | None) -> pd.Timestamp | None:
        """A date bound as ArcticDB's ``date_range`` takes it for this member's index."""
        if ns is None:
            return None
        return pd.Timestamp(ns, tz="UTC").tz_convert(self.zone) if self.zone else pd.Timestamp(ns)


def members_to_json(members: Sequence[Member]) -> str:
    return json.dumps([[m.library, m.symbol, m.version, m.rows, m.stored, m.kinds, m.index_columns, m.date_index,
                        m.zone, m.range_index, m.first, m.last] for m in members], separators=(",", ":"))


def members_from_json(text: str) -> list[Member]:
    out = []
    for (library, symbol, version, rows, stored, kinds, index_columns, date_index, zone, range_index, first,
         last) in json.loads(text):
        out.append(Member(library, symbol, int(version), int(rows), stored, kinds, tuple(index_columns), date_index,
                          zone, tuple(range_index) if range_index is not None else None, first, last))
    return out


def _ns(value) -> int | None:
    if value is None or pd.isna(value):
        return None
    return int(pd.Timestamp(value).value)


def _kind(kind: pa.DataType) -> str:
    if pa.types.is_boolean(kind):
        return "bool"
    if pa.types.is_integer(kind):
        return "int"
    if pa.types.is_float64(kind):
        return "float"
    if pa.types.is_floating(kind):
        return "float32"
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        return "string"
    if pa.types.is_timestamp(kind):
        return "time"
    return "other"


@dataclass(frozen=True)
class MemberPlan:
    """How one member is read: left out (``empty``), date bounds (inclusive, nanoseconds), clauses."""

    empty: bool = False
    start: int | None = None
    end: int | None = None
    clauses: tuple[ValueClause, ...] = ()


# -- filters ---------------------------------------------------------------------------------------------------
def filter_expression(item: Filter, names: dict[str, str] | None = None) -> pc.Expression | None:
    """A Spark filter as a pyarrow expression with Spark's meaning, or None when it has no exact one.
    ``names`` maps lower-cased column names to the names of the table it is evaluated on."""
    column = _column(item, names)
    if column is None:
        return None
    field = pc.field(column)
    if isinstance(item, Not):
        inner = filter_expression(item.child, names)
        return None if inner is None else ~inner
    if isinstance(item, IsNull):
        return field.is_null()
    if isinstance(item, IsNotNull):
        return field.is_valid()
    value = getattr(item, "value", None)
    if isinstance(item, EqualNullSafe):
        return field.is_null() if value is None else (field == value) & field.is_valid()
    if value is None:
        return None
    if isinstance(item, In):
        values = list(value)
        if any(v is None for v in values):
            return None
        return field.isin(values)
    operator = _COMPARISONS.get(type(item))
    if operator is not None:
        return {"=": field == value, ">": field > value, ">=": field >= value, "<": field < value,
                "<=": field <= value}[operator]
    if isinstance(item, StringStartsWith):
        return pc.starts_with(field, pattern=value)
    if isinstance(item, StringEndsWith):
        return pc.ends_with(field, pattern=value)
    if isinstance(item, StringContains):
        return pc.match_substring(field, pattern=value)
    return None


def filter_column(item: Filter) -> str:
    """The one column a filter reads ('' for a nested field)."""
    return _column(item, None) or ""


def _column(item: Filter, names: dict[str, str] | None) -> str | None:
    if isinstance(item, Not):
        return _column(item.child, names)
    attribute = getattr(item, "attribute", ())
    if len(attribute) != 1:
        return None
    name = attribute[0]
    return (names or {}).get(name.lower(), name) if names is not None else name


@dataclass
class Pushdown:
    """What the reader does with Spark's filters: a plan per member, and the filters it answers exactly
    (kept; every other one goes back to Spark)."""

    plans: list[MemberPlan]
    kept: list[Filter] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # what was pushed, for the read log


def push_filters(filters: Iterable[Filter], members: Sequence[Member], schema_types: dict[str, pa.DataType],
                 *, wildcard: bool, nan_is_null: bool) -> Pushdown:
    """Plans for ``members`` under Spark's conjuncts ``filters``; ``schema_types``: the table's declared
    columns (every one, not only those read) and their Arrow types."""
    names = {name.lower(): name for name in schema_types}
    plans = [MemberPlan() for _ in members]
    pushed = Pushdown(plans)
    keys = pa.table({"library": [m.library for m in members], "symbol": [m.symbol for m in members]})
    for item in filters:
        column = _column(item, names)
        if column is None or column not in schema_types:
            continue
        if wildcard and column in KEY_COLUMNS:
            expression = filter_expression(item, names)
            if expression is None:
                continue
            keep = keys.filter(expression)
            kept = set(zip(keep.column("library").to_pylist(), keep.column("symbol").to_pylist()))
            for position, member in enumerate(members):
                if (member.library, member.symbol) not in kept:
                    plans[position] = replace(plans[position], empty=True)
            pushed.kept.append(item)
            pushed.notes.append("kept " + repr(item))
            continue
        exact = True
        for position, member in enumerate(members):
            plan = plans[position]
            if plan.empty:
                continue
            outcome = _push_one(item, column, member, schema_types[column], plan, nan_is_null)
            if outcome is None:
                exact = False
            else:
                plans[position] = outcome
        if exact:
            pushed.kept.append(item)
        pushed.notes.append(("kept " if exact else "returned ") + repr(item))
    return pushed


def _push_one(item: Filter, column: str, member: Member, declared: pa.DataType, plan: MemberPlan,
              nan_is_null: bool) -> MemberPlan | None:
    """``plan`` narrowed by ``item`` for one member, or None when the member's read cannot answer it exactly."""
    if not member.has(column):
        # NULL on every row of this member: the filter keeps all of them or none
        expression = filter_expression(item, {column.lower(): column})
        if expression is None:
            return None
        nulls = pa.table({column: pa.nulls(1, declared)})
        try:
            keeps = nulls.filter(expression).num_rows == 1
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
            return None
        return plan if keeps else replace(plan, empty=True)
    if member.range_index is not None:
        return None  # a clause would renumber the synthesised row numbers
    kind = member.kinds.get(column, "other")
    if isinstance(item, IsNotNull) and (column == member.date_index or kind in ("int", "bool")):
        return plan  # never missing in ArcticDB
    if column == member.date_index:
        return _date_bounds(item, plan)
    clause = _clause(item, member.stored[column], kind, nan_is_null)
    if clause is None:
        return None
    return replace(plan, clauses=(*plan.clauses, clause))


def _date_bounds(item: Filter, plan: MemberPlan) -> MemberPlan | None:
    operator = _COMPARISONS.get(type(item))
    value = getattr(item, "value", None)
    if operator is None or not isinstance(value, datetime.datetime):
        return None
    stamp = pd.Timestamp(value)
    if stamp.tzinfo is not None:
        stamp = stamp.tz_convert("UTC").tz_localize(None)
    start, end = tightened(plan.start, plan.end, operator, int(stamp.value), _ONE_NS)
    empty = plan.empty or (start is not None and end is not None and start > end)
    return replace(plan, start=start, end=end, empty=empty)


def _clause(item: Filter, stored: str, kind: str, nan_is_null: bool) -> ValueClause | None:
    """A QueryBuilder clause with exactly Spark's answer, or None."""
    value = getattr(item, "value", None)

    def fits(v) -> bool:
        if kind == "int":
            return isinstance(v, int) and not isinstance(v, bool)
        if kind == "float":
            return nan_is_null and isinstance(v, float) and not math.isnan(v)
        if kind == "string":
            return isinstance(v, str)
        if kind == "bool":
            return isinstance(v, bool)
        return False

    if isinstance(item, In):
        values = list(value or ())
        if values and kind != "bool" and all(fits(v) for v in values):
            return ValueClause(stored, "isin", tuple(values))
        return None
    operator = _COMPARISONS.get(type(item))
    if operator is None or not fits(value):
        return None
    if kind in ("string", "bool") and operator != "=":
        return None  # ArcticDB does not order strings
    return ValueClause(stored, operator, value)


# -- partitions ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Piece:
    """One ArcticDB read range of one member: rows [first, last) or dates [start, end] (nanoseconds)."""

    member: Member
    clauses: tuple[ValueClause, ...] = ()
    row_range: tuple[int, int] | None = None
    date_range: tuple[int | None, int | None] | None = None
    expected_rows: int = 0


class ArcticPartition(InputPartition):
    """The pieces one Spark task reads, in order."""

    def __init__(self, pieces: Sequence[Piece]) -> None:
        super().__init__(len(pieces))
        self.pieces = tuple(pieces)

    def __repr__(self) -> str:
        return f"ArcticPartition({', '.join(p.member.label for p in self.pieces[:3])}{'...' if len(self.pieces) > 3 else ''})"


def pieces(member: Member, plan: MemberPlan, rows_per_partition: int) -> list[Piece]:
    """The pieces of one member under its plan (none when the plan excludes it)."""
    if plan.empty or member.rows == 0:
        return []
    clauses = tuple(plan.clauses)
    if plan.start is None and plan.end is None:
        count = max(1, math.ceil(member.rows / rows_per_partition))
        if count == 1:
            return [Piece(member, clauses, None, None, member.rows)]
        step = math.ceil(member.rows / count)
        return [Piece(member, clauses, (first, min(member.rows, first + step)), None, min(step, member.rows - first))
                for first in range(0, member.rows, step)]
    start, end = plan.start, plan.end
    if member.first is None or member.last is None:
        return [Piece(member, clauses, None, (start, end), member.rows)]
    low = member.first if start is None else max(start, member.first)
    high = member.last if end is None else min(end, member.last)
    if low > high:
        return []  # the bounds miss the symbol's dates: nothing to read
    span = max(1, member.last - member.first)
    expected = max(1, round(member.rows * (high - low + 1) / (span + 1)))
    count = max(1, min(math.ceil(expected / rows_per_partition), high - low + 1))
    if count == 1:
        return [Piece(member, clauses, None, (low, high), expected)]
    edges = [low + (high - low + 1) * i // count for i in range(count)] + [high + 1]
    return [Piece(member, clauses, None, (edges[i], edges[i + 1] - 1), math.ceil(expected / count))
            for i in range(count) if edges[i] <= edges[i + 1] - 1]


def partitions(members: Sequence[Member], plans: Sequence[MemberPlan], rows_per_partition: int = ROWS_PER_PARTITION,
               pieces_per_partition: int = PIECES_PER_PARTITION) -> list[ArcticPartition]:
    """The members' pieces as partitions: a large piece alone, small ones together up to about
    ``rows_per_partition`` rows (or ``pieces_per_partition`` pieces)."""
    out: list[ArcticPartition] = []
    current: list[Piece] = []
    size = 0
    for member, plan in zip(members, plans, strict=True):
        for piece in pieces(member, plan, rows_per_partition):
            if current and (size + piece.expected_rows > rows_per_partition or len(current) >= pieces_per_partition):
                out.append(ArcticPartition(current))
                current, size = [], 0
            current.append(piece)
            size += piece.expected_rows
    if current:
        out.append(ArcticPartition(current))
    return out


def read_calls(piece: Piece, chunk_rows: int) -> Iterable[dict]:
    """Keyword arguments of the ArcticDB reads of one piece (a large row range in chunks, for bounded
    memory; a date slice is already about a partition's size)."""
    member = piece.member
    if piece.date_range is not None:
        start, end = piece.date_range
        yield {"date_range": (member.bound(start), member.bound(end)), "first_row": 0}
        return
    if piece.row_range is None:
        if member.rows <= chunk_rows:
            yield {"first_row": 0}
            return
        first, last = 0, member.rows
    else:
        first, last = piece.row_range
    for start in range(first, last, chunk_rows):
        yield {"row_range": (start, min(last, start + chunk_rows)), "first_row": start}


#: A function that reports what a read asked for (tests prove pushdown with it).
ReadReporter = Callable[[dict], None]
