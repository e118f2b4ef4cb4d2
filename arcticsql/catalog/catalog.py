"""Names to ArcticDB libraries, symbols and versions, and each symbol version's SQL schema.

Resolution is lazy and exact-name first: a one-symbol query costs a ``read_metadata`` (to pin the version)
whatever the size of the library; schemas are cached per (library, symbol, version), since a version never
changes once written.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import pandas as pd
import pyarrow as pa
from arcticdb import ReadInfoRequest, ReadRequest

from arcticsql.catalog.arctic import Store
from arcticsql.catalog.schema import SymbolSchema, build_schema, schema_of_rows
from arcticsql.config import Settings
from arcticsql.errors import OperationalError, ProgrammingError, suggest
from arcticsql.sources.read_log import ReadLog, ReadRecord
from arcticsql.sql.names import CATALOG_LIBRARY, TableName, glob_regex, is_glob, matches
from arcticsql.sql.shape import KeyCondition

#: as_of values: a version number, a snapshot name, or a point in time (naive = UTC).
AsOf = int | str | pd.Timestamp | None

#: Rows of all a wildcard's members together that planning reads at most (see Catalog.wildcard).
FIRST_ROWS_BUDGET = 1_000_000


@dataclass(frozen=True)
class Resolution:
    """What a wildcard names: its members (sorted by library, symbol), each a schema and whether its
    version is only the latest seen (its reads check it), and the members read whole while planning (by
    (library, symbol, version): ArcticDB's Arrow output, which the scan is served from)."""

    members: tuple[tuple[SymbolSchema, bool], ...]
    whole: dict[tuple[str, str, int], pa.Table] = field(default_factory=dict)


@dataclass(frozen=True)
class VersionInfo:
    version: int
    date: pd.Timestamp
    snapshots: tuple[str, ...]
    deleted: bool


class Catalog:
    """The libraries and symbols of one ArcticDB store."""

    def __init__(self, store: Store, settings: Settings) -> None:
        self.store = store
        self.settings = settings
        self._libraries: dict[str, object] = {}
        self._schemas: dict[tuple[str, str, int], SymbolSchema] = {}
        self._latest: dict[tuple[str, str], int] = {}
        #: Versions whose timestamp index has values that are not whole microseconds (met by a read).
        self._nanoseconds: set[tuple[str, str, int]] = set()
        #: Listings (the library names, a pattern's members) by key, with the time they were made.
        self._listings: dict[tuple, tuple[float, object]] = {}
        self._lock = threading.Lock()
        #: Changes with what a wildcard's members resolve to (the latest versions seen, schemas dropped).
        self._generation = 0
        #: Wildcard resolutions whose members are all the latest seen, by key: reused while nothing
        #: changed (their reads check the versions).
        self._resolved: dict[tuple, tuple[int, object, Resolution]] = {}
        #: Where reads made while planning are recorded (the session's read log).
        self.read_log: ReadLog | None = None
        #: Rows of each wildcard member read while planning, at most (``processing.wildcard_first_rows``).
        self.first_rows = settings.wildcard_first_rows

    # -- listings, kept for a short while -------------------------------------------------------------
    def _listed(self, key: tuple, make: Callable[[], object]) -> tuple[object, bool]:
        """``make()``, or what it gave less than ``listing_ttl_s`` ago; and whether it was kept."""
        kept = self._listings.get(key)
        now = time.monotonic()
        if kept is not None and now - kept[0] < self.settings.listing_ttl_s:
            return kept[1], True
        value = make()
        self._listings[key] = (now, value)
        return value, False

    def has_nanoseconds(self, library: str, symbol: str, version: int) -> None:
        """A read met an index value of this version that is not a whole microsecond: its index is declared
        ``TIMESTAMP_NS`` from now on (see :mod:`arcticsql.catalog.schema`)."""
        with self._lock:
            self._nanoseconds.add((library, symbol, version))
            self._schemas.pop((library, symbol, version), None)
            self._generation += 1
        self.changed()  # a kept wildcard resolution holds the old schema

    def changed(self) -> None:
        """The store changed (this session wrote to it): listings are made again."""
        self._listings.clear()
        self._generation += 1

    @property
    def arctic(self):
        """The store's ``arcticdb.Arctic`` (an error, not a new store, when a local store does not exist)."""
        return self.store.arctic()

    # -- libraries ------------------------------------------------------------------------------------
    def library_names(self) -> list[str]:
        """The store's libraries, sorted (one listing per ``listing_ttl_s``)."""
        names, _kept = self._listed(("libraries",), lambda: sorted(set(self.arctic.list_libraries())))
        return list(names)

    def is_known_library(self, name: str) -> bool:
        """Known without asking the store: already opened, or a core library."""
        return name in self._libraries or name in self.settings.core_libraries

    def has_library(self, name: str) -> bool:
        return (name in self._libraries or name in self.settings.core_libraries
                or (self.store.exists() and self.arctic.has_library(name)))

    def library(self, name: str, *, create: bool = False):
        """The library called ``name``; made (with the store itself, if need be) only with ``create``, as
        writes do. Reads never create anything: a core library not written yet is an unknown library."""
        lib = self._libraries.get(name)
        if lib is not None:
            return lib
        if name == CATALOG_LIBRARY:
            raise ProgrammingError(f"{name!r} is the name of arcticsql's catalog: store into another library")
        arctic = self.store.arctic(create=create)
        if arctic.has_library(name):
            lib = arctic.get_library(name)
        elif create:
            try:
                lib = arctic.get_library(name, create_if_missing=True)
            except ValueError as error:
                if "already exists" not in str(error):
                    raise
                # another process created it between ArcticDB's own check and its create
                lib = arctic.get_library(name)
            self.changed()
        else:
            raise self.unknown_library(name)
        self._libraries[name] = lib
        return lib

    def unknown_library(self, name: str) -> ProgrammingError:
        known = set(self.library_names())
        empty = "" if known else f"; the store {self.store.shown} has no libraries at all" + (
            " (is the bucket right?)" if self.store.is_object_store else "")
        if name in self.settings.core_libraries:
            return ProgrammingError(f"library {name!r} has no data yet (the first write to it creates it){empty}")
        hint = suggest(name, known | set(self.settings.core_libraries))
        return ProgrammingError(f"unknown library {name!r}{hint}{empty}")

    def matching_libraries(self, pattern: str) -> list[str]:
        names = set(self.library_names()) | set(self.settings.core_libraries)
        if not is_glob(pattern):
            return [pattern] if pattern in names else []
        return sorted(n for n in names if matches(pattern, n))

    # -- symbols --------------------------------------------------------------------------------------
    def symbols(self, library: str, pattern: str | None = None) -> list[str]:
        lib = self.library(library)
        if pattern is None or pattern == "*":
            return sorted(lib.list_symbols())
        if not is_glob(pattern):
            return [pattern] if lib.has_symbol(pattern) else []
        return sorted(lib.list_symbols(regex=glob_regex(pattern)))

    def unknown_symbol(self, library: str, symbol: str) -> ProgrammingError:
        try:
            known = self.library(library).list_symbols()
        except Exception:  # noqa: BLE001 - suggestions are best effort
            known = []
        return ProgrammingError(f"unknown symbol {symbol!r} in library {library!r}{suggest(symbol, known)}")

    def pin_version(self, library: str, symbol: str, as_of: AsOf = None) -> int:
        """The version number ``as_of`` selects (the latest when None)."""
        return self._pin(library, symbol, as_of)[0]

    def _pin(self, library: str, symbol: str, as_of: AsOf = None) -> tuple[int, int]:
        """The version ``as_of`` selects (the latest when None): its number and creation time (ns)."""
        lib = self.library(library)
        try:
            item = lib.read_metadata(symbol, as_of=as_of)
        except Exception as error:
            if not _is_missing(error):
                raise
        else:
            version = int(item.version)
            if as_of is None:
                self.saw_latest(library, symbol, version)
            return version, int(item.timestamp)
        if not lib.has_symbol(symbol):
            raise self.unknown_symbol(library, symbol)
        raise self.missing_version(library, symbol, as_of)

    def saw_latest(self, library: str, symbol: str, version: int) -> None:
        """Remember ``version`` as the latest seen of a symbol (a pin, a read of the latest, a write)."""
        if self._latest.get((library, symbol)) != version:
            self._latest[(library, symbol)] = version
            self._generation += 1

    def saw_changes(self, changes: list[tuple[str, str, int | None]]) -> None:
        """Reads found these symbols at newer versions (None: deleted) than planned with: those are the latest
        seen now (a wildcard naming them takes them without asking again); a deleted one is listed again."""
        for library, symbol, version in changes:
            if version is None:
                self.forget_latest(library, symbol)
                self.changed()
            else:
                self.saw_latest(library, symbol, version)
                # the same number may be a new version (the symbol was deleted and written again)
                self._schemas.pop((library, symbol, version), None)

    def forget_latest(self, library: str, symbol: str) -> bool:
        """Forget the latest version seen of a symbol (the next read pins it); whether one was known."""
        self._generation += 1
        return self._latest.pop((library, symbol), None) is not None

    def latest_schema(self, library: str, symbol: str) -> tuple[SymbolSchema, bool]:
        """The schema for reading a symbol's latest version, and whether its version was just pinned.

        A symbol read before in this session is planned with the version last seen, without a pin (one
        ArcticDB call saved per statement); its source then checks, on reading, that ArcticDB still
        returns that version (see ``ArcticSymbolSource``).
        """
        version = self._latest.get((library, symbol))
        cached = self._schemas.get((library, symbol, version)) if version is not None else None
        if cached is not None:
            return cached, False
        return self.schema(library, symbol), True

    def missing_version(self, library: str, symbol: str, as_of: AsOf) -> ProgrammingError:
        lib = self.library(library)
        what = {int: "version", str: "snapshot"}.get(type(as_of), "version at or before")
        available = ""
        try:
            if isinstance(as_of, str):
                snaps = sorted(lib.list_snapshots())
                available = f"; snapshots: {', '.join(snaps) or 'none'}"
            else:
                versions = sorted(v.version for v in lib.list_versions(symbol))
                available = f"; versions: {', '.join(map(str, versions))}"
        except Exception:  # noqa: BLE001
            pass
        return ProgrammingError(f"{library}/{symbol} has no {what} {as_of!s}{available}")

    def schema(self, library: str, symbol: str, as_of: AsOf = None) -> SymbolSchema:
        """The SQL schema of a symbol version (pinned: ``as_of`` resolved to a version number)."""
        version, created = self._pin(library, symbol, as_of)
        key = (library, symbol, version)
        cached = self._schemas.get(key)
        if cached is not None and cached.created == created:
            return cached
        lib = self.library(library)
        reading = as_of if isinstance(as_of, str) else version  # a snapshot still reads a deleted symbol
        item = lib.read(symbol, as_of=reading, row_range=(0, 0), output_format="pyarrow")
        description = lib.get_description(symbol, as_of=reading)
        schema = build_schema(library, symbol, version, item.data.schema, int(description.row_count),
                              key not in self._nanoseconds, tuple(description.date_range),
                              description.sorted == "ASCENDING", int(item.timestamp),
                              description.sorted in _UNSORTED)
        with self._lock:
            self._schemas[key] = schema
        return schema

    def layout(self, library: str, symbol: str) -> SymbolSchema:
        """The latest version's columns and index (names, zone) from a zero-row read, for writers: no row
        count and no microsecond check (its declared index type is nominal)."""
        item = self.library(library).read(symbol, row_range=(0, 0), output_format="pyarrow")
        return build_schema(library, symbol, int(item.version), item.data.schema, 0)

    def schemas(self, library: str, symbols: list[str], as_of: AsOf = None,
                first_rows: int = 0) -> tuple[list[SymbolSchema], dict[tuple[str, str, int], pa.Table]]:
        """The schemas of many symbols of one library pinned at ``as_of`` (the latest when None), with two
        batched calls: a ``read_batch`` of their first ``first_rows`` rows (each version and its columns;
        zero rows by default) and a description of the versions not described before; and the versions
        read whole (by (library, symbol, version)).

        A symbol shorter than ``first_rows`` is read whole by the first call: it is described from those
        rows (ArcticDB's Arrow output), and the scan is served from them; only longer ones are described.

        A symbol that has no version at ``as_of`` is an error naming it, except for a point in time before
        the symbol existed, or the latest version of a symbol deleted since it was listed: left out.
        """
        lib = self.library(library)
        started = time.perf_counter()
        items = lib.read_batch([ReadRequest(s, as_of=as_of, row_range=(0, first_rows)) for s in symbols],
                               output_format="pyarrow") if symbols else []
        seconds = (time.perf_counter() - started) / max(1, len(items))
        pinned: list[tuple[str, int]] = []
        stored: dict[tuple[str, int], tuple[object, int]] = {}
        whole: dict[tuple[str, str, int], pa.Table] = {}
        for symbol, item in zip(symbols, items):
            if not hasattr(item, "data"):
                missing(item, f"{library}/{symbol}")  # (a storage failure raises: never a member left out)
                if as_of is None or isinstance(as_of, pd.Timestamp):
                    continue
                raise self.missing_version(library, symbol, as_of)
            version, data = int(item.version), item.data
            if as_of is None:
                self.saw_latest(library, symbol, version)
            pinned.append((symbol, version))
            stored[(symbol, version)] = (data.schema, int(item.timestamp))
            if not first_rows:
                continue
            key = (library, symbol, version)
            if self.read_log is not None:
                self.read_log.add(ReadRecord(library, symbol, version, None, None, (0, first_rows), None,
                                             data.num_rows, seconds, "plan"))
            if data.num_rows < first_rows:
                whole[key] = data
                cached = self._schemas.get(key)
                if cached is None or cached.created != int(item.timestamp):
                    self._describe_whole(key, data, int(item.timestamp))
        return self._schemas_at(library, pinned, stored, as_of if isinstance(as_of, str) else None), whole

    def _describe_whole(self, key: tuple[str, str, int], data: pa.Table, created: int) -> None:
        """Keep the schema of a version read whole (made at ``created``), described from its rows."""
        schema = schema_of_rows(*key, data, key not in self._nanoseconds, created)
        with self._lock:
            self._schemas[key] = schema

    def _schemas_at(self, library: str, pinned: list[tuple[str, int]],
                    stored: dict[tuple[str, int], tuple[object, int]] | None = None,
                    snapshot: str | None = None) -> list[SymbolSchema]:
        """Schemas of (symbol, version) pairs of one library: cached, or described in one batched call (the
        columns and creation times from ``stored`` zero-row reads when given, else read too; through
        ``snapshot`` when the versions were pinned by it, which still reads symbols deleted since). A cached
        schema made at another time than ``stored`` says is of another version under the same number."""
        lib = self.library(library)
        stored = dict(stored or {})
        missing = [(s, v) for s, v in pinned if (library, s, v) not in self._schemas
                   or ((s, v) in stored and self._schemas[(library, s, v)].created != stored[(s, v)][1])]
        if missing:
            unread = [(s, v) for s, v in missing if (s, v) not in stored]
            if unread:
                items = lib.read_batch([ReadRequest(s, as_of=snapshot or v, row_range=(0, 0)) for s, v in unread],
                                       output_format="pyarrow")
                stored.update({pair: (item.data.schema, int(item.timestamp)) for pair, item in zip(unread, items)})
            descriptions = lib.get_description_batch([ReadInfoRequest(s, as_of=snapshot or v) for s, v in missing])
            for (symbol, version), description in zip(missing, descriptions):
                columns, created = stored[(symbol, version)]
                schema = build_schema(library, symbol, version, columns,
                                      int(description.row_count), (library, symbol, version) not in self._nanoseconds,
                                      tuple(description.date_range), description.sorted == "ASCENDING",
                                      created, description.sorted in _UNSORTED)
                with self._lock:
                    self._schemas[(library, symbol, version)] = schema
        return [self._schemas[(library, s, v)] for s, v in pinned]

    def wildcard(self, name: TableName, as_of: AsOf = None, conditions: tuple[KeyCondition, ...] = ()) -> Resolution:
        """For each symbol version a pattern names (of those ``conditions`` on ``library``/``symbol``
        admit), sorted by (library, symbol): its schema, and whether the version is only the latest seen,
        which the read then checks (a version pinned now needs no check); and the versions read whole.

        The members are listed again after ``listing_ttl_s`` or a write by this session; a member whose
        latest version was seen before is not asked again (its read checks it), so a repeated statement
        costs what its new members and new versions cost. The others are pinned and described by one read
        of their first rows (``wildcard_first_rows``, fewer when there are many members), which reads a
        small member whole: the scan is then served from that read. No members (and no error) when the
        conditions admit none.
        """
        key = ("members", name.library, name.symbol, as_of_key(as_of), conditions)
        pairs, _kept = self._listed(key, lambda: self.expand(name.library, name.symbol, as_of, conditions))
        reused = self._resolved.get(key)
        if reused is not None and reused[0] == self._generation and reused[1] is pairs:
            return reused[2]
        by_library: dict[str, list[str]] = {}
        for library, symbol in pairs:
            by_library.setdefault(library, []).append(symbol)
        first_rows = min(self.first_rows, FIRST_ROWS_BUDGET // max(1, len(pairs)))
        found: list[tuple[SymbolSchema, bool]] = []
        whole: dict[tuple[str, str, int], pa.Table] = {}
        for library, symbols in by_library.items():
            seen = {} if as_of is not None else {
                symbol: schema for symbol in symbols
                if (schema := self._schemas.get((library, symbol, self._latest.get((library, symbol))))) is not None}
            described, read = self.schemas(library, [s for s in symbols if s not in seen], as_of,
                                           first_rows if first_rows >= 16 else 0)
            pinned = {schema.symbol: schema for schema in described}
            whole.update(read)
            found.extend((seen[s], True) if s in seen else (pinned[s], False)
                         for s in symbols if s in seen or s in pinned)
        if not found and not conditions:
            raise self.no_match(name.library, name.symbol, as_of)
        resolution = Resolution(tuple(found), whole)
        if found and all(verify for _, verify in found):
            if len(self._resolved) > 256:
                self._resolved.clear()
            self._resolved[key] = (self._generation, pairs, resolution)
        return resolution

    def expand(self, library_pattern: str, symbol_pattern: str, as_of: AsOf = None,
               conditions: tuple[KeyCondition, ...] = ()) -> list[tuple[str, str]]:
        """Every (library, symbol) a pattern names that ``conditions`` admit, sorted; an exact part, or
        symbols named by the conditions, are checked, not listed."""
        existing = set(self.library_names())
        found: list[tuple[str, str]] = []
        on_library = [c for c in conditions if c.column == "library"]
        on_symbol = [c for c in conditions if c.column == "symbol"]
        named = _named(on_symbol)
        for library in self.matching_libraries(library_pattern):
            if library not in existing or not all(c.admits(library) for c in on_library):
                continue  # a core library not created yet holds nothing
            lib = self.library(library)
            snapshot = as_of if isinstance(as_of, str) else None
            if snapshot is not None and snapshot not in lib.list_snapshots(load_metadata=False):
                continue
            if named is not None and snapshot is None:
                names = [n for n in sorted(named) if matches(symbol_pattern, n) and lib.has_symbol(n)]
                found.extend((library, n) for n in names if all(c.admits(n) for c in on_symbol))
                continue
            if is_glob(symbol_pattern) or snapshot is not None:
                regex = glob_regex(symbol_pattern) if is_glob(symbol_pattern) else f"^{re.escape(symbol_pattern)}$"
                names = lib.list_symbols(snapshot_name=snapshot, regex=regex)
            else:
                names = [symbol_pattern] if lib.has_symbol(symbol_pattern) else []
            found.extend((library, name) for name in sorted(names)
                         if matches(symbol_pattern, name) and all(c.admits(name) for c in on_symbol))
        return found

    def no_match(self, library_pattern: str, symbol_pattern: str, as_of: AsOf = None) -> ProgrammingError:
        """The error for a pattern that matches nothing, naming close libraries or symbols."""
        libraries = self.matching_libraries(library_pattern)
        at = f" at snapshot {as_of!r}" if isinstance(as_of, str) else ""
        if not libraries:
            known = set(self.library_names()) | set(self.settings.core_libraries)
            return ProgrammingError(f"no library matches {library_pattern!r}{suggest(library_pattern, known)}")
        if isinstance(as_of, str):
            snapshots = self._snapshots_of(libraries)
            if as_of not in snapshots:
                known = ", ".join(sorted(snapshots)[:10]) or "none"
                return ProgrammingError(f"no library matching {library_pattern!r} has a snapshot {as_of!r}; "
                                        f"snapshots: {known}")
        names: list[str] = []
        for library in libraries[:20]:
            try:
                names.extend(self.library(library).list_symbols())
            except Exception:  # noqa: BLE001 - suggestions are best effort
                pass
        return ProgrammingError(f"no symbol matches {library_pattern}/{symbol_pattern}{at}"
                                f"{suggest(symbol_pattern, set(names))}")

    def _snapshots_of(self, libraries: list[str]) -> set[str]:
        """The snapshot names of the existing ``libraries`` (best effort, for error messages)."""
        snapshots: set[str] = set()
        existing = set(self.library_names())
        for library in libraries[:20]:
            if library in existing:
                try:
                    snapshots.update(self.library(library).list_snapshots(load_metadata=False))
                except Exception:  # noqa: BLE001
                    pass
        return snapshots

    def versions(self, library: str, symbol: str) -> list[VersionInfo]:
        lib = self.library(library)
        if not lib.has_symbol(symbol):
            raise self.unknown_symbol(library, symbol)
        out = []
        for (_symbol, version), info in lib.list_versions(symbol).items():
            out.append(VersionInfo(int(version), pd.Timestamp(info.date), tuple(info.snapshots),
                                   bool(info.deleted)))
        return sorted(out, key=lambda v: v.version)


def _named(conditions: list[KeyCondition]) -> set[str] | None:
    """The only names a symbol may have under ``conditions`` (a condition of exact names only), or None."""
    named = None
    for condition in conditions:
        if not condition.like:
            named = set(condition.exact) if named is None else named & set(condition.exact)
    return named


def as_of_key(as_of: AsOf) -> object:
    """``as_of`` as a dictionary key (a point in time by its exact value)."""
    return ("time", as_of.value) if isinstance(as_of, pd.Timestamp) else as_of


def _is_missing(error: BaseException) -> bool:
    name = type(error).__name__
    return "NoDataFound" in name or "NoSuchVersion" in name or "not found" in str(error)


def missing(item, label: str) -> bool:
    """For an item of an ArcticDB batch call that failed: True when it says the symbol (or the version asked
    for) does not exist; any other failure (storage, permissions) is an OperationalError naming ``label``,
    never a symbol taken for gone."""
    category = getattr(item, "error_category", None)
    if category is None or getattr(category, "name", "") == "MISSING_DATA":
        return True
    raise OperationalError(f"reading {label} failed: {getattr(item, 'exception_string', item)}")


#: ArcticDB's word for a version whose rows are not in index order (written with validate_index=False).
_UNSORTED = ("DESCENDING", "UNSORTED")
