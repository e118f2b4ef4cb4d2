"""A session as-of: ``SET arcticsql.as_of = 'snapshot' | TIMESTAMP '...'`` pins every ArcticDB table the
session reads to that snapshot or point in time, so a notebook or a ``.sql`` file runs against one
consistent state of the store; ``RESET arcticsql.as_of`` (or ``SET arcticsql.as_of = DEFAULT``) goes back
to the latest versions. A statement's own ``AT (...)`` wins. DuckDB does not know the setting: these
statements are answered here (see :mod:`arcticsql.engine.statements`).

    >>> as_of_command("SET arcticsql.as_of = 'eod'")
    (True, 'eod')
    >>> as_of_command("set arcticsql.as_of to timestamp '2024-06-01 12:00'")
    (True, Timestamp('2024-06-01 12:00:00+0000', tz='UTC'))
    >>> as_of_command("RESET arcticsql.as_of")
    (True, None)
    >>> as_of_command("SET threads = 2") is None
    True
    >>> as_of_statement("2024-06-01T12:00"), as_of_statement("eod's")
    ("SET arcticsql.as_of = TIMESTAMP '2024-06-01 12:00:00'", "SET arcticsql.as_of = 'eod''s'")
"""

from __future__ import annotations

import re

import pandas as pd
import sqlglot
from sqlglot import exp

from arcticsql.errors import ProgrammingError

_SET = re.compile(r"^\s*SET\s+(?:SESSION\s+)?arcticsql\s*\.\s*as_of\s*(?:=|\bTO\b)\s*(?P<value>.*?)\s*;?\s*$",
                  re.IGNORECASE | re.DOTALL)
_RESET = re.compile(r"^\s*RESET\s+(?:SESSION\s+)?arcticsql\s*\.\s*as_of\s*;?\s*$", re.IGNORECASE)
_TIMESTAMP_TYPES = (exp.DataType.Type.TIMESTAMP, exp.DataType.Type.TIMESTAMPNTZ, exp.DataType.Type.TIMESTAMPTZ,
                    exp.DataType.Type.DATE)
_USAGE = ("SET arcticsql.as_of takes a snapshot name ('eod') or a point in time (TIMESTAMP '2024-06-01 12:00', "
          "UTC); RESET arcticsql.as_of goes back to the latest versions")


def as_of_command(text: str) -> tuple[bool, str | pd.Timestamp | None] | None:
    """``(True, value)`` when ``text`` sets or resets the session as-of (value: a snapshot name, a UTC
    timestamp, or None for the latest versions); None for any other statement."""
    if _RESET.match(text):
        return True, None
    match = _SET.match(text)
    if match is None:
        return None
    return True, _value(match.group("value"))


def _value(text: str) -> str | pd.Timestamp | None:
    if text.upper() in ("DEFAULT", "NULL", "LATEST"):
        return None
    try:
        node = sqlglot.parse_one(text, read="duckdb")
    except (sqlglot.errors.ParseError, sqlglot.errors.TokenError):
        raise ProgrammingError(_USAGE) from None
    if isinstance(node, exp.Literal) and node.is_string:
        if not node.this:
            raise ProgrammingError(_USAGE)
        return node.this
    if isinstance(node, exp.Cast) and isinstance(node.this, exp.Literal) and node.this.is_string \
            and node.to.this in _TIMESTAMP_TYPES:
        return _utc(node.this.this)
    if isinstance(node, exp.Null):
        return None
    raise ProgrammingError(_USAGE)


def _utc(text: str) -> pd.Timestamp:
    try:
        stamp = pd.Timestamp(text)
    except ValueError:
        raise ProgrammingError(f"{text!r} is not a point in time; {_USAGE}") from None
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


def as_of_statement(value: str) -> str:
    """The SET statement for a command line's ``--as-of VALUE``: a value that reads as a date or time is a
    point in time (UTC unless it says otherwise), anything else a snapshot name."""
    looks_like_time = re.fullmatch(r"\d{4}-\d{2}-\d{2}([ T].*)?", value.strip()) is not None
    if looks_like_time:
        stamp = _utc(value)
        return f"SET arcticsql.as_of = TIMESTAMP {exp.Literal.string(str(stamp.tz_convert(None))).sql('duckdb')}"
    return f"SET arcticsql.as_of = {exp.Literal.string(value).sql('duckdb')}"


def shown(value: str | pd.Timestamp | None) -> str:
    """The as-of as the shell's prompt shows it."""
    if value is None:
        return ""
    if isinstance(value, pd.Timestamp):
        text = str(value.tz_convert(None))
        return text[:-9] if text.endswith(" 00:00:00") else text
    return value


def check_snapshot(catalog, name: str) -> None:
    """An error listing the store's snapshots when no library has one called ``name``."""
    snapshots: set[str] = set()
    for library in catalog.library_names():
        try:
            found = catalog.library(library).list_snapshots(load_metadata=False)
        except Exception:  # noqa: BLE001 - a library that cannot be listed has none to offer
            continue
        if name in found:
            return
        snapshots.update(found)
    listed = ", ".join(sorted(snapshots)[:20]) or "none"
    raise ProgrammingError(f"no library has a snapshot {name!r}; snapshots: {listed}")
