"""One arcticsql database: a DuckDB in-memory database over an ArcticDB store and pickle stores.

A statement's ArcticDB references are **resolved** through the catalog (names to pinned symbol versions and
their schemas), each becomes a lazy scan source (:mod:`arcticsql.sources`) **registered** on the DuckDB
connection, and the statement text is rewritten to the registered names; DuckDB then **executes** it,
pushing projections and filters into the sources. :mod:`arcticsql.engine.statements` drives this per
statement.
"""

from __future__ import annotations

import difflib
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import duckdb
import pyarrow as pa
from sqlglot import exp

from arcticsql.catalog import Catalog, Store
from arcticsql.catalog.catalog import as_of_key
from arcticsql.config import Settings
from arcticsql.engine.registry import Registry
from arcticsql.engine.user_errors import in_user_words
from arcticsql.errors import (
    IndexNotMicroseconds,
    InterfaceError,
    ProgrammingError,
    SchemaGrew,
    SymbolChanged,
    translate,
)
from arcticsql.pickles.sandbox import Sandbox
from arcticsql.sources.cache import ScanCache
from arcticsql.sources.cached_scan import pin_held
from arcticsql.sources.catalog_tables import CatalogSource
from arcticsql.sources.disk_cache import DiskPieces
from arcticsql.sources.limits import LimitHint
from arcticsql.sources.pickles import learn_pickle_schemas, pickle_files_table, read_pickle_source
from arcticsql.sources.read_log import ReadLog
from arcticsql.sources.symbol import ArcticSymbolSource
from arcticsql.sources.union import UnionSource
from arcticsql.sql.names import CATALOG_LIBRARY, TableName, sql_name
from arcticsql.sql.references import FunctionReference, ParsedStatement, Reference, parse_statement, rewrite
from arcticsql.sql.shape import KeyCondition, RowLimit
from arcticsql.sql.tokens import split_statements

_DUCKDB_SCHEMAS_SQL = (
    "SELECT schema_name FROM duckdb_schemas() UNION SELECT database_name FROM duckdb_databases()"
)


