"""Store commands on the Spark engine: ``COPY (...) TO 'arctic://lib/sym'``, ``INSERT INTO lib.sym``,
``CREATE TABLE lib.sym AS``, ``COPY (...) TO 'pkl://...'``, ``DROP TABLE`` and ``DELETE``.

They run as on the DuckDB engine (:func:`arcticsql.writes.commands.run_store_command`: options, routing,
modes, metadata, checks, an INSERT's columns met by name or position), with Spark running the queries. A
write (``MODE 'write'``) or append whose rows have one timestamp index column runs in parallel, with
ArcticDB's staged writes:

1. the query's rows are range-partitioned and sorted by the index (rows with one index value stay in one
   task), after one pass that finds NULLs where ArcticDB cannot store them (an index, a boolean; an
   integer column with NULLs is stored as DOUBLE, as on DuckDB);
2. each task stages its rows in chunks that never share an index value (:class:`~arcticsql.spark.source.
   ArcticStagingWriter`) and reports the chunks and their automatic metadata;
3. the driver finalizes them once, in index order, under the symbol's write lock, checking an append as
   the DuckDB engine does (:func:`arcticsql.writes.arctic.store_staged`).

A failed task deletes its own chunks, a failed job the chunks of the tasks that finished, a failed finalize
all of them: the symbol's previous version stays the latest, unchanged. Anything else (``MODE 'update'``,
another index, pickle files) runs the query on Spark and writes its collected result as the DuckDB engine
does.
"""

from __future__ import annotations

import os
import pickle
import shutil
import tempfile
from dataclasses import replace
from typing import Any

import pyarrow as pa
from pyspark.sql import DataFrame
from pyspark.sql import functions as F  # noqa: N812 - PySpark's own convention

from arcticsql.errors import DataError, ProgrammingError
from arcticsql.spark.startup import errors_unlogged
from arcticsql.spark.types import arrow_target
from arcticsql.sql.commands import StoreCommand
from arcticsql.sql.references import parse_statement
from arcticsql.sql.tokens import split_statements
from arcticsql.writes.arctic import StoreResult, store_frame, store_staged
from arcticsql.writes.commands import Changed, Target, run_store_command
from arcticsql.writes.frames import arrow_to_frame, index_columns
from arcticsql.writes.pickles import SavedPickle

_NULLS_IN_INDEX = ("the index column {!r} has NULLs: every row needs an index value (filter them out, or choose "
                   "another INDEX)")
_NULLS_IN_BOOLEAN = ("column {!r} is BOOLEAN with NULLs, which ArcticDB cannot store: write COALESCE({}, false), "
                     "or CAST it to DOUBLE to keep NULL as NaN")


def write(engine, command: StoreCommand, params: Any) -> StoreResult | SavedPickle | Changed:
    """Run ``command`` on ``engine`` (a :class:`~arcticsql.spark.run.SparkEngine`): the DuckDB engine's store
    command (options, routing, checks, INSERT's column mapping, DROP and DELETE), with the rows of a write or
    append written in parallel when they can be."""
    if command.action != "write":
        # DROP reads nothing, and a DELETE's bounds are constants: the driver's DuckDB evaluates them (to the
        # nanosecond, which Spark cannot)
        duck = engine.session.new_duck_connection()
        try:
            return run_store_command(command, catalog=engine.catalog, settings=engine.settings,
                                     run_query=lambda query: engine.session.query_arrow(duck, query,
                                                                                        _bound(query, params)))
        finally:
            duck.close()
    return run_store_command(command, catalog=engine.catalog, settings=engine.settings,
                             run_query=lambda query: engine.query_arrow(query, _bound(query, params)),
                             write_query=lambda query, target: _parallel(engine, query, _bound(query, params),
                                                                         target))


def _bound(query: str, params: Any) -> Any:
    """The statement's parameters that ``query`` (one statement) takes."""
    if not isinstance(params, dict):
        return params
    statements = split_statements(query)
    named = statements[0].named if len(statements) == 1 else set(params)
    return {k: v for k, v in params.items() if k in named} or None


