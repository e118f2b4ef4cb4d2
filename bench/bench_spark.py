"""Benchmark (issue 16): the Spark engine reading ArcticDB in parallel, on an S3 store (moto_server).

    python bench/bench_spark.py [--symbols 200] [--rows 250000] [--rounds 3] [--trials 2]

Data: ``--symbols`` symbols x ``--rows`` 1-minute rows (ts, close, volume) written once to a fresh bucket of a
moto_server started here. Query (a): a wildcard aggregate over every symbol,

    SELECT symbol, count(*), avg(close), sum(volume) FROM "bench/*" GROUP BY ALL

run on Spark ``local[1]`` and ``local[2]`` (each in its own process, one after the other, ``--trials`` times;
the median of ``--rounds`` warm runs each); target: local[2] >= 1.6x faster than local[1]. Query (b), the
fixed cost of a query: a ten-row range of one symbol, warm, on Spark local[2] and on the DuckDB engine, and
(a) on the DuckDB engine for scale. Both engines' answers to (a) are checked equal.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import arcticsql  # noqa: E402
from bench.harness import minute_bars, table  # noqa: E402

AGGREGATE = 'SELECT symbol, count(*), avg(close), sum(volume) FROM "bench/*" GROUP BY ALL'
POINT = "SELECT count(*), sum(volume) FROM bench.S0000 WHERE ts >= '2015-01-01 00:10' AND ts < '2015-01-01 00:20'"


def write_data(uri: str, symbols: int, rows: int) -> float:
    connection = arcticsql.connect(uri=uri, config={})
    lib = connection.catalog.library("bench", create=True)
    frame = minute_bars(rows)[["close", "volume"]]
    start = time.perf_counter()

    def write(i: int) -> None:
        shifted = frame.assign(close=frame["close"] + i)
        lib.write(f"S{i:04d}", shifted)

    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(write, range(symbols)))
    connection.close()
    return time.perf_counter() - start


def _cpu(pid: int) -> float:
    """CPU seconds of a process and its reaped children (Linux /proc)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return sum(int(v) for v in fields[11:15]) / os.sysconf("SC_CLK_TCK")  # utime stime cutime cstime


def _descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as stat:
                    parent = int(stat.read().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError):
                continue
            children.setdefault(parent, []).append(int(entry))
    found, pending = [], [pid]
    while pending:
        current = pending.pop()
        for child_pid in children.get(current, []):
            found.append(child_pid)
            pending.append(child_pid)
    return found


def cpu_seconds(*pids: int) -> float:
    """CPU seconds used so far by ``pids`` and all their descendants."""
    return sum(_cpu(p) for root in pids for p in [root, *_descendants(root)])


def child(uri: str, master: str, rounds: int, moto_pid: int) -> None:
    """One Spark session on ``master``: start-up, then warm medians of (a) and (b), and the CPU seconds the
    Spark processes (JVM, Python workers) and moto used per run of (a), as JSON on stdout."""
    import arcticsql.spark

    start = time.perf_counter()
    connection = arcticsql.spark.connect(uri, {}, master=master, conf={"spark.sql.shuffle.partitions": "2",
                                                                       "spark.driver.memory": "2g"}, quiet=True)
    startup = time.perf_counter() - start
    cursor = connection.cursor()
    out = {"master": master, "startup": startup}
    for name, sql in (("aggregate", AGGREGATE), ("point", POINT)):
        first = time.perf_counter()
        rows = cursor.execute(sql).fetchall()
        out[f"{name}_first"] = time.perf_counter() - first
        samples, spark_cpu, moto_cpu = [], [], []
        for _ in range(rounds):
            spark_before, moto_before = cpu_seconds(os.getpid()), cpu_seconds(moto_pid)
            began = time.perf_counter()
            cursor.execute(sql).fetchall()
            samples.append(time.perf_counter() - began)
            spark_cpu.append(cpu_seconds(os.getpid()) - spark_before)
            moto_cpu.append(cpu_seconds(moto_pid) - moto_before)
        out[name] = statistics.median(samples)
        out[f"{name}_samples"] = samples
        out[f"{name}_spark_cpu"] = statistics.median(spark_cpu)
        out[f"{name}_moto_cpu"] = statistics.median(moto_cpu)
        out[f"{name}_rows"] = sorted(map(list, rows))
    connection.close()
    print(json.dumps(out, default=str))


