"""What the store holds, as rows: libraries, symbols, a table's columns and a symbol's versions.

Shared by the dot commands of the REPL and the ``ls`` and ``describe`` commands.
"""

from __future__ import annotations

from dataclasses import dataclass

from arcticsql.errors import ProgrammingError, suggest
from arcticsql.sql.names import TableName, is_glob, matches
from arcticsql.sql.references import parse_statement


@dataclass(frozen=True)
class Rows:
    """A small result built outside SQL: column names, DuckDB type names, rows and an optional note."""

    names: list[str]
    types: list[str]
    rows: list[tuple]
    note: str | None = None


def parse_table(text: str) -> tuple[TableName | None, object]:
    """The ArcticDB library/symbol (and ``AT (...)`` as-of) a table name written in SQL refers to;
    ``(None, None)`` for a DuckDB table or view."""
    parsed = parse_statement(f"SELECT * FROM {text}")
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
    name, as_of = parse_table(table)
    # a table function such as read_pickle('...') is described through a query over it
    subject = f"SELECT * FROM {table}" if table.rstrip().endswith(")") and name is None else table
    described = cursor.execute(f"DESCRIBE {subject}").fetchall()
    if name is None or name.is_pattern or name.library not in catalog.library_names():
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
