"""Find the ArcticDB table references in one statement and rewrite them to registered names.

The statement is parsed with sqlglot only to *find* references; the rewrite splices the original text by
position, so DuckDB receives the user's SQL unchanged apart from the table names (and lifted ``AT`` clauses).
"""

from __future__ import annotations

import functools
import logging
import re
from dataclasses import dataclass, field

import sqlglot
from sqlglot import exp
from sqlglot.tokens import TokenType

from arcticsql.errors import ProgrammingError
from arcticsql.sql.names import TableName, table_name
from arcticsql.sql.shape import KeyCondition, RowLimit, analyze
from arcticsql.sql.time_travel import lift_time_travel
from arcticsql.sql.tokens import is_question_mark, tokenize

# sqlglot logs a warning for every statement it parses as an opaque Command; those reach DuckDB as is.
logging.getLogger("sqlglot").setLevel(logging.ERROR)

_EXPLAIN = re.compile(r"^\s*EXPLAIN(\s+ANALYZE)?\s+", re.IGNORECASE)


@dataclass(frozen=True)
class Reference:
    """One table reference to ArcticDB in a statement."""

    name: TableName
    as_of: object            # None, a version number, a snapshot name or a UTC pd.Timestamp
    start: int               # span of the name in the statement text (inclusive)
    end: int
    alias: str | None        # the alias the user wrote, if any
    in_from: bool            # inside FROM/JOIN (may take an alias)
    is_target: bool = False  # the table an INSERT, CREATE TABLE, DROP, DELETE ... writes to or changes
    qualified: bool = False  # written as two parts (first.second): the first may be a DuckDB schema


@dataclass(frozen=True)
class FunctionReference:
    """A table function arcticsql provides, such as ``read_pickle('index/nifty/gbm/*.pkl')``."""

    function: str            # lower-case name
    argument: str            # its one string argument
    start: int               # span of the call in the statement text (inclusive)
    end: int
    alias: str | None
    in_from: bool


#: Table functions that arcticsql answers itself (see session.Session.function_source).
TABLE_FUNCTIONS = ("read_pickle", "pickle_files")


@dataclass(frozen=True)
class Qualifier:
    """A column qualifier naming an ArcticDB table, such as ``prices_1min."AAPL"`` in
    ``prices_1min."AAPL".close`` (how SQLAlchemy and other tools write columns)."""

    name: TableName
    start: int               # span of the qualifier in the statement text (inclusive)
    end: int


@dataclass(frozen=True)
class ParsedStatement:
    text: str                    # the statement with AT clauses blanked
    tree: exp.Expression | None  # None when sqlglot cannot parse it (it then goes to DuckDB as is)
    references: tuple[Reference, ...]
    functions: tuple[FunctionReference, ...] = ()
    qualifiers: tuple[Qualifier, ...] = ()
    #: What the statement's shape says, by reference start (see :mod:`arcticsql.sql.shape`): the rows a
    #: reference's scan needs at most, and the conditions naming a wildcard's members.
    limits: dict[int, RowLimit] = field(default_factory=dict)
    members: dict[int, tuple[KeyCondition, ...]] = field(default_factory=dict)



@dataclass(frozen=True)
class Span:
    """One replacement made by :func:`rewrite`: ``[old_start, old_end)`` of the statement became
    ``[new_start, new_end)`` of the rewritten text; ``name`` is the registered name, ``label`` what the
    user wrote."""

    old_start: int
    old_end: int
    new_start: int
    new_end: int
    name: str
    label: str


class Rewritten(str):
    """The rewritten statement text, with the :class:`Span` of every replacement (to map DuckDB's error
    positions back to the user's text, see :mod:`arcticsql.sql.error_context`)."""

    spans: tuple[Span, ...] = ()

    def __new__(cls, text: str, spans: tuple[Span, ...] = ()) -> Rewritten:
        made = super().__new__(cls, text)
        made.spans = spans
        return made


