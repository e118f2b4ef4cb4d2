"""Tab completion for the REPL: SQL keywords and functions, libraries, ``library.symbol`` names, columns of
the tables mentioned in the input, DuckDB tables, dot commands and their arguments.

Names come from the catalog on demand and are cached: the library list once per statement run, the symbols
of a library only when that library is being completed, the columns of a symbol only when it appears in
the input. A failing lookup offers nothing rather than disturbing the prompt.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterable, Iterator

from prompt_toolkit.completion import Completer, Completion, PathCompleter
from prompt_toolkit.document import Document

from arcticsql.cli import dot_commands

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_QUALIFIED_TAIL = re.compile(r'(?:"([^"]+)"|([A-Za-z_][\w$]*))\.([\w$]*)$')
_QUALIFIER_END = re.compile(r'(?:"([^"]+)"|([A-Za-z_][\w$]*))\.$')
_WORD_TAIL = re.compile(r"[\w$]*$")
_REFERENCE = re.compile(
    r'(?:"([^"/]+)"|([A-Za-z_][\w$]*))\s*\.\s*(?:"([^"]+)"|([A-Za-z_][\w$]*))|"([^"/]+)/([^"]+)"')
_MAX_TABLES = 8

_KEYWORDS_SQL = "SELECT DISTINCT keyword_name FROM duckdb_keywords()"
_FUNCTIONS_SQL = ("SELECT DISTINCT function_name FROM duckdb_functions() "
                  "WHERE regexp_matches(function_name, '^[a-z][a-z0-9_]*$')")
_TABLES_SQL = ("SELECT table_name FROM duckdb_tables() WHERE NOT internal "
               "UNION SELECT view_name FROM duckdb_views() WHERE NOT internal")


class NameCache:
    """Names for completion, fetched lazily from the connection and cached until :meth:`invalidate`."""

    def __init__(self, connection) -> None:
        self._connection = connection
        self._cursor = None
        self._lock = threading.RLock()
        self._fixed: dict[str, list[str]] = {}
        self._libraries: list[str] | None = None
        self._tables: list[str] | None = None
        self._symbols: dict[str, list[str]] = {}
        self._columns: dict[tuple[str, str], list[str]] = {}

    def invalidate(self) -> None:
        """Forget names a statement may have changed (keywords and functions stay)."""
        with self._lock:
            self._libraries, self._tables = None, None
            self._symbols.clear()
            self._columns.clear()

    def keywords(self) -> list[str]:
        return self._fixed_list("keywords", _KEYWORDS_SQL)

    def functions(self) -> list[str]:
        return self._fixed_list("functions", _FUNCTIONS_SQL)

    def libraries(self) -> list[str]:
        with self._lock:
            if self._libraries is None:
                self._libraries = _safe(self._connection.catalog.library_names)
            return self._libraries

    def symbols(self, library: str) -> list[str]:
        with self._lock:
            if library not in self._symbols:
                catalog = self._connection.catalog
                found = library in self.libraries()
                self._symbols[library] = _safe(lambda: catalog.symbols(library)) if found else []
            return self._symbols[library]

    def columns(self, library: str, symbol: str) -> list[str]:
        with self._lock:
            key = (library, symbol)
            if key not in self._columns:
                catalog = self._connection.catalog
                self._columns[key] = _safe(lambda: catalog.schema(library, symbol).arrow.names)
            return self._columns[key]

    def tables(self) -> list[str]:
        with self._lock:
            if self._tables is None:
                self._tables = [t for t in self._query(_TABLES_SQL) if not t.startswith("__arcticsql")]
            return self._tables

    def _fixed_list(self, key: str, sql: str) -> list[str]:
        with self._lock:
            if key not in self._fixed:
                self._fixed[key] = sorted(self._query(sql))
            return self._fixed[key]

    def _query(self, sql: str) -> list[str]:
        def run() -> list[str]:
            if self._cursor is None:
                self._cursor = self._connection.cursor()
            return [str(row[0]) for row in self._cursor.execute(sql).fetchall()]

        return _safe(run)


def _safe(fetch: Callable[[], list[str]]) -> list[str]:
    try:
        return list(fetch())
    except Exception:  # noqa: BLE001 - completion is best effort
        return []


class SqlCompleter(Completer):
    """Completes SQL and dot commands from a :class:`NameCache`."""

    def __init__(self, names: NameCache) -> None:
        self.names = names
        self._paths = PathCompleter(expanduser=True)

    def get_completions(self, document: Document, complete_event) -> Iterator[Completion]:
        text = document.text_before_cursor
        if document.text.lstrip().startswith(".") and "\n" not in text:
            yield from self._dot_completions(text.lstrip(), complete_event)
            return
        yield from self._sql_completions(text, document.text, complete_event.completion_requested)

    # -- dot commands -----------------------------------------------------------------------------------
    def _dot_completions(self, text: str, complete_event) -> Iterator[Completion]:
        name, space, argument = text[1:].partition(" ")
        if not space:
            for each in sorted(dot_commands.COMMANDS):
                if each.startswith(name.lower()):
                    yield Completion("." + each, -len(text), display_meta=dot_commands.COMMANDS[each].summary)
            return
        found = dot_commands.COMMANDS.get(name.lower())
        if found is None:
            return
        argument = argument.lstrip()
        if found.choices:
            yield from _matching(found.choices, argument, "")
        elif found.argument == "path":
            yield from self._paths.get_completions(Document(argument), complete_event)
        elif found.argument == "library":
            yield from _matching(self.names.libraries(), argument, "library")
        elif found.argument == "table":
            yield from self._table_completions(argument)

    # -- SQL ------------------------------------------------------------------------------------------------
    def _sql_completions(self, before: str, whole: str, requested: bool) -> Iterator[Completion]:
        if before.count("'") % 2:
            return  # inside a string literal
        if before.count('"') % 2:
            yield from self._quoted_completions(before)
            return
        qualified = _QUALIFIED_TAIL.search(before)
        if qualified:
            qualifier = qualified.group(1) or qualified.group(2)
            partial = qualified.group(3)
            if qualifier in self.names.libraries():
                yield from self._symbol_completions(qualifier, partial)
            else:
                yield from _matching(self._mentioned_columns(whole), partial, "column")
            return
        partial = _WORD_TAIL.search(before).group(0)
        if not partial:
            if requested and before[-1:].isspace():  # Tab after a space: the tables one can name
                yield from _matching(self.names.libraries(), "", "library")
                yield from _matching(self.names.tables(), "", "table")
            return
        yield from _matching(self._mentioned_columns(whole), partial, "column")
        yield from _matching(self.names.tables(), partial, "table")
        yield from _matching(self.names.libraries(), partial, "library")
        keywords = [k.lower() if partial.islower() else k.upper() for k in self.names.keywords()]
        yield from _matching(keywords, partial, "keyword")
        yield from _matching(self.names.functions(), partial, "function")

    def _table_completions(self, text: str) -> Iterator[Completion]:
        """Table names only (for ``.describe`` and ``.versions``)."""
        if text.count('"') % 2:
            yield from self._quoted_completions(text)
            return
        library, dot, partial = text.partition(".")
        if dot:
            yield from self._symbol_completions(library, partial)
        else:
            yield from _matching(self.names.libraries(), text, "library")

    def _quoted_completions(self, before: str) -> Iterator[Completion]:
        """Inside an open double quote: ``"lib/SYM"``, ``lib."SYM"``, or ``"lib/`` for a library."""
        opening = before.rfind('"')
        partial = before[opening + 1:]
        qualifier = _QUALIFIER_END.search(before[:opening])
        replace = -(len(partial) + 1)
        if qualifier:
            library = qualifier.group(1) or qualifier.group(2)
            for symbol in self.names.symbols(library):
                if symbol.lower().startswith(partial.lower()):
                    yield Completion(f'"{symbol}"', replace, display=symbol, display_meta="symbol")
            return
        library, slash, symbol_part = partial.partition("/")
        if slash:
            for symbol in self.names.symbols(library):
                if symbol.lower().startswith(symbol_part.lower()):
                    yield Completion(f'"{library}/{symbol}"', replace, display=symbol, display_meta="symbol")
            return
        for name in self.names.libraries():
            if name.lower().startswith(partial.lower()):
                yield Completion(f'"{name}/', replace, display=name, display_meta="library")

    def _symbol_completions(self, library: str, partial: str) -> Iterator[Completion]:
        for symbol in self.names.symbols(library):
            if symbol.lower().startswith(partial.lower()):
                text = symbol if _IDENTIFIER.match(symbol) else f'"{symbol}"'
                yield Completion(text, -len(partial), display=symbol, display_meta="symbol")

    def _mentioned_columns(self, text: str) -> list[str]:
        """Columns of the ArcticDB tables named anywhere in ``text`` (the first few)."""
        libraries = set(self.names.libraries())
        columns: dict[str, None] = {}
        seen = set()
        for match in _REFERENCE.finditer(text):
            library = match.group(1) or match.group(2) or match.group(5)
            symbol = match.group(3) or match.group(4) or match.group(6)
            if library not in libraries or "*" in symbol or (library, symbol) in seen:
                continue
            seen.add((library, symbol))
            columns.update(dict.fromkeys(self.names.columns(library, symbol)))
            if len(seen) >= _MAX_TABLES:
                break
        return list(columns)


def _matching(candidates: Iterable[str], partial: str, meta: str) -> Iterator[Completion]:
    lowered = partial.lower()
    for candidate in candidates:
        if candidate.lower().startswith(lowered) and candidate != partial:
            yield Completion(candidate, -len(partial), display_meta=meta)
