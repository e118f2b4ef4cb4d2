"""Ordered parallel map with a bounded window, for loading many files without holding them all at once."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")


def ordered_map(fn: Callable[[T], R], items: Iterable[T], max_workers: int = 4,
                window: int | None = None) -> Iterator[R]:
    """Yield ``fn(item)`` for each item, in order, computed by up to ``max_workers`` threads.

    At most ``window`` (default ``2 * max_workers``) results are in flight or waiting, so a slow consumer
    bounds memory. The first failure is raised in order, after which queued work is cancelled; closing
    the iterator early cancels queued work and waits only for the calls already running.
    """
    if max_workers <= 1:
        yield from map(fn, items)
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
            result = pending.popleft().result()
            for item in source:
                pending.append(pool.submit(fn, item))
                break
            yield result
    finally:
        for future in pending:
            future.cancel()
        pool.shutdown(wait=True)