@functools.lru_cache(maxsize=512)
def parse_statement(text: str) -> ParsedStatement:
    """Parse one statement and list its candidate ArcticDB references (not CTEs, not one-part DuckDB names).

    Pure and cached by text (repeated and parameterised queries skip sqlglot). A two-part reference whose
    first part is a DuckDB schema is still listed (``qualified``); the session decides.
    """
    explain = _EXPLAIN.match(text)
    if explain:
        # sqlglot does not parse EXPLAIN; blank the keywords (positions stay valid) and parse the rest.
        text = " " * explain.end() + text[explain.end():]
    blanked, as_of_at = lift_time_travel(text)
    try:
        parsable, renamed, placeholders = _parsable(blanked)
        tree = sqlglot.parse_one(parsable, read="duckdb")
    except (sqlglot.errors.ParseError, sqlglot.errors.TokenError):
        return ParsedStatement(blanked, None, ())
    parsed_text = blanked  # EXPLAIN blanked: the tokenizer reads what follows EXPLAIN as one string
    if explain:
        blanked = explain.group(0) + blanked[explain.end():]
    ctes = {cte.alias_or_name for cte in tree.find_all(exp.CTE)}
    targets = _write_targets(tree)
    references = []
    calls = []
    for table in tree.find_all(exp.Table):
        if isinstance(table.this, exp.Anonymous) and table.this.name.lower() in TABLE_FUNCTIONS:
            calls.append(table)
            continue
        if not isinstance(table.this, exp.Identifier):
            continue  # a table function DuckDB answers, such as read_parquet(...)
        parts = [p for p in table.parts if isinstance(p, exp.Identifier)]
        names = [renamed.get(p.meta.get("start"), p.name) for p in parts]
        if len(names) == 1 and names[0] in ctes:
            continue
        name = table_name(names)
        if name is None:
            continue
        start, end = parts[0].meta.get("start"), parts[-1].meta.get("end")
        if start is None or end is None:
            continue
        references.append(Reference(
            name=name,
            as_of=as_of_at.get(end),
            start=start,
            end=end,
            alias=table.alias or None,
            in_from=isinstance(table.parent, (exp.From, exp.Join)),
            is_target=any(table is t for t in targets),
            qualified=len(names) == 2,
        ))
    references.sort(key=lambda r: r.start)
    functions = _function_references(parsed_text, calls)
    _check_time_travel(as_of_at, references, functions)
    limits, members = analyze(tree, placeholders) if references else ({}, {})
    return ParsedStatement(blanked, tree, tuple(references), functions, _qualifiers(tree, renamed), limits,
                           members)


def _qualifiers(tree: exp.Expression, renamed: dict[int, str]) -> tuple[Qualifier, ...]:
    """Column qualifiers that name an ArcticDB table: ``lib.SYM.col`` and ``"lib/SYM".col``."""
    found = []
    for column in tree.find_all(exp.Column):
        parts = [column.args.get(key) for key in ("db", "table")]
        parts = [p for p in parts if isinstance(p, exp.Identifier)]
        if not parts or (column.args.get("catalog") is not None):
            continue
        name = table_name([renamed.get(p.meta.get("start"), p.name) for p in parts])
        start, end = parts[0].meta.get("start"), parts[-1].meta.get("end")
        if name is not None and start is not None and end is not None:
            found.append(Qualifier(name, start, end))
    return tuple(sorted(found, key=lambda q: q.start))


def _parsable(text: str) -> tuple[str, dict[int, str], set[int]]:
    """``text`` as sqlglot can parse it, every position kept: a ``?`` placeholder becomes ``_`` (sqlglot
    cannot read ``?::TIMESTAMP``), and a keyword after a dot (``lib.select``) becomes as many underscores;
    the keywords are returned by start position, to name what the user wrote, and the placeholders' start
    positions too."""
    tokens = tokenize(text)
    chars = None
    renamed: dict[int, str] = {}
    placeholders: set[int] = set()
    for previous, token in zip([None, *tokens], tokens):
        if is_question_mark(token):
            replacement = "_" + token.text[1:]  # '?', or '?::' (one token)
            placeholders.add(token.start)
        elif (previous is not None and previous.token_type == TokenType.DOT and token.text.isidentifier()
              and token.token_type not in (TokenType.VAR, TokenType.IDENTIFIER)
              and text[token.start:token.end + 1] == token.text):
            replacement = "_" * len(token.text)
            renamed[token.start] = token.text
        else:
            continue
        chars = chars if chars is not None else list(text)
        chars[token.start:token.end + 1] = replacement
    return ("".join(chars) if chars is not None else text), renamed, placeholders


def _check_time_travel(as_of_at: dict[int, object], references: list[Reference],
                       functions: tuple[FunctionReference, ...]) -> None:
    """Every AT clause follows an ArcticDB table name: anywhere else it would be dropped without a word."""
    unclaimed = set(as_of_at) - {reference.end for reference in references}
    for call in functions:
        if call.end in unclaimed:
            raise ProgrammingError(f"AT (...) does not apply to {call.function}(): pickle files have no versions "
                                   "(filter on its timestamp or file columns instead)")
    if unclaimed:
        raise ProgrammingError("AT (...) follows something that is not an ArcticDB table: it goes right after a "
                               "name such as prices_1min.AAPL, before any alias")


