"""The catalog as SQL tables, under the reserved library name ``arcticsql``:

    arcticsql.libraries   library, symbols (count)
    arcticsql.symbols     library, symbol, rows, columns, index_name, index_type, first_index, last_index,
                          last_update, version
    arcticsql.versions    library, symbol, version, created, snapshots, deleted
    arcticsql.snapshots   library, snapshot, symbols, metadata (JSON)
    arcticsql.metadata    library, symbol, version, metadata (JSON: user and automatic), and the automatic
                          metadata of seed 000 as typed columns (stored_at, shape_rows, shape_columns,
                          columns, dtypes, index_type, memory_usage_mb, has_nulls, date_start, date_end)

Each is a lazy source: filters on ``library`` and ``symbol`` are applied to the name listing before any
symbol is described, so ``WHERE library = 'prices_1min' AND symbol = 'AAPL'`` touches one symbol.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence

import pandas as pd
import pyarrow as pa
from arcticdb import ReadInfoRequest

from arcticsql.errors import ProgrammingError, suggest
from arcticsql.sources.plan import arrow_filter, columns_of, translatable
from arcticsql.sources.protocol import Node, ScanSource

_TS = pa.timestamp("us")
_TSZ = pa.timestamp("us", tz="UTC")

SCHEMAS: dict[str, pa.Schema] = {
    "libraries": pa.schema([("library", pa.string()), ("symbols", pa.int64())]),
    "symbols": pa.schema([("library", pa.string()), ("symbol", pa.string()), ("version", pa.int64()),
                          ("rows", pa.int64()), ("columns", pa.list_(pa.string())), ("index_name", pa.string()),
                          ("index_type", pa.string()), ("first_index", pa.string()), ("last_index", pa.string()),
                          ("last_update", _TSZ)]),
    "versions": pa.schema([("library", pa.string()), ("symbol", pa.string()), ("version", pa.int64()),
                           ("created", _TSZ), ("snapshots", pa.list_(pa.string())), ("deleted", pa.bool_())]),
    "snapshots": pa.schema([("library", pa.string()), ("snapshot", pa.string()), ("symbols", pa.int64()),
                            ("metadata", pa.string())]),
    "metadata": pa.schema([("library", pa.string()), ("symbol", pa.string()), ("version", pa.int64()),
                           ("metadata", pa.string()), ("stored_at", _TS), ("shape_rows", pa.int64()),
                           ("shape_columns", pa.int64()), ("columns", pa.list_(pa.string())),
                           ("dtypes", pa.string()), ("index_type", pa.string()), ("memory_usage_mb", pa.float64()),
                           ("has_nulls", pa.bool_()), ("date_start", _TS), ("date_end", _TS)]),
}


class CatalogSource(ScanSource):
    """One catalog table; rows are computed at scan time for the names the key filters keep."""

    def __init__(self, catalog, table: str) -> None:
        super().__init__()
        if table not in SCHEMAS:
            raise ProgrammingError(f"unknown catalog table arcticsql.{table}{suggest(table, SCHEMAS)}; "
                                   f"catalog tables: {', '.join(sorted(SCHEMAS))}")
        self.catalog = catalog
        self.table = table
        self.arrow = SCHEMAS[table]

    @property
    def key(self) -> tuple:
        return ("catalog", self.table, id(self))  # never reused: the catalog changes as the store does

    def __arrow_c_schema__(self) -> object:
        return self.arrow.__arrow_c_schema__()

    def accepts(self, predicate: Node) -> bool:
        return columns_of(predicate) <= {"library", "symbol"} and translatable(predicate, self.arrow)

    def scan(self, columns: Sequence[int] | None, filters: Sequence[Node]):
        table = build(self.catalog, self.table, _keep(filters, self.arrow))
        if filters:
            table = table.filter(arrow_filter(tuple(filters), table.schema))
        if columns is not None:
            table = table.select(list(columns))
        return table.__arrow_c_stream__(), columns is not None


def _keep(filters: Sequence[Node], schema: pa.Schema) -> Callable[[str, str | None], bool]:
    """A test of (library, symbol) against the filters, for pruning before describing."""
    if not filters:
        return lambda library, symbol=None: True
    library_only = tuple(f for f in filters if columns_of(f) <= {"library"})
    both = tuple(filters)
    key_schema = pa.schema([("library", pa.string()), ("symbol", pa.string())])

    def keep(library: str, symbol: str | None = None) -> bool:
        chosen = library_only if symbol is None else both
        if not chosen:
            return True
        row = pa.table({"library": [library], "symbol": [symbol]}, schema=key_schema)
        return row.filter(arrow_filter(chosen, key_schema)).num_rows == 1

    return keep


def build(catalog, table: str, keep) -> pa.Table:
    libraries = [lib for lib in catalog.library_names() if keep(lib)]
    rows: list[dict] = []
    if table == "libraries":
        rows = [{"library": lib, "symbols": len(catalog.library(lib).list_symbols())} for lib in libraries]
    elif table == "snapshots":
        for lib in libraries:
            for name, meta in catalog.library(lib).list_snapshots(load_metadata=True).items():
                count = len(catalog.library(lib).list_symbols(snapshot_name=name))
                rows.append({"library": lib, "snapshot": name, "symbols": count,
                             "metadata": json.dumps(meta, default=str) if meta is not None else None})
    else:
        for lib in libraries:
            symbols = [s for s in sorted(catalog.library(lib).list_symbols()) if keep(lib, s)]
            rows.extend(_ROWS[table](catalog, lib, symbols))
    return pa.Table.from_pylist(rows, schema=SCHEMAS[table])


def _symbol_rows(catalog, library: str, symbols: list[str]) -> list[dict]:
    if not symbols:
        return []
    lib = catalog.library(library)
    out = []
    for symbol, info in zip(symbols, lib.get_description_batch([ReadInfoRequest(s) for s in symbols])):
        if not hasattr(info, "row_count"):
            continue
        index = info.index[0] if info.index else None
        first, last = (info.date_range if info.date_range else (None, None))
        out.append({
            "library": library, "symbol": symbol, "version": None, "rows": int(info.row_count),
            "columns": [c.name for c in info.columns],
            "index_name": (index.name if index is not None and index.name else "index") if index else None,
            "index_type": _dtype_name(index.dtype) if index is not None else "range",
            "first_index": _text(first), "last_index": _text(last),
            "last_update": pd.Timestamp(info.last_update_time).floor("us").to_pydatetime(),
        })
    versions = lib.read_metadata_batch([ReadInfoRequest(s) for s in symbols])
    by_symbol = {s: getattr(v, "version", None) for s, v in zip(symbols, versions)}
    for row in out:
        row["version"] = by_symbol.get(row["symbol"])
    return out


def _version_rows(catalog, library: str, symbols: list[str]) -> list[dict]:
    out = []
    for symbol in symbols:
        for info in catalog.versions(library, symbol):
            out.append({"library": library, "symbol": symbol, "version": info.version,
                        "created": info.date.floor("us").to_pydatetime(), "snapshots": list(info.snapshots),
                        "deleted": info.deleted})
    return out


def _metadata_rows(catalog, library: str, symbols: list[str]) -> list[dict]:
    if not symbols:
        return []
    out = []
    for symbol, item in zip(symbols, catalog.library(library).read_metadata_batch(
            [ReadInfoRequest(s) for s in symbols])):
        if not hasattr(item, "version"):
            continue
        meta = item.metadata
        auto = meta.get("auto", {}) if isinstance(meta, dict) and isinstance(meta.get("auto"), dict) else {}
        shape = auto.get("shape") or [None, None]
        dates = auto.get("date_range") or [None, None]
        out.append({
            "library": library, "symbol": symbol, "version": int(item.version),
            "metadata": json.dumps(meta, default=str) if meta is not None else None,
            "stored_at": _stamp(auto.get("stored_at")), "shape_rows": shape[0], "shape_columns": shape[1],
            "columns": auto.get("columns"), "dtypes": json.dumps(auto["dtypes"]) if "dtypes" in auto else None,
            "index_type": auto.get("index_type"), "memory_usage_mb": auto.get("memory_usage_mb"),
            "has_nulls": auto.get("has_nulls"), "date_start": _stamp(dates[0]), "date_end": _stamp(dates[1]),
        })
    return out


_ROWS = {"symbols": _symbol_rows, "versions": _version_rows, "metadata": _metadata_rows}


def _dtype_name(dtype) -> str:
    text = str(dtype)
    for marker, name in (("NANOSECONDS_UTC64", "timestamp"), ("UTF", "string"), ("INT64", "int64"),
                         ("FLOAT64", "float64"), ("INT", "integer"), ("FLOAT", "float")):
        if marker in text:
            return name
    return text


def _text(value) -> str | None:
    if value is None:
        return None
    stamp = pd.Timestamp(value)
    return None if pd.isna(stamp) else stamp.isoformat()


def _stamp(value):
    if value is None:
        return None
    stamp = pd.Timestamp(value)
    if pd.isna(stamp):
        return None
    return (stamp.tz_convert("UTC").tz_localize(None) if stamp.tzinfo else stamp).to_pydatetime()
