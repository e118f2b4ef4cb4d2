"""Pickle datasets: SQL ``read_pickle`` vs seed 003's loop of ``storage.load`` + ``pd.concat``.

    python bench/bench_pickle.py [--files 200] [--rows 10000] [--rounds 7] [--latency-ms 20]

Writes FILES pickles of ROWS OHLCV rows each to a local folder and to a GCS emulator (fake-gcs-server on
127.0.0.1), then answers ``count(*), avg(Close)`` over all of them: with the loop (``list_files``, then
``storage.load`` per file and ``pd.concat``; on GCS without a download cache, as in the seed) and with SQL
on a long-lived connection, its loader processes on (``storage.sandbox: true``) and off. Three places: the
local folder, the emulator behind a proxy (another process) holding each request ``--latency-ms`` (as a
network would), and the emulator itself (no latency: the CPU of client and emulator bounds everything).
Candidates of one place run interleaved, round by round after a warm-up (bench/harness.py); each time is the
median, and the ratio is loop time / this time. Also measured: the checks' cost per file, and how long the
loader processes take to start (the first read of a process starts multiprocessing's forkserver).
"""

from __future__ import annotations

import argparse
import os
import pickle
import shutil
import sys
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import arcticsql
from arcticsql.pickles import GoogleCloudStorage, LocalStorage, make_path
from arcticsql.pickles.checks import check_frame
from arcticsql.pickles.sandbox import Sandbox
from arcticsql.pickles.unpickling import load_pickle
from bench.harness import measure, ms, table
from tests.support.gcs_emulator import GCSEmulator
from tests.support.latency_proxy import LatencyProxy

FOLDER = "index/nifty/gbm"
GLOB = f"{FOLDER}/*.pkl"
QUERY = "SELECT count(*), avg(Close) FROM read_pickle('{}')"


