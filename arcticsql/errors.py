"""PEP 249 exception hierarchy, and the mapping of DuckDB, ArcticDB and storage errors onto it.

Every error a user can provoke with a statement surfaces as one of these, with a one-line message;
the REPL and CLI print ``str(error)`` and never a traceback.
"""

from __future__ import annotations

import difflib
import threading
from collections import deque
from collections.abc import Callable, Iterable


class Warning(Exception):  # noqa: A001 - the name is fixed by PEP 249
    """Important warnings, such as data truncation."""


class Error(Exception):
    """Base of every arcticsql error."""


class InterfaceError(Error):
    """Misuse of the interface: a closed cursor or connection, a bad parameter list."""


class DatabaseError(Error):
    """Errors reported by the database (DuckDB or ArcticDB)."""


class DataError(DatabaseError):
    """A value cannot be processed: out of range, wrong type, unsupported column type."""


class OperationalError(DatabaseError):
    """The store cannot be reached or an operation was interrupted."""


class PlanOutdated(OperationalError):
    """A statement was planned with what a read then proved out of date; the statement is planned again
    (by the session, or by the cursor when no row had been fetched yet)."""


class Interrupted(OperationalError):
    """The statement was interrupted (``Cursor.interrupt``, Ctrl-C) while it waited on work DuckDB does not
    see, such as pickle files loading."""


class SchemaGrew(PlanOutdated):
    """A scan met columns (or wider types) its table's declared schema lacks (a pickle file its folder's
    sample does not describe); they are known now, and the statement planned again declares them."""


class SymbolChanged(PlanOutdated):
    """Symbols planned at their last seen versions have newer ones (or are gone): the statement is planned
    again with them (raised by the read that found them; one statement never mixes two versions).
    ``changes``: (library, symbol, version now or None when deleted) for each."""

    def __init__(self, changes: list[tuple[str, str, int | None]]) -> None:
        library, symbol, version = changes[0]
        now = "it was deleted" if version is None else f"now version {version}"
        more = f", and {len(changes) - 1} more" if len(changes) > 1 else ""
        super().__init__(f"{library}/{symbol} changed while the statement was planned ({now}){more}")
        self.changes = list(changes)


class IndexNotMicroseconds(PlanOutdated):
    """A symbol version's timestamp index, declared ``TIMESTAMP``, has a value that is not a whole
    microsecond: it is declared ``TIMESTAMP_NS`` and the statement planned again (nothing is rounded)."""

    def __init__(self, library: str, symbol: str, version: int) -> None:
        super().__init__(f"{library}/{symbol} version {version} has index values finer than a microsecond")
        self.library, self.symbol, self.version = library, symbol, version


class StorageError(OperationalError):
    """A pickle store operation failed (seed 003's error type); the message names the file or folder."""


class IntegrityError(DatabaseError):
    """A write would break the store's integrity (overlapping append, unsorted index)."""


class InternalError(DatabaseError):
    """The database is in an unexpected state."""


class ProgrammingError(DatabaseError):
    """A bad statement: syntax errors, unknown libraries, symbols, versions or columns."""


class NotSupportedError(DatabaseError):
    """A feature that arcticsql or the store does not support."""


def suggest(name: str, candidates: Iterable[str], limit: int = 3) -> str:
    """'; did you mean X, Y?' for close matches of ``name``, or ''."""
    close = difflib.get_close_matches(name, list(candidates), n=limit, cutoff=0.6)
    if not close:
        lowered = name.lower()
        close = [c for c in candidates if c.lower() == lowered][:limit]
    return f"; did you mean {', '.join(close)}?" if close else ""