def _parallel(engine, query: str, params: Any, target: Target) -> StoreResult | None:
    """Write the rows of ``query`` with staged writes from Spark's tasks; None when they cannot be (another
    mode or index: the rows are then collected and written as on DuckDB)."""
    if target.mode not in ("write", "append"):
        return None
    catalog = engine.catalog
    library, symbol = target.library, target.symbol
    frame = _query_frame(engine, query, params)
    lib = catalog.library(library, create=True)
    existing = catalog.layout(library, symbol) if lib.has_symbol(symbol) else None
    result_schema = _duckdb_like(frame)
    index = index_columns(result_schema.empty_table(), target.index, existing)
    if len(index) != 1 or not pa.types.is_timestamp(result_schema.field(index[0]).type):
        return None
    frame, notes = _storable(frame, index[0])
    staged, parts, sample = _stage(engine, frame, library, symbol, index[0], cast=target.mode == "append")
    if not staged:
        if existing is not None and target.mode == "write" and not target.allow_empty:
            raise ProgrammingError(f"the query returned no rows: writing them would make {library}/{symbol} empty "
                                   "(add ALLOW_EMPTY true to COPY to do that)")
        empty = arrow_to_frame(result_schema.empty_table(), index=index[0], existing=existing)
        return store_frame(catalog, f"{library}/{symbol}", empty, metadata=target.metadata, mode=target.mode,
                           prune=target.prune, library=library, symbol=symbol)
    result = store_staged(catalog, library, symbol, staged, parts, sample, metadata=target.metadata,
                          mode=target.mode, prune=target.prune)
    return replace(result, notes=result.notes + notes)


def _query_frame(engine, query: str, params: Any) -> DataFrame:
    statements = split_statements(query)
    if len(statements) != 1:
        raise ProgrammingError("a store command takes exactly one query")
    return engine.dataframe(parse_statement(statements[0].text), params)


def _duckdb_like(frame: DataFrame) -> pa.Schema:
    """The result's schema as Arrow types (what the DuckDB engine's result would have)."""
    return arrow_target(frame.schema)


def _storable(frame: DataFrame, index: str) -> tuple[DataFrame, tuple[str, ...]]:
    """``frame`` as ArcticDB can store it: one pass counts the NULLs of the columns that may hold them where
    ArcticDB cannot (the index, booleans: an error; integers: stored as DOUBLE, with a note)."""
    checked = [f for f in frame.schema.fields if f.nullable and (
        f.name == index or f.dataType.typeName() in ("boolean", "byte", "short", "integer", "long"))]
    if not checked:
        return frame, ()
    with errors_unlogged():
        counts = frame.select([F.count_if(F.col(f"`{f.name}`").isNull()).alias(f"n{i}") for i, f in enumerate(checked)]).first()
    notes = []
    for position, field_ in enumerate(checked):
        if not counts[position]:
            continue
        if field_.name == index:
            raise DataError(_NULLS_IN_INDEX.format(field_.name))
        if field_.dataType.typeName() == "boolean":
            raise DataError(_NULLS_IN_BOOLEAN.format(field_.name, field_.name))
        frame = frame.withColumn(field_.name, F.col(f"`{field_.name}`").cast("double"))
        notes.append(f"column {field_.name!r} stored as DOUBLE (it has NULLs, which an integer column cannot hold)")
    return frame, tuple(notes)


def _stage(engine, frame: DataFrame, library: str, symbol: str, index: str, *, cast: bool):
    """Stage the rows in parallel: (stage results, automatic metadata of each chunk, an empty sample frame)."""
    spark = frame.sparkSession
    tasks = max(1, spark.sparkContext.defaultParallelism)
    ordered = frame.repartitionByRange(tasks, F.col(f"`{index}`")).sortWithinPartitions(F.col(f"`{index}`"))
    folder = tempfile.mkdtemp(prefix="arcticsql-spark-write-")
    handoff = os.path.join(folder, "staged.pickle")
    try:
        options = {**engine.source_options(), "library": library, "symbol": symbol, "index": index, "handoff": handoff,
                   "cast_to_existing": "true" if cast else "false"}
        with errors_unlogged():
            ordered.write.format("arcticdb").mode("append").options(**options).save()
        with open(handoff, "rb") as file:
            parts = pickle.load(file)  # written by the job's commit, on this machine
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    staged = [result for part in parts for result in part.stage_results]
    metadata = [entry for part in parts for entry in part.metadata]
    sample = next((part.sample for part in parts if part.sample is not None), None)
    return staged, metadata, sample
