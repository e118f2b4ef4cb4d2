"""Errors on the Spark engine, in the user's words: one line, no traceback, no internal name, no secret.

An error in a Spark Python worker (reading ArcticDB, staging a write) reaches the driver as the text of a
Python traceback wrapped in a JVM exception. Workers therefore raise :class:`WorkerError`, whose message
carries the arcticsql error's class and its one-line message behind a marker (``[arcticsql:DataError] ...``),
with credentials redacted; :func:`from_spark` finds it again. Spark's own errors (analysis, parsing,
arithmetic) lose their error class, SQLSTATE and plan, and the temp view names become what the user wrote.

    >>> str(from_spark(RuntimeError("Traceback ...\\nWorkerError: [arcticsql:DataError] bad value\\n  at ...")))
    'bad value'
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator, Mapping

import arcticsql.errors as errors
from arcticsql.catalog.arctic import redact
from arcticsql.errors import Error, translate

_MARKED = re.compile(r"\[arcticsql:(\w+)\] ([^\n]*)")
_ERROR_CLASS = re.compile(r"^\s*\[[A-Z0-9_.]+\]\s*")
_SQLSTATE = re.compile(r"\s*SQLSTATE: \w+.*$")
_PYTHON_WORKER = "An exception was thrown from the Python worker"
_JAVA_CLASS = re.compile(r"^([a-z0-9_]+\.)+[A-Za-z0-9_$]+(Exception|Error): ")

#: Spark's exception class names, and the arcticsql error each one is.
_KINDS = {
    "ParseException": errors.ProgrammingError,
    "AnalysisException": errors.ProgrammingError,
    "ArithmeticException": errors.DataError,
    "NumberFormatException": errors.DataError,
    "DateTimeException": errors.DataError,
    "ArrayIndexOutOfBoundsException": errors.DataError,
    "IllegalArgumentException": errors.ProgrammingError,
    "UnsupportedOperationException": errors.NotSupportedError,
}


class WorkerError(Exception):
    """An arcticsql error raised in a Spark Python worker, carried to the driver as text."""


def worker_error(error: BaseException, store=None) -> WorkerError:
    """The :class:`WorkerError` to raise in a worker for ``error`` (``store``: the ArcticDB store read, to
    describe a store that did not answer)."""
    translated = translate(error, store.failure if store is not None else None)
    text = redact(" ".join(str(translated).split()))
    return WorkerError(f"[arcticsql:{type(translated).__name__}] {text}")


@contextlib.contextmanager
def reported(store=None) -> Iterator[None]:
    """Raise any failure inside the block as a :class:`WorkerError` (in a worker)."""
    try:
        yield
    except WorkerError:
        raise
    except Exception as error:  # noqa: BLE001 - every failure reaches the driver as one line
        raise worker_error(error, store) from None


def from_spark(error: BaseException, names: Mapping[str, str] | None = None) -> Error:
    """The arcticsql error for an exception a Spark call raised; ``names``: temp view names -> the user's
    table names."""
    if isinstance(error, Error):
        return error
    text = str(error)
    marked = _MARKED.findall(text)
    if marked:
        kind, message = marked[-1]
        cls = getattr(errors, kind, None)
        cls = cls if isinstance(cls, type) and issubclass(cls, Error) else errors.DatabaseError
        return cls(redact(message.strip()))
    kind = next((cls for name, cls in _KINDS.items() if name in type(error).__name__), None)
    if kind is None:
        kind = errors.OperationalError if _PYTHON_WORKER in text else errors.DatabaseError
    return kind(user_message(text, names))


def user_message(text: str, names: Mapping[str, str] | None = None) -> str:
    """Spark's message as one line: its first, without the error class, SQLSTATE and plan; view names
    replaced by the user's names; credentials redacted."""
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    if len(lines) > 1 and lines[0].startswith("An error occurred while calling"):  # py4j: the JVM's message next
        lines = [_JAVA_CLASS.sub("", lines[1].lstrip(": "))]
    if lines and lines[0].startswith(_PYTHON_WORKER):
        lines = [line for line in lines if not line.startswith(("Traceback", "File ", _PYTHON_WORKER))][-1:] or lines
    first = lines[0] if lines else "Spark failed"
    first = _SQLSTATE.sub("", _ERROR_CLASS.sub("", first)).rstrip(" .;") + ("" if first.endswith(".") else "")
    for name, shown in sorted((names or {}).items(), key=lambda item: -len(item[0])):
        first = re.sub(r"(`?spark_catalog`?\.`?default`?\.)?`?(?<![\w])" + re.escape(name) + r"(?![\w])`?",
                       shown, first)
    return redact(first)
