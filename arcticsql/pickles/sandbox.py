"""Loading pickle files in child processes, so that what slips through the checks costs a process, not the
session: a ``ProcessPoolExecutor`` on multiprocessing's forkserver (which imports this module once), each
process with its address space capped (``RLIMIT_AS``: its start size plus ``memory_mb``), no core files and
``timeout`` s a file (an uncaught timer signal). Files come back as Arrow IPC, validated in full: the parent
never unpickles one. A crash breaks the pool; the files in flight load again, each alone in a new process,
so the culprit gets a one-line error (``<file>: the loader process crashed (signal SIGSEGV)``).
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import itertools
import multiprocessing.context
import os
import resource
import signal
import threading
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures.process import BrokenProcessPool
from typing import Any

import pyarrow as pa

from arcticsql.errors import Interrupted, StorageError, one_line
from arcticsql.pickles.arrow import LoadedFile, load_file
from arcticsql.pickles.loading import POLL_S, interrupted


class _Pool(multiprocessing.context.ForkServerContext):
    """An executor of loader processes, and the processes (to kill stuck ones, read how one ended)."""

    def __init__(self, workers: int, memory_mb: int) -> None:
        super().__init__()
        self.processes: list[multiprocessing.process.BaseProcess] = []
        self.set_forkserver_preload([__name__])  # imported once by the forkserver, if it is not running yet
        self.executor = concurrent.futures.ProcessPoolExecutor(workers, mp_context=self, initializer=_limit,
                                                               initargs=(memory_mb,))

    def Process(self, *args: Any, **kwargs: Any) -> multiprocessing.process.BaseProcess:  # noqa: N802
        self.processes.append(super().Process(*args, **kwargs))
        return self.processes[-1]

    def stop(self) -> None:
        """Kill first: a broken executor joins its processes, and one started as it broke missed its SIGTERM."""
        for process in self.processes:
            if process.pid:  # started
                process.kill()
        self.executor.shutdown(wait=True, cancel_futures=True)


class Sandbox:
    """Loader processes for one session: ``workers`` of them, each file within ``timeout`` seconds and
    ``memory_mb`` MB of address space beyond the process's own (0: no limit). Started on first use."""

    def __init__(self, workers: int = 2, *, timeout: float = 60.0, memory_mb: int = 2048) -> None:
        self.workers, self.timeout, self.memory_mb = max(1, workers), float(timeout), memory_mb
        self._pool: _Pool | None = None
        self._lock = threading.Lock()

    def close(self) -> None:
        if self._pool is not None:
            self._replace(self._pool)

    def load(self, files: Iterable[tuple[str, str | bytes | StorageError]], *loading: Any,
             cancel: threading.Event | None = None) -> Iterator[LoadedFile | StorageError]:
        """Each (location, bytes, path or StorageError) file as a LoadedFile or a StorageError, in order, a
        few ahead; ``loading``: :func:`~arcticsql.pickles.arrow.load_file`'s further arguments. A set
        ``cancel`` raises Interrupted within POLL_S seconds and kills the processes still loading."""
        source = iter(files)
        pending: deque[tuple[str, Any, _Pool | None, concurrent.futures.Future | None]] = deque()
        try:
            pending.extend(self._submit(*file, loading) for file in itertools.islice(source, 2 * self.workers))
            while pending:
                name, data, pool, future = pending[0]
                result = data if future is None else self._result(pool, future, cancel)
                if result is None:  # the pool broke with this file in flight: alone, to find the culprit
                    result = self._alone(name, data, loading, cancel)
                pending.popleft()
                pending.extend(self._submit(*file, loading) for file in itertools.islice(source, 1))
                yield self._receive(name, result)
        finally:
            for *_file, pool, future in pending:  # queued ones cancelled; loading ones finish or are killed
                if future is not None and not future.cancel() and cancel is not None and cancel.is_set():
                    self._replace(pool)

    def _submit(self, name: str, data: Any, loading: tuple) -> tuple[str, Any, _Pool | None, Any]:
        if isinstance(data, StorageError):
            return name, data, None, None
        with self._lock:
            pool = self._pool = self._pool or _Pool(self.workers, self.memory_mb)
        try:
            return name, data, pool, pool.executor.submit(_load, name, data, *loading, self.timeout)
        except (BrokenProcessPool, RuntimeError):  # broken, or shut down by another read: loaded alone
            broken = concurrent.futures.Future()
            broken.set_exception(BrokenProcessPool())
            return name, data, pool, broken

    def _replace(self, pool: _Pool) -> None:
        with self._lock:
            if self._pool is pool:
                self._pool = None
        pool.stop()

    def _result(self, pool: _Pool, future: concurrent.futures.Future, cancel: threading.Event | None) -> Any:
        """The loader's answer (an error's text, or IPC, names, attrs); None if the pool broke."""
        while True:
            try:
                interrupted(cancel)
                return future.result(timeout=POLL_S)
            except Interrupted:
                if not future.cancel():
                    self._replace(pool)
                raise
            except concurrent.futures.TimeoutError:
                continue
            except (BrokenProcessPool, concurrent.futures.CancelledError):
                self._replace(pool)
                return None
            except Exception as error:  # noqa: BLE001 - raised in the loader process
                return f"cannot load: {type(error).__name__}: {one_line(error)}"

    def _alone(self, name: str, data: Any, loading: tuple, cancel: threading.Event | None) -> Any:
        pool = _Pool(1, self.memory_mb)
        try:
            future = pool.executor.submit(_load, name, data, *loading, self.timeout)
            result = self._result(pool, future, cancel)
        finally:
            pool.stop()
        code = pool.processes[-1].exitcode
        if result is not None or code == -signal.SIGALRM:
            return result or f"loading took longer than {self.timeout:g} s; the loader process was stopped"
        if code is None or code >= 0:  # a script without the __main__ guard fails the process as it starts
            return (f"the loader process ended unexpectedly (exit status {code}; a script reading pickles "
                    "through SQL needs `if __name__ == '__main__':`, or storage.sandbox: false)")
        with contextlib.suppress(ValueError):  # a signal Python has no name for
            code = signal.Signals(-code).name
        return f"the loader process crashed (signal {code}{'; out of memory?' if code == 'SIGKILL' else ''})"

    def _receive(self, name: str, result: Any) -> LoadedFile | StorageError:
        """The answer as a LoadedFile, validated in full (the loader is not trusted either), or an error."""
        if isinstance(result, str):
            return StorageError(result if result.startswith(name) else f"{name}: {result}")
        if isinstance(result, StorageError):
            return result
        ipc, names, attrs = result
        try:
            table = pa.ipc.open_stream(pa.py_buffer(ipc)).read_all()
            table.validate(full=True)
        except pa.ArrowException as error:
            return StorageError(f"{name}: the loader process sent unreadable data: {one_line(error)}")
        return LoadedFile(table, tuple(names), attrs)


