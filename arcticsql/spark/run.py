"""Running arcticsql scripts on Spark: the same statements, the same tables, another engine.

For each statement of a script: **parse** it and find its ArcticDB references and table functions (the
DuckDB engine's parser); a store command (``COPY ... TO 'arctic://...'``, ``INSERT INTO lib.sym``,
``CREATE TABLE lib.sym AS``) goes to :mod:`arcticsql.spark.writes`; a query is checked for what Spark
cannot run (before anything is resolved), its tables are **resolved on the driver** (each reference's
symbol versions pinned once, as the catalog does for DuckDB), **translated** to Spark SQL
(:mod:`arcticsql.spark.translate`), each table **registered** as a temp view reading only the columns the
statement uses (:mod:`arcticsql.spark.source`, :mod:`arcticsql.spark.pickles`), and **executed** by Spark.

    engine = SparkEngine(spark, load_settings(uri="s3://..."))
    df = engine.sql('SELECT symbol, count(*) FROM "prices_1min/*" GROUP BY ALL')   # a Spark DataFrame
"""

from __future__ import annotations

import itertools
import json
import os
from dataclasses import dataclass, replace
from typing import Any

import pyarrow as pa
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql.types import StructType
from sqlglot import exp

from arcticsql.config import Settings
from arcticsql.engine.as_of import as_of_command, check_snapshot
from arcticsql.engine.session import Session
from arcticsql.engine.statements import bind_parameters
from arcticsql.errors import Error, NotSupportedError, ProgrammingError, SchemaGrew, translate
from arcticsql.sources.catalog_tables import SCHEMAS as CATALOG_SCHEMAS
from arcticsql.sources.catalog_tables import build as build_catalog_table
from arcticsql.sources.pickles import learn_pickle_schemas
from arcticsql.spark.errors import from_spark
from arcticsql.spark.pickles import files_to_json
from arcticsql.spark.plan import ROWS_PER_PARTITION, members_to_json
from arcticsql.spark.startup import activate, errors_unlogged, prepare
from arcticsql.spark.tables import ArcticTable, resolve
from arcticsql.spark.translate import Table
from arcticsql.spark.translate import translate as to_spark
from arcticsql.spark.types import spark_schema
from arcticsql.spark.workers import settings_json
from arcticsql.spark.writes import write
from arcticsql.sql.commands import StoreCommand, store_command
from arcticsql.sql.names import CATALOG_LIBRARY
from arcticsql.sql.references import FunctionReference, ParsedStatement, Reference, parse_statement
from arcticsql.sql.tokens import Statement, split_statements
from arcticsql.writes.arctic import StoreResult
from arcticsql.writes.commands import Changed
from arcticsql.writes.pickles import SavedPickle

_NAMES = itertools.count()
_PLACEHOLDER = "__arcticsql_table_{}__"
#: Times a statement runs again after a pickle file turned out to have columns its folder's sample lacked.
MAX_REPLANS = 2


@dataclass
class Outcome:
    """A statement's result: rows (a Spark DataFrame) or what a store command wrote."""

    frame: DataFrame | None = None
    written: StoreResult | SavedPickle | Changed | None = None


@dataclass
class _Prepared:
    """A table of the statement being translated: its placeholder and how to register it."""

    table: Table
    kind: str                # arctic | pickle | frame
    source: Any              # ArcticTable, (location, read_pickle source), or an Arrow table


