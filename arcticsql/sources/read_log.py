"""What scans asked of ArcticDB: one record per read, kept per session (tests prove pushdown with it)."""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass


@dataclass(frozen=True)
class ReadRecord:
    """One call made to ArcticDB by a scan, or (``cached``) what the session cache gave a scan instead:
    the columns and rows it served, and the date range the scan asked for."""

    library: str
    symbol: str
    version: int
    columns: tuple[str, ...] | None
    date_range: tuple | None
    row_range: tuple[int, int] | None
    query: str | None
    rows: int
    cached: bool = False


class ReadLog:
    """A bounded, thread-safe record of the reads scans made (newest last)."""

    def __init__(self, size: int = 10_000) -> None:
        self._records: deque[ReadRecord] = deque(maxlen=size)
        self._lock = threading.Lock()

    def add(self, record: ReadRecord) -> None:
        with self._lock:
            self._records.append(record)

    def clear(self) -> None:
        with self._lock:
            self._records.clear()

    def records(self) -> list[ReadRecord]:
        with self._lock:
            return list(self._records)

    def reads(self) -> list[ReadRecord]:
        """The calls made to ArcticDB (what the cache served left out)."""
        with self._lock:
            return [record for record in self._records if not record.cached]
