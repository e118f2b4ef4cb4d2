"""Writes: the store command, routing, metadata, index choice, modes, and nothing lost on bad input."""

from __future__ import annotations

import math
import multiprocessing
import os

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import arcticsql
from arcticsql.flexible import FlexibleDataStore
from arcticsql.writes.arctic import store_frame
from arcticsql.writes.metadata import auto_metadata
from arcticsql.writes.routing import route
from tests.conftest import minute_bars


@pytest.fixture
def conn(store_conn):
    """Every test here runs on LMDB and on S3 (moto), the stores a team shares."""
    return store_conn


@pytest.mark.parametrize("path, expected", [
    ("prices/1min/AAPL", ("prices_1min", "AAPL")),
    ("news/enriched/2024-01-15", ("news_enriched", "2024-01-15")),
    ("signals/momentum/SP500", ("signals", "momentum/SP500")),
    ("features/technical/MSFT", ("features", "technical/MSFT")),
    ("prices_daily/MSFT", ("prices_daily", "MSFT")),
    ("research/alpha/v1", ("research", "alpha/v1")),
])
def test_routing(conn, path, expected):
    assert route(path, conn.catalog) == expected


@pytest.mark.parametrize("bad", ["AAPL", "prices//AAPL", "/", "prices/1min/AA$PL"])
def test_invalid_paths(conn, bad):
    with pytest.raises(arcticsql.ProgrammingError, match="invalid store path"):
        route(bad, conn.catalog)


def test_copy_reports_and_stores_metadata(conn, prices):
    cur = conn.cursor()
    cur.execute("COPY (SELECT * FROM prices_1min.AAPL WHERE volume > 5000) TO 'arctic://signals/momentum/SP500' "
                "(MODE 'write', METADATA '{\"model\": \"v2\"}')")
    expected = prices["AAPL"][prices["AAPL"].volume > 5000]
    assert cur.rowcount == len(expected)
    assert cur.fetchall() == [("signals", "momentum/SP500", 0, len(expected), "write")]
    item = conn.catalog.library("signals", create=True).read("momentum/SP500")
    pd.testing.assert_frame_equal(item.data, expected, check_freq=False)
    auto = item.metadata["auto"]
    assert item.metadata["model"] == "v2"
    assert auto["shape"] == [len(expected), 5] and auto["columns"] == list(expected.columns)
    assert auto["dtypes"]["volume"] == "int64" and auto["index_type"] == "DatetimeIndex"
    assert auto["has_nulls"] is False and auto["date_range"][0] == expected.index[0].isoformat()
    assert auto["memory_usage_mb"] > 0 and "stored_at" in auto


@pytest.mark.parametrize("column", [
    pd.Series([1.0, np.nan]), pd.Series([1.0, np.inf, -np.inf]), pd.Series([], dtype=float),
    pd.Series([np.nan] * 3, dtype="float32"), pd.Series([-0.0, 0.0]), pd.Series([1, 2]), pd.Series([True, False]),
    pd.Series(["a", None]), pd.Series(["a", "b"]), pd.Series(pd.to_datetime(["2020-01-01", None])),
    pd.Series(pd.to_datetime(["2020-01-01"])), pd.Series(pd.array([1, None], dtype="Int64")),
], ids=lambda c: f"{c.dtype}:{list(c)}")
def test_has_nulls_agrees_with_pandas(column):

    assert auto_metadata(pd.DataFrame({"x": column}))["has_nulls"] is bool(column.hasnans)


def test_date_range_of_unsorted_index():

    frame = pd.DataFrame({"x": [1, 2, 3]}, index=pd.to_datetime(["2024-01-03", "2024-01-01", "2024-01-02"]))
    assert auto_metadata(frame)["date_range"] == ["2024-01-01T00:00:00", "2024-01-03T00:00:00"]


def test_sql_forms_insert_and_create(conn, prices):
    cur = conn.cursor()
    cur.execute("CREATE TABLE features.copy AS SELECT * FROM prices_1min.AAPL WHERE ts < '2024-01-02 16:00'")
    first = cur.rowcount
    cur.execute("INSERT INTO features.copy SELECT * FROM prices_1min.AAPL WHERE ts >= '2024-01-02 16:00'")
    assert cur.rowcount == len(prices["AAPL"]) - first
    pd.testing.assert_frame_equal(conn.catalog.library("features", create=True).read("copy").data, prices["AAPL"], check_freq=False)
    with pytest.raises(arcticsql.ProgrammingError, match="already exists"):
        cur.execute("CREATE TABLE features.copy AS SELECT 1 AS x")
    cur.execute("CREATE OR REPLACE TABLE features.copy AS SELECT * FROM range(3) t(x)")
    assert cur.execute("SELECT * FROM features.copy").fetchall() == [(0, 0), (1, 1), (2, 2)]
    assert [v.version for v in conn.catalog.versions("features", "copy")] == [0, 1, 2]


