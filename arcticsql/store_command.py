"""Store commands: statements that write a query result to ArcticDB.

    COPY (<query>) TO 'arctic://<path>' (MODE 'write'|'append'|'update', METADATA '<json>', INDEX '<col>',
                                          PRUNE true|false)
    COPY <table> TO 'arctic://<path>' (...)
    INSERT INTO <library>.<symbol> <query>            -- MODE 'append'
    CREATE [OR REPLACE] TABLE <library>.<symbol> AS <query>   -- MODE 'write'

The query runs in DuckDB through the normal statement flow (so it may read ArcticDB tables), then its Arrow
result is written as a new version. The statement answers with one row (library, symbol, version, rows,
mode) and the cursor's ``rowcount`` is the rows written.
"""

from __future__ import annotations

from sqlglot import exp
from sqlglot.tokens import TokenType

from arcticsql.errors import NotSupportedError, ProgrammingError
from arcticsql.sql.tokens import Statement, tokenize

ARCTIC_SCHEME = "arctic://"
PICKLE_SCHEME = "pkl://"
_OPTIONS = {"MODE", "METADATA", "INDEX", "PRUNE"}


def maybe_store_command(session, duck, parsed, references, statement: Statement, params):
    """Run ``parsed`` if it is a store command and return its Outcome; None for any other statement."""
    tree = parsed.tree
    if isinstance(tree, exp.Copy):
        target = _copy_target(tree)
        if target is None:
            return None
        scheme, path = target
        query = _copy_query(statement.text, tree)
        options = _copy_options(tree)
        if scheme == PICKLE_SCHEME:
            from arcticsql.pickle_sql import copy_to_pickle

            return copy_to_pickle(session, duck, query, path, options, params)
        return _store(session, duck, query, path, options, params)
    target = next((r for r in references if r.is_target), None)
    if target is None:
        return None
    if isinstance(tree, exp.Insert):
        query = _query_after(statement.text, target.end, keyword=None)
        return _store(session, duck, query, None, {"MODE": "append"}, params, target=target)
    if isinstance(tree, exp.Create) and str(tree.args.get("kind", "")).upper() == "TABLE":
        if not tree.expression:
            raise NotSupportedError("CREATE TABLE on ArcticDB needs AS <query>; ArcticDB symbols take their "
                                    "schema from the data written")
        name = target.name
        if not tree.args.get("replace") and session.catalog.library(name.library, create=True).has_symbol(name.symbol):
            raise ProgrammingError(f"{name.library}/{name.symbol} already exists: use CREATE OR REPLACE TABLE "
                                   "(a new version) or INSERT INTO (append)")
        query = _query_after(statement.text, target.end, keyword="AS")
        return _store(session, duck, query, None, {"MODE": "write"}, params, target=target)
    return None


def _store(session, duck, query: str, path: str | None, options: dict, params, target=None):
    from arcticsql.session import Outcome
    from arcticsql.store import arrow_to_frame, parse_metadata, route, store_frame

    catalog = session.catalog
    if target is not None:
        library, symbol = target.name.library, target.name.symbol
        if target.name.is_pattern:
            raise ProgrammingError("a write target cannot be a pattern")
    else:
        library, symbol = route(path, catalog)
    mode = str(options.get("MODE", "write")).lower()
    metadata = parse_metadata(options.get("METADATA"))
    prune = _boolean(options.get("PRUNE", False))
    index = options.get("INDEX")
    # Run the query first: a failing query writes nothing.
    table = session.query_arrow(duck, query, params)
    existing = None
    lib = catalog.library(library, create=True)
    if lib.has_symbol(symbol):
        existing = catalog.layout(library, symbol)
    frame = arrow_to_frame(table, index=index, existing=existing)
    result = store_frame(session, f"{library}/{symbol}", frame, metadata=metadata, mode=mode, prune=prune,
                         library=library, symbol=symbol)
    duck.execute("SELECT ? AS library, ? AS symbol, ?::BIGINT AS version, ?::BIGINT AS rows, ? AS mode",
                 [result.library, result.symbol, result.version, result.rows, result.mode])
    return Outcome(rowcount=result.rows, message=str(result), has_result=True,
                   extra={"store": result})


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
        if name not in _OPTIONS:
            raise ProgrammingError(f"unknown option {name} for an arctic:// or pkl:// COPY; "
                                   f"options: {', '.join(sorted(_OPTIONS))}")
        value = param.expression
        if isinstance(value, exp.Boolean):
            options[name] = value.this
        elif value is None:
            options[name] = True
        else:
            options[name] = value.name if isinstance(value, (exp.Literal, exp.Var, exp.Identifier)) else value.sql()
    return options


def _boolean(value) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "1", "yes", "on"):
        return True
    if text in ("false", "0", "no", "off"):
        return False
    raise ProgrammingError(f"PRUNE takes true or false, not {value!r}")


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
