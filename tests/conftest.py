"""Shared fixtures: real ArcticDB stores (in memory, or LMDB in a temp dir) and arcticsql connections."""

from __future__ import annotations

import contextlib

import numpy as np
import pandas as pd
import pytest

import arcticsql


@pytest.fixture
def conn():
    """A connection on a fresh in-memory ArcticDB store with default settings."""
    connection = arcticsql.connect(uri="mem://", config={})
    yield connection
    connection.close()


@pytest.fixture
def lmdb_conn(tmp_path):
    """A connection on a fresh LMDB store in a temp dir."""
    connection = arcticsql.connect(uri=f"lmdb://{tmp_path}/arctic", config={})
    yield connection
    connection.close()


def minute_bars(start: str = "2024-01-02 14:30", periods: int = 2_000, seed: int = 0,
                tz: str | None = None) -> pd.DataFrame:
    """A small OHLCV frame on a 1-minute index named ``ts``."""
    rng = np.random.default_rng(seed)
    index = pd.date_range(start, periods=periods, freq="min", name="ts", tz=tz)
    close = 100 + np.cumsum(rng.normal(0, 0.1, periods))
    return pd.DataFrame({
        "open": close + rng.normal(0, 0.05, periods),
        "high": close + 0.2,
        "low": close - 0.2,
        "close": close,
        "volume": rng.integers(100, 10_000, periods),
    }, index=index)


@pytest.fixture
def prices(conn):
    """prices_1min with AAPL and MSFT, prices_daily with AAPL; returns the frames written."""
    frames = {"AAPL": minute_bars(seed=1), "MSFT": minute_bars(seed=2)}
    lib = conn.catalog.library("prices_1min", create=True)
    for symbol, frame in frames.items():
        lib.write(symbol, frame)
    daily = frames["AAPL"].resample("1D").agg(
        {"open": "first", "high": "max", "low": "min", "close": "last", "volume": "sum"})
    conn.catalog.library("prices_daily", create=True).write("AAPL", daily)
    frames["daily/AAPL"] = daily
    return frames


@contextlib.contextmanager
def counting_calls(obj, method: str):
    """Record the arguments of every call to ``type(obj).method`` inside the block (the real method runs).

    Used to prove what arcticsql asks ArcticDB for, such as "no list_symbols for an exact name".
    """
    cls = type(obj)
    original = getattr(cls, method)
    calls: list[tuple] = []

    def counting(self, *args, **kwargs):
        calls.append(args)
        return original(self, *args, **kwargs)

    setattr(cls, method, counting)
    try:
        yield calls
    finally:
        setattr(cls, method, original)


@pytest.fixture(scope="session")
def moto():
    """An S3 API (moto_server in a subprocess on 127.0.0.1) for the whole test session."""
    from tests.support.moto_server import MotoServer

    with MotoServer() as server:
        yield server


@pytest.fixture
def s3_uri(moto):
    """The URI of an ArcticDB store in a fresh bucket of the session's S3 server."""
    return moto.arctic_uri(moto.create_bucket())


@pytest.fixture(params=["lmdb", "s3"])
def store_conn(request, tmp_path):
    """A connection on a fresh store, once on LMDB and once on S3 (moto): the core tests run on both."""
    uri = f"lmdb://{tmp_path}/arctic" if request.param == "lmdb" else request.getfixturevalue("s3_uri")
    connection = arcticsql.connect(uri=uri, config={})
    yield connection
    connection.close()


@pytest.fixture(scope="session")
def spark():
    """One local[2] SparkSession for the whole test session (Spark takes 5-20 s to start)."""
    import arcticsql.spark  # PySpark (the spark extra) is loaded only by the tests that use Spark

    session = arcticsql.spark.session("local[2]", conf={"spark.sql.shuffle.partitions": "2",
                                                        "spark.ui.enabled": "false"}, quiet=True)
    yield session
    session.stop()