def test_index_choice(conn):
    cur = conn.cursor()
    cur.execute("COPY (SELECT TIMESTAMP '2024-01-01' + INTERVAL (i) MINUTE AS datetime, i FROM range(3) t(i)) "
                "TO 'arctic://features/a'")
    assert conn.catalog.library("features", create=True).read("a").data.index.name == "datetime"
    cur.execute("COPY (SELECT i AS k, i * 2 AS v FROM range(3) t(i)) TO 'arctic://features/b' (INDEX 'k')")
    assert list(conn.catalog.library("features", create=True).read("b").data.index) == [0, 1, 2]
    cur.execute("COPY (SELECT i FROM range(3) t(i)) TO 'arctic://features/c'")
    assert isinstance(conn.catalog.library("features", create=True).read("c").data.index, pd.RangeIndex)
    with pytest.raises(arcticsql.ProgrammingError, match="INDEX column 'nope'"):
        cur.execute("COPY (SELECT 1 AS x) TO 'arctic://features/d' (INDEX 'nope')")


def test_append_and_update_modes(conn, prices):
    cur = conn.cursor()
    aapl = prices["AAPL"]
    cut = aapl.index[1000]
    cur.execute(f"COPY (SELECT * FROM prices_1min.AAPL WHERE ts < '{cut}') TO 'arctic://features/m'")
    cur.execute(f"COPY (SELECT * FROM prices_1min.AAPL WHERE ts >= '{cut}') TO 'arctic://features/m' (MODE 'append')")
    pd.testing.assert_frame_equal(conn.catalog.library("features", create=True).read("m").data, aapl, check_freq=False)
    with pytest.raises(arcticsql.IntegrityError, match="not after the symbol's last index"):
        cur.execute("COPY (SELECT * FROM prices_1min.AAPL LIMIT 5) TO 'arctic://features/m' (MODE 'append')")
    # a query's rows in any order: stored in time order (the update rewrites the last five rows as they are)
    cur.execute("COPY (SELECT * FROM prices_1min.AAPL ORDER BY ts DESC LIMIT 5) TO 'arctic://features/m' "
                "(MODE 'update')")
    pd.testing.assert_frame_equal(conn.catalog.library("features").read("m").data, aapl, check_freq=False)
    cur.execute(f"COPY (SELECT ts, open, high, low, 0.0 AS close, volume FROM prices_1min.AAPL "
                f"WHERE ts BETWEEN '{aapl.index[10]}' AND '{aapl.index[19]}') TO 'arctic://features/m' (MODE 'update')")
    data = conn.catalog.library("features", create=True).read("m").data
    assert len(data) == len(aapl) and (data.close.iloc[10:20] == 0).all() and data.close.iloc[20] != 0


def test_prune_keeps_only_the_new_version(conn, prices):
    cur = conn.cursor()
    for _ in range(3):
        cur.execute("COPY (SELECT * FROM prices_1min.MSFT) TO 'arctic://features/p'")
    cur.execute("COPY (SELECT * FROM prices_1min.MSFT) TO 'arctic://features/p' (PRUNE true)")
    assert [v.version for v in conn.catalog.versions("features", "p")] == [3]


BAD_STATEMENTS = [
    ("failing query", "COPY (SELECT nope FROM prices_1min.AAPL) TO 'arctic://features/safe'", arcticsql.ProgrammingError),
    ("runtime error", "COPY (SELECT ts, 'x'::INTEGER AS close FROM prices_1min.AAPL) TO 'arctic://features/safe'",
     arcticsql.DataError),
    ("invalid path", "COPY (SELECT * FROM prices_1min.AAPL) TO 'arctic://safe'", arcticsql.ProgrammingError),
    ("invalid json", "COPY (SELECT * FROM prices_1min.AAPL) TO 'arctic://features/safe' (METADATA '{x')",
     arcticsql.DataError),
    ("unsupported type", "COPY (SELECT ts, [1, 2] AS l FROM prices_1min.AAPL) TO 'arctic://features/safe'",
     arcticsql.DataError),
    ("schema mismatch", "COPY (SELECT ts + INTERVAL 1000 DAY AS ts, 'x' AS other FROM prices_1min.AAPL) "
                        "TO 'arctic://features/safe' (MODE 'append')", arcticsql.IntegrityError),
    ("bad mode", "COPY (SELECT * FROM prices_1min.AAPL) TO 'arctic://features/safe' (MODE 'merge')",
     arcticsql.ProgrammingError),
    ("duplicate columns", "COPY (SELECT ts, close AS a, open AS a FROM prices_1min.AAPL) TO 'arctic://features/safe'",
     arcticsql.DataError),
    ("empty write", "COPY (SELECT * FROM prices_1min.AAPL WHERE false) TO 'arctic://features/safe'",
     arcticsql.ProgrammingError),
    ("null index", "COPY (SELECT CASE WHEN volume > 5000 THEN ts END AS ts, close FROM prices_1min.AAPL) "
                   "TO 'arctic://features/safe'", arcticsql.DataError),
    ("nullable boolean", "COPY (SELECT ts, CASE WHEN volume > 5000 THEN true END AS big FROM prices_1min.AAPL) "
                         "TO 'arctic://features/safe'", arcticsql.DataError),
]


