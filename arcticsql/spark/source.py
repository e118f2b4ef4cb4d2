"""``arcticdb``: a PySpark Python data source over ArcticDB (PySpark 4.1+).

    spark.dataSource.register(ArcticDataSource)             # arcticsql.spark.session() does it
    spark.read.format("arcticdb").option("uri", "s3://...").load("prices_*/AAPL")
    spark.read.format("arcticdb").option("uri", uri).option("as_of", "3").load("prices_1min/AAPL")

Options: ``uri`` (the store), and either ``path`` (``lib/sym``, ``lib.sym``, globs in either part; what
``load()`` takes) with ``as_of`` (a version number, a snapshot name or a UTC time), or ``members`` (the
pinned symbol versions, as the SQL engine passes them); ``rows_per_partition``; ``settings`` (JSON: the
arcticsql settings the workers use, such as ``nan_is_null``); ``read_log`` (a file each read is described
in, one JSON line each: tests prove pushdown with it).

The schema is the one the DuckDB engine declares (see :mod:`arcticsql.spark.tables`); a narrower schema
given with ``.schema(...)`` reads only those columns (Python data sources get no column-pruning call).
Versions are pinned once per query, when the reader is made, so every task of the query reads the same
ones. Filters and partitions: :mod:`arcticsql.spark.plan`. Spark (4.3) keeps one planned read per loaded
relation, the last pushdown's: a DataFrame from ``load()`` scanned twice with different filters (a
self-join, or one query after another) reads that plan both times, so load it again for each use (the SQL
engine gives every table reference a view of its own).

Writes (``df.write.format("arcticdb")``) stage each task's rows and leave the one finalize to the driver,
under the symbol's write lock: :mod:`arcticsql.spark.writes` drives them, and a plain ``save()`` without
its options is refused.

Everything here runs in Spark's Python workers, never in the user's process: each worker opens the store
once (:func:`worker_catalog`) and keeps it while Spark reuses the worker.
"""

from __future__ import annotations

import json
import os
import pickle
from collections.abc import Iterator
from dataclasses import dataclass, field

import pandas as pd
import pyarrow as pa
from arcticdb import ReadRequest
from pyspark.sql.datasource import DataSource, DataSourceArrowWriter, DataSourceReader, WriterCommitMessage
from pyspark.sql.types import StructType

from arcticsql.catalog import Catalog
from arcticsql.conform import conform
from arcticsql.errors import DatabaseError, ProgrammingError
from arcticsql.missing import nan_to_null
from arcticsql.sources.plan import ReadPlan, query_builder
from arcticsql.spark.errors import reported
from arcticsql.spark.plan import (
    KEY_COLUMNS,
    ROWS_PER_PARTITION,
    ArcticPartition,
    Member,
    MemberPlan,
    Piece,
    members_from_json,
    partitions,
    push_filters,
    read_calls,
)
from arcticsql.spark.tables import ArcticTable, resolve
from arcticsql.spark.types import arrow_target
from arcticsql.spark.workers import worker_catalog, worker_settings
from arcticsql.sql.names import TableName, table_name
from arcticsql.writes.frames import arrow_to_frame, cast_to_existing
from arcticsql.writes.metadata import auto_metadata

#: Rows one ArcticDB read of a task returns at most (a large piece is read in chunks).
CHUNK_ROWS = 500_000
#: Rows a writing task gathers before staging them as one chunk.
STAGE_ROWS = 500_000

def parse_path(path: str) -> TableName:
    """``lib/sym`` (the symbol may hold more '/'), or ``lib.sym``."""
    name = table_name([path]) if "/" in path else (table_name(path.split(".", 1)) if "." in path else None)
    if name is None:
        raise ProgrammingError(f"{path!r} is not a table: write library/symbol, e.g. prices_1min/AAPL or prices_*/AAPL")
    return name


def as_of_option(text: str | None):
    """The ``as_of`` option: a version number, else a point in time (naive: UTC), else a snapshot name."""
    if text is None:
        return None
    if text.strip().isdigit():
        return int(text)
    try:
        stamp = pd.Timestamp(text)
    except ValueError:
        return text
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


