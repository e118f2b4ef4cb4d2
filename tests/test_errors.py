"""errors.translate on DuckDB's report of a scan source that failed while DuckDB read its batches."""

from __future__ import annotations

import duckdb
import pyarrow as pa
import pytest

import arcticsql
from arcticsql.errors import OperationalError, ProgrammingError, translate
from arcticsql.pickles.backends.base import StorageError
from arcticsql.sources.protocol import ScanSource, export_batches

SCHEMA = pa.schema([("x", pa.int64())])


class FailingSource(ScanSource):
    """Two batches, then ``error``."""

    def __init__(self, error: Exception) -> None:
        super().__init__()
        self.error = error

    def __arrow_c_schema__(self) -> object:
        return SCHEMA.__arrow_c_schema__()

    def accepts(self, predicate) -> bool:
        return False

    def stream(self, columns, filters):
        def batches():
            yield pa.record_batch([pa.array([1, 2])], schema=SCHEMA)
            yield pa.record_batch([pa.array([3])], schema=SCHEMA)
            raise self.error

        return export_batches(SCHEMA, batches()), True


def _duckdb_error(source: ScanSource) -> duckdb.Error:
    con = duckdb.connect()
    con.register("t", source)
    with pytest.raises(duckdb.Error) as raised:
        con.execute("SELECT sum(x) FROM t").fetchall()
    return raised.value


def test_a_failure_while_streaming_comes_back_as_the_sources_own_error():
    error = _duckdb_error(FailingSource(StorageError("gs://b/f.pkl: the object changed while it was read")))
    assert "Python exception" in str(error)  # what DuckDB says, traceback and all
    translated = translate(error)
    assert isinstance(translated, OperationalError)
    assert str(translated) == "gs://b/f.pkl: the object changed while it was read"


def test_an_arcticsql_error_raised_while_streaming_keeps_its_class():
    translated = translate(_duckdb_error(FailingSource(arcticsql.ProgrammingError("no such column"))))
    assert type(translated) is ProgrammingError and str(translated) == "no such column"


def test_a_stream_failure_not_remembered_loses_the_traceback():
    error = duckdb.InvalidInputException(
        "Invalid Input Error: reading the stream registered as 't' failed: Unknown error: boom. "
        "Detail: Python exception: Traceback (most recent call last):\n  File \"x.py\", line 1\nValueError: boom")
    translated = translate(error)
    assert isinstance(translated, ProgrammingError)
    assert str(translated) == "Invalid Input Error: reading the stream registered as 't' failed: Unknown error: boom"
