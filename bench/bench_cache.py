"""Benchmark (issue 19): warm queries served by the cache of decoded columns.

    python bench/bench_cache.py [--sf 0.1] [--rounds R] [--symbols 100] [--latency-ms 20] [--skip-s3]

(a) A TPC-H-shaped workload in ArcticDB on LMDB (seven tables generated at scale factor ``--sf``, the
    queries Q1, Q3, Q5, Q6, Q10, Q12 and Q14), each query run interleaved by:
      duckdb     - DuckDB over the same tables already in memory (Arrow tables, as arcticsql declares them)
      warm       - arcticsql, the query run before in the session (the cache holds its columns)
      no cache   - arcticsql with processing.cache_mb: 0 (every query reads and decodes from ArcticDB)
    Target: warm / duckdb <= 1.3 (median over the seven queries).
(b) ArcticDB on S3 (moto_server) behind a proxy adding ``--latency-ms`` per request: a wildcard aggregate over
    ``--symbols`` daily symbols, run cold, repeated at once, repeated after the listing time (resolved and
    pinned again), then in a new session sharing a disk cache folder with the first; requests and data
    requests (ArcticDB data segments) counted by the proxy.
    Target: no data request when warm.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import arcticsql
from bench.harness import measure, ms, table

QUERIES = {
    "Q1": """SELECT l_returnflag, l_linestatus, sum(l_quantity) AS sum_qty, sum(l_extendedprice) AS sum_base_price,
        sum(l_extendedprice * (1 - l_discount)) AS sum_disc_price,
        sum(l_extendedprice * (1 - l_discount) * (1 + l_tax)) AS sum_charge, avg(l_quantity) AS avg_qty,
        avg(l_extendedprice) AS avg_price, avg(l_discount) AS avg_disc, count(*) AS count_order
        FROM {lineitem} WHERE l_shipdate <= TIMESTAMP '1998-09-02'
        GROUP BY l_returnflag, l_linestatus ORDER BY l_returnflag, l_linestatus""",
    "Q3": """SELECT l_orderkey, sum(l_extendedprice * (1 - l_discount)) AS revenue, o_orderdate, o_shippriority
        FROM {customer}, {orders}, {lineitem}
        WHERE c_mktsegment = 'BUILDING' AND c_custkey = o_custkey AND l_orderkey = o_orderkey
          AND o_orderdate < TIMESTAMP '1995-03-15' AND l_shipdate > TIMESTAMP '1995-03-15'
        GROUP BY l_orderkey, o_orderdate, o_shippriority ORDER BY revenue DESC, o_orderdate LIMIT 10""",
    "Q5": """SELECT n_name, sum(l_extendedprice * (1 - l_discount)) AS revenue
        FROM {customer}, {orders}, {lineitem}, {supplier}, {nation}, {region}
        WHERE c_custkey = o_custkey AND l_orderkey = o_orderkey AND l_suppkey = s_suppkey
          AND c_nationkey = s_nationkey AND s_nationkey = n_nationkey AND n_regionkey = r_regionkey
          AND r_name = 'ASIA' AND o_orderdate >= TIMESTAMP '1994-01-01' AND o_orderdate < TIMESTAMP '1995-01-01'
        GROUP BY n_name ORDER BY revenue DESC""",
    "Q6": """SELECT sum(l_extendedprice * l_discount) AS revenue FROM {lineitem}
        WHERE l_shipdate >= TIMESTAMP '1994-01-01' AND l_shipdate < TIMESTAMP '1995-01-01'
          AND l_discount BETWEEN 0.05 AND 0.07 AND l_quantity < 24""",
    "Q10": """SELECT c_custkey, c_name, sum(l_extendedprice * (1 - l_discount)) AS revenue, c_acctbal, n_name
        FROM {customer}, {orders}, {lineitem}, {nation}
        WHERE c_custkey = o_custkey AND l_orderkey = o_orderkey AND o_orderdate >= TIMESTAMP '1993-10-01'
          AND o_orderdate < TIMESTAMP '1994-01-01' AND l_returnflag = 'R' AND c_nationkey = n_nationkey
        GROUP BY c_custkey, c_name, c_acctbal, n_name ORDER BY revenue DESC LIMIT 20""",
    "Q12": """SELECT l_shipmode,
        sum(CASE WHEN o_orderpriority IN ('1-URGENT', '2-HIGH') THEN 1 ELSE 0 END) AS high_line_count,
        sum(CASE WHEN o_orderpriority NOT IN ('1-URGENT', '2-HIGH') THEN 1 ELSE 0 END) AS low_line_count
        FROM {orders}, {lineitem}
        WHERE o_orderkey = l_orderkey AND l_shipmode IN ('MAIL', 'SHIP') AND l_commitdate < l_receiptdate
          AND l_shipdate < l_commitdate AND l_receiptdate >= TIMESTAMP '1994-01-01'
          AND l_receiptdate < TIMESTAMP '1995-01-01'
        GROUP BY l_shipmode ORDER BY l_shipmode""",
    "Q14": """SELECT 100.0 * sum(CASE WHEN p_type LIKE 'PROMO%' THEN l_extendedprice * (1 - l_discount) ELSE 0 END)
        / sum(l_extendedprice * (1 - l_discount)) AS promo_revenue
        FROM {lineitem}, {part}
        WHERE l_partkey = p_partkey AND l_shipdate >= TIMESTAMP '1995-09-01' AND l_shipdate < TIMESTAMP '1995-10-01'""",
}
TABLES = ("lineitem", "orders", "customer", "part", "supplier", "nation", "region")


def tpch_frames(sf: float, seed: int = 19) -> dict[str, pd.DataFrame]:
    """TPC-H-shaped tables (the columns the seven queries use, and a few more) at scale factor ``sf``."""
    rng = np.random.default_rng(seed)
    n_orders, n_customers = int(1_500_000 * sf), int(150_000 * sf)
    n_parts, n_suppliers = int(200_000 * sf), max(10, int(10_000 * sf))
    regions = ["AFRICA", "AMERICA", "ASIA", "EUROPE", "MIDDLE EAST"]
    region = pd.DataFrame({"r_regionkey": np.arange(5), "r_name": regions})
    nation = pd.DataFrame({"n_nationkey": np.arange(25), "n_name": [f"NATION{i:02d}" for i in range(25)],
                           "n_regionkey": np.arange(25) % 5})
    supplier = pd.DataFrame({"s_suppkey": np.arange(1, n_suppliers + 1),
                             "s_name": [f"Supplier#{i:09d}" for i in range(1, n_suppliers + 1)],
                             "s_nationkey": rng.integers(0, 25, n_suppliers),
                             "s_acctbal": rng.uniform(-999.99, 9999.99, n_suppliers).round(2)})
    customer = pd.DataFrame({"c_custkey": np.arange(1, n_customers + 1),
                             "c_name": [f"Customer#{i:09d}" for i in range(1, n_customers + 1)],
                             "c_nationkey": rng.integers(0, 25, n_customers),
                             "c_acctbal": rng.uniform(-999.99, 9999.99, n_customers).round(2),
                             "c_mktsegment": rng.choice(["AUTOMOBILE", "BUILDING", "FURNITURE", "HOUSEHOLD",
                                                         "MACHINERY"], n_customers)})
    kinds = np.array([f"{a} {b} {c}" for a in ("STANDARD", "SMALL", "MEDIUM", "LARGE", "ECONOMY", "PROMO")
                      for b in ("ANODIZED", "BURNISHED", "PLATED", "POLISHED", "BRUSHED")
                      for c in ("TIN", "NICKEL", "BRASS", "STEEL", "COPPER")])
    part = pd.DataFrame({"p_partkey": np.arange(1, n_parts + 1),
                         "p_brand": [f"Brand#{i}" for i in rng.integers(11, 56, n_parts)],
                         "p_type": rng.choice(kinds, n_parts), "p_size": rng.integers(1, 51, n_parts),
                         "p_retailprice": (900 + np.arange(1, n_parts + 1) % 1000 / 10).round(2)})
    start = np.datetime64("1992-01-01", "ns")
    day = np.timedelta64(1, "D")
    orderdate = start + rng.integers(0, 2406, n_orders) * day
    orders = pd.DataFrame({"o_orderkey": np.arange(1, n_orders + 1) * 4,
                           "o_custkey": rng.integers(1, n_customers + 1, n_orders),
                           "o_orderstatus": rng.choice(["F", "O", "P"], n_orders),
                           "o_totalprice": rng.uniform(850, 550_000, n_orders).round(2),
                           "o_orderdate": orderdate,
                           "o_orderpriority": rng.choice(["1-URGENT", "2-HIGH", "3-MEDIUM", "4-NOT SPECIFIED",
                                                          "5-LOW"], n_orders),
                           "o_shippriority": np.zeros(n_orders, dtype="int64")})
    lines = rng.integers(1, 8, n_orders)
    n_lines = int(lines.sum())
    owner = np.repeat(np.arange(n_orders), lines)
    quantity = rng.integers(1, 51, n_lines).astype("float64")
    partkey = rng.integers(1, n_parts + 1, n_lines)
    shipdate = orderdate[owner] + rng.integers(1, 122, n_lines) * day
    receiptdate = shipdate + rng.integers(1, 31, n_lines) * day
    cutoff = np.datetime64("1995-06-17", "ns")
    lineitem = pd.DataFrame({
        "l_orderkey": orders.o_orderkey.to_numpy()[owner],
        "l_partkey": partkey,
        "l_suppkey": rng.integers(1, n_suppliers + 1, n_lines),
        "l_linenumber": np.concatenate([np.arange(1, k + 1) for k in lines]),
        "l_quantity": quantity,
        "l_extendedprice": (quantity * part.p_retailprice.to_numpy()[partkey - 1]).round(2),
        "l_discount": rng.integers(0, 11, n_lines) / 100,
        "l_tax": rng.integers(0, 9, n_lines) / 100,
        "l_returnflag": np.where(receiptdate <= cutoff, rng.choice(["R", "A"], n_lines), "N"),
        "l_linestatus": np.where(shipdate > cutoff, "O", "F"),
        "l_shipdate": shipdate,
        "l_commitdate": orderdate[owner] + rng.integers(30, 91, n_lines) * day,
        "l_receiptdate": receiptdate,
        "l_shipinstruct": rng.choice(["DELIVER IN PERSON", "COLLECT COD", "NONE", "TAKE BACK RETURN"], n_lines),
        "l_shipmode": rng.choice(["REG AIR", "AIR", "RAIL", "SHIP", "TRUCK", "MAIL", "FOB"], n_lines),
    })
    return {"lineitem": lineitem, "orders": orders, "customer": customer, "part": part, "supplier": supplier,
            "nation": nation, "region": region}


def bench_tpch(args) -> list[list[str]]:
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        uri = f"lmdb://{folder}/arctic"
        frames = tpch_frames(args.sf)
        with arcticsql.connect(uri=uri, config={}) as writer:
            lib = writer.catalog.library("tpch", create=True)
            for name, frame in frames.items():
                lib.write(name, frame)
        print(f"TPC-H-shaped SF {args.sf}: " + ", ".join(f"{n} {len(f):,}" for n, f in frames.items()), flush=True)
        warm = arcticsql.connect(uri=uri, config={})
        cold = arcticsql.connect(uri=uri, config={"processing": {"cache_mb": 0}})
        duck = duckdb.connect()
        wc, cc = warm.cursor(), cold.cursor()
        for name in TABLES:  # the same tables, as arcticsql declares them, held by DuckDB in memory
            data = cc.execute(f"SELECT * EXCLUDE (\"index\") FROM tpch.{name}").fetch_arrow()
            duck.register(name, data)
        ours = {name: f"tpch.{name}" for name in TABLES}
        theirs = {name: name for name in TABLES}
        ratios = []
        for label, text in QUERIES.items():
            ours_text, theirs_text = text.format(**ours), text.format(**theirs)

            def check(results, label=label):
                assert _same(results["warm"], results["duckdb"]), label
                assert _same(results["no cache"], results["duckdb"]), label

            times = measure({"duckdb": lambda t=theirs_text: duck.execute(t).fetchall(),
                             "warm": lambda t=ours_text: wc.execute(t).fetchall(),
                             "no cache": lambda t=ours_text: cc.execute(t).fetchall()},
                            rounds=args.rounds, check=check)
            ratio = times["warm"] / times["duckdb"]
            ratios.append((ratio, times["no cache"] / times["duckdb"]))
            rows.append([label, ms(times["duckdb"]), ms(times["warm"]), ms(times["no cache"]), f"{ratio:.2f}x",
                         f"{times['no cache'] / times['duckdb']:.2f}x"])
            print(rows[-1], flush=True)
        rows.append(["median", "", "", "", f"{statistics.median(r for r, _ in ratios):.2f}x",
                     f"{statistics.median(n for _, n in ratios):.2f}x"])
        stats = warm.session.scan_cache.stats
        print(f"cache: {warm.session.scan_cache.used / 1e6:.1f} MB held; {stats}")
        duck.close()
        warm.close()
        cold.close()
    return rows


def _same(a, b) -> bool:
    if len(a) != len(b):
        return False
    for x, y in zip(a, b):
        for u, v in zip(x, y):
            if isinstance(u, float) and isinstance(v, float):
                if not np.isclose(u, v, rtol=1e-9):
                    return False
            elif u != v:
                return False
    return True


def bench_s3(args) -> list[list[str]]:
    from tests.support.latency_proxy import LatencyProxy
    from tests.support.moto_server import MotoServer

    rows = []
    with MotoServer() as moto, LatencyProxy(moto.port, delay_ms=args.latency_ms) as proxy, \
            tempfile.TemporaryDirectory() as folder:
        bucket = moto.create_bucket()
        direct = moto.arctic_uri(bucket)
        with arcticsql.connect(uri=direct, config={}) as writer:
            lib = writer.catalog.library("prices_daily", create=True)
            rng = np.random.default_rng(0)
            index = pd.bdate_range("2023-01-02", periods=252, name="ts")
            for i in range(args.symbols):
                close = 100 + np.cumsum(rng.normal(0, 1, len(index)))
                lib.write(f"S{i:03d}", pd.DataFrame({"close": close, "volume": rng.integers(1, 1000, len(index))},
                                                    index=index))
        uri = moto.arctic_uri(bucket, port=proxy.port)
        query = ('SELECT symbol, avg(close), sum(volume) FROM "prices_daily/*" WHERE ts >= \'2023-10-02\' '
                 "GROUP BY symbol ORDER BY symbol")
        config = {"processing": {"disk_cache_dir": f"{folder}/cache"}}

        def run(connection, label: str, expected=None):
            proxy.reset()
            start = time.perf_counter()
            result = connection.cursor().execute(query).fetchall()
            elapsed = time.perf_counter() - start
            if expected is not None:
                assert _same(result, expected), label
            rows.append([label, f"{elapsed * 1000:.0f} ms", str(proxy.requests), str(proxy.data_requests)])
            print(rows[-1], flush=True)
            return result

        with arcticsql.connect(uri=uri, config={"processing": {"cache_mb": 0}}) as uncached:
            expected = run(uncached, "no cache: first run")
            run(uncached, "no cache: repeated at once", expected)
        with arcticsql.connect(uri=uri, config=config) as first:
            run(first, "cache: first run (cold)", expected)
            run(first, "cache: repeated at once (warm)", expected)
            wait = first.session.settings.listing_ttl_s + 0.1
            time.sleep(wait)  # past the listing time: the wildcard is listed and its members pinned again
            run(first, f"cache: repeated after {wait:.1f} s (warm, resolved again)", expected)
        with arcticsql.connect(uri=uri, config=config) as second:
            run(second, "a new session sharing the disk cache", expected)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sf", type=float, default=0.1)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--symbols", type=int, default=100)
    parser.add_argument("--latency-ms", type=float, default=20.0)
    parser.add_argument("--skip-s3", action="store_true")
    parser.add_argument("--skip-tpch", action="store_true")
    args = parser.parse_args()
    if not args.skip_tpch:
        rows = bench_tpch(args)
        print()
        print(table(rows, ["query", "duckdb (in memory)", "arcticsql warm", "arcticsql, no cache", "warm / duckdb",
                           "no cache / duckdb"]))
    if not args.skip_s3:
        rows = bench_s3(args)
        print()
        print(f"{args.symbols} daily symbols on S3 (moto) with {args.latency_ms:g} ms added per request:")
        print(table(rows, ["run", "time", "requests", "data requests"]))


if __name__ == "__main__":
    main()
