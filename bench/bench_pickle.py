"""Pickle datasets: SQL over PickleDatasetSource vs the seed's loop of ``storage.load`` + ``pd.concat``.

    python bench/bench_pickle.py [--files 200] [--rows 10000] [--repeat 3] [--workers N] [--latency-ms 20]

Writes FILES pickles of ROWS OHLCV rows each to a local folder and to a GCS emulator (fake-gcs-server on
127.0.0.1), then answers ``count(*), avg(Close)`` over all of them in several ways, side by side:

- loop: ``for f in storage.list_files(dir): frames.append(storage.load(dir + f))``, ``pd.concat``, then
  pandas ``len`` and ``mean`` (seed 003's usage example; on GCS without a download cache, as in the seed);
- table: ``read_pickle_table`` then pyarrow ``count``/``mean``;
- sql: ``duckdb`` over a registered ``PickleDatasetSource`` (listing and schema sampling included);
- on GCS, "cold" runs start with an empty download cache and "warm" runs reuse it;
- "gcs+Nms": the same emulator behind a proxy (another process) that delays each request by N ms, as a
  network between client and bucket would; the emulator on 127.0.0.1 has next to no latency, so there
  the client's own CPU bounds every method.

Workers default to each backend's own (1 local, 8 GCS). Each time is the best of REPEAT runs; the ratio
is loop time / this time (higher is faster).
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import shutil
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pyarrow.compute as pc

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from arcticsql.scan.pickle_source import PickleDatasetSource
from arcticsql.storage import GoogleCloudStorage, LocalStorage, read_pickle_table
from arcticsql.storage.emulator import GCSEmulator
from arcticsql.storage.naming import make_path

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


def table_query(store, workers: int | None) -> tuple[int, float]:
    table = read_pickle_table(store, GLOB, max_workers=workers)
    return table.num_rows, pc.mean(table.column("Close")).as_py()


_SESSION: list = []


def sql_query(store, workers: int | None) -> tuple[int, float]:
    """The query on one long-lived DuckDB connection, as in an arcticsql session; the source (file listing
    and schema sample included) is made anew each time, as read_pickle() does per statement."""
    if not _SESSION:
        _SESSION.append(duckdb.connect())
    con = _SESSION[0]
    con.register("p", PickleDatasetSource(store, GLOB, max_workers=workers))
    ((count, mean),) = con.sql("SELECT count(*), avg(Close) FROM p").fetchall()
    return count, mean


def best_of(repeat: int, run: Callable[[], tuple[int, float]], expected: tuple[int, float],
            before: Callable[[], None] | None = None) -> float:
    best = float("inf")
    for _ in range(repeat):
        if before is not None:
            before()
        start = time.perf_counter()
        count, mean = run()
        best = min(best, time.perf_counter() - start)
        if count != expected[0] or abs(mean - expected[1]) > 1e-6 * abs(expected[1]):
            raise SystemExit(f"wrong answer: {(count, mean)} != {expected}")
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=200)
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--workers", type=int, default=None, help="threads per load (default: the backend's)")
    parser.add_argument("--latency-ms", type=float, default=20.0, help="delay per request for gcs+N rows (0: skip)")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="bench_pickle_"))
    emulator = GCSEmulator().start()
    proxy = None
    try:
        client = emulator.client()
        bucket = f"bench-{uuid.uuid4().hex[:8]}"
        client.create_bucket(bucket)
        local = LocalStorage(work / "local")
        gcs_plain = GoogleCloudStorage(bucket, client=client)  # no cache: every load downloads (the seed)
        cache_dir = work / "gcs_cache"
        gcs_cached = GoogleCloudStorage(bucket, client=client, cache_dir=cache_dir)

        started = time.perf_counter()
        expected = populate([local, gcs_plain], args.files, args.rows)
        size_mb = sum(entry.size for entry in local.list_recursive(GLOB)) / 1e6
        workers = args.workers if args.workers is not None else "backend default (local 1, gcs 8)"
        print(f"{args.files} files x {args.rows:,} rows ({size_mb:.0f} MB of pickles) written to a local folder "
              f"and the emulator in {time.perf_counter() - started:.1f} s; workers: {workers}; "
              f"best of {args.repeat}\n")

        def clear_cache() -> None:
            shutil.rmtree(cache_dir, ignore_errors=True)

        w, r = args.workers, args.repeat
        rows: list[tuple[str, str, float]] = []

        def measure(backend: str, method: str, run, before=None) -> None:
            rows.append((backend, method, best_of(r, run, expected, before)))

        measure("local", "loop: storage.load + pd.concat", lambda: loop_query(local))
        measure("local", "read_pickle_table", lambda: table_query(local, w))
        measure("local", "SQL over PickleDatasetSource", lambda: sql_query(local, w))
        measure("gcs", "loop: storage.load + pd.concat", lambda: loop_query(gcs_plain))
        measure("gcs", "read_pickle_table, cold cache", lambda: table_query(gcs_cached, w), clear_cache)
        measure("gcs", "SQL over PickleDatasetSource, cold cache", lambda: sql_query(gcs_cached, w), clear_cache)
        measure("gcs", "SQL over PickleDatasetSource, warm cache", lambda: sql_query(gcs_cached, w))
        measure("gcs", "SQL, no cache (download each time)", lambda: sql_query(gcs_plain, w))
        if args.latency_ms > 0:
            proxy, proxy_url = start_latency_proxy(emulator.url, args.latency_ms)
            far = emulator.client_for(proxy_url)
            far_plain = GoogleCloudStorage(bucket, client=far)
            far_cached = GoogleCloudStorage(bucket, client=far, cache_dir=cache_dir)
            name = f"gcs+{args.latency_ms:g}ms"
            measure(name, "loop: storage.load + pd.concat", lambda: loop_query(far_plain))
            measure(name, "SQL over PickleDatasetSource, cold cache", lambda: sql_query(far_cached, w), clear_cache)
            measure(name, "SQL over PickleDatasetSource, warm cache", lambda: sql_query(far_cached, w))
    finally:
        for con in _SESSION:
            con.close()
        if proxy is not None:
            proxy.terminate()
        emulator.stop()
        shutil.rmtree(work, ignore_errors=True)

    baseline = {backend: seconds for backend, method, seconds in rows if method.startswith("loop")}
    print(f"{'backend':8} {'method':44} {'seconds':>8} {'vs loop':>8}")
    for backend, method, seconds in rows:
        print(f"{backend:8} {method:44} {seconds:8.3f} {baseline[backend] / seconds:7.2f}x")


if __name__ == "__main__":
    main()
