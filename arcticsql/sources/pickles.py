"""A lazy SQL table over the pickle files a glob matches, speaking DuckDB's scan protocol.

Files are listed when the source is made; the data schema is declared from one sample per folder (a
``data_type/market_type/model_type`` folder shares a layout) unless given; a file with columns or wider types
it lacks raises :class:`~arcticsql.errors.SchemaGrew` and is remembered (:data:`LEARNED`), so the statement
planned again declares them. Filters on naming columns alone prune files before loading, and filter rows.
"""

from __future__ import annotations

import functools
import posixpath
import threading
from collections import OrderedDict
from collections.abc import Callable, Collection, Iterator, Sequence

import pyarrow as pa
import pyarrow.compute as pc

from arcticsql.config import Settings
from arcticsql.conform import conform, union_schema
from arcticsql.errors import ProgrammingError, SchemaGrew, StorageError
from arcticsql.pickles.arrow import NAMING_COLUMNS, NAMING_SCHEMA, naming_row, naming_table, with_naming
from arcticsql.pickles.backends.base import BaseStorage, FileEntry
from arcticsql.pickles.backends.factory import storage_for_location
from arcticsql.pickles.datasets import FileFilter, LoadedFile, list_dataset, load_files, pickle_catalog
from arcticsql.pickles.loading import ordered_map
from arcticsql.pickles.sandbox import Sandbox
from arcticsql.sources.plan import arrow_filter, columns_of, translatable
from arcticsql.sources.protocol import Node, ScanSource, export_batches

#: files tried per folder when sampling the schema, before its first file's error is raised
SAMPLE_TRIES = 3


#: the end of a SchemaGrew message, which a user sees when the rows had begun to arrive (no plan again then)
_NOW_LEARNED = "later statements declare them: run it again"


class LearnedSchemas:
    """Schemas of files with columns (or wider types) their folder's sample lacked, by location and
    generation (a rewritten file is sampled afresh); bounded, least recently used dropped."""

    LIMIT = 4096

    def __init__(self) -> None:
        self._schemas: OrderedDict[tuple[str, object], pa.Schema] = OrderedDict()
        self._lock = threading.Lock()

    def remember(self, location: str, generation: object, schema: pa.Schema) -> None:
        with self._lock:
            self._schemas[(location, generation)] = schema
            self._schemas.move_to_end((location, generation))
            while len(self._schemas) > self.LIMIT:
                self._schemas.popitem(last=False)

    def of(self, storage: BaseStorage, entries: Sequence[FileEntry]) -> list[tuple[str, pa.Schema]]:
        """(location, schema) of the entries whose schema was learned."""
        if not self._schemas:
            return []
        found = []
        with self._lock:
            for entry in entries:
                location = storage.location(entry.path)
                schema = self._schemas.get((location, entry.generation))
                if schema is not None:
                    found.append((location, schema))
        return found


#: the process's learned schemas (see :class:`LearnedSchemas`)
LEARNED = LearnedSchemas()


#: the most files :func:`learn_schemas` loads to find the columns of a statement that did not bind
LEARN_LIMIT = 1000


def learn_schemas(storage: BaseStorage, glob: str, *, allow_unsafe: bool | None = None,
                  max_workers: int | None = None, sandbox: Sandbox | None = None,
                  cancel: threading.Event | None = None) -> int:
    """Load every file ``glob`` matches and remember each schema that differs from its folder's first file
    (one that does not load is left to the scan); how many were new. For a column no sample has; datasets of
    more than :data:`LEARN_LIMIT` files are left alone (a mistyped column would read them all)."""
    entries = list_dataset(storage, glob, cancel=cancel)
    if len(entries) > LEARN_LIMIT:
        return 0
    known = {location for location, _schema in LEARNED.of(storage, entries)}
    first: dict[str, pa.Schema] = {}
    learned = 0
    results = load_files(storage, entries, allow_unsafe=allow_unsafe, max_workers=max_workers, sandbox=sandbox,
                         cancel=cancel, keep_errors=True)
    for entry, result in zip(entries, results, strict=True):
        if isinstance(result, StorageError):
            continue
        schema = result.table.schema
        folder = posixpath.dirname(entry.path)
        if first.setdefault(folder, schema).equals(schema):
            continue
        location = storage.location(entry.path)
        if location not in known:
            LEARNED.remember(location, entry.generation, schema)
            learned += 1
    return learned


