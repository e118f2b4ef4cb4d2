"""A lazy SQL table over the pickle files a glob matches, speaking DuckDB's scan protocol.

The files are listed when the source is made, and the data schema is declared from one sample file per
folder (files of one ``data_type/market_type/model_type`` folder share a layout by convention), unless a
``schema`` is given. Every row also carries the naming columns (``file``, ``data_type``, ``market_type``,
``model_type``, ``timestamp``, ``params``; see :mod:`arcticsql.storage.arrow`).

Pushdown: ``accepts`` takes exactly the predicates that read only naming columns and that duckdb's
``to_arrow`` translates. ``stream`` evaluates them on the per-file naming table first, so a pruned file is
never loaded, then applies them to the loaded rows as well, and narrows to the requested columns. Files are
loaded in order, a few ahead of the consumer: by loader processes when a pool is given and the read is
large (:func:`~arcticsql.storage.loader_pool.load_files`), else by a bounded pool of threads.
"""

from __future__ import annotations

import functools
import posixpath
from collections.abc import Iterator, Sequence

import pyarrow as pa
import pyarrow.compute as pc

from arcticsql.scan.plan import arrow_filter, columns_of, translatable
from arcticsql.scan.protocol import Node, ScanSource, export_batches
from arcticsql.storage.arrow import (
    NAMING_COLUMNS,
    NAMING_SCHEMA,
    conform,
    naming_row,
    naming_table,
    union_schema,
    with_naming,
)
from arcticsql.storage.base import BaseStorage, FileEntry, StorageError
from arcticsql.storage.datasets import FileFilter, LoadedFile, list_dataset, load_columns
from arcticsql.storage.loader_pool import LoaderPool, load_files
from arcticsql.storage.parallel import ordered_map

#: files tried per folder when sampling the schema, before its first file's error is raised
SAMPLE_TRIES = 3


