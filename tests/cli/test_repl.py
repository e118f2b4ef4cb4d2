"""The interactive shell, driven through a real pseudo-terminal."""

from __future__ import annotations

import re
import shutil
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


WIDE = ("SELECT " + ", ".join(f"'Expiry-{i:02d}' AS column_{i:02d}" for i in range(20))
        + ", 1.5 AS x FROM range(3);")


def _screen_lines(text: str) -> list[str]:
    return [line for line in clean(text).splitlines() if line.strip()]


def test_a_wide_result_fits_80_columns_with_whole_values_and_a_marker(repl):
    child = repl(columns=80)
    child.send(WIDE + "\r")
    child.expect(r"columns \(\d+ shown\)")
    output = clean(child.before + child.after)
    table = [line for line in output.splitlines() if line and line[0] in "┌│├└"]
    assert table and max(len(line) for line in table) <= 80
    assert "│ … │" in table[1]  # the marker column stands for the columns left out
    cells = [cell.strip() for line in table[4:-1] for cell in line.split("│")[1:-1]]
    assert cells and all(re.fullmatch(r"Expiry-\d\d|1\.5|…", cell) for cell in cells)  # values whole
    shown = len(table[4].split("│")) - 3  # cells, less the marker
    assert 2 <= shown < 21 and f"3 rows  21 columns ({shown} shown)" in output
    assert "Expiry-00" in table[4] and "1.5" in table[4]  # the first and last columns


def test_a_long_result_shows_its_first_and_last_rows(repl):
    child = repl(columns=80, PAGER="cat")
    child.send("SELECT x, x * 1.5 AS y, NULL AS n, 'NULL' AS s FROM range(10000) t(x);\r")
    child.expect(r"10,000 rows \(40 shown\)")
    rows = [line for line in clean(child.before).splitlines() if line.startswith("│") and "·" not in line]
    values = [line.split("│")[1].strip() for line in rows[2:]]  # after the names and types
    assert values == [str(i) for i in range(20)] + [str(i) for i in range(9980, 10000)]
    assert [cell.strip() for cell in rows[2].split("│")[3:5]] == ["NULL", "'NULL'"]  # NULL, the string 'NULL'
    child.expect("arcticsql> ")
    child.send(".last\r")
    child.expect(r"10,000 rows\r\n")  # every row, no "(40 shown)"
    full = [line for line in clean(child.before).splitlines() if line.startswith("│")]
    assert len(full) == 2 + 10000 and full[-1].split("│")[1].strip() == "9999"


def test_the_pager_takes_a_result_taller_than_the_screen(repl):
    if shutil.which("less") is None:
        pytest.skip("no less on this machine")
    child = repl(columns=80, lines=24)
    child.send("SELECT * FROM range(1000) t(x);\r")
    child.expect(":")  # less waits for a key, the rest of the result below
    child.send("q")
    child.expect("arcticsql> ")
    child.send(".pager off\r")
    child.expect("arcticsql> ")
    child.send("SELECT * FROM range(1000) t(x);\r")
    child.expect(r"1,000 rows \(40 shown\)")
    child.expect("arcticsql> ")
