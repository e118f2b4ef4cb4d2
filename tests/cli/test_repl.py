"""The interactive shell, driven through a real pseudo-terminal."""

from __future__ import annotations

import time

import pytest

from tests.cli.conftest import AAPL_ROWS, MSFT_ROWS, clean

pexpect = pytest.importorskip("pexpect")

LONG_QUERY = "SELECT count(*) FROM range(10000000000) t(x) WHERE x % 7 = 3;"


def test_statement_spans_lines_until_semicolon(repl):
    child = repl()
    child.send("SELECT count(*) AS n\r")
    child.expect(r"\.\.\.> ")
    child.send("FROM prices_1min.AAPL\r")
    child.expect(r"\.\.\.> ")
    child.send(";\r")
    child.expect("1 row")
    assert str(AAPL_ROWS) in clean(child.before)


def test_tab_completes_symbols_and_columns(repl):
    child = repl()
    child.send("SELECT count(*) FROM prices_1min.MS")
    time.sleep(1)  # completion runs in a thread: let it load the names
    child.send("\t")
    time.sleep(0.5)
    child.send(" \r")  # not complete yet: a new line
    child.expect(r"\.\.\.> ")
    child.send("WHERE volu")
    time.sleep(1)
    child.send("\t")
    time.sleep(0.5)
    child.send(" >= 0;\r")
    child.expect("1 row")
    output = clean(child.before)
    assert str(MSFT_ROWS) in output
    assert "Error" not in output


def test_ctrl_c_cancels_a_running_query_and_the_session_goes_on(repl):
    child = repl()
    child.send(LONG_QUERY + "\r")
    child.expect("Ctrl-C to cancel")  # the progress line: the query is running
    child.sendintr()
    child.expect("Query cancelled", timeout=10)
    child.expect("arcticsql> ")
    child.send("SELECT 40 + 2 AS answer;\r")
    child.expect("1 row")
    assert " 42 " in clean(child.before)


def test_ctrl_c_at_the_prompt_clears_the_line_and_ctrl_d_exits(repl, tmp_path):
    child = repl()
    child.send("SELECT 'abandoned'")
    time.sleep(0.3)
    child.sendintr()
    child.expect("arcticsql> ")
    child.send("SELECT 7 AS seven;\r")
    child.expect("1 row")
    assert "Error" not in clean(child.before)
    child.expect("arcticsql> ")
    time.sleep(0.2)
    child.sendcontrol("d")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    history = (tmp_path / "history").read_text()
    assert "SELECT 7 AS seven;" in history
    assert "abandoned" not in history


def test_modes_errors_and_quit(repl):
    child = repl()
    child.send(".mode csv\r")
    child.expect("arcticsql> ")
    child.send("SELECT 1 AS a, 'x' AS b;\r")
    child.expect("a,b")
    child.expect("1,x")
    child.send("SELECT * FROM prices_1min.MSFX;\r")
    child.expect("Error: ")
    child.expect("arcticsql> ")
    error = clean(child.before)
    assert "unknown symbol 'MSFX'" in error and "did you mean MSFT" in error
    assert len([line for line in error.splitlines() if line.strip()]) == 1
    child.send(".describe prices_1min.AAPL\r")
    child.expect("ts,TIMESTAMP,index")
    child.send(".bogus\r")
    child.expect("unknown command .bogus")
    child.send(".quit\r")
    child.expect(pexpect.EOF)
    child.close()
    assert "Traceback" not in clean(child.before)
    assert child.exitstatus == 0


def test_dumb_terminal(repl):
    child = repl(term="dumb")
    child.send("SELECT count(*) FROM prices_1min.AAPL;\r")
    child.expect("1 row")
    assert str(AAPL_ROWS) in clean(child.before)
    child.send(".quit\r")
    child.expect(pexpect.EOF)
