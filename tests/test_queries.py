"""End-to-end SQL over real ArcticDB symbols: results equal the same computation in pandas."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import arcticsql
from tests.conftest import counting_calls


@pytest.fixture
def conn(store_conn):
    """Every test here runs on LMDB and on S3 (moto), the stores a team shares."""
    return store_conn


def test_issue_example_range_aggregate(conn, prices):
    cur = conn.cursor()
    cur.execute("SELECT count(*), avg(close) FROM prices_1min.AAPL WHERE ts >= ? AND ts < ?",
                ["2024-01-02", "2024-01-03"])
    assert [d[0] for d in cur.description] == ["count_star()", "avg(\"close\")"]
    (count, mean), = cur.fetchall()
    frame = prices["AAPL"]
    day = frame[(frame.index >= "2024-01-02") & (frame.index < "2024-01-03")]
    assert count == len(day)
    assert mean == pytest.approx(day.close.mean())
    record = conn.session.read_log.records()[-1]
    assert record.date_range == (pd.Timestamp("2024-01-02"), pd.Timestamp("2024-01-03") - pd.Timedelta(1, "ns"))
    assert record.columns == ("close",)
    assert record.rows == len(day)


@pytest.mark.parametrize("name", ["prices_1min.AAPL", '"prices_1min/AAPL"', 'prices_1min."AAPL"'])
def test_name_forms(conn, prices, name):
    df = conn.cursor().execute(f"SELECT * FROM {name} LIMIT 5").fetch_df()
    expected = prices["AAPL"].reset_index().head(5)
    pd.testing.assert_frame_equal(df, expected, check_dtype=False)


def test_symbols_with_slashes_and_dates(conn):
    frame = pd.DataFrame({"momentum": [0.1, -0.2]}, index=pd.DatetimeIndex(["2024-01-02", "2024-01-03"], name="ts"))
    conn.catalog.library("signals", create=True).write("momentum/SP500", frame)
    conn.catalog.library("news_enriched", create=True).write("2024-01-15", frame)
    cur = conn.cursor()
    assert cur.execute('SELECT sum(momentum) FROM signals."momentum/SP500"').fetchone()[0] == pytest.approx(-0.1)
    assert cur.execute('SELECT count(*) FROM "signals/momentum/SP500"').fetchone()[0] == 2
    assert cur.execute('SELECT count(*) FROM news_enriched."2024-01-15"').fetchone()[0] == 2


def test_index_columns(conn):
    lib = conn.catalog.library("features", create=True)
    lib.write("unnamed", pd.DataFrame({"x": [1, 2]}, index=pd.DatetimeIndex(["2024-01-01", "2024-01-02"])))
    lib.write("range", pd.DataFrame({"x": [1, 2, 3]}, index=pd.RangeIndex(10, 16, 2)))
    multi = pd.MultiIndex.from_arrays([pd.DatetimeIndex(["2024-01-01", "2024-01-01"]), ["AAPL", "MSFT"]],
                                      names=["ts", "ticker"])
    lib.write("multi", pd.DataFrame({"x": [1, 2]}, index=multi))
    cur = conn.cursor()
    assert [d[0] for d in cur.execute("SELECT * FROM features.unnamed").description] == ["index", "x"]
    assert cur.execute("SELECT * FROM features.range").fetchall() == [(10, 1), (12, 2), (14, 3)]
    assert cur.execute("SELECT ticker, x FROM features.multi WHERE ticker = 'MSFT'").fetchall() == [("MSFT", 2)]


def test_tz_aware_index_keeps_its_instant(conn):
    frame = pd.DataFrame({"x": [1, 2, 3]}, index=pd.date_range("2024-01-02 09:30", periods=3, freq="h",
                                                             tz="America/New_York", name="ts"))
    conn.catalog.library("indices", create=True).write("SPX", frame)
    cur = conn.cursor()
    cur.execute("SET TimeZone = 'UTC'")
    rows = cur.execute("SELECT ts, x FROM indices.SPX WHERE ts > TIMESTAMPTZ '2024-01-02 14:30:00+00'").fetchall()
    assert [x for _, x in rows] == [2, 3]
    assert rows[0][0] == pd.Timestamp("2024-01-02 15:30", tz="UTC").to_pydatetime()
    assert conn.session.read_log.records()[-1].date_range[0] == pd.Timestamp("2024-01-02 14:30:00.000000001", tz="UTC")


def test_joins_asof_windows_ctes_group_by_all_time_bucket(conn, prices):
    cur = conn.cursor()
    aapl, msft = prices["AAPL"], prices["MSFT"]
    spread = cur.execute("""
        SELECT avg(a.close - m.close) FROM prices_1min.AAPL a JOIN prices_1min.MSFT m USING (ts)
    """).fetchone()[0]
    assert spread == pytest.approx((aapl.close - msft.close).mean())

    daily = cur.execute("""
        WITH bars AS (SELECT * FROM prices_1min.AAPL)
        SELECT time_bucket(INTERVAL 1 DAY, ts) AS day, last(close ORDER BY ts) AS close, count(*) AS n
        FROM bars GROUP BY ALL ORDER BY day
    """).fetch_df()
    expected = aapl.close.resample("1D").last()
    np.testing.assert_allclose(daily.close.to_numpy(), expected.to_numpy())

    returns = cur.execute("""
        SELECT ts, close / lag(close) OVER (ORDER BY ts) - 1 AS r FROM prices_1min.AAPL ORDER BY ts
    """).fetch_df()
    np.testing.assert_allclose(returns.r.to_numpy()[1:], aapl.close.pct_change().to_numpy()[1:])

    cur.execute("CREATE TEMP TABLE events AS SELECT ts + INTERVAL 30 SECOND AS ts, 1 AS e FROM prices_1min.MSFT "
                "WHERE ts < '2024-01-02 15:00'")
    asof = cur.execute("""
        SELECT e.ts, p.close FROM events e ASOF JOIN prices_1min.AAPL p ON e.ts >= p.ts ORDER BY e.ts
    """).fetchall()
    assert len(asof) == 30
    assert asof[0][1] == pytest.approx(aapl.close.iloc[0])


def test_several_statements_in_one_call(conn, prices):
    cur = conn.cursor()
    cur.execute("CREATE TABLE t AS SELECT * FROM prices_1min.AAPL WHERE volume > 5000; "
                "SELECT count(*) FROM t")
    assert cur.fetchone()[0] == int((prices["AAPL"].volume > 5000).sum())


def test_time_travel_versions_and_snapshots(conn, prices):
    lib = conn.catalog.library("prices_1min", create=True)
    changed = prices["AAPL"].assign(close=1.0)
    lib.snapshot("before")
    lib.write("AAPL", changed)
    cur = conn.cursor()
    assert cur.execute("SELECT max(close) FROM prices_1min.AAPL").fetchone()[0] == 1.0
    old = cur.execute("SELECT max(close) FROM prices_1min.AAPL AT (VERSION => 0)").fetchone()[0]
    assert old == pytest.approx(prices["AAPL"].close.max())
    snap = cur.execute("SELECT max(close) FROM prices_1min.AAPL AT (SNAPSHOT => 'before')").fetchone()[0]
    assert snap == pytest.approx(old)
    with pytest.raises(arcticsql.ProgrammingError, match="no version 7"):
        cur.execute("SELECT * FROM prices_1min.AAPL AT (VERSION => 7)")
    with pytest.raises(arcticsql.ProgrammingError, match="snapshot"):
        cur.execute("SELECT * FROM prices_1min.AAPL AT (SNAPSHOT => 'nope')")
    with pytest.raises(arcticsql.ProgrammingError, match="has no version at or before 2000-01-01.*versions: 0, 1"):
        cur.execute("SELECT * FROM prices_1min.AAPL AT (TIMESTAMP => '2000-01-01')")
    past = cur.execute("SELECT max(close) FROM prices_1min.AAPL AT (TIMESTAMP => '2100-01-01')").fetchone()[0]
    assert past == 1.0  # the latest version at that time


def test_unknown_names_suggest_close_matches(conn, prices):
    cur = conn.cursor()
    with pytest.raises(arcticsql.ProgrammingError, match="unknown symbol 'AAPK'.*AAPL"):
        cur.execute("SELECT * FROM prices_1min.AAPK")
    with pytest.raises(arcticsql.ProgrammingError, match="unknown library 'prices_1mn'.*prices_1min"):
        cur.execute("SELECT * FROM prices_1mn.AAPL")
    with pytest.raises(arcticsql.ProgrammingError, match="(?i)syntax|parser"):
        cur.execute("SELEC 1")
    with pytest.raises(arcticsql.ProgrammingError, match="nope"):
        cur.execute("SELECT nope FROM prices_1min.AAPL")


def test_one_symbol_query_does_not_list_the_library(conn):
    """Lazy resolution: an exact name is pinned with read_metadata, never by listing symbols."""
    lib = conn.catalog.library("ticks", create=True)
    frame = pd.DataFrame({"x": [1]}, index=pd.DatetimeIndex(["2024-01-01"], name="ts"))
    for i in range(50):
        lib.write(f"T{i}", frame)
    with counting_calls(lib, "list_symbols") as calls:
        assert conn.cursor().execute("SELECT x FROM ticks.T7").fetchall() == [(1,)]
    assert calls == []


def test_duckdb_native_tables_beside_arctic_ones(conn, prices):
    cur = conn.cursor()
    cur.execute("CREATE TABLE universe AS SELECT * FROM (VALUES ('AAPL', 'Tech')) v(ticker, sector)")
    cur.execute("CREATE SCHEMA research; CREATE TABLE research.notes AS SELECT 1 AS id")
    assert cur.execute("SELECT count(*) FROM research.notes").fetchone()[0] == 1
    assert cur.execute("SELECT sector FROM universe").fetchone()[0] == "Tech"
    assert cur.execute("SELECT count(*) FROM main.universe, prices_1min.AAPL").fetchone()[0] == len(prices["AAPL"])


def test_views_keep_working(conn, prices):
    cur = conn.cursor()
    cur.execute("CREATE VIEW aapl_hi AS SELECT * FROM prices_1min.AAPL WHERE volume > 9000")
    cur.execute("SELECT 1")
    assert cur.execute("SELECT count(*) FROM aapl_hi").fetchone()[0] == int((prices["AAPL"].volume > 9000).sum())


def test_count_and_index_filters_on_a_range_index(conn):
    conn.catalog.library("features", create=True).write("r", pd.DataFrame({"x": [5, 6, 7]}))
    cur = conn.cursor()
    assert cur.execute("SELECT count(*) FROM features.r").fetchone()[0] == 3
    assert cur.execute('SELECT count(*) FROM features.r WHERE "index" = 0').fetchone()[0] == 1
    assert cur.execute('SELECT count(*) FROM "features/r*"').fetchone()[0] == 3


def test_repeated_queries_skip_the_version_pin_but_see_new_versions(conn, prices):
    """A symbol queried before is planned with the version last seen and checked on reading: a newer
    version with the same columns is read; one with other columns makes the statement run again."""
    lib = conn.catalog.library("prices_1min", create=True)
    cur = conn.cursor()
    cur.execute("SELECT count(*) FROM prices_1min.AAPL").fetchall()
    with counting_calls(lib, "read_metadata") as calls:
        assert cur.execute("SELECT count(*) FROM prices_1min.AAPL").fetchone()[0] == len(prices["AAPL"])
        assert calls == []  # no pin for a symbol already seen
        lib.write("AAPL", prices["AAPL"].iloc[:10])  # same columns, written behind arcticsql's back
        assert cur.execute("SELECT count(*) FROM prices_1min.AAPL").fetchone()[0] == 10
        lib.write("AAPL", prices["AAPL"].iloc[:5].assign(extra=1.0))  # other columns
        assert cur.execute("SELECT count(*), sum(extra) FROM prices_1min.AAPL").fetchone() == (5, 5.0)
        assert cur.execute("SELECT count(*) FROM prices_1min.AAPL").fetchone()[0] == 5
        lib.write("AAPL", prices["AAPL"].iloc[:3].assign(other="x"))  # other columns again
        assert cur.execute("SELECT * FROM prices_1min.AAPL").description[-1][0] == "other"  # re-planned on read
        lib.write("AAPL", prices["AAPL"].iloc[:3].assign(third=2))
        assert cur.execute('DESCRIBE "prices_1min/AAPL"').fetchall()[-1][0] == "third"  # DESCRIBE always pins


def test_a_snapshot_read_after_the_same_version_by_number_on_one_cursor():
    """A source reading a version through a snapshot is not the one reading it by number: once the number
    is pruned, only the snapshot still reads it."""
    connection = arcticsql.connect(uri="mem://", config={"processing": {"cache_mb": 0}})
    lib = connection.catalog.library("p", create=True)
    index = pd.date_range("2024-01-01", periods=3, freq="D", name="ts")
    lib.write("A", pd.DataFrame({"close": [1.0, 1.0, 1.0]}, index=index))
    lib.snapshot("eod")
    cursor = connection.cursor()
    assert cursor.execute("SELECT sum(close) FROM p.A AT (VERSION => 0)").fetchall() == [(3.0,)]
    lib.write("A", pd.DataFrame({"close": [10.0] * 3}, index=index), prune_previous_versions=True)
    assert cursor.execute("SELECT sum(close) FROM p.A AT (SNAPSHOT => 'eod')").fetchall() == [(3.0,)]
    connection.close()


@pytest.mark.parametrize("cache_mb", [0, 64])
def test_a_date_filter_on_a_symbol_stored_out_of_order(cache_mb):
    """A symbol written with validate_index=False out of index order: ArcticDB refuses a date_range read of
    it, so the filter runs after the read, with SQL's answer, alone or as a wildcard's member."""
    connection = arcticsql.connect(uri="mem://", config={"processing": {"cache_mb": cache_mb,
                                                                        "wildcard_first_rows": 0}})
    lib = connection.catalog.library("lib", create=True)
    index = pd.DatetimeIndex(["2024-01-05", "2024-01-01", "2024-01-02", "2024-01-06", "2024-01-03"], name="ts")
    lib.write("U", pd.DataFrame({"v": range(5)}, index=index), validate_index=False)
    cursor = connection.cursor()
    for _ in range(2):
        assert cursor.execute("SELECT count(*) FROM lib.U WHERE ts >= '2024-01-02'").fetchall() == [(4,)]
        assert cursor.execute("""SELECT sum(v) FROM "lib/*" WHERE ts < '2024-01-04'""").fetchall() == [(7,)]
    connection.close()
