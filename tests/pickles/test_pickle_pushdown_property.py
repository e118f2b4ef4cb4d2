"""Property: filters pushed into a read_pickle source (pruning files by their naming row) give exactly the
rows DuckDB gives over the same files, fully loaded, without pushdown."""

from __future__ import annotations

import itertools

import duckdb
import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from arcticsql.pickles import LocalStorage, read_pickle_table
from arcticsql.sources.pickles import PickleDatasetSource

#: Conventional names, a name without params, names the convention does not describe (naming fields NULL),
#: and a folder deeper than three levels.
PATHS = [
    "index/nifty/gbm/20230901_120000_bullish.pkl",
    "index/nifty/gbm/20230902_093000_bearish.pkl",
    "index/nifty/gbm/latest.pkl",
    "index/spx/heston/20230903_000000.pkl",
    "index/spx/gbm/20230901_120000_bull_high_vol.pkl",
    "option_chain/spx/black_scholes/20230901_120000_weekly_expiry.pkl",
    "option_chain/nifty/black_scholes/20231231_235959_monthly_expiry.pkl",
    "misc/notes.pkl",
    "a/b/c/d/20230901_120000_x.pkl",
]

STRINGS = {
    "data_type": ["index", "option_chain", "b", "misc", "", "zz"],
    "market_type": ["nifty", "spx", "c", "NIFTY"],
    "model_type": ["gbm", "heston", "black_scholes", "d"],
    "params": ["bullish", "bearish", "", "weekly_expiry", "x", "bull_high_vol"],
    "file": PATHS[:3] + ["nope.pkl"],
}
TIMES = ["2023-09-01 12:00:00", "2023-09-01 12:00:01", "2023-09-02", "2023-09-03 00:00:00", "2024-01-01"]


@pytest.fixture(scope="module")
def sources(tmp_path_factory):
    """The files as a PickleDatasetSource (pushdown) and as one fully loaded Arrow table (none)."""
    store = LocalStorage(str(tmp_path_factory.mktemp("pickles")))
    for i, path in enumerate(PATHS):
        rows = i % 4 + 1
        store.save(pd.DataFrame({"x": np.arange(rows) + 10 * i, "Close": np.linspace(1.0, 2.0, rows)}), path)
    return store, read_pickle_table(store, "**/*.pkl")


@st.composite
def predicates(draw, depth: int = 0):
    choice = draw(st.integers(0, 7 if depth < 2 else 5))
    op = draw(st.sampled_from(["=", "!=", "<", "<=", ">", ">="]))
    if choice <= 1:
        column = draw(st.sampled_from(sorted(STRINGS)))
        value = draw(st.sampled_from(STRINGS[column]))
        if draw(st.booleans()):
            return f"{column} {op} '{value}'"
        values = ", ".join(f"'{v}'" for v in draw(st.lists(st.sampled_from(STRINGS[column]), min_size=1,
                                                             max_size=3)))
        return f"{column} {'NOT ' if draw(st.booleans()) else ''}IN ({values})"
    if choice == 2:
        return f"timestamp {op} TIMESTAMP '{draw(st.sampled_from(TIMES))}'"
    if choice == 3:
        column = draw(st.sampled_from(["data_type", "timestamp", "params"]))
        return f"{column} IS {'NOT ' if draw(st.booleans()) else ''}NULL"
    if choice == 4:
        low, high = sorted(draw(st.lists(st.sampled_from(TIMES), min_size=2, max_size=2)))
        return f"timestamp BETWEEN TIMESTAMP '{low}' AND TIMESTAMP '{high}'"
    if choice == 5:
        return f"x {op} {draw(st.integers(0, 90))}"  # a data column: not pushed, applied by DuckDB
    left = draw(predicates(depth + 1))
    right = draw(predicates(depth + 1))
    if choice == 6:
        return f"({left}) {draw(st.sampled_from(['AND', 'OR']))} ({right})"
    return f"NOT ({left})"


_pushed = itertools.count()
_pruned = []


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_pruned_reads_equal_the_plain_scan(sources, data):
    store, reference = sources
    conjuncts = data.draw(st.lists(predicates(), min_size=1, max_size=3))
    where = " AND ".join(f"({p})" for p in conjuncts)
    projection = data.draw(st.sampled_from(["*", "file, x", "count(*)", "params, timestamp"]))
    query = f"SELECT {projection} FROM t WHERE {where}"
    source = PickleDatasetSource(store, "**/*.pkl", schema=reference.select(["x", "Close"]).schema)
    with duckdb.connect() as pushed, duckdb.connect() as plain:
        pushed.register("t", source)
        plain.register("t", reference)
        before = store.loads
        got = sorted(map(repr, pushed.execute(query).fetchall()))
        loaded = store.loads - before
        expected = sorted(map(repr, plain.execute(query).fetchall()))
    assert got == expected, query
    next(_pushed)
    _pruned.append(loaded < len(PATHS))


def test_the_property_prunes_files():
    """Guard against a vacuous property: some of the reads above left files unloaded, some loaded all."""
    assert next(_pushed) > 100
    assert any(_pruned) and not all(_pruned)

