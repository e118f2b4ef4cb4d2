"""What scans asked of ArcticDB: one record per read, kept per session (tests prove pushdown with it), and
what was served instead: the rows of a wildcard's planning read, or the session cache's columns.

A statement's own records (for EXPLAIN ANALYZE, say) are those added between a :meth:`ReadLog.mark` taken
before it runs and the end: ``log.since(mark)``.
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass


@dataclass(frozen=True)
class ReadRecord:
    """One call made to ArcticDB by a scan, or what a scan was given instead (see ``kind``): for the session
    cache, the columns and rows it served and the date range the scan asked for."""

    library: str
    symbol: str
    version: int
    columns: tuple[str, ...] | None
    date_range: tuple | None
    row_range: tuple[int, int] | None
    query: str | None
    rows: int
    seconds: float = 0.0     # time spent in ArcticDB
    #: "read": a scan's read; "plan": a read made while planning (a wildcard's first rows), whose rows
    #: scans are then served; "memory": a scan served from such a read, "cache": one served by the session
    #: cache (neither calls ArcticDB)
    kind: str = "read"

    @property
    def cached(self) -> bool:
        """Served by the session cache."""
        return self.kind == "cache"

    @property
    def called_arcticdb(self) -> bool:
        return self.kind in ("read", "plan")


class ReadLog:
    """A bounded, thread-safe record of the reads scans made (newest last)."""

    def __init__(self, size: int = 10_000) -> None:
        self._records: deque[ReadRecord] = deque(maxlen=size)
        self._lock = threading.Lock()
        self._added = 0

    def add(self, record: ReadRecord) -> None:
        with self._lock:
            self._records.append(record)
            self._added += 1

    def mark(self) -> int:
        """A position: :meth:`since` gives the records added after it."""
        with self._lock:
            return self._added

    def since(self, mark: int) -> list[ReadRecord]:
        """The records added after ``mark`` (as many as the log still holds), oldest first."""
        with self._lock:
            count = min(self._added - mark, len(self._records))
            return list(self._records)[len(self._records) - count:] if count > 0 else []

    def clear(self) -> None:
        with self._lock:
            self._records.clear()

    def records(self) -> list[ReadRecord]:
        with self._lock:
            return list(self._records)

    def reads(self) -> list[ReadRecord]:
        """The calls made to ArcticDB (what the cache or a planning read served left out)."""
        with self._lock:
            return [record for record in self._records if record.called_arcticdb]
