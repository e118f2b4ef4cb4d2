"""One arcticsql database: a DuckDB in-memory database over an ArcticDB store.

The flow of a statement, top to bottom (``Session.execute``):

1. **split** the script into statements (``sql.tokens``);
2. **parse** each with sqlglot and find its ArcticDB references (``sql.references``);
3. **resolve** each reference through the catalog to pinned symbol versions (``catalog``);
4. **register** one lazy scan source per reference on the DuckDB connection (``scan``) and rewrite the
   reference to the registered name;
5. **execute** in DuckDB, which pushes projections and filters into the sources.

Store commands (``COPY ... TO 'arctic://...'`` and friends) branch off after parsing (``store``).
"""

from __future__ import annotations

import itertools
import re
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

import duckdb
from sqlglot import exp

from arcticsql.catalog import Catalog, open_arctic
from arcticsql.catalog_tables import CATALOG_LIBRARY, CatalogSource
from arcticsql.config import Settings
from arcticsql.errors import Error, InterfaceError, ProgrammingError, SchemaGrew, translate
from arcticsql.scan.arctic_source import SymbolChanged
from arcticsql.scan.union_source import union_source
from arcticsql.sql.references import FunctionReference, ParsedStatement, Reference, parse_statement, rewrite
from arcticsql.sql.tokens import Statement, split_statements
from arcticsql.store_command import maybe_store_command

#: times one statement is planned again after plans proved out of date (see Session._plan_again)
MAX_REPLANS = 4

_DUCKDB_SCHEMAS_SQL = (
    "SELECT schema_name FROM duckdb_schemas() UNION SELECT database_name FROM duckdb_databases()"
)


@dataclass
class Outcome:
    """What executing a script left behind: the DuckDB connection holding the last result, and for store
    commands the rows written and a message."""

    rowcount: int = -1
    message: str | None = None
    has_result: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


