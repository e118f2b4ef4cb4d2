"""Tokenizing DuckDB SQL with sqlglot, and splitting a script into statements.

Positions are kept: every later step edits the original text by span, so whatever sqlglot does not
understand is passed to DuckDB unchanged.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from sqlglot.dialects.duckdb import DuckDB
from sqlglot.errors import TokenError
from sqlglot.tokens import Token, TokenType

_DIALECT = DuckDB()


@dataclass(frozen=True)
class Statement:
    text: str          # the statement without its terminating ';'
    line: int          # 1-based line of its first character in the script
    placeholders: int  # number of '?' and '$n' positional placeholders
    named: frozenset[str]  # names of '$name' placeholders


def tokenize(text: str) -> list[Token]:
    return list(_DIALECT.tokenize(text))


def is_question_mark(token: Token) -> bool:
    """Whether ``token`` is a ``?`` placeholder (sqlglot reads ``?::`` of ``?::TIMESTAMP`` as one token)."""
    return (token.token_type == TokenType.PLACEHOLDER and token.text == "?") or (
        token.token_type == TokenType.QDCOLON and token.text.startswith("?"))


@functools.lru_cache(maxsize=512)
def split_statements(script: str) -> tuple[Statement, ...]:
    """The non-empty statements of ``script`` (split on ';' outside strings and comments); cached."""
    return tuple(_split(script))


def _split(script: str) -> list[Statement]:
    try:
        tokens = tokenize(script)
    except TokenError:
        # An unterminated string or comment: hand the whole text to DuckDB, whose error names it.
        return [Statement(script.strip(), 1, 0, frozenset())] if script.strip() else []
    statements: list[Statement] = []
    start = 0
    group: list[Token] = []
    for token in tokens + [None]:
        if token is None or token.token_type == TokenType.SEMICOLON:
            end = token.start if token is not None else len(script)
            if group:
                first = group[0].start
                text = script[first:(group[-1].end + 1)] if token is None else script[first:end]
                statements.append(_statement(text.rstrip(), script, first, group))
            group = []
            start = end + 1
            continue
        group.append(token)
    del start
    return statements


def _statement(text: str, script: str, first: int, tokens: list[Token]) -> Statement:
    positional = 0
    named: set[str] = set()
    for i, token in enumerate(tokens):
        if is_question_mark(token):
            positional += 1
        elif token.token_type == TokenType.PARAMETER and i + 1 < len(tokens):
            following = tokens[i + 1]
            if following.token_type == TokenType.NUMBER:
                positional = max(positional, int(following.text))
            else:
                named.add(following.text)
    return Statement(text, script.count("\n", 0, first) + 1, positional, frozenset(named))
