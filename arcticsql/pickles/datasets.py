"""Many pickle files as one Arrow table, and a catalog of the files themselves.

``load_files`` loads files in order, in this process or in a :class:`~arcticsql.pickles.sandbox.Sandbox`'s
loader processes. ``read_pickle_table`` lists the files a glob matches, prunes them by their naming fields
before loading, loads the rest, and unions the frames by name with the naming columns added (see
:mod:`arcticsql.pickles.arrow`). ``pickle_catalog`` describes each file: size, update time, generation,
naming fields, the seed's versioning attrs, and why it does not load (the reason read_pickle would give).
"""

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
from arcticsql.pickles.loading import cancellable, ordered_map
from arcticsql.pickles.metadata import ATTR_FIELDS
from arcticsql.pickles.sandbox import Sandbox

FileFilter = Callable[[dict[str, Any]], bool]
Progress = Callable[[int, int], None]


def list_dataset(storage: BaseStorage, glob: str, file_filter: FileFilter | None = None,
                 cancel: threading.Event | None = None) -> list[FileEntry]:
    """The files ``glob`` matches, sorted by path, keeping those ``file_filter(naming row)`` accepts (the
    naming row: ``file`` and :func:`~arcticsql.pickles.naming.parse_path`'s fields); ``cancel`` interrupts."""
    entries = cancellable(lambda: storage.list_recursive(glob), cancel)
    if file_filter is not None:
        entries = [entry for entry in entries if file_filter(naming_row(entry.path))]
    return entries


def load_files(storage: BaseStorage, entries: Sequence[FileEntry], only: Collection[str] | None = None, *,
               allow_unsafe: bool | None = None, nan_is_null: bool = True, sandbox: Sandbox | None = None,
               cancel: threading.Event | None = None, max_workers: int | None = None, keep_errors: bool = False,
               ) -> Iterator[LoadedFile | StorageError]:
    """Each entry's data columns (those in ``only``, or all) as a :class:`LoadedFile`, in order, a few files
    ahead; a file that does not load raises its StorageError, or gives it when ``keep_errors``. Files are
    read (downloaded) by up to ``max_workers`` threads (None: the store's default), then loaded by
    ``sandbox``'s loader processes or, without one, here. A set ``cancel`` stops it with Interrupted."""
    loading = (None if only is None else tuple(only), storage.allow_unsafe if allow_unsafe is None else allow_unsafe,
               nan_is_null)

    def read(entry: FileEntry) -> tuple[str, str | bytes | StorageError]:
        try:
            return storage.location(entry.path), storage.source(entry)
        except StorageError as error:
            return storage.location(entry.path), error

    def load(entry: FileEntry) -> LoadedFile | StorageError:
        name, data = read(entry)
        try:
            return data if isinstance(data, StorageError) else load_file(data, name, *loading)
        except StorageError as error:
            return error

    workers = storage.workers(max_workers)
    if sandbox is None:
        results = ordered_map(load, entries, workers, cancel=cancel)
    else:
        results = sandbox.load(ordered_map(read, entries, workers, cancel=cancel), *loading, cancel=cancel)
    return results if keep_errors else map(_raised, results)


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
    """Every DataFrame/Series file ``glob`` matches, as one Arrow table.

    ``file_filter`` prunes files by their naming row before anything is loaded; ``progress(done, total)``
    is called after each file; ``max_workers`` and ``allow_unsafe`` None mean the store's defaults.
    """
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
    """One row per file ``glob`` matches: file, size, updated, generation, the naming fields, the attrs
    (version, created_at, model_params; null when absent), rows and error (why a file does not load, as
    read_pickle would say it - a refused or corrupt pickle, not a frame - else null): a listing never fails
    for one bad file, and finds them.

    Reading the attrs loads each file, as :func:`load_files` does (``sandbox``, ``cancel``).
    """
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