class Session:
    """Owns the DuckDB database, the ArcticDB catalog and the settings; cursors get their own DuckDB
    connection on the shared database (``duckdb.cursor()``), so registrations never collide."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        #: The ArcticDB store, opened on first use (a read never creates it).
        self.store = Store(settings.arctic_uri, settings)
        self.catalog = Catalog(self.store, settings)
        #: Every ArcticDB read the scans made (tests prove pushdown with it), and what the cache gave them.
        self.read_log = ReadLog()
        self.catalog.read_log = self.read_log
        #: Statements whose wildcards must be resolved whole: a column of a member their conditions on
        #: ``symbol``/``library`` left out did not bind (see plan_again).
        self._unpruned: set[str] = set()
        #: Wildcard tables made from a kept resolution, by (its schemas' identity, row limit).
        self._unions: dict[tuple, tuple] = {}
        #: Decoded columns of the symbol versions scans read, for the scans that follow (processing.cache_mb),
        #: and for a store on object storage, a folder of them shared by processes (processing.disk_cache_dir).
        disk = (DiskPieces(settings.disk_cache_dir, settings.disk_cache_bytes)
                if settings.disk_cache_dir and self.store.is_object_store else None)
        self.scan_cache = ScanCache(settings.cache_bytes, store=self.store.shown, disk=disk)
        if disk is not None:  # its folder serves the rows: a wildcard plans with schemas only, reading no data
            self.catalog.first_rows = 0
        #: Reads ahead of DuckDB: the next chunk of a symbol, the next group of a wildcard's members.
        self.executor = ThreadPoolExecutor(max_workers=settings.max_workers, thread_name_prefix="arcticsql-read")
        self.duck = duckdb.connect(":memory:")
        self._registries: dict[int, Registry] = {}   # by id() of a live DuckDB connection
        #: Sources behind views: registered on every cursor's connection, since a view is database-wide.
        self._view_sources: dict[str, object] = {}
        #: Called as progress(done, total, label, unit) while a wildcard table's symbols or a read_pickle's
        #: files load; the CLI sets it for each statement and draws a bar.
        self.progress = None
        #: Pickle stores by location, kept for the session (a GCS store holds a client and its connections).
        self._stores: dict = {}
        #: What each registered name stands for, as the user wrote it (errors name the user's tables).
        self.labels: dict[str, str] = {}
        #: The session as-of (``SET arcticsql.as_of``): a snapshot name or a UTC point in time that every
        #: ArcticDB table without its own ``AT (...)`` is read at; None: the latest versions.
        self.as_of = None
        #: The loader processes SQL reads of pickles load in (storage.sandbox), started on first use.
        self.sandbox = Sandbox(max(1, min(settings.max_workers, os.cpu_count() or 1)),
                               timeout=settings.pickle_load_timeout_s,
                               memory_mb=settings.pickle_memory_mb) if settings.pickle_sandbox else None
        #: Per DuckDB connection: the event that interrupts its running statement's pickle loading.
        self._cancels: dict[int, threading.Event] = {}
        self.closed = False

    def new_duck_connection(self) -> duckdb.DuckDBPyConnection:
        if self.closed:
            raise InterfaceError("connection is closed")
        return self.duck.cursor()

    def forget(self, duck) -> None:
        """Drop what was registered for a DuckDB connection that is being closed."""
        self._registries.pop(id(duck), None)
        self._cancels.pop(id(duck), None)

    def cancel_event(self, duck) -> threading.Event:
        """The event that interrupts the pickle loading of the statement running on ``duck``: cleared as a
        statement starts, set by :meth:`interrupt`; the sources a statement registers on ``duck`` wait on it."""
        return self._cancels.setdefault(id(duck), threading.Event())

    def interrupt(self, duck) -> None:
        """Interrupt the statement running on ``duck``: DuckDB's work and the pickle files it is loading."""
        self.cancel_event(duck).set()
        duck.interrupt()

    def _registry(self, duck) -> Registry:
        registry = self._registries.get(id(duck))
        if registry is None:
            registry = self._registries[id(duck)] = Registry(duck)
        for name, source in self._view_sources.items():
            registry.add_view_source(name, source)
        return registry

    def attach_views(self, duck) -> None:
        """Register on ``duck`` the sources of views made on other cursors (a view is database-wide)."""
        if self._view_sources:
            self._registry(duck)

    # -- resolve ------------------------------------------------------------------------------------------
    def arctic_references(self, duck, parsed: ParsedStatement) -> list[Reference]:
        """The references of ``parsed`` that name ArcticDB (a known library wins over a DuckDB schema)."""
        if not parsed.references:
            return []
        is_duckdb_schema = self._schema_test(duck)
        return [r for r in parsed.references
                if not (r.qualified and not r.name.is_pattern and r.name.library != CATALOG_LIBRARY
                        and not self.catalog.is_known_library(r.name.library)
                        and is_duckdb_schema(r.name.library))]

    def source_for(self, reference: Reference, assume_latest: bool = False, limit: RowLimit | None = None,
                   conditions: tuple[KeyCondition, ...] = ()):
        """The scan source for one reference: one symbol version, or the union a pattern matches.
        ``limit``: the statement needs at most that many rows of it; ``conditions``: the statement keeps
        only the members these admit (see :mod:`arcticsql.sql.shape`)."""
        name = reference.name
        if name.library == CATALOG_LIBRARY:
            return CatalogSource(self.catalog, name.symbol)
        as_of = self.as_of_for(reference)
        if name.is_pattern:
            return self.wildcard_source(name, as_of, limit, conditions)
        if as_of is None and assume_latest:
            schema, pinned = self.catalog.latest_schema(name.library, name.symbol)
            return self._symbol_source(schema, verify_latest=not pinned, limit=limit)
        snapshot = as_of if isinstance(as_of, str) else None
        return self._symbol_source(self.catalog.schema(name.library, name.symbol, as_of), snapshot=snapshot,
                                   limit=limit)

    def as_of_for(self, reference: Reference):
        """What a reference is read at: its own ``AT (...)``, else the session as-of (None: the latest)."""
        return reference.as_of if reference.as_of is not None else self.as_of

    def wildcard_source(self, name: TableName, as_of, limit: RowLimit | None = None,
                        conditions: tuple[KeyCondition, ...] = ()) -> UnionSource:
        """The union of the symbol versions a pattern names (of those ``conditions`` admit, when any do);
        an error when it matches nothing."""
        resolution = self.catalog.wildcard(name, as_of, conditions)
        if not resolution.members:  # the conditions admit no member: the pattern's columns, and no rows
            resolution = self.catalog.wildcard(name, as_of)
        found = resolution.members
        memo = (str(name), as_of_key(as_of), conditions, limit)
        reused = self._unions.get(memo)
        if reused is not None and reused[0] is resolution:
            return reused[1]  # the same resolution again (a union holds no per-query state)
        spelling: dict[str, str] = {}
        distinct = {id(schema.arrow): schema.arrow for schema, _ in found}  # mostly one, shared
        for arrow in distinct.values():  # a column is named as first seen, whatever its case in later members
            for column in arrow.names:
                spelling.setdefault(column.lower(), column)
        spelled = {key: all(spelling[c.lower()] == c for c in arrow.names) for key, arrow in distinct.items()}
        snapshot = as_of if isinstance(as_of, str) else None
        members = [self._symbol_source(schema if spelled[id(schema.arrow)] else schema.respelled(spelling),
                                       verify_latest=verify, snapshot=snapshot,
                                       preloaded=resolution.whole.get((schema.library, schema.symbol, schema.version)))
                   for schema, verify in found]
        union = UnionSource(members, executor=self.executor, progress=self.report_progress, label=str(name))
        # each member is checked for being stored in the order asked for when it is read
        union.limit = limit_hint(limit, union.arrow, lambda column: True)
        if not resolution.whole:  # a union of rows read while planning is not kept
            if len(self._unions) > 64:
                self._unions.clear()
            self._unions[memo] = (resolution, union)
        return union

    def _symbol_source(self, schema, *, verify_latest: bool = False, snapshot: str | None = None,
                       limit: RowLimit | None = None, preloaded=None) -> ArcticSymbolSource:
        return ArcticSymbolSource(self.catalog.library(schema.library), schema,
                                  chunk_bytes=self.settings.scan_chunk_bytes, log=self.read_log,
                                  executor=self.executor, verify_latest=verify_latest,
                                  nan_is_null=self.settings.nan_is_null, snapshot=snapshot,
                                  limit=limit_hint(limit, schema.arrow, schema.in_index_order),
                                  preloaded=preloaded, cache=self.scan_cache)

    def function_source(self, call: FunctionReference, duck):
        """``read_pickle(glob)``: the pickle files as a lazy table; ``pickle_files(glob)``: their listing."""
        loading = {"stores": self._stores, "sandbox": self.sandbox, "cancel": self.cancel_event(duck)}
        if call.function == "read_pickle":
            return read_pickle_source(self.settings, call.argument, progress=self.report_progress, **loading)
        return pickle_files_table(self.settings, call.argument, **loading)

    def report_progress(self, done: int, total: int, label: str, unit: str = "symbols") -> None:
        """Hand progress to the statement's :attr:`progress`: sources keep this method, not the callback of
        the statement that made them (a registered source serves later statements too)."""
        progress = self.progress
        if progress is not None:
            progress(done, total, label, unit)

    # -- register -----------------------------------------------------------------------------------------
    def prepare(self, duck, parsed: ParsedStatement, references: list[Reference], text: str) -> str:
        """The text DuckDB runs: ``text`` itself, or with arcticsql's tables registered and spliced in."""
        if not references and not parsed.functions:
            return text
        return self.register(duck, parsed, references)

    def prunes(self, text: str) -> bool:
        """Whether the statement ``text`` (as parsed) resolves its wildcards to the members its conditions on
        ``symbol``/``library`` admit (not after one of their columns failed to bind: see plan_again)."""
        return text not in self._unpruned

    def register(self, duck, parsed: ParsedStatement, references: list[Reference]) -> str:
        """Resolve and register every reference; the statement text rewritten to use the registered names."""
        return self.register_sources(duck, parsed, references)[0]

    def register_sources(self, duck, parsed: ParsedStatement,
                         references: list[Reference]) -> tuple[str, list[tuple[object, str, object]]]:
        """:meth:`register`, and each reference (or table function call) with its registered name and the
        source registered under it (which DuckDB scans)."""
        registry = self._registry(duck)
        creates_view = isinstance(parsed.tree, exp.Create) and str(parsed.tree.args.get("kind", "")).upper() == "VIEW"
        pairs = []
        # Only a query may be planned with the version last seen: its read checks the version, and a
        # changed one plans it again. DESCRIBE, DDL and the like always pin, so they never show stale columns.
        assume_latest = isinstance(parsed.tree, exp.Query)
        pruned = self.prunes(parsed.text)
        sources = [self.source_for(reference, assume_latest, parsed.limits.get(reference.start),
                                   parsed.members.get(reference.start, ()) if pruned else ())
                   for reference in references]
        if not creates_view:  # (a view reads its symbols at their latest version whenever it is queried)
            sources = pin_held(sources)  # what the cache holds is checked now, in one call per library
        for reference, source in zip(references, sources):
            pairs.append((reference, self._name(registry, source, creates_view)))
        for call in parsed.functions:
            pairs.append((call, self._name(registry, self.function_source(call, duck), creates_view)))
        rewritten = rewrite(parsed, pairs)
        self.labels.update((span.name, span.label) for span in rewritten.spans if span.name)
        return rewritten, [(item, name, registry.sources.get(name)) for item, name in pairs]

    def _name(self, registry: Registry, source, for_view: bool) -> str:
        name = registry.name_for(source, pin=for_view)
        if for_view:
            self._view_sources[name] = source
        return name

    # -- execute ------------------------------------------------------------------------------------------
    def query_arrow(self, duck, query: str, params: Any = None) -> pa.Table:
        """The result of one query as an Arrow table, through DuckDB's relation API (no extra copy)."""
        statements = split_statements(query)
        if len(statements) != 1:
            raise ProgrammingError("a store command takes exactly one query")
        parsed = parse_statement(statements[0].text)
        if not isinstance(parsed.tree, (exp.Query, exp.Table, exp.Values)) and parsed.tree is not None:
            raise ProgrammingError("a store command's source must be a query (SELECT, FROM, VALUES, WITH ...)")
        text = self.prepare(duck, parsed, self.arctic_references(duck, parsed), statements[0].text)
        abort_pending(duck)
        try:
            relation = duck.sql(text, params=params) if params is not None else duck.sql(text)
            return relation.to_arrow_table()
        except Exception as error:
            raise translate(error, self.store.failure, self.words(statements[0].text, text)) from error

    # -- errors in the user's words --------------------------------------------------------------------------
    def words(self, statement: str | None = None, rewritten: str | None = None) -> Callable[[str], str]:
        """What puts a DuckDB error about ``statement`` (run as ``rewritten``) in the user's words: their
        table names, their statement under the caret, ArcticDB names as suggestions."""
        def in_words(message: str) -> str:
            return in_user_words(message, statement, rewritten, self.labels, self.suggest_tables)

        return in_words

    def suggest_tables(self, name: str) -> list[str]:
        """ArcticDB tables a one-part table name DuckDB did not find may mean: symbols of that name (or
        close) in any library, and a library of that name as ``"library/*"``."""
        found: list[str] = []
        try:
            libraries = self.catalog.library_names()
            for library in libraries:
                symbols = self.catalog.symbols(library)
                close = difflib.get_close_matches(name, symbols, n=3, cutoff=0.75)
                close += [s for s in symbols if s.lower() == name.lower() and s not in close]
                found += [sql_name(library, symbol) for symbol in close]
            found += [f'"{library}/*"' for library in difflib.get_close_matches(name, libraries, n=2, cutoff=0.75)]
        except Exception:  # noqa: BLE001 - suggestions are best effort
            return found[:3]
        return found[:3]

    # -- planning again -----------------------------------------------------------------------------------
    def plan_again(self, error: Exception, text: str, tried: set[str], duck=None) -> bool:
        """Whether ``error`` says the statement ``text`` was planned with what has since proven out of
        date, having brought it up to date (the versions and the pickle schemas once each, noted in
        ``tried``)."""
        if isinstance(error, SchemaGrew):
            return True  # a pickle file had columns its folder's sample lacked, now learned: declared next
        if isinstance(error, SymbolChanged):
            self.catalog.saw_changes(error.changes)
            return True
        if isinstance(error, IndexNotMicroseconds):
            self.catalog.has_nanoseconds(error.library, error.symbol, error.version)
            return True
        unbound = isinstance(error, ProgrammingError) and "Binder Error" in str(error)
        if unbound and "members" not in tried and any(parse_statement(text).members.values()):
            # A wildcard resolved to the members its symbol/library conditions admit: a column only the
            # others have did not bind. Resolved whole, it is NULL for these rows, as SQL says.
            tried.add("members")
            if len(self._unpruned) > 1024:
                self._unpruned.clear()
            self._unpruned.add(parse_statement(text).text)
            return True
        if unbound and "versions" not in tried:
            # Planned with the versions last seen (no pin): a symbol's new columns may not have bound.
            tried.add("versions")
            if self._forget_assumed_versions(text):
                return True
        if unbound and "pickle schemas" not in tried:
            # a column no pickle sample has: learned from every file read_pickle matches, it may bind
            tried.add("pickle schemas")
            return self._learn_pickle_schemas(text, None if duck is None else self.cancel_event(duck))
        return False

    def _learn_pickle_schemas(self, text: str, cancel: threading.Event | None) -> bool:
        """Learn the schemas of the files the statement's read_pickle calls match; whether any was new."""
        calls = [call for call in parse_statement(text).functions if call.function == "read_pickle"]
        try:
            return sum(learn_pickle_schemas(self.settings, call.argument, stores=self._stores, sandbox=self.sandbox,
                                            cancel=cancel) for call in calls) > 0
        except Exception:  # noqa: BLE001 - the statement's own error is the one to report
            return False

    def _forget_assumed_versions(self, text: str) -> bool:
        """Drop the remembered latest versions of the symbols the statement reads; whether there were any."""
        forgotten = False
        for reference in parse_statement(text).references:
            if reference.as_of is None and not reference.name.is_pattern:
                forgotten |= self.catalog.forget_latest(reference.name.library, reference.name.symbol)
        return forgotten

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
            self.executor.shutdown(wait=False, cancel_futures=True)
            if self.sandbox is not None:
                self.sandbox.close()
            self.duck.close()


