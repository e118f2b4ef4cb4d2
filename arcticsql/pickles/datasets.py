"""Many pickle files: ``load_files`` (here or in a :class:`~arcticsql.pickles.sandbox.Sandbox`),
``read_pickle_table`` (a glob's files, pruned by naming fields, unioned by name with naming columns) and
``pickle_catalog`` (each file's size, versions, naming fields, attrs, and why it does not load)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Collection, Iterator, Sequence
from datetime import timezone
from typing import Any

import pyarrow as pa

from arcticsql.conform import conform, union_schema
from arcticsql.errors import StorageError
from arcticsql.pickles.arrow import (
    NAMING_COLUMNS,
    NAMING_SCHEMA,
    LoadedFile,
    load_file,
    naming_row,
    with_naming,
)
from arcticsql.pickles.backends.base import BaseStorage, FileEntry
from arcticsql.pickles.loading import ordered_map
from arcticsql.pickles.metadata import ATTR_FIELDS
from arcticsql.pickles.sandbox import Sandbox

FileFilter = Callable[[dict[str, Any]], bool]
Progress = Callable[[int, int], None]


def list_dataset(storage: BaseStorage, glob: str, file_filter: FileFilter | None = None,
                 cancel: threading.Event | None = None) -> list[FileEntry]:
    """The files ``glob`` matches, by path, that ``file_filter(naming row)`` accepts; ``cancel`` interrupts."""
    entries = next(ordered_map(storage.list_recursive, [glob], 2, cancel=cancel))  # a thread: interruptible
    if file_filter is not None:
        entries = [entry for entry in entries if file_filter(naming_row(entry.path))]
    return entries


def load_files(storage: BaseStorage, entries: Sequence[FileEntry], only: Collection[str] | None = None, *,
               allow_unsafe: bool | None = None, nan_is_null: bool = True, sandbox: Sandbox | None = None,
               cancel: threading.Event | None = None, max_workers: int | None = None, keep_errors: bool = False,
               ) -> Iterator[LoadedFile | StorageError]:
    """Each entry's columns (``only``, or all) as a :class:`LoadedFile`, in order, a few ahead; a file that
    does not load raises its StorageError (gives it if ``keep_errors``). Read by ``max_workers`` threads,
    loaded in ``sandbox``'s processes or here; a set ``cancel`` raises Interrupted."""
    loading = (None if only is None else tuple(only), storage.allow_unsafe if allow_unsafe is None else allow_unsafe,
               nan_is_null)

    def read(entry: FileEntry) -> tuple[str, str | bytes | StorageError]:
        try:
            return storage.location(entry.path), storage.source(entry)
        except StorageError as error:
            return storage.location(entry.path), error

    files = ordered_map(read, entries, storage.workers(max_workers), cancel=cancel)
    results = (sandbox.load(files, *loading, cancel=cancel) if sandbox is not None
               else (_loaded_here(name, data, loading) for name, data in files))
    return results if keep_errors else map(_raised, results)


def _loaded_here(name: str, data: str | bytes | StorageError, loading: tuple) -> LoadedFile | StorageError:
    try:
        return data if isinstance(data, StorageError) else load_file(data, name, *loading)
    except StorageError as error:
        return error


def _raised(result: LoadedFile | StorageError) -> LoadedFile:
    if isinstance(result, StorageError):
        raise result
    return result


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
    """Every DataFrame/Series file ``glob`` matches as one Arrow table, loaded here; ``file_filter`` prunes
    by naming row first; ``progress(done, total)`` after each file; None options: the store's defaults."""
    entries = list_dataset(storage, glob, file_filter)
    results = load_files(storage, entries, allow_unsafe=allow_unsafe, max_workers=max_workers)
    named: list[tuple[str, pa.Table]] = []
    for done, (entry, result) in enumerate(zip(entries, results, strict=True), start=1):
        named.append((storage.location(entry.path), with_naming(result.table, naming_row(entry.path))))
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
                   allow_unsafe: bool | None = None, sandbox: Sandbox | None = None,
                   cancel: threading.Event | None = None) -> pa.Table:
    """One row per file ``glob`` matches: file, size, updated, generation, naming fields, attrs (null when
    absent), rows and error (why it does not load, as read_pickle says it): one bad file never fails the
    listing. Each file loads as :func:`load_files` loads it (``sandbox``, ``cancel``)."""
    entries = list_dataset(storage, glob, cancel=cancel)
    results = load_files(storage, entries, (), allow_unsafe=allow_unsafe, sandbox=sandbox, cancel=cancel,
                         max_workers=max_workers, keep_errors=True)
    records = []
    for entry, result in zip(entries, results, strict=True):
        described: dict[str, Any] = {"error": " ".join(str(result).split())} if isinstance(
            result, StorageError) else {**result.attrs, "rows": result.table.num_rows}
        records.append({
            **naming_row(entry.path),
            "size": entry.size,
            "updated": entry.updated.astimezone(timezone.utc),
            "generation": entry.generation,
            **described,
        })
    return pa.Table.from_pylist(records, schema=CATALOG_SCHEMA)
