"""Find the ArcticDB table references in one statement and rewrite them to registered names.

The statement is parsed with sqlglot only to *find* references; the rewrite splices the original text by
position, so DuckDB receives the user's SQL unchanged apart from the table names (and lifted ``AT`` clauses).
"""

from __future__ import annotations

import functools
import logging
import re
from dataclasses import dataclass

import sqlglot
from sqlglot import exp
from sqlglot.tokens import TokenType

from arcticsql.errors import ProgrammingError
from arcticsql.sql.names import TableName, table_name
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
    is_target: bool = False  # the table an INSERT or CREATE TABLE writes to
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
class ParsedStatement:
    text: str                    # the statement with AT clauses blanked
    tree: exp.Expression | None  # None when sqlglot cannot parse it (it then goes to DuckDB as is)
    references: tuple[Reference, ...]
    functions: tuple[FunctionReference, ...] = ()


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
        parsable, renamed = _parsable(blanked)
        tree = sqlglot.parse_one(parsable, read="duckdb")
    except (sqlglot.errors.ParseError, sqlglot.errors.TokenError):
        return ParsedStatement(blanked, None, ())
    parsed_text = blanked  # EXPLAIN blanked: the tokenizer reads what follows EXPLAIN as one string
    if explain:
        blanked = explain.group(0) + blanked[explain.end():]
    ctes = {cte.alias_or_name for cte in tree.find_all(exp.CTE)}
    target = _write_target(tree)
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
            is_target=table is target,
            qualified=len(names) == 2,
        ))
    references.sort(key=lambda r: r.start)
    functions = _function_references(parsed_text, calls)
    _check_time_travel(as_of_at, references, functions)
    return ParsedStatement(blanked, tree, tuple(references), functions)


def _parsable(text: str) -> tuple[str, dict[int, str]]:
    """``text`` as sqlglot can parse it, every position kept: a ``?`` placeholder becomes ``_`` (sqlglot
    cannot read ``?::TIMESTAMP``), and a keyword after a dot (``lib.select``) becomes as many underscores;
    the keywords are returned by start position, to name what the user wrote."""
    tokens = tokenize(text)
    chars = None
    renamed: dict[int, str] = {}
    for previous, token in zip([None, *tokens], tokens):
        if is_question_mark(token):
            replacement = "_" + token.text[1:]  # '?', or '?::' (one token)
        elif (previous is not None and previous.token_type == TokenType.DOT and token.text.isidentifier()
              and token.token_type not in (TokenType.VAR, TokenType.IDENTIFIER)
              and text[token.start:token.end + 1] == token.text):
            replacement = "_" * len(token.text)
            renamed[token.start] = token.text
        else:
            continue
        chars = chars if chars is not None else list(text)
        chars[token.start:token.end + 1] = replacement
    return ("".join(chars) if chars is not None else text), renamed


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


def _write_target(tree: exp.Expression) -> exp.Table | None:
    """The table an INSERT INTO or CREATE TABLE statement writes to."""
    if isinstance(tree, (exp.Insert, exp.Create)):
        target = tree.this
        if isinstance(target, exp.Schema):
            target = target.this
        return target if isinstance(target, exp.Table) else None
    return None


def rewrite(parsed: ParsedStatement, replacements: list[tuple[Reference | FunctionReference, str]]) -> str:
    """The statement text with each given reference replaced by its registered name.

    A reference in FROM/JOIN without an alias gets its symbol name as alias when that is unambiguous, so
    ``AAPL.close`` keeps working after ``FROM prices_1min.AAPL``.
    """
    text = parsed.text
    symbols = [r.name.symbol for r in parsed.references]
    pieces, cursor = [], 0
    for reference, name in sorted(replacements, key=lambda pair: pair[0].start):
        replacement = _quote(name)
        if (isinstance(reference, Reference) and reference.in_from and reference.alias is None
                and not reference.name.is_pattern):
            if symbols.count(reference.name.symbol) == 1:
                replacement += f" AS {_quote(reference.name.symbol)}"
        pieces.append(text[cursor:reference.start])
        pieces.append(replacement)
        cursor = reference.end + 1
    pieces.append(text[cursor:])
    return "".join(pieces)


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'