class PickleDatasetSource(ScanSource):
    """The DataFrame/Series pickles ``glob`` matches in ``storage``, as one table. ``schema``: the data
    columns', to skip sampling; ``file_filter`` prunes files by naming row; ``max_workers``/``allow_unsafe``
    None: the store's defaults; ``progress(done, total, label, "files")`` after each file; ``sandbox`` and
    ``cancel`` as in :func:`~arcticsql.pickles.datasets.load_files`. No per-query state: streams may overlap.
    """

    schema_is_stable = True

    def __init__(self, storage: BaseStorage, glob: str, *, max_workers: int | None = None,
                 allow_unsafe: bool | None = None, schema: pa.Schema | None = None,
                 file_filter: FileFilter | None = None, nan_is_null: bool = True,
                 progress: Callable[[int, int, str, str], None] | None = None, label: str = "",
                 sandbox: Sandbox | None = None, cancel: threading.Event | None = None) -> None:
        super().__init__()
        self.storage = storage
        self.sandbox = sandbox
        self.cancel = cancel
        self.glob = glob
        self.max_workers = storage.workers(max_workers)
        self.allow_unsafe = allow_unsafe
        self.nan_is_null = nan_is_null
        self.progress = progress
        self.label = label or glob
        self.entries: tuple[FileEntry, ...] = tuple(list_dataset(storage, glob, file_filter, cancel))
        self._naming_rows = [naming_row(entry.path) for entry in self.entries]
        self._sampled: dict[str, LoadedFile] = {}
        self._given_schema = schema
        self._learned = tuple(LEARNED.of(storage, self.entries))  # what sampling will union in

    @functools.cached_property
    def data_schema(self) -> pa.Schema:
        """The data columns: given, or sampled when first needed (a source made only to find its
        registered twin by :attr:`key` reads no file)."""
        schema = self._given_schema if self._given_schema is not None else self._sample_schema()
        return pa.schema([field for field in schema if field.name not in NAMING_COLUMNS])

    @functools.cached_property
    def schema(self) -> pa.Schema:
        return pa.schema([*self.data_schema, *NAMING_SCHEMA])

    def prepare(self) -> None:
        """Declare the schema now, before DuckDB asks for it, so a sampling error is raised here."""
        _ = self.schema

    @functools.cached_property
    def naming(self) -> pa.Table:
        """The files' naming rows and their positions (``__entry``), for pruning: made when filters come."""
        return naming_table(self._naming_rows).append_column(
            "__entry", pa.array(range(len(self.entries)), pa.int64()))

    def __repr__(self) -> str:
        return f"PickleDatasetSource({self.storage!r}, {self.glob!r}, files={len(self.entries)})"

    @property
    def key(self) -> tuple:
        """What the table is made of, reading nothing: the files and their versions, and what else decides
        the schema (a given one, those learned for these files)."""
        return ("pickle", self.storage.location(self.glob),
                tuple((entry.path, entry.generation) for entry in self.entries), self._given_schema, self._learned,
                self.nan_is_null)

    def _sample_schema(self) -> pa.Schema:
        """The union of the schemas of one file per folder (see :meth:`_load_sample`) and of the files whose
        schema was learned in earlier scans."""
        folders: dict[str, list[FileEntry]] = {}
        for entry in self.entries:
            candidates = folders.setdefault(posixpath.dirname(entry.path), [])
            if len(candidates) < SAMPLE_TRIES:
                candidates.append(entry)
        # kept for the first scan, which then need not load them again
        self._sampled = dict(ordered_map(self._load_sample, folders.values(), self.max_workers, cancel=self.cancel))
        sampled = [(self.storage.location(path), file.table.schema) for path, file in self._sampled.items()]
        return union_schema([*sampled, *self._learned], error=StorageError)

    def _load_sample(self, candidates: Sequence[FileEntry]) -> tuple[str, LoadedFile]:
        """The first of a folder's first few files that loads (a broken file the filters prune must not fail
        the query; one they keep fails its scan); if none does, the first error."""
        errors: list[StorageError] = []
        for entry in candidates:
            result = next(self._load([entry], None, keep_errors=True))
            if not isinstance(result, StorageError):
                return entry.path, result
            errors.append(result)
        raise errors[0]

    def _load(self, entries: Sequence[FileEntry], only: Collection[str] | None,
              keep_errors: bool = False) -> Iterator[LoadedFile | StorageError]:
        return load_files(self.storage, entries, only, allow_unsafe=self.allow_unsafe, nan_is_null=self.nan_is_null,
                          sandbox=self.sandbox, cancel=self.cancel, max_workers=self.max_workers,
                          keep_errors=keep_errors)

    def _declared(self, entry: FileEntry, loaded: LoadedFile, data_columns: Sequence[str]) -> pa.Table:
        """``data_columns`` of a loaded file, conformed to the declared schema; a column it lacks (it would
        vanish) is an error: :class:`SchemaGrew` when sampled, the file's schema learned for the next plan."""
        location = self.storage.location(entry.path)
        loaded = self._respelled(loaded)
        undeclared = [name for name in loaded.names if self.data_schema.get_field_index(name) < 0]
        if undeclared:
            if self._given_schema is not None:
                raise StorageError(f"{location}: columns {undeclared} are not in the dataset's given schema")
            self._learn(entry, location)
            raise SchemaGrew(f"{location}: columns {undeclared} are not in the dataset's declared schema "
                             f"(declared from one file per folder); {_NOW_LEARNED}")
        declared = pa.schema([self.data_schema.field(name) for name in data_columns])
        if self._given_schema is None and not loaded.table.schema.equals(declared):
            self._check_types(entry, location, loaded.table.schema)
        return conform(loaded.table, declared, location, error=StorageError)

    def _respelled(self, loaded: LoadedFile) -> LoadedFile:
        """``loaded`` with its column names spelled as declared (as in SQL, ``open`` is ``Open``)."""
        spelling = {field.name.lower(): field.name for field in self.data_schema}
        names = tuple(spelling.get(name.lower(), name) for name in loaded.names)
        if names == loaded.names:
            return loaded
        table = loaded.table.rename_columns([spelling.get(name.lower(), name) for name in loaded.table.column_names])
        return LoadedFile(table, names, loaded.attrs)

    def _check_types(self, entry: FileEntry, location: str, schema: pa.Schema) -> None:
        """SchemaGrew if a column of ``schema`` needs the declared type widened (int declared as bool, say);
        types that do not unify are left to :func:`~arcticsql.conform.conform`, which casts or says why not."""
        declared = pa.schema([self.data_schema.field(name) for name in schema.names])
        try:
            union = union_schema([("the declared schema", declared), (location, schema)], error=StorageError)
        except StorageError:
            return
        if not union.equals(declared):
            self._learn(entry, location)
            widened = [field.name for field in union if declared.field(field.name).type != field.type]
            raise SchemaGrew(f"{location}: columns {widened} have types the dataset's declared schema "
                             f"(declared from one file per folder) does not hold; {_NOW_LEARNED}")

    def _learn(self, entry: FileEntry, location: str) -> None:
        """Remember ``entry``'s whole schema (a loader may have sent back only some of its columns)."""
        schema = next(self._load([entry], None)).table.schema
        LEARNED.remember(location, entry.generation, schema)

    # -- protocol -------------------------------------------------------------------------------------

    def __arrow_c_schema__(self) -> object:
        return self.schema.__arrow_c_schema__()

    def accepts(self, predicate: Node) -> bool:
        """Predicates on the naming columns alone, which prune whole files."""
        return columns_of(predicate) <= set(NAMING_COLUMNS) and translatable(predicate, NAMING_SCHEMA)

    def scan(self, columns: Sequence[int] | None, filters: Sequence[Node]) -> tuple[object, bool]:
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
        # The sampled files this scan reads, taken: the first scan uses them and later ones load them, so
        # that a source kept registered for later statements does not hold them all that time.
        taken = {entry.path: file for entry in entries if (file := self._sampled.pop(entry.path, None)) is not None}
        results = self._load([entry for entry in entries if entry.path not in taken], data_columns)
        for done, (position, entry) in enumerate(zip(kept, entries, strict=True), start=1):
            file = taken[entry.path] if entry.path in taken else next(results)
            if self.progress is not None:
                self.progress(done, len(entries), self.label, "files")
            table = with_naming(self._declared(entry, file, data_columns), self._naming_rows[position],
                                naming_columns)
            if expression is not None:
                # constant per file, so this keeps every row of a file the pruning kept; applied anyway so
                # that exactness never rests on that reasoning alone
                table = table.filter(expression)
            yield from table.select(wanted).to_batches()