def _duckdb_mapping() -> list[tuple[type, type]]:
    import duckdb

    return [
        (duckdb.ParserException, ProgrammingError),
        (duckdb.BinderException, ProgrammingError),
        (duckdb.CatalogException, ProgrammingError),
        (duckdb.SyntaxException, ProgrammingError),
        (duckdb.InvalidInputException, ProgrammingError),
        (duckdb.ConversionException, DataError),
        (duckdb.OutOfRangeException, DataError),
        (duckdb.ConstraintException, IntegrityError),
        (duckdb.InterruptException, OperationalError),
        (duckdb.IOException, OperationalError),
        (duckdb.NotImplementedException, NotSupportedError),
        (duckdb.InternalException, InternalError),
        (duckdb.ProgrammingError, ProgrammingError),
        (duckdb.DataError, DataError),
        (duckdb.IntegrityError, IntegrityError),
        (duckdb.OperationalError, OperationalError),
        (duckdb.NotSupportedError, NotSupportedError),
        (duckdb.InternalError, InternalError),
        (duckdb.DatabaseError, DatabaseError),
        (duckdb.Error, DatabaseError),
    ]


#: exceptions raised while a scan source produced batches for DuckDB, newest last (see remember_stream_failure)
_stream_failures: deque[BaseException] = deque(maxlen=8)
_stream_failures_lock = threading.Lock()

#: where DuckDB's report of a failed Arrow stream starts quoting the Python traceback
_PYTHON_DETAIL = ". Detail: Python exception:"


def remember_stream_failure(error: BaseException) -> None:
    """Keep ``error``, raised while DuckDB opened or read a scan source: DuckDB rewords it ("exporting a
    stream from the object registered as '<name>' failed: ..." or "reading the stream ... failed: ...
    Detail: Python exception: <traceback>"), and :func:`translate` gives the original back instead."""
    with _stream_failures_lock:
        _stream_failures.append(error)


def _stream_failure(error: BaseException) -> BaseException | None:
    """The remembered exception DuckDB's ``error`` reports, taken off the list; None if there is none."""
    text = str(error)
    with _stream_failures_lock:
        for remembered in reversed(_stream_failures):
            message = str(remembered)
            if message and message in text:
                _stream_failures.remove(remembered)
                return remembered
    return None


def translate(error: BaseException, store_failure: Callable[[BaseException], Error | None] | None = None,
              words: Callable[[str], str] | None = None) -> Error:
    """The arcticsql error for an exception raised by DuckDB, ArcticDB, the storage layer or sqlglot.

    ``store_failure(error)``: the error for an ArcticDB store that failed to answer (unreachable, timed out,
    access denied), naming the store; None for other errors (see ``arcticsql.catalog.arctic.Store``).
    ``words`` puts a DuckDB message in the user's words (see :mod:`arcticsql.engine.user_errors`); without
    it the message is joined onto one line."""
    if isinstance(error, Error):
        return error
    original = _stream_failure(error)
    if original is not None:
        return translate(original, store_failure, words)
    for source, target in _duckdb_mapping():
        if isinstance(error, source):
            if words is not None:
                return target(words(str(error).split(_PYTHON_DETAIL)[0]))
            return target(_first_line(error).split(_PYTHON_DETAIL)[0])
    module = type(error).__module__ or ""
    if module.startswith("arcticdb"):
        described = store_failure(error) if store_failure is not None else None
        return described if described is not None else _arcticdb_error(error)
    if module.startswith("sqlglot"):
        return ProgrammingError(f"syntax error: {_first_line(error)}")
    if isinstance(error, KeyboardInterrupt):
        return OperationalError("interrupted")
    return DatabaseError(f"{type(error).__name__}: {_first_line(error)}")


def _arcticdb_error(error: BaseException) -> Error:
    name = type(error).__name__
    text = _first_line(error)
    if "NoSuchVersion" in name or "NoDataFound" in name or "No version" in text:
        return ProgrammingError(text)
    if "Schema" in name or "Normalization" in name or "SortingException" in name:
        return DataError(text)
    if "Storage" in name or "Permission" in name:
        return OperationalError(text)
    return DatabaseError(f"ArcticDB: {text}")


def one_line(error: BaseException | str, limit: int = 300) -> str:
    """An error's text on one line of at most ``limit`` characters (it may quote a file's bytes)."""
    text = " ".join(str(error).split())
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _first_line(error: BaseException) -> str:
    """The error's message on one line (DuckDB's multi-line messages are joined)."""
    text = str(error).strip() or type(error).__name__
    return " ".join(line.strip() for line in text.splitlines() if line.strip())