class SparkEngine:
    """arcticsql on a SparkSession: one store's catalog (on the driver), and the temp views registered."""

    def __init__(self, spark: SparkSession, settings: Settings, *, read_log: str | None = None,
                 rows_per_partition: int = ROWS_PER_PARTITION) -> None:
        self.spark = prepare(spark)
        self.settings = settings
        #: The DuckDB engine's session, used only to resolve names and pickle datasets on the driver.
        self.session = Session(settings)
        self.catalog = self.session.catalog
        self.catalog.first_rows = 0  # the driver reads no rows while planning: its tasks read them
        self.read_log = read_log
        self.rows_per_partition = rows_per_partition
        #: The settings the workers run with (a local pickle store's folder made absolute).
        storage = dict(settings.storage)
        local = dict(storage.get("local") or {})
        if local.get("base_path"):
            local["base_path"] = os.path.abspath(local["base_path"])
        self.settings_text = settings_json(settings, storage={**storage, "local": local})
        self._statement_views: list[str] = []   # the views of the statement run last (dropped by the next)
        #: Temp view names -> what the user wrote (errors name tables as the user did).
        self.shown: dict[str, str] = {}

    # -- scripts ---------------------------------------------------------------------------------------------
    def sql(self, script: str, params: Any = None) -> DataFrame | None:
        """Run every statement of ``script``; the last statement's rows as a Spark DataFrame (a store
        command's answer is a one-row frame saying what was written)."""
        outcome = Outcome()
        for statement, bound in self.statements(script, params):
            outcome = self.execute(statement, bound)
        return outcome.frame if outcome.frame is not None else self._written_frame(outcome.written)

    def statements(self, script: str, params: Any = None) -> list[tuple[Statement, Any]]:
        statements = split_statements(script)
        if not statements:
            raise ProgrammingError("empty statement")
        return list(zip(statements, bind_parameters(statements, params), strict=True))

    def execute(self, statement: Statement, params: Any = None) -> Outcome:
        """One statement: a query's DataFrame (analysed, not run), or what a store command wrote. A column
        that no read_pickle sample has is looked for in every file the glob matches, and the statement
        planned again (as on DuckDB)."""
        learned = False
        while True:
            try:
                activate(self.spark)
                setting = as_of_command(statement.text)
                if setting is not None:  # SET / RESET arcticsql.as_of: the session's, as on DuckDB
                    if isinstance(setting[1], str):
                        check_snapshot(self.catalog, setting[1])
                    self.session.as_of = setting[1]
                    return Outcome()
                parsed = parse_statement(statement.text)
                command = store_command(_only_ours(parsed, self._arctic_references(parsed)), statement.text)
                if command is not None:
                    return Outcome(written=self._write(command, params))
                return Outcome(frame=self.dataframe(parsed, params))
            except Exception as failure:  # noqa: BLE001 - every failure is one line in the user's words
                error = self.error(failure)
                unbound = isinstance(error, ProgrammingError) and "cannot be resolved" in str(error)
                if learned or not unbound or not self._learn(statement.text):
                    raise error from None
                learned = True

    def error(self, error: BaseException) -> Error:
        """``error`` as an arcticsql error in the user's words."""
        if isinstance(error, Error):
            return error
        if type(error).__module__.startswith(("pyspark", "py4j")):
            return from_spark(error, self.shown)
        return translate(error, self.session.store.failure)

    def collect(self, statement: Statement, params: Any = None) -> tuple[pa.Table | None, object]:
        """Run one statement to its end: its rows as Arrow, or what it wrote. A read_pickle file with more
        columns than its folder's sample makes arcticsql learn them and run the statement again."""
        for attempt in range(MAX_REPLANS + 1):
            outcome = self.execute(statement, params)
            if outcome.frame is None:
                return None, outcome.written
            try:
                with errors_unlogged():
                    return outcome.frame.toArrow(), None
            except Exception as failure:  # noqa: BLE001 - every failure is one line in the user's words
                error = self.error(failure)
                if not isinstance(error, SchemaGrew) or attempt == MAX_REPLANS or not self._learn(statement.text):
                    raise error from None
        raise AssertionError("unreachable")

    def query_arrow(self, query: str, params: Any = None) -> pa.Table:
        """A store command's query, run to its end (its rows as Arrow)."""
        statements = split_statements(query)
        if len(statements) != 1:
            raise ProgrammingError("a store command takes exactly one query")
        table, _ = self.collect(statements[0], params)
        if table is None:
            raise ProgrammingError("a store command's source must be a query (SELECT, FROM, VALUES, WITH ...)")
        return table

    def _learn(self, text: str) -> bool:
        calls = [call for call in parse_statement(text).functions if call.function == "read_pickle"]
        try:
            return sum(learn_pickle_schemas(self.settings, call.argument) for call in calls) > 0
        except Exception:  # noqa: BLE001 - the statement's own error is the one to report
            return False

    # -- a query ---------------------------------------------------------------------------------------------
    def dataframe(self, parsed: ParsedStatement, params: Any = None) -> DataFrame:
        """The Spark DataFrame of one query (or CREATE TEMP VIEW) statement."""
        tree = parsed.tree
        if not (isinstance(tree, (exp.Query, exp.Values, exp.Table))
                or (isinstance(tree, exp.Create) and str(tree.args.get("kind", "")).upper() == "VIEW")):
            raise NotSupportedError(
                "the Spark engine runs queries, CREATE TEMP VIEW, and writes to ArcticDB or pickle files (COPY ... "
                f"TO 'arctic://...', INSERT INTO / CREATE TABLE library.symbol AS ...); not {_kind(tree)}")
        references = self._arctic_references(parsed)
        resolved: dict[int, _Prepared] = {}
        prepared: list[_Prepared] = []

        def lookup(reference: Reference | FunctionReference) -> Table:
            # resolved (versions pinned) once per reference; a view for each place it is read
            key = id(reference)
            if key not in resolved:
                resolved[key] = self._prepare(reference)
            item = resolved[key]
            item = _Prepared(Table(_PLACEHOLDER.format(next(_NAMES)), item.table.columns, item.table.shown),
                             item.kind, item.source)
            prepared.append(item)
            return item.table

        translation = to_spark(_only_ours(parsed, references), lookup)
        self._drop_views()
        sql = translation.sql
        for item in prepared:
            columns = translation.columns.get(item.table.name, tuple(item.table.columns))
            name = self._register(item, columns)
            sql = sql.replace(f"`{item.table.name}`", f"`{name}`")
        if isinstance(tree, exp.Create):
            self._statement_views.clear()  # the user's view reads them from now on: kept
        with errors_unlogged():
            return self.spark.sql(sql, args=_arguments(params))

    def _drop_views(self) -> None:
        """Drop the views of the previous statement (a DataFrame already made from them keeps working)."""
        for name in self._statement_views:
            self.spark.catalog.dropTempView(name)
            self.shown.pop(name, None)
        self._statement_views.clear()

    def _arctic_references(self, parsed: ParsedStatement) -> list[Reference]:
        """The references that name ArcticDB: all but a two-part name whose first part is a Spark database and
        no ArcticDB library."""
        found = []
        for reference in parsed.references:
            name = reference.name
            if (reference.qualified and not name.is_pattern and name.library != CATALOG_LIBRARY
                    and not self.catalog.is_known_library(name.library)
                    and self.spark.catalog.databaseExists(name.library)
                    and not self.catalog.has_library(name.library)):
                continue
            found.append(reference)
        return found

    def _prepare(self, reference: Reference | FunctionReference) -> _Prepared:
        """Resolve what a reference reads: pin an ArcticDB table's versions, list a pickle dataset's files, or
        compute a catalog table or pickle listing on the driver."""
        placeholder = _PLACEHOLDER.format(next(_NAMES))
        if isinstance(reference, FunctionReference):
            source = self.session.function_source(reference, self.session.duck)
            shown = f"{reference.function}({reference.argument!r})"
            if isinstance(source, pa.Table):  # pickle_files(): the listing, made on the driver
                return _Prepared(Table(placeholder, _types(spark_schema(source.schema)), shown), "frame", source)
            schema = spark_schema(source.schema)
            return _Prepared(Table(placeholder, _types(schema), shown), "pickle", (reference.argument, source))
        name = reference.name
        as_of = self.session.as_of_for(reference)  # its own AT (...), else the session as-of
        shown = str(name) if as_of is None else f"{name} AT {as_of}"
        if name.library == CATALOG_LIBRARY:
            if name.symbol not in CATALOG_SCHEMAS:
                self.session.source_for(reference)  # the catalog's own error for an unknown catalog table
            table = build_catalog_table(self.catalog, name.symbol, lambda library, symbol=None: True)
            return _Prepared(Table(placeholder, _types(spark_schema(table.schema)), shown), "frame", table)
        arctic = resolve(self.catalog, name, as_of)
        return _Prepared(Table(placeholder, _types(arctic.schema), shown), "arctic", arctic)

    def _register(self, item: _Prepared, columns: tuple[str, ...]) -> str:
        """A new temp view reading ``columns`` of a prepared table, for one place a statement reads it.

        One view per place and statement: Spark 4.3 keeps a single planned read per Python data source
        relation (the last pushdown wins), so two scans of one view, in one statement or one after another,
        could read rows planned for other filters. ArcticDB tables and pickle datasets are ``CREATE TEMPORARY
        VIEW ... USING`` views."""
        name = f"__arcticsql_{next(_NAMES)}"
        if item.kind == "arctic":
            table: ArcticTable = item.source
            options = {**self.source_options(), "members": members_to_json(table.members),
                       "wildcard": "true" if table.wildcard else "false"}
            self._using_view(name, "arcticdb", _narrowed(table.schema, columns), options)
        elif item.kind == "pickle":
            location, source = item.source
            options = {**self.source_options(), "location": _absolute(location),
                       "files": files_to_json(list(source.entries)), "declared": json.dumps(list(source.data_schema.names))}
            self._using_view(name, "arcticsql_pickle", _narrowed(spark_schema(source.schema), columns), options)
        else:
            wanted = {column.lower() for column in columns}
            table = item.source.select([c for c in item.source.column_names if c.lower() in wanted])
            self.spark.createDataFrame(table).createOrReplaceTempView(name)
        self._statement_views.append(name)
        self.shown[name] = item.table.shown
        return name

    def _using_view(self, name: str, source: str, schema: StructType, options: dict[str, str]) -> None:
        columns = ", ".join(f"{_quoted(f.name)} {f.dataType.simpleString()}{'' if f.nullable else ' NOT NULL'}"
                            for f in schema.fields)
        settings = ", ".join(f"{_quoted(key)} {_literal(value)}" for key, value in options.items())
        with errors_unlogged():
            self.spark.sql(f"CREATE OR REPLACE TEMPORARY VIEW {_quoted(name)} ({columns}) USING {source} "
                           f"OPTIONS ({settings})")

    def source_options(self) -> dict[str, str]:
        options = {"uri": self.settings.arctic_uri, "settings": self.settings_text,
                   "rows_per_partition": str(self.rows_per_partition)}
        if self.read_log:
            options["read_log"] = self.read_log
        return options

    # -- writes ------------------------------------------------------------------------------------------------
    def _write(self, command: StoreCommand, params: Any) -> StoreResult | SavedPickle | Changed:
        if not isinstance(command, StoreCommand):
            raise NotSupportedError("this statement changes ArcticDB in a way the Spark engine does not run: use "
                                    "the DuckDB engine")
        return write(self, command, params)

    def _written_frame(self, written) -> DataFrame | None:
        if written is None or isinstance(written, Changed):
            return None
        if isinstance(written, StoreResult):
            return self.spark.createDataFrame(
                [(written.library, written.symbol, written.version, written.rows, written.mode)],
                "library string, symbol string, version bigint, rows bigint, mode string")
        return self.spark.createDataFrame([(written.location, written.rows)], "file string, rows bigint")

    def close(self) -> None:
        try:
            self._drop_views()
        except Exception:  # noqa: BLE001 - the session may be stopped already
            pass
        self.session.close()


