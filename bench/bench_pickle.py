"""Pickle datasets: SQL over a glob vs the seed's loop of ``storage.load`` + ``pd.concat``.

    python bench/bench_pickle.py [--files 200] [--rows 10000] [--rounds 7] [--latency-ms 20]

Writes FILES pickles of ROWS OHLCV rows each to a local folder and to a GCS emulator (fake-gcs-server on
127.0.0.1), then answers ``count(*), avg(Close)`` over all of them in several ways, side by side:

- loop: ``for f in storage.list_files(dir): frames.append(storage.load(dir + f))``, ``pd.concat``, then
  pandas ``len`` and ``mean`` (seed 003's usage example; on GCS without a download cache, as in the seed);
- SQL: ``SELECT count(*), avg(Close) FROM read_pickle('<glob>')`` on an arcticsql connection (listing and
  schema sampling included), with the default loader processes, after they have started; "threads only"
  is the same with ``loader_processes: 0``, and "first read of a session" a single run with a new pool
  (that read loads in-process while the pool starts);
- on GCS, "cold" runs start with an empty download cache (the cache the previous run wrote behind is
  flushed first, untimed; the flush is timed on its own row) and "warm" runs reuse it;
- "gcs+Nms": the same emulator behind a proxy (another process) that delays each request by N ms, as a
  network between client and bucket would; the emulator on 127.0.0.1 has next to no latency, so there
  the CPU of the client, the loaders and the emulator bounds every method.

Cases of one backend run interleaved, round by round, after one untimed round; in a round each case runs
twice in a row and the second run is timed (see ``interleaved``). Each time is the median of ROUNDS rounds
(half as many with latency); the ratio is loop time / this time (higher is faster).
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from arcticsql.storage.loader_pool import shared_pool, shutdown_shared_pool

import arcticsql
from arcticsql.config import default_loader_processes
from arcticsql.pickles import GoogleCloudStorage, LocalStorage
from arcticsql.pickles.naming import make_path
from arcticsql.sources.pickles import PickleDatasetSource
from tests.support.gcs_emulator import GCSEmulator

FOLDER = "index/nifty/gbm"
GLOB = f"{FOLDER}/*.pkl"


def _serve_proxy(target_port: int, delay: float, ports: multiprocessing.Queue) -> None:
    """A TCP proxy to 127.0.0.1:target_port that holds each client-to-server chunk for ``delay`` seconds."""

    async def pipe(reader, writer, wait: float) -> None:
        try:
            while data := await reader.read(1 << 16):
                if wait:
                    await asyncio.sleep(wait)
                writer.write(data)
                await writer.drain()
        except ConnectionError:
            pass
        finally:
            writer.close()

    async def handle(client_reader, client_writer) -> None:
        server_reader, server_writer = await asyncio.open_connection("127.0.0.1", target_port)
        await asyncio.gather(pipe(client_reader, server_writer, delay), pipe(server_reader, client_writer, 0))

    async def main() -> None:
        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        ports.put(server.sockets[0].getsockname()[1])
        await server.serve_forever()

    asyncio.run(main())


def start_latency_proxy(target_url: str, delay_ms: float) -> tuple[multiprocessing.Process, str]:
    context = multiprocessing.get_context("spawn")
    ports = context.Queue()
    target_port = int(target_url.rsplit(":", 1)[1])
    process = context.Process(target=_serve_proxy, args=(target_port, delay_ms / 1000, ports), daemon=True)
    process.start()
    return process, f"http://127.0.0.1:{ports.get(timeout=30)}"


def make_frame(rows: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    close = 18_000 + np.cumsum(rng.normal(0, 5, rows))
    return pd.DataFrame({
        "Open": close + rng.normal(0, 1, rows), "High": close + 3.0, "Low": close - 3.0, "Close": close,
        "Volume": rng.integers(1_000, 10_000, rows),
    }, index=pd.date_range("2024-01-01 09:15", periods=rows, freq="min") + pd.Timedelta(days=seed))


def populate(stores, files: int, rows: int) -> tuple[int, float]:
    """Write the same files to every store; return the row count and the mean of Close."""
    total, close_sum = 0, 0.0
    for i in range(files):
        frame = make_frame(rows, i)
        path = make_path("index", "nifty", "gbm", f"path{i:04d}", timestamp=f"20240101_{i // 60:04d}{i % 60:02d}")
        for store in stores:
            store.save(frame, path)
        total += len(frame)
        close_sum += float(frame.Close.sum())
    return total, close_sum / total


def loop_query(store) -> tuple[int, float]:
    frames = [store.load(f"{FOLDER}/{name}") for name in store.list_files(FOLDER, pattern=r".*\.pkl$")]
    frame = pd.concat(frames)
    return len(frame), float(frame.Close.mean())


def connect(storage: dict, loader_processes: int | str = "auto"):
    return arcticsql.connect(uri="mem://", config={"storage": storage,
                                                   "processing": {"loader_processes": loader_processes}})


def sql_query(conn, glob: str) -> tuple[int, float]:
    """The query on a long-lived arcticsql connection, as in a session: each statement lists the files and
    samples the schema anew."""
    ((count, mean),) = conn.cursor().execute(f"SELECT count(*), avg(Close) FROM read_pickle('{glob}')").fetchall()
    return count, mean


def source_query(con, store, pool) -> tuple[int, float]:
    """The same through a PickleDatasetSource on a store with its own client (the proxy's)."""
    con.register("p", PickleDatasetSource(store, GLOB, pool=pool))
    ((count, mean),) = con.sql("SELECT count(*), avg(Close) FROM p").fetchall()
    return count, mean


Case = tuple[str, Callable[[], tuple[int, float]], Callable[[], None] | None]


def interleaved(cases: list[Case], rounds: int, expected: tuple[int, float], warmup: int = 1,
                twice: bool = True) -> dict[str, float]:
    """Median seconds per case over ``rounds`` rounds (after ``warmup`` untimed ones), each running every
    case in turn, so that all cases meet the machine in the same moods; each answer is checked.

    ``twice``: each case runs twice in a row and the second run is timed (``before`` runs, untimed, ahead of
    each): on this VM memory a case leaves freed or mapped changes the next case's time by up to 2x (the
    loop's ``pd.concat`` is fast after an in-process read and slow after a read in loader processes), so
    each case is timed in the state it leaves itself.
    """
    times: dict[str, list[float]] = {name: [] for name, _, _ in cases}
    for round_number in range(warmup + rounds):
        for name, run, before in cases:
            for attempt in range(2 if twice else 1):
                if before is not None:
                    before()
                start = time.perf_counter()
                count, mean = run()
                if round_number >= warmup and attempt == (1 if twice else 0):
                    times[name].append(time.perf_counter() - start)
                if count != expected[0] or abs(mean - expected[1]) > 1e-6 * abs(expected[1]):
                    raise SystemExit(f"{name}: wrong answer {(count, mean)} != {expected}")
    return {name: statistics.median(samples) for name, samples in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=200)
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--latency-ms", type=float, default=20.0, help="delay per request for gcs+N rows (0: skip)")
    parser.add_argument("--only", choices=["local", "gcs"], help="measure one backend only (gcs: without latency)")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="bench_pickle_"))
    emulator = GCSEmulator().start()  # sets STORAGE_EMULATOR_HOST: gs:// in SQL reaches the emulator
    proxy = None
    connections = []
    try:
        client = emulator.client()
        bucket = f"bench-{uuid.uuid4().hex[:8]}"
        client.create_bucket(bucket)
        local = LocalStorage(work / "local")
        gcs_plain = GoogleCloudStorage(bucket, client=client)  # no cache: every load downloads (the seed)
        cache_dir = work / "gcs_cache"

        started = time.perf_counter()
        expected = populate([local, gcs_plain], args.files, args.rows)
        size_mb = sum(entry.size for entry in local.list_recursive(GLOB)) / 1e6
        pool = shared_pool(default_loader_processes())
        pool.start()
        pool.wait_ready()
        print(f"{args.files} files x {args.rows:,} rows ({size_mb:.0f} MB of pickles) written to a local folder "
              f"and the emulator in {time.perf_counter() - started:.1f} s; {pool.processes} loader processes; "
              f"median of {args.rounds} interleaved rounds\n")

        def session(storage: dict, loader_processes: int | str = "auto"):
            conn = connect(storage, loader_processes)
            connections.append(conn)
            return conn

        local_glob = str(work / "local" / GLOB)
        gcs_glob = f"gs://{bucket}/{GLOB}"
        local_sql = session({"type": "local"})
        local_threads = session({"type": "local"}, 0)
        cached = {"type": "gcs", "gcs": {"bucket_name": bucket, "cache_dir": str(cache_dir)}}
        gcs_cached = session(cached)
        gcs_threads = session(cached, 0)
        gcs_nocache = session({"type": "gcs", "gcs": {"bucket_name": bucket, "cache_dir": None}})
        flushes: list[float] = []

        def clear_cache() -> None:
            begun = time.perf_counter()
            pool.flush()  # the copies the last run wrote behind, so that they cannot land after the clear
            flushes.append(time.perf_counter() - begun)
            shutil.rmtree(cache_dir, ignore_errors=True)

        rounds = args.rounds
        rows: list[tuple[str, str, float]] = []

        def measure(backend: str, cases: list[Case], repeat: int = rounds) -> None:
            for method, seconds in interleaved(cases, repeat, expected).items():
                rows.append((backend, method, seconds))

        loop = "loop: storage.load + pd.concat"
        if args.only != "gcs":
            measure("local", [
                (loop, lambda: loop_query(local), None),
                ("SQL read_pickle('<folder>/*.pkl')", lambda: sql_query(local_sql, local_glob), None),
                ("SQL, threads only", lambda: sql_query(local_threads, local_glob), None),
            ])
        if args.only == "local":
            return _report(rows)
        measure("gcs", [
            (loop, lambda: loop_query(gcs_plain), None),
            ("SQL read_pickle('gs://...'), cold cache", lambda: sql_query(gcs_cached, gcs_glob), clear_cache),
            ("SQL, warm cache", lambda: sql_query(gcs_cached, gcs_glob), None),
            ("SQL, no cache (download each time)", lambda: sql_query(gcs_nocache, gcs_glob), None),
            ("SQL, cold cache, threads only", lambda: sql_query(gcs_threads, gcs_glob), clear_cache),
        ])
        # the cache a cold run wrote behind, timed on its own
        clear_cache()
        sql_query(gcs_cached, gcs_glob)
        flushes.clear()
        clear_cache()
        rows.insert(next(i for i, row in enumerate(rows) if row[1] == "SQL, warm cache"),
                    ("gcs", "  (then writing the cache behind it)", flushes[-1]))
        # a new session's first read: it loads in-process while the loader processes start
        shutdown_shared_pool()
        first = session(cached)
        interleaved_first = interleaved([("SQL, cold, first read of a session", lambda: sql_query(first, gcs_glob),
                                          None)], 1, expected, warmup=0, twice=False)
        rows.extend(("gcs", method, seconds) for method, seconds in interleaved_first.items())
        pool = shared_pool(default_loader_processes())
        if pool.live_workers() < pool.processes:  # what every session's later reads rely on
            raise SystemExit("the session's first large read did not start the loader processes")
        pool.wait_ready()
        if args.latency_ms > 0 and args.only is None:
            proxy, proxy_url = start_latency_proxy(emulator.url, args.latency_ms)
            far = emulator.client_for(proxy_url)
            far_plain = GoogleCloudStorage(bucket, client=far)
            far_cached = GoogleCloudStorage(bucket, client=far, cache_dir=cache_dir)
            con = duckdb.connect()
            measure(f"gcs+{args.latency_ms:g}ms", [
                (loop, lambda: loop_query(far_plain), None),
                ("SQL, cold cache", lambda: source_query(con, far_cached, pool), clear_cache),
                ("SQL, warm cache", lambda: source_query(con, far_cached, pool), None),
            ], max(1, rounds // 2))
            con.close()
    finally:
        for conn in connections:
            conn.close()
        shutdown_shared_pool()
        if proxy is not None:
            proxy.terminate()
        emulator.stop()
        shutil.rmtree(work, ignore_errors=True)

    _report(rows)


def _report(rows: list[tuple[str, str, float]]) -> None:
    baseline = {backend: seconds for backend, method, seconds in rows if method.startswith("loop")}
    print(f"{'backend':8} {'method':44} {'seconds':>8} {'vs loop':>8}")
    for backend, method, seconds in rows:
        ratio = f"{baseline[backend] / seconds:7.2f}x" if not method.startswith("  ") else ""
        print(f"{backend:8} {method:44} {seconds:8.3f} {ratio:>8}")


if __name__ == "__main__":
    main()
