"""Loading pickle files in child processes, so that what slips through the checks costs a process, never
the session: a ``ProcessPoolExecutor`` of processes forked by multiprocessing's forkserver (which imports
this module, hence pandas, once), each with its address space capped (``RLIMIT_AS``: its size at start
plus ``memory_mb``), no core files, and ``timeout`` seconds per file (an uncaught timer signal ends it).
A file comes back as Arrow IPC under /dev/shm, mapped and validated in full: the parent never unpickles.
A crash breaks the pool; it is replaced and the files that were in flight load again, each alone in a
fresh process, so the culprit gets a one-line error (``<file>: the loader process crashed (signal
SIGSEGV)``) and the others load.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import itertools
import multiprocessing.connection
import multiprocessing.context
import os
import resource
import shutil
import signal
import tempfile
import threading
import weakref
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures.process import BrokenProcessPool
from typing import Any, NamedTuple

import pyarrow as pa

from arcticsql.errors import Interrupted, StorageError, one_line
from arcticsql.pickles.arrow import LoadedFile, load_file
from arcticsql.pickles.loading import POLL_S, interrupted
from arcticsql.pickles.unpickling import arrow_type_allowed

_OUTPUTS = itertools.count()  # output file names within one loader process


class Job(NamedTuple):
    """A file to load: its location, its bytes or path (or why it cannot be read), the columns wanted."""

    name: str
    source: str | bytes | StorageError
    only: tuple[str, ...] | None
    allow_unsafe: bool
    nan_is_null: bool


class _Pool(multiprocessing.context.ForkServerContext):
    """A pool of loader processes: the executor, and its processes (to kill stuck ones, read how one ended)."""

    def __init__(self, workers: int, memory_mb: int) -> None:
        super().__init__()
        self.processes: list[multiprocessing.process.BaseProcess] = []
        self.set_forkserver_preload([__name__])  # imported once by the forkserver, if it is not running yet
        self.executor = concurrent.futures.ProcessPoolExecutor(workers, mp_context=self, initializer=_limit,
                                                               initargs=(memory_mb,))

    def Process(self, *args: Any, **kwargs: Any) -> multiprocessing.process.BaseProcess:  # noqa: N802
        self.processes.append(super().Process(*args, **kwargs))
        return self.processes[-1]

    def stop(self, kill: bool = False) -> None:
        for process in self.processes if kill else ():  # a sentinel is ready once its process has ended
            if process.sentinel is not None and not multiprocessing.connection.wait([process.sentinel], 0):
                process.kill()
        self.executor.shutdown(wait=True, cancel_futures=True)


class Sandbox:
    """Loader processes for one session: ``workers`` of them, each file within ``timeout`` seconds and
    ``memory_mb`` MB of address space beyond the process's own (0: no limit). Started on first use."""

    def __init__(self, workers: int = 2, *, timeout: float = 60.0, memory_mb: int = 2048) -> None:
        self.workers, self.timeout, self.memory_mb = max(1, workers), float(timeout), memory_mb
        self._pool: _Pool | None = None
        self._lock = threading.Lock()
        self._folder = tempfile.mkdtemp(prefix="arcticsql-", dir="/dev/shm" if os.path.isdir("/dev/shm") else None)
        self._cleanup = weakref.finalize(self, shutil.rmtree, self._folder, True)

    def close(self) -> None:
        if self._pool is not None:
            self._replace(self._pool, kill=True)
        self._cleanup()

    def load(self, jobs: Iterable[Job], cancel: threading.Event | None = None) -> Iterator[LoadedFile | StorageError]:
        """Each job's file as a LoadedFile, or the StorageError saying why not, in order, a few loading ahead.
        Closing the iterator early lets the files already loading finish (their output is dropped); a set
        ``cancel`` raises Interrupted within POLL_S seconds and kills the processes still loading."""
        source = iter(jobs)
        pending: deque[tuple[Job, _Pool | None, concurrent.futures.Future | None]] = deque()
        killed = False
        try:
            pending.extend(self._submit(job) for job in itertools.islice(source, 2 * self.workers))
            while pending:
                job, pool, future = pending[0]
                result = job.source if future is None else self._result(pool, future, cancel)
                if result is None:  # the pool broke with this file in flight: alone, to find the culprit
                    result = self._alone(job, cancel)
                pending.popleft()
                pending.extend(self._submit(job) for job in itertools.islice(source, 1))
                yield self._receive(job.name, result)
        except Interrupted:
            killed = True
            raise
        finally:
            for _job, pool, future in pending:  # queued ones cancelled; loading ones finish or are killed
                if future is not None and not future.cancel():
                    if killed and not future.done():
                        self._replace(pool, kill=True)
                    future.add_done_callback(_discard)

    def _submit(self, job: Job) -> tuple[Job, _Pool | None, concurrent.futures.Future | None]:
        if isinstance(job.source, StorageError):
            return job, None, None
        for _attempt in range(2):
            with self._lock:
                pool = self._pool = self._pool or _Pool(self.workers, self.memory_mb)
            try:
                return job, pool, pool.executor.submit(_load, *job, self.timeout, self._folder)
            except (BrokenProcessPool, RuntimeError):  # broken, or shut down by another read
                self._replace(pool)
        raise StorageError(f"{job.name}: the loader processes do not start")

    def _replace(self, pool: _Pool, kill: bool = False) -> None:
        with self._lock:
            if self._pool is pool:
                self._pool = None
        pool.stop(kill)

    def _result(self, pool: _Pool, future: concurrent.futures.Future, cancel: threading.Event | None) -> Any:
        """What the loader sent back (an error's text, or the output file, names and attrs); None if the
        pool broke (a process crashed, or a file ran out of time)."""
        while True:
            try:
                interrupted(cancel)
                return future.result(timeout=POLL_S)
            except Interrupted:
                if not future.cancel():
                    self._replace(pool, kill=True)
                raise
            except concurrent.futures.TimeoutError:
                continue
            except (BrokenProcessPool, concurrent.futures.CancelledError):
                self._replace(pool)
                return None
            except Exception as error:  # noqa: BLE001 - raised in the loader process
                return f"cannot load: {type(error).__name__}: {one_line(error)}"

    def _alone(self, job: Job, cancel: threading.Event | None) -> Any:
        pool = _Pool(1, self.memory_mb)
        try:
            result = self._result(pool, pool.executor.submit(_load, *job, self.timeout, self._folder), cancel)
        finally:
            pool.stop()
        code = pool.processes[-1].exitcode
        if result is not None:
            return result
        if code == -signal.SIGALRM:
            return f"loading took longer than {self.timeout:g} s; the loader process was stopped"
        if code == -signal.SIGKILL:
            return "the loader process was killed (SIGKILL; out of memory?)"
        if code is None or code >= 0:  # a script without the __main__ guard fails the process as it starts
            return (f"the loader process ended unexpectedly (exit status {code}; a script reading pickles "
                    "through SQL needs `if __name__ == '__main__':`, or storage.sandbox: false)")
        with contextlib.suppress(ValueError):  # a signal Python has no name for
            code = signal.Signals(-code).name
        return f"the loader process crashed (signal {code})"

    def _receive(self, name: str, result: Any) -> LoadedFile | StorageError:
        """The loader's answer: a LoadedFile whose table is validated in full (the loader is not trusted
        either), or the StorageError it reported."""
        if isinstance(result, str):
            return StorageError(result if result.startswith(name) else f"{name}: {result}")
        if isinstance(result, StorageError):
            return result
        path, names, attrs = result
        try:
            with pa.memory_map(path) as mapped:
                table = pa.ipc.open_file(mapped).read_all()  # zero-copy: the table keeps the mapping
            table.validate(full=True)
            if not all(arrow_type_allowed(field.type) for field in table.schema):
                raise pa.ArrowInvalid("a column of an unexpected type")
        except (pa.ArrowException, OSError) as error:
            return StorageError(f"{name}: the loader process sent unreadable data: {one_line(error)}")
        finally:
            _unlink(path)
        return LoadedFile(table, tuple(names), attrs)


