"""No acknowledged write is lost: concurrent writers of one symbol (threads with their own connections, and
processes) each build on the other's version, and a reader meanwhile only ever sees whole versions.

Without the lock ArcticDB keeps only one of two appends based on the same version (and a connection can
build on a latest version it remembered); ``test_without_the_lock_appends_are_lost`` shows the loss is real
here, so the tests that pass with the lock mean something.
"""

from __future__ import annotations

import multiprocessing
import os
import queue
import threading

import pandas as pd
import pytest

import arcticsql
from arcticsql.arcticdb_private import forget_cached_versions
from arcticsql.writes.lock import LockTimeout, symbol_lock

WRITERS = 4
APPENDS = 12


def _seed(uri: str) -> None:
    connection = arcticsql.connect(uri=uri, config={})
    connection.cursor().execute("COPY (SELECT -1::BIGINT AS writer, 0::BIGINT AS n) TO 'arctic://features/log'")
    connection.close()


def _append_rows(uri: str, writer: int, results) -> None:
    """One writer: APPENDS appends of one row each through its own connection; reports what was acknowledged."""
    connection = arcticsql.connect(uri=uri, config={"arcticdb": {"write_lock_timeout_s": 120}})
    cursor = connection.cursor()
    acknowledged = []
    for n in range(1, APPENDS + 1):
        cursor.execute(f"INSERT INTO features.log SELECT {writer} AS writer, {n} AS n")
        acknowledged.append((writer, n, cursor.fetchone()[2]))
    connection.close()
    results.put(acknowledged)


def _library(uri: str):
    return arcticsql.connect(uri=uri, config={}).catalog.library("features")


def _check_nothing_lost(uri: str, acknowledged: list[tuple[int, int, int]]) -> None:
    lib = _library(uri)
    frame = lib.read("log").data
    rows = set(zip(frame.writer, frame.n))
    assert len(acknowledged) == WRITERS * APPENDS
    assert {(writer, n) for writer, n, _version in acknowledged} <= rows  # every acknowledged row is there
    versions = sorted(version for *_, version in acknowledged)
    assert versions == list(range(1, WRITERS * APPENDS + 1))  # each append its own, consecutive version
    assert sorted(key.version for key in lib.list_versions("log")) == list(range(WRITERS * APPENDS + 1))


def _read_whole_versions(uri: str, stop: threading.Event, seen: list) -> None:
    """A reader: each version it reads holds exactly version + 1 rows (a torn read would not)."""
    connection = arcticsql.connect(uri=uri, config={})
    cursor = connection.cursor()
    while not stop.is_set():
        rows = cursor.execute("SELECT count(*) FROM features.log").fetchone()[0]
        version = connection.catalog.library("features").read_metadata("log").version
        seen.append((rows, version))
    connection.close()


@pytest.mark.parametrize("store", ["lmdb", "s3"])
@pytest.mark.parametrize("mode", ["threads", "processes"])
def test_concurrent_appends_lose_nothing(request, tmp_path, store, mode):
    uri = f"lmdb://{tmp_path}/store" if store == "lmdb" else request.getfixturevalue("s3_uri")
    _seed(uri)
    if mode == "threads":
        results = queue.Queue()
        workers = [threading.Thread(target=_append_rows, args=(uri, w, results)) for w in range(WRITERS)]
    else:
        context = multiprocessing.get_context("spawn")
        results = context.Queue()
        workers = [context.Process(target=_append_rows, args=(uri, w, results)) for w in range(WRITERS)]
    stop, seen = threading.Event(), []
    reader = threading.Thread(target=_read_whole_versions, args=(uri, stop, seen))
    reader.start()
    for worker in workers:
        worker.start()
    acknowledged = [row for _ in workers for row in results.get(timeout=300)]
    for worker in workers:
        worker.join(timeout=60)
    stop.set()
    reader.join(timeout=60)
    _check_nothing_lost(uri, acknowledged)
    assert seen and all(rows >= 1 for rows, _version in seen)
    # each read is one whole version: its rows never fall behind what an earlier read saw
    counts = [rows for rows, _version in seen]
    assert counts == sorted(counts)


def _raw_append(uri: str, writer: int, results) -> None:
    """Appends through ArcticDB alone, with a library object of its own (as another process would)."""
    lib = _library(uri)
    acknowledged = []
    for n in range(1, APPENDS + 1):
        item = lib.append("log", pd.DataFrame({"writer": [writer], "n": [n]}))
        acknowledged.append((writer, n, int(item.version)))
    results.put(acknowledged)


