"""Benchmark (issue 15): ArcticDB on S3 (moto_server) behind a proxy that adds a delay to every request.

    python bench/bench_s3.py [--latency-ms 20] [--rows 5000000] [--symbols 200] [--rounds 5]

(a) a one-day range on one 5M-row 1-minute symbol: arcticsql vs the hand-written
    ``lib.read(date_range=..., columns=..., output_format='pyarrow')`` + DuckDB (target <= 1.2x);
(b) a wildcard aggregate over 200 daily symbols: arcticsql vs seed 000's loop (``lib.read`` per symbol,
    ``pd.concat``, pandas) (target >= 5x);
(c) the requests a repeated wildcard statement makes to plan (EXPLAIN plans without reading): none when
    nothing changed, and then after k members got new versions (target: no more than the new versions
    cost to pin).

Each candidate runs on its own connection (the loop on a plain ``arcticdb.Arctic``), interleaved round by
round after one untimed round (bench/harness.py). The proxy counts requests: moto closes every connection
after one request, so its connection count is the request count.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import arcticdb
import duckdb
import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import arcticsql
from bench.harness import measure, minute_bars, ms, table
from tests.support.latency_proxy import LatencyProxy
from tests.support.moto_server import MotoServer

QUARTER = pd.Timestamp("2023-10-01")


def populate(uri: str, rows: int, symbols: int) -> list[str]:
    arctic = arcticdb.Arctic(uri)
    arctic.get_library("prices_1min", create_if_missing=True).write("BIG", minute_bars(rows))
    daily = arctic.get_library("prices_daily", create_if_missing=True)
    index = pd.bdate_range("2023-01-02", periods=252, name="ts")
    rng = np.random.default_rng(0)
    names = [f"S{i:04d}" for i in range(symbols)]
    for name in names:
        close = 100 + np.cumsum(rng.normal(0, 1, len(index)))
        daily.write(name, pd.DataFrame({"close": close, "volume": rng.integers(1, 1000, len(index))}, index=index))
    return names


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--latency-ms", type=float, default=20.0)
    parser.add_argument("--rows", type=int, default=5_000_000)
    parser.add_argument("--symbols", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--changed", type=int, default=5, help="members given new versions for (c)")
    parser.add_argument("--cache-mb", type=int, default=0, help="arcticsql's session cache (0: off)")
    args = parser.parse_args()

    with MotoServer() as moto:
        bucket = moto.create_bucket("bench")
        # arcticsql's store first: ArcticDB sizes its I/O thread pool when a process opens its first store
        arcticsql.connect(uri=moto.arctic_uri(bucket), config={}).catalog.arctic
        symbols = populate(moto.arctic_uri(bucket), args.rows, args.symbols)
        with LatencyProxy(moto.port, args.latency_ms) as proxy:
            uri = moto.arctic_uri(bucket, port=proxy.port)
            # the reads themselves: the session cache would serve repeated rounds (bench_cache.py measures it)
            conn = arcticsql.connect(uri=uri, config={"processing": {"cache_mb": args.cache_mb}})
            cur = conn.cursor()
            arctic = arcticdb.Arctic(uri)  # the hand-written and seed-style code's own store object
            big, daily = arctic.get_library("prices_1min"), arctic.get_library("prices_daily")
            duck = duckdb.connect()
            rows = []
            middle = (pd.Timestamp("2015-01-01") + pd.Timedelta(minutes=args.rows // 2)).normalize()
            day = (middle, middle + pd.Timedelta(days=1))  # minute_bars start on 2015-01-01

            def sql_a():
                return cur.execute("SELECT count(*), avg(close), max(high) FROM prices_1min.BIG "
                                   "WHERE ts >= ? AND ts < ?", list(day)).fetchall()

            def hand_a():
                data = big.read("BIG", date_range=day, columns=["close", "high"],  # noqa: F841
                                output_format="pyarrow").data
                return duck.execute("SELECT count(*), avg(close), max(high) FROM data WHERE ts >= ? AND ts < ?",
                                    list(day)).fetchall()

            times = measure({"arcticsql": sql_a, "hand": hand_a}, rounds=args.rounds,
                            check=lambda r: np.testing.assert_allclose(r["arcticsql"][0], r["hand"][0]))
            rows.append(["(a) one-day range, 5M-row symbol", ms(times["arcticsql"]), ms(times["hand"]),
                         f"{times['arcticsql'] / times['hand']:.2f}x (<= 1.2)"])

            query_b = ('SELECT symbol, avg(close) FROM "prices_daily/*" WHERE ts >= ? GROUP BY symbol '
                       "ORDER BY symbol")

            def sql_b():
                return cur.execute(query_b, [QUARTER]).fetchall()

            def loop_b():
                frames = []
                for name in symbols:
                    frame = daily.read(name, date_range=(QUARTER, None)).data
                    frame["symbol"] = name
                    frames.append(frame)
                means = pd.concat(frames).groupby("symbol").close.mean()
                return list(means.items())

            def agree_b(results):
                got, expected = results["arcticsql"], results["loop"]
                assert [s for s, _ in got] == [s for s, _ in expected]
                np.testing.assert_allclose([v for _, v in got], [v for _, v in expected])

            times = measure({"arcticsql": sql_b, "loop": loop_b}, rounds=args.rounds, check=agree_b)
            rows.append([f"(b) wildcard over {args.symbols} daily symbols", ms(times["arcticsql"]),
                         ms(times["loop"]), f"{times['loop'] / times['arcticsql']:.1f}x faster (>= 5)"])

            plan = f"EXPLAIN {query_b}"
            cur.execute(plan, [QUARTER]).fetchall()
            proxy.reset()
            cur.execute(plan, [QUARTER]).fetchall()
            unchanged = proxy.requests
            proxy.reset()
            cur.execute(query_b, [QUARTER]).fetchall()
            whole = proxy.requests
            for name in symbols[:args.changed]:
                daily.append(name, daily.read(name).data.tail(1).shift(1, freq="D"))
            proxy.reset()
            cur.execute(query_b, [QUARTER]).fetchall()
            after_changes = proxy.requests
            proxy.reset()
            pins = daily.read_batch([arcticdb.ReadRequest(name, row_range=(0, 0)) for name in symbols[:args.changed]],
                                    output_format="pyarrow")
            daily.get_description_batch([arcticdb.ReadInfoRequest(name) for name in symbols[:args.changed]])
            pin_cost = proxy.requests
            del pins
            duck.close()
            conn.close()

    print(f"S3 on moto_server with {args.latency_ms:g} ms per request; medians of {args.rounds} interleaved rounds\n")
    print(table(rows, ["case", "arcticsql", "baseline", "ratio (target)"]))
    print()
    print(table([["(c) planning the repeated statement (EXPLAIN), nothing changed", str(unchanged)],
                 ["    the repeated statement, planned and read", str(whole)],
                 [f"    the statement after {args.changed} members got new versions", str(after_changes)],
                 [f"    pinning those {args.changed} new versions by hand (schema read + description)", str(pin_cost)]],
                ["requests the proxy saw", "count"]))


if __name__ == "__main__":
    main()
