"""The IPython magics (skipped when IPython is not installed)."""

from __future__ import annotations

import pytest

pytest.importorskip("IPython")


@pytest.fixture(scope="module")
def ipython():
    from IPython.testing.globalipapp import start_ipython

    shell = start_ipython()
    shell.run_line_magic("load_ext", "arcticsql")
    return shell


def test_sql_magics_return_dataframes(ipython, store_uri, capsys):
    ipython.run_line_magic("sql_connect", store_uri)
    frame = ipython.run_line_magic("sql", "SELECT count(*) AS n FROM prices_1min.MSFT")
    assert frame["n"].tolist() == [1234]
    ipython.user_ns["limit"] = 2
    bars = ipython.run_cell_magic("sql", "bars", "SELECT ts, close\nFROM prices_1min.AAPL\nLIMIT $limit")
    assert len(bars) == 2 and ipython.user_ns["bars"] is bars


def test_sql_magic_errors_are_one_line(ipython, store_uri, capsys):
    ipython.run_line_magic("sql_connect", store_uri)
    assert ipython.run_line_magic("sql", "SELECT * FROM prices_1min.NOPE") is None
    err = capsys.readouterr().err
    assert err.startswith("Error: unknown symbol 'NOPE'") and "Traceback" not in err
    assert ipython.run_cell_magic("sql", "", "CREATE TABLE t AS SELECT 1 AS x") is None


def test_templates_and_parameters(ipython, store_uri, capsys):
    ipython.run_line_magic("sql_connect", store_uri)
    ipython.user_ns.update(sym="MSFT", table={"lib": "x"}, minimum=0)
    frame = ipython.run_line_magic("sql", "SELECT count(*) AS n FROM \"prices_1min/{sym}\" WHERE volume >= $minimum")
    assert frame["n"].tolist() == [1234]
    same = ipython.run_cell_magic("sql", "", "SELECT '{{ sym }}' AS s, {'k': 1} AS st, '{\"model\": 1}' AS j, "
                                             "'\\{sym}' AS literal")
    assert same.iloc[0].tolist() == ["MSFT", {"k": 1}, '{"model": 1}', "{sym}"]
    capsys.readouterr()
    assert ipython.run_line_magic("sql", "SELECT '{nope}'") is None
    err = capsys.readouterr().err
    assert err.startswith("Error: {nope}: the notebook has no variable 'nope'") and "Traceback" not in err


def test_a_duckdb_error_in_a_cell_points_at_the_users_text(ipython, store_uri, capsys):
    ipython.run_line_magic("sql_connect", store_uri)
    capsys.readouterr()
    assert ipython.run_line_magic("sql", "SELECT clse FROM prices_1min.MSFT") is None
    err = capsys.readouterr().err.splitlines()
    assert err[1:] == ["LINE 1: SELECT clse FROM prices_1min.MSFT", " " * 15 + "^^^^"]
