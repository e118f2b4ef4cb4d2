"""Running one statement so that Ctrl-C cancels it, with a progress line for long ones.

The statement (and the fetching of its rows) runs in a worker thread; the main thread waits, polling the
cursor's progress. A ``KeyboardInterrupt`` in the main thread interrupts the cursor and raises
:class:`Cancelled` once the worker has stopped, so the connection stays usable.
"""

from __future__ import annotations

import threading
import time
import warnings
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import IO, TypeVar

import pyarrow as pa

T = TypeVar("T")

#: Rows fetched per call when streaming a result.
CHUNK_ROWS = 10_000


class Cancelled(Exception):
    """The user cancelled the running statement (Ctrl-C)."""


def run_cancellable(cursor, work: Callable[[threading.Event], T], progress: ProgressLine | None = None) -> T:
    """``work(cancel)`` in a worker thread; Ctrl-C interrupts ``cursor`` and raises :class:`Cancelled`.

    ``work`` should check ``cancel.is_set()`` between chunks of work that DuckDB cannot interrupt.
    """
    cancel = threading.Event()
    outcome: dict[str, object] = {}

    def target() -> None:
        try:
            outcome["value"] = work(cancel)
        except BaseException as error:  # noqa: BLE001 - handed to the main thread
            outcome["error"] = error

    worker = threading.Thread(target=target, name="arcticsql-statement", daemon=True)
    worker.start()
    try:
        while worker.is_alive():
            worker.join(0.1)
            if progress is not None:
                progress.update(cursor.query_progress())
    except KeyboardInterrupt:
        cancel.set()
        _stop(cursor, worker)
        raise Cancelled() from None
    finally:
        if progress is not None:
            progress.stop()
    if "error" in outcome:
        if cancel.is_set():
            raise Cancelled()
        raise outcome["error"]  # type: ignore[misc]
    return outcome["value"]  # type: ignore[return-value]


def _stop(cursor, worker: threading.Thread) -> None:
    """Interrupt the cursor until the worker has finished (a second Ctrl-C only interrupts again)."""
    while True:
        try:
            cursor.interrupt()
            worker.join(0.2)
            if not worker.is_alive():
                return
        except KeyboardInterrupt:
            continue


@dataclass
class Collected:
    """A result as a terminal shows it: its first rows, its last rows (None when every row is in
    ``head``) and the number of rows. For ``.last``, the rows after ``head``: ``more`` (Python rows) then
    ``rest`` (Arrow); ``rest`` is None when the result was larger than :data:`KEEP_ROWS` rows or
    :data:`KEEP_BYTES`."""

    head: list[tuple]
    tail: list[tuple] | None
    total: int
    more: list[tuple] = field(default_factory=list)
    rest: pa.Table | None = None

    @property
    def complete(self) -> bool:
        """Whether every row can be shown again (by ``.last``)."""
        return self.tail is None or self.rest is not None


#: The most rows (and bytes) of a result kept for ``.last``.
KEEP_ROWS = 100_000
KEEP_BYTES = 256 * 2**20


