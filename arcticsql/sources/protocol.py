"""The one place arcticsql touches duckdb's private Arrow scan protocol (``duckdb._sources``, duckdb 2.0).

A source subclasses :class:`ScanSource` and implements ``__arrow_c_schema__``, ``rows``, ``accepts`` and
``scan`` (DuckDB's ``stream``); ``con.register(name, source)`` then hands DuckDB the object itself, and DuckDB offers it the
projection and the filters it may apply (see DESIGN.md, "Pushdown"). Everything imported from duckdb's
private package is re-exported from here, so a duckdb upgrade that changes it breaks one module, and
``tests/test_protocol.py`` says so loudly.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence

import pyarrow as pa
from duckdb._sources.arrow import ArrowScanSource
from duckdb._sources.nodes import Binary, Col, In, Lit, Node, Postfix, Unary, Untranslatable
from duckdb._sources.to_arrow import to_arrow

from arcticsql.errors import remember_stream_failure

__all__ = [
    "Binary", "Col", "In", "Lit", "Node", "Postfix", "ScanSource", "Unary", "Untranslatable", "export_batches",
    "to_arrow",
]


class ScanSource(ArrowScanSource):
    """Base of arcticsql's lazy tables.

    DuckDB requires the registered object to be an ``ArrowScanSource`` *and* to export
    ``__arrow_c_stream__`` (the fallback used by routes that do not speak the protocol). Subclasses keep
    no per-query state: ``stream`` may run concurrently for two scans of the same table.
    """

    def __init__(self) -> None:
        super().__init__(self)

    def prepare(self) -> None:
        """Called once before the source is registered: work deferred until it is known to be needed (a
        source whose key finds one already registered is dropped unprepared)."""

    def scan(self, columns: Sequence[int] | None, filters: Sequence[Node]) -> tuple[object, bool]:
        """The rows for DuckDB's projection ``columns`` and accepted ``filters``: an Arrow C stream, and
        whether it is already narrowed to ``columns``."""
        raise NotImplementedError

    def stream(self, columns: Sequence[int] | None, filters: Sequence[Node]) -> tuple[object, bool]:
        """DuckDB's call: :meth:`scan`, with a failure remembered so that the user sees it as raised
        (DuckDB would reword it and name the registered object)."""
        try:
            return self.scan(columns, filters)
        except Exception as error:
            remember_stream_failure(error)
            raise

    def __arrow_c_stream__(self, requested_schema: object | None = None) -> object:
        capsule, _narrowed = self.stream(None, [])
        return capsule


def export_batches(schema: pa.Schema, batches: Iterable[pa.RecordBatch]) -> object:
    """``batches`` as the Arrow C stream a source's ``stream`` returns. An exception raised while they are
    made is remembered, so that the error the user sees is that exception, not DuckDB's rewording of it
    with a Python traceback (see :func:`arcticsql.errors.translate`)."""
    return pa.RecordBatchReader.from_batches(schema, _remembering(batches)).__arrow_c_stream__()


def _remembering(batches: Iterable[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    try:
        yield from batches
    except Exception as error:
        remember_stream_failure(error)
        raise
