"""The run, query, ls, describe and demo commands, and piped standard input (click's CliRunner)."""

from __future__ import annotations

import json

import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from arcticsql.cli.main import cli
from tests.cli.conftest import AAPL_ROWS, MSFT_ROWS


@pytest.fixture
def invoke(store_uri, monkeypatch):
    monkeypatch.delenv("ARCTICSQL_CONFIG", raising=False)

    def run(*args: str, input: str | None = None):  # noqa: A002 - as click's own argument
        return CliRunner().invoke(cli, ["--uri", store_uri, *args], input=input)

    return run


def test_query_table(invoke):
    result = invoke("query", "SELECT count(*) AS n, NULL AS nothing, 1.5 AS x FROM prices_1min.AAPL")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[1].split() == ["│", "n", "│", "nothing", "│", "x", "│"]
    assert f"{AAPL_ROWS}" in result.stdout and "NULL" in result.stdout
    assert lines[-1].startswith("└") and result.stderr == ""  # piped: the rows alone, no footer


def test_piped_display_formats_are_complete_and_max_rows_says_what_it_left_out(invoke):
    result = invoke("query", "SELECT * FROM prices_1min.MSFT")
    assert result.exit_code == 0 and result.stderr == ""
    assert len(result.stdout.splitlines()) == MSFT_ROWS + 5  # every row: 3 header lines, 2 rules
    cut = invoke("query", "SELECT * FROM prices_1min.MSFT ORDER BY ts", "--max-rows", "5")
    assert cut.exit_code == 0
    lines = cut.stdout.splitlines()
    assert len(lines) == 5 + 3 + 5 and lines[7].split("│")[1].strip() == "·"  # 3 first, a gap, 2 last
    assert cut.stderr == f"{MSFT_ROWS:,} rows (5 shown)\n"


@pytest.mark.parametrize("fmt, expected", [
    ("csv", "ts,volume\n2024-01-02 14:30:00,"),
    ("markdown", "| ts | volume |\n|---|---:|\n| 2024-01-02 14:30:00 |"),
    ("line", "    ts = 2024-01-02 14:30:00\nvolume = "),
])
def test_query_formats(invoke, fmt, expected):
    result = invoke("query", "SELECT ts, volume FROM prices_1min.AAPL ORDER BY ts LIMIT 2", "--format", fmt)
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(expected)


def test_query_json_is_an_array_of_objects_with_iso_timestamps(invoke):
    sql = "SELECT ts, close, volume FROM prices_1min.AAPL ORDER BY ts LIMIT 3"
    result = invoke("query", sql, "-f", "json")
    records = json.loads(result.stdout)
    assert len(records) == 3 and records[0]["ts"] == "2024-01-02T14:30:00"
    assert set(records[0]) == {"ts", "close", "volume"}


def test_query_parquet_needs_output_and_writes_every_row(invoke, tmp_path):
    missing = invoke("query", "SELECT 1", "-f", "parquet")
    assert missing.exit_code == 2 and "--output" in missing.output
    path = tmp_path / "msft.parquet"
    result = invoke("query", "SELECT * FROM prices_1min.MSFT", "-f", "parquet", "-o", str(path))
    assert result.exit_code == 0, result.output
    assert pq.read_table(path).num_rows == MSFT_ROWS
    assert f"wrote {MSFT_ROWS} rows" in result.stderr


def test_query_csv_to_a_file(invoke, tmp_path):
    path = tmp_path / "out.csv"
    result = invoke("query", "SELECT * FROM prices_1min.MSFT", "-f", "csv", "--output", str(path))
    assert result.exit_code == 0 and result.stdout == ""
    assert len(path.read_text().splitlines()) == MSFT_ROWS + 1  # csv is never truncated


def test_query_error_is_one_line(invoke):
    result = invoke("query", "SELECT * FROM prices_1mn.AAPL")
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: unknown library 'prices_1mn'; did you mean prices_1min")
    assert len(result.stderr.splitlines()) == 1


SCRIPT = """-- a report
SELECT count(*) AS n
FROM prices_1min.MSFT
WHERE volume >= $minvol::INTEGER;

SELECT $label AS label;
"""


