"""Wildcards pay only for what they use: conditions on symbol/library prune members before anything is
pinned, small members are served from the planning read, and LIMIT reads few rows of each member."""

from __future__ import annotations

import itertools

import duckdb
import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import arcticsql
from tests.conftest import counting_calls

NAMES = ["AAPL", "AMZN", "MSFT", "A_1", "a%b"]


@pytest.fixture
def store(conn):
    lib = conn.catalog.library("prices_1min", create=True)
    for i, name in enumerate(NAMES):
        index = pd.date_range("2024-01-01", periods=100, freq="min", name="ts")
        lib.write(name, pd.DataFrame({"close": np.arange(100.0) + 1000 * i}, index=index))
    conn.catalog.library("news_enriched", create=True).write(
        "AAPL", pd.DataFrame({"headline": ["up"]}, index=pd.DatetimeIndex(["2024-01-01"], name="ts")))
    return conn


def _kinds(conn):
    return sorted((r.kind, r.symbol) for r in conn.session.read_log.records())


def test_a_symbol_condition_resolves_only_that_member(store):
    lib = store.catalog.library("prices_1min")
    with counting_calls(lib, "list_symbols") as listed:
        rows = store.cursor().execute("""SELECT symbol, count(*) FROM "prices_1min/*" WHERE symbol = 'MSFT'
                                         GROUP BY ALL""").fetchall()
    assert rows == [("MSFT", 100)]
    assert listed == []  # a named symbol is checked, not listed
    assert _kinds(store) == [("memory", "MSFT"), ("plan", "MSFT")]


def test_like_in_and_or_conditions_prune(store):
    cursor = store.cursor()
    rows = cursor.execute("""SELECT DISTINCT symbol FROM "prices_1min/*" WHERE symbol LIKE 'A%'
                             AND (symbol = 'AMZN' OR symbol IN ('A_1', 'MSFT')) ORDER BY 1""").fetchall()
    assert rows == [("AMZN",), ("A_1",)]
    assert {s for kind, s in _kinds(store) if kind == "plan"} == {"A_1", "AMZN"}


def test_a_library_condition_prunes_libraries(store):
    assert store.cursor().execute("""SELECT count(*) FROM "*/AAPL" WHERE library = 'news_enriched'""").fetchone() \
        == (1,)
    assert {r.library for r in store.session.read_log.records()} == {"news_enriched"}


def test_conditions_admitting_no_member_give_no_rows(store):
    cursor = store.cursor()
    assert cursor.execute("""SELECT * FROM "prices_1min/*" WHERE symbol = 'NOPE'""").fetchall() == []
    assert [d[0] for d in cursor.description] == ["library", "symbol", "ts", "close"]


def test_a_column_only_pruned_members_have_is_null(store):
    """Pruned to prices_1min/AAPL, "*/AAPL" would not have headline: the statement is planned again whole."""
    rows = store.cursor().execute("""SELECT library, headline FROM "*/AAPL" WHERE library = 'prices_1min'
                                     LIMIT 1""").fetchall()
    assert rows == [("prices_1min", None)]


def test_a_join_prunes_only_with_a_qualified_condition(store):
    cursor = store.cursor()
    cursor.execute("CREATE TEMP TABLE picks AS SELECT 'MSFT' AS symbol")
    rows = cursor.execute("""SELECT p.symbol, count(*) FROM "prices_1min/*" p JOIN picks USING (symbol)
                             GROUP BY ALL""").fetchall()
    assert rows == [("MSFT", 100)]
    store.session.read_log.clear()
    rows = cursor.execute("""SELECT count(*) FROM "prices_1min/*" p, picks WHERE p.symbol = 'AAPL'""").fetchall()
    assert rows == [(100,)]
    assert {s for kind, s in _kinds(store) if kind == "plan"} <= {"AAPL"}


