"""Benchmark (issue 4): storing a 5,000,000-row query result through COPY vs lib.write of the same frame.

    python bench/bench_write.py [--rows N] [--rounds R]

Target: COPY within 1.3x of lib.write(sym, df), measured side by side in one run.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import duckdb
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import arcticsql
from bench.harness import measure, minute_bars, ms, table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=5_000_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        conn = arcticsql.connect(uri=f"lmdb://{folder}/arctic", config={})
        cur = conn.cursor()
        n = args.rows
        frame = minute_bars(n)
        lib = conn.catalog.library("prices_1min", create=True)
        lib.write("SRC", frame)
        target = conn.catalog.library("features", create=True)

        cur.execute("CREATE TABLE result AS SELECT * FROM prices_1min.SRC")

        def copy():
            # The query result is in hand (a DuckDB table), as the frame is for lib.write.
            cur.execute("COPY (SELECT * FROM result) TO 'arctic://features/copy' (PRUNE true)")
            return cur.rowcount

        def copy_from_arctic():
            # End to end: the query also reads the 5M rows from ArcticDB.
            cur.execute("COPY (SELECT * FROM prices_1min.SRC) TO 'arctic://features/copy2' (PRUNE true)")
            return cur.rowcount

        def write():
            target.write("direct", frame, prune_previous_versions=True)
            return len(frame)

        plain = duckdb.connect()
        plain.register("source", frame.reset_index())
        plain.execute("CREATE TABLE result AS SELECT * FROM source")
        plain.unregister("source")

        def query_then_write():
            # What a user would otherwise write: the query's result out of DuckDB as a frame, then lib.write.
            df = plain.sql("SELECT * FROM result").df().set_index("ts")
            target.write("by_hand", df, prune_previous_versions=True)
            return len(df)

        def agree(results):
            assert results["COPY"] == results["COPY from ArcticDB"] == results["lib.write"] == n
            assert results["DuckDB .df() + lib.write"] == n
            pd.testing.assert_frame_equal(target.read("by_hand").data, target.read("direct").data)
            pd.testing.assert_frame_equal(target.read("copy").data, target.read("direct").data)
            pd.testing.assert_frame_equal(target.read("copy2").data, target.read("direct").data)

        t = measure({"COPY": copy, "COPY from ArcticDB": copy_from_arctic, "lib.write": write,
                     "DuckDB .df() + lib.write": query_then_write}, rounds=args.rounds, check=agree)
        conn.close()
        plain.close()
    print(f"{n:,} rows x 5 columns, median of {args.rounds} interleaved rounds\n")
    rows = [["store a query result held by DuckDB", ms(t["COPY"]), ms(t["lib.write"]),
             f"{t['COPY'] / t['lib.write']:.2f}x"],
            ["same, the query reading the rows from ArcticDB", ms(t["COPY from ArcticDB"]), ms(t["lib.write"]),
             f"{t['COPY from ArcticDB'] / t['lib.write']:.2f}x"]]
    print(table(rows, ["operation", "COPY ... TO 'arctic://'", "lib.write(sym, df)", "ratio (target <= 1.3)"]))
    by_hand = t["DuckDB .df() + lib.write"]
    print(f"\nWhat a user would otherwise write, the query's result out of DuckDB with .df() and then lib.write: "
          f"{ms(by_hand)}; COPY of the same result is {t['COPY'] / by_hand:.2f}x that.")


if __name__ == "__main__":
    main()