def collect(cursor, limit: int, cancel: threading.Event, to_rows: Callable[[pa.Table], list[tuple]]) -> Collected:
    """The first and last rows of the result on ``cursor`` (``limit`` in all; every row when 0) and its
    row count. The rows past the first ``limit + 1`` are read as Arrow batches, counted and dropped but for
    the last ones (and all, within :data:`KEEP_ROWS`, for ``.last``); ``to_rows`` turns Arrow rows into
    Python rows as the cursor would have."""
    if not limit:
        rows = fetch_all(cursor, cancel)
        return Collected(rows, None, len(rows))
    first = cursor.fetchmany(limit + 1)
    if len(first) <= limit:
        return Collected(first, None, len(first))
    head_size = (limit + 1) // 2
    tail_size = limit - head_size
    head, more = first[:head_size], first[head_size:]
    kept: list[pa.RecordBatch] | None = []
    kept_bytes = 0
    last: deque[pa.RecordBatch] = deque()
    last_rows = 0
    total = len(first)
    with warnings.catch_warnings():  # the copy DuckDB warns about is of one batch at a time
        warnings.simplefilter("ignore")
        reader = cursor.fetch_record_batch(100_000)
        for batch in reader:
            if cancel.is_set():
                raise Cancelled()
            total += batch.num_rows
            if kept is not None:
                kept.append(batch)
                kept_bytes += batch.nbytes
                if total - head_size > KEEP_ROWS or kept_bytes > KEEP_BYTES:
                    kept = None
            last.append(batch)
            last_rows += batch.num_rows
            while last and last_rows - last[0].num_rows >= tail_size:
                last_rows -= last.popleft().num_rows
        schema = reader.schema
    ending = to_rows(pa.Table.from_batches(list(last), schema=schema)) if last else []
    tail = (more + ending)[len(more) + len(ending) - tail_size:] if tail_size else []
    rest = pa.Table.from_batches(kept, schema=schema) if kept is not None else None
    return Collected(head, tail, total, more, rest)


def fetch_all(cursor, cancel: threading.Event) -> list[tuple]:
    """Every remaining row."""
    rows: list[tuple] = []
    for chunk in iter_chunks(cursor, cancel):
        rows.extend(chunk)
    return rows


def iter_chunks(cursor, cancel: threading.Event):
    """The remaining rows, ``CHUNK_ROWS`` at a time."""
    while True:
        if cancel.is_set():
            raise Cancelled()
        chunk = cursor.fetchmany(CHUNK_ROWS)
        if not chunk:
            return
        yield chunk


class ProgressLine:
    """A one-line progress indicator on a terminal, shown once a statement has run for ``delay`` seconds.

    Updated from the waiting thread; :meth:`stop` (from the worker, before it writes results) clears it for
    good, so the indicator never mixes with output.
    """

    WIDTH = 30

    def __init__(self, stream: IO[str], delay: float = 1.0) -> None:
        self._stream = stream
        self._delay = delay
        self._start = time.monotonic()
        self._shown = False
        self._stopped = False
        self._loading: tuple[int, int, str, str] | None = None
        self._lock = threading.Lock()
        unicode = "utf" in (getattr(stream, "encoding", None) or "").lower()
        self._full, self._empty = ("█", "░") if unicode else ("#", "-")

    def loading(self, done: int, total: int, label: str, unit: str = "symbols") -> None:
        """The session's progress callback: the symbols of a wildcard table, or the files of a
        read_pickle, read so far."""
        self._loading = (done, total, label, unit)

    def update(self, percent: float) -> None:
        elapsed = time.monotonic() - self._start
        if elapsed < self._delay:
            return
        loading = self._loading
        if loading is not None and loading[0] < loading[1]:
            done, total, label, unit = loading
            filled = int(self.WIDTH * done / max(total, 1))
            bar = self._full * filled + self._empty * (self.WIDTH - filled)
            text = f"{bar} {label}: {done}/{total} {unit}  {elapsed:6.1f} s  (Ctrl-C to cancel)"
        elif percent >= 0:
            filled = int(self.WIDTH * min(percent, 100) / 100)
            bar = self._full * filled + self._empty * (self.WIDTH - filled)
            text = f"{bar} {percent:5.1f}%  {elapsed:6.1f} s  (Ctrl-C to cancel)"
        else:
            text = f"running {elapsed:6.1f} s  (Ctrl-C to cancel)"
        with self._lock:
            if not self._stopped:
                self._stream.write("\r" + text)
                self._stream.flush()
                self._shown = True

    def stop(self) -> None:
        """Clear the line and show nothing more."""
        with self._lock:
            self._stopped = True
            if self._shown:
                self._stream.write("\r\x1b[K")
                self._stream.flush()
                self._shown = False
