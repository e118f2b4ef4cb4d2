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
    footer,
    render_line,
    render_markdown,
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
    assert display_value(0.1 + 0.2) == "0.3"
    assert display_value(2.0) == "2.0"
    assert display_value(float("nan")) == "NaN"
    assert display_value(1234567.891) == "1234567.891"
    assert display_value(True) == "true"
    assert display_value("a\tb\r\nc") == "a\\tb\nc"
    assert display_value(dt.datetime(2024, 1, 2, 14, 30)) == "2024-01-02 14:30:00"
    assert display_value(b"a\x00") == "a\\x00"


def test_footer():
    assert footer(1, 1) == "1 row"
    assert footer(3, 3, 0.0123) == "3 rows (0.012 s)"
    assert footer(1000, 5000) == "(showing first 1000 of 5000 rows)"


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