def _option(options, name: str, default: str | None = None) -> str | None:
    value = options.get(name)
    return default if value is None or value == "" else value


class ArcticDataSource(DataSource):
    """ArcticDB symbols, one or a wildcard's many, as a Spark table."""

    @classmethod
    def name(cls) -> str:
        return "arcticdb"

    def _catalog(self) -> Catalog:
        if "uri" not in self.options:
            raise ProgrammingError("the arcticdb data source needs the option uri (the ArcticDB store)")
        return worker_catalog(self.options["uri"], _option(self.options, "settings"))

    def schema(self) -> StructType:
        with reported():
            return _resolve(self.options, self._catalog()).schema

    def reader(self, schema: StructType) -> ArcticReader:
        with reported():
            return ArcticReader(self.options, schema)

    def writer(self, schema: StructType, overwrite: bool) -> ArcticStagingWriter:
        with reported():
            return ArcticStagingWriter(self.options, schema)


def _resolve(options, catalog: Catalog) -> ArcticTable:
    """The table the ``path`` option names at ``as_of``, its versions pinned now."""
    path = _option(options, "path")
    if path is None:
        raise ProgrammingError("the arcticdb data source reads a path: load('library/symbol')")
    return resolve(catalog, parse_path(path), as_of_option(_option(options, "as_of")))