def test_small_members_are_served_from_the_planning_read(store):
    cursor = store.cursor()
    store.session.read_log.clear()
    got = cursor.execute("""SELECT symbol, sum(close) FROM "prices_1min/*" WHERE ts >= '2024-01-01 01:00'
                            GROUP BY ALL ORDER BY ALL""").fetchall()
    expected = sorted((name, float(sum(np.arange(60.0, 100.0) + 1000 * i))) for i, name in enumerate(NAMES))
    assert got == expected
    kinds = {r.kind for r in store.session.read_log.records()}
    assert kinds == {"plan", "memory"}  # no scan read: every member was whole in the planning read
    memory = [r for r in store.session.read_log.records() if r.kind == "memory"]
    assert all(r.date_range[0] == pd.Timestamp("2024-01-01 01:00") and r.rows == 40 for r in memory)


def test_long_members_are_described_and_read_by_the_scan():
    connection = arcticsql.connect(uri="mem://", config={"processing": {"wildcard_first_rows": 50}})
    lib = connection.catalog.library("prices_1min", create=True)
    index = pd.date_range("2024-01-01", periods=100, freq="min", name="ts")
    lib.write("LONG", pd.DataFrame({"close": np.arange(100.0)}, index=index))
    lib.write("SHORT", pd.DataFrame({"close": np.arange(10.0)}, index=index[:10]))
    rows = connection.cursor().execute('SELECT symbol, count(*), max(ts) FROM "prices_1min/*" GROUP BY ALL '
                                       "ORDER BY ALL").fetchall()
    assert rows == [("LONG", 100, index[99].to_pydatetime()), ("SHORT", 10, index[9].to_pydatetime())]
    assert sorted((r.kind, r.symbol) for r in connection.session.read_log.records()) == [
        ("memory", "SHORT"), ("plan", "LONG"), ("plan", "SHORT"), ("read", "LONG")]
    connection.close()


def test_limit_reads_a_few_rows_of_each_member(store):
    cursor = store.cursor()
    query = 'SELECT symbol, close FROM "prices_1min/*" ORDER BY ts DESC LIMIT 2'
    cursor.execute(query).fetchall()  # plans (the planning read serves it)
    store.session.read_log.clear()
    rows = cursor.execute(query).fetchall()  # kept resolution: read from ArcticDB
    assert len(rows) == 2 and all(close % 1000 == 99 for _, close in rows)  # the members' last rows tie
    reads = store.session.read_log.records()
    assert len(reads) == len(NAMES) and all(r.row_range == (98, 100) for r in reads)
    store.session.read_log.clear()
    assert len(cursor.execute('SELECT * FROM "prices_1min/*" LIMIT 3').fetchall()) == 3
    assert len(store.session.read_log.records()) < len(NAMES)  # the first members only


# -- property: pruning keeps exactly SQL's rows -----------------------------------------------------------------
_counter = itertools.count()


@pytest.fixture(scope="module")
def wide():
    connection = arcticsql.connect(uri="mem://", config={})
    for library in ("lib_a", "lib_b"):
        lib = connection.catalog.library(library, create=True)
        for i, name in enumerate(["x1", "x2", "y_1", "Y%", "z"]):
            lib.write(name, pd.DataFrame({"v": [i, i + 10]}, index=pd.date_range("2024-01-01", periods=2, name="ts")))
    everything = connection.cursor().execute('SELECT * FROM "lib_*/*"').fetch_arrow()
    plain = duckdb.connect()
    plain.register("t", everything)
    yield connection, plain
    plain.close()
    connection.close()


def _condition(draw) -> str:
    column = draw(st.sampled_from(["symbol", "library"]))
    values = ["x1", "x2", "y_1", "Y%", "z", "q"] if column == "symbol" else ["lib_a", "lib_b", "lib_c"]
    kind = draw(st.integers(0, 3))
    if kind == 0:
        return f"{column} = '{draw(st.sampled_from(values))}'"
    if kind == 1:
        return f"{column} IN ({', '.join(repr(v) for v in draw(st.lists(st.sampled_from(values), min_size=1)))})"
    if kind == 2:
        return f"{column} LIKE '{draw(st.sampled_from(['x%', '_1', 'y%', 'Y%', '%_%', 'lib_%', '%b', 'z']))}'"
    return f"({_condition(draw)} OR {_condition(draw)})"


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_pruning_equals_plain_duckdb(wide, data):
    connection, plain = wide
    conditions = [_condition(data.draw) for _ in range(data.draw(st.integers(1, 3)))]
    where = " AND ".join(conditions) + data.draw(st.sampled_from(["", " AND v > 2"]))
    query = f"SELECT library, symbol, v FROM {{}} WHERE {where} ORDER BY ALL"
    expected = plain.execute(query.format("t")).fetchall()
    got = connection.cursor().execute(query.format('"lib_*/*"')).fetchall()
    assert got == expected, query


