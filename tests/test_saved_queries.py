"""Every file in queries/ runs against the demo data, and its answers are checked."""

from __future__ import annotations

from pathlib import Path

import pytest

import arcticsql
from arcticsql.demo import generate_demo
from arcticsql.sql.tokens import split_statements

QUERIES = Path(__file__).resolve().parent.parent / "queries"
PARAMS = {"06_bars_for_ticker.sql": {"ticker": "MSFT", "day": "2024-03-27"}}


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    folder = tmp_path_factory.mktemp("demo")
    config = {"arctic_storage_path": f"lmdb://{folder}/arctic",
              "storage": {"type": "local", "local": {"base_path": str(folder / "pickles")}}}
    connection = arcticsql.connect(config=config)
    summary = generate_demo(connection.session.store.arctic(create=True), str(folder / "pickles"), symbols=4, days=10)
    yield connection, summary
    connection.close()


def run_file(connection, path: Path) -> list:
    """The rows of each statement of a saved query file."""
    results = []
    params = PARAMS.get(path.name)
    for statement in split_statements(path.read_text()):
        cursor = connection.cursor()
        used = {k: v for k, v in (params or {}).items() if k in statement.named} or None
        cursor.execute(statement.text, used)
        results.append((cursor.description, cursor.fetchall()))
        cursor.close()
    return results


def test_every_saved_query_runs(demo):
    connection, _ = demo
    files = sorted(QUERIES.glob("*.sql"))
    assert len(files) >= 5
    for path in files:
        for _description, rows in run_file(connection, path):
            assert rows, f"{path.name} returned no rows"


def test_daily_returns(demo):
    connection, summary = demo
    (description, rows), = run_file(connection, QUERIES / "01_daily_returns.sql")
    assert [d[0] for d in description] == ["symbol", "day", "close", "daily_return"]
    assert len(rows) == len(summary["tickers"]) * summary["sessions"]["count"]
    first_days = [r for r in rows if r[3] is None]
    assert len(first_days) == len(summary["tickers"])  # no return on each ticker's first day


def test_momentum_ranks_match_the_stored_signal(demo):
    connection, summary = demo
    (_, rows), = run_file(connection, QUERIES / "02_momentum_ranks.sql")
    assert sorted(r[3] for r in rows) == list(range(1, len(summary["tickers"]) + 1))


def test_news_asof_join(demo):
    connection, _ = demo
    (_, rows), = run_file(connection, QUERIES / "03_news_sentiment_asof.sql")
    assert all(r[4] is not None and r[4] > 0 for r in rows)  # every headline found a price before it


def test_version_diff_finds_the_corrected_high(demo):
    connection, _ = demo
    (_, diff), (_, versions) = run_file(connection, QUERIES / "05_version_diff.sql")
    assert len(diff) >= 1 and all(r[1] != r[2] for r in diff)
    assert [v[0] for v in versions] == [0, 1]


def test_parameterised_bars(demo):
    connection, _ = demo
    (_, rows), = run_file(connection, QUERIES / "06_bars_for_ticker.sql")
    assert len(rows) == 13  # 09:30-16:00 New York in 30-minute bars


def test_option_smile_from_pickles(demo):
    connection, _ = demo
    (description, rows), = run_file(connection, QUERIES / "04_option_smile.sql")
    assert [d[0] for d in description] == ["market", "expiry_kind", "expiry", "moneyness", "call_iv", "put_iv"]
    for market in {r[0] for r in rows}:
        chain = [r for r in rows if r[0] == market and r[1] == rows[0][1]]
        at_money = min(chain, key=lambda r: abs(r[3] - 1.0))[4]
        wings = max(chain[0][4], chain[-1][4])
        assert wings > at_money  # a smile: the wings are richer than the money
