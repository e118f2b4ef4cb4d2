"""Sample data for the storage tests: frames shaped like seed 003's datasets, a store filled with them,
and a malicious object."""

from __future__ import annotations

import os

import numpy as np
import pandas as pd

from arcticsql.pickles import save_dataset


def ohlc_frame(rows: int = 50, seed: int = 0, start: str = "2024-01-01 09:15") -> pd.DataFrame:
    """An index path as seed 003 describes it: Open/High/Low/Close/Volume on an unnamed DatetimeIndex."""
    rng = np.random.default_rng(seed)
    close = 18_000 + np.cumsum(rng.normal(0, 5, rows))
    return pd.DataFrame({
        "Open": close + rng.normal(0, 1, rows),
        "High": close + 3,
        "Low": close - 3,
        "Close": close,
        "Volume": rng.integers(1_000, 10_000, rows),
    }, index=pd.date_range(start, periods=rows, freq="min"))


def option_chain_frame(strikes: int = 5, seed: int = 0) -> pd.DataFrame:
    """An option chain as seed 003 describes it, on a RangeIndex."""
    rng = np.random.default_rng(seed)
    strike = 18_000.0 + 50.0 * np.arange(strikes)
    return pd.DataFrame({
        "Strike": strike,
        "ExpiryDate": pd.to_datetime(["2024-01-25"] * strikes).date,
        "CallPrice": rng.uniform(10, 200, strikes),
        "PutPrice": rng.uniform(10, 200, strikes),
        "CallIV": rng.uniform(0.1, 0.3, strikes),
        "PutIV": rng.uniform(0.1, 0.3, strikes),
        "CallDelta": rng.uniform(0, 1, strikes),
        "CallGamma": rng.uniform(0, 0.01, strikes),
        "PutDelta": -rng.uniform(0, 1, strikes),
        "PutGamma": rng.uniform(0, 0.01, strikes),
    })


def seed_store(store):
    """Two index paths, one of another model, and two option chains."""
    paths = [
        save_dataset(store, ohlc_frame(rows=30, seed=1), "index", "nifty", "gbm", "bullish",
                     model_params={"mu": 0.1}, timestamp="20230901_123045"),
        save_dataset(store, ohlc_frame(rows=20, seed=2), "index", "nifty", "gbm", "bearish",
                     model_params={"mu": -0.1}, timestamp="20230902_090000"),
        save_dataset(store, ohlc_frame(rows=10, seed=3), "index", "banknifty", "heston", "",
                     timestamp="20230903_100000"),
        save_dataset(store, option_chain_frame(strikes=5, seed=4), "option_chain", "nifty", "black_scholes",
                     "weekly_expiry", timestamp="20230901_123045"),
        save_dataset(store, option_chain_frame(strikes=7, seed=5), "option_chain", "nifty", "black_scholes",
                     "monthly_expiry", timestamp="20230915_153000"),
    ]
    return paths


class Exploit:
    """What an attacker pickles: unpickling calls os.system."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))
