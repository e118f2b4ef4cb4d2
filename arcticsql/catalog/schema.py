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


def build_schema(library: str, symbol: str, version: int, stored: pa.Schema, row_count: int,
                 microseconds: bool = True, date_range: tuple = (None, None),
                 created: int | None = None) -> SymbolSchema:
    """The declared schema for a symbol version from its stored Arrow schema (a zero-row read).

    ``microseconds``: declare a nanosecond timestamp index as ``TIMESTAMP`` (cast on reading; a value that
    is not a whole microsecond then raises, see the module docstring), else ``TIMESTAMP_NS``.
    """
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
        library=library,
        symbol=symbol,
        version=version,
        arrow=arrow,
        stored_names=stored_names,
        index_columns=tuple(index_columns),
        value_columns=tuple(value_columns),
        date_index=date_index,
        range_index=range_index,
        row_count=row_count,
        row_bytes=sum(_width(f.type) for f in fields) or 8,
        casts=casts,
        first_index=_timestamp_or_none(date_range[0]) if date_index else None,
        last_index=_timestamp_or_none(date_range[1]) if date_index else None,
        created=None if created is None else int(created),
    )


def _timestamp_or_none(value):
    import pandas as pd

    if value is None:
        return None
    stamp = pd.Timestamp(value)
    return None if pd.isna(stamp) else stamp
