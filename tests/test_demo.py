"""Tests of arcticsql.demo against a real ArcticDB (LMDB in a temporary folder)."""

from __future__ import annotations

import datetime as dt
import json
import math
import pickle
import re
from pathlib import Path

import arcticdb as adb
import numpy as np
import pandas as pd
import pytest

from arcticsql import demo

END = "2024-03-15"  # the 8-session window (Mar 6-15) crosses the US switch to daylight time on Mar 10
ARGS = dict(symbols=3, days=8, seed=7, end_date=END)
PICKLE_NAME = re.compile(
    r"^(index/(nifty|spx)/gbm|option_chain/(nifty|spx)/black_scholes)/\d{8}_\d{6}_[a-z_]+\.pkl$")


# ArcticDB's first list_symbols() on a library waits ~1 s for a storage lock (symbol-list compaction), so
# these tests enumerate symbols from the summary that generate_demo returns and check them with has_symbol.

def _generate(root: Path, **kwargs):
    arctic = adb.Arctic(f"lmdb://{root / 'store'}")
    calls = []
    summary = demo.generate_demo(arctic, root / "pickles", progress=lambda *a: calls.append(a),
                                 **{**ARGS, **kwargs})
    return arctic, summary, calls


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = tmp_path_factory.mktemp("demo")
    arctic, summary, calls = _generate(root)
    return arctic, summary, calls, root / "pickles"


def _latest(arctic, summary) -> dict[str, pd.DataFrame]:
    """Every demo symbol's latest data, keyed 'library/symbol'."""
    return {f"{name}/{symbol}": arctic[name].read(symbol).data
            for name, symbols in summary["libraries"].items() for symbol in symbols}


