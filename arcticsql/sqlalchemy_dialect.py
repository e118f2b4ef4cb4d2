"""The SQLAlchemy dialect ``arcticsql://``: pandas, SQLAlchemy Core and tools that speak SQLAlchemy, over
arcticsql's DB-API module.

    create_engine("arcticsql:///relative/store")             lmdb://relative/store (relative to the cwd)
    create_engine("arcticsql:////abs/store?map_size=2GB")    lmdb:///abs/store?map_size=2GB
    create_engine("arcticsql://?uri=mem://")                  any ArcticDB URI (URL-encode one holding '?')
    create_engine("arcticsql://", connect_args={"uri": "s3://...", "config": {...}})
    create_engine("arcticsql://")                             arcticsql's own default ($ARCTICSQL_URI, config)

    pandas.read_sql("SELECT * FROM prices_1min.AAPL", engine)   # no "only supports SQLAlchemy" warning
    sqlalchemy.inspect(engine).get_table_names(schema="prices_1min")

Registered as the ``sqlalchemy.dialects`` entry point ``arcticsql`` (install the ``sqlalchemy`` extra).

Built on duckdb_engine's Dialect (PostgreSQL-flavoured compiler, DuckDB types); what is DuckDB-specific in
it (duckdb.connect, its ConnectionWrapper, ``BEGIN``, the duckdb exception classes, psycopg2 leftovers) is
replaced. Reflection: schemas are ArcticDB libraries (plus DuckDB's ``main`` and ``arcticsql``, the
catalog), their tables are symbols (listed by name through the connection's catalog, without describing
each), and columns of every table come from ``DESCRIBE`` (which pins the latest version, so they are never
stale). ArcticDB has no keys, indexes or comments. Column references qualified as SQLAlchemy writes them
(``signals."momentum/SP500".close``) bind, since arcticsql rewrites them with the table
(:func:`arcticsql.sql.references.rewrite`); so does a join of one symbol name in two libraries.
"""

from __future__ import annotations

import re
from urllib.parse import urlencode

import duckdb_engine
from duckdb_engine import datatypes as duck_types
from sqlalchemy import TryCast, pool
from sqlalchemy import types as sqltypes
from sqlalchemy.dialects import postgresql as pg
from sqlalchemy.dialects.postgresql.base import PGExecutionContext
from sqlalchemy.engine.default import DefaultDialect
from sqlalchemy.engine.reflection import cache
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchTableError
from sqlalchemy.ext.compiler import compiles

import arcticsql
from arcticsql.sql.names import CATALOG_LIBRARY

#: Schemas that belong to DuckDB, not ArcticDB (arcticsql resolves a two-part name in these to DuckDB).
DUCKDB_SCHEMAS = frozenset({"main", "temp", "pg_catalog", "information_schema", "system"})
CATALOG_TABLES = ("libraries", "metadata", "snapshots", "symbols", "versions")  # arcticsql.<table>
_EXTRA_TYPES = {"double": sqltypes.DOUBLE, "float": sqltypes.REAL, "decimal": sqltypes.NUMERIC,
                "blob": sqltypes.LargeBinary}
_NO_ROWS = {"pk_constraint": {"constrained_columns": [], "name": None}, "foreign_keys": [], "indexes": [],
            "unique_constraints": [], "check_constraints": [], "table_comment": {"text": None}, "table_options": {}}


def _arctic(schema: str | None) -> bool:
    return schema is not None and schema not in DUCKDB_SCHEMAS


def _catalog(connection):
    """The arcticsql catalog behind a SQLAlchemy connection (the DB-API connection's)."""
    return connection.connection.dbapi_connection.catalog


def _libraries(connection) -> list[str]:
    """The store's libraries; none for a local store not made yet (reflection creates nothing)."""
    catalog = _catalog(connection)
    return catalog.library_names() if catalog.store.exists() else []


class ArcticPreparer(duckdb_engine.Dialect.preparer):
    def _separate(self, name):
        return None, name  # duckdb_engine reads "a.b" as database.schema; a library may be called "prices.1min"


