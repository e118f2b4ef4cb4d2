"""Contract tests for duckdb's private scan protocol (duckdb._sources, duckdb 2.0).

arcticsql depends on these behaviours; if a duckdb upgrade changes any of them, these fail first and say
which. Each test registers a tiny recording source on a real DuckDB connection.
"""

from __future__ import annotations

import duckdb
import pyarrow as pa
import pytest

from arcticsql.sources.protocol import Binary, Col, In, Lit, ScanSource, to_arrow


class Recording(ScanSource):
    """Accepts (or declines) every filter and records what DuckDB asked."""

    def __init__(self, table: pa.Table, accept: bool = True) -> None:
        super().__init__()
        self.table = table
        self.accept = accept
        self.offered: list[str] = []
        self.streams: list[tuple] = []

    def __arrow_c_schema__(self):
        return self.table.schema.__arrow_c_schema__()

    def rows(self):
        return self.table.num_rows

    def accepts(self, predicate) -> bool:
        self.offered.append(predicate.fragment())
        return self.accept

    def stream(self, columns, filters):
        self.streams.append((None if columns is None else list(columns), [f.fragment() for f in filters]))
        table = self.table
        for predicate in filters:
            table = table.filter(to_arrow(predicate, self.table.schema))
        if columns is not None:
            table = table.select(list(columns))
        return table.__arrow_c_stream__(), columns is not None


@pytest.fixture
def table():
    return pa.table({
        "ts": pa.array([0, 60_000_000, 120_000_000], pa.timestamp("us")),
        "ns": pa.array([0, 1, 2], pa.timestamp("ns")),
        "a": pa.array([1.0, float("nan"), 3.0]),
        "s": pa.array(["x", None, "z"]),
    })


@pytest.fixture
def con():
    connection = duckdb.connect()
    yield connection
    connection.close()


def test_registered_source_is_used_and_offered_filters(con, table):
    source = Recording(table)
    con.register("t", source)
    rows = con.execute("SELECT a FROM t WHERE s = 'z' AND ts BETWEEN '1970-01-01' AND '1970-01-02'").fetchall()
    assert rows == [(3.0,)]
    assert "(\"s\" = 'z')" in source.offered
    assert any("ts" in text and "AND" in text for text in source.offered), source.offered
    columns, filters = source.streams[-1]
    assert columns == [2], "projection arrives as declared column indexes"
    assert len(filters) == 2


def test_nanosecond_timestamps_are_never_offered(con, table):
    source = Recording(table)
    con.register("t", source)
    con.execute("SELECT count(*) FROM t WHERE ns > '1970-01-01'").fetchall()
    assert not any('"ns"' in text for text in source.offered)


def test_accepting_a_filter_drops_duckdbs_own(con, table):
    class Liar(Recording):
        def stream(self, columns, filters):
            return super().stream(columns, [])  # claims to filter but returns everything

    source = Liar(table)
    con.register("t", source)
    assert con.execute("SELECT count(*) FROM t WHERE s = 'x'").fetchone()[0] == 3


def test_declined_filters_are_applied_by_duckdb(con, table):
    source = Recording(table, accept=False)
    con.register("t", source)
    assert con.execute("SELECT count(*) FROM t WHERE s = 'x'").fetchone()[0] == 1
    assert source.streams[-1][1] == []


def test_parameters_and_in_lists_arrive_as_constants(con, table):
    source = Recording(table)
    con.register("t", source)
    con.execute("SELECT count(*) FROM t WHERE a > ? AND s IN ('x', 'z')", [2.0]).fetchall()
    assert '("a" > 2.0::DOUBLE)' in source.offered
    assert any(text.startswith('("s" IN') for text in source.offered)


def test_node_classes_have_the_expected_shape():
    node = Binary("AND", Binary(">", Col(("a",)), Lit(1.0, "DOUBLE")), In(Col(("s",)), [Lit("x", "VARCHAR")]))
    assert node.fragment() == "((\"a\" > 1.0::DOUBLE) AND (\"s\" IN ('x')))"


def test_nan_semantics_of_the_translator(table):
    """DuckDB orders NaN above every number: a > 2 keeps NaN. The translator must agree."""
    expression = to_arrow(Binary(">", Col(("a",)), Lit(2.0, "DOUBLE")), table.schema)
    kept = table.filter(expression).column("a").to_pylist()
    assert len(kept) == 2 and 3.0 in kept
