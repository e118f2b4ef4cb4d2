"""Wildcard tables: every pattern form, empty matches, differing schemas, versions, pushdown per member."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import arcticsql
from arcticsql.sources import union
from tests.conftest import minute_bars

TICKERS = ["AAPL", "AMZN", "MSFT"]


@pytest.fixture
def conn(store_conn):
    """Every test here runs on LMDB and on S3 (moto), the stores a team shares."""
    return store_conn


@pytest.fixture
def store(conn):
    frames = {}
    for library, freq in [("prices_1min", "min"), ("prices_daily", "D")]:
        lib = conn.catalog.library(library, create=True)
        for i, ticker in enumerate(TICKERS):
            index = pd.date_range("2024-01-01", periods=200, freq=freq, name="ts")
            frame = pd.DataFrame({"close": np.arange(200.0) + 1000 * i, "volume": np.arange(200) + i}, index=index)
            lib.write(ticker, frame)
            frames[(library, ticker)] = frame
    news = pd.DataFrame({"headline": ["up", "down"], "sentiment": [0.5, -0.5]},
                        index=pd.DatetimeIndex(["2024-01-01 10:00", "2024-01-02 10:00"], name="ts"))
    conn.catalog.library("news_enriched", create=True).write("AAPL", news)
    frames[("news_enriched", "AAPL")] = news
    return frames


def _reads(conn):
    """What the scans read (from ArcticDB, or from the planning read of a small member)."""
    return [r for r in conn.session.read_log.records() if r.kind != "plan"]


def _planned(conn):
    """The symbols the planning read (a wildcard's members' first rows) asked ArcticDB for."""
    return sorted(r.symbol for r in conn.session.read_log.records() if r.kind == "plan")


@pytest.mark.parametrize("pattern, expected", [
    ("prices_*/AAPL", [("prices_1min", "AAPL"), ("prices_daily", "AAPL")]),
    ("*/AAPL", [("news_enriched", "AAPL"), ("prices_1min", "AAPL"), ("prices_daily", "AAPL")]),
    ("prices_1min/*", [("prices_1min", t) for t in TICKERS]),
    ("prices_1min/A*", [("prices_1min", "AAPL"), ("prices_1min", "AMZN")]),
    ("prices_1min/?SFT", [("prices_1min", "MSFT")]),
    ("prices_[1d]*/M*", [("prices_1min", "MSFT"), ("prices_daily", "MSFT")]),
])
def test_pattern_forms(conn, store, pattern, expected):
    rows = conn.cursor().execute(
        f'SELECT library, symbol, count(*) FROM "{pattern}" GROUP BY ALL ORDER BY ALL').fetchall()
    assert [(lib, sym) for lib, sym, _ in rows] == expected
    assert [n for *_, n in rows] == [len(store[key]) for key in expected]


def test_union_by_name_fills_missing_columns(conn, store):
    df = conn.cursor().execute('SELECT * FROM "*/AAPL" ORDER BY library, ts').fetch_df()
    assert list(df.columns[:2]) == ["library", "symbol"]
    assert {"close", "volume", "headline", "sentiment", "ts"} <= set(df.columns)
    news = df[df.library == "news_enriched"]
    assert news.close.isna().all() and list(news.headline) == ["up", "down"]


def test_values_equal_symbol_by_symbol_reads(conn, store):
    got = conn.cursor().execute(
        'SELECT symbol, sum(close), max(ts) FROM "prices_daily/*" WHERE ts >= \'2024-03-01\' GROUP BY symbol '
        "ORDER BY symbol").fetchall()
    lib = conn.catalog.library("prices_daily", create=True)
    expected = []
    for ticker in TICKERS:
        frame = lib.read(ticker, date_range=(pd.Timestamp("2024-03-01"), None)).data
        expected.append((ticker, frame.close.sum(), frame.index.max().to_pydatetime()))
    assert got == expected


def test_date_range_reaches_every_member_and_symbol_filter_prunes(conn, store):
    conn.session.read_log.clear()
    conn.cursor().execute(
        "SELECT count(*) FROM \"prices_1min/*\" WHERE ts BETWEEN '2024-01-01 01:00' AND '2024-01-01 02:00' "
        "AND symbol IN ('AAPL', 'MSFT')").fetchall()
    assert _planned(conn) == ["AAPL", "MSFT"]  # the others are never pinned
    reads = _reads(conn)
    assert sorted(r.symbol for r in reads) == ["AAPL", "MSFT"]
    assert all(r.date_range == (pd.Timestamp("2024-01-01 01:00"), pd.Timestamp("2024-01-01 02:00")) for r in reads)
    assert all(r.rows == 61 for r in reads)


def test_library_filter_prunes(conn, store):
    conn.session.read_log.clear()
    n = conn.cursor().execute("SELECT count(*) FROM \"*/AAPL\" WHERE library = 'prices_daily'").fetchone()[0]
    assert n == 200
    assert {r.library for r in conn.session.read_log.records()} == {"prices_daily"}


def test_projection_reaches_members(conn, store):
    conn.session.read_log.clear()
    conn.cursor().execute('SELECT avg(volume) FROM "prices_1min/*"').fetchall()
    assert {r.columns for r in _reads(conn)} == {("volume",)}


def test_value_filters_on_columns_missing_from_some_members(conn, store):
    rows = conn.cursor().execute(
        "SELECT library, count(*) FROM \"*/AAPL\" WHERE sentiment > 0 OR close < 3 GROUP BY ALL ORDER BY ALL").fetchall()
    assert rows == [("news_enriched", 1), ("prices_1min", 3), ("prices_daily", 3)]


def test_no_match_is_a_clear_error(conn, store):
    cur = conn.cursor()
    with pytest.raises(arcticsql.ProgrammingError, match="no symbol matches prices_1min/ZZ"):
        cur.execute('SELECT * FROM "prices_1min/ZZ*"')
    with pytest.raises(arcticsql.ProgrammingError, match="no library matches 'pricez_\\*'.*prices_"):
        cur.execute('SELECT * FROM "pricez_*/AAPL"')
    with pytest.raises(arcticsql.ProgrammingError, match="did you mean AAPL"):
        cur.execute('SELECT * FROM "prices_1min/AAPX*"')


def test_types_that_cannot_be_unified(conn):
    lib = conn.catalog.library("features", create=True)
    lib.write("A", pd.DataFrame({"x": [1.0]}, index=pd.DatetimeIndex(["2024-01-01"], name="ts")))
    lib.write("B", pd.DataFrame({"x": ["text"]}, index=pd.DatetimeIndex(["2024-01-01"], name="ts")))
    lib.write("C", pd.DataFrame({"x": [2]}, index=pd.DatetimeIndex(["2024-01-02"], name="ts")))
    with pytest.raises(arcticsql.DataError, match="features/A.*features/B"):
        conn.cursor().execute('SELECT * FROM "features/*"')
    # int and float unify to float
    assert conn.cursor().execute('SELECT sum(x) FROM "features/[AC]"').fetchone()[0] == 3.0


def test_versions_and_snapshots_on_wildcards(conn, store):
    lib = conn.catalog.library("prices_daily", create=True)
    lib.snapshot("eod")
    lib.write("AAPL", store[("prices_daily", "AAPL")].assign(close=0.0))
    cur = conn.cursor()
    now = cur.execute('SELECT sum(close) FROM "prices_daily/AAPL*"').fetchone()[0]
    snap = cur.execute('SELECT sum(close) FROM "prices_daily/AAPL*" AT (SNAPSHOT => \'eod\')').fetchone()[0]
    v0 = cur.execute('SELECT sum(close) FROM "prices_daily/A*" AT (VERSION => 0) WHERE symbol = \'AAPL\'').fetchone()[0]
    assert now == 0.0 and snap == v0 == store[("prices_daily", "AAPL")].close.sum()
    with pytest.raises(arcticsql.ProgrammingError, match="no version 1"):
        cur.execute('SELECT * FROM "prices_daily/*" AT (VERSION => 1)')
    with pytest.raises(arcticsql.ProgrammingError, match="has a snapshot 'eob'; snapshots: eod$"):
        cur.execute('SELECT * FROM "prices_daily/*" AT (SNAPSHOT => \'eob\')')


def test_progress_is_reported(conn, store):
    seen = []
    conn.session.progress = lambda done, total, label, unit: seen.append((done, total, label, unit))
    conn.cursor().execute('SELECT count(*) FROM "prices_*/*"').fetchall()
    assert seen and seen[-1] == (6, 6, "prices_*/*", "symbols")


def test_many_symbols_read_in_batches(conn):
    lib = conn.catalog.library("prices_daily", create=True)
    frame = minute_bars(periods=10)
    for i in range(150):
        lib.write(f"T{i:03d}", frame.assign(close=float(i)))
    total = conn.cursor().execute('SELECT sum(close), count(DISTINCT symbol) FROM "prices_daily/T*"').fetchone()
    assert total == (sum(float(i) * 10 for i in range(150)), 150)


def test_one_worker_and_chunked_members_do_not_deadlock(monkeypatch):
    """A read group prefetched on the only worker reads a multi-chunk member without waiting on that worker."""
    import threading

    monkeypatch.setattr(union, "_GROUP_BYTES", 1)  # one member per group, read with read_table
    connection = arcticsql.connect(uri="mem://", config={"processing": {"max_workers": 1, "scan_chunk_mb": 0.01,
                                                                        "wildcard_first_rows": 0}})
    lib = connection.catalog.library("prices_1min", create=True)
    for i in range(3):
        lib.write(f"S{i}", minute_bars(periods=3000, seed=i))
    result = []
    worker = threading.Thread(target=lambda: result.append(
        connection.cursor().execute('SELECT count(*) FROM "prices_1min/S*"').fetchone()[0]), daemon=True)
    worker.start()
    worker.join(60)
    assert not worker.is_alive(), "deadlocked"  # (the connection is left to the daemon thread then)
    assert result == [9000]
    assert max(r.rows for r in connection.session.read_log.records()) < 3000  # members were read in chunks
    connection.close()


# -- resolution is kept, and checked ------------------------------------------------------------------------
_LISTING_CALLS = ("list_libraries", "list_symbols", "list_versions", "read_metadata_batch", "get_description_batch",
                  "has_symbol", "read_metadata")


def _listing_calls(conn, run, names=_LISTING_CALLS) -> int:
    """How many of the listing and pinning calls ``names`` ``run()`` makes to ArcticDB."""
    import contextlib

    from tests.conftest import counting_calls

    lib = conn.catalog.library("prices_1min", create=True)
    with contextlib.ExitStack() as stack:
        counts = [stack.enter_context(counting_calls(lib, name)) for name in names if name != "list_libraries"]
        if "list_libraries" in names:
            counts.append(stack.enter_context(counting_calls(conn.catalog.arctic, "list_libraries")))
        run()
    return sum(len(calls) for calls in counts)


#: The members of a kept resolution that the cache holds are checked (their latest versions) with one
#: ``read_metadata_batch`` per library, instead of a read at the latest version: that is no listing.
_NO_CHECKS = tuple(name for name in _LISTING_CALLS if name != "read_metadata_batch")


def test_a_repeated_wildcard_statement_lists_nothing(conn, store):
    cursor = conn.cursor()
    query = 'SELECT symbol, count(*) FROM "prices_*/A*" GROUP BY ALL ORDER BY ALL'
    first = cursor.execute(query).fetchall()
    assert _listing_calls(conn, lambda: cursor.execute(query).fetchall(), _NO_CHECKS) == 0
    assert _listing_calls(conn, lambda: cursor.execute(query).fetchall(), ("read_metadata_batch",)) <= 2
    assert cursor.execute(query).fetchall() == first


def test_a_write_through_arcticsql_shows_at_once_in_a_kept_wildcard(conn, store):
    cursor = conn.cursor()
    query = 'SELECT count(DISTINCT symbol) FROM "prices_1min/*"'
    assert cursor.execute(query).fetchone() == (3,)
    cursor.execute("COPY (SELECT TIMESTAMP '2024-01-01' AS ts, 1.0 AS close, 2 AS volume) "
                   "TO 'arctic://prices_1min/NVDA'")
    assert cursor.execute(query).fetchone() == (4,)


def test_a_new_version_written_elsewhere_is_read_by_a_kept_wildcard(conn, store):
    """Members of a kept resolution are read at their latest version and checked: a newer one plans the
    statement again, so the statement never mixes the versions it planned with and the ones it read."""
    cursor = conn.cursor()
    query = 'SELECT max(close) FROM "prices_1min/*"'
    assert cursor.execute(query).fetchone() == (2199.0,)
    frame = store[("prices_1min", "MSFT")].copy()
    frame["close"] += 1000
    conn.catalog.library("prices_1min", create=True).write("MSFT", frame)  # another writer: arcticsql is not told
    # planned again with the new version only: no listing, no pin of the members that did not change (the
    # new version's schema is read: that is all)
    listings = ("list_libraries", "list_symbols", "list_versions", "read_metadata")
    checks: list[tuple] = []
    assert _listing_calls(conn, lambda: checks.append(cursor.execute(query).fetchone()), listings) == 0
    assert checks == [(3199.0,)]
    # the members the cache holds are checked, once per plan, with one metadata batch
    assert _listing_calls(conn, lambda: cursor.execute(query).fetchone(), ("read_metadata_batch",)) == 1
    assert cursor.execute(query).fetchone() == (3199.0,)


def test_a_symbol_created_elsewhere_shows_after_the_listing_time(store):
    connection = arcticsql.connect(uri="mem://", config={"processing": {"listing_ttl_s": 0}})
    lib = connection.catalog.library("prices_1min", create=True)
    lib.write("AAPL", minute_bars(periods=10))
    cursor = connection.cursor()
    query = 'SELECT count(DISTINCT symbol) FROM "prices_1min/*"'
    assert cursor.execute(query).fetchone() == (1,)
    lib.write("MSFT", minute_bars(periods=10))  # another writer
    assert cursor.execute(query).fetchone() == (2,)
    connection.close()


def test_a_deleted_member_plans_the_statement_again(conn, store):
    cursor = conn.cursor()
    query = 'SELECT count(DISTINCT symbol) FROM "prices_1min/*"'
    assert cursor.execute(query).fetchone() == (3,)
    conn.catalog.library("prices_1min", create=True).delete("AMZN")
    assert cursor.execute(query).fetchone() == (2,)


def test_members_whose_columns_differ_only_in_case_share_them(conn):
    """SQL names match whatever their case, as DuckDB's own UNION ALL BY NAME does."""
    lib = conn.catalog.library("prices_daily", create=True)
    index = pd.date_range("2024-01-01", periods=3, name="ts")
    lib.write("UP", pd.DataFrame({"Close": [1.0, 2.0, 3.0]}, index=index))
    lib.write("LOW", pd.DataFrame({"close": [4.0, 5.0, 6.0]}, index=index))
    rows = conn.cursor().execute('SELECT symbol, sum(close) FROM "prices_daily/*" GROUP BY ALL ORDER BY ALL').fetchall()
    assert rows == [("LOW", 15.0), ("UP", 6.0)]
    assert conn.cursor().execute('SELECT count(*) FROM "prices_daily/*" WHERE CLOSE > 2.5').fetchone() == (4,)


def test_a_repeated_wildcard_statement_pins_nothing_it_has_seen(store):
    """Listed again (here at once: listing_ttl_s 0), its members' versions seen before are not asked for:
    the reads check them (members the cache holds wholly: one metadata batch checks them all)."""
    connection = arcticsql.connect(uri="mem://", config={"processing": {"listing_ttl_s": 0}})
    lib = connection.catalog.library("prices_1min", create=True)
    for ticker in TICKERS:
        lib.write(ticker, minute_bars(periods=50))
    cursor = connection.cursor()
    query = 'SELECT symbol, count(*) FROM "prices_1min/*" GROUP BY ALL ORDER BY ALL'
    first = cursor.execute(query).fetchall()
    pins = ("read_metadata", "get_description_batch", "list_versions")
    assert _listing_calls(connection, lambda: cursor.execute(query).fetchall(), pins) == 0
    assert _listing_calls(connection, lambda: cursor.execute(query).fetchall(), ("list_symbols",)) == 1
    assert _listing_calls(connection, lambda: cursor.execute(query).fetchall(), ("read_metadata_batch",)) == 1
    assert cursor.execute(query).fetchall() == first
    connection.close()
