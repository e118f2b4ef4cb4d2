"""Loader processes: real worker processes loading from local folders and the GCS emulator.

Each test compares what the pool gives with what an in-process load gives, or checks what happens when a
worker fails: its error comes back as the same exception, a dead worker's files are loaded in-process.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
import time

import duckdb
import pandas as pd
import pyarrow as pa
import pytest

import arcticsql
from arcticsql.scan.pickle_source import PickleDatasetSource
from arcticsql.storage import GoogleCloudStorage, LocalStorage, StorageError, UnsafePickleError
from arcticsql.storage.datasets import load_columns
from arcticsql.storage.loader_pool import MIN_FILES, LoaderPool, decode_table, load_files, worth_a_pool
from arcticsql.storage.loader_worker import arrow_payload, receive, send
from tests.storage.samples import Exploit, ohlc_frame

FILES = MIN_FILES + 4


@pytest.fixture(scope="module")
def pool():
    pool = LoaderPool(2)
    pool.start()
    assert pool.wait_ready(60)
    yield pool
    pool.close()


def _fill(store, files: int = FILES, rows: int = 40) -> list:
    for i in range(files):
        store.save(ohlc_frame(rows=rows, seed=i), f"index/nifty/gbm/20230901_{i:06d}_path.pkl")
    return store.list_recursive("index/**/*.pkl")


@pytest.fixture
def local(tmp_path):
    return LocalStorage(tmp_path / "pickles")


@pytest.fixture
def gcs(gcs_client, bucket_name, tmp_path):
    return GoogleCloudStorage(bucket_name, client=gcs_client, cache_dir=tmp_path / "gcs_cache")


@pytest.fixture(params=["local", "gcs"])
def any_store(request):
    return request.getfixturevalue(request.param)


def _tables(files) -> list[pa.Table]:
    return [file.table for file in files]


def test_the_pool_loads_what_this_process_loads(pool, any_store):
    entries = _fill(any_store)
    assert worth_a_pool(any_store, entries)
    pooled = list(pool.load_files(any_store, entries, ("Close", "Volume")))
    here = [load_columns(any_store, entry, ("Close", "Volume")) for entry in entries]
    assert _tables(pooled) == _tables(here)
    assert [file.names for file in pooled] == [file.names for file in here]
    assert pooled[0].table.column_names == ["Close", "Volume"]
    everything = list(pool.load_files(any_store, entries[:2], None))
    assert everything[0].table.column_names == ["index", "Open", "High", "Low", "Close", "Volume"]


def test_sql_over_the_pool_matches_sql_in_process(pool, any_store):
    _fill(any_store)
    query = "SELECT file, count(*), round(sum(Close), 6), max(index) FROM p GROUP BY ALL ORDER BY ALL"
    with duckdb.connect() as con:
        con.register("p", PickleDatasetSource(any_store, "index/**/*.pkl", pool=pool))
        pooled = con.sql(query).fetchall()
        con.register("p", PickleDatasetSource(any_store, "index/**/*.pkl"))
        assert con.sql(query).fetchall() == pooled
    assert len(pooled) == FILES


def test_gcs_downloads_are_counted_and_the_cache_is_written_behind(pool, gcs, gcs_client):
    entries = _fill(gcs)
    list(pool.load_files(gcs, entries, ("Close",)))
    assert gcs.downloads == FILES and gcs.loads == FILES
    pool.flush()  # the workers wrote their copies behind the read; now they are on disk
    again = GoogleCloudStorage(gcs.bucket_name, client=gcs_client, cache_dir=gcs.cache.root)
    assert [again.load(entry).equals(ohlc_frame(rows=40, seed=i)) for i, entry in enumerate(entries)] == \
        [True] * FILES
    assert again.downloads == 0
    list(pool.load_files(gcs, entries, ("Close",)))
    assert gcs.downloads == FILES  # the second read came from the workers' cache


def test_a_refused_pickle_is_the_same_error_and_does_not_run(pool, local, tmp_path):
    entries = _fill(local)
    marker = tmp_path / "pwned"
    local.save(Exploit(str(marker)), entries[3].path)
    refused = r"20230901_000003_path\.pkl: refused to unpickle global (posix|os)\.system"
    with pytest.raises(UnsafePickleError, match=refused):
        list(pool.load_files(local, local.list_recursive("index/**/*.pkl"), ("Close",)))
    assert not marker.exists()


def test_an_object_that_is_not_a_frame_names_the_file(pool, local):
    entries = _fill(local)
    local.save({"not": "a frame"}, entries[5].path)
    with pytest.raises(StorageError, match=r"20230901_000005_path\.pkl holds a builtins\.dict"):
        list(pool.load_files(local, local.list_recursive("index/**/*.pkl"), ("Close",)))


def test_a_killed_worker_fails_over_to_this_process(local):
    pool = LoaderPool(2)
    try:
        pool.start()
        assert pool.wait_ready(60)
        entries = _fill(local, files=FILES * 2)
        loaded = pool.load_files(local, entries, ("Close",))
        first = next(loaded)
        victim = pool._workers[0].process
        victim.kill()
        victim.wait()
        rest = list(loaded)
        here = [load_columns(local, entry, ("Close",)).table for entry in entries]
        assert [first.table, *_tables(rest)] == here
        assert len(pool.ready_workers()) == 1
        pool.start()  # the next read replaces the lost worker
        assert pool.wait_ready(60) and len(pool.ready_workers()) == 2
    finally:
        pool.close()


def test_a_read_stopped_early_leaves_the_pool_usable(pool, local):
    entries = _fill(local)
    loaded = pool.load_files(local, entries, ("Close",))
    next(loaded)
    loaded.close()  # its answers still on the way are dropped
    assert _tables(pool.load_files(local, entries, ("Close",))) == \
        [load_columns(local, entry, ("Close",)).table for entry in entries]
    with duckdb.connect() as con:
        con.register("p", PickleDatasetSource(local, "index/**/*.pkl", pool=pool))
        assert con.sql("SELECT Close FROM p LIMIT 3").fetchall() == \
            [(value,) for value in ohlc_frame(rows=40, seed=0).Close[:3]]


def test_two_reads_at_once_share_the_pool(pool, local):
    entries = _fill(local)
    expected = [load_columns(local, entry, ("Close",)).table for entry in entries]
    results: list = [None, None]

    def read(slot: int) -> None:
        results[slot] = _tables(pool.load_files(local, entries, ("Close",)))

    threads = [threading.Thread(target=read, args=(slot,)) for slot in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert results == [expected, expected]


def test_a_read_that_waited_while_a_drain_held_the_socket_reads_after_it(pool, local, monkeypatch):
    """A drain that finds nothing to read must wake the read that waited for the socket meanwhile (it
    hung once: nothing else was left to read for it)."""
    import arcticsql.storage.loader_pool as loader_pool

    entries = _fill(local, files=2)
    worker = pool.ready_workers()[0]
    spec = local.worker_spec()
    real_select = loader_pool.select.select

    def slow_empty_select(*args):
        time.sleep(0.3)  # the read arrives meanwhile, finds the socket taken, and waits
        return [], [], []

    monkeypatch.setattr(loader_pool.select, "select", slow_empty_select)
    drain = threading.Thread(target=worker.drain)
    drain.start()
    time.sleep(0.05)
    task = worker.load(spec[0], spec[1], spec[2], 1, entries, ("Close",), None)
    answers: list = []
    read = threading.Thread(target=lambda: answers.append(worker.answer(task)))
    read.start()
    drain.join(10)
    monkeypatch.setattr(loader_pool.select, "select", real_select)
    read.join(10)
    assert not read.is_alive() and answers[0][0] == "loaded" and len(answers[0][2]) == 2


def test_which_reads_go_to_the_pool(local, gcs):
    entries = _fill(local)
    assert worth_a_pool(local, entries) and worth_a_pool(gcs, _fill(gcs))
    assert not worth_a_pool(local, entries[: MIN_FILES - 1])
    # without a pool the same files load here, in order
    assert _tables(load_files(local, entries, ("Close",), pool=None)) == \
        [load_columns(local, entry, ("Close",)).table for entry in entries]


def test_a_read_spanning_several_requests_keeps_file_order_and_errors(pool, local):
    entries = _fill(local, files=3 * local.loader_group + 5)
    assert _tables(pool.load_files(local, entries, ("Close",))) == \
        [load_columns(local, entry, ("Close",)).table for entry in entries]
    local.save({"not": "a frame"}, entries[local.loader_group + 2].path)  # inside the second request
    loaded = pool.load_files(local, local.list_recursive("index/**/*.pkl"), ("Close",))
    good = [next(loaded) for _ in range(local.loader_group + 2)]
    assert len(good) == local.loader_group + 2
    with pytest.raises(StorageError, match=rf"_{local.loader_group + 2:06d}_path\.pkl holds a builtins\.dict"):
        next(loaded)


def test_a_store_whose_client_cannot_travel_loads_in_process(gcs_client, bucket_name):
    class Unpicklable:
        def __reduce__(self):
            raise TypeError("no")

    store = GoogleCloudStorage(bucket_name, client=gcs_client)
    original = store.client._credentials
    try:
        store.client._credentials = Unpicklable()
        assert store.worker_spec() is None
    finally:
        store.client._credentials = original


def test_sessions_use_the_configured_pool(gcs_emulator, gcs, tmp_path):
    _fill(gcs)
    config = {"arctic_storage_path": "mem://",
              "storage": {"type": "gcs", "gcs": {"bucket_name": gcs.bucket_name, "cache_dir": str(tmp_path / "c")}}}
    query = "SELECT count(*), round(avg(Close), 6) FROM read_pickle('index/**/*.pkl')"
    with arcticsql.connect(config={**config, "processing": {"loader_processes": 0}}) as conn:
        assert conn.session.loader_pool is None
        in_process = conn.cursor().execute(query).fetchall()
    with arcticsql.connect(config={**config, "processing": {"loader_processes": 2}}) as conn:
        pool = conn.session.loader_pool
        assert pool is not None
        conn.cursor().execute(query).fetchall()  # starts the pool (this read loads in-process)
        assert pool.live_workers() == 2 and pool.wait_ready(60)
        assert conn.cursor().execute(query).fetchall() == in_process


def test_closing_the_pool_ends_its_processes():
    pool = LoaderPool(1)
    pool.start()
    assert pool.wait_ready(60)
    process = pool._workers[0].process
    pool.close()
    assert process.wait(10) == 0


def test_workers_exit_when_their_parent_dies(tmp_path):
    script = textwrap.dedent("""
        import os, sys
        from arcticsql.storage.loader_pool import LoaderPool
        pool = LoaderPool(2)
        pool.start()
        assert pool.wait_ready(60)
        print(" ".join(str(worker.process.pid) for worker in pool._workers), flush=True)
        os._exit(0)  # no atexit, no close: as if killed
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120,
                         cwd=os.getcwd(), check=True)
    pids = [int(pid) for pid in out.stdout.split()]
    assert len(pids) == 2
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and any(_running(pid) for pid in pids):
        time.sleep(0.1)
    assert not any(_running(pid) for pid in pids)


