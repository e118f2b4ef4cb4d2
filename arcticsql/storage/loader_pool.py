"""Loader processes: the files of a multi-file pickle read, loaded to Arrow in parallel beyond the GIL.

Unpickling a frame and an HTTP client's per-request work are Python, so threads of one process take turns
at them; a few processes do them at once. Each worker (:mod:`.loader_worker`) downloads or reads a file,
unpickles it with the same restricted unpickler, converts the requested columns to Arrow and sends them
back as Arrow IPC, so a read moves only the columns a query needs.

Policy (:func:`load_files`): a read of at least :data:`MIN_FILES` files from a store that can describe
itself to another process (:meth:`~arcticsql.storage.base.BaseStorage.worker_spec`) runs on the pool once
a worker is ready, and in this process, with threads, until then. A request carries a few files (eight
local, four GCS: the messaging is shared by them), loaded one after another; a store whose loads wait on
the network has several requests loading at once in a worker (its threads overlap the waits). The first
such read of a session loads in-process and starts the pool when it has read every file, so that the workers (about a second each: they import
pandas, pyarrow and the GCS client) do not compete with it for the cores; later reads use them.

Failures: a load's error comes back as the same :class:`~arcticsql.storage.base.StorageError` (or
``UnsafePickleError``) an in-process load raises. A worker that exits or breaks its connection fails its
files over to in-process loading, and is replaced by a new one on a later read. A read that stops early
(LIMIT, an error, Ctrl-C) sends nothing more; answers still on their way are dropped. Workers exit when
their socket closes: at :meth:`LoaderPool.close`, at interpreter exit, or when this process dies.
"""

from __future__ import annotations

import atexit
import functools
import itertools
import logging
import os
import select
import socket
import subprocess
import sys
import threading
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa

from arcticsql.storage.base import BaseStorage, FileEntry, StorageError
from arcticsql.storage.datasets import LoadedFile, load_columns
from arcticsql.storage.loader_worker import receive, send
from arcticsql.storage.parallel import ordered_map

#: Reads of fewer files load in-process: the round trips to a worker would cost more than they save.
MIN_FILES = 16
#: At most this many loads of one store run at once in a worker (a store asks for fewer: see
#: :attr:`~arcticsql.storage.base.BaseStorage.loader_threads`).
MAX_THREADS = 8
#: Requests sent to a worker beyond the loads it may run at once, so that it never waits for the next.
_QUEUED = 4
_TASKS = itertools.count()
_PACKAGE_ROOT = str(Path(__file__).resolve().parents[2])
_log = logging.getLogger(__name__)


class WorkerLost(Exception):
    """The worker exited or its connection broke before it answered."""


