"""``AT (VERSION => 3)``, ``AT (TIMESTAMP => '2024-06-01 12:00')`` and ``AT (SNAPSHOT => 'name')`` after a
table reference.

sqlglot's DuckDB dialect does not parse these for arbitrary tables, so they are lifted out at the token level:
the clause is blanked (replaced by spaces, keeping every other position valid) and remembered against the
end offset of the table name that precedes it.
"""

from __future__ import annotations

import pandas as pd
from sqlglot.tokens import TokenType

from arcticsql.errors import ProgrammingError
from arcticsql.sql.tokens import tokenize

_KINDS = ("VERSION", "TIMESTAMP", "SNAPSHOT")


def lift_time_travel(text: str) -> tuple[str, dict[int, object]]:
    """``(text with AT clauses blanked, {end offset of the preceding token: as_of})``."""
    if "=>" not in text:
        return text, {}
    tokens = tokenize(text)
    found: dict[int, object] = {}
    spans: list[tuple[int, int]] = []
    i = 1
    while i < len(tokens):
        t = tokens[i]
        if (t.text.upper() == "AT" and i + 4 < len(tokens)
                and tokens[i + 1].token_type == TokenType.L_PAREN
                and tokens[i + 2].text.upper() in _KINDS
                and tokens[i + 3].token_type == TokenType.FARROW):
            close = i + 4
            while close < len(tokens) and tokens[close].token_type != TokenType.R_PAREN:
                close += 1
            if close >= len(tokens):
                raise ProgrammingError("unterminated AT (...) clause")
            kind = tokens[i + 2].text.upper()
            value_tokens = tokens[i + 4:close]
            found[tokens[i - 1].end] = _as_of(kind, value_tokens)
            spans.append((t.start, tokens[close].end))
            i = close + 1
            continue
        i += 1
    if not spans:
        return text, {}
    chars = list(text)
    for start, end in spans:
        for k in range(start, end + 1):
            if chars[k] != "\n":
                chars[k] = " "
    return "".join(chars), found


def _as_of(kind: str, tokens) -> object:
    if len(tokens) == 2 and tokens[0].token_type == TokenType.DASH and tokens[1].token_type == TokenType.NUMBER:
        raise ProgrammingError("AT (VERSION => n) needs a version number >= 0")
    if len(tokens) != 1:
        raise ProgrammingError(f"AT ({kind} => ...) takes one literal value")
    token = tokens[0]
    if kind == "VERSION":
        if token.token_type != TokenType.NUMBER or not token.text.isdigit():
            raise ProgrammingError(f"AT (VERSION => {token.text}) needs a whole version number")
        return int(token.text)
    if token.token_type != TokenType.STRING:
        raise ProgrammingError(f"AT ({kind} => ...) takes a quoted string")
    if kind == "SNAPSHOT":
        return token.text
    try:
        stamp = pd.Timestamp(token.text)
    except ValueError:
        raise ProgrammingError(f"AT (TIMESTAMP => {token.text!r}) is not a timestamp") from None
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
