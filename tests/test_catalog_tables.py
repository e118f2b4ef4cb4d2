"""The catalog in SQL: arcticsql.* tables, DESCRIBE, SHOW TABLES."""

from __future__ import annotations

import json

import pandas as pd
import pytest

import arcticsql
from tests.conftest import counting_calls


@pytest.fixture
def conn(store_conn):
    """Every test here runs on LMDB and on S3 (moto), the stores a team shares."""
    return store_conn


@pytest.fixture
def written(conn, prices):
    conn.cursor().execute(
        "COPY (SELECT * FROM prices_1min.AAPL) TO 'arctic://signals/test/AAPL' (METADATA '{\"model\": \"v2\"}')")
    conn.catalog.library("prices_1min", create=True).snapshot("eod")
    return prices


def test_libraries_and_symbols(conn, written):
    cur = conn.cursor()
    libraries = dict(cur.execute("SELECT library, symbols FROM arcticsql.libraries").fetchall())
    assert libraries["prices_1min"] == 2 and libraries["signals"] == 1
    row = cur.execute("SELECT * FROM arcticsql.symbols WHERE library = 'prices_1min' AND symbol = 'AAPL'").fetch_df()
    assert row.rows[0] == len(written["AAPL"])
    assert list(row["columns"][0]) == ["open", "high", "low", "close", "volume"]
    assert row.index_name[0] == "ts" and row.index_type[0] == "timestamp"
    assert pd.Timestamp(row.first_index[0]) == written["AAPL"].index[0]
    assert pd.Timestamp(row.last_index[0]) == written["AAPL"].index[-1]


def test_versions_snapshots_and_metadata(conn, written):
    cur = conn.cursor()
    cur.execute("COPY (SELECT * FROM prices_1min.AAPL) TO 'arctic://signals/test/AAPL'")
    versions = cur.execute("SELECT version FROM arcticsql.versions WHERE symbol = 'test/AAPL'").fetchall()
    assert versions == [(0,), (1,)]
    snaps = cur.execute("SELECT snapshot, symbols FROM arcticsql.snapshots WHERE library = 'prices_1min'").fetchall()
    assert snaps == [("eod", 2)]
    meta = cur.execute("SELECT * FROM arcticsql.metadata WHERE library = 'signals'").fetch_df()
    assert meta.shape_rows[0] == len(written["AAPL"]) and meta.shape_columns[0] == 5
    assert bool(meta.has_nulls[0]) is False
    assert meta.date_start[0] == written["AAPL"].index[0]
    assert json.loads(meta.metadata[0])["auto"]["index_type"] == "DatetimeIndex"
    first = conn.catalog.library("signals", create=True).read_metadata("test/AAPL", as_of=0).metadata
    assert first["model"] == "v2"


def test_key_filters_describe_only_matching_symbols(conn, written):
    lib = conn.catalog.library("prices_1min", create=True)
    with counting_calls(lib, "get_description_batch") as calls:
        conn.cursor().execute("SELECT * FROM arcticsql.symbols WHERE symbol = 'MSFT'").fetchall()
    assert [len(requests) for (requests, *_) in calls] == [1]


def test_describe_and_show_tables(conn, written):
    cur = conn.cursor()
    described = cur.execute('DESCRIBE "prices_1min/AAPL"').fetchall()
    assert [(name, kind) for name, kind, *_ in described][:2] == [("ts", "TIMESTAMP"), ("open", "DOUBLE")]
    cur.execute("CREATE TABLE mine AS SELECT 1 AS x")
    tables = cur.execute("SHOW TABLES").fetchall()
    assert ("prices_1min", "AAPL", "arcticdb", len(written["AAPL"])) in tables
    assert any(name == "mine" and kind == "duckdb table" for _, name, kind, _ in tables)


def test_unknown_catalog_table(conn):
    with pytest.raises(arcticsql.ProgrammingError, match="catalog tables"):
        conn.cursor().execute("SELECT * FROM arcticsql.symbolz")
