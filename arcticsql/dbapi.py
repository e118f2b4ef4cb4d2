"""PEP 249 (DB-API 2.0) Connection and Cursor over a :class:`~arcticsql.engine.session.Session`.

Each cursor owns a DuckDB connection on the session's database, so registered ArcticDB sources and
pending results of one cursor never disturb another; tables created with plain ``CREATE TABLE`` are shared
by all cursors of a connection, ``CREATE TEMP TABLE`` is private to its cursor (DuckDB's own rule).
ArcticDB writes are durable when the statement returns: ``commit`` and ``rollback`` apply to DuckDB's
own tables only.
"""

from __future__ import annotations

import os
import warnings
import weakref
from collections.abc import Iterator, Sequence
from typing import Any

import arcticsql.errors as errors
from arcticsql.config import ConfigError, load_settings
from arcticsql.engine.session import Session
from arcticsql.engine.statements import MAX_REPLANS, execute, explain_statement
from arcticsql.errors import InterfaceError, PlanOutdated, ProgrammingError, translate
from arcticsql.sql.tokens import split_statements


def connect(uri: str | None = None, config: str | os.PathLike | dict | None = None) -> Connection:
    """Open an arcticsql connection.

    ``uri``: an ArcticDB URI (``lmdb://./data/arctic_storage``, ``mem://``, ``s3://...``), overriding the
    config file and ``$ARCTICSQL_URI``. ``config``: a YAML path or a dict; default ``$ARCTICSQL_CONFIG``,
    then ``./config/config.yaml``, then built-in defaults.
    """
    try:
        settings = load_settings(config, uri)
    except ConfigError as error:
        raise InterfaceError(str(error)) from None
    return Connection(Session(settings))


#: Fetch methods that produce Arrow, for which DuckDB warns about an extra copy.
_ARROW_METHODS = frozenset({"to_arrow_table", "to_arrow_reader"})


class Cursor:
    """A DB-API cursor; also ``fetch_df()`` and ``fetch_arrow()`` like DuckDB's own."""

    def __init__(self, connection: Connection) -> None:
        self.connection = connection
        self._duck = connection.session.new_duck_connection()
        self.arraysize = 1
        self.rowcount = -1
        self.description: list[tuple] | None = None
        self.message: str | None = None
        self.notes: tuple[str, ...] = ()
        self._has_result = False
        self._closed = False
        self._rerunnable: tuple | None = None  # (operation, parameters) while nothing has been fetched

    # -- execution --------------------------------------------------------------------------------------
    def execute(self, operation: str, parameters: Sequence[Any] | dict[str, Any] | None = None) -> Cursor:
        self._check_open()
        self.description, self.rowcount, self.message, self._has_result = None, -1, None, False
        self._rerunnable, self.notes = None, ()
        outcome = execute(self.connection.session, self._duck, operation, parameters)
        if outcome.has_result and len(split_statements(operation)) == 1:
            self._rerunnable = (operation, parameters)
        self.rowcount = outcome.rowcount
        self.message = outcome.message
        #: What a write wants the user to know beside its result (a column stored as DOUBLE, say).
        self.notes = tuple(getattr(outcome.extra.get("store"), "notes", ()))
        self._has_result = outcome.has_result
        if outcome.has_result:
            try:
                self.description = _description(self._duck.description)
            except Exception as error:
                raise translate(error) from error
        return self

    def explain(self, operation: str, parameters: Sequence[Any] | dict[str, Any] | None = None, *,
                analyze: bool = False) -> list[dict[str, Any]]:
        """What one statement asks of ArcticDB, per ArcticDB table, as data (what ``EXPLAIN`` shows in its
        ``arcticdb`` rows): library, symbol or pattern and members, versions, columns, ``date_range``,
        ``query_builder``, ``filter_after_read``, ``duckdb_filter``, ``limit``, the planned reads. With
        ``analyze`` (or ``EXPLAIN ANALYZE`` in ``operation``) the statement runs and each entry adds
        ``reads_made``, ``rows_read``/``rows_total``, ``segments_read``/``segments_total`` and
        ``arcticdb_ms``. The cursor's result is left as it was."""
        self._check_open()
        statements = split_statements(operation)
        if len(statements) != 1:
            raise ProgrammingError("explain takes exactly one statement")
        duck = self.connection.session.new_duck_connection()  # this cursor's pending result stays
        try:
            return explain_statement(self.connection.session, duck, statements[0].text, parameters, analyze).tables
        finally:
            self.connection.session.forget(duck)
            duck.close()

    def executemany(self, operation: str, seq_of_parameters) -> Cursor:
        self._check_open()
        total = 0
        for parameters in seq_of_parameters:
            self.execute(operation, parameters)
            if self.rowcount >= 0:
                total += self.rowcount
        self.rowcount = total if total else -1
        self.description, self._has_result = None, False
        return self

    # -- fetching ----------------------------------------------------------------------------------------
    def fetchone(self):
        self._check_result()
        return self._call("fetchone")

    def fetchmany(self, size: int | None = None):
        self._check_result()
        return self._call("fetchmany", self.arraysize if size is None else size)

    def fetchall(self):
        self._check_result()
        return self._call("fetchall")

    def fetch_df(self):
        """The remaining rows as a pandas DataFrame."""
        self._check_result()
        return self._call("fetch_df")

    fetchdf = fetch_df

    def fetch_arrow(self):
        """The remaining rows as a pyarrow Table."""
        self._check_result()
        return self._call("to_arrow_table")

    def fetch_record_batch(self, rows_per_batch: int = 1_000_000):
        """The remaining rows as a pyarrow RecordBatchReader (streamed)."""
        self._check_result()
        return self._call("to_arrow_reader", rows_per_batch)

    def __iter__(self) -> Iterator[tuple]:
        while True:
            row = self.fetchone()
            if row is None:
                return
            yield row

    # -- DB-API odds and ends -------------------------------------------------------------------------
    def setinputsizes(self, sizes) -> None:
        pass

    def setoutputsize(self, size, column=None) -> None:
        pass

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self.connection.session.forget(self._duck)
            try:
                self._duck.close()
            except Exception:  # noqa: BLE001 - closing twice or after the session is fine
                pass

    def interrupt(self) -> None:
        """Cancel the statement running on this cursor (from another thread): DuckDB's work and any pickle
        files it is loading; the statement fails with OperationalError and the cursor stays usable."""
        self.connection.session.interrupt(self._duck)

    def query_progress(self) -> float:
        """Percent done of the running statement, -1 when unknown."""
        return self._duck.query_progress()

    def __del__(self) -> None:
        # A cursor dropped without close() (conn.execute(...) returns one) releases its DuckDB connection.
        try:
            self.close()
        except Exception:  # noqa: BLE001 - the session may already be gone at interpreter exit
            pass

    def __enter__(self) -> Cursor:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @property
    def closed(self) -> bool:
        return self._closed or self.connection.closed

    def _call(self, method: str, *args):
        for _attempt in range(MAX_REPLANS):
            try:
                result = self._fetch(method, *args)
            except PlanOutdated as outdated:
                # Rows stream: what proves a plan out of date (a pickle file with columns its folder's sample
                # lacked, an index finer than a microsecond) can turn up while they are fetched, not while
                # the query runs. Nothing fetched yet, the query is planned again and runs again.
                if self._rerunnable is None:
                    raise
                self.connection.session.plan_again(outdated, self._rerunnable[0], set())
                self.execute(*self._rerunnable)
                continue
            self._rerunnable = None
            return result
        return self._fetch(method, *args)

    def _fetch(self, method: str, *args):
        try:
            if method not in _ARROW_METHODS:
                return getattr(self._duck, method)(*args)
            with warnings.catch_warnings():
                # DuckDB notes that Arrow output of an executed result copies once more than its relation
                # API; measured at par with hand-written code (docs/performance.md), so stay quiet.
                warnings.filterwarnings("ignore", message="Arrow output on a DB-API result", category=UserWarning)
                return getattr(self._duck, method)(*args)
        except Exception as error:
            # an error while rows stream (a cast failing at run time) names the user's tables too
            session = self.connection.session
            raise translate(error, session.store.failure, session.words()) from error

    def _check_open(self) -> None:
        if self.closed:
            raise InterfaceError("cursor is closed")

    def _check_result(self) -> None:
        self._check_open()
        if not self._has_result:
            raise ProgrammingError("no result set: execute a query first")