def ohlc(rows: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    close = 18_000 + np.cumsum(rng.normal(0, 5, rows))
    return pd.DataFrame({"Open": close + rng.normal(0, 1, rows), "High": close + 3.0, "Low": close - 3.0,
                         "Close": close, "Volume": rng.integers(1_000, 10_000, rows)},
                        index=pd.date_range("2024-01-01 09:15", periods=rows, freq="min") + pd.Timedelta(days=seed))


def loop(store) -> tuple[int, float]:
    frame = pd.concat([store.load(f"{FOLDER}/{name}") for name in store.list_files(FOLDER, pattern=r".*\.pkl$")])
    return len(frame), float(frame.Close.mean())


def sql(conn, glob: str) -> tuple[int, float]:
    ((count, mean),) = conn.cursor().execute(QUERY.format(glob)).fetchall()
    return count, mean


def per_file_costs(rows: int, rounds: int) -> list[list[str]]:
    """The unpickler's and the checks' cost for one OHLC file and one 100,000-string column."""
    ohlc_bytes = pickle.dumps(ohlc(rows, 0), protocol=5)
    strings = pd.DataFrame({"s": [f"SYM{i % 5000}_{i}" for i in range(100_000)]})
    string_bytes = pickle.dumps(strings, protocol=5)
    out = []
    for label, data, repeat in ((f"{rows:,}-row OHLC file", ohlc_bytes, 200), ("100,000-string column", string_bytes, 3)):
        frame = pickle.loads(data)
        times = measure({
            "pickle.loads (C, unchecked)": lambda data=data, repeat=repeat: [pickle.loads(data) for _ in range(repeat)],
            "restricted unpickler": lambda data=data, repeat=repeat: [load_pickle(data, "f") for _ in range(repeat)],
            "frame checks": lambda frame=frame, repeat=repeat: [check_frame(frame, "f") for _ in range(repeat)],
        }, rounds=rounds)
        out += [[label, name, ms(seconds / repeat)] for name, seconds in times.items()]
    return out


def pool_start() -> list[list[str]]:
    """Seconds to a first answer from new loader processes: the first pool of this process (which starts
    the forkserver, importing arcticsql once), then a second pool."""
    file = ("x.pkl", pickle.dumps(pd.DataFrame({"a": [1.0]})))
    rows = []
    for which in ("first pool of a process (forkserver start)", "a later pool"):
        sandbox = Sandbox(2)
        began = time.perf_counter()
        list(sandbox.load([file], None, False, True))
        rows.append([which, ms(time.perf_counter() - began)])
        sandbox.close()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=200)
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--latency-ms", type=float, default=20.0)
    args = parser.parse_args()

    starts = pool_start()
    work = Path(tempfile.mkdtemp(prefix="bench_pickle_"))
    emulator = GCSEmulator().start()
    proxy = None
    connections = []
    rows: list[list[str]] = []
    try:
        client = emulator.client()
        bucket = f"bench-{uuid.uuid4().hex[:8]}"
        client.create_bucket(bucket)
        local, gcs = LocalStorage(work), GoogleCloudStorage(bucket, client=client)
        total, close_sum = 0, 0.0
        for i in range(args.files):
            frame = ohlc(args.rows, i)
            path = make_path("index", "nifty", "gbm", f"path{i:04d}", timestamp=f"20240101_{i // 60:04d}{i % 60:02d}")
            for store in (local, gcs):
                store.save(frame, path)
            total, close_sum = total + len(frame), close_sum + float(frame.Close.sum())
        expected = (total, close_sum / total)
        proxy = LatencyProxy(int(emulator.url.rsplit(":", 1)[1]), args.latency_ms, every_chunk=True)
        proxy_url = f"http://127.0.0.1:{proxy.port}"

        def connect(storage: dict, endpoint: str | None = None):
            if endpoint is not None:  # the session's GCS client is made by its first read, from the environment
                os.environ["STORAGE_EMULATOR_HOST"] = endpoint
            conn = arcticsql.connect(uri="mem://", config={"storage": storage})
            sql(conn, glob_of(storage))
            os.environ["STORAGE_EMULATOR_HOST"] = emulator.url
            connections.append(conn)
            return conn

        def glob_of(storage: dict) -> str:
            return GLOB if storage.get("type") == "gcs" else str(work / GLOB)

        def check(results: dict) -> None:
            for name, (count, mean) in results.items():
                if count != expected[0] or abs(mean - expected[1]) > 1e-6 * abs(expected[1]):
                    raise SystemExit(f"{name}: wrong answer {(count, mean)} != {expected}")

        places = [("local", {"type": "local"}, None, local, args.rounds),
                  (f"gcs + {args.latency_ms:g} ms", {"type": "gcs"}, proxy_url,
                   GoogleCloudStorage(bucket, client=emulator.client_for(proxy_url)), max(3, args.rounds // 2)),
                  ("gcs, no latency", {"type": "gcs"}, emulator.url, gcs, args.rounds)]
        for place, storage, endpoint, store, rounds in places:
            storage = {**storage, "gcs": {"bucket_name": bucket, "cache_dir": None}}
            on, off = (connect({**storage, "sandbox": sandbox}, endpoint) for sandbox in (True, False))
            glob = glob_of(storage)
            times = measure({"loop: storage.load + pd.concat": lambda store=store: loop(store),
                             "SQL read_pickle, sandbox on": lambda on=on, glob=glob: sql(on, glob),
                             "SQL read_pickle, sandbox off": lambda off=off, glob=glob: sql(off, glob)},
                            rounds=rounds, check=check)
            baseline = times["loop: storage.load + pd.concat"]
            rows += [[place, name, ms(seconds), f"{baseline / seconds:.2f}x"] for name, seconds in times.items()]
    finally:
        for conn in connections:
            conn.close()
        if proxy is not None:
            proxy.close()
        emulator.stop()
        shutil.rmtree(work, ignore_errors=True)
    print(f"{args.files} files x {args.rows:,} rows; medians of interleaved rounds\n")
    print(table(rows, ["place", "method", "median", "vs loop"]), end="\n\n")
    print(table(per_file_costs(args.rows, args.rounds), ["file", "step", "per file"]), end="\n\n")
    print(table(starts, ["loader processes", "to a first answer"]))


if __name__ == "__main__":
    main()
