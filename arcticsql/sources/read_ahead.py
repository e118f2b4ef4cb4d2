"""Reading ahead of DuckDB, but only once it wants more: the one pacing of every scan.

A scan reads in steps (a symbol's chunks, a wildcard's groups of members) and hands DuckDB record batches.
Reading the next step while DuckDB works on this one hides ArcticDB's latency, but a query that needs only
the first rows (``LIMIT``, ``EXISTS``, a filter DuckDB keeps for itself) would then pay for a read nobody
uses and leave it running after the statement returned. So :class:`ReadAhead` starts the next step only once
DuckDB has taken more batches than it pulls ahead of what it needs (one per thread, at most:
``PULLED_AHEAD``), and until then cuts batches small, so that its pulls ahead take them rather than
another read.

    >>> reads = ReadAhead([1, 2, 3], lambda step: step * 10, executor=None)
    >>> [(step, result) for step, result in reads]
    [(1, 10), (2, 20), (3, 30)]
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Executor, Future
from typing import Generic, TypeVar

import pyarrow as pa

#: Batches DuckDB may pull from a scan beyond those it needs: one per thread, at most (DuckDB's default
#: thread count is the number of cores).
PULLED_AHEAD = os.cpu_count() or 2

Step = TypeVar("Step")
Result = TypeVar("Result")


class ReadAhead(Generic[Step, Result]):
    """``(step, read(step))`` for each step in order; once DuckDB wants more than it pulls ahead (see
    :meth:`batches`), the next step is read on ``executor`` while this one is consumed."""

    def __init__(self, steps: Sequence[Step] | Iterator[Step], read: Callable[[Step], Result],
                 executor: Executor | None) -> None:
        self._steps = iter(steps)
        self._read = read
        self._executor = executor
        self._following: tuple[Step, Future | None] | None = None  # the next step, and its read if started
        self._pulls = 0
        self.eager = False

    def __iter__(self) -> Iterator[tuple[Step, Result]]:
        try:
            while True:
                if self._following is None:
                    step = next(self._steps, _END)
                    if step is _END:
                        return
                    future = None
                else:
                    (step, future), self._following = self._following, None
                result = future.result() if future is not None else self._read(step)
                if self.eager:
                    self._start_next()
                yield step, result
        finally:
            self.close()

    def batches(self, table: pa.Table, small: int | None = None) -> Iterator[pa.RecordBatch]:
        """``table``'s record batches: small ones (``small`` rows, or a fraction of the table) until DuckDB
        has pulled ``PULLED_AHEAD``, then the next step's read starts and batches are whole chunks."""
        if self.eager:
            yield from table.to_batches()
            return
        size = small or max(2048, -(-table.num_rows // (2 * PULLED_AHEAD + 2)))
        for batch in table.to_batches(max_chunksize=size):
            yield batch
            if not self.eager:
                self._pulls += 1
                if self._pulls >= PULLED_AHEAD:
                    self.eager = True
                    self._start_next()

    def _start_next(self) -> None:
        if self._executor is None:
            return
        if self._following is None:
            step = next(self._steps, _END)
            if step is _END:
                return
            self._following = (step, None)
        step, future = self._following
        if future is None:
            self._following = (step, self._executor.submit(self._read, step))

    def close(self) -> None:
        """Cancel a read started for a step nobody will take."""
        if self._following is not None and self._following[1] is not None:
            self._following[1].cancel()
        self._following = None


_END = object()