class _Worker:
    """One loader process. Its answers are read by the threads waiting for them (no thread of its own
    after start-up): the first waiter reads the socket and files each answer under its task, so a read
    that waits for its next file receives it itself, without handing it over between threads."""

    def __init__(self) -> None:
        parent, child = socket.socketpair()
        env = dict(os.environ)
        # the worker imports arcticsql from where this process did (a source checkout included)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (_PACKAGE_ROOT, env.get("PYTHONPATH")) if p)
        try:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "arcticsql.storage.loader_worker", str(child.fileno())],
                pass_fds=[child.fileno()], env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL)
        finally:
            child.close()
        self.sock = parent
        self.ready = threading.Event()
        self.alive = True
        self.closing = False
        self._state = threading.Condition()  # answers, in-flight count and liveness
        self._sending = threading.Lock()
        self._receiving = threading.Lock()
        self._answers: dict[int, tuple] = {}
        self._waiting: set[int] = set()
        self._stores: set[Any] = set()
        threading.Thread(target=self._await_ready, name="arcticsql-loader-start", daemon=True).start()

    @property
    def in_flight(self) -> int:
        return len(self._waiting)

    def _await_ready(self) -> None:
        """Read the worker's first message (nothing is sent to it before): ``ready``, or its death."""
        with self._receiving:
            try:
                message = receive(self.sock, plain=True)
            except Exception:
                message = None
            if message is not None and message[0] == "ready":
                self.ready.set()
            else:
                self._lost()

    def _lost(self) -> None:
        with self._state:
            if not self.alive:
                return
            self.alive = False
            self._state.notify_all()
        self.sock.close()
        if not self.closing:
            _log.warning("arcticsql loader process %s stopped (exit code %s); its files load in this process",
                         self.process.pid, self.process.poll())

    def _request(self, message_for: Callable[[int], tuple], store: tuple | None = None) -> int:
        """Send ``message_for(task)`` (after the store's description, the first time it is used)."""
        task = next(_TASKS)
        with self._state:
            if not self.alive:
                raise WorkerLost()
            self._waiting.add(task)
        try:
            with self._sending:
                if store is not None and store[1] not in self._stores:
                    send(self.sock, store)
                    self._stores.add(store[1])
                send(self.sock, message_for(task))
        except OSError:
            self._lost()
            raise WorkerLost() from None
        return task

    def load(self, key: Any, factory: Callable[..., BaseStorage], kwargs: dict[str, Any], threads: int,
             entries: list[FileEntry], only: tuple[str, ...] | None, allow_unsafe: bool | None) -> int:
        """Send one load of a few files; :meth:`answer` waits for it."""
        return self._request(lambda task: ("load", task, key, entries, only, allow_unsafe),
                             ("storage", key, factory, kwargs, threads))

    def flush(self) -> int:
        """Ask the worker to finish its deferred work; :meth:`answer` waits until it has."""
        return self._request(lambda task: ("flush", task))

    def answer(self, task: int) -> tuple:
        """The answer to ``task``; WorkerLost if the worker goes before it answers."""
        while True:
            with self._state:
                if task in self._answers:
                    self._waiting.discard(task)
                    return self._answers.pop(task)
                if not self.alive:
                    self._waiting.discard(task)
                    raise WorkerLost()
                if not self._receiving.acquire(blocking=False):
                    self._state.wait()  # another thread is reading: it files what it reads and wakes us
                    continue
            try:
                message = receive(self.sock, plain=True)
            except Exception:  # EOF, a broken socket, an unreadable message: the worker is gone
                self._receiving.release()
                self._lost()
                continue
            self._receiving.release()
            self._file(message)

    def drain(self) -> None:
        """File the answers that have arrived, without waiting: a worker whose answer sits unread blocks
        once the socket's buffer is full, and cannot start its next load until the answer is taken."""
        if not self.alive or not self._receiving.acquire(blocking=False):
            return
        lost = False
        try:
            while self.alive and select.select([self.sock], [], [], 0)[0]:
                self._file(receive(self.sock, plain=True))
        except Exception:  # EOF, a broken or closed socket, an unreadable message: the worker is gone
            lost = True
        finally:
            self._receiving.release()
            with self._state:  # a read that found the socket taken waits for this: it may read now
                self._state.notify_all()
        if lost:
            self._lost()

    def _file(self, message: tuple) -> None:
        """Keep an answer for the read waiting for it (one no read waits for any more is dropped)."""
        with self._state:
            if message[1] in self._waiting:
                self._answers[message[1]] = message
            self._state.notify_all()

    def forget(self, task: int) -> None:
        """Drop the answer to ``task`` when it comes (its read stopped early)."""
        with self._state:
            self._waiting.discard(task)
            self._answers.pop(task, None)

    def close(self, timeout: float = 5.0) -> None:
        """Stop the worker: a ready one finishes its deferred work first (up to ``timeout``); one still
        starting has done nothing and is stopped at once."""
        self.closing = True
        if self.ready.is_set() and self.alive:
            try:
                with self._sending:
                    send(self.sock, ("stop",))
            except OSError:
                pass
        else:
            self.process.kill()
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.sock.close()


