"""Writes to ArcticDB: routing a path to (library, symbol), shaping a frame, metadata, and the write modes.

Every check that can fail runs before ArcticDB is touched, and ArcticDB makes a version visible only once it
is completely written, so a failed store command leaves the symbol's latest version exactly as it was.
``prune`` drops older versions only after the new one is written.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from arcticsql.errors import DataError, IntegrityError, ProgrammingError

MODES = ("write", "append", "update")
#: Column names taken as the index, in order, when nothing else says which column is the index.
INDEX_NAMES = ("ts", "timestamp", "date", "datetime", "index")
_SEGMENT = re.compile(r"^[A-Za-z0-9_.\-:+=@ ]+$")


@dataclass(frozen=True)
class StoreResult:
    library: str
    symbol: str
    version: int
    rows: int
    mode: str

    def __str__(self) -> str:
        return f"{self.mode}: {self.library}/{self.symbol} version {self.version} ({self.rows:,} rows)"


# -- routing -----------------------------------------------------------------------------------------------
def route(path: str, catalog) -> tuple[str, str]:
    """``(library, symbol)`` for a store path.

    The library is the longest run of leading segments, joined by '_', that names an existing or core
    library; otherwise the first segment (a new library). The remaining segments, joined by '/', are the
    symbol. So 'prices/1min/AAPL' -> prices_1min/AAPL, 'news/enriched/2024-01-15' -> news_enriched/2024-01-15,
    'signals/momentum/SP500' -> signals/momentum/SP500, 'prices_daily/MSFT' -> prices_daily/MSFT.
    """
    segments = path.strip().strip("/").split("/")
    if len(segments) < 2 or any(not s for s in segments):
        raise ProgrammingError(f"invalid store path {path!r}: expected 'library/symbol' or seed-style "
                               "segments such as 'prices/1min/AAPL'")
    bad = [s for s in segments if not _SEGMENT.match(s)]
    if bad:
        raise ProgrammingError(f"invalid store path {path!r}: segment {bad[0]!r} has characters other than "
                               "letters, digits and _ . - : + = @ space")
    for cut in range(len(segments) - 1, 0, -1):
        library = "_".join(segments[:cut])
        if catalog.is_known_library(library) or catalog.has_library(library):
            return library, "/".join(segments[cut:])
    return segments[0], "/".join(segments[1:])


# -- metadata ----------------------------------------------------------------------------------------------
def auto_metadata(df: pd.DataFrame) -> dict[str, Any]:
    """Seed 000's automatic metadata, JSON-ready."""
    index = df.index
    date_range = None
    if len(df) and isinstance(index, pd.DatetimeIndex):
        if index.is_monotonic_increasing:  # cached on the index; ArcticDB checks it on write anyway
            date_range = [index[0].isoformat(), index[-1].isoformat()]
        else:
            date_range = [index.min().isoformat(), index.max().isoformat()]
    return {
        "shape": list(df.shape),
        "columns": [str(c) for c in df.columns],
        "dtypes": {str(k): str(v) for k, v in df.dtypes.to_dict().items()},
        "stored_at": datetime.now(timezone.utc).replace(tzinfo=None).isoformat(),
        "index_type": type(index).__name__,
        "index_names": [n for n in index.names],
        "memory_usage_mb": float(df.memory_usage(deep=True).sum() / 1024 / 1024),
        "has_nulls": any(_has_nulls(df.iloc[:, position]) for position in range(df.shape[1])),
        "date_range": date_range,
    }


def _has_nulls(column: pd.Series) -> bool:
    """Whether ``column`` holds a NaN, None or NaT (as ``Series.hasnans``), without a mask per column."""
    dtype = column.dtype
    if isinstance(dtype, np.dtype):
        if dtype.kind in "iub":  # integers and booleans cannot hold a null
            return False
        if dtype.kind == "f":
            values = column.to_numpy()
            # min propagates NaN and nothing else makes it NaN (inf - inf is never computed)
            return bool(len(values)) and bool(np.isnan(values.min()))
    return bool(column.hasnans)


def merge_metadata(user: dict[str, Any] | None, df: pd.DataFrame) -> dict[str, Any]:
    """User metadata with the automatic metadata under ``auto`` (which it may not override)."""
    if user is not None and not isinstance(user, dict):
        raise DataError("METADATA must be a JSON object")
    merged = dict(user or {})
    merged["auto"] = auto_metadata(df)
    return merged


def parse_metadata(text: str | None) -> dict[str, Any] | None:
    if text is None:
        return None
    try:
        value = json.loads(text)
    except json.JSONDecodeError as error:
        raise DataError(f"METADATA is not valid JSON: {error.msg} at position {error.pos}") from None
    if not isinstance(value, dict):
        raise DataError("METADATA must be a JSON object, such as '{\"model\": \"v2\"}'")
    return value


