"""Splitting input into dot commands and statements, and deciding when REPL input is complete."""

from __future__ import annotations

from arcticsql.cli.script import is_complete, script_items


def test_is_complete():
    assert is_complete("SELECT 1;")
    assert is_complete("SELECT 1; -- done")
    assert not is_complete("SELECT 1")
    assert not is_complete("SELECT ';")
    assert not is_complete('SELECT 1 AS "a;')
    assert is_complete(".mode csv")
    assert is_complete("")
    assert is_complete("-- only a comment")
    assert is_complete("quit")


def test_script_items_keep_line_numbers():
    script = ".mode csv\n\n-- comment\nSELECT 1;\nSELECT\n  2; SELECT 3;\n.timer on\nSELECT 4"
    items = [(item.kind, item.text, item.line) for item in script_items(script)]
    assert items == [
        ("dot", ".mode csv", 1),
        ("sql", "SELECT 1", 4),
        ("sql", "SELECT\n  2", 5),
        ("sql", "SELECT 3", 6),
        ("dot", ".timer on", 7),
        ("sql", "SELECT 4", 8),
    ]


def test_a_dot_inside_a_statement_is_sql():
    items = list(script_items("SELECT 1\n.5 AS x;"))
    assert [(item.kind, item.line) for item in items] == [("sql", 1)]