class LoaderPool:
    """``processes`` loader processes, started by :meth:`start` (non-blocking) and shared by every read."""

    def __init__(self, processes: int) -> None:
        self.processes = max(1, int(processes))
        self._workers: list[_Worker] = []
        self._lock = threading.Lock()
        self._pid = os.getpid()
        self._closed = False
        self._broken = False
        self._registered = False

    def __repr__(self) -> str:
        return f"LoaderPool(processes={self.processes}, ready={len(self.ready_workers())})"

    def start(self) -> None:
        """Start the missing workers (those never started or lost); returns at once."""
        with self._lock:
            if self._closed:
                return
            self._workers = [worker for worker in self._workers if worker.alive]
            while len(self._workers) < self.processes and not self._broken:
                try:
                    self._workers.append(_Worker())
                except Exception as error:  # no subprocesses here (a sandbox, no pass_fds): load in-process
                    _log.warning("arcticsql cannot start loader processes (%s: %s); pickle files load in "
                                 "this process", type(error).__name__, error)
                    self._broken = True
            if not self._registered:
                atexit.register(self.close)
                self._registered = True

    def live_workers(self) -> int:
        """How many workers are started or ready (not lost)."""
        return sum(1 for worker in self._workers if worker.alive)

    def ready_workers(self) -> list[_Worker]:
        return [worker for worker in self._workers if worker.alive and worker.ready.is_set()]

    def wait_ready(self, timeout: float = 30.0) -> bool:
        """Block until every worker has started (for tests and benchmarks); False on timeout."""
        return all(worker.ready.wait(timeout) for worker in list(self._workers))

    def flush(self) -> None:
        """Wait until every worker has finished its deferred work (cache copies written behind)."""
        asked = []
        for worker in self.ready_workers():
            try:
                asked.append((worker, worker.flush()))
            except WorkerLost:
                pass
        for worker, task in asked:
            try:
                worker.answer(task)
            except WorkerLost:
                pass

    def close(self) -> None:
        with self._lock:
            self._closed = True
            workers, self._workers = self._workers, []
        for worker in workers:
            worker.close()

    def load_files(self, storage: BaseStorage, entries: Sequence[FileEntry], only: tuple[str, ...] | None,
                   allow_unsafe: bool | None = None) -> Iterator[LoadedFile]:
        """:func:`~arcticsql.storage.datasets.load_columns` of each entry, in order, on the workers (a file
        whose worker is lost is loaded here instead)."""
        spec = storage.worker_spec()
        if spec is None:
            raise ValueError(f"{storage!r} cannot be opened in a loader process")
        key, factory, kwargs = spec
        threads = max(1, min(MAX_THREADS, storage.loader_threads))

        def submit(group: list[FileEntry]) -> tuple[list[FileEntry], _Worker | None, int]:
            workers = self.ready_workers()
            if not workers:
                return group, None, -1
            worker = min(workers, key=lambda candidate: candidate.in_flight)
            try:
                return group, worker, worker.load(key, factory, kwargs, threads, group, only, allow_unsafe)
            except WorkerLost:
                return group, None, -1

        size = max(1, storage.loader_group)
        groups = iter([list(entries[start:start + size]) for start in range(0, len(entries), size)])
        pending: deque[tuple[list[FileEntry], _Worker | None, int]] = deque()
        try:
            # each worker gets a few more loads than it runs at once, so that it never waits for the next one
            for group in itertools.islice(groups, (threads + _QUEUED) * max(1, len(self.ready_workers()))):
                pending.append(submit(group))
            while pending:
                group, worker, task = pending[0]
                answer = None
                if worker is not None:
                    try:
                        answer = worker.answer(task)
                    except WorkerLost:
                        pass
                pending.popleft()
                for following in itertools.islice(groups, 1):
                    pending.append(submit(following))
                for other in self.ready_workers():
                    other.drain()
                if answer is None:  # no worker, or it was lost: load the files here
                    for entry in group:
                        yield load_columns(storage, entry, only, allow_unsafe)
                    continue
                for result in answer[2]:
                    yield _decoded(storage, result)
        finally:  # stopped early: the answers still to come are dropped
            for _, worker, task in pending:
                if worker is not None:
                    worker.forget(task)