# -- the SQL table functions --------------------------------------------------------------------------------
# A location is resolved by :func:`~arcticsql.pickles.backends.factory.storage_for_location`: ``gs://bucket/...``,
# a local path (absolute or starting with ./ or ../), or else relative to the configured store.

def read_pickle_source(settings: Settings, location: str, *, stores: dict | None = None, progress=None,
                       **loading) -> PickleDatasetSource:
    """``read_pickle('<glob>')``: the files as one lazy table, an error if none matches; ``loading``:
    ``sandbox`` and ``cancel`` (see :func:`~arcticsql.pickles.datasets.load_files`), as below."""
    storage, glob = storage_for_location(location, settings, stores=stores)
    source = PickleDatasetSource(storage, glob, nan_is_null=settings.nan_is_null, progress=progress,
                                 label=f"read_pickle({location!r})", **loading)
    if not source.entries:
        raise ProgrammingError(f"no pickle files match {location!r} (looked in {storage.location(glob)})")
    return source


def learn_pickle_schemas(settings: Settings, location: str, *, stores: dict | None = None, **loading) -> int:
    """:func:`learn_schemas` for a location; how many were new."""
    storage, glob = storage_for_location(location, settings, stores=stores)
    return learn_schemas(storage, glob, **loading)


def pickle_files_table(settings: Settings, location: str, *, stores: dict | None = None, **loading) -> pa.Table:
    """``pickle_files('<glob>')``: one row per file, with its attrs and any load error (as read_pickle's)."""
    storage, glob = storage_for_location(location, settings, stores=stores)
    return pickle_catalog(storage, glob, **loading)
