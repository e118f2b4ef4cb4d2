"""arcticsql: SQL over an ArcticDB quant research store and pickle datasets, on DuckDB.

    >>> import arcticsql
    >>> conn = arcticsql.connect(uri="mem://", config={})    # default: config/config.yaml, $ARCTICSQL_URI
    >>> cur = conn.cursor()
    >>> cur.execute("SELECT ? + 1 AS answer", [41]).fetchall()
    [(42,)]
    >>> conn.close()

PEP 249 module interface: ``connect``, ``apilevel``, ``threadsafety``, ``paramstyle``, the exception
hierarchy and the type objects.
"""

from __future__ import annotations

import datetime as _datetime

from arcticsql.config import Settings, load_settings
from arcticsql.dbapi import Connection, Cursor, connect
from arcticsql.errors import (
    DatabaseError,
    DataError,
    Error,
    IntegrityError,
    InterfaceError,
    InternalError,
    NotSupportedError,
    OperationalError,
    ProgrammingError,
    Warning,  # noqa: A004 - PEP 249 name
)

__version__ = "0.1.0"


apilevel = "2.0"
threadsafety = 1          # threads may share the module, not connections
paramstyle = "qmark"      # '?'; '$1' and '$name' (with a dict) also work


class _TypeSet(frozenset):
    """A PEP 249 type object: equal to every DuckDB type name in the set."""

    def __eq__(self, other: object) -> bool:
        if isinstance(other, str):
            base = other.split("(")[0].upper()
            return base in self
        return frozenset.__eq__(self, other)

    def __hash__(self) -> int:
        return frozenset.__hash__(self)


STRING = _TypeSet({"VARCHAR", "CHAR", "TEXT", "STRING", "UUID", "ENUM"})
BINARY = _TypeSet({"BLOB", "BYTEA", "BIT"})
NUMBER = _TypeSet({"TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT",
                   "UINTEGER", "UBIGINT", "UHUGEINT", "FLOAT", "DOUBLE", "DECIMAL", "BOOLEAN",
                   "NUMBER", "bool", "NUMERIC"})
DATETIME = _TypeSet({"DATE", "TIME", "TIMESTAMP", "TIMESTAMP WITH TIME ZONE", "TIMESTAMP_NS", "TIMESTAMP_MS",
                     "TIMESTAMP_S", "INTERVAL", "TIME WITH TIME ZONE", "DATETIME"})
ROWID = _TypeSet({"ROWID"})

Date = _datetime.date
Time = _datetime.time
Timestamp = _datetime.datetime


def DateFromTicks(ticks: float) -> _datetime.date:  # noqa: N802 - PEP 249 name
    return _datetime.date.fromtimestamp(ticks)


def TimeFromTicks(ticks: float) -> _datetime.time:  # noqa: N802
    return _datetime.datetime.fromtimestamp(ticks).time()


def TimestampFromTicks(ticks: float) -> _datetime.datetime:  # noqa: N802
    return _datetime.datetime.fromtimestamp(ticks)


def Binary(value) -> bytes:  # noqa: N802
    return bytes(value)


__all__ = [
    "BINARY", "DATETIME", "NUMBER", "ROWID", "STRING", "Binary", "Connection", "Cursor", "DataError",
    "DatabaseError", "Date", "DateFromTicks", "Error", "IntegrityError", "InterfaceError", "InternalError",
    "NotSupportedError", "OperationalError", "ProgrammingError", "Settings", "Time", "TimeFromTicks",
    "Timestamp", "TimestampFromTicks", "Warning", "apilevel", "connect", "load_settings", "paramstyle",
    "threadsafety",
]


def load_ipython_extension(ipython) -> None:
    """``%load_ext arcticsql``: the ``%sql`` and ``%%sql`` magics (IPython is imported only here)."""
    from arcticsql.cli.magics import load_ipython_extension as load  # IPython: an optional dependency

    load(ipython)
