"""Unix manners of the arcticsql command, run as a real process: pipes, standard input, exit status, and
one valid document per script in machine formats."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys

import pyarrow.parquet as pq
import pytest

from tests.cli.conftest import MSFT_ROWS


@pytest.fixture
def arcticsql(store_uri, tmp_path):
    """Run ``arcticsql --uri <store> ARGS`` with ``stdin``; the finished process."""
    env = dict(os.environ)
    env.pop("ARCTICSQL_CONFIG", None)

    def run(*args: str, stdin: str = "") -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "arcticsql", "--uri", store_uri, *args], input=stdin,
                              capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)

    return run


def test_a_reader_that_stops_early_ends_the_output_quietly(store_uri, tmp_path):
    env = dict(os.environ)
    env.pop("ARCTICSQL_CONFIG", None)
    process = subprocess.Popen([sys.executable, "-m", "arcticsql", "--uri", store_uri, "query",
                                "SELECT * FROM range(3000000) t(x)"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=tmp_path)
    first = process.stdout.readline()  # as `| head -1` does: one line, then the pipe is closed
    process.stdout.close()
    status = process.wait(timeout=120)
    assert first.startswith("┌".encode())
    assert status == 0 and process.stderr.read() == b""


def test_sql_from_standard_input(arcticsql, tmp_path):
    assert arcticsql("query", "-", "-f", "csv", stdin="SELECT 42 AS answer").stdout == "answer\n42\n"
    table = arcticsql("query", "-", stdin="SELECT 42")
    assert table.returncode == 0 and "│      42 │" in table.stdout
    script = arcticsql("run", "-", "-f", "csv", stdin="SELECT 1 AS a;\nSELECT count(*) AS n FROM prices_1min.MSFT;")
    assert script.stdout == f"n\n{MSFT_ROWS}\n"
    piped = arcticsql(stdin=".mode csv\nSELECT 7 AS seven;\n")
    assert piped.stdout == "seven\n7\n" and piped.returncode == 0


def test_any_failed_statement_is_a_failing_status(arcticsql):
    failed = arcticsql("query", "SELECT 1; SELECT clse FROM prices_1min.MSFT; SELECT 2")
    assert failed.returncode == 1
    assert failed.stderr.splitlines()[1:] == ["LINE 1: SELECT clse FROM prices_1min.MSFT",
                                              "               ^^^^"]
    assert arcticsql(stdin="SELECT 1;\nSELECT * FROM nope;\n").returncode == 1
    assert arcticsql("run", "-", stdin=".nope\n").returncode == 1


SCRIPT = ("CREATE TEMP TABLE t AS SELECT * FROM range(3) r(x); SELECT x FROM t ORDER BY x; "
          "SELECT x, x * 10 AS y FROM t ORDER BY x")


@pytest.mark.parametrize("fmt", ["csv", "json", "parquet", "markdown"])
def test_several_statements_make_one_valid_document(arcticsql, tmp_path, fmt):
    target = tmp_path / f"out.{fmt}"
    result = arcticsql("query", SCRIPT, "-f", fmt, "-o", str(target))
    assert result.returncode == 0, result.stderr
    if fmt == "csv":
        assert list(csv.reader(io.StringIO(target.read_text()))) == [["x", "y"], ["0", "0"], ["1", "10"], ["2", "20"]]
    elif fmt == "json":
        assert json.loads(target.read_text()) == [{"x": 0, "y": 0}, {"x": 1, "y": 10}, {"x": 2, "y": 20}]
    elif fmt == "parquet":
        assert pq.read_table(target).to_pydict() == {"x": [0, 1, 2], "y": [0, 10, 20]}
    else:  # a display format shows every result; a file gets no footer
        text = target.read_text()
        assert "rows" not in text and text.count("| x |") == 2 and text.splitlines()[-1] == "| 2 | 20 |"
    if fmt != "markdown":
        assert result.stderr.count("result not written") == 1  # the first SELECT's (CREATE has none)


def test_a_table_to_a_file_has_no_footer(arcticsql, tmp_path):
    target = tmp_path / "out.txt"
    assert arcticsql("query", "SELECT 1 AS one", "-o", str(target)).returncode == 0
    assert target.read_text().splitlines()[-1].startswith("└")


def test_a_writes_notes_go_to_standard_error_beside_its_result(arcticsql):
    copy = ("COPY (SELECT ts, CASE WHEN volume > 0 THEN NULL ELSE volume END AS v FROM prices_1min.MSFT) "
            "TO 'arctic://signals/intnull'")
    written = arcticsql("query", copy, "-f", "csv")
    assert written.returncode == 0 and written.stdout.splitlines()[0] == "library,symbol,version,rows,mode"
    assert written.stderr == "note: column 'v' stored as DOUBLE (it has NULLs, which an integer column cannot hold)\n"