def _running(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(")")[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_pool_results_equal_pandas(pool, local):
    entries = _fill(local, rows=7)
    (first, *_rest) = pool.load_files(local, entries, None)
    frame = first.table.to_pandas().set_index("index")
    frame.index.name = None
    pd.testing.assert_frame_equal(frame, ohlc_frame(rows=7, seed=0), check_freq=False)


def test_closing_a_pool_still_starting_does_not_wait_for_it():
    pool = LoaderPool(2)
    pool.start()
    processes = [worker.process for worker in pool._workers]
    begun = time.monotonic()
    pool.close()
    assert time.monotonic() - begun < 2.0
    assert all(process.poll() is not None for process in processes)


def test_the_first_large_read_loads_here_and_then_starts_the_pool(local):
    pool = LoaderPool(1)
    try:
        entries = _fill(local)
        loaded = load_files(local, entries, ("Close",), pool=pool)
        tables = [next(loaded).table]
        assert pool._workers == []  # nothing competes with this read for the cores
        tables += [next(loaded).table for _ in entries[1:]]  # as a scan reads: one per file, never once more
        assert pool.live_workers() == 1 and pool.wait_ready(60)
        assert tables == [load_columns(local, entry, ("Close",)).table for entry in entries]
    finally:
        pool.close()


def test_a_first_read_stopped_early_does_not_start_the_pool(local):
    pool = LoaderPool(1)
    try:
        loaded = load_files(local, _fill(local), ("Close",), pool=pool)
        next(loaded)
        loaded.close()
        assert pool._workers == []
    finally:
        pool.close()


def test_a_script_whose_first_large_read_fails_mid_stream_exits(tmp_path):
    """The failed read's stream is released only as the interpreter exits (the uncaught error's traceback
    holds it): nothing may start threads then (it once started the loader pool there, and never exited)."""
    script = textwrap.dedent(f"""
        import arcticsql
        from arcticsql.storage import LocalStorage
        from tests.storage.samples import ohlc_frame
        store = LocalStorage({str(tmp_path)!r})
        for i in range({FILES}):
            frame = ohlc_frame(rows=50_000, seed=i)
            if i == {FILES - 2}:
                frame["Vwap"] = frame["Close"]  # a column the sampled first file lacks
            store.save(frame, f"index/nifty/gbm/20230901_{{i:06d}}_path.pkl")
        conn = arcticsql.connect(config={{"arctic_storage_path": "mem://", "processing": {{"loader_processes": 1}},
                                          "storage": {{"type": "local", "local": {{"base_path": {str(tmp_path)!r}}}}}}})
        cursor = conn.cursor()
        cursor.execute("SELECT * FROM read_pickle('index/**/*.pkl')")
        cursor.fetchmany(5)
        cursor.fetchall()
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120,
                         cwd=os.getcwd())
    assert out.returncode == 1
    assert "columns ['Vwap'] are not in the dataset's declared schema" in out.stderr.splitlines()[-1]


def test_a_workers_answer_may_not_name_a_class():
    import pickle
    import socket

    from arcticsql.storage.loader_worker import receive, send

    left, right = socket.socketpair()
    with left, right:
        send(left, ("loaded", 1, [("ok", b"\x00", ("Close",), 0)]))
        assert receive(right, plain=True) == ("loaded", 1, [("ok", b"\x00", ("Close",), 0)])
        send(left, ("loaded", 2, [Exploit("/tmp/never")]))
        with pytest.raises(pickle.UnpicklingError, match="named posix.system|named os.system"):
            receive(right, plain=True)


def test_without_subprocesses_reads_load_in_process(local, monkeypatch, caplog):
    monkeypatch.setattr(sys, "executable", "/nonexistent/python")
    pool = LoaderPool(2)
    entries = _fill(local)
    assert _tables(load_files(local, entries, ("Close",), pool=pool)) == \
        [load_columns(local, entry, ("Close",)).table for entry in entries]
    assert pool.ready_workers() == [] and "cannot start loader processes" in caplog.text
    assert _tables(load_files(local, entries, ("Close",), pool=pool))  # and keeps working
    pool.close()


def test_a_lost_worker_is_logged(local, caplog):
    pool = LoaderPool(1)
    try:
        pool.start()
        assert pool.wait_ready(60)
        pool._workers[0].process.kill()
        entries = _fill(local)
        assert len(list(pool.load_files(local, entries, ("Close",)))) == FILES
        assert "loader process" in caplog.text and "its files load in this process" in caplog.text
    finally:
        pool.close()


def test_a_lane_runs_more_loads_at_once_when_they_wait_and_fewer_when_they_work():
    import threading as _threading

    from arcticsql.storage.loader_worker import LANE_SAMPLE, Lane

    local_wait = _threading.local()
    lane = Lane(8, waited=lambda: getattr(local_wait, "seconds", 0.0))
    done = _threading.Semaphore(0)

    def job(wait: float, work: float):
        def run():
            local_wait.seconds = getattr(local_wait, "seconds", 0.0) + wait  # as the fetcher counts its waits
            until = time.thread_time() + work
            while time.thread_time() < until:
                pass
            done.release()
        return run

    def run_all(jobs: int, wait: float, work: float) -> int:
        """Run the jobs; the lane's limit once it has observed the last (that comes after the job itself
        returns, so the test waits for every thread to leave the lane)."""
        for _ in range(jobs):
            lane.add(job(wait, work))
        for _ in range(jobs):
            assert done.acquire(timeout=30)
        deadline = time.monotonic() + 30
        while lane._running and time.monotonic() < deadline:
            time.sleep(0.001)
        return lane.limit

    try:
        assert lane.limit == 2
        assert run_all(LANE_SAMPLE * 2, 0.05, 0.001) == 8  # waiting 50x the work: grows twice
        assert run_all(LANE_SAMPLE * 3, 0.0001, 0.002) == 1  # work only, with a little wait: shrinks to one
        assert run_all(LANE_SAMPLE, 0.0, 0.001) == 1  # cache hits (no wait) leave it as it is
    finally:
        lane.close()


@pytest.mark.parametrize("table", [
    pa.table({"Close": [1.5, None, 3.0], "s": ["a", None, "ccc"],
              "t": pa.array([0, 1, None], pa.timestamp("ns", tz="Asia/Kolkata"))}),
    pa.table({"": pa.nulls(7)}).select([]),  # no column wanted: the rows still count
    pa.table({"x": pa.array([], pa.int64())}),
    pa.Table.from_batches([pa.record_batch({"x": [1, 2]}), pa.record_batch({"x": [3]})]),
    pa.table({"d": pa.array(["a", "b", "a"]).dictionary_encode()}),
    pa.table({"l": pa.array([["a"], []], pa.list_(pa.dictionary(pa.int8(), pa.string())))}),
], ids=["types", "no-columns", "empty", "two-batches", "dictionary", "nested-dictionary"])
def test_a_table_crosses_between_processes_unchanged(table):
    import socket

    left, right = socket.socketpair()
    with left, right:
        schema, batches = arrow_payload(table)
        send(left, ("ok", schema, batches))
        _, schema, batches = receive(right, plain=True)
    decoded = decode_table(schema, batches)
    assert decoded.num_rows == table.num_rows
    assert decoded.equals(table)