def _function_references(text: str, calls: list[exp.Table]) -> tuple[FunctionReference, ...]:
    """Spans of arcticsql's table-function calls, found by token (sqlglot keeps no positions for them)."""
    if not calls:
        return ()
    tokens = tokenize(text)
    spans = []
    for i, token in enumerate(tokens[:-1]):
        if token.text.lower() in TABLE_FUNCTIONS and tokens[i + 1].token_type == TokenType.L_PAREN:
            depth, j = 0, i + 1
            while j < len(tokens):
                depth += {TokenType.L_PAREN: 1, TokenType.R_PAREN: -1}.get(tokens[j].token_type, 0)
                if depth == 0:
                    break
                j += 1
            spans.append((token.start, tokens[min(j, len(tokens) - 1)].end))
    found = []
    for table, (start, end) in zip(calls, spans):
        call = table.this
        arguments = call.expressions
        if len(arguments) != 1 or not (isinstance(arguments[0], exp.Literal) and arguments[0].is_string):
            raise ProgrammingError(f"{call.name}() takes one quoted glob, such as "
                                   f"{call.name}('index/nifty/gbm/*.pkl')")
        found.append(FunctionReference(call.name.lower(), arguments[0].this, start, end, table.alias or None,
                                       isinstance(table.parent, (exp.From, exp.Join))))
    return tuple(found)


def _write_targets(tree: exp.Expression) -> list[exp.Table]:
    """The tables a statement writes to or changes: INSERT INTO, CREATE TABLE, DROP, DELETE, UPDATE,
    ALTER, TRUNCATE."""
    if isinstance(tree, (exp.Insert, exp.Create, exp.Delete, exp.Update, exp.Alter)):
        target = tree.this
        if isinstance(target, exp.Schema):
            target = target.this
        return [target] if isinstance(target, exp.Table) else []
    if isinstance(tree, exp.Drop):
        return [t for t in tree.args.get("tables") or [tree.this] if isinstance(t, exp.Table)]
    if isinstance(tree, exp.TruncateTable):
        return [t for t in tree.expressions if isinstance(t, exp.Table)]
    return []


def rewrite(parsed: ParsedStatement, replacements: list[tuple[Reference | FunctionReference, str]]) -> Rewritten:
    """The statement text with each given reference replaced by its registered name.

    A reference in FROM/JOIN without an alias gets its symbol name as alias when that is unambiguous, so
    ``AAPL.close`` keeps working after ``FROM prices_1min.AAPL``; a column qualified by the table's own
    name (``prices_1min.AAPL.close``, ``"prices_1min/AAPL".close``) is qualified by that alias, or by the
    registered name.
    """
    text = parsed.text
    symbols = [r.name.symbol for r in parsed.references]
    edits: list[tuple[int, int, str, str]] = []  # (start, end inclusive, replacement, name)
    qualifying: dict[TableName, str | None] = {}
    for reference, name in replacements:
        replacement = _quote(name)
        if isinstance(reference, Reference):
            alias = None
            if reference.alias is None:
                alias = _quote(name)
                if (reference.in_from and not reference.name.is_pattern
                        and symbols.count(reference.name.symbol) == 1):
                    replacement += f" AS {_quote(reference.name.symbol)}"
                    alias = _quote(reference.name.symbol)
            # the same table named twice without aliases: a qualifier would be ambiguous, leave it
            qualifying[reference.name] = alias if reference.name not in qualifying else None
        edits.append((reference.start, reference.end, replacement, name))
    for qualifier in parsed.qualifiers:
        alias = qualifying.get(qualifier.name)
        if alias is not None:
            edits.append((qualifier.start, qualifier.end, alias, ""))
    pieces, spans, cursor, length = [], [], 0, 0
    for start, end, replacement, name in sorted(edits):
        if start < cursor:
            continue  # overlapping spans cannot happen in parsed SQL; be safe
        before = text[cursor:start]
        pieces.extend((before, replacement))
        new_start = length + len(before)
        spans.append(Span(start, end + 1, new_start, new_start + len(replacement), name, text[start:end + 1]))
        length = new_start + len(replacement)
        cursor = end + 1
    pieces.append(text[cursor:])
    return Rewritten("".join(pieces), tuple(spans))


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'
