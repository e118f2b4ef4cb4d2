"""A session as-of: SET arcticsql.as_of pins every ArcticDB table the session reads."""

from __future__ import annotations

import pandas as pd
import pytest
from click.testing import CliRunner

import arcticsql
from arcticsql.catalog import open_arctic
from arcticsql.cli.main import cli
from arcticsql.cli.repl import prompt_text


def _frame(value: float, periods: int = 3) -> pd.DataFrame:
    return pd.DataFrame({"close": [value] * periods}, index=pd.date_range("2024-01-01", periods=periods, name="ts"))


@pytest.fixture
def store(conn):
    lib = conn.catalog.library("prices_daily", create=True)
    lib.write("AAPL", _frame(1.0))
    lib.write("MSFT", _frame(2.0))
    lib.snapshot("eod")
    lib.write("AAPL", _frame(10.0, 5))
    lib.write("NVDA", _frame(3.0))
    return conn


def test_a_snapshot_pins_every_table_until_reset(store):
    cursor = store.cursor()
    cursor.execute("SET arcticsql.as_of = 'eod'")
    assert cursor.execute("SELECT sum(close), count(*) FROM prices_daily.AAPL").fetchone() == (3.0, 3)
    assert cursor.execute('SELECT symbol, sum(close) FROM "prices_daily/*" GROUP BY ALL ORDER BY ALL').fetchall() \
        == [("AAPL", 3.0), ("MSFT", 6.0)]  # NVDA came after the snapshot
    # a statement's own AT wins; another cursor of the connection shares the session's as-of
    assert cursor.execute("SELECT sum(close) FROM prices_daily.AAPL AT (VERSION => 1)").fetchone() == (50.0,)
    assert store.cursor().execute("SELECT count(*) FROM prices_daily.AAPL").fetchone() == (3,)
    (entry,) = cursor.explain("SELECT * FROM prices_daily.AAPL")
    assert entry["as_of"] == "eod" and entry["version"] == 0
    cursor.execute("RESET arcticsql.as_of")
    assert cursor.execute("SELECT sum(close) FROM prices_daily.AAPL").fetchone() == (50.0,)


def test_a_point_in_time(store):
    lib = store.catalog.library("prices_daily")
    first = pd.Timestamp(lib.list_versions("AAPL")[next(k for k in lib.list_versions("AAPL") if k.version == 0)].date)
    cursor = store.cursor()
    cursor.execute(f"SET arcticsql.as_of TO TIMESTAMP '{first.tz_convert(None)}'; "
                   "CREATE TEMP TABLE seen AS SELECT * FROM prices_daily.AAPL")
    assert cursor.execute("SELECT sum(close) FROM seen").fetchone() == (3.0,)
    cursor.execute("SET arcticsql.as_of = DEFAULT")
    assert cursor.execute("SELECT sum(close) FROM prices_daily.AAPL").fetchone() == (50.0,)


def test_mistakes_are_one_line_errors(store):
    cursor = store.cursor()
    with pytest.raises(arcticsql.ProgrammingError, match="no library has a snapshot 'eob'; snapshots: eod$"):
        cursor.execute("SET arcticsql.as_of = 'eob'")
    with pytest.raises(arcticsql.ProgrammingError, match="takes a snapshot name"):
        cursor.execute("SET arcticsql.as_of = 3")
    assert store.session.as_of is None


def test_the_prompt_shows_the_as_of(store):
    assert prompt_text(store.session) == "arcticsql> "
    store.cursor().execute("SET arcticsql.as_of = 'eod'")
    assert prompt_text(store.session) == "arcticsql@eod> "
    store.cursor().execute("SET arcticsql.as_of = TIMESTAMP '2024-06-01'")
    assert prompt_text(store.session) == "arcticsql@2024-06-01> "


def test_a_sql_file_run_as_of_a_snapshot_reads_it_after_overwrites(tmp_path, monkeypatch):
    monkeypatch.delenv("ARCTICSQL_CONFIG", raising=False)
    uri = f"lmdb://{tmp_path}/store"
    lib = open_arctic(uri).get_library("prices_daily", create_if_missing=True)
    lib.write("AAPL", _frame(1.0))
    lib.write("MSFT", _frame(2.0))
    lib.snapshot("month_end")
    lib.write("AAPL", _frame(100.0))
    lib.write("MSFT", _frame(200.0))
    script = tmp_path / "report.sql"
    script.write_text("SELECT symbol, sum(close) AS total FROM \"prices_daily/*\" GROUP BY ALL ORDER BY ALL;\n")
    run = CliRunner().invoke(cli, ["--uri", uri, "run", str(script), "--as-of", "month_end", "-f", "csv"])
    assert run.exit_code == 0, run.output
    assert run.stdout == "symbol,total\nAAPL,3.0\nMSFT,6.0\n"
    latest = CliRunner().invoke(cli, ["--uri", uri, "query", "SELECT sum(close) FROM prices_daily.AAPL", "-f", "csv"])
    assert latest.stdout.splitlines()[-1] == "300.0"
    wrong = CliRunner().invoke(cli, ["--uri", uri, "run", str(script), "--as-of", "nope"])
    assert wrong.exit_code != 0 and "no library has a snapshot 'nope'; snapshots: month_end" in wrong.output