def _stale_append(uri: str, has_read, other_appended, results) -> None:
    """Writer B, through ArcticDB alone: reads the symbol (its library object now remembers the latest
    version), waits until writer A has appended, then appends at once."""
    lib = _library(uri)
    lib.read("log")
    has_read.set()
    other_appended.wait(120)
    results.put(int(lib.append("log", pd.DataFrame({"writer": [1], "n": [1]})).version))


def test_without_the_lock_an_acknowledged_append_is_lost(tmp_path):
    """The bug the lock prevents, on the same store, in the order the issue found it: B reads, A appends, B
    appends within ArcticDB's version-map reload interval (2 s) on its stale view: both are acknowledged
    as version 1, and A's row is gone."""
    uri = f"lmdb://{tmp_path}/store"
    _seed(uri)
    lib = _library(uri)  # (opened before B reads: A appends as soon as B has read)
    context = multiprocessing.get_context("spawn")
    has_read, appended, results = context.Event(), context.Event(), context.Queue()
    writer_b = context.Process(target=_stale_append, args=(uri, has_read, appended, results))
    writer_b.start()
    assert has_read.wait(120)
    version_a = int(lib.append("log", pd.DataFrame({"writer": [0], "n": [1]})).version)
    appended.set()
    version_b = results.get(timeout=120)
    writer_b.join(60)
    forget_cached_versions(lib)
    frame = lib.read("log").data
    assert version_a == version_b == 1
    assert (1, 1) in set(zip(frame.writer, frame.n)) and (0, 1) not in set(zip(frame.writer, frame.n))


def _hold_lock(uri: str, ready, release) -> None:
    with symbol_lock(uri, "features", "log", timeout=10):
        ready.set()
        release.wait(60)


def test_a_writer_that_cannot_get_the_lock_fails_and_writes_nothing(tmp_path):
    uri = f"lmdb://{tmp_path}/store"
    _seed(uri)
    context = multiprocessing.get_context("spawn")
    ready, release = context.Event(), context.Event()
    holder = context.Process(target=_hold_lock, args=(uri, ready, release))
    holder.start()
    try:
        assert ready.wait(60)
        connection = arcticsql.connect(uri=uri, config={"arcticdb": {"write_lock_timeout_s": 0.3}})
        with pytest.raises(arcticsql.OperationalError, match=rf"could not lock features/log .*process {holder.pid}"):
            connection.cursor().execute("INSERT INTO features.log SELECT 1 AS writer, 1 AS n")
        assert [key.version for key in connection.catalog.library("features").list_versions("log")] == [0]
        connection.close()
    finally:
        release.set()
        holder.join(timeout=60)


def test_a_killed_holder_frees_the_lock_at_once(tmp_path):
    uri = f"lmdb://{tmp_path}/store"
    _seed(uri)
    context = multiprocessing.get_context("spawn")
    ready, release = context.Event(), context.Event()
    holder = context.Process(target=_hold_lock, args=(uri, ready, release))
    holder.start()
    assert ready.wait(60)
    os.kill(holder.pid, 9)
    holder.join(timeout=60)
    connection = arcticsql.connect(uri=uri, config={"arcticdb": {"write_lock_timeout_s": 5}})
    connection.cursor().execute("INSERT INTO features.log SELECT 1 AS writer, 1 AS n")
    assert connection.cursor().execute("SELECT count(*) FROM features.log").fetchone() == (2,)
    connection.close()


def test_threads_of_one_process_queue_for_the_lock():
    order = []
    first_in = threading.Event()

    def first():
        with symbol_lock("mem://", "l", "s", timeout=5):
            first_in.set()
            order.append("first")

    def second():
        first_in.wait(5)
        with symbol_lock("mem://", "l", "s", timeout=5):
            order.append("second")

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    with symbol_lock("mem://", "l", "s", timeout=5):
        threads[0].start()
        threads[1].start()
        assert not first_in.wait(0.2) and order == []  # both wait while it is held
    for thread in threads:
        thread.join(10)
    assert order == ["first", "second"]
    with pytest.raises(LockTimeout):
        with symbol_lock("mem://", "l", "s", timeout=5):
            with symbol_lock("mem://", "l", "s", timeout=0.05):
                pass


def test_forgetting_cached_versions_sees_another_writers_version(tmp_path):
    """The contract of arcticsql/arcticdb_private.py's forget_cached_versions with ArcticDB's private binding."""
    uri = f"lmdb://{tmp_path}/store"
    _seed(uri)
    mine = _library(uri)
    assert mine.read_metadata("log").version == 0  # remembered by this library object
    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    other = context.Process(target=_raw_append, args=(uri, 9, results))
    other.start()
    assert len(results.get(timeout=120)) == APPENDS
    other.join(120)
    assert callable(mine._nvs.version_store.flush_version_map)  # the binding is still there
    forget_cached_versions(mine)
    assert mine.read_metadata("log").version == APPENDS
