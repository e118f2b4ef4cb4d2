"""``arcticsql_pickle``: pickle datasets (``read_pickle('<glob>')``) as a Spark table, one partition per file.

The driver lists the files and declares the schema exactly as the DuckDB engine does (one sample file per
folder, plus the schemas learned from earlier scans; see :mod:`arcticsql.sources.pickles`) and hands both
over: ``location`` (the glob), ``files`` (the listing, pinned like a symbol's version: each file's path and
generation) and ``settings`` (the pickle store and its options). Filters on the naming columns (``file``,
``data_type``, ``market_type``, ``model_type``, ``timestamp``, ``params``) are evaluated on each file's naming
row while planning, so a file they exclude is neither scheduled nor loaded; every other filter goes back to
Spark. Each task loads its file through arcticsql's pickle loader (the restricted unpickler, the seed's
naming convention); a file with columns the declared schema lacks is an error saying so (arcticsql learns
them and runs the statement again).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime

import pyarrow as pa
from pyspark.sql.datasource import DataSource, DataSourceReader, InputPartition
from pyspark.sql.types import StructType

from arcticsql.conform import conform
from arcticsql.errors import SchemaGrew, StorageError
from arcticsql.pickles.arrow import NAMING_COLUMNS, naming_row, naming_table, with_naming
from arcticsql.pickles.backends.base import FileEntry
from arcticsql.pickles.backends.factory import storage_for_location
from arcticsql.pickles.datasets import load_files
from arcticsql.spark.errors import reported, worker_error
from arcticsql.spark.plan import filter_column, filter_expression
from arcticsql.spark.types import arrow_target
from arcticsql.spark.workers import worker_settings


def files_to_json(entries: list[FileEntry]) -> str:
    return json.dumps([[e.path, e.size, e.updated.isoformat(), e.generation] for e in entries], separators=(",", ":"))


def files_from_json(text: str) -> list[FileEntry]:
    return [FileEntry(path, int(size), datetime.fromisoformat(updated), generation)
            for path, size, updated, generation in json.loads(text)]


class FilePartition(InputPartition):
    def __init__(self, entry: FileEntry) -> None:
        super().__init__(entry.path)
        self.entry = entry


class PickleDataSource(DataSource):
    """The pickle files of a ``read_pickle`` call, as the SQL engine lists and declares them."""

    @classmethod
    def name(cls) -> str:
        return "arcticsql_pickle"

    def schema(self):
        raise worker_error(StorageError("read pickle datasets on Spark with arcticsql.spark.sql(spark, "
                                        "\"SELECT ... FROM read_pickle('<glob>')\")"))

    def reader(self, schema: StructType) -> PickleReader:
        with reported():
            return PickleReader(self.options, schema)


class PickleReader(DataSourceReader):
    """Plans the files a query reads (naming filters prune them) and loads one file per task."""

    def __init__(self, options, schema: StructType) -> None:
        self.location = options["location"]
        self.settings_text = options.get("settings")
        self.entries = files_from_json(options["files"])
        self.schema = schema
        #: every data column the dataset declares (the schema may be narrowed to what the query reads)
        self.declared = {name.lower() for name in json.loads(options.get("declared") or "[]")} or {
            name.lower() for name in schema.fieldNames()}
        self.read_log = options.get("read_log")
        self.kept = list(range(len(self.entries)))

    def pushFilters(self, filters):  # noqa: N802 - PySpark's name
        names = {name.lower(): name for name in NAMING_COLUMNS}
        naming = naming_table([naming_row(entry.path) for entry in self.entries]).append_column(
            "__entry", pa.array(range(len(self.entries)), pa.int64()))
        returned = []
        for item in filters:
            expression = filter_expression(item, names) if filter_column(item).lower() in names else None
            if expression is None:
                returned.append(item)
                continue
            try:
                naming = naming.filter(expression)  # constant per file: exact, kept
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
                returned.append(item)
        self.kept = naming.column("__entry").to_pylist()
        return returned

    def partitions(self):
        if self.read_log:
            with open(self.read_log, "a", encoding="utf-8") as log:
                log.write(json.dumps({"event": "pickle partitions",
                                      "files": [self.entries[i].path for i in self.kept]}) + "\n")
        return [FilePartition(self.entries[i]) for i in self.kept] or [InputPartition(None)]

    def read(self, partition) -> Iterator[pa.RecordBatch]:
        if not isinstance(partition, FilePartition):
            return
        with reported():
            settings = worker_settings("mem://", self.settings_text)
            storage, _glob = storage_for_location(self.location, settings)
            target = arrow_target(self.schema)
            entry = partition.entry
            data_columns = [f.name for f in target if f.name not in NAMING_COLUMNS]
            # in this task's process (a Python worker, not the driver), through the restricted unpickler
            # and the frame checks
            (loaded,) = load_files(storage, [entry], data_columns, nan_is_null=settings.nan_is_null, max_workers=1)
            location = storage.location(entry.path)
            undeclared = [name for name in loaded.names if name.lower() not in self.declared]
            if undeclared:
                raise SchemaGrew(f"{location}: columns {undeclared} are not in the dataset's declared schema "
                                 "(declared from one file per folder)")
            naming_columns = [f.name for f in target if f.name in NAMING_COLUMNS]
            table = with_naming(loaded.table, naming_row(entry.path), naming_columns)
            yield from conform(table, target, location, error=StorageError).to_batches()