class ArcticReader(DataSourceReader):
    """Plans one query's read (on the driver's planning worker) and reads partitions (on executors)."""

    def __init__(self, options, schema: StructType) -> None:
        if "uri" not in options:
            raise ProgrammingError("the arcticdb data source needs the option uri (the ArcticDB store)")
        self.uri = options["uri"]
        self.settings_text = _option(options, "settings")
        settings = worker_settings(self.uri, self.settings_text)
        self.nan_is_null = settings.nan_is_null
        self.schema = schema
        self.rows_per_partition = int(_option(options, "rows_per_partition", str(ROWS_PER_PARTITION)))
        self.chunk_rows = int(_option(options, "chunk_rows", str(CHUNK_ROWS)))
        self.read_log = _option(options, "read_log")
        if _option(options, "members") is not None:
            self.members = members_from_json(options["members"])
            self.wildcard = _option(options, "wildcard", "false") == "true"
        else:
            table = _resolve(options, worker_catalog(self.uri, self.settings_text))
            self.members, self.wildcard = list(table.members), table.wildcard
        self.plans = [MemberPlan() for _ in self.members]

    # -- planning (one Python worker per query, on the driver) --------------------------------------------------
    def pushFilters(self, filters):  # noqa: N802 - PySpark's name
        with reported():
            types = {f.name: f.type for f in arrow_target(self.schema)}
            pushed = push_filters(filters, self.members, types, wildcard=self.wildcard, nan_is_null=self.nan_is_null)
        self.plans = pushed.plans
        self._log({"event": "filters", "filters": pushed.notes})
        kept = {id(item) for item in pushed.kept}
        return [item for item in filters if id(item) not in kept]  # the same objects, as Spark requires

    def partitions(self):
        made = partitions(self.members, self.plans, self.rows_per_partition)
        self._log({"event": "partitions", "partitions": len(made),
                   "pieces": [[_describe(piece) for piece in partition.pieces] for partition in made],
                   "skipped": [m.label for m, p in zip(self.members, self.plans, strict=True) if p.empty]})
        return made or [ArcticPartition([])]

    # -- reading (executors) ------------------------------------------------------------------------------------
    def read(self, partition: ArcticPartition) -> Iterator[pa.RecordBatch]:
        """The partition's rows: its whole-symbol pieces (a wildcard's small symbols, date slices) with one
        ArcticDB ``read_batch`` per library (their reads overlap, which matters on object storage), a large
        symbol's row ranges in chunks."""
        catalog = worker_catalog(self.uri, self.settings_text)
        with reported(catalog.store):
            target = arrow_target(self.schema)
            batched: dict[str, list[Piece]] = {}
            for piece in partition.pieces:
                if piece.date_range is not None or (piece.row_range is None and piece.member.rows <= self.chunk_rows):
                    batched.setdefault(piece.member.library, []).append(piece)
                else:
                    yield from self._read_chunks(catalog, piece, target)
            for library, pieces_ in batched.items():
                yield from self._read_batch(catalog.library(library), pieces_, target)

    def _columns(self, member: Member, target: pa.Schema) -> list[str]:
        """The ArcticDB columns to read of a member (the index comes with any read)."""
        wanted = [f.name for f in target if not (self.wildcard and f.name in KEY_COLUMNS)]
        columns = [member.stored[c] for c in wanted if c in member.stored and c not in member.index_columns]
        if not columns and member.range_index is not None:
            values = [c for c in member.stored if c not in member.index_columns]
            columns = [member.stored[values[0]]] if values else []  # a row count needs one column
        return columns

    def _read_chunks(self, catalog: Catalog, piece: Piece, target: pa.Schema) -> Iterator[pa.RecordBatch]:
        member = piece.member
        library = catalog.library(member.library)
        columns = self._columns(member, target)
        q = query_builder(ReadPlan(clauses=piece.clauses)) if piece.clauses else None
        for call in read_calls(piece, self.chunk_rows):
            first_row = call.pop("first_row")
            table = library.read(member.symbol, as_of=member.version, columns=columns, query_builder=q,
                                 output_format="pyarrow", **call).data
            self._logged_read(member, columns, q, call, table.num_rows)
            if table.num_rows:
                yield from self.decode(table, member, target, first_row).to_batches()

    def _read_batch(self, library, pieces_: list[Piece], target: pa.Schema) -> Iterator[pa.RecordBatch]:
        requests, calls = [], []
        for piece in pieces_:
            member = piece.member
            (call,) = read_calls(piece, self.chunk_rows)
            call.pop("first_row")
            q = query_builder(ReadPlan(clauses=piece.clauses)) if piece.clauses else None
            columns = self._columns(member, target)
            requests.append(ReadRequest(member.symbol, as_of=member.version, columns=columns, query_builder=q,
                                        date_range=call.get("date_range")))
            calls.append((member, columns, q, call))
        for (member, columns, q, call), item in zip(calls, library.read_batch(requests, output_format="pyarrow"),
                                                    strict=True):
            if not hasattr(item, "data"):
                raise DatabaseError(f"reading {member.label} failed: {getattr(item, 'exception_string', item)}")
            self._logged_read(member, columns, q, call, item.data.num_rows)
            if item.data.num_rows:
                yield from self.decode(item.data, member, target, 0).to_batches()

    def _logged_read(self, member: Member, columns: list[str], q, call: dict, rows: int) -> None:
        self._log({"event": "read", "library": member.library, "symbol": member.symbol, "version": member.version,
                   "columns": columns, "query_builder": str(q) if q else None,
                   "date_range": [str(v) if v is not None else None for v in call["date_range"]]
                   if "date_range" in call else None,
                   "row_range": list(call["row_range"]) if "row_range" in call else None,
                   "rows": rows, "pid": os.getpid()})

    def decode(self, table: pa.Table, member: Member, target: pa.Schema, first_row: int) -> pa.Table:
        """ArcticDB's Arrow output in the declared shape: names, a RangeIndex as row numbers, NaN as NULL
        (unless raw NaN is kept), missing columns NULL, types as Spark takes them."""
        names, arrays = [], []
        for field_ in target:
            name = field_.name
            if member.range_index is not None and name == "index":
                start, step = member.range_index
                arrays.append(pa.array(range(start + step * first_row, start + step * (first_row + table.num_rows),
                                             step), pa.int64()))
            elif name in member.stored and member.stored[name] in table.column_names:
                column = table.column(member.stored[name])
                arrays.append(nan_to_null(column) if self.nan_is_null else column)
            else:
                continue
            names.append(name)
        shaped = pa.Table.from_arrays(arrays, names=names) if arrays else table.select([])
        constants = {"library": member.library, "symbol": member.symbol} if self.wildcard else None
        return conform(shaped, target, member.label, constants)

    def _log(self, record: dict) -> None:
        _log(self.read_log, record)


def _log(path: str | None, record: dict) -> None:
    """Describe a read or a write in the log at ``path``, if any (one JSON line, appended whole)."""
    if path:
        with open(path, "a", encoding="utf-8") as log:
            log.write(json.dumps(record, default=str) + "\n")


