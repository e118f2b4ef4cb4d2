"""Running a store command (see :mod:`arcticsql.sql.commands`): its query first, then the write.

The caller hands over what a write needs — the catalog, the settings, and ``run_query``, which runs a
query through the normal statement flow (so it may read ArcticDB tables, and takes the statement's
parameters) and returns its Arrow result. A failing query writes nothing.

``DROP TABLE`` deletes a symbol (every version; ArcticDB keeps those a snapshot holds), and
``DELETE ... WHERE <index range>`` is ArcticDB's ``delete_data_in_range`` (a new version). ``INSERT`` meets
the symbol's columns by name, or by position (``VALUES``, or a query whose names are not the symbol's), or
through its column list; the index column is one of them.

An engine that writes in parallel (the Spark engine) hands over ``write_query`` too: it gets the query to
write (an INSERT's already meeting the symbol's columns) and a :class:`Target`, and writes the rows itself, or
returns None to have them collected with ``run_query`` and written here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import pandas as pd
import pyarrow as pa
from sqlglot import exp

from arcticsql.arcticdb_private import forget_cached_versions
from arcticsql.config import Settings, parse_boolean
from arcticsql.errors import Error, NotSupportedError, ProgrammingError, suggest
from arcticsql.sql.commands import PICKLE_SCHEME, IndexBound, StoreCommand
from arcticsql.writes.arctic import StoreResult, already_exists, store_frame
from arcticsql.writes.frames import arrow_to_frame, cast_to_existing, integer_columns_with_nulls
from arcticsql.writes.lock import symbol_lock
from arcticsql.writes.metadata import parse_metadata
from arcticsql.writes.pickles import SavedPickle, save_pickle
from arcticsql.writes.routing import route

#: The alias of an INSERT's query when its columns are mapped onto the symbol's.
_SOURCE = "__insert"
_ONE_NS = pd.Timedelta(1, "ns")


@dataclass(frozen=True)
class Changed:
    """What a DROP TABLE, a DELETE, or a write that had nothing to do, did."""

    library: str
    symbol: str
    message: str
    rows: int = -1           # rows deleted (DELETE), else -1
    version: int | None = None

    def __str__(self) -> str:
        return self.message


@dataclass(frozen=True)
class Target:
    """Where and how a store command writes its query's rows (for an engine's ``write_query``)."""

    library: str
    symbol: str
    mode: str
    metadata: dict | None
    prune: bool
    allow_empty: bool
    index: str | None        # the INDEX option


def run_store_command(command: StoreCommand, *, catalog, settings: Settings,
                      run_query: Callable[[str], pa.Table],
                      write_query: Callable[[str, Target], StoreResult | None] | None = None,
                      ) -> StoreResult | SavedPickle | Changed:
    """Run ``command``'s query and write its result (or drop, or delete); what was done."""
    if command.scheme == PICKLE_SCHEME:
        return save_pickle(command.path, run_query(command.query), command.options, settings)
    options = command.options
    if command.target is not None:
        library, symbol = command.target.library, command.target.symbol
    else:
        library, symbol = route(command.path, catalog)
    if command.action == "drop":
        return _drop(catalog, library, symbol, command.if_exists)
    if command.action == "delete":
        return _delete(catalog, library, symbol, command.bounds, run_query)
    create = options.get("CREATE")
    if create in ("new", "if_not_exists") and _has_library(catalog, library) \
            and catalog.library(library).has_symbol(symbol):
        if create == "if_not_exists":
            return Changed(library, symbol, f"{library}/{symbol} exists: nothing written")
        raise ProgrammingError(already_exists(library, symbol))
    mode = str(options.get("MODE", "write")).lower()
    metadata = parse_metadata(options.get("METADATA"))
    prune = parse_boolean(options.get("PRUNE", False), "PRUNE", ProgrammingError)
    exists = _has_library(catalog, library) and catalog.library(library).has_symbol(symbol)
    allow_empty = parse_boolean(options.get("ALLOW_EMPTY", False), "ALLOW_EMPTY", ProgrammingError)
    query, mapped = command.query, command.target is not None and mode == "append"
    if mapped:
        query = _insert_query(command, catalog, library, symbol, exists, run_query)
    if write_query is not None:
        written = write_query(query, Target(library, symbol, mode, metadata, prune, allow_empty, options.get("INDEX")))
        if written is not None:
            return written
    table = _run_mapped(run_query, query) if mapped else run_query(query)
    lib = catalog.library(library, create=True)
    existing = catalog.layout(library, symbol) if lib.has_symbol(symbol) else None
    if existing is not None and not table.num_rows and mode == "write" and not allow_empty:
        raise ProgrammingError(f"the query returned no rows: writing them would make {library}/{symbol} empty "
                               "(add ALLOW_EMPTY true to COPY to do that)")
    if existing is not None and mode in ("append", "update"):
        table = cast_to_existing(table, existing)
    notes = tuple(f"column {name!r} stored as DOUBLE (it has NULLs, which an integer column cannot hold)"
                  for name in integer_columns_with_nulls(table))
    frame = arrow_to_frame(table, index=options.get("INDEX"), existing=existing)
    if isinstance(frame.index, pd.DatetimeIndex) and not frame.index.is_monotonic_increasing:
        frame = frame.sort_index(kind="stable")  # a query's rows come in no order; ArcticDB keeps time in order
    result = store_frame(catalog, f"{library}/{symbol}", frame, metadata=metadata, mode=mode, prune=prune,
                         library=library, symbol=symbol, create=create)
    return replace(result, notes=result.notes + notes) if result.rows else result


