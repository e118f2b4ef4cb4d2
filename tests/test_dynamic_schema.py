"""Schemas that evolve (``dynamic_schema=True`` libraries): columns added and dropped between versions, types
widened, wildcard members with different columns. Every read gives SQL's answer, checked against DuckDB over
ArcticDB's own Arrow output (a missing column is NULL; a float NaN is NULL, arcticsql's rule)."""

from __future__ import annotations

import itertools
import math

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from arcticdb import LibraryOptions
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import arcticsql

BASE = pd.Timestamp("2024-01-02")
_names = itertools.count()
#: Column -> the values its writes draw from (the second type of ``i`` widens it: int, then float).
_POOL = {"i": [0, 1, 2, -3], "f": [0.5, -1.0, 2.0, math.nan], "s": ["a", "b", "ab", None], "b": [True, False],
         "n": [10, 20, 30]}


@pytest.fixture(scope="module", params=[0, 10_000], ids=["read-by-scans", "planning-read"])
def dyn(request):
    """Wildcard members read by the scan in small chunks, or served from the planning read."""
    connection = arcticsql.connect(uri="mem://", config={"processing": {"scan_chunk_mb": 0.0003,
                                                                        "wildcard_first_rows": request.param}})
    lib = connection.catalog.store.arctic(create=True).get_library(
        "dyn", create_if_missing=True, library_options=LibraryOptions(dynamic_schema=True))
    plain = duckdb.connect()
    plain.execute("SET TimeZone = 'UTC'")
    yield connection, lib, plain
    plain.close()
    connection.close()


def _sql_table(table: pa.Table) -> pa.Table:
    """ArcticDB's Arrow output as SQL sees it through arcticsql: float NaN is NULL, the index microseconds."""
    columns = []
    for column in table.columns:
        if pa.types.is_floating(column.type):
            column = pc.if_else(pc.is_nan(column), pa.scalar(None, column.type), column)
        elif pa.types.is_timestamp(column.type):
            column = column.cast(pa.timestamp("us", column.type.tz))
        elif pa.types.is_large_string(column.type):
            column = column.cast(pa.string())
        columns.append(column)
    names = ["ts" if name == "__index__" else name for name in table.column_names]
    return pa.Table.from_arrays(columns, names=names)


@st.composite
def frames(draw, start: int, periods: int, widened: bool):
    columns = draw(st.lists(st.sampled_from(list(_POOL)), min_size=1, max_size=4, unique=True))
    data = {}
    for column in columns:
        values = draw(st.lists(st.sampled_from(_POOL[column]), min_size=periods, max_size=periods))
        if column == "i":
            data[column] = np.array(values, dtype="float64" if widened else "int64") + (0.5 if widened else 0)
        elif column == "n":
            data[column] = np.array(values, dtype="int32")
        elif column == "s":
            data[column] = pd.Series(values, dtype=object)
        else:
            data[column] = np.array(values)
    index = pd.date_range(BASE + pd.Timedelta(days=start), periods=periods, freq="D", name="ts")
    return pd.DataFrame(data, index=index)


def _write_history(draw, lib, symbol: str) -> None:
    """A first write, then appends (new and dropped columns, ``i`` widened to float, ``n`` to int64) and
    updates (rows replaced: columns the update lacks become missing there)."""
    periods = draw(st.integers(1, 6))
    lib.write(symbol, draw(frames(0, periods, widened=False)))
    end = periods
    for _ in range(draw(st.integers(0, 3))):
        if draw(st.booleans()) or end < 2:
            more = draw(st.integers(1, 5))
            frame = draw(frames(end, more, widened=draw(st.booleans())))
            if "n" in frame and draw(st.booleans()):
                frame["n"] = frame["n"].astype("int64")
            lib.append(symbol, frame)
            end += more
        else:
            first = draw(st.integers(0, end - 1))
            count = draw(st.integers(1, end - first))
            lib.update(symbol, draw(frames(first, count, widened=draw(st.booleans()))))


def _predicate(draw, columns: list[str]) -> str:
    column = draw(st.sampled_from(columns))
    op = draw(st.sampled_from(["=", "!=", "<", ">=", "IS NULL", "IS NOT NULL", "IN"]))
    if op.startswith("IS"):
        return f"{column} {op}"
    literal = {"i": "1", "f": "0.5", "s": "'a'", "b": "true", "n": "20"}[column]
    if op == "IN":
        return f"{column} IN ({literal})"
    term = f"{column} {op} {literal}"
    return f"NOT ({term})" if draw(st.booleans()) else term


