"""LIMIT reaches ArcticDB: what is read for `... LIMIT n`, and a property against DuckDB's plain answer."""

from __future__ import annotations

import itertools
import math

import duckdb
import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import arcticsql

ROWS = 50_000
BASE = pd.Timestamp("2024-01-02 09:30")
_names = itertools.count()


@pytest.fixture(scope="module")
def big():
    """A 50,000-row symbol read in chunks of about 2,000 rows."""
    connection = arcticsql.connect(uri="mem://", config={"processing": {"scan_chunk_mb": 0.1}})
    index = pd.date_range("2024-01-01", periods=ROWS, freq="min", name="ts")
    frame = pd.DataFrame({"close": np.arange(ROWS, dtype="float64"), "volume": np.arange(ROWS) % 1000},
                         index=index)
    connection.catalog.library("prices_1min", create=True).write("BIG", frame)
    yield connection, frame
    connection.close()


def _reads(connection, query, params=None):
    connection.session.read_log.clear()
    rows = connection.cursor().execute(query, params).fetchall()
    return rows, [r for r in connection.session.read_log.records() if r.symbol == "BIG"]


def test_limit_reads_the_first_rows_only(big):
    connection, frame = big
    rows, reads = _reads(connection, "SELECT * FROM prices_1min.BIG LIMIT 10 OFFSET 5")
    assert [r[1] for r in rows] == list(frame.close[5:15])
    assert [(r.row_range, r.rows) for r in reads] == [((0, 15), 15)]


def test_order_by_index_desc_reads_the_last_rows_only(big):
    connection, frame = big
    rows, reads = _reads(connection, "SELECT ts, close FROM prices_1min.BIG ORDER BY ts DESC LIMIT 3")
    assert [r[1] for r in rows] == list(frame.close[::-1][:3])
    assert [(r.row_range, r.rows) for r in reads] == [((ROWS - 3, ROWS), 3)]


def test_a_date_range_with_limit_reads_a_window_from_its_start(big):
    connection, frame = big
    rows, reads = _reads(connection, "SELECT close FROM prices_1min.BIG WHERE ts > ? LIMIT 4",
                         [pd.Timestamp("2024-01-20 10:00")])
    assert [r[0] for r in rows] == list(frame.close[frame.index > "2024-01-20 10:00"][:4])
    assert len(reads) == 1 and reads[0].date_range[0] == pd.Timestamp("2024-01-20 10:00:00.000000001")
    assert reads[0].rows < 20


def test_a_value_filter_with_limit_reads_windows_until_enough_rows_pass(big):
    connection, frame = big
    rows, reads = _reads(connection, "SELECT close FROM prices_1min.BIG WHERE volume = 999 ORDER BY ts DESC LIMIT 3")
    assert sorted(r[0] for r in rows) == sorted(frame.close[frame.volume == 999][-3:])
    assert all(r.query is not None and r.row_range is not None for r in reads)
    assert sum(r.row_range[1] - r.row_range[0] for r in reads) < ROWS // 4


def test_a_filter_duckdb_keeps_means_no_shortcut_and_no_read_ahead(big):
    """`close * 2 > 0` never reaches the scan: it must not stop after 10 rows (DuckDB drops some), and
    once DuckDB has its rows it reads no further chunk."""
    connection, frame = big
    rows, reads = _reads(connection, "SELECT close FROM prices_1min.BIG WHERE close * 2 > 20 LIMIT 10")
    assert [r[0] for r in rows] == list(frame.close[11:21])
    chunk = connection.catalog.schema("prices_1min", "BIG").chunk_rows(connection.session.settings.scan_chunk_bytes)
    assert [r.row_range for r in reads] == [(0, chunk)]


def test_limits_are_not_taken_where_they_would_be_wrong(big):
    connection, frame = big
    cursor = connection.cursor()
    assert cursor.execute("SELECT count(*) FROM (SELECT * FROM prices_1min.BIG LIMIT 5)").fetchone() == (5,)
    assert cursor.execute("SELECT max(close) FROM prices_1min.BIG LIMIT 1").fetchone() == (ROWS - 1,)
    assert cursor.execute("SELECT DISTINCT volume FROM prices_1min.BIG ORDER BY volume DESC LIMIT 1").fetchone() \
        == (999,)
    assert cursor.execute("SELECT close FROM prices_1min.BIG ORDER BY close DESC LIMIT 1").fetchone() == (ROWS - 1,)
    # a past version: the limit reads that version's rows
    lib = connection.catalog.library("prices_1min")
    lib.write("SMALL", frame[:100])
    lib.write("SMALL", frame[:50])
    assert cursor.execute("SELECT close FROM prices_1min.SMALL AT (VERSION => 0) ORDER BY ts DESC LIMIT 1"
                          ).fetchone() == (99,)
    assert cursor.execute("SELECT close FROM prices_1min.SMALL ORDER BY ts DESC LIMIT 1").fetchone() == (49,)