class Session:
    """Owns the DuckDB database, the ArcticDB catalog and the settings; cursors get their own DuckDB
    connection on the shared database (``duckdb.cursor()``), so registrations never collide."""

    _ids = itertools.count()

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.arctic = open_arctic(settings.arctic_uri)
        self.catalog = Catalog(self.arctic, settings)
        self.duck = duckdb.connect(":memory:")
        self._registries: dict[int, _Registry] = {}   # by id() of a live DuckDB connection
        #: Sources behind views: registered on every cursor's connection, since a view is database-wide.
        self._view_sources: dict[str, object] = {}
        #: Called as progress(done, total, label, unit) while a wildcard table's symbols or a read_pickle's
        #: files load; the CLI sets it for each statement and draws a bar.
        self.progress = None
        #: Pickle stores by location, kept for the session (a GCS store holds a client and its connections).
        self._stores: dict = {}
        self.closed = False

    @property
    def read_log(self):
        return self.catalog.log

    def new_duck_connection(self) -> duckdb.DuckDBPyConnection:
        if self.closed:
            raise InterfaceError("connection is closed")
        return self.duck.cursor()

    def forget(self, duck) -> None:
        """Drop what was registered for a DuckDB connection that is being closed."""
        self._registries.pop(id(duck), None)

    def _registry(self, duck) -> _Registry:
        registry = self._registries.get(id(duck))
        if registry is None:
            registry = self._registries[id(duck)] = _Registry(duck)
        for name, source in self._view_sources.items():
            registry.add_view_source(name, source)
        return registry

    # -- the statement flow -------------------------------------------------------------------------------
    def execute(self, duck: duckdb.DuckDBPyConnection, script: str, params: Any = None) -> Outcome:
        """Run every statement of ``script`` on ``duck``; the last statement's result stays on ``duck``."""
        statements = split_statements(script)
        if not statements:
            raise ProgrammingError("empty statement")
        bound = _bind_parameters(statements, params)
        _abort_pending(duck)
        outcome = Outcome()
        for position, (statement, statement_params) in enumerate(zip(statements, bound)):
            outcome = self.execute_statement(duck, statement, statement_params)
            if outcome.has_result and position + 1 < len(statements):
                _complete(duck)  # run it to its end; only the last statement's rows are kept
        return outcome

    def execute_statement(self, duck, statement: Statement, params: Any) -> Outcome:
        replans, tried = 0, set()
        while True:
            try:
                return self._execute_statement(duck, statement, params)
            except Error as error:
                if replans >= MAX_REPLANS or not self._plan_again(error, statement, tried):
                    raise
            # A failed DuckDB statement changed nothing, and store commands write only after their query
            # succeeded: plan the statement again and run it.
            replans += 1
            _abort_pending(duck)

    def _plan_again(self, error: Error, statement: Statement, tried: set[str]) -> bool:
        """Whether ``error`` says the statement was planned with what has since proven out of date, having
        brought it up to date (the versions and the pickle schemas once each, noted in ``tried``)."""
        if isinstance(error, SchemaGrew):
            return True  # a pickle file had columns its folder's sample lacked, now learned: declared next
        text = str(error)
        unbound = isinstance(error, ProgrammingError) and "Binder Error" in text
        if (SymbolChanged.MARKER in text or unbound) and "versions" not in tried:
            # Planned with the versions last seen (no pin), and a symbol has changed since: its new columns
            # did not bind, or reading met a newer version with other columns. Plan with fresh pins.
            tried.add("versions")
            if self._forget_assumed_versions(statement):
                return True
        if unbound and "pickle schemas" not in tried:
            # a column no pickle sample has: learned from every file read_pickle matches, it may bind
            tried.add("pickle schemas")
            return self._learn_pickle_schemas(statement)
        return False

    def _learn_pickle_schemas(self, statement: Statement) -> bool:
        """Learn the schemas of the files the statement's read_pickle calls match; whether any was new."""
        from arcticsql.pickle_sql import learn_pickle_schemas

        calls = [call for call in parse_statement(statement.text).functions if call.function == "read_pickle"]
        try:
            return sum(learn_pickle_schemas(self.settings, call.argument, stores=self._stores) for call in calls) > 0
        except Exception:  # noqa: BLE001 - the statement's own error is the one to report
            return False

    def _forget_assumed_versions(self, statement: Statement) -> bool:
        """Drop the remembered latest versions of the symbols ``statement`` reads; whether there were any."""
        parsed = parse_statement(statement.text)
        forgotten = False
        for reference in parsed.references:
            if reference.as_of is None and not reference.name.is_pattern:
                forgotten |= self.catalog.forget_latest(reference.name.library, reference.name.symbol)
        return forgotten

    def _execute_statement(self, duck, statement: Statement, params: Any) -> Outcome:
        try:
            if self._view_sources:
                self._registry(duck)  # a view made on another cursor reads sources registered here too
            if _SHOW_TABLES.match(statement.text):
                statement = Statement(SHOW_TABLES_SQL, statement.line, 0, frozenset())
            parsed = parse_statement(statement.text)
            references = self.arctic_references(duck, parsed)
            handled = maybe_store_command(self, duck, parsed, references, statement, params)
            if handled is not None:
                return handled
            text = self.prepare(duck, parsed, references, statement.text)
            duck.execute(text, params) if params is not None else duck.execute(text)
            if isinstance(parsed.tree, (exp.Insert, exp.Update, exp.Delete)):
                row = duck.fetchone()  # DuckDB answers DML with one row: the count
                _complete(duck)
                return Outcome(rowcount=int(row[0]) if row else -1, has_result=False)
            if parsed.tree is not None and not isinstance(parsed.tree, _ROW_STATEMENTS):
                _complete(duck)  # DDL and the like take effect now, as users expect
                return Outcome(rowcount=-1, has_result=False)
            return Outcome(rowcount=-1, has_result=True)
        except Exception as error:  # noqa: BLE001 - every failure leaves as a DB-API error
            raise translate(error) from error

    def query_arrow(self, duck, query: str, params: Any = None):
        """The result of one query as an Arrow table, through DuckDB's relation API (no extra copy)."""
        statements = split_statements(query)
        if len(statements) != 1:
            raise ProgrammingError("a store command takes exactly one query")
        parsed = parse_statement(statements[0].text)
        if not isinstance(parsed.tree, (exp.Query, exp.Table, exp.Values)) and parsed.tree is not None:
            raise ProgrammingError("a store command's source must be a query (SELECT, FROM, VALUES, WITH ...)")
        text = self.prepare(duck, parsed, self.arctic_references(duck, parsed), statements[0].text)
        _abort_pending(duck)
        relation = duck.sql(text, params=params) if params is not None else duck.sql(text)
        return relation.to_arrow_table()

    def arctic_references(self, duck, parsed: ParsedStatement) -> list[Reference]:
        """The references of ``parsed`` that name ArcticDB (a known library wins over a DuckDB schema)."""
        if not parsed.references:
            return []
        is_duckdb_schema = self._schema_test(duck)
        return [r for r in parsed.references
                if not (r.qualified and not r.name.is_pattern and r.name.library != CATALOG_LIBRARY
                        and not self.catalog.is_known_library(r.name.library)
                        and is_duckdb_schema(r.name.library))]

    def prepare(self, duck, parsed: ParsedStatement, references: list[Reference], text: str) -> str:
        """The text DuckDB runs: ``text`` itself, or with arcticsql's tables registered and spliced in."""
        if not references and not parsed.functions:
            return text
        return self.register(duck, parsed, references)

    def register(self, duck, parsed: ParsedStatement, references: list[Reference]) -> str:
        """Resolve and register every reference; the statement text rewritten to use the registered names.

        Each DuckDB connection keeps its registrations keyed by what they read (library, symbol, pinned
        version, ...), so a repeated query reuses them; the least recently used are dropped past a bound,
        except those a view was created over.
        """
        registry = self._registry(duck)
        creates_view = isinstance(parsed.tree, exp.Create) and str(parsed.tree.args.get("kind", "")).upper() == "VIEW"
        pairs = []
        # Only a query may be planned with the version last seen: its read checks the version, and a bind
        # error re-plans it. DESCRIBE, DDL and the like always pin, so they never show stale columns.
        assume_latest = isinstance(parsed.tree, exp.Query)
        for reference in references:
            source = self.source_for(reference, assume_latest)
            pairs.append((reference, self._name(registry, source, creates_view)))
        for call in parsed.functions:
            source = self.function_source(call)
            pairs.append((call, self._name(registry, source, creates_view)))
        return rewrite(parsed, pairs)

    def _name(self, registry: _Registry, source, for_view: bool) -> str:
        name = registry.name_for(source, pin=for_view)
        if for_view:
            self._view_sources[name] = source
        return name

    def function_source(self, call: FunctionReference):
        """``read_pickle(glob)``: the pickle files as a lazy table; ``pickle_files(glob)``: their listing."""
        from arcticsql.pickle_sql import pickle_files_table, read_pickle_source

        if call.function == "read_pickle":
            return read_pickle_source(self.settings, call.argument, pool=self.loader_pool, stores=self._stores,
                                      progress=self.report_progress)
        return pickle_files_table(self.settings, call.argument, stores=self._stores)

    def report_progress(self, done: int, total: int, label: str, unit: str = "symbols") -> None:
        """Hand progress to the statement's :attr:`progress`: sources keep this method, not the callback of
        the statement that made them (a registered source serves later statements too)."""
        progress = self.progress
        if progress is not None:
            progress(done, total, label, unit)

    @property
    def loader_pool(self):
        """The process's pickle loader pool (shared by sessions), or None when ``loader_processes`` is 0."""
        from arcticsql.storage.loader_pool import shared_pool

        return shared_pool(self.settings.loader_processes)
    def source_for(self, reference: Reference, assume_latest: bool = False):
        """The scan source for one reference: one symbol version, or the union a pattern matches."""
        name = reference.name
        if name.library == CATALOG_LIBRARY:
            return CatalogSource(self.catalog, name.symbol)
        if name.is_pattern:
            return union_source(self.catalog, name, reference.as_of, progress=self.report_progress)
        if reference.as_of is None and assume_latest:
            schema, pinned = self.catalog.latest_schema(name.library, name.symbol)
            return self.catalog.source(schema, unverified_latest=not pinned)
        return self.catalog.source(self.catalog.schema(name.library, name.symbol, reference.as_of))

    @staticmethod
    def _schema_test(duck):
        """A test for 'this first name part is a DuckDB schema or database', loaded on first use."""
        known: set[str] = set()

        def is_duckdb_schema(name: str) -> bool:
            if not known:
                known.update(row[0].lower() for row in duck.execute(_DUCKDB_SCHEMAS_SQL).fetchall())
            return name.lower() in known

        return is_duckdb_schema

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.catalog.close()
            self.duck.close()