def _rows(rows) -> list:
    def value(v):
        if isinstance(v, float) and math.isnan(v):
            return ("nan",)
        return (type(v).__name__, v) if not isinstance(v, (int, float)) or isinstance(v, bool) else ("num", float(v))

    return sorted((tuple(value(v) for v in row) for row in rows), key=repr)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                  HealthCheck.too_slow])
@given(data=st.data())
def test_an_evolving_symbol_reads_as_sql_says(dyn, data):
    connection, lib, plain = dyn
    symbol = f"E{next(_names)}"
    _write_history(data.draw, lib, symbol)
    oracle = _sql_table(lib.read(symbol, output_format="pyarrow").data)
    plain.register("t", oracle)
    cursor = connection.cursor()
    described = [row[:2] for row in cursor.execute(f"DESCRIBE dyn.{symbol}").fetchall()]
    assert described == [row[:2] for row in plain.execute("DESCRIBE t").fetchall()]  # widened as SQL types
    columns = [name for name in oracle.column_names if name in _POOL]
    where = " AND ".join(_predicate(data.draw, columns) for _ in range(data.draw(st.integers(0, 2))))
    tail = data.draw(st.sampled_from(["", " ORDER BY ts DESC LIMIT 3", " LIMIT 2"]))
    query = f"SELECT * FROM {{}}{' WHERE ' + where if where else ''}{tail}"
    expected = plain.execute(query.format("t")).fetchall()
    got = cursor.execute(query.format(f"dyn.{symbol}")).fetchall()
    if "LIMIT" in tail and "ORDER" not in tail:
        assert len(got) == len(expected) and all(row in plain.execute(query.format("t").split(" LIMIT")[0]).fetchall()
                                                 for row in got), query
    else:
        assert _rows(got) == _rows(expected), query


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                  HealthCheck.too_slow])
@given(data=st.data())
def test_a_wildcard_of_members_with_different_columns_equals_their_concat(dyn, data):
    connection, lib, plain = dyn
    prefix = f"W{next(_names)}_"
    members = [f"{prefix}{k}" for k in range(data.draw(st.integers(2, 3)))]
    for member in members:
        _write_history(data.draw, lib, member)
    tables = {member: _sql_table(lib.read(member, output_format="pyarrow").data) for member in members}
    union = " UNION ALL BY NAME ".join(
        f"SELECT 'dyn' AS library, '{member}' AS symbol, * FROM m{k}" for k, member in enumerate(members))
    for k, member in enumerate(members):
        plain.register(f"m{k}", tables[member])
    expected = plain.sql(f"SELECT * FROM ({union}) ORDER BY symbol, ts").to_arrow_table()
    cursor = connection.cursor()
    got = cursor.execute(f'SELECT * FROM "dyn/{prefix}*" ORDER BY symbol, ts').fetch_arrow()
    assert got.schema.names == expected.schema.names
    assert [str(t) for t in got.schema.types] == [str(t) for t in expected.schema.types]
    assert got.to_pylist() == expected.to_pylist()
    # the same rows as pandas' concat of the members (missing columns NaN/None there, NULL here)
    frames = [tables[m].to_pandas().assign(symbol=m) for m in members]
    concat = pd.concat(frames, ignore_index=True).sort_values(["symbol", "ts"], kind="stable")
    for column in concat.columns:
        if column in ("ts", "symbol"):
            continue
        mine = [None if v is None or (isinstance(v, float) and math.isnan(v)) else v for v in got.column(column).to_pylist()]
        theirs = [None if v is None or (isinstance(v, float) and math.isnan(v)) else v for v in concat[column].tolist()]
        assert mine == theirs, column
    # and pushdown on a column only some members have stays exact
    column = data.draw(st.sampled_from([c for c in _POOL if c in got.schema.names] or ["i"]))
    if column in got.schema.names:
        condition = {"i": "i >= 1", "f": "f < 1", "s": "s = 'a'", "b": "b", "n": "n != 20"}[column]
        want = plain.execute(f"SELECT count(*) FROM ({union}) WHERE {condition}").fetchall()[0]
        assert cursor.execute(f'SELECT count(*) FROM "dyn/{prefix}*" WHERE {condition}').fetchone() == want
