"""How input text splits into dot commands and SQL statements, and when an input is complete.

A dot command is one line starting with ``.`` between statements; SQL statements end with ``;`` (the last
one of a script may omit it). Statement boundaries come from :func:`arcticsql.sql.tokens.split_statements`,
so ``;`` inside strings, quoted names and comments does not count.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from sqlglot.errors import TokenError
from sqlglot.tokens import TokenType

from arcticsql.sql.tokens import split_statements, tokenize

#: Words that end the REPL like ``.quit`` (as in litecli and psql).
QUIT_WORDS = {"quit", "exit", "\\q"}


@dataclass(frozen=True)
class Item:
    """One thing to run: a dot command line or an SQL statement, with its 1-based line in the script."""

    kind: str  # "dot" or "sql"
    text: str
    line: int


def ends_statement(text: str) -> bool:
    """True when ``text`` ends with a ``;`` that terminates a statement (not in a string or comment)."""
    try:
        tokens = tokenize(text)
    except TokenError:  # an unterminated string or quoted name: the statement goes on
        return False
    return bool(tokens) and tokens[-1].token_type == TokenType.SEMICOLON


def is_complete(text: str) -> bool:
    """Whether Enter on the REPL input ``text`` should run it (rather than start a new line)."""
    stripped = text.strip()
    if not stripped or stripped.startswith(".") or stripped.rstrip(";").strip().lower() in QUIT_WORDS:
        return True
    if not _has_tokens(stripped):
        return True  # only comments
    return ends_statement(text)


def _has_tokens(text: str) -> bool:
    try:
        return bool(tokenize(text))
    except TokenError:
        return True


def script_items(text: str) -> Iterator[Item]:
    """The dot commands and statements of a script, in order, each with its line number."""
    pending: list[str] = []
    first = 1
    for number, line in enumerate(text.splitlines(), start=1):
        if not pending and not line.strip():
            continue
        if not pending and line.lstrip().startswith("."):
            yield Item("dot", line.strip(), number)
            continue
        if not pending:
            first = number
        pending.append(line)
        buffer = "\n".join(pending)
        if not _has_tokens(buffer):
            pending = []  # only comments so far
        elif ends_statement(buffer):
            yield from _statements(buffer, first)
            pending = []
    if pending:
        yield from _statements("\n".join(pending), first)


def _statements(buffer: str, first: int) -> Iterator[Item]:
    for statement in split_statements(buffer):
        yield Item("sql", statement.text, first + statement.line - 1)