def run_child(uri: str, master: str, rounds: int, moto_pid: int) -> dict:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run([sys.executable, __file__, "--child", master, "--uri", uri, "--rounds", str(rounds),
                           "--moto-pid", str(moto_pid)], capture_output=True, text=True, env=env, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def duckdb_times(uri: str, rounds: int) -> tuple[dict, list]:
    connection = arcticsql.connect(uri=uri, config={})
    cursor = connection.cursor()
    out = {}
    rows = None
    for name, sql in (("aggregate", AGGREGATE), ("point", POINT)):
        result = cursor.execute(sql).fetchall()  # warm-up
        rows = rows if rows is not None else result
        samples = []
        for _ in range(rounds):
            began = time.perf_counter()
            cursor.execute(sql).fetchall()
            samples.append(time.perf_counter() - began)
        out[name] = statistics.median(samples)
    connection.close()
    return out, sorted(map(list, rows))


def same(left: list, right: list) -> bool:
    if len(left) != len(right):
        return False
    for a, b in zip(left, right, strict=True):
        if a[0] != b[0] or a[1] != b[1] or int(a[3]) != int(b[3]) or abs(a[2] - b[2]) > 1e-9 * max(1, abs(a[2])):
            return False
    return True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--symbols", type=int, default=200)
    parser.add_argument("--rows", type=int, default=250_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--trials", type=int, default=2)
    parser.add_argument("--child")
    parser.add_argument("--uri")
    parser.add_argument("--moto-pid", type=int, default=0)
    args = parser.parse_args()
    if args.child:
        child(args.uri, args.child, args.rounds, args.moto_pid)
        return
    from tests.support.moto_server import MotoServer

    with MotoServer() as moto:
        uri = moto.arctic_uri(moto.create_bucket())
        written = write_data(uri, args.symbols, args.rows)
        print(f"wrote {args.symbols} x {args.rows:,} rows to moto S3 in {written:.1f} s", flush=True)
        duck, duck_rows = duckdb_times(uri, args.rounds)
        runs = []
        for trial in range(args.trials):
            for master in ("local[1]", "local[2]"):
                result = run_child(uri, master, args.rounds, moto.process.pid)
                assert same(result["aggregate_rows"], duck_rows), "Spark's answer differs from DuckDB's"
                runs.append(result)
                print(f"trial {trial + 1} {master}: start-up {result['startup']:.1f} s, aggregate "
                      f"{result['aggregate']:.2f} s (first {result['aggregate_first']:.2f} s; CPU: Spark "
                      f"{result['aggregate_spark_cpu']:.1f} s, moto {result['aggregate_moto_cpu']:.1f} s), point "
                      f"{result['point'] * 1000:.0f} ms; load average {os.getloadavg()[0]:.1f}", flush=True)
    rows = []
    one = [r for r in runs if r["master"] == "local[1]"]
    two = [r for r in runs if r["master"] == "local[2]"]
    for trial, (a, b) in enumerate(zip(one, two, strict=True), start=1):
        busy = [(r["aggregate_spark_cpu"] + r["aggregate_moto_cpu"]) / r["aggregate"] for r in (a, b)]
        rows.append([f"trial {trial}", f"{a['aggregate']:.2f} s", f"{b['aggregate']:.2f} s",
                     f"{a['aggregate'] / b['aggregate']:.2f}x", f"{busy[0]:.2f} / {busy[1]:.2f}"])
    print(f"\n(a) {args.symbols} symbols x {args.rows:,} rows, wildcard aggregate (target local[2] >= 1.6x local[1])")
    print(table(rows, ["", "Spark local[1]", "Spark local[2]", "speed-up", "cores busy (Spark + moto) [1] / [2]"]))
    print(f"DuckDB engine, same query: {duck['aggregate']:.2f} s")
    print("\n(b) fixed cost: ten rows of one symbol, warm")
    point = statistics.median(r["point"] for r in two)
    startup = statistics.median(r["startup"] for r in runs)
    print(table([["Spark engine (local[2])", f"{point * 1000:.0f} ms"],
                 ["DuckDB engine", f"{duck['point'] * 1000:.1f} ms"],
                 ["Spark session start-up", f"{startup:.1f} s"]], ["", "time"]))


if __name__ == "__main__":
    main()
