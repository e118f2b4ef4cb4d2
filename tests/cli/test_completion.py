"""Completion of keywords, libraries, symbols, columns and dot commands (against a real store)."""

from __future__ import annotations

import pytest
from prompt_toolkit.completion import CompleteEvent
from prompt_toolkit.document import Document

import arcticsql
from arcticsql.cli.completion import NameCache, SqlCompleter


@pytest.fixture(scope="module")
def completer(store_uri):
    connection = arcticsql.connect(uri=store_uri, config={})
    yield SqlCompleter(NameCache(connection))
    connection.close()


def complete(completer, text: str, cursor: int | None = None, tab: bool = True) -> list[str]:
    document = Document(text, len(text) if cursor is None else cursor)
    event = CompleteEvent(completion_requested=tab)
    return [c.text for c in completer.get_completions(document, event)]


def test_keywords_follow_the_case_typed(completer):
    assert "SELECT" in complete(completer, "SEL")
    assert "select" in complete(completer, "sel")


def test_libraries_and_symbols(completer):
    assert complete(completer, "SELECT * FROM ") == ["prices_1min", "signals"]
    assert complete(completer, "SELECT * FROM ", tab=False) == []
    assert "prices_1min" in complete(completer, "SELECT * FROM pri")
    assert complete(completer, "SELECT * FROM prices_1min.") == ["AAPL", "MSFT"]
    assert complete(completer, "SELECT * FROM prices_1min.ms") == ["MSFT"]
    assert complete(completer, "SELECT * FROM signals.mom") == ['"momentum/SP500"']


def test_quoted_names(completer):
    assert complete(completer, 'SELECT * FROM "pri') == ['"prices_1min/']
    assert complete(completer, 'SELECT * FROM "prices_1min/A') == ['"prices_1min/AAPL"']
    assert complete(completer, 'SELECT * FROM signals."mo') == ['"momentum/SP500"']


def test_columns_of_tables_in_the_input(completer):
    assert "volume" not in complete(completer, "SELECT vol")  # no table mentioned yet
    assert complete(completer, "SELECT * FROM prices_1min.AAPL WHERE vol")[0] == "volume"
    assert complete(completer, 'SELECT AAPL.cl FROM "prices_1min/AAPL"', cursor=14) == ["close"]


def test_dot_commands_and_their_arguments(completer):
    assert complete(completer, ".mo") == [".mode"]
    assert complete(completer, ".mode c") == ["csv"]
    assert complete(completer, ".describe prices_1min.A") == ["AAPL"]
    assert complete(completer, ".symbols sig") == ["signals"]
    assert "mp" in complete(completer, ".read /t")  # /tmp


def test_nothing_inside_a_string(completer):
    assert complete(completer, "SELECT 'pri") == []