class ArcticDialect(duckdb_engine.Dialect):
    name = "arcticsql"
    driver = "arcticsql"
    supports_statement_cache = True
    minimum_dbapi_version = None  # inherited from psycopg2's dialect: (2, 7)
    preparer = ArcticPreparer
    execution_ctx_cls = PGExecutionContext  # psycopg2's reads connection.notices (duckdb_engine fakes one)

    @classmethod
    def import_dbapi(cls):
        return arcticsql

    def create_connect_args(self, url):
        query = dict(url.query)
        kwargs = {key: query.pop(key) for key in ("uri", "config") if key in query}
        if "uri" not in kwargs and url.database:
            kwargs["uri"] = f"lmdb://{url.database}" + (f"?{urlencode(query)}" if query else "")
        elif query:
            raise ArgumentError(f"unknown arcticsql URL parameters: {sorted(query)}")
        return (), kwargs

    def connect(self, *cargs, **cparams):
        return self.loaded_dbapi.connect(*cargs, **cparams)

    @classmethod
    def get_pool_class(cls, url):
        # each connect("mem://") is a new, empty store: share one connection (not seen for connect_args)
        return pool.StaticPool if url.query.get("uri", "").startswith("mem://") else pool.QueuePool

    def do_begin(self, dbapi_connection):
        pass  # DB-API implicit transactions; a DuckDB BEGIN would cover one arcticsql cursor only

    def do_rollback(self, dbapi_connection):
        dbapi_connection.rollback()  # arcticsql ignores "no transaction is active" itself

    # -- reflection ---------------------------------------------------------------------------------
    @cache
    def get_schema_names(self, connection, **kw):
        return ["main", *_libraries(connection), CATALOG_LIBRARY]

    @cache
    def get_table_names(self, connection, schema=None, **kw):
        if schema == CATALOG_LIBRARY:
            return list(CATALOG_TABLES)
        if not _arctic(schema):
            return super().get_table_names(connection, schema, **kw)
        if schema not in _libraries(connection):
            return []
        return _catalog(connection).symbols(schema)  # names only: no symbol is described

    def get_view_names(self, connection, schema=None, **kw):
        if _arctic(schema):
            return []
        return [v for v in super().get_view_names(connection, schema, **kw) if not v.startswith("__arcticsql")]

    def has_table(self, connection, table_name, schema=None, **kw):
        if not _arctic(schema):
            return super().has_table(connection, table_name, schema, **kw)
        if schema == CATALOG_LIBRARY:
            return table_name in CATALOG_TABLES
        return schema in _libraries(connection) and _catalog(connection).library(schema).has_symbol(table_name)

    @cache
    def get_columns(self, connection, table_name, schema=None, **kw):
        # DESCRIBE for every table: duckdb_engine's pg_catalog queries fail on DuckDB 2 + SQLAlchemy 2.1
        quote = self.identifier_preparer.quote_identifier
        try:  # DESCRIBE pins the latest version, so the columns are never stale
            subject = f"{quote(schema)}.{quote(table_name)}" if schema else quote(table_name)
            rows = connection.exec_driver_sql(f"DESCRIBE {subject}").fetchall()
        except DBAPIError as error:  # arcticsql.ProgrammingError: unknown library or symbol
            raise NoSuchTableError(f"{schema}.{table_name}" if schema else table_name) from error
        return [{"name": name, "type": self._type_of(kind), "nullable": null != "NO", "default": None,
                 "autoincrement": False} for name, kind, null, *_ in rows]

    def _type_of(self, duck_type: str) -> sqltypes.TypeEngine:
        duck_type = duck_type.strip()
        if duck_type.endswith("[]"):
            return pg.ARRAY(self._type_of(duck_type[:-2]))
        match = re.fullmatch(r"([A-Za-z_][A-Za-z_0-9 ]*?)\s*(?:\(([\d,\s]*)\))?", duck_type)
        if match is None:  # STRUCT(...), MAP(...), UNION(...): no ArcticDB column has these
            return sqltypes.NullType()
        base, args = match.group(1).lower(), match.group(2)
        if base in ("timestamp with time zone", "timestamptz"):
            return sqltypes.TIMESTAMP(timezone=True)
        kind = _EXTRA_TYPES.get(base) or self.ischema_names.get(base)
        if kind is None:
            return sqltypes.NullType()
        numbers = [int(a) for a in args.split(",")] if args else []
        return kind(*numbers) if numbers and base in ("decimal", "numeric") else kind()


def _no_rows(kind: str):
    def method(self, connection, table_name, schema=None, **kw):
        empty = _NO_ROWS[kind]  # ArcticDB has no keys, indexes or comments (DuckDB tables lose theirs too)
        return dict(empty) if isinstance(empty, dict) else []

    return method


# Every get_multi_* is SQLAlchemy's generic loop over the single-table methods, never PostgreSQL's
# pg_catalog queries (which duckdb_engine inherits, and which DuckDB 2 no longer fully answers).
for _kind in ("columns", *_NO_ROWS):
    setattr(ArcticDialect, f"get_multi_{_kind}", getattr(DefaultDialect, f"get_multi_{_kind}"))
    if _kind != "columns":
        setattr(ArcticDialect, f"get_{_kind}", _no_rows(_kind))

# duckdb_engine's @compiles hooks are keyed by dialect name "duckdb": register them for ours as well.
for _type in duck_types.types:
    compiles(_type, ArcticDialect.name)(duck_types.compile_uint)
for _type, _visit in ((duck_types.Struct, duck_types.visit_struct), (duck_types.Union, duck_types.visit_union),
                      (duck_types.Map, duck_types.visit_map), (TryCast, duckdb_engine.visit_try_cast)):
    compiles(_type, ArcticDialect.name)(_visit)

dialect = ArcticDialect
