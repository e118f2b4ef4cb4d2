"""How many of a symbol version's data segments a read touches (for EXPLAIN ANALYZE).

ArcticDB stores a version as segments of rows x columns (100,000 rows and 127 columns by default) and
publishes no count of the segments a read fetched on local stores (its query statistics cover S3 and memory
only). The version's index key lists them: each segment's rows, first and last timestamp and columns. It is read
through :func:`arcticsql.arcticdb_private.segment_table` (ArcticDB's private API, fenced there);
``tests/test_segments.py`` checks the counts against ArcticDB's own statistics, and fails loudly if an
ArcticDB upgrade changes the call.

A read fetches every segment overlapping its row or date range (its QueryBuilder filters rows out of those,
and a row limit after a date range saves nothing) in each column slice holding a column it reads.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np
import pandas as pd

from arcticsql.arcticdb_private import segment_table


@dataclass(frozen=True)
class Segments:
    """The segment table of one symbol version."""

    start_row: np.ndarray
    end_row: np.ndarray          # exclusive
    start_index: np.ndarray      # int64 nanoseconds
    end_index: np.ndarray        # int64 nanoseconds, exclusive (last value + 1 ns)
    start_col: np.ndarray
    end_col: np.ndarray          # exclusive

    @property
    def total(self) -> int:
        return len(self.start_row)

    def touched(self, row_range: tuple | None, date_range: tuple | None, columns: list[int] | None) -> int:
        """Segments a read of ``row_range`` or ``date_range`` (inclusive bounds, None for open) of the
        stored columns at positions ``columns`` (None: all; [] the index only) fetches."""
        keep = np.ones(self.total, dtype=bool)
        if row_range is not None:
            start, end = row_range
            if start is not None:
                keep &= self.end_row > start
            if end is not None:
                keep &= self.start_row < end
        if date_range is not None:
            start, end = date_range
            if start is not None:
                keep &= self.end_index > _nanoseconds(start)
            if end is not None:
                keep &= self.start_index <= _nanoseconds(end)
        if columns is not None and self.total:
            wanted = columns or [int(self.start_col.min())]  # the index alone: one slice per row slice
            holds = np.zeros(self.total, dtype=bool)
            for position in wanted:
                holds |= (self.start_col <= position) & (self.end_col > position)
            keep &= holds
        return int(keep.sum())


def column_positions(schema, stored: tuple[str, ...] | None) -> list[int] | None:
    """Positions in the segment table of the stored columns ``stored`` of a
    :class:`~arcticsql.catalog.schema.SymbolSchema` (as ArcticDB orders its output: index levels, then
    values); None for all."""
    if stored is None:
        return None
    order = [schema.stored_names[name] for name in schema.names if name in schema.stored_names]
    wanted = set(stored)
    return [position for position, name in enumerate(order) if name in wanted]


def _nanoseconds(value) -> int:
    return pd.Timestamp(value).value


_CACHE: OrderedDict[tuple, Segments] = OrderedDict()
_LOCK = threading.Lock()


def segments(library, library_name: str, symbol: str, version: int) -> Segments:
    """The segment table of ``symbol`` at ``version`` in ``library`` (an ``arcticdb.Library``); kept for
    the process, since a version never changes."""
    key = (library_name, symbol, version)
    with _LOCK:
        found = _CACHE.get(key)
    if found is not None:
        return found
    index = segment_table(library, symbol, version)
    starts = index.index
    start_index = starts.asi8 if isinstance(starts, pd.DatetimeIndex) else np.zeros(len(index), dtype=np.int64)
    end_index = index["end_index"]
    found = Segments(
        start_row=index["start_row"].to_numpy(dtype=np.int64),
        end_row=index["end_row"].to_numpy(dtype=np.int64),
        start_index=np.asarray(start_index, dtype=np.int64),
        end_index=pd.DatetimeIndex(end_index).asi8 if len(index) else np.zeros(0, dtype=np.int64),
        start_col=index["start_col"].to_numpy(dtype=np.int64),
        end_col=index["end_col"].to_numpy(dtype=np.int64),
    )
    with _LOCK:
        _CACHE[key] = found
        while len(_CACHE) > 4096:
            _CACHE.popitem(last=False)
    return found