def _discard(future: concurrent.futures.Future) -> None:
    """Remove the output of a load nobody waits for any more."""
    if not future.cancelled() and future.exception() is None and isinstance(future.result(), tuple):
        _unlink(future.result()[0])


def _unlink(path: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


def _limit(memory_mb: int) -> None:
    """First thing in a loader process: no core files, and the address space capped."""
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    if memory_mb > 0 and os.path.exists("/proc/self/statm"):  # Linux; elsewhere no cap
        with open("/proc/self/statm") as statm:
            cap = int(statm.read().split()[0]) * os.sysconf("SC_PAGE_SIZE") + memory_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (cap, cap))


def _load(name: str, source: str | bytes, only: tuple[str, ...] | None, allow_unsafe: bool, nan_is_null: bool,
          timeout: float, folder: str) -> str | tuple[str, tuple[str, ...], dict]:
    """In a loader process: one file as an Arrow IPC file in ``folder`` (its path, column names and attrs),
    or the one-line error naming it. The timer's SIGALRM, not caught, ends the process."""
    signal.setitimer(signal.ITIMER_REAL, timeout)
    try:
        loaded = load_file(source, name, only, allow_unsafe=allow_unsafe, nan_is_null=nan_is_null)
        path = os.path.join(folder, f"{os.getpid()}-{next(_OUTPUTS)}.arrow")
        with pa.OSFile(path, "wb") as sink, pa.ipc.new_file(sink, loaded.table.schema) as writer:
            writer.write_table(loaded.table)
        return path, loaded.names, loaded.attrs
    except StorageError as error:
        return str(error)
    except MemoryError:
        return f"{name}: out of memory in the loader process (see storage.sandbox_memory_mb)"
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