_SHOW_TABLES = re.compile(r"^\s*SHOW\s+(ALL\s+)?TABLES\s*$", re.IGNORECASE)

#: What ``SHOW TABLES`` lists: every ArcticDB symbol, then DuckDB's own tables and views.
SHOW_TABLES_SQL = """
SELECT library, symbol AS name, 'arcticdb' AS kind, rows FROM arcticsql.symbols
UNION ALL
SELECT schema_name, table_name, 'duckdb table', estimated_size FROM duckdb_tables()
UNION ALL
SELECT schema_name, view_name, 'duckdb view', NULL FROM duckdb_views() WHERE NOT internal
ORDER BY kind, library, name
"""


class _Registry:
    """The sources registered on one DuckDB connection, by source key, least recently used first."""

    LIMIT = 256

    def __init__(self, duck) -> None:
        self.duck = duck
        self.names: OrderedDict[object, str] = OrderedDict()
        self.pinned: set[str] = set()

    def add_view_source(self, name: str, source) -> None:
        if name not in self.pinned:
            self.duck.register(name, source)
            self.pinned.add(name)

    def name_for(self, source, pin: bool = False) -> str:
        key = getattr(source, "key", None) or ("once", next(Session._ids))
        name = self.names.get(key)
        if name is None:
            name = f"__arcticsql_{next(Session._ids)}"
            prepare = getattr(source, "prepare", None)
            if prepare is not None:
                prepare()
            self.duck.register(name, source)
            self.names[key] = name
        self.names.move_to_end(key)
        if pin:
            self.pinned.add(name)
        while len(self.names) > self.LIMIT:
            old_key, old_name = next(iter(self.names.items()))
            if old_name in self.pinned:
                self.names.move_to_end(old_key)
                if all(n in self.pinned for n in self.names.values()):
                    break
                continue
            del self.names[old_key]
            self.duck.unregister(old_name)
        return name


