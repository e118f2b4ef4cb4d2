"""A pickle loader process: loads files to Arrow for the session that started it (see :mod:`.loader_pool`).

Run as ``python -m arcticsql.storage.loader_worker <fd>``, where ``fd`` is its end of a socket pair. It
imports only :mod:`arcticsql.storage` (pandas, pyarrow, the GCS client), never DuckDB or ArcticDB, and
exits when the socket closes, so it never outlives its parent.

Messages are length-prefixed pickles (:func:`send` / :func:`receive`), each a tuple; a file's Arrow IPC
travels out of band, after the pickle, and is received straight into a buffer of its own (pyarrow reads
it there, with no further copy). The worker's send buffer holds a few answers, so that it goes on to its
next load instead of waiting for the parent to read.

- parent → worker: ``("storage", key, factory, kwargs, threads)`` makes a store (kept by ``key``) and
  a pool of ``threads`` threads for its loads;
  ``("load", task, key, entries, only, allow_unsafe)`` loads a few files; ``("flush", task)`` finishes
  deferred work; ``("stop",)``.
- worker → parent: ``("ready", pid)`` once imported; ``("loaded", task, results)`` per load request, one
  result per file in order, ``("ok", schema, batches, names, downloads)``
  (:func:`arrow_payload`) or ``("error", error_class, message)``
  (the files after an error are not loaded); ``("flushed", task)``.

Between requests the worker does its stores' deferred work (:meth:`~arcticsql.storage.base.BaseStorage.
idle_work`: the GCS download cache is written behind), and finishes it before it exits.

Loading is :func:`~arcticsql.storage.datasets.load_columns`, the same function an in-process load runs, so
a file gives the same table (and the same error) either way.
"""

from __future__ import annotations

import io
import os
import pickle
import select
import socket
import struct
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from arcticsql.storage.base import StorageError

_LENGTH = struct.Struct("<Q")
#: The send buffer a worker asks for: a few answers of eight files' columns.
SEND_BUFFER_BYTES = 4 * 1024 * 1024
#: Loads a lane watches before it changes how many run at once.
LANE_SAMPLE = 8
#: Deferred work starts once no request has come for this long.
IDLE_SECONDS = 0.05
#: Freed memory a worker keeps for the next read (see :func:`_keep_freed_memory`) ...
KEPT_BYTES = 512 * 1024 * 1024
#: ... until it has been idle this long, when it gives it back.
RELEASE_AFTER_SECONDS = 30.0


def send(sock: socket.socket, message: Any) -> None:
    """Send ``message``: a pickle, then the raw bytes of each :class:`pickle.PickleBuffer` in it (a file's
    Arrow IPC), which are never copied into the pickle and arrive each in a buffer of its own."""
    buffers: list[pickle.PickleBuffer] = []
    payload = pickle.dumps(message, protocol=5, buffer_callback=buffers.append)
    views = [buffer.raw() for buffer in buffers]
    sock.sendall(_LENGTH.pack(len(payload)) + _LENGTH.pack(len(views))
                 + b"".join(_LENGTH.pack(view.nbytes) for view in views))
    sock.sendall(payload)
    for view in views:
        sock.sendall(view)


def receive(sock: socket.socket, *, plain: bool = False) -> Any:
    """The next message; EOFError once the other end has closed. Its out-of-band buffers come back as
    bytearrays, received straight into them.

    ``plain``: the message may hold only tuples, lists, strings, bytes and numbers (any class it names is
    refused), as a worker's answers do: so the parent never runs code a worker's message names, even a
    worker that loaded a file with ``allow_unsafe_pickle``."""
    length, count = struct.unpack("<QQ", _read_exactly(sock, 2 * _LENGTH.size))
    sizes = struct.unpack(f"<{count}Q", _read_exactly(sock, count * _LENGTH.size)) if count else ()
    payload = _read_exactly(sock, length)
    buffers = [_read_exactly(sock, size) for size in sizes]
    if plain:
        return _PlainUnpickler(io.BytesIO(payload), buffers=buffers).load()
    return pickle.loads(payload, buffers=buffers)


class _PlainUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        raise pickle.UnpicklingError(f"a loader process's answer named {module}.{name}")


def _read_exactly(sock: socket.socket, size: int) -> bytearray:
    buffer = bytearray(size)
    view = memoryview(buffer)
    received = 0
    while received < size:
        count = sock.recv_into(view[received:])
        if count == 0:
            raise EOFError("the other end closed the connection")
        received += count
    return buffer


