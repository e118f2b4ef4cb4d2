"""Scans stream in bounded chunks: what the source asks ArcticDB for, per read."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import arcticsql

ROWS = 200_000


@pytest.fixture
def small_chunks():
    connection = arcticsql.connect(uri="mem://", config={"processing": {"scan_chunk_mb": 0.5}})
    index = pd.date_range("2024-01-01", periods=ROWS, freq="min", name="ts")
    frame = pd.DataFrame({"close": np.arange(ROWS, dtype="float64"), "volume": np.arange(ROWS)}, index=index)
    connection.catalog.library("prices_1min", create=True).write("BIG", frame)
    yield connection, frame
    connection.close()


def _reads(connection):
    return [r for r in connection.session.read_log.records() if r.symbol == "BIG"]


def test_full_scan_reads_in_bounded_row_ranges(small_chunks):
    connection, frame = small_chunks
    connection.session.read_log.clear()
    total = connection.cursor().execute("SELECT sum(close), count(*) FROM prices_1min.BIG").fetchone()
    assert total == (frame.close.sum(), ROWS)
    reads = _reads(connection)
    chunk = connection.catalog.schema("prices_1min", "BIG").chunk_rows(connection.session.settings.scan_chunk_bytes)
    assert len(reads) == -(-ROWS // chunk) > 1
    assert all(r.row_range is not None and r.rows <= chunk for r in reads)
    assert [r.row_range[0] for r in reads] == list(range(0, ROWS, chunk))


def test_large_date_range_is_sliced_and_exact(small_chunks):
    connection, frame = small_chunks
    connection.session.read_log.clear()
    start, end = "2024-01-10 00:00:00", "2024-03-20 12:00:00"
    got = connection.cursor().execute(
        f"SELECT count(*), sum(volume) FROM prices_1min.BIG WHERE ts > '{start}' AND ts <= '{end}'").fetchone()
    window = frame[(frame.index > start) & (frame.index <= end)]
    assert got == (len(window), window.volume.sum())
    reads = _reads(connection)
    assert len(reads) > 1
    assert all(r.date_range is not None for r in reads)
    assert sum(r.rows for r in reads) == len(window)  # strict bounds become inclusive ones 1ns inside


def test_limit_stops_reading_early(small_chunks):
    connection, _ = small_chunks
    connection.session.read_log.clear()
    rows = connection.cursor().execute("SELECT close FROM prices_1min.BIG LIMIT 5").fetchall()
    assert len(rows) == 5
    chunk = connection.catalog.schema("prices_1min", "BIG").chunk_rows(connection.session.settings.scan_chunk_bytes)
    assert len(_reads(connection)) <= 2 < -(-ROWS // chunk)


def test_projection_reads_only_needed_columns(small_chunks):
    connection, _ = small_chunks
    connection.session.read_log.clear()
    connection.cursor().execute("SELECT avg(volume) FROM prices_1min.BIG").fetchall()
    assert {r.columns for r in _reads(connection)} == {("volume",)}
