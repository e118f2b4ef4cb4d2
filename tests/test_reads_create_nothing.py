"""Reads never create anything: not a library (a core library included), not a local store's folder."""

from __future__ import annotations

import os

import pytest

import arcticsql

READS = [
    "SELECT count(*) FROM prices_1min.AAPL",
    'SELECT * FROM "*/AAPL"',
    'SELECT * FROM "prices_1min/*"',
    "SELECT * FROM arcticsql.libraries",
    "SELECT * FROM arcticsql.symbols",
    "DESCRIBE prices_daily.SPY",
    "SHOW TABLES",
]


def test_a_read_only_session_over_a_fresh_store_creates_no_library():
    connection = arcticsql.connect(uri="mem://", config={})
    cursor = connection.cursor()
    for statement in READS:
        try:
            cursor.execute(statement).fetchall()
        except arcticsql.ProgrammingError:
            pass  # nothing there to read: an error is the right answer; creating it is not
    assert connection.catalog.arctic.list_libraries() == []
    with pytest.raises(arcticsql.ProgrammingError, match="library 'prices_1min' has no data yet"):
        cursor.execute("SELECT * FROM prices_1min.AAPL")
    connection.close()


def test_reading_a_local_store_that_does_not_exist_says_so_and_creates_nothing(tmp_path):
    folder = tmp_path / "no" / "store"
    connection = arcticsql.connect(uri=f"lmdb://{folder}", config={})
    assert connection.cursor().execute("SELECT 42").fetchone() == (42,)  # DuckDB alone needs no store
    with pytest.raises(arcticsql.ProgrammingError, match=rf"no ArcticDB store at {folder}: make one with "
                                                         "`arcticsql demo`"):
        connection.cursor().execute("SELECT * FROM prices_1min.AAPL")
    assert not os.path.exists(folder)
    connection.cursor().execute("COPY (SELECT 1 AS x) TO 'arctic://features/first'")  # a write makes it
    assert os.path.isdir(folder)
    assert connection.cursor().execute("SELECT x FROM features.first").fetchone() == (1,)
    connection.close()


def test_a_folder_that_is_not_a_store_is_not_made_one_by_a_read(tmp_path):
    """`--uri lmdb://./data` for `lmdb://./data/arctic_storage`: the folder exists, but holds no store."""
    (tmp_path / "arctic_storage").mkdir()
    connection = arcticsql.connect(uri=f"lmdb://{tmp_path}", config={})
    with pytest.raises(arcticsql.ProgrammingError, match=rf"no ArcticDB store at {tmp_path}: make one with "):
        connection.cursor().execute("SELECT * FROM arcticsql.libraries")
    assert sorted(os.listdir(tmp_path)) == ["arctic_storage"]
    connection.close()
