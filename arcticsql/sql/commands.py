"""Store commands, parsed: statements that write a query result to ArcticDB or to a pickle file.

    COPY (<query>) TO 'arctic://<path>' (MODE 'write'|'append'|'update', METADATA '<json>', INDEX '<col>',
                                          PRUNE true|false, ALLOW_EMPTY true|false)
    COPY <table> TO 'arctic://<path>' (...)
    COPY (<query>) TO 'pkl://<path>.pkl' (METADATA '<json>', INDEX '<col>')
    INSERT INTO <library>.<symbol> <query>                    -- MODE 'append'
    CREATE [OR REPLACE] TABLE <library>.<symbol> AS <query>   -- MODE 'write'

:func:`store_command` says whether a parsed statement is one and what it asks; running it is
:mod:`arcticsql.writes.commands`' job.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlglot import exp
from sqlglot.tokens import TokenType

from arcticsql.errors import NotSupportedError, ProgrammingError
from arcticsql.sql.names import TableName
from arcticsql.sql.references import ParsedStatement
from arcticsql.sql.tokens import tokenize

ARCTIC_SCHEME = "arctic://"
PICKLE_SCHEME = "pkl://"
OPTIONS = ("MODE", "METADATA", "INDEX", "PRUNE", "ALLOW_EMPTY")


@dataclass(frozen=True)
class StoreCommand:
    """What a store command writes, where, and how."""

    query: str                       # the query whose result is written
    scheme: str                      # ARCTIC_SCHEME or PICKLE_SCHEME
    path: str | None = None          # a store path (arctic://) or pickle path (pkl://), as written
    target: TableName | None = None  # the table an INSERT or CREATE TABLE names
    options: dict = field(default_factory=dict)


def store_command(parsed: ParsedStatement, text: str) -> StoreCommand | None:
    """The store command ``parsed`` (the statement ``text``) is, or None for any other statement."""
    tree = parsed.tree
    if isinstance(tree, exp.Copy):
        target = _copy_target(tree)
        if target is None:
            return None
        scheme, path = target
        return StoreCommand(_copy_query(text, tree), scheme, path=path, options=_copy_options(tree))
    target = next((r for r in parsed.references if r.is_target), None)
    if target is None:
        return None
    if target.name.is_pattern:
        raise ProgrammingError("a write target cannot be a pattern")
    if isinstance(tree, exp.Insert):
        query = _query_after(text, target.end, keyword=None)
        return StoreCommand(query, ARCTIC_SCHEME, target=target.name, options={"MODE": "append"})
    if isinstance(tree, exp.Create) and str(tree.args.get("kind", "")).upper() == "TABLE":
        if not tree.expression:
            raise NotSupportedError("CREATE TABLE on ArcticDB needs AS <query>; ArcticDB symbols take their "
                                    "schema from the data written")
        query = _query_after(text, target.end, keyword="AS")
        options = {"MODE": "write", "CREATE": "replace" if tree.args.get("replace") else "new"}
        return StoreCommand(query, ARCTIC_SCHEME, target=target.name, options=options)
    return None


def _copy_target(tree: exp.Copy) -> tuple[str, str] | None:
    files = tree.args.get("files") or []
    if len(files) != 1 or not isinstance(files[0], exp.Literal):
        return None
    url = files[0].this
    for scheme in (ARCTIC_SCHEME, PICKLE_SCHEME):
        if url.lower().startswith(scheme):
            return scheme, url[len(scheme):]
    return None


def _copy_options(tree: exp.Copy) -> dict:
    options = {}
    for param in tree.args.get("params") or []:
        name = param.this.name.upper()
        if name not in OPTIONS:
            raise ProgrammingError(f"unknown option {name} for an arctic:// or pkl:// COPY; "
                                   f"options: {', '.join(sorted(OPTIONS))}")
        value = param.expression
        if isinstance(value, exp.Boolean):
            options[name] = value.this
        elif value is None:
            options[name] = True
        else:
            options[name] = value.name if isinstance(value, (exp.Literal, exp.Var, exp.Identifier)) else value.sql()
    return options


def _copy_query(text: str, tree: exp.Copy) -> str:
    """The query a COPY writes: the text between COPY and TO (a parenthesised query or a table)."""
    tokens = tokenize(text)
    depth = 0
    start = None
    for token in tokens:
        if start is None:
            if token.token_type == TokenType.COPY or token.text.upper() == "COPY":
                start = token.end + 1
            continue
        if token.token_type == TokenType.L_PAREN:
            depth += 1
        elif token.token_type == TokenType.R_PAREN:
            depth -= 1
        elif depth == 0 and token.text.upper() == "TO":
            source = text[start:token.start].strip()
            if source.startswith("(") and source.endswith(")"):
                return source[1:-1]
            return f"SELECT * FROM {source}"
    raise ProgrammingError("COPY needs (<query>) TO '<url>'")


def _query_after(text: str, position: int, keyword: str | None) -> str:
    """The query that follows a write target at ``position`` (after ``keyword`` when given)."""
    rest = text[position + 1:]
    if keyword is not None:
        tokens = tokenize(rest)
        for token in tokens:
            if token.text.upper() == keyword:
                return rest[token.end + 1:].strip()
        raise ProgrammingError(f"expected {keyword} <query>")
    stripped = rest.strip()
    if stripped.startswith("(") and not stripped[1:].lstrip().upper().startswith(("SELECT", "WITH", "FROM")):
        raise NotSupportedError("INSERT INTO an ArcticDB symbol takes no column list: select the columns, "
                                "named as in the symbol, in the query")
    if stripped.upper().startswith("BY NAME"):
        stripped = stripped[len("BY NAME"):]
    return stripped