def _limit(memory_mb: int) -> None:
    """First thing in a loader process: no core files, and the address space capped."""
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    if memory_mb > 0 and os.path.exists("/proc/self/statm"):  # Linux; elsewhere no cap
        with open("/proc/self/statm") as statm:
            cap = int(statm.read().split()[0]) * os.sysconf("SC_PAGE_SIZE") + memory_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (cap, cap))


def _load(name: str, source: str | bytes, only: tuple[str, ...] | None, allow_unsafe: bool, nan_is_null: bool,
          timeout: float) -> str | tuple[bytes, tuple[str, ...], dict]:
    """In a loader process: a file as Arrow IPC, names and attrs, or its error; SIGALRM ends the process."""
    signal.setitimer(signal.ITIMER_REAL, timeout)
    try:
        loaded = load_file(source, name, only, allow_unsafe, nan_is_null)
        sink = pa.BufferOutputStream()
        with pa.ipc.new_stream(sink, loaded.table.schema) as writer:
            writer.write_table(loaded.table)
        return sink.getvalue().to_pybytes(), loaded.names, loaded.attrs
    except StorageError as error:
        return str(error)
    except MemoryError:
        return f"{name}: out of memory in the loader process (see storage.sandbox_memory_mb)"
    except BaseException as error:  # noqa: BLE001 - only text goes back, never an exception object (the
        # executor would unpickle it in the session)
        return f"{name}: cannot load: {type(error).__name__}: {one_line(error)}"
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