@pytest.mark.parametrize("label, statement, error", BAD_STATEMENTS, ids=[b[0] for b in BAD_STATEMENTS])
def test_bad_input_leaves_the_symbol_unchanged(conn, prices, label, statement, error):
    cur = conn.cursor()
    cur.execute("COPY (SELECT * FROM prices_1min.AAPL) TO 'arctic://features/safe'")
    lib = conn.catalog.library("features", create=True)
    before = lib.read("safe")
    with pytest.raises(error):
        cur.execute(statement)
    after = lib.read("safe")
    assert after.version == before.version
    pd.testing.assert_frame_equal(after.data, before.data)


def test_bad_input_messages_say_what_to_do(conn, prices):
    cur = conn.cursor()
    with pytest.raises(arcticsql.DataError, match=r"more than one column named 'a'"):
        cur.execute("COPY (SELECT 1 AS a, 2 AS a) TO 'arctic://features/d'")
    with pytest.raises(arcticsql.ProgrammingError, match="name of arcticsql's catalog"):
        cur.execute("CREATE TABLE arcticsql.x AS SELECT 1 AS a")
    with pytest.raises(arcticsql.DataError, match=r"index column 'ts' has NULLs"):
        cur.execute("COPY (SELECT NULL::TIMESTAMP AS ts, 1 AS v) TO 'arctic://features/n'")
    with pytest.raises(arcticsql.DataError, match=r"BOOLEAN with NULLs.*COALESCE"):
        cur.execute("COPY (SELECT * FROM (VALUES (true), (NULL)) t(flag)) TO 'arctic://features/b'")
    assert not conn.catalog.library("features", create=True).has_symbol("d")
    assert "arcticsql" not in conn.catalog.arctic.list_libraries()


def test_an_empty_write_of_an_existing_symbol_needs_allow_empty(conn, prices):
    cur = conn.cursor()
    cur.execute("COPY (SELECT * FROM prices_1min.AAPL) TO 'arctic://features/e'")
    cur.execute("COPY (SELECT * FROM prices_1min.AAPL WHERE false) TO 'arctic://features/e' (ALLOW_EMPTY true)")
    assert cur.fetchall() == [("features", "e", 1, 0, "write")]
    assert len(conn.catalog.library("features", create=True).read("e").data) == 0
    cur.execute("COPY (SELECT * FROM prices_1min.AAPL WHERE false) TO 'arctic://features/new_empty'")
    assert conn.catalog.library("features", create=True).has_symbol("new_empty")  # a new symbol may start empty


def test_empty_appends_and_updates_write_no_version(conn, prices):
    cur = conn.cursor()
    cur.execute("COPY (SELECT * FROM prices_1min.AAPL) TO 'arctic://features/e'")
    for mode in ("append", "update"):
        cur.execute(f"COPY (SELECT * FROM prices_1min.AAPL WHERE false) TO 'arctic://features/e' (MODE '{mode}')")
        assert cur.fetchall() == [("features", "e", 0, 0, mode)] and "nothing written" in cur.message
    cur.execute("INSERT INTO features.e SELECT * FROM prices_1min.AAPL WHERE false")
    assert [v.version for v in conn.catalog.versions("features", "e")] == [0]


