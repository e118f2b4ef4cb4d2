"""EXPLAIN shows what reaches ArcticDB: checked against the read log of the same statement run."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import arcticsql

ROWS = 30_000


@pytest.fixture(scope="module")
def conn():
    # (without the session cache, whose reads send no QueryBuilder: see test_explain_through_the_cache)
    connection = arcticsql.connect(uri="mem://", config={"processing": {"scan_chunk_mb": 0.2, "cache_mb": 0}})
    index = pd.date_range("2024-01-01", periods=ROWS, freq="min", name="ts")
    frame = pd.DataFrame({"close": np.arange(ROWS, dtype="float64"), "volume": np.arange(ROWS) % 100}, index=index)
    lib = connection.catalog.library("prices_1min", create=True)
    lib.write("BIG", frame)
    for name in ("AAPL", "MSFT", "NVDA"):
        lib.write(name, frame[:50])
    yield connection
    connection.close()


def _run(connection, query):
    """The statement's EXPLAIN data, then the reads the statement itself makes."""
    planned = connection.cursor().explain(query)
    connection.session.read_log.clear()
    connection.cursor().execute(query).fetchall()
    return planned, [r for r in connection.session.read_log.records() if r.kind != "plan"]


@pytest.mark.parametrize("query", [
    "SELECT avg(close) FROM prices_1min.BIG WHERE ts BETWEEN '2024-01-05' AND '2024-01-06 12:00'",
    "SELECT close FROM prices_1min.BIG WHERE ts > '2024-01-20' AND volume IN (1, 2) AND close * 2 > 0",
    "SELECT count(*) FROM prices_1min.BIG WHERE volume = 7 AND ts < '2024-01-02'",
])
def test_one_read_explained_as_made(conn, query):
    (entry,), reads = _run(conn, query)
    assert len(reads) == entry["read_count"] == 1
    read = reads[0]
    assert (entry["library"], entry["symbol"], entry["version"]) == (read.library, read.symbol, read.version)
    assert tuple(entry["columns"]) == read.columns
    assert entry["date_range"] == read.date_range == entry["reads"][0].get("date_range")
    assert entry["query_builder"] == read.query


def test_filters_after_the_read_and_left_for_duckdb(conn):
    (entry,), _ = _run(conn, "SELECT close FROM prices_1min.BIG WHERE volume > 3 AND close * 2 > 0")
    assert entry["filter_after_read"] == ["(volume > 3)"]
    assert entry["query_builder"] is not None and "volume" in entry["query_builder"]
    assert "close" in entry["duckdb_filter"]
    assert entry["columns"] == ["close", "volume"]


def test_limits_explained_as_made(conn):
    for query, expected in [("SELECT * FROM prices_1min.BIG LIMIT 7", (0, 7)),
                            ("SELECT * FROM prices_1min.BIG ORDER BY ts DESC LIMIT 3 OFFSET 2", (ROWS - 5, ROWS))]:
        (entry,), reads = _run(conn, query)
        assert entry["limit"] is not None and entry["read_count"] == 1
        assert entry["reads"] == [{"row_range": expected}]
        assert [r.row_range for r in reads] == [expected]


def test_a_chunked_scan_explained_as_made(conn):
    (entry,), reads = _run(conn, "SELECT sum(volume) FROM prices_1min.BIG")
    assert entry["read_count"] == len(reads) > 1
    assert [call["row_range"] for call in entry["reads"]] == [r.row_range for r in reads[:len(entry["reads"])]]


def test_a_wildcard_explained(conn):
    query = """SELECT symbol, max(close) FROM "prices_1min/*" WHERE symbol IN ('AAPL', 'NVDA')
               AND ts >= '2024-01-01 00:30' GROUP BY ALL"""
    (entry,), reads = _run(conn, query)
    assert entry["members"] == 2 and entry["planned_with"] == ["symbol = 'AAPL' OR symbol = 'NVDA'"]
    assert [sym for _, sym, _ in entry["versions"]] == ["AAPL", "NVDA"]
    assert entry["date_ranges"] == [(pd.Timestamp("2024-01-01 00:30"), None)]
    assert sorted(r.symbol for r in reads) == ["AAPL", "NVDA"]
    assert {r.date_range for r in reads} == set(entry["date_ranges"])
    assert {tuple(entry["columns"])} == {r.columns for r in reads}


def test_explain_reads_nothing_and_analyze_counts_what_it_read(conn):
    cursor = conn.cursor()
    query = "SELECT avg(close) FROM prices_1min.BIG WHERE ts >= '2024-01-03' AND ts < '2024-01-04'"
    cursor.execute(query).fetchall()
    conn.session.read_log.clear()
    rows = cursor.execute("EXPLAIN " + query).fetchall()
    assert conn.session.read_log.records() == []
    assert [key for key, _ in rows] == ["physical_plan", "arcticdb"]
    assert "date_range: 2024-01-03 00:00:00 .. 2024-01-03 23:59:59.999999999" in rows[-1][1]
    rows = cursor.execute("EXPLAIN ANALYZE " + query).fetchall()
    (read,) = conn.session.read_log.records()
    assert rows[-1][0] == "arcticdb"
    assert f"analyzed: 1 reads, {read.rows:,} of {ROWS:,} rows, 1 of 1 segments" in rows[-1][1]
    (entry,) = cursor.explain(query, analyze=True)
    assert (entry["rows_read"], entry["rows_total"], entry["segments_read"], entry["segments_total"]) == \
        (1440, ROWS, 1, 1)
    assert entry["arcticdb_ms"] > 0


def test_explain_of_duckdb_only_statements_is_duckdbs(conn):
    rows = conn.cursor().execute("EXPLAIN SELECT 42").fetchall()
    assert [key for key, _ in rows] == ["physical_plan"]
    assert conn.cursor().explain("SELECT 42") == []


def test_explain_leaves_the_cursors_result(conn):
    cursor = conn.cursor()
    cursor.execute("SELECT close FROM prices_1min.AAPL ORDER BY ts")
    assert cursor.fetchone() == (0.0,)
    cursor.explain("SELECT * FROM prices_1min.MSFT")
    assert cursor.fetchone() == (1.0,)


def test_explain_through_the_cache():
    connection = arcticsql.connect(uri="mem://", config={})
    index = pd.date_range("2024-01-01", periods=1_000, freq="min", name="ts")
    frame = pd.DataFrame({"close": np.arange(1_000, dtype="float64"), "volume": np.arange(1_000) % 10}, index=index)
    connection.catalog.library("prices_1min", create=True).write("X", frame)
    query = "SELECT sum(close) FROM prices_1min.X WHERE volume = 3"
    (cold,) = connection.cursor().explain(query)
    assert cold["cache"] == "read" and cold["query_builder"] is None and cold["filter_after_read"] == ["(volume = 3)"]
    assert "through the session cache" in connection.cursor().execute("EXPLAIN " + query).fetchall()[-1][1]
    connection.cursor().execute(query).fetchall()
    (warm,) = connection.cursor().explain(query)
    assert warm["cache"] == "held"
    (analyzed,) = connection.cursor().explain(query, analyze=True)
    assert analyzed["reads_made"] == 0 and analyzed["rows_from_cache"] == 1_000
    connection.close()
