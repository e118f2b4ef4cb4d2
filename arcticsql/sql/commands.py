"""Store commands, parsed: statements that write a query result to ArcticDB or to a pickle file, or change
an ArcticDB symbol.

    COPY (<query>) TO 'arctic://<path>' (MODE 'write'|'append'|'update', METADATA '<json>', INDEX '<col>',
                                          PRUNE true|false, ALLOW_EMPTY true|false)
    COPY <table> TO 'arctic://<path>' (...)
    COPY (<query>) TO 'pkl://<path>.pkl' (METADATA '<json>', INDEX '<col>')
    INSERT INTO <library>.<symbol> [BY NAME] <query>          -- MODE 'append'; columns by name, or by
    INSERT INTO <library>.<symbol> VALUES (...), ...          --   position when the names are not the
    INSERT INTO <library>.<symbol> (<columns>) <query>        --   symbol's; VALUES by position
    CREATE [OR REPLACE] TABLE [IF NOT EXISTS] <library>.<symbol> AS <query>   -- MODE 'write'
    DROP TABLE [IF EXISTS] <library>.<symbol>                 -- deletes the symbol (every version)
    DELETE FROM <library>.<symbol> WHERE <index range>        -- ArcticDB's delete_data_in_range

Other statements that would change an ArcticDB table (UPDATE, other DELETEs, ALTER, TRUNCATE) are refused
with a message saying what is supported. :func:`store_command` says whether a parsed statement is a store
command and what it asks; running it is :mod:`arcticsql.writes.commands`' job.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import sqlglot
from sqlglot import exp
from sqlglot.tokens import TokenType

from arcticsql.errors import NotSupportedError, ProgrammingError
from arcticsql.sql.names import CATALOG_LIBRARY, TableName
from arcticsql.sql.references import ParsedStatement, Reference
from arcticsql.sql.tokens import is_question_mark, tokenize

ARCTIC_SCHEME = "arctic://"
PICKLE_SCHEME = "pkl://"
OPTIONS = ("MODE", "METADATA", "INDEX", "PRUNE", "ALLOW_EMPTY")

#: Comparison operators of an index range, with the operator seen from the column's side.
_COMPARISONS = {exp.GT: ">", exp.GTE: ">=", exp.LT: "<", exp.LTE: "<=", exp.EQ: "="}
_FLIPPED = {">": "<", ">=": "<=", "<": ">", "<=": ">=", "=": "="}


@dataclass(frozen=True)
class IndexBound:
    """One side of a DELETE's index range: ``column <op> value`` (``value`` is SQL, possibly a ``?``)."""

    column: str
    op: str                          # '>', '>=', '<', '<=' or '='
    value: exp.Expression


@dataclass(frozen=True)
class StoreCommand:
    """What a store command writes (or changes), where, and how."""

    query: str | None                # the query whose result is written (None for DROP and DELETE)
    scheme: str                      # ARCTIC_SCHEME or PICKLE_SCHEME
    path: str | None = None          # a store path (arctic://) or pickle path (pkl://), as written
    target: TableName | None = None  # the table an INSERT, CREATE TABLE, DROP or DELETE names
    options: dict = field(default_factory=dict)
    action: str = "write"            # "write", "drop" (DROP TABLE) or "delete" (DELETE ... WHERE <range>)
    columns: tuple[str, ...] | None = None  # INSERT INTO t (<columns>): the names of the query's columns
    match: str = "name"              # how an INSERT's columns meet the symbol's: "name", "position", "auto"
    bounds: tuple[IndexBound, ...] = ()     # DELETE: the index range
    if_exists: bool = False          # DROP TABLE IF EXISTS


