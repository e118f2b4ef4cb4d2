"""Running one statement so that Ctrl-C cancels it, with a progress line for long ones.

The statement (and the fetching of its rows) runs in a worker thread; the main thread waits, polling the
cursor's progress. A ``KeyboardInterrupt`` in the main thread interrupts the cursor and raises
:class:`Cancelled` once the worker has stopped, so the connection stays usable.
"""

from __future__ import annotations

import threading
import time
import warnings
from collections.abc import Callable
from typing import IO, TypeVar

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


def fetch_rows(cursor, limit: int, cancel: threading.Event) -> list[tuple]:
    """Up to ``limit`` rows (all when 0)."""
    if limit:
        return cursor.fetchmany(limit)
    rows: list[tuple] = []
    for chunk in iter_chunks(cursor, cancel):
        rows.extend(chunk)
    return rows


def count_rest(cursor, cancel: threading.Event) -> int:
    """The number of rows not fetched yet, counted in Arrow batches without keeping them."""
    rest = 0
    with warnings.catch_warnings():  # the copy DuckDB warns about is of one batch at a time
        warnings.simplefilter("ignore")
        for batch in cursor.fetch_record_batch(100_000):
            if cancel.is_set():
                raise Cancelled()
            rest += batch.num_rows
    return rest


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
