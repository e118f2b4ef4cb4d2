"""Fixtures for the command-line tests: a small LMDB store, and a REPL driven through a pseudo-terminal."""

from __future__ import annotations

import os
import re
import sys

import numpy as np
import pandas as pd
import pytest

from arcticsql.catalog import open_arctic

AAPL_ROWS = 3000
MSFT_ROWS = 1234

_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b[>=]|[\x08\r]")


def bars(periods: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    index = pd.date_range("2024-01-02 14:30", periods=periods, freq="min", name="ts")
    return pd.DataFrame({"open": rng.random(periods) * 100, "close": rng.random(periods) * 100,
                         "volume": rng.integers(0, 1000, periods)}, index=index)


@pytest.fixture(scope="module")
def store_uri(tmp_path_factory) -> str:
    """An LMDB store with prices_1min/AAPL (two versions), prices_1min/MSFT and signals/momentum/SP500.

    Written through ``open_arctic`` (the Arctic instance arcticsql itself uses in this process), since an
    LMDB environment must not be opened twice by one process.
    """
    uri = f"lmdb://{tmp_path_factory.mktemp('store')}"
    arctic = open_arctic(uri)
    prices = arctic.get_library("prices_1min", create_if_missing=True)
    prices.write("AAPL", bars(100, 0))
    prices.write("AAPL", bars(AAPL_ROWS, 0))
    prices.write("MSFT", bars(MSFT_ROWS, 1))
    signals = arctic.get_library("signals", create_if_missing=True)
    signals.write("momentum/SP500", bars(10, 2)[["close"]])
    return uri


def clean(text: str) -> str:
    """Terminal output without escape sequences and carriage returns."""
    return _ANSI.sub("", text)


@pytest.fixture
def repl(store_uri, tmp_path):
    """A function starting the REPL in a pseudo-terminal of fixed size; every child is ended afterwards."""
    pexpect = pytest.importorskip("pexpect")
    children = []

    def start(term: str = "xterm", timeout: float = 20, columns: int = 120, lines: int = 40, **extra: str):
        env = dict(os.environ, TERM=term, PROMPT_TOOLKIT_NO_CPR="1",
                   ARCTICSQL_HISTORY=str(tmp_path / "history"), COLUMNS=str(columns), LINES=str(lines))
        env.pop("ARCTICSQL_CONFIG", None)
        env.pop("PAGER", None)
        env.pop("LESS", None)
        env.update(extra)
        child = pexpect.spawn(sys.executable, ["-m", "arcticsql", "--uri", store_uri], env=env,
                              encoding="utf-8", dimensions=(lines, columns), timeout=timeout, cwd=str(tmp_path))
        child.expect("arcticsql> ")
        children.append(child)
        return child

    yield start
    for child in children:
        if child.isalive():
            child.terminate(force=True)