def _only_ours(parsed: ParsedStatement, references: list[Reference]) -> ParsedStatement:
    """``parsed`` with only the references that name ArcticDB (the rest are Spark's tables)."""
    if len(references) == len(parsed.references):
        return parsed
    return replace(parsed, references=tuple(references))


def _kind(tree) -> str:
    return "this statement" if tree is None else tree.key.upper()


def _types(schema: StructType) -> dict[str, str]:
    return {field.name: field.dataType.simpleString() for field in schema.fields}


def _narrowed(schema: StructType, columns: tuple[str, ...]) -> StructType:
    wanted = {column.lower() for column in columns}
    return StructType([field for field in schema.fields if field.name.lower() in wanted])


def _quoted(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def _literal(text: str) -> str:
    """A Spark SQL string literal."""
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _arguments(params: Any) -> Any:
    """DB-API parameters as ``spark.sql`` takes them: a dict for :name (DuckDB's $name), a list for ?."""
    if params is None:
        return None
    if isinstance(params, dict):
        return {str(k).lstrip("$:"): v for k, v in params.items()} or None
    return list(params) or None


def _absolute(location: str) -> str:
    """A local relative location made absolute (the workers may run elsewhere)."""
    return os.path.abspath(location) if location.startswith(("./", "../")) else location
