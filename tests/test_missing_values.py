"""One missing-value rule: a float NaN is missing (SQL NULL), as pandas means it, on ArcticDB and in pickles.

Random columns of floats, NaN and NULL are written through SQL (``COPY ... TO 'arctic://'``, where a NULL is
stored as NaN) and saved as pickles; ``avg``, ``count``, ``sum``, ``min`` and ``max`` over either must be
pandas' answers. With ``nan_is_null: false`` a NaN stays a value on both backends alike.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import arcticsql
from arcticsql.pickles import LocalStorage

AGGREGATES = "avg(x), count(x), sum(x), min(x), max(x), count(*)"


def _pandas_answers(values: list[float | None]) -> tuple:
    series = pd.Series([math.nan if v is None else v for v in values], dtype="float64")
    missing = series.count() == 0
    return (None if missing else series.mean(), int(series.count()), None if missing else series.sum(),
            None if missing else series.min(), None if missing else series.max(), len(series))


def _close(got: tuple, expected: tuple) -> bool:
    def same(a, b) -> bool:
        if a is None or b is None:
            return a is None and b is None
        return math.isclose(a, b, rel_tol=1e-12, abs_tol=1e-12)

    return len(got) == len(expected) and all(same(a, b) for a, b in zip(got, expected))


def _sql_literal(value: float | None) -> str:
    if value is None:
        return "NULL"
    return "'NaN'::DOUBLE" if math.isnan(value) else f"{value!r}::DOUBLE"


@pytest.fixture(scope="module")
def stores(tmp_path_factory):
    folder = tmp_path_factory.mktemp("missing")
    connection = arcticsql.connect(uri="mem://", config={"storage": {"local": {"base_path": str(folder)}}})
    yield connection, LocalStorage(folder)
    connection.close()


_names = iter(range(10**6))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(values=st.lists(st.one_of(st.none(), st.just(math.nan), st.sampled_from([0.0, -1.5, 2.25, 1e10])),
                       min_size=1, max_size=12))
def test_nan_and_null_give_pandas_answers_on_both_backends(stores, values):
    connection, pickles = stores
    name = f"m{next(_names)}"
    rows = ", ".join(f"(TIMESTAMP '2024-01-01' + INTERVAL {i} MINUTE, {_sql_literal(v)})" for i, v in enumerate(values))
    cursor = connection.cursor()
    cursor.execute(f"COPY (SELECT * FROM (VALUES {rows}) t(ts, x)) TO 'arctic://features/{name}'")
    stored = connection.catalog.library("features", create=True).read(name).data.x
    assert stored.isna().tolist() == [v is None or math.isnan(v) for v in values]  # NULL is stored as NaN
    expected = _pandas_answers(values)
    got = cursor.execute(f"SELECT {AGGREGATES} FROM features.{name}").fetchone()
    assert _close(got, expected), (values, got, expected)

    frame = pd.DataFrame({"x": np.array([math.nan if v is None else v for v in values], dtype="float64")})
    pickles.save(frame, f"{name}.pkl")
    from_pickle = cursor.execute(f"SELECT {AGGREGATES} FROM read_pickle('{name}.pkl')").fetchone()
    assert _close(from_pickle, expected), (values, from_pickle, expected)
    cursor.close()


def test_raw_nan_is_kept_on_both_backends_when_asked(tmp_path):
    connection = arcticsql.connect(uri="mem://", config={"processing": {"nan_is_null": False},
                                                         "storage": {"local": {"base_path": str(tmp_path)}}})
    frame = pd.DataFrame({"x": [1.0, math.nan, 3.0]}, index=pd.date_range("2024-01-01", periods=3, name="ts"))
    connection.catalog.library("features", create=True).write("raw", frame)
    LocalStorage(tmp_path).save(frame, "raw.pkl")
    cursor = connection.cursor()
    for table in ("features.raw", "read_pickle('raw.pkl')"):
        average, count, nan_rows = cursor.execute(f"SELECT avg(x), count(x), count(*) FILTER (WHERE isnan(x)) "
                                                  f"FROM {table}").fetchone()
        assert math.isnan(average) and count == 3 and nan_rows == 1, table
    connection.close()


def test_by_default_nan_reads_as_null(conn):
    frame = pd.DataFrame({"close": [1.0, math.nan, 3.0], "volume": [1, 2, 3]},
                         index=pd.date_range("2024-01-01", periods=3, name="ts"))
    conn.catalog.library("prices_daily", create=True).write("N", frame)
    cursor = conn.cursor()
    assert cursor.execute("SELECT avg(close), count(close), count(*) FROM prices_daily.N").fetchone() == (2.0, 2, 3)
    assert cursor.execute("SELECT count(*) FROM prices_daily.N WHERE close IS NULL").fetchone() == (1,)
    assert cursor.execute("SELECT count(*) FROM prices_daily.N WHERE close > 0").fetchone() == (2,)
    assert cursor.execute('SELECT avg(close) FROM "prices_daily/*"').fetchone() == (2.0,)