def test_run_with_params(invoke, tmp_path):
    script = tmp_path / "report.sql"
    script.write_text(SCRIPT)
    result = invoke("run", str(script), "--param", "minvol=0", "-p", "label=hello", "-f", "csv")
    assert result.exit_code == 0, result.output
    assert result.stdout == "label\nhello\n"  # one document: the last statement's result
    assert result.stderr == f"{script} line 2: result not written: with --format csv only the last " \
                            "statement writes its result (one document)\n"
    table = invoke("run", str(script), "--param", "minvol=0", "-p", "label=hello")
    assert f"{MSFT_ROWS}" in table.stdout and "hello" in table.stdout  # display formats show every result


def test_run_failure_names_the_file_and_line(invoke, tmp_path):
    good, bad = tmp_path / "good.sql", tmp_path / "bad.sql"
    good.write_text("SELECT 1 AS one;\n")
    bad.write_text("SELECT 1;\n\nSELECT *\n  FROM prices_1min.NOPE;\nSELECT 2;\n")
    result = invoke("run", str(good), str(bad))
    assert result.exit_code == 1
    assert f"Error: {bad} line 3: unknown symbol 'NOPE'" in result.stderr
    assert "Traceback" not in result.output


def test_run_missing_parameter(invoke, tmp_path):
    script = tmp_path / "report.sql"
    script.write_text(SCRIPT)
    result = invoke("run", str(script), "-p", "minvol=1")
    assert result.exit_code == 1 and f"{script} line 6:" in result.stderr and "label" in result.stderr
    assert invoke("run", str(script), "-p", "novalue").exit_code == 2


def test_piped_standard_input_runs_the_script(invoke):
    script = (".mode csv\nSELECT 1 AS a;\n-- note\n.mode table\nSELECT 'x' AS b;\n"
              "SELECT * FROM nope;\nSELECT 3;\n")
    result = invoke(input=script)
    assert result.exit_code == 1
    assert result.stdout.startswith("a\n1\n")
    assert "│ x       │" in result.stdout
    assert result.stderr.startswith("Error: line 6: Catalog Error: Table with name nope does not exist!\n"
                                    "LINE 1: SELECT * FROM nope\n")


def test_ls(invoke):
    assert invoke("ls").stdout.split() == ["prices_1min", "signals"]
    assert invoke("ls", "prices_*").stdout.split() == ["prices_1min"]
    assert invoke("ls", "prices_1min/").stdout.split() == ["prices_1min/AAPL", "prices_1min/MSFT"]
    assert invoke("ls", "*/*S*").stdout.split() == ["prices_1min/MSFT", "signals/momentum/SP500"]
    unknown = invoke("ls", "pricez_1min/")
    assert unknown.exit_code == 1 and "did you mean prices_1min" in unknown.stderr


def test_describe(invoke):
    result = invoke("describe", "prices_1min.AAPL")
    assert result.exit_code == 0, result.output
    assert "│ ts     │ TIMESTAMP │ index │" in result.stdout
    assert result.stdout.splitlines()[-1] == f"prices_1min/AAPL version 1: {AAPL_ROWS} rows, index: ts"
    old = invoke("describe", 'prices_1min."AAPL" AT (VERSION => 0)', "-f", "csv")
    assert old.stdout.splitlines()[:2] == ["column,type,key", "ts,TIMESTAMP,index"]
    assert invoke("describe", "prices_1min.NOPE").exit_code == 1


def test_bad_uri_is_one_line(monkeypatch):
    monkeypatch.delenv("ARCTICSQL_CONFIG", raising=False)
    result = CliRunner().invoke(cli, ["--uri", "bogus://nowhere", "ls"])
    assert result.exit_code == 1 and result.stderr.startswith("Error: ")
    assert "Traceback" not in result.output


def test_demo(tmp_path, monkeypatch):
    pytest.importorskip("arcticsql.demo")
    monkeypatch.delenv("ARCTICSQL_CONFIG", raising=False)
    monkeypatch.setenv("LOCAL_STORAGE_PATH", str(tmp_path / "pickles"))
    uri = f"lmdb://{tmp_path / 'demo'}"
    result = CliRunner().invoke(cli, ["--uri", uri, "demo", "--symbols", "2", "--days", "1"])
    assert result.exit_code == 0, result.output
    assert "prices_1min" in result.stdout and "Try: arcticsql query" in result.stdout
    listed = CliRunner().invoke(cli, ["--uri", uri, "ls", "prices_1min/"])
    assert len(listed.stdout.split()) == 2