def arrow_payload(table: Any) -> tuple[bytes, list[pickle.PickleBuffer]]:
    """``table`` as its serialized schema and its record batches, each a bare IPC message that :func:`send`
    passes out of band: the parent reads a batch back in 2 us, against 20 us for a whole IPC stream (it
    keeps each schema it has read; see ``loader_pool.decode_table``). Dictionary-encoded columns (never
    made by :mod:`~arcticsql.storage.arrow`, which decodes them) would need their dictionaries sent too:
    such a table travels as an IPC stream, with no schema bytes."""
    import pyarrow as pa

    if any(_has_dictionary(field.type) for field in table.schema):
        sink = pa.BufferOutputStream()
        with pa.ipc.new_stream(sink, table.schema) as writer:
            writer.write_table(table)
        return b"", [pickle.PickleBuffer(sink.getvalue())]
    return (table.schema.serialize().to_pybytes(),
            [pickle.PickleBuffer(batch.serialize()) for batch in table.to_batches()])


def _has_dictionary(kind: Any) -> bool:
    import pyarrow as pa

    if pa.types.is_dictionary(kind):
        return True
    return any(_has_dictionary(kind.field(i).type) for i in range(kind.num_fields))


def _keep_freed_memory() -> Any:
    """Ask glibc's malloc to keep freed memory for reuse (this process only: it is ours).

    By default glibc returns the top of its heap to the system once more than about a megabyte is free,
    so every read's buffers (downloads, frames, and the copies the cache writes behind a read) come from
    fresh pages again, and on a VM a fresh page fault costs microseconds: a cold 200-file read spent
    about 70 ms more per worker than a read without a cache. Returns libc (for ``malloc_trim``), or None
    where this is not glibc.
    """
    import ctypes
    import ctypes.util

    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return None
    m_trim_threshold, m_mmap_threshold = -1, -3
    mallopt(m_mmap_threshold, 32 * 1024 * 1024)  # the most glibc allows; larger blocks are mapped apart
    mallopt(m_trim_threshold, KEPT_BYTES)
    return libc


def _warm_up() -> None:
    """Import what loading needs before reporting ready, so a ready worker answers its first file at full
    speed (pandas' unpickling helpers and the GCS client are most of a worker's start)."""
    import pandas  # noqa: F401
    import pyarrow.ipc  # noqa: F401

    try:
        import google.auth.transport.urllib3  # noqa: F401
        import google.cloud.storage  # noqa: F401
    except ImportError:  # local stores need neither
        pass


def serve(sock: socket.socket) -> None:
    """Answer requests until the socket closes. Each store's loads run on its own threads, as many as the
    parent asked (several overlap waits on the network; at most one runs Python at a time)."""
    storages: dict[Any, Any] = {}
    lanes: dict[Any, Lane] = {}
    sending = threading.Lock()
    running = threading.Semaphore(0)  # released once per finished load
    in_flight = 0

    def reply(message: tuple) -> None:
        with sending:
            send(sock, message)

    def load(task: int, storage: Any, entries: list, only: Any, allow_unsafe: Any) -> None:
        try:
            reply(("loaded", task, _load_all(storage, entries, only, allow_unsafe)))
        except OSError:
            pass  # the parent is gone; the main loop sees the closed socket
        finally:
            running.release()

    def idle_work() -> bool:
        return any(store.idle_work() for store in storages.values() if not isinstance(store, Exception))

    def finish() -> None:
        for _ in range(in_flight):
            running.acquire()
        for store in storages.values():
            if not isinstance(store, Exception):
                store.finish_deferred()

    libc = _keep_freed_memory()
    _warm_up()
    reply(("ready", os.getpid()))
    try:
        last_activity = time.monotonic()
        while True:
            # Wait for the next request. Deferred work (cache copies to write) is done only once no load has
            # run or arrived for IDLE_SECONDS: a read in progress asks again within milliseconds, so the
            # writes come after the read, not in its gaps.
            while True:
                while running.acquire(blocking=False):
                    in_flight -= 1
                    last_activity = time.monotonic()
                quiet = time.monotonic() - last_activity
                if in_flight or quiet < IDLE_SECONDS:
                    if select.select([sock], [], [], IDLE_SECONDS if in_flight else IDLE_SECONDS - quiet)[0]:
                        break
                    continue
                if select.select([sock], [], [], 0)[0]:
                    break
                if not idle_work():
                    # nothing deferred: sleep until a request, giving the kept memory back if none comes soon
                    if not select.select([sock], [], [], RELEASE_AFTER_SECONDS)[0] and libc is not None:
                        libc.malloc_trim(0)
                    select.select([sock], [], [], None)
                    break
            try:
                message = receive(sock)
            except (EOFError, OSError):
                return
            last_activity = time.monotonic()
            kind = message[0]
            if kind == "stop":
                return
            if kind == "flush":
                finish()
                in_flight = 0
                reply(("flushed", message[1]))
            elif kind == "storage":
                _, key, factory, kwargs, threads = message
                try:
                    storages[key] = factory(**kwargs)
                except Exception as error:  # reported on each load that needs this store
                    storages[key] = StorageError(f"the loader process cannot open the store: "
                                                 f"{type(error).__name__}: {error}")
                if threads > 1:
                    store = storages[key]
                    lanes[key] = Lane(threads, lambda store=store: getattr(store, "thread_waited", 0.0))
            else:
                _, task, key, entries, only, allow_unsafe = message
                lane = lanes.get(key)
                if lane is None:  # one thread: load here, without handing the work to another thread
                    try:
                        reply(("loaded", task, _load_all(storages.get(key), entries, only, allow_unsafe)))
                    except OSError:
                        return
                else:
                    in_flight += 1
                    lane.add(lambda task=task, store=storages.get(key), entries=entries, only=only,
                             unsafe=allow_unsafe: load(task, store, entries, only, unsafe))
    finally:
        finish()
        for lane in lanes.values():
            lane.close()