def _has_library(catalog, library: str) -> bool:
    """Whether the library exists in the store (never creates it, nor the store)."""
    return catalog.store.exists() and catalog.arctic.has_library(library)


def _existing_library(catalog, library: str, if_exists: bool = False):
    """The library, or None (``if_exists``) or an error naming the libraries there are, when it does not
    exist."""
    if _has_library(catalog, library):
        return catalog.library(library)
    if if_exists:
        return None
    raise catalog.unknown_library(library)


def _locked(catalog, library: str, symbol: str):
    """The symbol's write lock (see :mod:`arcticsql.writes.lock`), as every write holds it."""
    settings = catalog.settings
    return symbol_lock(catalog.store.uri, library, symbol, timeout=settings.write_lock_timeout_s,
                       unlocked_writes=settings.unlocked_writes)


# -- DROP TABLE ---------------------------------------------------------------------------------------------
def _drop(catalog, library: str, symbol: str, if_exists: bool) -> Changed:
    lib = _existing_library(catalog, library, if_exists)
    if lib is None:
        return Changed(library, symbol, f"{library}/{symbol} does not exist: nothing dropped")
    with _locked(catalog, library, symbol):
        forget_cached_versions(lib)
        if not lib.has_symbol(symbol):
            if if_exists:
                return Changed(library, symbol, f"{library}/{symbol} does not exist: nothing dropped")
            raise catalog.unknown_symbol(library, symbol)
        versions = len(lib.list_versions(symbol))
        lib.delete(symbol)
    catalog.forget_latest(library, symbol)
    catalog.changed()
    plural = "" if versions == 1 else "s"
    return Changed(library, symbol, f"dropped {library}/{symbol} ({versions} version{plural}; ArcticDB keeps "
                                    "those a snapshot holds)")


# -- DELETE ... WHERE <index range> -----------------------------------------------------------------------
def _delete(catalog, library: str, symbol: str, bounds: tuple[IndexBound, ...],
            run_query: Callable[[str], pa.Table]) -> Changed:
    lib = _existing_library(catalog, library)
    if not lib.has_symbol(symbol):
        raise catalog.unknown_symbol(library, symbol)
    layout = catalog.layout(library, symbol)
    index = layout.date_index
    if index is None or layout.range_index is not None:
        raise NotSupportedError(f"DELETE FROM {library}/{symbol} needs a timestamp index (ArcticDB deletes "
                                "date ranges); this symbol has none: rewrite it with CREATE OR REPLACE TABLE")
    column = bounds[0].column
    if column.lower() != index.lower():
        raise NotSupportedError(f"DELETE FROM {library}/{symbol} takes a range of its index {index!r}, not of "
                                f"{column!r} (ArcticDB deletes date ranges)")
    zone = layout.arrow.field(index).type.tz
    start, end = _date_range(bounds, zone, run_query)
    with _locked(catalog, library, symbol):
        forget_cached_versions(lib)  # the range is deleted from the store's latest version
        description = lib.get_description(symbol)
        first, last = (pd.Timestamp(value) if value is not None else None for value in description.date_range)
        if start is not None and end is not None and start > end or _outside(start, end, first, last):
            return Changed(library, symbol, f"no rows of {library}/{symbol} in that range: nothing deleted",
                           rows=0)
        before = int(description.row_count)
        lib.delete_data_in_range(symbol, date_range=(start, end), prune_previous_versions=False)
        version = int(lib.read_metadata(symbol).version)
        after = int(lib.get_description(symbol, as_of=version).row_count)
    catalog.saw_latest(library, symbol, version)
    catalog.changed()
    deleted = before - after
    return Changed(library, symbol, f"deleted {deleted:,} row{'' if deleted == 1 else 's'} from "
                                    f"{library}/{symbol} (version {version})", rows=deleted, version=version)


