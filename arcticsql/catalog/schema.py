"""What one ArcticDB symbol version looks like as a SQL table.

ArcticDB's Arrow output names an unnamed index ``__index__`` (or ``__index_level_N__`` for a MultiIndex) and
leaves a RangeIndex out; its timestamps are nanoseconds. The declared table instead has:

- every index level as a column named after it (``index`` when unnamed, ``level_N`` for unnamed MultiIndex
  levels; a RangeIndex becomes an ``index`` column of row numbers);
- a timestamp index as DuckDB ``TIMESTAMP`` (microseconds, zone kept), so DuckDB offers date predicates for
  pushdown. The stored nanoseconds are cast on reading with a check: a value that is not a whole
  microsecond is never rounded, it raises :class:`~arcticsql.errors.IndexNotMicroseconds`, and the
  statement is planned again with the version's index declared ``TIMESTAMP_NS`` (remembered per version:
  versions are immutable). Every row a read returns is thus exact, and no read of the whole index is
  needed to decide;
- value columns as ArcticDB returns them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd
import pyarrow as pa

#: Bytes per row assumed for variable-width columns when sizing scan chunks.
_VARIABLE_WIDTH_BYTES = 32


@dataclass(frozen=True)
class SymbolSchema:
    """The declared SQL shape of one symbol version and how to get it from ArcticDB's Arrow output."""

    library: str
    symbol: str
    version: int
    arrow: pa.Schema                        # what DuckDB sees
    stored_names: dict[str, str]            # declared column -> ArcticDB Arrow column
    index_columns: tuple[str, ...]          # declared names of the index levels, in order
    value_columns: tuple[str, ...]          # declared names that ArcticDB's ``columns=`` selects
    date_index: str | None                  # declared name of a timestamp index usable for date_range
    range_index: tuple[int, int] | None     # (start, step) of a RangeIndex, synthesized as ``index``
    row_count: int
    row_bytes: int
    casts: dict[str, pa.DataType] = field(default_factory=dict)  # declared column -> type to cast to
    first_index: object = None              # first/last date index value (pd.Timestamp) when known
    last_index: object = None
    index_sorted: bool = False              # rows are in ascending index order (ArcticDB says so)
    index_unsorted: bool = False            # ArcticDB says they are not: a date range cannot be read
    created: int | None = None              # when the version was written (ns): with the number, unique

    @property
    def names(self) -> list[str]:
        return self.arrow.names

    def respelled(self, spelling: dict[str, str]) -> SymbolSchema:
        """This schema with its column names spelled as ``spelling`` (lower case -> name) says: a wildcard's
        members whose names differ only in case share one column, as SQL names do."""
        def name(column: str) -> str:
            return spelling.get(column.lower(), column)

        if all(name(column) == column for column in self.names):
            return self
        return replace(
            self,
            arrow=pa.schema([field.with_name(name(field.name)) for field in self.arrow], metadata=self.arrow.metadata),
            stored_names={name(column): stored for column, stored in self.stored_names.items()},
            index_columns=tuple(map(name, self.index_columns)),
            value_columns=tuple(map(name, self.value_columns)),
            date_index=None if self.date_index is None else name(self.date_index),
            casts={name(column): kind for column, kind in self.casts.items()},
        )

    def in_index_order(self, column: str) -> bool:
        """Whether the rows are stored in ascending order of ``column``: the sorted date index, or the row
        numbers of a RangeIndex (with a positive step)."""
        if self.range_index is not None and column == self.index_columns[0]:
            return self.range_index[1] > 0
        return self.index_sorted and column == self.date_index

    def chunk_rows(self, chunk_bytes: int) -> int:
        """Rows per scan chunk so a chunk holds about ``chunk_bytes``."""
        return max(1, chunk_bytes // max(1, self.row_bytes))


def _pandas_index_info(schema: pa.Schema) -> tuple[list[str], tuple[int, int] | None]:
    """Stored index column names and, for a RangeIndex, its (start, step)."""
    meta = (schema.metadata or {}).get(b"pandas")
    if not meta:
        return [], None
    info = json.loads(meta)
    stored, range_index = [], None
    for entry in info.get("index_columns", []):
        if isinstance(entry, str):
            stored.append(entry)
        elif isinstance(entry, dict) and entry.get("kind") == "range":
            range_index = (int(entry.get("start", 0)), int(entry.get("step", 1)))
    return stored, range_index


def _exposed_index_name(stored: str, position: int, levels: int) -> str:
    if stored == "__index__":
        return "index"
    if stored.startswith("__index_level_") and stored.endswith("__"):
        return "index" if levels == 1 else f"level_{position}"
    return stored


def _width(kind: pa.DataType) -> int:
    try:
        return max(1, kind.bit_width // 8)
    except ValueError:
        return _VARIABLE_WIDTH_BYTES


#: Schemas built from each stored schema, by (column names, microseconds), then the stored schema itself
#: (with its metadata): a wildcard's members mostly share one, and building it is most of the cost of
#: describing a small symbol. (Found by comparing schemas: hashing one costs five times as much.)
_TEMPLATES: dict[tuple[tuple[str, ...], bool], list[tuple[pa.Schema, SymbolSchema]]] = {}


def build_schema(library: str, symbol: str, version: int, stored: pa.Schema, row_count: int,
                 microseconds: bool = True, date_range: tuple = (None, None),
                 sorted_index: bool = False, created: int | None = None, unsorted: bool = False) -> SymbolSchema:
    """The declared schema for a symbol version from its stored Arrow schema (a zero-row read).

    ``microseconds``: declare a nanosecond timestamp index as ``TIMESTAMP`` (cast on reading; a value that
    is not a whole microsecond then raises, see the module docstring), else ``TIMESTAMP_NS``.
    """
    template = _template(stored, microseconds)
    dated = template.date_index is not None
    return replace(template, library=library, symbol=symbol, version=version, row_count=row_count,
                   first_index=_timestamp_or_none(date_range[0]) if dated else None,
                   last_index=_timestamp_or_none(date_range[1]) if dated else None,
                   index_sorted=sorted_index, index_unsorted=unsorted and dated,
                   created=None if created is None else int(created))


def schema_of_rows(library: str, symbol: str, version: int, data: pa.Table, microseconds: bool = True,
                   created: int | None = None) -> SymbolSchema:
    """The declared schema of a version read whole (``data``: ArcticDB's Arrow output of all of it), its
    row count, first and last index values and order taken from the rows (as ArcticDB's description
    gives them for a version)."""
    template = _template(data.schema, microseconds)
    low = high = None
    ascending = True
    if template.date_index is not None:
        low, high, ascending = index_extent(data.column(template.stored_names[template.date_index]))
    return replace(template, library=library, symbol=symbol, version=version, row_count=data.num_rows,
                   first_index=low, last_index=high, index_sorted=ascending,
                   index_unsorted=not ascending and template.date_index is not None,
                   created=None if created is None else int(created))


def index_extent(index: pa.ChunkedArray) -> tuple[pd.Timestamp | None, pd.Timestamp | None, bool]:
    """The first and last value of a timestamp index as read, and whether it ascends."""
    if not len(index):
        return None, None, True
    if index.null_count:
        return None, None, False
    chunk = index.chunks[0] if index.num_chunks == 1 else index.combine_chunks()
    values = np.frombuffer(chunk.buffers()[1], dtype=np.int64)[chunk.offset:chunk.offset + len(chunk)]
    ascending = bool(len(values) < 2 or (values[1:] >= values[:-1]).all())
    low, high = (int(values[0]), int(values[-1])) if ascending else (int(values.min()), int(values.max()))
    tz = index.type.tz

    def stamp(value: int) -> pd.Timestamp:
        return pd.Timestamp(value, unit="ns", tz="UTC").tz_convert(tz) if tz else pd.Timestamp(value, unit="ns")

    return stamp(low), stamp(high), ascending


def _template(stored: pa.Schema, microseconds: bool) -> SymbolSchema:
    candidates = _TEMPLATES.setdefault((tuple(stored.names), microseconds), [])
    for schema, template in candidates:
        if schema is stored or schema.equals(stored, check_metadata=True):
            return template
    template = _build_template(stored, microseconds)
    if len(candidates) > 64:
        candidates.clear()
    if len(_TEMPLATES) > 1024:
        _TEMPLATES.clear()
        candidates = _TEMPLATES.setdefault((tuple(stored.names), microseconds), [])
    candidates.append((stored, template))
    return template


def _build_template(stored: pa.Schema, microseconds: bool) -> SymbolSchema:
    """The declared shape of a stored schema (no library, symbol, version or rows yet)."""
    index_stored, range_index = _pandas_index_info(stored)
    fields: list[pa.Field] = []
    stored_names: dict[str, str] = {}
    casts: dict[str, pa.DataType] = {}
    index_columns: list[str] = []
    value_columns: list[str] = []
    date_index = None

    if range_index is not None:
        fields.append(pa.field("index", pa.int64()))
        index_columns.append("index")
    for position, name in enumerate(index_stored):
        kind = stored.field(name).type
        exposed = _exposed_index_name(name, position, len(index_stored))
        if pa.types.is_timestamp(kind) and kind.unit == "ns" and position == 0:
            if microseconds:
                casts[exposed] = pa.timestamp("us", tz=kind.tz)
                kind = casts[exposed]
                date_index = exposed
        elif pa.types.is_timestamp(kind) and position == 0:
            date_index = exposed
        fields.append(pa.field(exposed, kind))
        stored_names[exposed] = name
        index_columns.append(exposed)
    taken = {f.name for f in fields}
    for column in stored:
        if column.name in index_stored:
            continue
        exposed = column.name if column.name not in taken else f"{column.name}_1"
        fields.append(pa.field(exposed, column.type))
        stored_names[exposed] = column.name
        value_columns.append(exposed)
    arrow = pa.schema(fields)
    return SymbolSchema(
        library="",
        symbol="",
        version=0,
        arrow=arrow,
        stored_names=stored_names,
        index_columns=tuple(index_columns),
        value_columns=tuple(value_columns),
        date_index=date_index,
        range_index=range_index,
        row_count=0,
        row_bytes=sum(_width(f.type) for f in fields) or 8,
        casts=casts,
    )


def _timestamp_or_none(value):
    if value is None:
        return None
    stamp = pd.Timestamp(value)
    return None if pd.isna(stamp) else stamp
