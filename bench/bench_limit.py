"""Benchmark (issue 18): LIMIT reaches ArcticDB, on one 20,000,000-row symbol.

    python bench/bench_limit.py [--rows N] [--rounds R]

Candidates, run interleaved in one process (the few-millisecond ones timed 20 at a time):
  (a) SELECT * ... LIMIT 10                    vs lib.head(sym, 10)   (Arrow output)
  (b) SELECT * ... ORDER BY ts DESC LIMIT 10   vs lib.tail(sym, 10)
  (c) SELECT * ... WHERE ts >= <middle> LIMIT 10
                                               vs lib.read(date_range=(middle, None), QueryBuilder().head(10)),
                                                  ArcticDB's own way to say it (it reads every segment after X)
  (d) the full scan SELECT * (to Arrow), which (a) and (b) must beat 50 times over.
Targets: (a) and (b) within 1.2x of head/tail, and at most 1/50 of the full scan.
Also reported: the peak resident memory of the process after the LIMIT rounds (the symbol is written by a
child process, and no full scan has run yet), and what the statements asked of ArcticDB (the read log).
"""

from __future__ import annotations

import argparse
import multiprocessing
import resource
import sys
import tempfile
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import arcticsql
from bench.harness import measure, minute_bars, ms, table

REPEAT = 20


def repeated(run, times: int = REPEAT):
    """A few-millisecond call timed ``times`` at a time, so timer and scheduler noise average out."""
    def many():
        for _ in range(times):
            result = run()
        return result
    return many


def write(uri: str, rows: int) -> None:
    """The symbol, written by a child process (the frame's memory is not this process's peak)."""
    connection = arcticsql.connect(uri=uri, config={})
    connection.catalog.library("prices_1min", create=True).write("BIG", minute_bars(rows))
    connection.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=20_000_000)
    parser.add_argument("--rounds", type=int, default=9)
    args = parser.parse_args()
    from arcticdb import QueryBuilder

    with tempfile.TemporaryDirectory() as folder:
        uri = f"lmdb://{folder}/arctic"
        child = multiprocessing.get_context("spawn").Process(target=write, args=(uri, args.rows))
        child.start()
        child.join()
        conn = arcticsql.connect(uri=uri, config={"processing": {"cache_mb": 0}})  # (d) reads, not the cache
        lib = conn.catalog.library("prices_1min")
        middle = pd.Timestamp("2015-01-01") + pd.Timedelta(minutes=args.rows // 2)
        cur = conn.cursor()
        rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

        def sql(query, params=None):
            return lambda: cur.execute(query, params).fetch_arrow()

        cases = [
            ("(a) SELECT * LIMIT 10", sql("SELECT * FROM prices_1min.BIG LIMIT 10"),
             lambda: lib.head("BIG", 10, output_format="pyarrow").data, "lib.head(10)"),
            ("(b) ORDER BY ts DESC LIMIT 10", sql("SELECT * FROM prices_1min.BIG ORDER BY ts DESC LIMIT 10"),
             lambda: lib.tail("BIG", 10, output_format="pyarrow").data, "lib.tail(10)"),
            ("(c) WHERE ts >= middle LIMIT 10", sql("SELECT * FROM prices_1min.BIG WHERE ts >= ? LIMIT 10", [middle]),
             lambda: lib.read("BIG", date_range=(middle, None), query_builder=QueryBuilder().head(10),
                              output_format="pyarrow").data, "date_range + QueryBuilder().head(10)"),
        ]
        for _label, ours, _theirs, _name in cases:  # arcticsql's statements alone first: their memory
            for _ in range(5):
                ours()
        rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        rows, times = [], {}
        for label, ours, theirs, name in cases:
            def agree(results):
                assert results["arcticsql"].num_rows == results["baseline"].num_rows == 10
            repeat = REPEAT if not label.startswith("(c)") else 1
            t = measure({"arcticsql": repeated(ours, repeat), "baseline": repeated(theirs, repeat)},
                        rounds=args.rounds, check=agree)
            t = {k: v / repeat for k, v in t.items()}
            times[label] = t["arcticsql"]
            rows.append([label, ms(t["arcticsql"]), f"{name}: {ms(t['baseline'])}", f"{t['arcticsql'] / t['baseline']:.2f}x"])
        conn.session.read_log.clear()
        for _label, ours, _theirs, _name in cases:
            ours()
        asked = [(r.row_range, r.date_range, r.rows) for r in conn.session.read_log.records()]

        full = measure({"full": sql("SELECT * FROM prices_1min.BIG")}, rounds=3)["full"]
        for row, (label, _ours, _theirs, _name) in zip(rows, cases):
            row.append(f"1/{full / times[label]:.0f}")
        conn.close()
    print(f"{args.rows:,} rows x 5 columns on LMDB; median of {args.rounds} interleaved rounds; full scan to Arrow "
          f"{ms(full)} (median of 3)\n")
    print(table(rows, ["query", "arcticsql", "baseline", "arcticsql / baseline (target <= 1.2)",
                       "of the full scan (target <= 1/50)"]))
    print(f"\npeak RSS after arcticsql's three LIMIT statements (5 times each, before any baseline or full scan): "
          f"{rss_after / 1024:.0f} MB (before them: {rss_before / 1024:.0f} MB)")
    print("what the three statements asked ArcticDB for (row_range, date_range, rows):")
    for read in asked:
        print(f"  {read}")


if __name__ == "__main__":
    main()
