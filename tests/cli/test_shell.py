"""The shell behind the REPL and the commands: dot commands, .output, .read, .timer and status lines."""

from __future__ import annotations

import io

import pytest

import arcticsql
from arcticsql.cli.dot_commands import ExitShell
from arcticsql.cli.shell import ScriptError, Shell


@pytest.fixture
def shell(store_uri):
    connection = arcticsql.connect(uri=store_uri, config={})
    out, err = io.StringIO(), io.StringIO()
    shell = Shell(connection, interactive=True, stdout=out, stderr=err)
    yield shell
    shell.close()
    connection.close()


def output(shell) -> str:
    text = shell._stdout.getvalue()
    shell._stdout.seek(0)
    shell._stdout.truncate()
    return text


def test_status_lines(shell):
    shell.run_script("CREATE TABLE t (x INTEGER); INSERT INTO t VALUES (1), (2);")
    assert output(shell) == "OK\n2 rows affected\n"


def test_output_read_and_timer(shell, tmp_path):
    script = tmp_path / "inner.sql"
    script.write_text("SELECT 1 AS one;\n\nSELECT * FROM prices_1min.NOPE;\n")
    target = tmp_path / "out.csv"
    shell.run_script(f".mode csv\n.output {target}\nSELECT 2 AS two;\n.output\nSELECT 3 AS three;")
    assert target.read_text() == "two\n2\n"
    assert output(shell) == "three\n3\n"
    with pytest.raises(ScriptError, match=f"^{script} line 3: unknown symbol 'NOPE'"):
        shell.run_script(f".read {script}")
    output(shell)
    shell.run_script(".mode table\n.timer on\nSELECT 1;")
    assert output(shell).splitlines()[-1].startswith("1 row (")


def test_catalog_commands(shell):
    shell.run_script(".mode csv\n.libraries\n.symbols prices_1min\n.symbols prices_1min/A*\n"
                     ".versions prices_1min.AAPL")
    lines = output(shell).splitlines()
    assert lines[:3] == ["library", "prices_1min", "signals"]
    assert lines[3:6] == ["library,symbol", "prices_1min,AAPL", "prices_1min,MSFT"]
    assert lines[6:8] == ["library,symbol", "prices_1min,AAPL"]
    assert lines[8] == "version,date,snapshots,deleted"
    assert lines[9].startswith("0,") and lines[10].startswith("1,")


def test_maxrows_and_usage_errors(shell):
    shell.run_script(".maxrows 2\nSELECT * FROM range(5) t(x);")
    lines = output(shell).splitlines()
    assert lines[-1] == "5 rows (2 shown)"
    assert [line.split("│")[1].strip() for line in lines[4:9]] == ["0", "·", "·", "·", "4"]
    for bad in (".mode nope", ".timer maybe", ".maxrows x", ".describe", ".nope"):
        with pytest.raises(ScriptError):
            shell.run_script(bad, show_line=False)
    with pytest.raises(ExitShell):
        shell.run_script(".quit")


def test_the_progress_line_counts_symbols_or_files():
    from arcticsql.cli.execution import ProgressLine

    out = io.StringIO()
    line = ProgressLine(out, delay=0)
    line.loading(3, 10, "read_pickle('index/**/*.pkl')", "files")
    line.update(-1)
    assert "read_pickle('index/**/*.pkl'): 3/10 files" in out.getvalue()
    line.loading(2, 4, "prices_1min/*")
    line.update(-1)
    assert "prices_1min/*: 2/4 symbols" in out.getvalue()
    line.stop()
    assert out.getvalue().endswith("\r\x1b[K")


def test_pickles_lists_the_files_of_a_glob_and_describe_takes_read_pickle(tmp_path):
    import pandas as pd

    from arcticsql.pickles.backends.local import LocalStorage
    from arcticsql.pickles.metadata import save_dataset

    storage = LocalStorage(str(tmp_path))
    save_dataset(storage, pd.DataFrame({"Close": [1.0, 2.0]}), "index", "spx", "gbm", "a",
                 timestamp="20240101_000000", model_params={"mu": 0.1})
    save_dataset(storage, pd.DataFrame({"Strike": [1.0]}), "option_chain", "spx", "bs", "weekly",
                 timestamp="20240101_000000")
    connection = arcticsql.connect(config={"arctic_storage_path": "mem://",
                                           "storage": {"type": "local", "local": {"base_path": str(tmp_path)}}})
    out = io.StringIO()
    shell = Shell(connection, interactive=True, stdout=out, stderr=io.StringIO())
    try:
        shell.run_script(".mode csv\n.pickles\n.pickles 'index/**/*.pkl'")
        lines = out.getvalue().splitlines()
        out.seek(0)
        out.truncate()
        shell.run_script(".describe read_pickle('index/**/*.pkl')")
        described = out.getvalue().splitlines()
    finally:
        shell.close()
        connection.close()
    assert lines[0] == "file,rows,created_at,model_params,error"
    assert [line.split(",")[:2] for line in lines[1:3]] == [
        ["index/spx/gbm/20240101_000000_a.pkl", "2"], ["option_chain/spx/bs/20240101_000000_weekly.pkl", "1"]]
    assert lines[3] == lines[0] and lines[4].startswith("index/spx/gbm/20240101_000000_a.pkl,2,") and len(lines) == 5
    assert '""mu"": 0.1' in lines[1]
    assert described[:3] == ["column,type", "Close,DOUBLE", "file,VARCHAR"]


