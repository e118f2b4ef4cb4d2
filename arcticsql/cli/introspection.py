"""What the store holds, as rows: libraries, symbols, a table's columns and a symbol's versions.

Shared by the dot commands of the REPL and the ``ls`` and ``describe`` commands.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlglot import exp

from arcticsql.engine.registry import PREFIX
from arcticsql.errors import ProgrammingError, suggest
from arcticsql.sql.names import TableName, is_glob, matches, sql_name
from arcticsql.sql.references import parse_statement


@dataclass(frozen=True)
class Rows:
    """A small result built outside SQL: column names, DuckDB type names, rows and an optional note."""

    names: list[str]
    types: list[str]
    rows: list[tuple]
    note: str | None = None


def table_text(text: str) -> str:
    """A table name as SQL: ``prices_1min/*`` (as a shell passes ``'prices_1min/*'``) or
    ``'prices_1min/AAPL'`` quoted as the identifier it names; anything else as written."""
    text = text.strip().rstrip(";").strip()
    if len(text) > 1 and text[0] == text[-1] == "'":
        text = text[1:-1].replace("''", "'")
    elif not ("/" in text or is_glob(text)) or text.startswith('"') or "(" in text:
        return text
    return '"' + text.replace('"', '""') + '"'


def parse_table(text: str) -> tuple[TableName | None, object]:
    """The ArcticDB library/symbol (and ``AT (...)`` as-of) a table name written in SQL refers to;
    ``(None, None)`` for a DuckDB table or view."""
    parsed = parse_statement(f"SELECT * FROM {table_text(text)}")
    if parsed.tree is None:
        raise ProgrammingError(f"not a table name: {text}")
    if not parsed.references:
        return None, None
    reference = parsed.references[0]
    return reference.name, reference.as_of


def existing_library(catalog, name: str) -> bool:
    """True when ``name`` exists; False for a core library not created yet; unknown names raise."""
    existing = catalog.library_names()
    if name in existing:
        return True
    if name in catalog.settings.core_libraries:
        return False
    known = set(existing) | set(catalog.settings.core_libraries)
    raise ProgrammingError(f"unknown library {name!r}{suggest(name, known)}")


def matching_symbols(catalog, library_pattern: str,
                     symbol_pattern: str | None = None) -> list[tuple[str, str]]:
    """(library, symbol) pairs for glob patterns; a core library not created yet has no symbols."""
    if is_glob(library_pattern):
        libraries = [n for n in catalog.library_names() if matches(library_pattern, n)]
    else:
        libraries = [library_pattern] if existing_library(catalog, library_pattern) else []
    return [(lib, sym) for lib in libraries for sym in catalog.symbols(lib, symbol_pattern or None)]


def list_names(catalog, pattern: str | None = None) -> list[str]:
    """For ``ls``: library names (matching ``pattern`` without '/'), or ``library/symbol`` names for
    ``lib/sym*`` patterns (either part may be a glob; ``lib/`` lists the whole library)."""
    if pattern is None:
        return catalog.library_names()
    library, slash, symbol = pattern.partition("/")
    if not slash:
        if not is_glob(pattern):
            existing_library(catalog, pattern)
        return [n for n in catalog.library_names() if matches(pattern, n)]
    return [f"{lib}/{sym}" for lib, sym in matching_symbols(catalog, library or "*", symbol or None)]


def libraries(catalog) -> Rows:
    return Rows(["library"], ["VARCHAR"], [(name,) for name in catalog.library_names()])


def symbols(catalog, library: str | None = None, pattern: str | None = None) -> Rows:
    """Symbols of one library (``lib``, ``lib pattern`` or ``lib/pattern``), or of every library."""
    if library is not None and "/" in library and pattern is None:
        library, _, pattern = library.partition("/")
    pairs = matching_symbols(catalog, library or "*", pattern)
    return Rows(["library", "symbol"], ["VARCHAR", "VARCHAR"], pairs)


def describe(cursor, catalog, table: str) -> Rows:
    """Columns and types of a table (``DESCRIBE``), with the index columns, version and row count of an
    ArcticDB symbol."""
    table = table_text(table)
    name, as_of = parse_table(table)
    # a table function such as read_pickle('...') is described through a query over it
    subject = f"SELECT * FROM {table}" if table.rstrip().endswith(")") and name is None else table
    try:
        described = cursor.execute(f"DESCRIBE {subject}").fetchall()
    except ProgrammingError as error:
        if name is not None or "does not exist" not in str(error):
            raise
        found = cursor.connection.session.suggest_tables(table.strip('"'))
        hint = f"; did you mean {', '.join(found)}?" if found else \
            " (ArcticDB tables are library.symbol; .tables lists them)"
        raise ProgrammingError(f"no table named {table}{hint}") from None
    if name is not None and name.is_pattern:
        members = catalog.expand(name.library, name.symbol, as_of)
        shown = ", ".join(f"{lib}/{sym}" for lib, sym in members[:5]) + (", ..." if len(members) > 5 else "")
        note = f"{name}: {len(members)} symbol{'' if len(members) == 1 else 's'} ({shown})"
        return Rows(["column", "type"], ["VARCHAR", "VARCHAR"], [(r[0], r[1]) for r in described], note)
    if name is None or name.library not in catalog.library_names():
        return Rows(["column", "type"], ["VARCHAR", "VARCHAR"], [(r[0], r[1]) for r in described])
    schema = catalog.schema(name.library, name.symbol, as_of)
    rows = [(r[0], r[1], "index" if r[0] in schema.index_columns else "") for r in described]
    plural = "" if schema.row_count == 1 else "s"
    index = ", ".join(schema.index_columns) or "none"
    note = f"{name} version {schema.version}: {schema.row_count} row{plural}, index: {index}"
    return Rows(["column", "type", "key"], ["VARCHAR", "VARCHAR", "VARCHAR"], rows, note)


def versions(catalog, table: str) -> Rows:
    """The versions of one symbol, oldest first."""
    name, _as_of = parse_table(table)
    if name is None or name.is_pattern:
        raise ProgrammingError(f"not an ArcticDB symbol: {table}")
    rows = [(v.version, v.date.to_pydatetime(warn=False), ", ".join(v.snapshots), v.deleted)
            for v in catalog.versions(name.library, name.symbol)]
    return Rows(["version", "date", "snapshots", "deleted"],
                ["BIGINT", "TIMESTAMP WITH TIME ZONE", "VARCHAR", "BOOLEAN"], rows)


#: DuckDB's own tables and views (not its catalog's, not the names arcticsql registers its scans under).
_DUCKDB_TABLES = exp.union(
    exp.select("schema_name", "table_name", exp.Literal.string("TABLE").as_("kind"), "sql")
    .from_("duckdb_tables()").where("NOT internal"),
    exp.select("schema_name", "view_name", exp.Literal.string("VIEW"), "sql").from_("duckdb_views()")
    .where(exp.and_("NOT internal", exp.not_(exp.func("starts_with", exp.column("view_name"),
                                                      exp.Literal.string(PREFIX))))),
    distinct=False,
).sql("duckdb")


def _duckdb_tables(cursor) -> list[tuple[str, str, str]]:
    """(SQL name, kind, CREATE statement) of DuckDB's own tables and views."""
    rows = cursor.execute(_DUCKDB_TABLES).fetchall()
    out = []
    for schema, name, kind, sql in sorted(rows, key=lambda r: (r[0] != "main", r[0], r[1])):
        ident = exp.to_identifier(name).sql("duckdb")
        out.append((ident if schema in ("main", "temp") else f"{exp.to_identifier(schema).sql('duckdb')}.{ident}",
                    kind, sql))
    return out


def _split_pattern(catalog, pattern: str | None) -> tuple[str, str | None] | None:
    """(library pattern, symbol pattern) for ``.tables``/``.schema`` arguments: ``lib``, ``lib/sym*``,
    ``lib.sym``; None when it names no library (a DuckDB table, perhaps)."""
    if pattern is None:
        return "*", None
    name, _as_of = parse_table(pattern) if ("/" in pattern or "." in pattern) else (None, None)
    if name is not None:
        return name.library, name.symbol
    if is_glob(pattern) or pattern in catalog.library_names():
        return pattern, None
    return None


def table_names(cursor, catalog, pattern: str | None = None) -> list[str]:
    """``.tables``: the ArcticDB tables (as SQL names) matching ``pattern`` (a library, or library/symbol
    globs; default all), then DuckDB's own tables and views."""
    parts = _split_pattern(catalog, pattern)
    names = [sql_name(lib, sym) for lib, sym in matching_symbols(catalog, *parts)] if parts else []
    duck = [name for name, _kind, _sql in _duckdb_tables(cursor)]
    if pattern is not None:
        duck = [name for name in duck if matches(pattern, name)]
    return names + duck


def schema_statements(cursor, catalog, pattern: str | None = None) -> list[str]:
    """``.schema``: a ``CREATE TABLE`` line per table matching ``pattern`` (as for :func:`table_names`),
    with the columns DuckDB sees; an ArcticDB table notes its index."""
    statements = []
    parts = _split_pattern(catalog, pattern)
    for library, symbol in matching_symbols(catalog, *parts) if parts else []:
        name = sql_name(library, symbol)
        described = cursor.execute(f"DESCRIBE {name}").fetchall()
        schema = catalog.schema(library, symbol)
        columns = ", ".join(f"{exp.to_identifier(r[0]).sql('duckdb')} {r[1]}" for r in described)
        index = ", ".join(schema.index_columns) or "none"
        statements.append(f"CREATE TABLE {name}({columns});  -- ArcticDB, index: {index}")
    for name, _kind, sql in _duckdb_tables(cursor):
        if pattern is None or matches(pattern, name):
            statements.append(sql.rstrip())
    if pattern is not None and not statements:
        raise ProgrammingError(f"no table matches {pattern}")
    return statements
