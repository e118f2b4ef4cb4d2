"""Writing a frame to ArcticDB as a new version: the modes (write, append, update), their checks, pruning.

Every check that can fail runs before ArcticDB is touched, and ArcticDB makes a version visible only once it
is completely written, so a failed store command leaves the symbol's latest version exactly as it was.
``prune`` drops older versions only after the new one is written.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from arcticsql.arcticdb_private import forget_cached_versions
from arcticsql.errors import DataError, IntegrityError, ProgrammingError
from arcticsql.writes.lock import symbol_lock
from arcticsql.writes.metadata import combine_auto_metadata, merge_metadata
from arcticsql.writes.routing import route

MODES = ("write", "append", "update")


@dataclass(frozen=True)
class StoreResult:
    library: str
    symbol: str
    version: int
    rows: int
    mode: str
    notes: tuple[str, ...] = ()  # what the user should know, such as a column stored as DOUBLE

    def __str__(self) -> str:
        text = f"{self.mode}: {self.library}/{self.symbol} version {self.version} ({self.rows:,} rows)"
        return "; ".join([text, *self.notes])


def store_frame(catalog, path: str, frame: pd.DataFrame, *, metadata: dict | None = None, mode: str = "write",
                prune: bool = False, library: str | None = None, symbol: str | None = None,
                create: str | None = None) -> StoreResult:
    """Write ``frame`` to the symbol ``path`` routes to, as a new version.

    The symbol's write lock is held from reading its true latest version to writing the new one, so that
    concurrent writers (threads, processes, machines) each build on the other's version: none is lost.
    ``create`` ("new" or "if_not_exists", from CREATE TABLE [IF NOT EXISTS]): the symbol must not exist, checked
    under the lock (another writer may have made it since the statement began): an error, or nothing written.
    """
    mode = mode.lower()
    if mode not in MODES:
        raise ProgrammingError(f"MODE must be one of {', '.join(MODES)}, not {mode!r}")
    if library is None or symbol is None:
        library, symbol = route(path, catalog)
    if not isinstance(frame, (pd.DataFrame, pd.Series)):
        raise DataError(f"cannot store a {type(frame).__name__}: store a pandas DataFrame")
    merged = merge_metadata(metadata, frame if isinstance(frame, pd.DataFrame) else frame.to_frame())
    if mode == "update":
        _check_update(library, symbol, frame)
    lib = catalog.library(library, create=True)
    settings = catalog.settings
    with symbol_lock(catalog.store.uri, library, symbol, timeout=settings.write_lock_timeout_s,
                     unlocked_writes=settings.unlocked_writes):
        forget_cached_versions(lib)  # the checks and the new version build on the store's latest version
        exists = lib.has_symbol(symbol)
        if exists and create == "if_not_exists":
            version = int(lib.read_metadata(symbol).version)
            return StoreResult(library, symbol, version, 0, mode, (f"{library}/{symbol} exists: nothing written",))
        if exists and create == "new":
            raise ProgrammingError(already_exists(library, symbol))
        if exists and mode != "write" and not len(frame):
            version = int(lib.read_metadata(symbol).version)
            return StoreResult(library, symbol, version, 0, mode, ("no rows: nothing written",))
        if mode == "append" and exists:
            _check_append(lib, library, symbol, frame)
        if mode == "write" or not exists:
            item = lib.write(symbol, frame, metadata=merged, prune_previous_versions=False)
        elif mode == "append":
            item = lib.append(symbol, frame, metadata=merged, prune_previous_versions=False)
        else:
            item = lib.update(symbol, frame, metadata=merged, upsert=True,
                              date_range=(frame.index.min(), frame.index.max()), prune_previous_versions=False)
        if prune:
            lib.prune_previous_versions(symbol)
    catalog.saw_latest(library, symbol, int(item.version))
    catalog.changed()
    return StoreResult(library, symbol, int(item.version), len(frame), mode)


def already_exists(library: str, symbol: str) -> str:
    return (f"{library}/{symbol} already exists: use CREATE OR REPLACE TABLE (a new version), CREATE TABLE IF NOT "
            "EXISTS, or INSERT INTO (append)")


def store_staged(catalog, library: str, symbol: str, staged: list, parts: list[dict], sample: pd.DataFrame, *,
                 metadata: dict | None = None, mode: str = "write", prune: bool = False) -> StoreResult:
    """Make the chunks parallel writers staged (``staged``: ArcticDB's stage results, each sorted by the index,
    none sharing an index value with another) the new version of ``library/symbol``, in index order.

    The same lock, checks, metadata and pruning as :func:`store_frame`: ``parts`` are the automatic metadata of
    each chunk (merged into the version's), ``sample`` a frame with the chunks' columns, types and index and no
    rows (for the append checks). On any failure the staged chunks are deleted and the symbol is as it was.
    """
    mode = mode.lower()
    if mode not in ("write", "append"):
        raise ProgrammingError(f"staged writes take MODE 'write' or 'append', not {mode!r}")
    auto = combine_auto_metadata(parts)
    merged = merge_metadata(metadata, sample, auto=auto)
    lib = catalog.library(library, create=True)
    settings = catalog.settings
    try:
        with symbol_lock(catalog.store.uri, library, symbol, timeout=settings.write_lock_timeout_s,
                         unlocked_writes=settings.unlocked_writes):
            forget_cached_versions(lib)  # the checks and the new version build on the store's latest version
            exists = lib.has_symbol(symbol)
            if mode == "append" and exists:
                first = pd.Timestamp(auto["date_range"][0]) if auto.get("date_range") else None
                _check_append(lib, library, symbol, sample, first=first)
            item = lib.finalize_staged_data(symbol, "append" if mode == "append" and exists else "write",
                                            metadata=merged, prune_previous_versions=False, stage_results=staged)
            if prune:
                lib.prune_previous_versions(symbol)
    except BaseException:
        try:
            lib.delete_staged_data(staged)
        except Exception:  # noqa: BLE001 - finalize may have consumed them; the first error is the one to report
            pass
        raise
    catalog.saw_latest(library, symbol, int(item.version))
    catalog.changed()
    return StoreResult(library, symbol, int(item.version), int(auto["shape"][0]), mode)


def _check_append(lib, library: str, symbol: str, frame: pd.DataFrame, first: pd.Timestamp | None = None) -> None:
    """``frame``: the new rows (or their columns and types, with ``first`` the first index value)."""
    description = lib.get_description(symbol)
    stored = lib.read(symbol, row_range=(0, 0)).data
    if list(stored.columns) != [str(c) for c in frame.columns]:
        raise IntegrityError(f"cannot append to {library}/{symbol}: columns {list(frame.columns)} do not match "
                             f"the symbol's {list(stored.columns)}")
    for name in stored.columns:
        left, right = stored[name].dtype, frame[name].dtype
        if left != right and not (np.issubdtype(left, np.number) and np.issubdtype(right, np.number)
                                  and np.can_cast(right, left, casting="safe")):
            raise IntegrityError(f"cannot append to {library}/{symbol}: column {name!r} is {right} in the new "
                                 f"rows but {left} in the symbol")
    if isinstance(frame.index, pd.DatetimeIndex):
        if not frame.index.is_monotonic_increasing:
            raise IntegrityError(f"cannot append to {library}/{symbol}: the new rows' index is not sorted")
        last = description.date_range[1] if description.date_range else None
        if first is None and len(frame):
            first = frame.index.min()
        if last is not None and not pd.isna(last) and first is not None:
            last = pd.Timestamp(last)
            if (first.tzinfo is None) != (last.tzinfo is None):
                last = last.tz_localize(None) if last.tzinfo else last.tz_localize(first.tzinfo)
            if first <= last:
                raise IntegrityError(f"cannot append to {library}/{symbol}: the new rows start at {first}, "
                                     f"not after the symbol's last index {last} (use MODE 'update' to replace "
                                     "a date range)")


def _check_update(library: str, symbol: str, frame: pd.DataFrame) -> None:
    if not isinstance(frame.index, pd.DatetimeIndex):
        raise ProgrammingError(f"MODE 'update' of {library}/{symbol} needs a timestamp index "
                               "(name it with INDEX 'column')")
    if not frame.index.is_monotonic_increasing:
        raise IntegrityError(f"cannot update {library}/{symbol}: the new rows' index is not sorted")