def store_command(parsed: ParsedStatement, text: str) -> StoreCommand | None:
    """The store command ``parsed`` (the statement ``text``) is, or None for any other statement.

    ``parsed.references`` must hold only the references that name ArcticDB (not a DuckDB schema's table).
    """
    tree = parsed.tree
    if isinstance(tree, exp.Copy):
        target = _copy_target(tree)
        if target is None:
            return None
        scheme, path = target
        return StoreCommand(_copy_query(text, tree), scheme, path=path, options=_copy_options(tree))
    targets = [r for r in parsed.references if r.is_target]
    if not targets:
        return None
    if isinstance(tree, exp.Drop) and len(tree.args.get("tables") or ()) > 1:
        raise NotSupportedError("DROP TABLE takes one ArcticDB table at a time")
    target = targets[0]
    if target.name.is_pattern:
        raise ProgrammingError("a write target cannot be a pattern: name one symbol")
    name = target.name
    if name.library == CATALOG_LIBRARY and not isinstance(tree, (exp.Insert, exp.Create)):
        raise NotSupportedError(f"{_sql_name(name)} is arcticsql's catalog, which describes the store: it "
                                "changes when the store does")
    if isinstance(tree, exp.Insert):
        return _insert(tree, text, target)
    if isinstance(tree, exp.Create) and str(tree.args.get("kind", "")).upper() == "TABLE":
        if not tree.expression:
            raise NotSupportedError("CREATE TABLE on ArcticDB needs AS <query>; ArcticDB symbols take their "
                                    "schema from the data written")
        query = _query_after(text, target.end, keyword="AS")
        create = "replace" if tree.args.get("replace") else "if_not_exists" if tree.args.get("exists") else "new"
        return StoreCommand(query, ARCTIC_SCHEME, target=name, options={"MODE": "write", "CREATE": create})
    if isinstance(tree, exp.Drop):
        if str(tree.args.get("kind", "")).upper() != "TABLE":
            raise NotSupportedError(f"{_sql_name(name)} is an ArcticDB table: DROP TABLE {_sql_name(name)} "
                                    "deletes it")
        return StoreCommand(None, ARCTIC_SCHEME, target=name, action="drop",
                            if_exists=bool(tree.args.get("exists")))
    if isinstance(tree, exp.Delete):
        return StoreCommand(None, ARCTIC_SCHEME, target=name, action="delete",
                            bounds=_index_range(_with_placeholders(tree, parsed.text), name))
    what = {exp.Update: "UPDATE", exp.Alter: "ALTER TABLE", exp.TruncateTable: "TRUNCATE"}.get(type(tree))
    if what is not None:
        raise NotSupportedError(f"{what} of an ArcticDB table is not supported: ArcticDB writes whole versions. "
                                f"{_SUPPORTED.format(table=_sql_name(name), path=name)}")
    return None


_SUPPORTED = ("Supported: DELETE FROM {table} WHERE <a range of its index>, DROP TABLE {table}, "
              "INSERT INTO {table} ... (append), COPY (<query>) TO 'arctic://{path}' (MODE 'update') "
              "(replace a date range), CREATE OR REPLACE TABLE {table} AS <query> (a new version)")


def _sql_name(name: TableName) -> str:
    return exp.table_(exp.to_identifier(name.symbol), db=exp.to_identifier(name.library)).sql("duckdb")


def _insert(tree: exp.Insert, text: str, target: Reference) -> StoreCommand:
    """INSERT INTO <symbol> [(<columns>)] [BY NAME] <query or VALUES>."""
    columns = None
    if isinstance(tree.this, exp.Schema):
        columns = tuple(c.name for c in tree.this.expressions)
    query = _query_after(text, target.end, keyword=None, column_list=columns is not None)
    source = tree.expression
    if columns is not None:
        match = "name"
    elif tree.args.get("by_name"):
        match = "name"
    elif isinstance(source, exp.Values):
        match = "position"
    else:
        match = "auto"
    return StoreCommand(query, ARCTIC_SCHEME, target=target.name, options={"MODE": "append"}, columns=columns,
                        match=match)