#: Statements that answer with rows; anything else (DDL, SET, ...) is run to completion at once.
_ROW_STATEMENTS = (exp.Query, exp.Describe, exp.Show, exp.Summarize, exp.Pivot, exp.Pragma, exp.Command,
                   exp.Values, exp.Table)


def _abort_pending(duck) -> None:
    """Drop the unread rest of the previous result on ``duck`` (always a read: writes are completed)."""
    try:
        duck.abort()
    except Exception:  # noqa: BLE001 - nothing pending
        pass


def _complete(duck) -> None:
    duck.complete()  # a no-op when nothing is pending; a failure is the statement's own error


def _bind_parameters(statements: list[Statement], params: Any) -> list[Any]:
    """Split one parameter set across the statements of a script by their placeholders."""
    if params is None:
        return [None] * len(statements)
    if isinstance(params, dict):
        return [{k: v for k, v in params.items() if k in s.named} if s.named else None for s in statements]
    values = list(params)
    if len(statements) == 1:
        return [values]
    out, cursor = [], 0
    for statement in statements:
        if statement.placeholders:
            out.append(values[cursor:cursor + statement.placeholders])
            cursor += statement.placeholders
        else:
            out.append(None)
    if cursor != len(values):
        raise ProgrammingError(f"the statements take {cursor} parameters, {len(values)} were given")
    return out