class Connection:
    """A DB-API connection: one DuckDB database over one ArcticDB store."""

    # PEP 249's optional extension: the exception classes as attributes of the connection
    Warning = errors.Warning
    Error = errors.Error
    InterfaceError = errors.InterfaceError
    DatabaseError = errors.DatabaseError
    DataError = errors.DataError
    OperationalError = errors.OperationalError
    IntegrityError = errors.IntegrityError
    InternalError = errors.InternalError
    ProgrammingError = errors.ProgrammingError
    NotSupportedError = errors.NotSupportedError

    def __init__(self, session: Session) -> None:
        self.session = session
        # Weak: a cursor dropped without close() is collected (its DuckDB connection with it).
        self._cursors: weakref.WeakSet[Cursor] = weakref.WeakSet()

    @property
    def closed(self) -> bool:
        return self.session.closed

    @property
    def catalog(self):
        return self.session.catalog

    def cursor(self) -> Cursor:
        if self.closed:
            raise InterfaceError("connection is closed")
        cursor = Cursor(self)
        self._cursors.add(cursor)
        return cursor

    def execute(self, operation: str, parameters=None) -> Cursor:
        """Shortcut: execute on a new cursor and return it (as sqlite3 and DuckDB do)."""
        return self.cursor().execute(operation, parameters)

    def sql(self, query: str, parameters=None):
        """The result of ``query`` as a pandas DataFrame."""
        with self.cursor() as cursor:
            return cursor.execute(query, parameters).fetch_df()

    def commit(self) -> None:
        self._finish_transactions("commit")

    def rollback(self) -> None:
        self._finish_transactions("rollback")

    def _finish_transactions(self, verb: str) -> None:
        """Commit or roll back DuckDB's open transaction on every cursor (ArcticDB writes are already
        durable)."""
        if self.closed:
            raise InterfaceError("connection is closed")
        for cursor in list(self._cursors):
            if not cursor.closed:
                _finish_transaction(cursor._duck, verb)

    def close(self) -> None:
        if self.closed:
            return
        for cursor in list(self._cursors):
            cursor.close()
        self._cursors.clear()
        self.session.close()

    def interrupt(self) -> None:
        for cursor in list(self._cursors):
            if not cursor.closed:
                cursor.interrupt()

    def __enter__(self) -> Connection:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None and not self.closed:
            self.commit()
        self.close()


def _finish_transaction(duck, verb: str) -> None:
    try:
        getattr(duck, verb)()
    except Exception as error:
        if "no transaction is active" not in str(error):
            raise translate(error) from error


def _description(raw) -> list[tuple] | None:
    if raw is None:
        return None
    return [(name, str(type_code), None, None, None, None, None) for name, type_code, *_ in raw]