class PickleDatasetSource(ScanSource):
    """The DataFrame/Series pickles ``glob`` matches in ``storage``, as one table.

    ``schema``: the data columns' Arrow schema, to skip sampling; ``file_filter``: prunes files by their
    naming row when listing; ``pool``: loader processes for large reads (see
    :mod:`~arcticsql.storage.loader_pool`); ``max_workers`` (threads loading files without the pool) and
    ``allow_unsafe`` None mean the store's defaults. The object holds no per-query state, so two streams may run at once.
    """

    schema_is_stable = True

    def __init__(self, storage: BaseStorage, glob: str, *, max_workers: int | None = None,
                 allow_unsafe: bool | None = None, schema: pa.Schema | None = None,
                 file_filter: FileFilter | None = None, pool: LoaderPool | None = None) -> None:
        super().__init__()
        self.storage = storage
        self.pool = pool
        self.glob = glob
        self.max_workers = storage.workers(max_workers)
        self.allow_unsafe = allow_unsafe
        self.entries: tuple[FileEntry, ...] = tuple(list_dataset(storage, glob, file_filter))
        self._naming_rows = [naming_row(entry.path) for entry in self.entries]
        self._sampled: dict[str, LoadedFile] = {}
        data_schema = schema if schema is not None else self._sample_schema()
        self.data_schema = pa.schema([field for field in data_schema if field.name not in NAMING_COLUMNS])
        self.schema = pa.schema([*self.data_schema, *NAMING_SCHEMA])

    @functools.cached_property
    def naming(self) -> pa.Table:
        """The files' naming rows and their positions (``__entry``), for pruning: made when filters come."""
        return naming_table(self._naming_rows).append_column(
            "__entry", pa.array(range(len(self.entries)), pa.int64()))

    def __repr__(self) -> str:
        return f"PickleDatasetSource({self.storage!r}, {self.glob!r}, files={len(self.entries)})"

    @property
    def key(self) -> tuple:
        """The files listed and their versions (generation or mtime): a rewritten file changes the key."""
        return ("pickle", self.storage.location(self.glob),
                tuple((entry.path, entry.generation) for entry in self.entries))

    def _sample_schema(self) -> pa.Schema:
        """The union of the schemas of one file per folder (see :meth:`_load_sample`)."""
        folders: dict[str, list[FileEntry]] = {}
        for entry in self.entries:
            candidates = folders.setdefault(posixpath.dirname(entry.path), [])
            if len(candidates) < SAMPLE_TRIES:
                candidates.append(entry)
        # kept for the scans: the sampled files are not loaded a second time
        self._sampled = dict(ordered_map(self._load_sample, folders.values(), self.max_workers))
        return union_schema((self.storage.location(path), file.table.schema) for path, file in self._sampled.items())

    def _load_sample(self, candidates: Sequence[FileEntry]) -> tuple[str, LoadedFile]:
        """The first of a folder's first few files that loads: a broken file that a query's filters prune
        must not fail the query, and one they keep fails it when it is scanned. None loads: the first error."""
        errors: list[StorageError] = []
        for entry in candidates:
            try:
                return entry.path, load_columns(self.storage, entry, None, self.allow_unsafe)
            except StorageError as error:
                errors.append(error)
        raise errors[0]

    def _declared(self, entry: FileEntry, loaded: LoadedFile, data_columns: Sequence[str]) -> pa.Table:
        """``data_columns`` of one loaded file, conformed to the declared schema (a column the declared schema
        lacks is an error: it would silently vanish)."""
        location = self.storage.location(entry.path)
        undeclared = [name for name in loaded.names if self.data_schema.get_field_index(name) < 0]
        if undeclared:
            raise StorageError(f"{location}: columns {undeclared} are not in the dataset's declared schema "
                               "(declared from one file per folder, or given)")
        return conform(loaded.table, pa.schema([self.data_schema.field(name) for name in data_columns]), location)

    # -- protocol -------------------------------------------------------------------------------------

    def __arrow_c_schema__(self) -> object:
        return self.schema.__arrow_c_schema__()

    def accepts(self, predicate: Node) -> bool:
        """Predicates on the naming columns alone, which prune whole files."""
        return columns_of(predicate) <= set(NAMING_COLUMNS) and translatable(predicate, NAMING_SCHEMA)

    def stream(self, columns: Sequence[int] | None, filters: Sequence[Node]) -> tuple[object, bool]:
        names = self.schema.names
        wanted = list(names) if columns is None else [names[i] for i in columns]
        filters = tuple(filters)
        expression = arrow_filter(filters, NAMING_SCHEMA) if filters else None
        kept = self._kept_entries(expression)
        referenced = set(wanted).union(*(columns_of(predicate) for predicate in filters))
        naming_columns = [name for name in NAMING_COLUMNS if name in referenced]
        out_schema = pa.schema([self.schema.field(name) for name in wanted])
        batches = self._batches(kept, wanted, naming_columns, expression)
        return export_batches(out_schema, batches), True

    # -- reading --------------------------------------------------------------------------------------

    def _kept_entries(self, expression: pc.Expression | None) -> list[int]:
        """The positions of the files whose naming row satisfies the filters (all of them without filters)."""
        if expression is None:
            return list(range(len(self.entries)))
        return self.naming.filter(expression).column("__entry").to_pylist()

    def _batches(self, kept: list[int], wanted: list[str], naming_columns: list[str],
                 expression: pc.Expression | None) -> Iterator[pa.RecordBatch]:
        data_columns = [name for name in wanted if name not in NAMING_COLUMNS]

        entries = [self.entries[position] for position in kept]
        sampled = self._sampled
        loaded = iter(load_files(self.storage, [entry for entry in entries if entry.path not in sampled],
                                 data_columns, allow_unsafe=self.allow_unsafe, pool=self.pool,
                                 max_workers=self.max_workers))
        for position, entry in zip(kept, entries, strict=True):
            file = sampled[entry.path] if entry.path in sampled else next(loaded)
            table = with_naming(self._declared(entry, file, data_columns), self._naming_rows[position],
                                naming_columns)
            if expression is not None:
                # constant per file, so this keeps every row of a file the pruning kept; applied anyway so
                # that exactness never rests on that reasoning alone
                table = table.filter(expression)
            yield from table.select(wanted).to_batches()
