"""DuckDB's error messages in the user's words.

The session hands DuckDB a rewritten statement (each ArcticDB table replaced by a registered name such as
``__arcticsql_3``, see :func:`arcticsql.sql.references.rewrite`). DuckDB's errors quote that text: a
message, then ``LINE n: <text>`` and a line of carets under the culprit. :func:`in_user_words` gives the
message on one line with every registered name replaced by what the user wrote, then the user's own
statement line with the carets under the same place, each on its own line::

    Binder Error: Referenced column "clse" not found in FROM clause! Candidate bindings: "close", "open"
    LINE 1: SELECT clse FROM prices_1min.AAPL
                   ^^^^
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence

from arcticsql.engine.registry import PREFIX
from arcticsql.sql.references import Span

_CONTEXT = re.compile(r"\n\s*\nLINE (?P<line>\d+): (?P<snippet>[^\n]*)\n(?P<pad> *)(?P<carets>\^+) *\s*$")
_REGISTERED = re.compile(re.escape(PREFIX) + r"\d+")
#: DuckDB's suggestions of its own catalog's tables, which mean nothing to someone querying a store.
_INTERNAL_SUGGESTION = re.compile(
    r'\s*Did you mean "(?:pg_catalog\.|information_schema\.)?(?:pg_\w+|duckdb_\w+|sqlite_\w+|'
    + re.escape(PREFIX) + r'\d+|information_schema\.\w+)"\?')
_NO_TABLE = re.compile(r'Table with name (?P<name>"[^"]+"|\S+) does not exist!')
#: The longest statement line shown whole; a longer one is shown around the error.
MAX_LINE = 120


def in_user_words(message: str, statement: str | None = None, rewritten: str | None = None,
                  labels: Mapping[str, str] | None = None,
                  suggest_tables: Callable[[str], Sequence[str]] | None = None) -> str:
    """DuckDB's error ``message`` for the statement the user wrote (``statement``), which DuckDB ran as
    ``rewritten`` (a :class:`~arcticsql.sql.references.Rewritten` with its replacements, or the statement
    itself when None). ``labels``: registered names of earlier statements and what they stand for.
    ``suggest_tables(name)``: tables to suggest for a name DuckDB did not find."""
    ran = statement if rewritten is None else str(rewritten)
    spans = getattr(rewritten, "spans", ())
    names = dict(labels or {})
    names.update({span.name: span.label for span in spans if span.name})
    match = _CONTEXT.search(message)
    head = message[:match.start()] if match else message
    head = " ".join(line.strip() for line in head.strip().splitlines() if line.strip())
    head = _INTERNAL_SUGGESTION.sub("", head)
    missing = _NO_TABLE.search(head)
    if missing and suggest_tables is not None and "Did you mean" not in head:
        found = list(suggest_tables(missing.group("name").strip('"')))
        if found:
            head += f" Did you mean {', '.join(found[:3])}?"
    head = _named(head, names)
    if match is None:
        return head
    context = None
    if ran is not None and statement is not None:
        context = _user_context(match, ran, statement, spans)
    if context is None:  # DuckDB's own context, names replaced
        context = (f"LINE {match.group('line')}: {_named(match.group('snippet'), names)}\n"
                   f"{match.group('pad')}{match.group('carets')}")
    return head + "\n" + context


def _named(text: str, names: Mapping[str, str]) -> str:
    """``text`` with every registered name replaced by the user's text for it."""
    return _REGISTERED.sub(lambda m: names.get(m.group(0), "an ArcticDB table"), text)


def _user_context(match: re.Match, ran: str, statement: str, spans: Sequence[Span]) -> str | None:
    """``LINE n: <the user's line>`` and the carets under the place DuckDB pointed at, or None when the
    place cannot be found."""
    number = int(match.group("line"))
    lines = ran.split("\n")
    if not 1 <= number <= len(lines):
        return None
    snippet = match.group("snippet")
    lead = 3 if snippet.startswith("...") else 0
    core = snippet[lead:]
    if core.endswith("...") and lines[number - 1].find(core) < 0:
        core = core[:-3]
    found = lines[number - 1].find(core)
    if found < 0:
        return None
    column = len(match.group("pad")) - len(f"LINE {number}: ") - lead
    line_start = sum(len(line) + 1 for line in lines[:number - 1])
    start = line_start + found + max(0, column)
    end = start + len(match.group("carets"))
    old_start, old_end = _original(start, spans), _original(end, spans, end=True)
    return _pointer(statement, old_start, max(old_end, old_start + 1))


def _original(position: int, spans: Sequence[Span], end: bool = False) -> int:
    """The position in the user's statement of ``position`` in the rewritten text (a position inside a
    replacement maps to the start, or for an ``end``, the end of what it replaced)."""
    shift = 0
    for span in spans:
        if position < span.new_start or (end and position == span.new_start):
            break
        if position < span.new_end or (end and position == span.new_end):
            return span.old_end if end else span.old_start
        shift = span.old_end - span.new_end
    return position + shift


def _pointer(statement: str, start: int, end: int) -> str:
    """``LINE n: <line>`` of ``statement`` and carets under ``[start, end)`` (clipped to that line)."""
    start = min(start, len(statement))
    number = statement.count("\n", 0, start) + 1
    line_start = statement.rfind("\n", 0, start) + 1
    line_end = statement.find("\n", start)
    line_end = len(statement) if line_end < 0 else line_end
    line = statement[line_start:line_end]
    column = start - line_start
    width = max(1, min(end, line_end) - start)
    prefix = ""
    if len(line) > MAX_LINE:  # show the part around the error, as DuckDB does
        first = max(0, min(column - MAX_LINE // 3, len(line) - MAX_LINE))
        shown = line[first:first + MAX_LINE]
        prefix = "..." if first else ""
        line = prefix + shown + ("..." if first + MAX_LINE < len(line) else "")
        column = column - first + len(prefix)
        width = min(width, MAX_LINE - (column - len(prefix)))
    label = f"LINE {number}: "
    return f"{label}{line}\n{' ' * (len(label) + column)}{'^' * max(1, width)}"