def _describe(piece: Piece) -> dict:
    return {"symbol": piece.member.label, "row_range": piece.row_range, "date_range": piece.date_range,
            "expected_rows": piece.expected_rows}


# -- writing ---------------------------------------------------------------------------------------------------
@dataclass
class StagedPart(WriterCommitMessage):
    """What one task staged: ArcticDB's stage results (picklable) and the automatic metadata of its rows."""

    stage_results: list = field(default_factory=list)
    metadata: list = field(default_factory=list)
    sample: object = None       # the rows' frame with no rows: columns, types and index of what was staged


class ArcticStagingWriter(DataSourceArrowWriter):
    """Each task stages its rows (sorted by the index) in ArcticDB; the commit hands every stage result to the
    driver, which finalizes them once (:mod:`arcticsql.spark.writes`); an abort deletes them."""

    def __init__(self, options, schema: StructType) -> None:
        for required in ("uri", "library", "symbol", "handoff"):
            if required not in options:
                raise ProgrammingError("write ArcticDB symbols from Spark with arcticsql.spark.sql(spark, \"COPY "
                                       "(...) TO 'arctic://library/symbol'\"): it finalizes the write under the "
                                       "symbol's lock")
        self.uri = options["uri"]
        self.settings_text = _option(options, "settings")
        self.library = options["library"]
        self.symbol = options["symbol"]
        self.index = _option(options, "index")
        self.handoff = options["handoff"]
        self.read_log = _option(options, "read_log")
        self.cast = _option(options, "cast_to_existing", "false") == "true"
        catalog = worker_catalog(self.uri, self.settings_text)
        lib = catalog.library(self.library)
        self.existing = catalog.layout(self.library, self.symbol) if lib.has_symbol(self.symbol) else None

    def write(self, iterator) -> StagedPart:
        catalog = worker_catalog(self.uri, self.settings_text)
        part = StagedPart()
        with reported(catalog.store):
            lib = catalog.library(self.library)
            try:
                pending: list[pa.RecordBatch] = []
                rows = 0
                for batch in iterator:
                    if not batch.num_rows:
                        continue
                    pending.append(batch)
                    rows += batch.num_rows
                    if rows >= STAGE_ROWS:
                        pending, rows = self._stage(lib, pending, part, final=False)
                if pending:
                    self._stage(lib, pending, part, final=True)
            except BaseException:
                if part.stage_results:  # this attempt's own chunks (Spark may try the task again)
                    lib.delete_staged_data(part.stage_results)
                raise
        return part

    def _stage(self, lib, batches: list[pa.RecordBatch], part: StagedPart, *, final: bool):
        """Stage the gathered rows, but for the last index value's rows unless ``final``: chunks then never
        share an index value, so the driver's finalize takes them in order without sorting."""
        table = pa.Table.from_batches(batches)
        held = pa.Table.from_batches([], schema=table.schema)
        if not final and self.index:
            index = table.column(self.index)
            last = index[-1]
            keep = len(index)
            while keep and index[keep - 1] == last:
                keep -= 1
            if keep:  # all rows sharing one index value: stage them all
                table, held = table.slice(0, keep), table.slice(keep)
        if self.cast and self.existing is not None:
            table = cast_to_existing(table, self.existing)
        frame = arrow_to_frame(table, index=self.index, existing=self.existing)
        part.stage_results.append(lib.stage(self.symbol, frame, validate_index=True, sort_on_index=False))
        part.metadata.append(auto_metadata(frame))
        _log(self.read_log, {"event": "stage", "library": self.library, "symbol": self.symbol, "rows": len(frame),
                             "pid": os.getpid()})
        if part.sample is None:
            part.sample = frame.iloc[:0]
        return list(held.to_batches()), held.num_rows

    def commit(self, messages) -> None:
        staged = [m for m in messages if m is not None]
        with open(self.handoff, "wb") as handoff:  # read by the driver, which finalizes
            pickle.dump(staged, handoff)

    def abort(self, messages) -> None:
        results = [r for m in messages if m is not None for r in m.stage_results]
        if results:
            worker_catalog(self.uri, self.settings_text).library(self.library).delete_staged_data(results)
