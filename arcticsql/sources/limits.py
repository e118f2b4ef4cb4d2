"""Reading only the rows a LIMIT needs: the first (or last) ``n`` rows of a symbol that pass a read plan.

A scan whose statement needs at most ``n`` rows in index order (see :mod:`arcticsql.sql.shape`) reads
*windows* from one end of the plan's range and stops once ``n`` rows have passed its filters:

- without a date range the windows are row ranges: ``(0, n)`` is ArcticDB's ``head``, ``(rows - n, rows)``
  its ``tail``, one read of the segments holding them;
- with a date range they are date ranges from its start (or end), as wide as the symbol's average density
  says ``n`` rows need (ArcticDB's ``date_range`` with a row limit after it would read every segment in the
  range: see docs/performance.md);
- a window that comes back short is followed by a wider one (x4 after an empty window, by the rows still
  missing otherwise), up to a scan chunk.

Each window is read with the plan's QueryBuilder and filtered exactly, so the rows are exactly the first
(last) ``n`` the plan keeps. Windows are disjoint and in index order, which is why the symbol must be sorted
when the statement orders by its index or reads a date range.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pandas as pd

from arcticsql.catalog.schema import SymbolSchema
from arcticsql.sources.plan import ReadPlan, columns_of
from arcticsql.sources.protocol import Node

_ONE_NS = pd.Timedelta(1, "ns")
#: Rows a first window holds at least when the plan filters (its selectivity is unknown).
_FILTERED_FIRST_ROWS = 4096


@dataclass(frozen=True)
class LimitHint:
    """A scan needs at most ``rows`` rows from the start (``from_end``: the end) of the symbol, provided
    DuckDB handed it a filter on each of ``where_columns`` (else DuckDB filters rows the scan cannot see)."""

    rows: int
    from_end: bool
    where_columns: frozenset[str]
    order: str | None = None   # the column the statement orders by (the table's index), if any

    def usable(self, filters: tuple[Node, ...] | list[Node]) -> bool:
        offered = {name.lower() for f in filters for name in columns_of(f)}
        return self.where_columns <= offered

    def describe(self) -> str:
        return f"{'last' if self.from_end else 'first'} {self.rows} rows"


class Windows:
    """The successive reads of a limited scan: call :meth:`next_call`, read it, tell :meth:`passed` how
    many rows passed the exact filter, until :meth:`next_call` returns None."""

    def __init__(self, plan: ReadPlan, schema: SymbolSchema, hint: LimitHint, chunk_rows: int) -> None:
        self.plan = plan
        self.schema = schema
        self.needed = hint.rows
        self.from_end = hint.from_end
        self.chunk_rows = max(1, chunk_rows)
        self.got = 0
        self.exact = not plan.residual and not plan.clauses
        first = self.needed if self.exact else max(self.needed * 4, _FILTERED_FIRST_ROWS)
        self.width_rows = min(self.chunk_rows, max(1, first))
        self.done = plan.empty or self.needed <= 0
        self.dates = plan.date_range is not None
        if self.dates:
            self._init_dates()
        else:
            self.low, self.high = 0, schema.row_count   # rows still unread: [low, high)
            self.done = self.done or self.high <= 0

    def _init_dates(self) -> None:
        schema, plan = self.schema, self.plan
        first, last = schema.first_index, schema.last_index
        if first is None or last is None or schema.row_count == 0:
            self.step = None  # no density known: one window, the whole range
            self.low, self.high = plan.start, plan.end
            return
        lo = first if plan.start is None else max(plan.start, _like(first, plan.start))
        hi = last if plan.end is None else min(plan.end, _like(last, plan.end))
        if lo > hi:
            self.done = True
            return
        self.low, self.high = lo, hi   # dates still unread: [low, high], inclusive
        self.step = (last - first) / max(schema.row_count - 1, 1)   # average time per row

    def next_call(self) -> dict | None:
        """Keyword arguments for the next read (``row_range`` or ``date_range``), or None when done."""
        if self.done or self.got >= self.needed:
            return None
        if not self.dates:
            width = min(self.width_rows, self.high - self.low)
            if width <= 0:
                return None
            if self.from_end:
                window = (self.high - width, self.high)
                self.high -= width
            else:
                window = (self.low, self.low + width)
                self.low += width
            self.done = self.low >= self.high
            return {"row_range": window}
        if self.step is None:
            self.done = True
            return {"date_range": (self.low, self.high)}
        span = max(self.step * self.width_rows, _ONE_NS)
        if self.from_end:
            start = self.high - span + _ONE_NS
            if start <= self.low:
                start = self.low
                self.done = True
            window = (start, self.high)
            self.high = start - _ONE_NS
        else:
            end = self.low + span - _ONE_NS
            if end >= self.high:
                end = self.high
                self.done = True
            window = (self.low, end)
            self.low = end + _ONE_NS
        if not self.done and (self.low > self.high):
            self.done = True
        return {"date_range": window}

    def passed(self, rows: int) -> None:
        """``rows`` rows of the last window passed the plan's filters: widen the next window if too few."""
        missing = self.needed - self.got
        self.got += rows
        if self.got >= self.needed:
            return
        if rows == 0:
            growth = 4.0
        else:
            growth = min(4.0, max(1.0, (missing - rows) / rows * 1.5))
        self.width_rows = min(self.chunk_rows, max(1, int(self.width_rows * growth)))

    def trim(self, table):
        """The rows of the last window that are still needed (the first ones, or the last from the end)."""
        keep = self.needed - (self.got - table.num_rows)
        if keep >= table.num_rows:
            return table
        return table.slice(table.num_rows - keep) if self.from_end else table.slice(0, keep)


def _like(bound: pd.Timestamp, other: pd.Timestamp) -> pd.Timestamp:
    """``bound`` comparable with ``other`` (both zoned or both naive)."""
    if other.tzinfo is not None and bound.tzinfo is None:
        return bound.tz_localize("UTC").tz_convert(other.tzinfo)
    if other.tzinfo is None and bound.tzinfo is not None:
        return bound.tz_convert("UTC").tz_localize(None)
    return bound


def limited(windows: Windows, read) -> Iterator:
    """The tables ``read(call)`` gives for each window (``read`` returns exactly the rows that pass), trimmed
    to the rows needed; tables come in reading order (index order, or backwards from the end)."""
    while True:
        call = windows.next_call()
        if call is None:
            return
        table = read(call)
        windows.passed(table.num_rows)
        table = windows.trim(table)
        if table.num_rows:
            yield table