def test_an_unsorted_symbol_is_not_read_from_its_end(conn):
    lib = conn.catalog.library("features", create=True)
    index = pd.DatetimeIndex(["2024-01-03", "2024-01-01", "2024-01-02"], name="ts")
    lib.write("U", pd.DataFrame({"x": [3, 1, 2]}, index=index), validate_index=False)
    assert conn.cursor().execute("SELECT x FROM features.U ORDER BY ts DESC LIMIT 1").fetchone() == (3,)
    assert conn.cursor().execute("SELECT x FROM features.U ORDER BY ts LIMIT 1").fetchone() == (1,)


# -- property: LIMIT equals plain DuckDB over the full read ---------------------------------------------------
@pytest.fixture(scope="module")
def shared():
    connection = arcticsql.connect(uri="mem://", config={"processing": {"scan_chunk_mb": 0.0005}})
    plain = duckdb.connect()
    yield connection, plain
    plain.close()
    connection.close()


@st.composite
def frames(draw):
    n = draw(st.integers(0, 60))
    steps = draw(st.lists(st.integers(0, 40), min_size=n, max_size=n))  # 0: a duplicate timestamp; gaps
    offsets = np.cumsum(steps).astype("int64")
    range_index = draw(st.booleans()) and n > 0 and draw(st.booleans())
    index = pd.RangeIndex(n) if range_index else pd.DatetimeIndex(BASE.value + offsets * 60_000_000_000, name="ts")
    floats = draw(st.lists(st.sampled_from([0.0, 1.5, -2.0, 3.0, math.nan]), min_size=n, max_size=n))
    ints = draw(st.lists(st.integers(-3, 3), min_size=n, max_size=n))
    strings = draw(st.lists(st.sampled_from(["a", "b", "ab", None]), min_size=n, max_size=n))
    frame = pd.DataFrame({"f": np.array(floats, dtype="float64"), "i": np.array(ints, dtype="int64"),
                          "s": pd.Series(strings, dtype=object)}, index=index)
    return range_index, frame


def _condition(draw, range_index):
    op = draw(st.sampled_from(["=", "!=", "<", "<=", ">", ">="]))
    choice = draw(st.integers(0, 6))
    if choice <= 1:
        if range_index:
            return f'"index" {op} {draw(st.integers(-1, 61))}'
        stamp = BASE + pd.Timedelta(minutes=draw(st.integers(-5, 2500)))
        return f"ts {op} TIMESTAMP '{stamp}'"
    if choice == 2:
        return f"f {op} {draw(st.sampled_from(['0', '1.5', '-2.0']))}"
    if choice == 3:
        return f"i IN ({', '.join(map(str, draw(st.lists(st.integers(-3, 3), min_size=1, max_size=3))))})"
    if choice == 4:
        return f"s {op} '{draw(st.sampled_from(['a', 'b', 'ab']))}'"
    if choice == 5:
        return f"{draw(st.sampled_from(['f', 's', 'i']))} IS {draw(st.sampled_from(['', 'NOT ']))}NULL"
    return draw(st.sampled_from(["i * 2 > 1", "s LIKE 'a%'", "f + 1 > 1", "i % 2 = 0"]))  # DuckDB keeps these


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                   HealthCheck.too_slow])
@given(data=st.data())
def test_limit_equals_plain_duckdb(shared, data):
    connection, plain = shared
    range_index, frame = data.draw(frames())
    symbol = f"L{next(_names)}"
    connection.catalog.library("features", create=True).write(symbol, frame)
    cursor = connection.cursor()
    full = cursor.execute(f"SELECT * FROM features.{symbol}").fetch_arrow()
    plain.register("t", full)
    conditions = data.draw(st.lists(st.builds(lambda: None), max_size=3))
    where = " AND ".join(_condition(data.draw, range_index) for _ in conditions)
    key = '"index"' if range_index else "ts"
    order = data.draw(st.sampled_from(["", f" ORDER BY {key}", f" ORDER BY {key} DESC"]))
    limit = data.draw(st.integers(0, 12))
    offset = data.draw(st.sampled_from([0, 0, 1, 5]))
    query = (f"SELECT {key}, f, i, s FROM {{}}{' WHERE ' + where if where else ''}{order} LIMIT {limit}"
             + (f" OFFSET {offset}" if offset else ""))
    got = cursor.execute(query.format(f"features.{symbol}")).fetchall()
    cursor.close()
    expected = plain.execute(query.format("t")).fetchall()
    assert len(got) == len(expected), query
    if order:  # ties in the key may come in any order: the keys agree, and every row passes the filter
        assert [row[0] for row in got] == [row[0] for row in expected], query
        passing = plain.execute(query.format("t").split(" ORDER BY")[0].split(" LIMIT")[0]).fetchall()
        assert all(row in passing or any(_same(row, p) for p in passing) for row in got), query
    else:
        assert all(_same(a, b) for a, b in zip(got, expected)), query


def _same(a, b) -> bool:
    return all(x == y or (isinstance(x, float) and isinstance(y, float) and math.isnan(x) and math.isnan(y))
               for x, y in zip(a, b))


def test_the_limit_property_exercises_the_shortcut(shared):
    """Guard against a vacuous property: some reads above were windows of a limited scan."""
    records = shared[0].session.read_log.records()
    assert any(r.row_range is not None and r.row_range[1] - r.row_range[0] <= 12 for r in records)
    assert any(r.date_range is not None or r.query is not None for r in records)
