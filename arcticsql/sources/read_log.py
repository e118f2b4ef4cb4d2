"""What scans asked of ArcticDB: one record per read, kept per session (tests prove pushdown with it)."""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass


@dataclass(frozen=True)
class ReadRecord:
    """One call made to ArcticDB by a scan."""

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
    #: scans are then served; "memory": a scan served from such a read (no ArcticDB call)
    kind: str = "read"


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
        """The records added since ``mark`` (those still kept)."""
        with self._lock:
            count = min(self._added - mark, len(self._records))
            return list(self._records)[len(self._records) - count:] if count > 0 else []

    def clear(self) -> None:
        with self._lock:
            self._records.clear()

    def records(self) -> list[ReadRecord]:
        with self._lock:
            return list(self._records)
