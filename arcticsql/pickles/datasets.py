"""Many pickle files as one Arrow table, and a catalog of the files themselves.

``read_pickle_table`` lists the files a glob matches, prunes them by their naming fields before loading,
loads the rest in parallel, and unions the frames by name with the naming columns added (see
:mod:`arcticsql.pickles.arrow`). ``pickle_catalog`` describes each file: size, update time, generation,
naming fields and the seed's versioning attrs.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import timezone
from typing import Any

import pyarrow as pa

from arcticsql.conform import conform, union_schema
from arcticsql.errors import StorageError
from arcticsql.pickles.arrow import (
    NAMING_COLUMNS,
    NAMING_SCHEMA,
    columns_to_arrow,
    frame_columns,
    naming_row,
    with_naming,
)
from arcticsql.pickles.backends.base import BaseStorage, FileEntry
from arcticsql.pickles.loading import ordered_map
from arcticsql.pickles.metadata import ATTR_FIELDS, read_attrs

FileFilter = Callable[[dict[str, Any]], bool]
Progress = Callable[[int, int], None]


def list_dataset(storage: BaseStorage, glob: str, file_filter: FileFilter | None = None) -> list[FileEntry]:
    """The files ``glob`` matches, sorted by path, keeping those ``file_filter(naming row)`` accepts.

    The naming row holds ``file`` and the naming fields of :func:`~arcticsql.pickles.naming.parse_path`.
    """
    entries = storage.list_recursive(glob)
    if file_filter is not None:
        entries = [entry for entry in entries if file_filter(naming_row(entry.path))]
    return entries


@dataclass(frozen=True)
class LoadedFile:
    """One file's data columns as Arrow, and the names of every column the file has."""

    table: pa.Table
    names: tuple[str, ...]


def load_columns(storage: BaseStorage, entry: FileEntry, only: Collection[str] | None = None,
                 allow_unsafe: bool | None = None, *, nan_is_null: bool = True) -> LoadedFile:
    """One file's data columns (those in ``only``, or all) as a normalised Arrow table (see
    :mod:`~arcticsql.pickles.arrow`)."""
    location = storage.location(entry.path)
    frame = frame_columns(storage.load(entry, allow_unsafe=allow_unsafe), location)
    table = columns_to_arrow(frame, location, only=None if only is None else set(only), nan_is_null=nan_is_null)
    return LoadedFile(table, tuple(frame.names))


def load_arrow(storage: BaseStorage, entry: FileEntry, allow_unsafe: bool | None = None,
               naming_columns: Sequence[str] = NAMING_COLUMNS) -> pa.Table:
    """One file as an Arrow table with the requested naming columns appended."""
    table = load_columns(storage, entry, allow_unsafe=allow_unsafe).table
    return with_naming(table, naming_row(entry.path), naming_columns)


def union_tables(named_tables: Sequence[tuple[str, pa.Table]]) -> pa.Table:
    """Tables from several files unioned by name: data columns in order of first appearance, then the naming
    columns; a column missing from a file is null there; StorageError naming two files for a type conflict."""
    if not named_tables:
        return NAMING_SCHEMA.empty_table()
    merged = union_schema(((name, table.schema) for name, table in named_tables), error=StorageError)
    ordered = [field for field in merged if field.name not in NAMING_COLUMNS]
    ordered += [field for field in merged if field.name in NAMING_COLUMNS]
    schema = pa.schema(ordered)
    return pa.concat_tables([conform(table, schema, name, error=StorageError) for name, table in named_tables])


def read_pickle_table(storage: BaseStorage, glob: str, *, max_workers: int | None = None,
                      allow_unsafe: bool | None = None, file_filter: FileFilter | None = None,
                      progress: Progress | None = None) -> pa.Table:
    """Every DataFrame/Series file ``glob`` matches, as one Arrow table.

    ``file_filter`` prunes files by their naming row before anything is loaded; ``progress(done, total)``
    is called after each file; ``max_workers`` and ``allow_unsafe`` None mean the store's defaults.
    """
    entries = list_dataset(storage, glob, file_filter)
    loaded = ordered_map(lambda entry: load_arrow(storage, entry, allow_unsafe), entries,
                         storage.workers(max_workers))
    named: list[tuple[str, pa.Table]] = []
    for done, (entry, table) in enumerate(zip(entries, loaded, strict=True), start=1):
        named.append((storage.location(entry.path), table))
        if progress is not None:
            progress(done, len(entries))
    return union_tables(named)


CATALOG_SCHEMA = pa.schema([
    pa.field("file", pa.string()),
    pa.field("size", pa.int64()),
    pa.field("updated", pa.timestamp("us", tz="UTC")),
    pa.field("generation", pa.int64()),
    *[NAMING_SCHEMA.field(name) for name in NAMING_COLUMNS[1:]],
    *[pa.field(name, pa.string()) for name in ATTR_FIELDS],
    pa.field("rows", pa.int64()),
    pa.field("error", pa.string()),
])


def pickle_catalog(storage: BaseStorage, glob: str, *, max_workers: int | None = None,
                   allow_unsafe: bool | None = None) -> pa.Table:
    """One row per file ``glob`` matches: file, size, updated, generation, the naming fields, the attrs
    (version, created_at, model_params; null when absent), rows (null for a non-frame object) and error
    (why a file could not be loaded - a refused or corrupt pickle - else null): a listing never fails for
    one bad file, and finds them.

    Reading the attrs loads each file (in parallel).
    """
    entries = storage.list_recursive(glob)

    def describe(entry: FileEntry) -> dict[str, Any]:
        import pandas

        try:
            obj = storage.load(entry, allow_unsafe=allow_unsafe)
        except StorageError as error:
            return {"error": " ".join(str(error).split())}
        rows = len(obj) if isinstance(obj, pandas.DataFrame | pandas.Series) else None
        return {**read_attrs(obj), "rows": rows}

    records = []
    for entry, described in zip(entries, ordered_map(describe, entries, storage.workers(max_workers)), strict=True):
        records.append({
            **naming_row(entry.path),
            "size": entry.size,
            "updated": entry.updated.astimezone(timezone.utc),
            "generation": entry.generation,
            **described,
        })
    return pa.Table.from_pylist(records, schema=CATALOG_SCHEMA)
