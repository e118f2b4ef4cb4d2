"""Output formats: alignment, NULLs, floats, truncation notes, streaming writers."""

from __future__ import annotations

import datetime as dt
import decimal
import io
import json

from arcticsql.cli.formatting import (
    CsvWriter,
    JsonWriter,
    display_value,
    display_writer,
    footer,
    in_columns,
    render_line,
    render_markdown,
    render_shown,
    render_table,
)


def test_table_aligns_numbers_right_and_text_left():
    text = render_table(["name", "n"], ["VARCHAR", "BIGINT"], [("a", 1), ("bbb", 1000), (None, None)])
    lines = text.splitlines()
    assert lines[1] == "│ name    │ n      │"
    assert lines[2] == "│ varchar │ bigint │"
    assert lines[4] == "│ a       │      1 │"
    assert lines[6] == "│ NULL    │   NULL │"
    assert len({len(line) for line in lines}) == 1


def test_line_breaks_make_taller_rows():
    text = render_table(["k", "plan"], ["VARCHAR", "VARCHAR"], [("p", "one\ntwo")], show_types=False)
    assert text.splitlines()[3:5] == ["│ p │ one  │", "│   │ two  │"]
    assert render_line(["k", "plan"], [("p", "one\ntwo")]) == "   k = p\nplan = one\n       two"
    assert render_markdown(["plan"], ["VARCHAR"], [("one\ntwo",)]).splitlines()[2] == "| one<br>two |"


def test_ascii_table_and_fitting_to_the_terminal():
    text = render_table(["text"], ["VARCHAR"], [("x" * 100,)], max_width=30, unicode=False)
    lines = text.splitlines()
    assert lines[0].startswith("+--") and max(len(line) for line in lines) == 30
    assert lines[4].rstrip("| ").endswith("…")


def test_display_values():
    assert display_value(0.1 + 0.2) == "0.30000000000000004"  # every digit a double has
    assert display_value(0.1, "FLOAT") == "0.1"  # a FLOAT's own precision
    assert display_value("NULL") == "'NULL'" and display_value(None) == "NULL"
    assert display_value(2.0) == "2.0"
    assert display_value(float("nan")) == "NaN"
    assert display_value(1234567.891) == "1234567.891"
    assert display_value(True) == "true"
    assert display_value("a\tb\r\nc") == "a\\tb\nc"
    assert display_value(dt.datetime(2024, 1, 2, 14, 30)) == "2024-01-02 14:30:00"
    assert display_value(b"a\x00") == "a\\x00"


def test_footer():
    assert footer(1, 1) == "1 row"
    assert footer(3, 3, elapsed=0.0123) == "3 rows (0.012 s)"
    assert footer(5000, 40) == "5,000 rows (40 shown)"
    assert footer(3, 3, columns=20, shown_columns=6) == "3 rows  20 columns (6 shown)"


def test_markdown_and_line():
    assert render_markdown(["a", "n"], ["VARCHAR", "DOUBLE"], [("x|y", 1.5)]).splitlines() == [
        "| a | n |", "|---|---:|", "| x\\|y | 1.5 |"]
    assert render_line(["a", "long"], [(1, 2), (3, None)]) == "   a = 1\nlong = 2\n\n   a = 3\nlong = NULL"


def test_csv_and_json_writers_stream_chunks():
    rows = [(dt.datetime(2024, 1, 2, 14, 30), 1.25, None, decimal.Decimal("1.10"), float("nan"))]
    out = io.StringIO()
    writer = CsvWriter(out, ["ts", "x", "missing", "d", "nan"])
    writer.write(rows)
    writer.write(rows)
    writer.close()
    line = "2024-01-02 14:30:00,1.25,,1.10,nan"
    assert out.getvalue().splitlines() == ["ts,x,missing,d,nan", line, line]
    out = io.StringIO()
    writer = JsonWriter(out, ["ts", "x", "missing", "d", "nan"])
    writer.write(rows)
    writer.close()
    assert json.loads(out.getvalue()) == [
        {"ts": "2024-01-02T14:30:00", "x": 1.25, "missing": None, "d": 1.1, "nan": None}]
    empty = io.StringIO()
    JsonWriter(empty, ["a"]).close()
    assert json.loads(empty.getvalue()) == []


def test_a_table_too_wide_keeps_whole_values_of_its_first_and_last_columns():
    names = [f"column_{i}" for i in range(20)]
    types = ["VARCHAR"] * 19 + ["DOUBLE"]
    rows = [tuple([f"Expiry-{r}-{i}" for i in range(19)] + [r + 0.25]) for r in range(3)]
    text, shown = render_shown("table", names, types, rows, max_width=80)
    lines = text.splitlines()
    assert max(len(line) for line in lines) <= 80 and 2 <= shown < 20
    assert lines[1].split("│")[1].strip() == "column_0" and lines[1].split("│")[-2].strip() == "column_19"
    assert "│ … │" in lines[1] and "│ … │" in lines[4]
    assert "Expiry-2-0" in lines[-2] and "2.25" in lines[-2] and "…" not in lines[-2].replace("│ … │", "")
    assert footer(3, 3, columns=20, shown_columns=shown) == f"3 rows  20 columns ({shown} shown)"


def test_first_and_last_rows_around_a_gap():
    text = render_table(["x"], ["BIGINT"], [(1,), (2,)], tail=[(99,)], unicode=False)
    assert [line.strip("| ") for line in text.splitlines()[4:-1]] == ["1", "2", ".", ".", ".", "99"]
    assert render_markdown(["x"], ["BIGINT"], [(1,)], tail=[(9,)]).splitlines()[2:] == ["| 1 |", "| … |", "| 9 |"]


def test_numbers_align_on_the_point_and_null_differs_from_the_string_null():
    text = render_table(["x", "s"], ["DOUBLE", "VARCHAR"], [(1.5, None), (10.25, "NULL"), (3.0, "null"), (None, "a")])
    cells = [line.split("│")[1:3] for line in text.splitlines()[4:-1]]
    assert [c[0] for c in cells] == ["   1.5  ", "  10.25 ", "   3.0  ", "   NULL "]
    assert [c[1].strip() for c in cells] == ["NULL", "'NULL'", "'null'", "a"]


def test_complete_tables_stream_and_widen_when_later_rows_need_it(monkeypatch):
    monkeypatch.setattr("arcticsql.cli.formatting.TABLE_BLOCK_ROWS", 2)
    out = io.StringIO()
    writer = display_writer("table", out, ["s"], ["VARCHAR"], unicode=False)
    writer.write([("a",), ("bb",)])
    assert out.getvalue().count("\n") == 6  # the first block is out before the rest arrives
    writer.write([("a much longer value",)])
    writer.close()
    lines = out.getvalue().splitlines()
    assert lines[-2] == "| a much longer value |" and lines[-1] == "+" + "-" * 21 + "+"


def test_names_in_columns():
    assert in_columns(["a", "bbb", "c", "d"], 12).splitlines() == ["a    c", "bbb  d"]