#: The constant kinds (see :mod:`arcticsql.sql.shape`) DuckDB compares with a column of each type without
#: casting the column, so that it offers the comparison to the scan.
def _compatible(kind: str, column: pa.DataType) -> bool:
    if kind in ("parameter", "null"):
        return True
    if kind == "integer":
        return pa.types.is_integer(column) or pa.types.is_floating(column)
    if kind == "number":
        return pa.types.is_floating(column)
    if kind == "string":
        return pa.types.is_string(column) or pa.types.is_large_string(column) or (
            pa.types.is_timestamp(column) and column.unit == "us")
    if kind == "timestamp":
        return pa.types.is_timestamp(column) and column.unit == "us"
    if kind == "boolean":
        return pa.types.is_boolean(column)
    return False


def limit_hint(limit: RowLimit | None, schema: pa.Schema, in_order) -> LimitHint | None:
    """The statement's row limit as a scan of a table of ``schema`` can use it: None unless it orders by a
    column the rows are stored in order of (``in_order(name)``) or by nothing, and each WHERE condition
    compares a column with constants of a kind DuckDB offers the scan for that column's type."""
    if limit is None:
        return None
    by_name = {field.name.lower(): field for field in schema}
    order = None
    if limit.order is not None:
        ordered = by_name.get(limit.order.lower())
        if ordered is None or not in_order(ordered.name):
            return None
        order = ordered.name
    for column, kind in limit.where:
        field = by_name.get(column.lower())
        if field is None or not _compatible(kind, field.type):
            return None
    return LimitHint(limit.rows, limit.descending, limit.where_columns, order)


def abort_pending(duck) -> None:
    """Drop the unread rest of the previous result on ``duck`` (always a read: writes are completed)."""
    try:
        duck.abort()
    except Exception:  # noqa: BLE001 - nothing pending
        pass