def _with_placeholders(tree: exp.Expression, text: str) -> exp.Expression:
    """The statement parsed again with its ``?`` placeholders (arcticsql's own parse reads them as names),
    numbered ``$1``, ``$2``... (the same values bind to them; sqlglot cannot read ``?::TIMESTAMP``)."""
    if "?" not in text:
        return tree
    pieces, cursor, number = [], 0, 0
    for token in tokenize(text):
        if is_question_mark(token):
            number += 1
            pieces += [text[cursor:token.start], f"${number}"]
            cursor = token.start + 1
    try:
        return sqlglot.parse_one("".join(pieces) + text[cursor:], read="duckdb")
    except (sqlglot.errors.ParseError, sqlglot.errors.TokenError):
        return tree


def _index_range(tree: exp.Delete, name: TableName) -> tuple[IndexBound, ...]:
    """The comparisons of a DELETE's WHERE on one column (its index): comparisons with a value,
    BETWEEN, joined by AND. Anything else is refused, saying what is supported."""
    where = tree.args.get("where")
    refusal = (f"DELETE FROM {_sql_name(name)} takes a range of the symbol's timestamp index: WHERE ts >= "
               "'2024-01-02' AND ts < '2024-01-03' (comparisons with values, BETWEEN, joined by AND), which "
               "ArcticDB deletes with delete_data_in_range. To delete other rows, write the ones to keep: "
               f"CREATE OR REPLACE TABLE {_sql_name(name)} AS SELECT * FROM {_sql_name(name)} WHERE NOT (...)")
    if where is None or tree.args.get("using") or tree.args.get("returning"):
        raise NotSupportedError(refusal)
    bounds: list[IndexBound] = []
    pending = [where.this]
    while pending:
        node = pending.pop(0)
        while isinstance(node, exp.Paren):
            node = node.this
        if isinstance(node, exp.And):
            pending[:0] = [node.this, node.expression]
        elif isinstance(node, exp.Between) and _is_column(node.this) and _is_value(node.args.get("low")) \
                and _is_value(node.args.get("high")) and not node.args.get("symmetric"):
            bounds += [IndexBound(node.this.name, ">=", node.args["low"]),
                       IndexBound(node.this.name, "<=", node.args["high"])]
        elif type(node) in _COMPARISONS and _is_column(node.this) and _is_value(node.expression):
            bounds.append(IndexBound(node.this.name, _COMPARISONS[type(node)], node.expression))
        elif type(node) in _COMPARISONS and _is_column(node.expression) and _is_value(node.this):
            bounds.append(IndexBound(node.expression.name, _FLIPPED[_COMPARISONS[type(node)]], node.this))
        else:
            raise NotSupportedError(refusal)
    if len({bound.column.lower() for bound in bounds}) != 1:
        raise NotSupportedError(refusal)
    return tuple(bounds)


def _is_column(node) -> bool:
    return isinstance(node, exp.Column) and not node.table


def _is_value(node) -> bool:
    """A value that does not depend on a row: literals, parameters, casts and functions of them."""
    return node is not None and not any(isinstance(n, (exp.Column, exp.Subquery, exp.Select))
                                        for n in node.walk())


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


def _query_after(text: str, position: int, keyword: str | None, column_list: bool = False) -> str:
    """The query that follows a write target at ``position`` (after ``keyword`` when given; after the
    INSERT's ``(<columns>)`` when ``column_list``)."""
    rest = text[position + 1:]
    if keyword is not None:
        tokens = tokenize(rest)
        for token in tokens:
            if token.text.upper() == keyword:
                return rest[token.end + 1:].strip()
        raise ProgrammingError(f"expected {keyword} <query>")
    if column_list:
        tokens = tokenize(rest)
        depth = 0
        for token in tokens:
            depth += {TokenType.L_PAREN: 1, TokenType.R_PAREN: -1}.get(token.token_type, 0)
            if depth == 0 and token.token_type == TokenType.R_PAREN:
                rest = rest[token.end + 1:]
                break
    stripped = rest.strip()
    if stripped.upper().startswith("BY NAME"):
        stripped = stripped[len("BY NAME"):].strip()
    return stripped