def _pickles(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*.pkl"))}


def _load(folder: Path, pattern: str) -> list[pd.DataFrame]:
    return [pickle.loads(p.read_bytes()) for p in sorted(folder.glob(pattern))]


# ------------------------------------------------------------------------------------------- calendar

def test_holidays_2024():
    assert sorted(demo.nyse_holidays(2024)) == [dt.date(2024, m, d) for m, d in (
        (1, 1), (1, 15), (2, 19), (3, 29), (5, 27), (6, 19), (7, 4), (9, 2), (11, 28), (12, 25))]


@pytest.mark.parametrize("day, is_session", [
    (dt.date(2024, 1, 15), False),   # MLK day
    (dt.date(2024, 3, 29), False),   # Good Friday
    (dt.date(2023, 4, 7), False),    # Good Friday
    (dt.date(2021, 12, 31), True),   # New Year's Day 2022 is a Saturday: not observed
    (dt.date(2022, 6, 20), False),   # Juneteenth (Sunday) observed on Monday
    (dt.date(2021, 6, 18), True),    # no Juneteenth before 2022
    (dt.date(2020, 7, 3), False),    # Independence Day (Saturday) observed on Friday
    (dt.date(2022, 12, 26), False),  # Christmas (Sunday) observed on Monday
    (dt.date(2018, 12, 5), False),   # national day of mourning
    (dt.date(2024, 3, 28), True),
])
def test_sessions(day, is_session):
    assert demo.is_nyse_session(day) is is_session


@pytest.mark.parametrize("year, easter", [(2024, "03-31"), (2025, "04-20"), (2000, "04-23"), (2038, "04-25")])
def test_easter(year, easter):
    assert demo.easter_sunday(year).isoformat() == f"{year}-{easter}"


def test_session_bounds_early_close_and_dst():
    ts = pd.Timestamp
    assert demo.nyse_session_bounds(dt.date(2023, 11, 24)) == (ts("2023-11-24 14:30"), ts("2023-11-24 18:00"))
    assert demo.nyse_session_bounds(dt.date(2024, 7, 3)) == (ts("2024-07-03 13:30"), ts("2024-07-03 17:00"))
    assert demo.nyse_session_bounds(dt.date(2024, 3, 8)) == (ts("2024-03-08 14:30"), ts("2024-03-08 21:00"))
    assert demo.nyse_session_bounds(dt.date(2024, 3, 11)) == (ts("2024-03-11 13:30"), ts("2024-03-11 20:00"))
    assert dt.date(2023, 12, 24) not in demo.nyse_early_closes(2023)  # a Sunday


def test_sessions_ending():
    assert demo.nyse_sessions_ending(dt.date(2024, 3, 31), 3) == [
        dt.date(2024, 3, 26), dt.date(2024, 3, 27), dt.date(2024, 3, 28)]


# ------------------------------------------------------------------------------------------ universe

def test_universe_file_matches_calibrated_profiles():
    universe = demo.load_universe(Path(demo.__file__).parent.parent / "config" / "universe.json")
    assert universe[:2] == ["AAPL", "MSFT"] and len(universe) == 50
    assert universe == list(demo._PROFILES)


def test_too_many_symbols(tmp_path):
    with pytest.raises(ValueError, match="symbols"):
        demo.generate_demo(adb.Arctic(f"lmdb://{tmp_path}"), tmp_path, symbols=10_000)


# ------------------------------------------------------------------------------------------- the store

def test_summary_and_progress(run):
    arctic, summary, calls, _ = run
    assert summary["tickers"] == ["AAPL", "MSFT", "NVDA"]
    assert summary["sessions"] == {"first": "2024-03-06", "last": "2024-03-15", "count": 8, "history": 252}
    assert summary["rows"]["prices_1min"] == 3 * 8 * 390
    done = [c[0] for c in calls]
    assert done == list(range(1, len(calls) + 1)) and {c[1] for c in calls} == {len(calls)}
    assert all(isinstance(c[2], str) and c[2] for c in calls)
    assert sorted(arctic.list_libraries()) == sorted(summary["libraries"])
    for library, symbols in summary["libraries"].items():
        for symbol, rows in symbols.items():
            assert len(arctic[library].read(symbol).data) == rows


def test_minute_bars_follow_sessions_in_utc(run):
    arctic = run[0]
    bars = arctic["prices_1min"].read("AAPL").data
    assert bars.index.name == "ts" and bars.index.tz is None and bars.index.dtype == "datetime64[ns]"
    assert bars.index.is_monotonic_increasing
    assert dict(bars.dtypes.astype(str)) == {
        "open": "float64", "high": "float64", "low": "float64", "close": "float64", "volume": "int64"}
    per_day = pd.Series(bars.index, index=bars.index.date).groupby(level=0).agg(["first", "last", "size"])
    assert (per_day["size"] == 390).all() and len(per_day) == 8
    assert per_day.loc[dt.date(2024, 3, 8), "first"] == pd.Timestamp("2024-03-08 14:30")   # EST
    assert per_day.loc[dt.date(2024, 3, 8), "last"] == pd.Timestamp("2024-03-08 20:59")
    assert per_day.loc[dt.date(2024, 3, 11), "first"] == pd.Timestamp("2024-03-11 13:30")  # EDT
    assert 150 < bars["close"].iloc[0] < 220  # AAPL-like price level


def test_early_close_in_generated_bars(tmp_path):
    arctic, _, _ = _generate(tmp_path, symbols=1, days=2, end_date="2023-11-27")
    bars = arctic["prices_1min"].read("AAPL").data
    friday = bars.loc["2023-11-24"]
    assert len(friday) == 210 and friday.index[-1] == pd.Timestamp("2023-11-24 17:59")
    assert len(bars.loc["2023-11-27"]) == 390


def test_daily_history_skips_holidays(run):
    days = set(run[0]["prices_daily"].read("MSFT").data.index.date)
    assert len(days) == 252 + 8
    holidays = {dt.date(2024, 1, 15), dt.date(2023, 4, 7), dt.date(2023, 11, 23), dt.date(2023, 12, 25)}
    assert holidays.isdisjoint(days)
    assert dt.date(2023, 11, 24) in days


def test_daily_bars_aggregate_minute_bars(run):
    arctic = run[0]
    for ticker in run[1]["tickers"]:
        minute = arctic["prices_1min"].read(ticker).data
        expected = minute.groupby(minute.index.normalize()).agg(
            {"open": "first", "high": "max", "low": "min", "close": "last", "volume": "sum"})
        expected.index.name = "ts"
        daily = arctic["prices_daily"].read(ticker).data
        pd.testing.assert_frame_equal(daily.loc[expected.index], expected)


@pytest.mark.parametrize("library, symbol", [
    ("prices_1min", "MSFT"), ("prices_daily", "NVDA"), ("indices", "SPX")])
def test_ohlc_sanity(run, library, symbol):
    bars = run[0][library].read(symbol).data
    assert (bars["low"] <= bars[["open", "close"]].min(axis=1)).all()
    assert (bars[["open", "close"]].max(axis=1) <= bars["high"]).all()
    assert (bars["low"] > 0).all()


def test_news_and_sentiment(run):
    arctic, summary = run[0], run[1]
    news_lib = arctic["news_enriched"]
    days = [d.isoformat() for d in demo.nyse_sessions_ending(dt.date(2024, 3, 15), 8)]
    assert list(summary["libraries"]["news_enriched"]) == days
    news = {day: news_lib.read(day).data for day in days}
    for day, frame in news.items():
        assert frame.index.is_monotonic_increasing and len(frame) > 0
        # published 07:00-19:00 New York time: the same date in UTC
        assert set(frame.index.date) == {dt.date.fromisoformat(day)}
        assert frame["sentiment"].between(-1, 1).all() and frame["relevance"].between(0, 1).all()
        assert set(frame["ticker"]) <= {"AAPL", "MSFT", "NVDA"}
    headline = news["2024-03-15"].iloc[0]
    assert headline["source"] and isinstance(headline["headline"], str)

    rows = pd.concat(frame.reset_index(drop=True).assign(day=pd.Timestamp(d)) for d, frame in news.items())
    aapl = rows[rows["ticker"] == "AAPL"].assign(weighted=lambda f: f["sentiment"] * f["relevance"])
    sums = aapl.groupby("day")[["weighted", "relevance"]].sum()
    scores = arctic["sentiment"].read("AAPL").data
    expected = (sums["weighted"] / sums["relevance"]).round(4)
    np.testing.assert_allclose(scores["score"].to_numpy(), expected.to_numpy())
    assert scores["n_articles"].tolist() == aapl.groupby("day").size().tolist()


def test_momentum_signal(run):
    signal = run[0]["signals"].read("momentum/SP500").data
    assert list(signal.columns) == ["ticker", "momentum", "rank"] and signal["rank"].dtype == np.int64
    for _, day in signal.groupby(level="ts"):
        assert sorted(day["rank"]) == [1, 2, 3]
        assert day.sort_values("rank")["momentum"].is_monotonic_decreasing
    closes = run[0]["prices_daily"].read("MSFT").data["close"]
    last = signal.loc[signal.index[-1]]
    msft = last[last["ticker"] == "MSFT"]["momentum"].item()
    assert msft == pytest.approx(closes.iloc[-1] / closes.iloc[-1 - demo.MOMENTUM_LOOKBACK] - 1, abs=1e-6)


def test_versions_snapshot_and_metadata(run):
    arctic = run[0]
    daily = arctic["prices_daily"]
    assert sorted(v.version for v in daily.list_versions("AAPL")) == [0, 1]
    assert run[1]["versions"] == {"prices_daily/AAPL": [0, 1]}
    first, latest = daily.read("AAPL", as_of=demo.SNAPSHOT_NAME), daily.read("AAPL")
    diff = first.data.compare(latest.data)
    assert list(diff.columns.get_level_values(0).unique()) == ["high"] and len(diff) == 1
    assert "correction" in latest.metadata and first.metadata["source"] == demo.SOURCE
    assert first.metadata["seed"] == 7
    for name in run[1]["libraries"]:
        assert demo.SNAPSHOT_NAME in arctic[name].list_snapshots()
    assert arctic["prices_1min"].read("MSFT", as_of="demo").metadata["source"] == demo.SOURCE


# ------------------------------------------------------------------------------------ pickle datasets

def test_pickle_files_named_and_attributed(run):
    folder = run[3]
    files = sorted(str(p.relative_to(folder)) for p in folder.rglob("*.pkl"))
    assert files == sorted(run[1]["pickle_files"]) and len(files) == 10
    assert all(PICKLE_NAME.match(name) for name in files)
    assert all(Path(name).name.startswith("20240315_180007_") for name in files)  # end_date + seed seconds
    for name in files:
        frame = pickle.loads((folder / name).read_bytes())
        assert frame.attrs["version"] == "1.0" and frame.attrs["created_at"] == "2024-03-15T18:00:07"
        assert isinstance(json.loads(frame.attrs["model_params"]), dict)


def test_gbm_index_paths(run):
    paths = _load(run[3], "index/*/gbm/*.pkl")
    assert len(paths) == 6
    for frame in paths:
        assert list(frame.columns) == ["Open", "High", "Low", "Close", "Volume"]
        assert frame.index.name == "ts" and frame.index.dtype == "datetime64[ns]"
        assert (frame["Low"] <= frame[["Open", "Close"]].min(axis=1)).all()
        assert (frame[["Open", "Close"]].max(axis=1) <= frame["High"]).all()
    nifty = _load(run[3], "index/nifty/gbm/*bullish_high_vol.pkl")[0]
    assert nifty.index[0].time() == dt.time(3, 45)  # 09:15 India time in UTC


def test_option_chains_parity_and_smile(run):
    chains = _load(run[3], "option_chain/*/black_scholes/*.pkl")
    assert len(chains) == 4
    for chain in chains:
        assert list(chain.columns) == [
            "Strike", "ExpiryDate", "CallPrice", "PutPrice", "CallIV", "PutIV", "CallDelta", "CallGamma",
            "CallVega", "CallTheta", "PutDelta", "PutGamma", "PutVega", "PutTheta"]
        assert chain["ExpiryDate"].dtype == "datetime64[ns]"
        p = json.loads(chain.attrs["model_params"])
        t = p["years"]
        assert chain["ExpiryDate"].iloc[0] == pd.Timestamp(p["expiry"]) and t > 0
        discounted_spot = p["spot"] * math.exp(-p["dividend_yield"] * t)
        discounted_strike = chain["Strike"] * np.exp(-p["rate"] * t)
        parity = chain["CallPrice"] - chain["PutPrice"] - (discounted_spot - discounted_strike)
        assert parity.abs().max() < 0.011  # two prices rounded to cents
        atm = (chain["Strike"] - p["spot"]).abs().idxmin()
        iv = chain["CallIV"]
        assert iv.iloc[0] > iv[atm] and iv.iloc[-1] > iv[atm]  # smile: both wings above the money
        assert iv.iloc[0] > iv.iloc[-1]                        # equity skew: puts richer
        assert (chain["CallIV"] == chain["PutIV"]).all()
        assert (chain["CallDelta"] - chain["PutDelta"]).round(3).eq(
            round(math.exp(-p["dividend_yield"] * t), 3)).all()


def test_black_scholes_reference_and_greeks():
    strike, vol = np.array([100.0]), np.array([0.2])
    g = demo._black_scholes(100.0, strike, 1.0, 0.05, 0.0, vol)
    assert g["CallPrice"][0] == pytest.approx(10.4506, abs=1e-4)
    assert g["PutPrice"][0] == pytest.approx(5.5735, abs=1e-4)

    def call(spot=100.0, years=0.5, sigma=0.25):
        return demo._black_scholes(spot, strike, years, 0.04, 0.01, np.array([sigma]))["CallPrice"][0]

    g = demo._black_scholes(100.0, strike, 0.5, 0.04, 0.01, np.array([0.25]))
    h = 1e-3
    d_spot = (call(100 + h) - call(100 - h)) / (2 * h)
    d2_spot = (call(100 + h) - 2 * call() + call(100 - h)) / h ** 2
    d_sigma = (call(sigma=0.25 + h) - call(sigma=0.25 - h)) / (2 * h)
    d_years = (call(years=0.5 + h) - call(years=0.5 - h)) / (2 * h)
    assert g["CallDelta"][0] == pytest.approx(d_spot, rel=1e-5)
    assert g["CallGamma"][0] == pytest.approx(d2_spot, rel=1e-3)
    assert g["CallVega"][0] == pytest.approx(d_sigma / 100, rel=1e-5)      # per vol point
    assert g["CallTheta"][0] == pytest.approx(-d_years / 365, rel=1e-5)    # per calendar day


# ------------------------------------------------------------------------------ determinism, idempotency

def test_same_seed_same_data_other_seed_differs(run, tmp_path):
    arctic, summary, _, pickles = run
    again, summary_again, _ = _generate(tmp_path / "same")
    assert summary_again == {**summary, "pickle_dir": str(tmp_path / "same" / "pickles")}
    reference = _latest(arctic, summary)
    repeated = _latest(again, summary_again)
    assert reference.keys() == repeated.keys()
    for key, frame in reference.items():
        pd.testing.assert_frame_equal(frame, repeated[key], obj=key)
    assert _pickles(pickles) == _pickles(tmp_path / "same" / "pickles")

    other, summary_other, _ = _generate(tmp_path / "other", seed=8)
    changed = _latest(other, summary_other)
    for key in ("prices_1min/AAPL", "prices_daily/MSFT", "indices/SPX", "signals/momentum/SP500"):
        assert not reference[key].equals(changed[key]), key
    assert _pickles(pickles).keys().isdisjoint(_pickles(tmp_path / "other" / "pickles").keys())

    alone, _, _ = _generate(tmp_path / "alone", symbols=1)  # a ticker's path ignores the other tickers
    pd.testing.assert_frame_equal(alone["prices_1min"].read("AAPL").data, reference["prices_1min/AAPL"])


def test_rerun_is_idempotent(tmp_path):
    arctic, first, _ = _generate(tmp_path, symbols=2, days=2)
    before, pickles_before = _latest(arctic, first), _pickles(tmp_path / "pickles")
    snapshot_before = arctic["prices_daily"].read("AAPL", as_of="demo").data
    _, summary, _ = _generate(tmp_path, symbols=2, days=2)
    after = _latest(arctic, summary)
    for key, frame in before.items():
        pd.testing.assert_frame_equal(frame, after[key], obj=key)
    assert _pickles(tmp_path / "pickles") == pickles_before
    assert summary["versions"] == {"prices_daily/AAPL": [2, 3]}
    pd.testing.assert_frame_equal(arctic["prices_daily"].read("AAPL", as_of="demo").data, snapshot_before)
