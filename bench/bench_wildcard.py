"""Benchmark (issue 3): wildcard tables vs the seed-style loop of reads.

    python bench/bench_wildcard.py [--rounds R]

(a) 500 symbols x 1 year of daily bars: SELECT symbol, avg(close) FROM "prices_daily/*" WHERE ts >= <last
    quarter> GROUP BY symbol
(b) 50 symbols x 1 month of 1-minute bars, a one-week range: per-symbol count and mean
(c) planning: a one-symbol query in a library of 10,000 symbols vs in a library of 10 (added time)
Baseline: for s in symbols: lib.read(s, date_range=...); pd.concat; pandas groupby.
Targets: arcticsql >= 3x faster than the loop on (a) and (b); (c) adds under 50 ms.

Issue 18, a library of 2,000 small symbols (10 rows each); "cold" is the first statement of a new
connection (nothing resolved or pinned yet), "warm" a repeated one within the listing time:
(d) cold SELECT * FROM "tiny/*"                 vs ArcticDB's read_batch of the 2,000 (target <= 1.5x)
(e) cold ... WHERE symbol = 's0005'             vs a cold one-symbol query SELECT * FROM tiny.s0005 (<= 2x)
(f) cold ... LIMIT 1                            vs a cold SELECT * FROM tiny.s0005 LIMIT 1 (<= 2x)
(g) warm WHERE symbol = 's0005', (h) warm LIMIT 1, each vs the same one-symbol query warm
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import arcticsql
from bench.harness import measure, ms, table

#: Every connection's settings: the reads themselves are measured (the session cache off unless --cache-mb).
CONFIG: dict = {"processing": {"cache_mb": 0}}


def write_symbols(lib, count: int, index: pd.DatetimeIndex, prefix: str = "S") -> list[str]:
    rng = np.random.default_rng(0)
    names = []
    for i in range(count):
        close = 100 + np.cumsum(rng.normal(0, 1, len(index)))
        lib.write(f"{prefix}{i:05d}", pd.DataFrame({"open": close, "high": close + 1, "low": close - 1,
                                                    "close": close, "volume": rng.integers(1, 1000, len(index))},
                                                   index=index))
        names.append(f"{prefix}{i:05d}")
    return names


def loop(lib, symbols, date_range):
    frames = []
    for s in symbols:
        frame = lib.read(s, date_range=date_range).data
        frame["symbol"] = s
        frames.append(frame)
    return pd.concat(frames)


def tiny_cases(conn, uri: str, count: int, rounds: int) -> list[list[str]]:
    """(d)-(h): a library of ``count`` symbols of 10 rows."""
    from arcticdb import WritePayload

    lib = conn.catalog.library("tiny", create=True)
    index = pd.date_range("2024-01-01", periods=10, freq="D", name="ts")
    lib.write_batch([WritePayload(f"s{i:04d}", pd.DataFrame({"a": np.arange(10) + i, "b": np.arange(10) * 0.5},
                                                            index=index)) for i in range(count)])
    names = sorted(lib.list_symbols())  # (compacts the symbol list once, as any first listing would)

    def cold(query):
        def run():
            connection = arcticsql.connect(uri=uri, config=CONFIG)
            try:
                return connection.cursor().execute(query).fetch_arrow()
            finally:
                connection.close()
        return run

    def agree_rows(results):
        assert results["arcticsql"].num_rows == (results["baseline"].num_rows
                                                 if hasattr(results["baseline"], "num_rows") else results["baseline"])

    out = []
    t = measure({"arcticsql": cold('SELECT * FROM "tiny/*"'),
                 "baseline": lambda: sum(item.data.num_rows for item in lib.read_batch(names, output_format="pyarrow"))},
                rounds=rounds, check=agree_rows)
    out.append([f"(d) cold \"tiny/*\", {count} symbols", ms(t["arcticsql"]), f"read_batch: {ms(t['baseline'])}",
                f"{t['arcticsql'] / t['baseline']:.2f}x (target <= 1.5)"])
    for label, wild, one in [("(e) cold WHERE symbol = 's0005'", """SELECT * FROM "tiny/*" WHERE symbol = 's0005'""",
                              "SELECT * FROM tiny.s0005"),
                             ("(f) cold LIMIT 1", 'SELECT * FROM "tiny/*" LIMIT 1', "SELECT * FROM tiny.s0005 LIMIT 1")]:
        t = measure({"arcticsql": cold(wild), "baseline": cold(one)}, rounds=rounds * 2, check=agree_rows)
        out.append([label, ms(t["arcticsql"]), f"one symbol, cold: {ms(t['baseline'])}",
                    f"{t['arcticsql'] / t['baseline']:.2f}x (target <= 2)"])
    warm = arcticsql.connect(uri=uri, config={"processing": {**CONFIG["processing"], "listing_ttl_s": 3600}})
    cursor = warm.cursor()
    for label, wild, one in [("(g) warm WHERE symbol = 's0005'", """SELECT * FROM "tiny/*" WHERE symbol = 's0005'""",
                              "SELECT * FROM tiny.s0005"),
                             ("(h) warm LIMIT 1", 'SELECT * FROM "tiny/*" LIMIT 1', "SELECT * FROM tiny.s0005 LIMIT 1")]:
        t = measure({"arcticsql": repeated(lambda q=wild: cursor.execute(q).fetch_arrow()),
                     "baseline": repeated(lambda q=one: cursor.execute(q).fetch_arrow())},
                    rounds=rounds * 3, check=agree_rows)
        out.append([label, ms(t["arcticsql"] / 20), f"one symbol, warm: {ms(t['baseline'] / 20)}",
                    f"{t['arcticsql'] / t['baseline']:.2f}x (target <= 2)"])
    warm.close()
    return out


def repeated(run, times: int = 20):
    """A few-millisecond query timed ``times`` at a time, so timer and scheduler noise average out."""
    def many():
        for _ in range(times):
            result = run()
        return result
    return many


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--tiny", type=int, default=2000, help="symbols of the small-symbol library (0: skip)")
    parser.add_argument("--only-tiny", action="store_true", help="run only the small-symbol cases (d)-(h)")
    parser.add_argument("--cache-mb", type=int, default=0, help="arcticsql's session cache (0: off)")
    args = parser.parse_args()
    CONFIG["processing"]["cache_mb"] = args.cache_mb
    rows: list[list[str]] = []
    with tempfile.TemporaryDirectory() as folder:
        uri = f"lmdb://{folder}/arctic"
        conn = arcticsql.connect(uri=uri, config=CONFIG)
        cur = conn.cursor()
        if args.tiny:
            rows.extend(tiny_cases(conn, uri, args.tiny, args.rounds))
        if args.only_tiny:
            conn.close()
            print(table(rows, ["query", "arcticsql", "baseline", "ratio / added"]))
            return
        daily = conn.catalog.library("prices_daily", create=True)
        minute = conn.catalog.library("prices_1min", create=True)
        daily_symbols = write_symbols(daily, 500, pd.bdate_range("2023-01-02", periods=252, name="ts"))
        minute_symbols = write_symbols(minute, 50, pd.date_range("2024-01-01", periods=31 * 1440, freq="min",
                                                                 name="ts"))
        quarter = pd.Timestamp("2023-10-02")
        week = (pd.Timestamp("2024-01-15"), pd.Timestamp("2024-01-21 23:59:59"))

        def sql_a():
            return cur.execute('SELECT symbol, avg(close) FROM "prices_daily/*" WHERE ts >= ? GROUP BY symbol '
                               "ORDER BY symbol", [quarter]).fetchall()

        def loop_a():
            frame = loop(daily, daily_symbols, (quarter, None))
            return list(frame.groupby("symbol").close.mean().items())

        def sql_b():
            return cur.execute('SELECT symbol, count(*), avg(close) FROM "prices_1min/*" WHERE ts BETWEEN ? AND ? '
                               "GROUP BY symbol ORDER BY symbol", list(week)).fetchall()

        def loop_b():
            frame = loop(minute, minute_symbols, week)
            grouped = frame.groupby("symbol").close
            return list(zip(grouped.count().index, grouped.count(), grouped.mean()))

        def agree(results):
            a, b = results["arcticsql"], results["loop"]
            assert [r[0] for r in a] == [r[0] for r in b]
            np.testing.assert_allclose([r[-1] for r in a], [r[-1] for r in b])

        for label, (sql, base) in [("(a) 500 daily symbols, last quarter", (sql_a, loop_a)),
                                   ("(b) 50 minute symbols, one week", (sql_b, loop_b))]:
            t = measure({"arcticsql": sql, "loop": base}, rounds=args.rounds, check=agree)
            rows.append([label, ms(t["arcticsql"]), ms(t["loop"]), f"{t['loop'] / t['arcticsql']:.1f}x"])

        # (c) planning cost in a big library: the same one-symbol query, 10 vs 10,000 symbols.
        small, big = conn.catalog.library("features", create=True), conn.catalog.library("signals", create=True)
        frame = pd.DataFrame({"x": [1.0]}, index=pd.DatetimeIndex(["2024-01-01"], name="ts"))
        for i in range(10):
            small.write(f"K{i:05d}", frame)
        from arcticdb import WritePayload

        big.write_batch([WritePayload(f"K{i:05d}", frame) for i in range(10_000)])
        one_small = lambda: cur.execute("SELECT x FROM features.K00007").fetchall()  # noqa: E731
        one_big = lambda: cur.execute("SELECT x FROM signals.K07777").fetchall()  # noqa: E731
        t = measure({"10 symbols": one_small, "10,000 symbols": one_big}, rounds=args.rounds * 4)
        rows.append(["(c) one-symbol query, library of 10 vs 10,000", ms(t["10,000 symbols"]), ms(t["10 symbols"]),
                     f"+{(t['10,000 symbols'] - t['10 symbols']) * 1000:.2f} ms"])
        conn.close()
    print(f"median of {args.rounds} interleaved rounds\n")
    print(table(rows, ["query", "arcticsql", "baseline", "speed-up / ratio / added"]))


if __name__ == "__main__":
    main()
