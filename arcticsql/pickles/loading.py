"""Ordered parallel map with a bounded window, for loading many files without holding them all at once,
stopped by a cancel event (the statement's, set by ``Cursor.interrupt``)."""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor, wait
from typing import TypeVar

from arcticsql.errors import Interrupted

T = TypeVar("T")
R = TypeVar("R")

#: Seconds between looks at a cancel event while waiting.
POLL_S = 0.1


def interrupted(cancel: threading.Event | None) -> None:
    """Raise Interrupted once ``cancel`` is set."""
    if cancel is not None and cancel.is_set():
        raise Interrupted("interrupted")


def ordered_map(fn: Callable[[T], R], items: Iterable[T], max_workers: int = 4, window: int | None = None,
                cancel: threading.Event | None = None) -> Iterator[R]:
    """Yield ``fn(item)`` for each item, in order, computed by up to ``max_workers`` threads.

    At most ``window`` (default ``2 * max_workers``) results are in flight or waiting, so a slow consumer
    bounds memory. The first failure is raised in order, after which queued work is cancelled; closing
    the iterator early cancels queued work and waits only for the calls already running. Once ``cancel``
    is set, Interrupted comes within :data:`POLL_S` seconds (a running call is left to end by itself).
    """
    if max_workers <= 1:
        for item in items:
            interrupted(cancel)
            yield fn(item)
        return
    window = max(window or 2 * max_workers, max_workers)
    source = iter(items)
    pending: deque[Future[R]] = deque()
    pool = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="arcticsql-load")
    try:
        for item in source:
            pending.append(pool.submit(fn, item))
            if len(pending) >= window:
                break
        while pending:
            while not wait([pending[0]], timeout=POLL_S if cancel is not None else None).done:
                interrupted(cancel)
            result = pending.popleft().result()
            for item in source:
                pending.append(pool.submit(fn, item))
                break
            yield result
    finally:
        for future in pending:
            future.cancel()
        pool.shutdown(wait=cancel is None or not cancel.is_set())
