"""A DB-API-shaped connection on the Spark engine, for the command line (``arcticsql run --engine spark``)
and for Python code that wants rows rather than DataFrames.

    conn = arcticsql.spark.connect(master="local[*]", uri="s3://...")      # or connect(spark=existing)
    cur = conn.cursor()
    cur.execute("SELECT symbol, count(*) FROM \\"prices_1min/*\\" GROUP BY ALL")
    cur.fetchall()

A statement runs to its end in ``execute`` (its rows collected to the driver as Arrow), so every error is
raised there, one line in the user's words.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import duckdb
import pyarrow as pa
from pyspark.sql import SparkSession

from arcticsql.config import ConfigError, load_settings
from arcticsql.errors import InterfaceError, ProgrammingError
from arcticsql.spark.run import SparkEngine
from arcticsql.spark.startup import session as spark_session
from arcticsql.writes.arctic import StoreResult
from arcticsql.writes.commands import Changed


def connect(uri: str | None = None, config: str | os.PathLike | dict | None = None, *, spark: SparkSession | None = None,
            master: str = "local[*]", conf: dict[str, str] | None = None, read_log: str | None = None,
            quiet: bool = False) -> SparkConnection:
    """A connection running statements on ``spark``, or on a session made on ``master`` with ``conf`` (stopped
    when the connection closes, unless it was already running); ``quiet``: Spark logs nothing."""
    try:
        settings = load_settings(config, uri)
    except ConfigError as error:
        raise InterfaceError(str(error)) from None
    owned = spark is None and SparkSession.getActiveSession() is None
    if spark is None:
        spark = spark_session(master, conf, quiet=quiet)
    return SparkConnection(SparkEngine(spark, settings, read_log=read_log), owned=owned)


class SparkConnection:
    def __init__(self, engine: SparkEngine, *, owned: bool = False) -> None:
        self.engine = engine
        #: The driver's DuckDB-engine session (names, pickle datasets, the session as-of), as the CLI expects
        #: of a connection; Spark's own reads are not in its read log.
        self.session = engine.session
        self._owned = owned
        self.closed = False

    @property
    def catalog(self):
        return self.engine.catalog

    @property
    def spark(self) -> SparkSession:
        return self.engine.spark

    def cursor(self) -> SparkCursor:
        if self.closed:
            raise InterfaceError("connection is closed")
        return SparkCursor(self)

    def execute(self, operation: str, parameters=None) -> SparkCursor:
        return self.cursor().execute(operation, parameters)

    def commit(self) -> None:
        pass  # ArcticDB writes are durable when their statement returns

    def rollback(self) -> None:
        pass

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.engine.close()
            if self._owned:
                self.engine.spark.stop()

    def __enter__(self) -> SparkConnection:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class SparkCursor:
    """Rows of the last statement run, as a DB-API cursor gives them."""

    arraysize = 1

    def __init__(self, connection: SparkConnection) -> None:
        self.connection = connection
        self.description: list[tuple] | None = None
        self.rowcount = -1
        self.message: str | None = None
        self._table: pa.Table | None = None
        self._position = 0

    def execute(self, operation: str, parameters: Sequence[Any] | dict[str, Any] | None = None) -> SparkCursor:
        if self.connection.closed:
            raise InterfaceError("cursor is closed")
        engine = self.connection.engine
        self.description, self.rowcount, self.message, self._table, self._position = None, -1, None, None, 0
        table, written = None, None
        for statement, bound in engine.statements(operation, parameters):
            table, written = engine.collect(statement, bound)
        if written is not None:
            self.message = str(written)
            self.rowcount = written.rows
            table = None if isinstance(written, Changed) else _written_table(written)  # DROP, DELETE: a message
        if table is not None:
            self._table = table
            self.description = [(name, str(kind), None, None, None, None, None)
                                for name, kind in zip(table.column_names, _duckdb_types(table), strict=True)]
        return self

    # -- rows ---------------------------------------------------------------------------------------------------
    def _rest(self, count: int | None = None) -> pa.Table:
        if self._table is None:
            raise ProgrammingError("no result set: execute a query first")
        end = self._table.num_rows if count is None else min(self._table.num_rows, self._position + count)
        rows = self._table.slice(self._position, end - self._position)
        self._position = end
        return rows

    def fetchone(self):
        rows = _rows(self._rest(1))
        return rows[0] if rows else None

    def fetchmany(self, size: int | None = None):
        return _rows(self._rest(self.arraysize if size is None else size))

    def fetchall(self):
        return _rows(self._rest())

    def fetch_arrow(self) -> pa.Table:
        return self._rest()

    def fetch_df(self):
        return self._rest().to_pandas()

    def fetch_record_batch(self, rows_per_batch: int = 1_000_000) -> pa.RecordBatchReader:
        rest = self._rest()
        return pa.RecordBatchReader.from_batches(rest.schema, rest.to_batches(max_chunksize=rows_per_batch))

    def interrupt(self) -> None:
        self.connection.spark.sparkContext.cancelAllJobs()

    def query_progress(self) -> float:
        return -1.0

    def close(self) -> None:
        self._table = None


def _rows(table: pa.Table) -> list[tuple]:
    """Python rows, column by column (two result columns may share a name)."""
    return list(zip(*(column.to_pylist() for column in table.columns), strict=True)) if table.num_columns else []


def _written_table(written) -> pa.Table:
    if isinstance(written, StoreResult):
        return pa.table({"library": [written.library], "symbol": [written.symbol], "version": [written.version],
                         "rows": [written.rows], "mode": [written.mode]})
    return pa.table({"file": [written.location], "rows": [written.rows]})


def _duckdb_types(table: pa.Table) -> list[str]:
    """The result's column types as DuckDB names them (what the shell shows and aligns by)."""
    return [str(kind) for kind in duckdb.from_arrow(table.slice(0, 0)).types]