class Lane:
    """The loads of one store in a worker: on up to ``most`` threads, as many at once as gain from it.

    Loads that wait on the network (a real bucket answers in tens of milliseconds) overlap those waits;
    loads bound by CPU only take turns at the GIL, and contend the more of them run. So the lane watches
    each batch of :data:`LANE_SAMPLE` loads, weighing the time they waited for answers to begin
    (``waited()``, this thread's running total) against their CPU time: when the waiting is more than
    ``GROW_AT`` times the work, it runs twice as many at once; under ``SHRINK_AT`` times, half as many.
    It starts at two. (Wall time would not do: on a busy machine a load waits for a core and for the GIL.)
    """

    GROW_AT = 3.0
    SHRINK_AT = 0.5

    def __init__(self, most: int, waited: Callable[[], float] = lambda: 0.0) -> None:
        from concurrent.futures import ThreadPoolExecutor

        self.most = max(1, most)
        self.limit = min(2, self.most)
        self._queue: deque[Callable[[], None]] = deque()
        self._running = 0
        self._lock = threading.Lock()
        self._executor = ThreadPoolExecutor(max_workers=self.most, thread_name_prefix="arcticsql-loader")
        self._waited = waited
        self._wait = self._cpu = 0.0
        self._seen = 0

    def add(self, job: Callable[[], None]) -> None:
        with self._lock:
            self._queue.append(job)
            starts = self._startable()
        for _ in range(starts):
            self._executor.submit(self._run)

    def _startable(self) -> int:
        """Threads to start now (called with the lock held; counts them as running)."""
        count = max(0, min(self.limit - self._running, len(self._queue)))
        self._running += count
        return count

    def _run(self) -> None:
        while True:
            with self._lock:
                if not self._queue or self._running > self.limit:
                    self._running -= 1
                    return
                job = self._queue.popleft()
            waited, cpu = self._waited(), time.thread_time()
            job()
            starts = self._observe(self._waited() - waited, time.thread_time() - cpu)
            for _ in range(starts):
                self._executor.submit(self._run)

    def _observe(self, wait: float, cpu: float) -> int:
        with self._lock:
            if wait <= 0.0:  # nothing downloaded (a cache hit): says nothing about the network
                return self._startable()
            self._wait += wait
            self._cpu += cpu
            self._seen += 1
            if self._seen >= LANE_SAMPLE:
                waiting = self._wait / max(self._cpu, 1e-6)
                if waiting > self.GROW_AT:
                    self.limit = min(self.most, self.limit * 2)
                elif waiting < self.SHRINK_AT:
                    self.limit = max(1, self.limit // 2)
                self._wait = self._cpu = 0.0
                self._seen = 0
            return self._startable()

    def close(self) -> None:
        self._executor.shutdown(wait=True)


def _load_all(storage: Any, entries: list, only: Any, allow_unsafe: Any) -> list[tuple]:
    """One result per file, in order, up to and including the first that fails."""
    results = []
    for entry in entries:
        results.append(_load(storage, entry, only, allow_unsafe))
        if results[-1][0] == "error":
            break
    return results


def _load(storage: Any, entry: Any, only: Any, allow_unsafe: Any) -> tuple:
    from arcticsql.storage.datasets import load_columns

    try:
        if storage is None or isinstance(storage, Exception):
            raise storage or StorageError("the loader process was not given this store")
        before = getattr(storage, "thread_downloads", 0)  # loads on other threads download too
        loaded = load_columns(storage, entry, only, allow_unsafe)
        schema, batches = arrow_payload(loaded.table)
        return ("ok", schema, batches, loaded.names, getattr(storage, "thread_downloads", 0) - before)
    except StorageError as error:
        return ("error", type(error).__name__, str(error))
    except Exception as error:
        where = storage.location(entry.path) if hasattr(storage, "location") else entry.path
        return ("error", "StorageError", f"{where}: {type(error).__name__}: {error}")


def main(argv: list[str]) -> int:
    sock = socket.socket(fileno=int(argv[1]))
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SEND_BUFFER_BYTES)  # capped by net.core.wmem_max
    try:
        serve(sock)
    finally:
        sock.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