def test_tables_and_schema(shell):
    shell.run_script("CREATE TABLE scratch AS SELECT 1 AS x;")
    output(shell)
    shell.run_script(".tables")
    assert output(shell).split() == ["prices_1min.AAPL", "prices_1min.MSFT", 'signals."momentum/SP500"', "scratch"]
    shell.run_script(".tables prices_1min/M*")
    assert output(shell).split() == ["prices_1min.MSFT"]
    shell.run_script(".schema prices_1min.MSFT")
    assert output(shell) == ("CREATE TABLE prices_1min.MSFT(ts TIMESTAMP, open DOUBLE, close DOUBLE, "
                             "volume BIGINT);  -- ArcticDB, index: ts\n")
    shell.run_script(".schema signals")
    assert output(shell).startswith('CREATE TABLE signals."momentum/SP500"(ts TIMESTAMP, close DOUBLE)')
    shell.run_script(".schema scratch")
    assert output(shell).startswith("CREATE TABLE scratch(x INTEGER)")
    with pytest.raises(ScriptError, match="no table matches nothing"):
        shell.run_script(".schema nothing", show_line=False)


def test_describe_a_wildcard_and_a_misspelled_name(shell):
    shell.run_script(".mode csv\n.describe 'prices_1min/*'")
    lines = output(shell).splitlines()
    assert lines[:3] == ["column,type", "library,VARCHAR", "symbol,VARCHAR"] and "close,DOUBLE" in lines
    shell.run_script(".mode table\n.describe prices_1min/*")
    assert output(shell).splitlines()[-1] == "prices_1min/*: 2 symbols (prices_1min/AAPL, prices_1min/MSFT)"
    with pytest.raises(ScriptError, match=r"^no table named MSFT; did you mean prices_1min\.MSFT\?$"):
        shell.run_script(".describe MSFT", show_line=False)
    with pytest.raises(ScriptError) as caught:
        shell.run_script(".describe nope", show_line=False)
    assert "pg_" not in str(caught.value) and ".tables lists them" in str(caught.value)


def test_last_shows_the_last_result_in_full(shell):
    with pytest.raises(ScriptError, match="no result yet"):
        shell.run_script(".last", show_line=False)
    shell.run_script(".maxrows 4\nSELECT x, 'v' || x AS v FROM range(100) t(x);")
    assert output(shell).splitlines()[-1] == "100 rows (4 shown)"
    shell.run_script(".last")
    lines = output(shell).splitlines()
    assert lines[-1] == "100 rows" and [line.split("│")[1].strip() for line in lines[4:-2]] == [
        str(i) for i in range(100)]
    shell.run_script(".pager off\n.pager")
    assert "pager: off" in output(shell)


def test_last_refuses_a_result_larger_than_it_keeps(shell, monkeypatch):
    monkeypatch.setattr("arcticsql.cli.execution.KEEP_ROWS", 1000)
    shell.run_script(".maxrows 40\nSELECT * FROM range(250000) t(x);")
    assert output(shell).splitlines()[-1] == "250,000 rows (40 shown)"
    with pytest.raises(ScriptError, match="250,000 rows, more than .last keeps"):
        shell.run_script(".last", show_line=False)


def test_explain_on_says_what_each_statement_read(shell):
    shell.run_script(".explain on\nSELECT count(*) FROM prices_1min.AAPL WHERE ts >= '2024-01-03';")
    text = output(shell)
    assert "ArcticDB: 1 reads of 1 symbol versions" in text
    assert "prices_1min/AAPL@1: 1 reads (columns index only; date_range 2024-01-03 00:00:00 .. (open))" in text
    shell.run_script(".explain off\nSELECT 1;")
    assert "ArcticDB" not in output(shell)