def _date_range(bounds: tuple[IndexBound, ...], zone: str | None, run_query) -> tuple:
    """``(start, end)`` for ``delete_data_in_range``, both inclusive (a strict bound moved 1 ns inside, as
    reads do); None for an open side. The values are evaluated by DuckDB (literals, parameters)."""
    kind = "TIMESTAMPTZ" if zone else "TIMESTAMP_NS"
    query = exp.select(*(exp.cast(bound.value.copy(), _type(kind)).as_(f"b{i}") for i, bound in enumerate(bounds)))
    row = run_query(query.sql("duckdb")).to_pylist()[0]
    start = end = None
    for i, bound in enumerate(bounds):
        value = row[f"b{i}"]
        if value is None:  # a comparison with NULL holds for no row
            return pd.Timestamp.max, pd.Timestamp.min
        value = pd.Timestamp(value)
        value = value.tz_convert(zone) if zone else value
        low = value + _ONE_NS if bound.op == ">" else value if bound.op in (">=", "=") else None
        high = value - _ONE_NS if bound.op == "<" else value if bound.op in ("<=", "=") else None
        if low is not None:
            start = low if start is None else max(start, low)
        if high is not None:
            end = high if end is None else min(end, high)
    return start, end


def _outside(start, end, first, last) -> bool:
    """Whether ``[start, end]`` misses the symbol's ``[first, last]`` (ArcticDB would write a version for
    nothing)."""
    if first is None or last is None or pd.isna(first) or pd.isna(last):
        return True  # no rows at all
    if start is not None and start.tzinfo is not None and last.tzinfo is None:
        first, last = first.tz_localize("UTC"), last.tz_localize("UTC")
    return (start is not None and start > last) or (end is not None and end < first)


# -- INSERT: the query's columns onto the symbol's ------------------------------------------------------------
def _insert_query(command: StoreCommand, catalog, library: str, symbol: str, exists: bool, run_query) -> str:
    """The INSERT's query selecting the symbol's columns in order, by name or by position (and cast where
    the query has strings for other types, as a VALUES list does); a new symbol takes the query's columns,
    named by the column list when there is one."""
    probe = run_query(_wrap(exp.select("*"), command.query, limit_zero=True)).schema
    sources = probe.names
    if not exists:
        if command.columns is not None:
            _check_count(command.columns, sources, f"INSERT INTO {library}/{symbol} names")
            mapping = [(target, source) for target, source in zip(command.columns, sources)]
            return _select(mapping, command.query, probe, {})
        if command.match == "position":
            raise ProgrammingError(f"{library}/{symbol} does not exist: VALUES has no column names, so name "
                                   f"them: INSERT INTO {library}.{symbol} (ts, ...) VALUES ..., or CREATE TABLE "
                                   f"{library}.{symbol} AS SELECT ...")
        return command.query
    layout = catalog.layout(library, symbol)
    targets = [name for name in layout.names if not (layout.range_index is not None and name == "index")]
    types = {f.name: f.type for f in layout.arrow}
    if command.columns is not None:
        _check_count(command.columns, sources, f"INSERT INTO {library}/{symbol} names")
        listed = {_matching(name, targets, library, symbol): source for name, source in zip(command.columns, sources)}
        if len(listed) != len(command.columns):
            raise ProgrammingError(f"INSERT INTO {library}/{symbol} names a column twice")
        mapping = [(target, listed.get(target)) for target in targets]
        unfilled = [t for t, source in mapping if source is None
                    and (pa.types.is_integer(types[t]) or pa.types.is_boolean(types[t]))]
        if unfilled:
            raise ProgrammingError(f"INSERT INTO {library}/{symbol} gives no value for {', '.join(unfilled)}: "
                                   f"its {_duckdb_type(types[unfilled[0]])} column cannot hold NULL in ArcticDB "
                                   "(list it, with a value)")
    else:
        mapping = _by_name_or_position(command.match, sources, targets, library, symbol)
    return _select(mapping, command.query, probe, types)


def _run_mapped(run_query, query: str) -> pa.Table:
    """Run the query an INSERT was mapped to; an error quotes the user's statement, not the mapping."""
    try:
        return run_query(query)
    except Error as error:
        raise type(error)(str(error).split("\n")[0]) from error