# -- shaping -----------------------------------------------------------------------------------------------
def arrow_to_frame(table: pa.Table, index: str | None = None, existing=None) -> pd.DataFrame:
    """A query result as the DataFrame to store.

    The index is the ``index`` column if given, else the existing symbol's index columns, else a single
    timestamp column named ts/timestamp/date/datetime/index, else a row-number index. Timestamps become
    nanoseconds (a zoned index takes the existing symbol's zone), dates become timestamps, decimals become
    floats, and types
    ArcticDB cannot store are an error naming the column.
    """
    table = _storable(table)
    columns = _index_columns(table, index, existing)
    # The index columns are converted apart from the rest (no set_index copy), and split_blocks keeps
    # numeric columns zero-copy views of the Arrow buffers (ArcticDB only reads them).
    values = table.drop_columns(columns).to_pandas(coerce_temporal_nanoseconds=True, date_as_object=False,
                                                   split_blocks=True)
    if not columns:
        return values
    levels = [table.column(c).to_pandas(coerce_temporal_nanoseconds=True, date_as_object=False) for c in columns]
    if len(levels) == 1:
        frame_index = pd.Index(levels[0], name=columns[0])
    else:
        frame_index = pd.MultiIndex.from_arrays(levels, names=columns)
    if existing is not None and existing.date_index in columns and isinstance(frame_index, pd.DatetimeIndex):
        zone = existing.arrow.field(existing.date_index).type.tz
        if zone is not None and frame_index.tz is not None:
            frame_index = frame_index.tz_convert(zone)
        elif zone is None and frame_index.tz is not None:
            frame_index = frame_index.tz_convert("UTC").tz_localize(None)
    values.index = frame_index
    return values


def _index_columns(table: pa.Table, index: str | None, existing) -> list[str]:
    names = table.column_names
    if index is not None:
        wanted = [c.strip() for c in index.split(",") if c.strip()]
        missing = [c for c in wanted if c not in names]
        if missing:
            raise ProgrammingError(f"INDEX column {missing[0]!r} is not in the query result "
                                   f"(columns: {', '.join(names)})")
        return wanted
    if existing is not None and existing.range_index is None and existing.index_columns:
        if all(c in names for c in existing.index_columns):
            return list(existing.index_columns)
    if existing is not None and existing.range_index is not None:
        return []
    candidates = [n for n in INDEX_NAMES if n in names and pa.types.is_timestamp(table.schema.field(n).type)]
    return candidates[:1]


def _storable(table: pa.Table) -> pa.Table:
    arrays, fields = [], []
    for field, column in zip(table.schema, table.columns):
        kind = field.type
        if pa.types.is_dictionary(kind):
            column, kind = column.cast(kind.value_type), kind.value_type
        if pa.types.is_date(kind):
            column, kind = column.cast(pa.timestamp("ns")), pa.timestamp("ns")
        if pa.types.is_string_view(kind) or pa.types.is_large_string(kind):
            column, kind = column.cast(pa.string()), pa.string()
        if pa.types.is_decimal(kind):
            # SQL literals such as 0.5 are DECIMAL in DuckDB; ArcticDB stores floats.
            column, kind = column.cast(pa.float64()), pa.float64()
        if not _supported(kind):
            raise DataError(f"column {field.name!r} has type {kind}, which ArcticDB cannot store "
                            "(store numbers, booleans, strings or timestamps)")
        arrays.append(column)
        fields.append(pa.field(field.name, kind))
    return pa.Table.from_arrays(arrays, schema=pa.schema(fields))


def _supported(kind: pa.DataType) -> bool:
    return (pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_boolean(kind)
            or pa.types.is_timestamp(kind) or pa.types.is_string(kind) or pa.types.is_null(kind))


# -- writing -----------------------------------------------------------------------------------------------
def store_frame(session, path: str, frame: pd.DataFrame, *, metadata: dict | None = None, mode: str = "write",
                prune: bool = False, library: str | None = None, symbol: str | None = None) -> StoreResult:
    """Write ``frame`` to the symbol ``path`` routes to, as a new version."""
    mode = mode.lower()
    if mode not in MODES:
        raise ProgrammingError(f"MODE must be one of {', '.join(MODES)}, not {mode!r}")
    catalog = session.catalog
    if library is None or symbol is None:
        library, symbol = route(path, catalog)
    if not isinstance(frame, (pd.DataFrame, pd.Series)):
        raise DataError(f"cannot store a {type(frame).__name__}: store a pandas DataFrame")
    merged = merge_metadata(metadata, frame if isinstance(frame, pd.DataFrame) else frame.to_frame())
    lib = catalog.library(library, create=True)
    exists = lib.has_symbol(symbol)
    if mode == "append" and exists:
        _check_append(lib, library, symbol, frame)
    if mode == "update":
        _check_update(library, symbol, frame)
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
    return StoreResult(library, symbol, int(item.version), len(frame), mode)


def _check_append(lib, library: str, symbol: str, frame: pd.DataFrame) -> None:
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
        if last is not None and not pd.isna(last) and len(frame):
            first = frame.index.min()
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