def test_literals_take_the_symbols_types_where_exact(conn):
    cur = conn.cursor()
    cur.execute("COPY (SELECT TIMESTAMP '2024-01-01' AS ts, 1.5::DOUBLE AS x, 10::BIGINT AS y) "
                "TO 'arctic://features/lit'")
    cur.execute("INSERT INTO features.lit SELECT TIMESTAMP '2024-01-02' AS ts, 1 AS x, 5 AS y")
    cur.execute("COPY (SELECT TIMESTAMP '2024-01-03' AS ts, 2 AS x, 6 AS y) TO 'arctic://features/lit' "
                "(MODE 'append')")
    rows = cur.execute("SELECT x, y, typeof(x), typeof(y) FROM features.lit ORDER BY ts").fetchall()
    assert rows == [(1.5, 10, "DOUBLE", "BIGINT"), (1.0, 5, "DOUBLE", "BIGINT"), (2.0, 6, "DOUBLE", "BIGINT")]
    with pytest.raises(arcticsql.IntegrityError, match="column 'y'"):
        cur.execute("INSERT INTO features.lit SELECT TIMESTAMP '2024-01-04' AS ts, 1 AS x, 'six' AS y")


def test_integers_with_nulls_are_stored_as_double_and_read_back_null(conn):
    cur = conn.cursor()
    cur.execute("CREATE TABLE features.n AS SELECT * FROM (VALUES (1.0::DOUBLE, 1), (NULL, NULL)) t(x, i)")
    assert "column 'i' stored as DOUBLE" in cur.message
    assert cur.execute("SELECT avg(x), count(x), avg(i), count(i), typeof(i) FROM features.n GROUP BY ALL"
                       ).fetchall() == [(1.0, 1, 1.0, 1, "DOUBLE")]
    raw = conn.catalog.library("features", create=True).read("n").data
    assert raw.x.isna().tolist() == [False, True] and raw.i.dtype == "float64"


def test_placeholder_casts_and_keyword_named_symbols_parse(conn, prices):
    cur = conn.cursor()
    count = cur.execute("SELECT count(*) FROM prices_1min.AAPL WHERE ts >= ?::TIMESTAMP",
                        ["2024-01-02 15:00"]).fetchone()[0]
    assert count == int((prices["AAPL"].index >= "2024-01-02 15:00").sum())
    cur.execute("COPY (SELECT * FROM prices_1min.AAPL LIMIT 3) TO 'arctic://signals/select'")
    assert cur.execute("SELECT count(*) FROM signals.select").fetchone() == (3,)
    assert cur.execute("SELECT count(*) FROM signals.select s WHERE s.close > ?::DOUBLE", [0]).fetchone() == (3,)


# -- round trip -------------------------------------------------------------------------------------------
@st.composite
def frames(draw):
    n = draw(st.integers(1, 25))
    tz = draw(st.sampled_from([None, "UTC", "America/New_York"]))
    index = pd.date_range("2024-01-02 09:30", periods=n, freq="min", name="ts", tz=tz)
    columns = {}
    for i in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["float", "int", "str", "bool", "ts"]))
        name = f"{kind}_{i}"
        if kind == "float":
            columns[name] = np.array(draw(st.lists(st.sampled_from([0.5, -1.0, math.nan, 1e10]), min_size=n,
                                                   max_size=n)), dtype="float64")
        elif kind == "int":
            columns[name] = np.array(draw(st.lists(st.integers(-(2**40), 2**40), min_size=n, max_size=n)),
                                     dtype="int64")
        elif kind == "str":
            columns[name] = pd.Series(draw(st.lists(st.sampled_from(["a", "", "é", None]), min_size=n, max_size=n)),
                                      dtype=object).to_numpy()
        elif kind == "bool":
            columns[name] = np.array(draw(st.lists(st.booleans(), min_size=n, max_size=n)))
        else:
            columns[name] = pd.date_range("2020-01-01", periods=n, freq="D").to_numpy()
    return pd.DataFrame(columns, index=index)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(frame=frames())
def test_round_trip_through_sql_and_copy(conn, frame):
    lib = conn.catalog.library("features", create=True)
    lib.write("orig", frame)
    cur = conn.cursor()
    cur.execute("COPY (SELECT * FROM features.orig) TO 'arctic://features/orig'")
    back = lib.read("orig").data
    pd.testing.assert_frame_equal(back, frame, check_freq=False)
    cur.close()


# -- Python API ---------------------------------------------------------------------------------------------
def test_store_any_data_seed_examples(tmp_path):
    store = FlexibleDataStore(uri=f"lmdb://{tmp_path}/arctic")
    try:
        ohlcv = minute_bars(periods=50)
        news = pd.DataFrame({"headline": ["a", "b"]}, index=pd.DatetimeIndex(["2024-01-15 10:00", "2024-01-15 11:00"]))
        assert store.store_any_data("prices/1min/AAPL", ohlcv) == "prices_1min/AAPL"
        assert store.store_any_data("news/enriched/2024-01-15", news) == "news_enriched/2024-01-15"
        assert store.store_any_data("signals/momentum/SP500", ohlcv[["close"]], {"model": "v1"}) == \
            "signals/momentum/SP500"
        assert store.store_any_data("features/technical/MSFT", ohlcv) == "features/technical/MSFT"
        lib = store.catalog.library("signals", create=True)
        assert lib.read_metadata("momentum/SP500").metadata["model"] == "v1"
        assert "ticks" in store.catalog.library_names()  # core libraries exist from the start
        with pytest.raises(arcticsql.DataError):
            store.store_any_data("features/x", [1, 2, 3])
    finally:
        store.close()