def _by_name_or_position(match: str, sources: list[str], targets: list[str], library: str,
                         symbol: str) -> list[tuple[str, str | None]]:
    lowered = {name.lower(): name for name in sources}
    same_names = len(lowered) == len(sources) and set(lowered) == {t.lower() for t in targets}
    if match == "name" or (match == "auto" and same_names):
        for source in sources:
            _matching(source, targets, library, symbol)
        return [(target, lowered.get(target.lower())) for target in targets]
    what = "VALUES gives" if match == "position" else "the query gives"
    if len(sources) != len(targets):
        raise ProgrammingError(f"INSERT INTO {library}/{symbol}: {what} {len(sources)} column"
                               f"{'' if len(sources) == 1 else 's'}, the symbol has {len(targets)}: "
                               f"{', '.join(targets)}")
    if match == "auto":
        # by position only when no column of the query has a name of the symbol's in another place
        misplaced = [s for i, s in enumerate(sources)
                     if s.lower() in {t.lower() for t in targets} and s.lower() != targets[i].lower()]
        if misplaced:
            raise ProgrammingError(
                f"INSERT INTO {library}/{symbol}: the query's columns ({', '.join(sources)}) match the symbol's "
                f"({', '.join(targets)}) neither by name nor by position: name them as the symbol's, or list "
                f"them: INSERT INTO {library}.{symbol} ({', '.join(targets)}) SELECT ...")
    return list(zip(targets, sources))


def _matching(name: str, targets: list[str], library: str, symbol: str) -> str:
    """The symbol's column called ``name`` (whatever its case), or an error with suggestions."""
    for target in targets:
        if target.lower() == name.lower():
            return target
    raise ProgrammingError(f"{library}/{symbol} has no column {name!r}{suggest(name, targets)} "
                           f"(columns: {', '.join(targets)})")


def _check_count(columns: tuple[str, ...], sources: list[str], what: str) -> None:
    if len(columns) != len(sources):
        raise ProgrammingError(f"{what} {len(columns)} column{'' if len(columns) == 1 else 's'} but its query "
                               f"gives {len(sources)}")


def _select(mapping: list[tuple[str, str | None]], query: str, probe: pa.Schema,
            types: dict[str, pa.DataType]) -> str:
    """``SELECT <source AS target, ...> FROM (<query>)``: a string where the target is a timestamp (a VALUES
    list's '2024-03-29 13:30') and an untyped NULL are cast to the target's type."""
    columns = []
    for target, source in mapping:
        kind = types.get(target)
        if source is None:
            value = exp.cast(exp.null(), _type(_duckdb_type(kind))) if kind is not None else exp.null()
        else:
            value = exp.column(source, table=_SOURCE, quoted=True)
            given = probe.field(source).type
            text = pa.types.is_string(given) or pa.types.is_large_string(given) or pa.types.is_string_view(given)
            if kind is not None and (pa.types.is_null(given) or (text and pa.types.is_timestamp(kind))):
                value = exp.cast(value, _type(_duckdb_type(kind)))
        columns.append(exp.alias_(value, target, quoted=True))
    return _wrap(exp.select(*columns), query)


def _wrap(select: exp.Select, query: str, limit_zero: bool = False) -> str:
    """``select`` over the user's ``query`` (spliced as written: it may hold what sqlglot cannot parse,
    such as AT clauses)."""
    head = select.sql("duckdb")
    text = f"{head} FROM ({query}\n) AS {_SOURCE}"
    return text + " LIMIT 0" if limit_zero else text


def _type(name: str) -> exp.DataType:
    return exp.DataType.build(name, dialect="duckdb")


def _duckdb_type(kind: pa.DataType) -> str:
    """The DuckDB type of an Arrow type a symbol's column has."""
    if pa.types.is_timestamp(kind):
        if kind.tz:
            return "TIMESTAMPTZ"
        return {"ns": "TIMESTAMP_NS", "us": "TIMESTAMP", "ms": "TIMESTAMP_MS", "s": "TIMESTAMP_S"}[kind.unit]
    names = {pa.int8(): "TINYINT", pa.int16(): "SMALLINT", pa.int32(): "INTEGER", pa.int64(): "BIGINT",
             pa.uint8(): "UTINYINT", pa.uint16(): "USMALLINT", pa.uint32(): "UINTEGER", pa.uint64(): "UBIGINT",
             pa.float32(): "FLOAT", pa.float64(): "DOUBLE", pa.bool_(): "BOOLEAN"}
    return names.get(kind, "VARCHAR")
