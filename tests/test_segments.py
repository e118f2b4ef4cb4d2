"""Contract of arcticsql/sources/segments.py with ArcticDB's private index-key reader: the segments it says a
read touches are those ArcticDB's own statistics count (on mem://, which they cover)."""

from __future__ import annotations

import arcticdb
import arcticdb.toolbox.query_stats as query_stats
import numpy as np
import pandas as pd
import pytest
from arcticdb import LibraryOptions, QueryBuilder

from arcticsql.catalog.schema import build_schema
from arcticsql.sources.segments import column_positions, segments

ROWS = 10_000


@pytest.fixture(scope="module")
def lib():
    library = arcticdb.Arctic("mem://").create_library(
        "seg", LibraryOptions(rows_per_segment=1_000, columns_per_segment=3))
    index = pd.date_range("2024-01-01", periods=ROWS, freq="min", name="ts")
    library.write("S", pd.DataFrame({f"c{i}": np.arange(ROWS) + i for i in range(7)}, index=index))
    library.write("R", pd.DataFrame({"x": np.arange(ROWS)}))
    return library


def _fetched(lib, symbol, **read) -> int:
    query_stats.enable()
    query_stats.reset_stats()
    try:
        lib.read(symbol, output_format="pyarrow", **read)
        stats = query_stats.get_query_stats()
    finally:
        query_stats.disable()
    return stats["storage_operations"]["Memory_GetObject"]["TABLE_DATA"]["count"]


@pytest.mark.parametrize("symbol, read", [
    ("S", {}),
    ("S", {"row_range": (0, 10)}),
    ("S", {"row_range": (990, 1010)}),
    ("S", {"row_range": (ROWS - 5, ROWS)}),
    ("S", {"date_range": (pd.Timestamp("2024-01-02"), pd.Timestamp("2024-01-02 02:00"))}),
    ("S", {"date_range": (pd.Timestamp("2024-01-05"), None)}),
    ("S", {"date_range": (None, pd.Timestamp("2024-01-01 00:10"))}),
    ("S", {"columns": ["c0"]}),
    ("S", {"columns": ["c0", "c6"], "row_range": (0, 1500)}),
    ("S", {"columns": []}),
    ("S", {"date_range": (pd.Timestamp("2024-01-03"), None), "query_builder": QueryBuilder().head(5)}),
    ("R", {"row_range": (2500, 2600)}),
])
def test_touched_segments_are_those_arcticdb_fetches(lib, symbol, read):
    version = int(lib.read_metadata(symbol).version)
    table = segments(lib, "seg", symbol, version)
    schema = build_schema("seg", symbol, version, lib.read(symbol, row_range=(0, 0), output_format="pyarrow").data.schema,
                          ROWS)
    columns = read.get("columns")
    positions = column_positions(schema, tuple(columns) if columns is not None else None)
    assert table.touched(read.get("row_range"), read.get("date_range"), positions) == _fetched(lib, symbol, **read)


def test_totals(lib):
    assert segments(lib, "seg", "S", 0).total == 10 * 3  # 10 row slices x 3 column slices
    assert segments(lib, "seg", "R", 0).total == 10