def test_a_cold_wildcard_on_s3_asks_no_more_than_read_batch(s3_uri):
    """Planning reads each member's first rows, which pins, describes and (small members) reads it: the
    store sees the requests of ArcticDB's own read_batch of the members, plus the symbol listing."""
    import arcticdb.toolbox.query_stats as query_stats
    from arcticdb import WritePayload

    def gets(run) -> dict[str, int]:
        query_stats.enable()
        query_stats.reset_stats()
        try:
            run()
            stats = query_stats.get_query_stats()
        finally:
            query_stats.disable()
        return {key: value["count"] for key, value in stats["storage_operations"].get("S3_GetObject", {}).items()}

    connection = arcticsql.connect(uri=s3_uri, config={})
    lib = connection.catalog.library("tiny", create=True)
    index = pd.date_range("2024-01-01", periods=10, name="ts")
    lib.write_batch([WritePayload(f"s{i:02d}", pd.DataFrame({"a": np.arange(10) + i}, index=index)) for i in range(20)])
    names = lib.list_symbols()
    connection.close()
    connection = arcticsql.connect(uri=s3_uri, config={})
    ours = gets(lambda: connection.cursor().execute('SELECT sum(a) FROM "tiny/*"').fetchall())
    theirs = gets(lambda: lib.read_batch(names, output_format="pyarrow"))
    connection.close()
    for key in ("VERSION_REF", "TABLE_INDEX", "TABLE_DATA"):
        assert ours.get(key, 0) == theirs[key] == 20, (ours, theirs)
    assert sum(ours.values()) <= sum(theirs.values()) + 3, ours  # + the library config and symbol list


@pytest.fixture(scope="module")
def sized():
    """Members of different lengths and gaps, some longer than the planning read (read by the scan)."""
    connection = arcticsql.connect(uri="mem://", config={"processing": {"wildcard_first_rows": 40,
                                                                        "scan_chunk_mb": 0.001}})
    lib = connection.catalog.library("bars", create=True)
    rng = np.random.default_rng(7)
    for k, rows in enumerate([0, 1, 5, 39, 40, 120]):
        steps = rng.integers(0, 3, rows).cumsum()  # duplicates (0) and gaps
        index = pd.DatetimeIndex(pd.Timestamp("2024-01-01").value + steps * 60_000_000_000, name="ts")
        lib.write(f"m{k}", pd.DataFrame({"v": rng.integers(0, 10, rows)}, index=index))
    everything = connection.cursor().execute('SELECT * FROM "bars/*"').fetch_arrow()
    plain = duckdb.connect()
    plain.register("t", everything)
    yield connection, plain
    plain.close()
    connection.close()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_a_wildcards_limit_equals_plain_duckdb(sized, data):
    connection, plain = sized
    where = data.draw(st.sampled_from(["", " WHERE v > 6", " WHERE ts >= TIMESTAMP '2024-01-01 01:00'",
                                       " WHERE symbol IN ('m3', 'm5') AND v < 5", " WHERE v * 2 > 9"]))
    order = data.draw(st.sampled_from(["", " ORDER BY ts", " ORDER BY ts DESC"]))
    limit = f" LIMIT {data.draw(st.integers(0, 8))}" + data.draw(st.sampled_from(["", " OFFSET 2"]))
    query = f"SELECT ts, v, symbol FROM {{}}{where}{order}{limit}"
    # connection.catalog.changed() would make every example cold; alternate cold and kept resolutions
    if data.draw(st.booleans()):
        connection.catalog.changed()
    got = connection.cursor().execute(query.format('"bars/*"')).fetchall()
    expected = plain.execute(query.format("t")).fetchall()
    assert len(got) == len(expected), query
    if order:  # ties in ts may come in any order: the keys agree, every row is one the filter keeps
        assert [row[0] for row in got] == [row[0] for row in expected], query
    passing = set(plain.execute(f"SELECT ts, v, symbol FROM t{where}").fetchall())
    assert set(got) <= passing, query