# -- concurrency (real processes) ----------------------------------------------------------------------------
def _writer(uri: str, symbol: str, rounds: int) -> None:
    connection = arcticsql.connect(uri=uri, config={})
    try:
        for i in range(rounds):
            connection.cursor().execute(
                f"COPY (SELECT TIMESTAMP '2024-01-01' + INTERVAL (r) MINUTE AS ts, {i}::BIGINT AS v "
                f"FROM range(20000) t(r)) TO 'arctic://features/{symbol}'")
    finally:
        connection.close()


def test_two_processes_writing_different_symbols_both_land(tmp_path):
    uri = f"lmdb://{tmp_path}/arctic"
    arcticsql.connect(uri=uri, config={}).close()
    context = multiprocessing.get_context("spawn")
    workers = [context.Process(target=_writer, args=(uri, s, 5)) for s in ("A", "B")]
    for w in workers:
        w.start()
    for w in workers:
        w.join(120)
        assert w.exitcode == 0
    connection = arcticsql.connect(uri=uri, config={})
    try:
        for symbol in ("A", "B"):
            rows = connection.cursor().execute(f"SELECT count(*), min(v), max(v) FROM features.{symbol}").fetchone()
            assert rows == (20000, 4, 4)
            assert len(connection.catalog.versions("features", symbol)) == 5
    finally:
        connection.close()


def test_a_reader_during_writes_sees_whole_versions(tmp_path):
    uri = f"lmdb://{tmp_path}/arctic"
    _writer(uri, "R", 1)
    context = multiprocessing.get_context("spawn")
    writer = context.Process(target=_writer, args=(uri, "R", 8))
    writer.start()
    connection = arcticsql.connect(uri=uri, config={})
    try:
        seen = set()
        while writer.is_alive():
            count, low, high = connection.cursor().execute("SELECT count(*), min(v), max(v) FROM features.R").fetchone()
            assert count == 20000 and low == high  # never a mix of two versions
            seen.add(low)
        writer.join()
        assert writer.exitcode == 0
    finally:
        connection.close()


def _crash_mid_write(uri: str) -> None:
    import threading

    connection = arcticsql.connect(uri=uri, config={})
    threading.Timer(0.3, lambda: os._exit(9)).start()
    big = pd.DataFrame({"v": np.ones(30_000_000)}, index=pd.date_range("2024-01-01", periods=30_000_000,
                                                                        freq="s", name="ts"))
    store_frame(connection.catalog, "features/crash", big)


def test_a_crash_mid_write_leaves_the_latest_version(tmp_path):
    uri = f"lmdb://{tmp_path}/arctic"
    connection = arcticsql.connect(uri=uri, config={})
    connection.cursor().execute("COPY (SELECT TIMESTAMP '2024-01-01' AS ts, 1 AS v) TO 'arctic://features/crash'")
    before = connection.catalog.library("features", create=True).read("crash").data
    connection.close()
    process = multiprocessing.get_context("spawn").Process(target=_crash_mid_write, args=(uri,))
    process.start()
    process.join(120)
    assert process.exitcode == 9
    connection = arcticsql.connect(uri=uri, config={})
    try:
        after = connection.catalog.library("features", create=True).read("crash")
        assert after.version == 0
        pd.testing.assert_frame_equal(after.data, before)
    finally:
        connection.close()


def test_copy_of_rows_in_no_order_stores_them_in_time_order(conn):
    """A query's rows come in no particular order (a wildcard of pickle files, a UNION): a timestamp index is
    stored sorted, as ArcticDB keeps it."""
    cursor = conn.cursor()
    cursor.execute("COPY (SELECT * FROM (VALUES (TIMESTAMP '2024-01-03', 3.0), (TIMESTAMP '2024-01-01', 1.0), "
                   "(TIMESTAMP '2024-01-02', 2.0)) t(ts, x)) TO 'arctic://features/unsorted'")
    assert cursor.execute("SELECT x FROM features.unsorted").fetchall() == [(1.0,), (2.0,), (3.0,)]
