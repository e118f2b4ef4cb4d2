"""Seed 000's FlexibleQuery.load_multiple, run as the seed writes it."""

from __future__ import annotations

import pandas as pd
import pytest

import arcticsql
from arcticsql.flexible import FlexibleDataStore, FlexibleQuery
from tests.conftest import minute_bars


@pytest.fixture
def store(tmp_path):
    store = FlexibleDataStore(uri=f"lmdb://{tmp_path}/arctic")
    for ticker, seed in [("AAPL", 1), ("MSFT", 2)]:
        store.store_any_data(f"prices/1min/{ticker}", minute_bars(start="2024-01-30 14:30", periods=5000, seed=seed))
        store.store_any_data(f"prices/daily/{ticker}", minute_bars(start="2024-01-01", periods=40, seed=seed)
                             .resample("1D").last())
    store.store_any_data("news/enriched/AAPL", pd.DataFrame(
        {"headline": ["x"]}, index=pd.DatetimeIndex(["2024-01-15 10:00"], name="ts")))
    yield store
    store.close()


def test_seed_examples(store):
    query = FlexibleQuery(store)
    data = query.load_multiple(["prices_1min/AAPL", "prices_1min/MSFT"])
    assert set(data) == {"prices_1min/AAPL", "prices_1min/MSFT"}
    lib = store.catalog.library("prices_1min", create=True)
    pd.testing.assert_frame_equal(data["prices_1min/AAPL"], lib.read("AAPL").data, check_freq=False,
                                  check_index_type=False)
    assert isinstance(data["prices_1min/AAPL"].index, pd.DatetimeIndex)

    assert set(query.load_multiple(["prices_*/AAPL"])) == {"prices_1min/AAPL", "prices_daily/AAPL"}
    assert set(query.load_multiple(["*/AAPL"])) == {"prices_1min/AAPL", "prices_daily/AAPL", "news_enriched/AAPL"}

    recent = query.load_multiple(["prices_1min/*"], date_range=("2024-01-31", "2024-02-01"))
    assert set(recent) == {"prices_1min/AAPL", "prices_1min/MSFT"}
    for key, frame in recent.items():
        full = lib.read(key.split("/")[1]).data
        expected = full[(full.index >= "2024-01-31") & (full.index <= "2024-02-01")]
        assert len(frame) == len(expected) > 0
        assert frame.index.min() >= pd.Timestamp("2024-01-31") and frame.index.max() <= pd.Timestamp("2024-02-01")


def test_load_multiple_errors(store):
    query = FlexibleQuery(store)
    with pytest.raises(arcticsql.ProgrammingError, match="no symbol matches"):
        query.load_multiple(["prices_1min/ZZZ*"])
    with pytest.raises(arcticsql.ProgrammingError, match="unknown symbol 'AAPX'"):
        query.load_multiple(["prices_1min/AAPX"])