def _decoded(storage: BaseStorage, result: tuple) -> LoadedFile:
    """One file's result from a worker, or the error it had, raised."""
    if result[0] == "ok":
        _, schema, batches, names, downloads = result
        storage.record_remote_load(downloads)
        return LoadedFile(decode_table(schema, batches), tuple(names))
    _, kind, text = result
    if kind == "UnsafePickleError":
        from arcticsql.storage.safe_pickle import UnsafePickleError

        raise UnsafePickleError(text)
    raise StorageError(text)


def decode_table(schema: bytes, batches: list) -> pa.Table:
    """The table :func:`~arcticsql.storage.loader_worker.arrow_payload` sent: its batches read against the
    schema, or, without schema bytes, one IPC stream. The buffers are not copied: the arrays point into
    them."""
    if not schema:
        return pa.ipc.open_stream(batches[0]).read_all()
    known = _read_schema(schema)
    return pa.Table.from_batches([pa.ipc.read_record_batch(pa.py_buffer(batch), known) for batch in batches],
                                 known)


@functools.lru_cache(maxsize=1024)
def _read_schema(schema: bytes) -> pa.Schema:
    """A serialized schema, read once: the files of a dataset share a few."""
    return pa.ipc.read_schema(pa.py_buffer(schema))


_SHARED: LoaderPool | None = None
_SHARED_LOCK = threading.Lock()


def shared_pool(processes: int) -> LoaderPool | None:
    """This process's pool (made on first use, with ``processes`` workers); None when ``processes`` is 0."""
    global _SHARED
    if processes <= 0:
        return None
    with _SHARED_LOCK:
        if _SHARED is None or _SHARED._pid != os.getpid():  # a forked child makes its own
            _SHARED = LoaderPool(processes)
        return _SHARED


def shutdown_shared_pool() -> None:
    """Close this process's pool (its workers exit); the next :func:`shared_pool` makes a new one."""
    global _SHARED
    with _SHARED_LOCK:
        pool, _SHARED = _SHARED, None
    if pool is not None:
        pool.close()


def worth_a_pool(storage: BaseStorage, entries: Sequence[FileEntry]) -> bool:
    """Whether a read of ``entries`` goes to loader processes: enough files, of a store a worker can open."""
    return len(entries) >= MIN_FILES and storage.worker_spec() is not None


def load_files(storage: BaseStorage, entries: Sequence[FileEntry], only: Sequence[str] | None = None, *,
               allow_unsafe: bool | None = None, pool: LoaderPool | None = None,
               max_workers: int | None = None) -> Iterator[LoadedFile]:
    """Each entry's :class:`~arcticsql.storage.datasets.LoadedFile`, in order: on ``pool`` when the read is
    large enough and a worker is up (see the module docstring), else with ``max_workers`` threads here."""
    columns = None if only is None else tuple(only)
    here = ordered_map(lambda entry: load_columns(storage, entry, columns, allow_unsafe), entries,
                       storage.workers(max_workers))
    if pool is None or not worth_a_pool(storage, entries):
        return here
    if pool.ready_workers():
        return pool.load_files(storage, entries, columns, allow_unsafe)
    return _then_start(here, pool, len(entries))


def _then_start(loaded: Iterator[LoadedFile], pool: LoaderPool, count: int) -> Iterator[LoadedFile]:
    """``loaded`` (``count`` files), starting the pool as the last is handed over: its workers import while
    nothing else needs the cores (a one-shot command exits before they are ready, and they are stopped at
    once), and are ready for the next read.

    The start is made from the reader's own call for the last file (a reader takes ``count`` files and does
    not ask again). A read stopped before it starts nothing: its generator is closed from wherever its stream
    is released, at worst while the interpreter exits, where starting a thread waits forever; the next
    large read loads here again and starts the pool instead."""
    for done, file in enumerate(loaded, start=1):
        if done == count:
            pool.start()
        yield file
