"""Loaded pickles as Arrow tables, and the per-file naming columns.

An index becomes columns when it carries information: a named index (or MultiIndex level) keeps its name,
an unnamed RangeIndex is dropped, another unnamed index becomes ``index`` (``level_<i>``). A Series is one
column, named after it or ``value``. Strings come out plain ``string``, categoricals as their values,
periods as their start, NaN as null, and a column named as a naming column is renamed ``<name>_1``.
"""

from __future__ import annotations

import os
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas
import pyarrow as pa

from arcticsql.conform import constant_array
from arcticsql.errors import StorageError, one_line
from arcticsql.missing import nan_to_null
from arcticsql.pickles.checks import check_frame
from arcticsql.pickles.metadata import read_attrs
from arcticsql.pickles.naming import parse_path
from arcticsql.pickles.unpickling import load_pickle, require_frame

#: The columns every dataset row carries about the file it came from, in this order.
NAMING_SCHEMA = pa.schema([
    pa.field("file", pa.string()),
    pa.field("data_type", pa.string()),
    pa.field("market_type", pa.string()),
    pa.field("model_type", pa.string()),
    pa.field("timestamp", pa.timestamp("us")),
    pa.field("params", pa.string()),
])
NAMING_COLUMNS = tuple(NAMING_SCHEMA.names)  # file, then parse_path's fields


def naming_row(path: str) -> dict[str, Any]:
    """The naming columns' values for one file: ``file`` plus :func:`~arcticsql.pickles.naming.parse_path`."""
    return {"file": path, **parse_path(path)}


def naming_table(rows: Sequence[Mapping[str, Any]]) -> pa.Table:
    """Rows of :func:`naming_row` as a table, column by column (``from_pylist`` takes five times as long)."""
    columns = [pa.array([row[field.name] for row in rows], field.type) for field in NAMING_SCHEMA]
    return pa.Table.from_arrays(columns, schema=NAMING_SCHEMA)


def _plain_type(kind: pa.DataType) -> pa.DataType:
    """The type a column is normalised to: plain strings and binaries, dictionaries decoded."""
    if pa.types.is_dictionary(kind):
        return _plain_type(kind.value_type)
    if pa.types.is_large_string(kind) or pa.types.is_string_view(kind):
        return pa.string()
    if pa.types.is_large_binary(kind) or pa.types.is_binary_view(kind):
        return pa.binary()
    return kind


def _index_names(frame: Any, columns: list[Any]) -> list[str] | None:
    """The column names the index becomes, or None when it is dropped (an unnamed RangeIndex)."""
    index = frame.index
    names = list(index.names)
    if isinstance(index, pandas.RangeIndex) and names == [None]:
        return None
    if len(names) == 1:
        return [names[0] if names[0] is not None else ("index" if "index" not in columns else "level_0")]
    return [name if name is not None else f"level_{position}" for position, name in enumerate(names)]


@dataclass(frozen=True)
class FrameColumns:
    """A loaded frame's output column names, in order, and how to get each one's pandas values."""

    frame: Any
    sources: dict[str, tuple[str, int]]  # output name -> ("index", level) or ("column", position)

    @property
    def names(self) -> list[str]:
        return list(self.sources)

    def values(self, column: str) -> Any:
        """The pandas values of one output column (a view: nothing is copied)."""
        kind, position = self.sources[column]
        if kind == "column":
            # the column's own array: a Series (iloc, ~50 us) is not needed, only its values and dtype
            return self.frame._get_column_array(position)
        index = self.frame.index
        return index if index.nlevels == 1 else index.get_level_values(position)


def frame_columns(obj: Any, name: str) -> FrameColumns:
    """The output columns of a loaded DataFrame or Series: index columns, then data columns, naming-column
    clashes renamed; StorageError naming the file for another object, or duplicate names."""
    frame = require_frame(obj, name)
    if isinstance(frame, pandas.Series):
        frame = frame.to_frame(name=frame.name if frame.name is not None else "value")
    columns = list(frame.columns)
    located = [(str(level), ("index", i)) for i, level in enumerate(_index_names(frame, columns) or [])]
    located += [(str(column), ("column", i)) for i, column in enumerate(columns)]
    names = [column for column, _ in located]
    folded = [column.lower() for column in names]
    if len(set(folded)) != len(folded):  # SQL does not tell 'Open' and 'open' apart either
        duplicated = sorted({column for column in names if folded.count(column.lower()) > 1})
        raise StorageError(f"{name}: duplicate column names {duplicated}")
    taken = set(names)
    sources: dict[str, tuple[str, int]] = {}
    for column, source in located:
        if column in NAMING_COLUMNS:
            suffix = 1
            while f"{column}_{suffix}" in taken:
                suffix += 1
            column = f"{column}_{suffix}"
            taken.add(column)
        sources[column] = source
    return FrameColumns(frame, sources)


def columns_to_arrow(frame: FrameColumns, name: str, only: Collection[str] | None = None, *,
                     nan_is_null: bool = True) -> pa.Table:
    """The columns of :func:`frame_columns` (those in ``only``, if given) as a normalised Arrow table:
    None is null and so is a float NaN (unless ``nan_is_null`` is False: see :mod:`arcticsql.missing`),
    strings plain ``string``, dictionaries decoded; StorageError naming the file for a column Arrow cannot
    type."""
    wanted = None if only is None else {column.lower() for column in only}  # as SQL matches names
    arrays = []
    fields = []
    for column in frame.sources:
        if wanted is not None and column.lower() not in wanted:
            continue
        values = frame.values(column)
        if isinstance(values.dtype, pandas.PeriodDtype):  # as the period's start, not its ordinal
            values = pandas.PeriodIndex(values).to_timestamp()
        dtype = values.dtype
        if isinstance(dtype, np.dtype) and dtype.kind in "biuf" and not isinstance(values, np.ndarray):
            values = values.to_numpy()  # the same array without pandas' per-call overhead (~50 us)
        try:
            if dtype.kind == "f" and isinstance(values, np.ndarray):
                # raw, then NaN made null in one pass: from_pandas looks at each value (145 us against
                # 11 us for 10,000 floats)
                array = nan_to_null(pa.array(values)) if nan_is_null else pa.array(values)
            else:
                array = pa.array(values, from_pandas=True)
            plain = _plain_type(array.type)
            array = array if plain == array.type else array.cast(plain)
        except MemoryError:
            raise
        except Exception as error:  # pyarrow's ArrowInvalid, ArrowIndexError..., or pandas' own
            raise StorageError(f"{name}: cannot convert column {column!r} to Arrow: {one_line(error)}") from error
        arrays.append(array)
        fields.append(pa.field(column, plain))
    if not arrays:  # no column wanted: keep the row count (count(*) needs it)
        return pa.table({"": pa.nulls(len(frame.frame))}).select([])
    return pa.Table.from_arrays(arrays, schema=pa.schema(fields))


@dataclass(frozen=True)
class LoadedFile:
    """A file's data columns as Arrow, the names of all its columns, its attrs."""

    table: pa.Table
    names: tuple[str, ...]
    attrs: dict[str, str | None]


def load_file(source: str | bytes, name: str, only: Collection[str] | None = None, allow_unsafe: bool = False,
              nan_is_null: bool = True) -> LoadedFile:
    """A pickle's bytes (or local path) unpickled, checked and converted (:func:`columns_to_arrow`)."""
    obj = check_frame(load_pickle(source, name, allow_unsafe=allow_unsafe), name)
    size = len(source) if isinstance(source, bytes) else os.path.getsize(source)
    if len(obj) > 8 * size + 1024:  # every stored column costs a bit a row at least (a RangeIndex costs nothing)
        raise StorageError(f"{name}: {len(obj):,} rows from a file of {size:,} bytes, more than it can hold")
    frame = frame_columns(obj, name)
    table = columns_to_arrow(frame, name, only=None if only is None else set(only), nan_is_null=nan_is_null)
    return LoadedFile(table, tuple(frame.names), read_attrs(obj))


def with_naming(table: pa.Table, naming: Mapping[str, Any], columns: Iterable[str] = NAMING_COLUMNS) -> pa.Table:
    """``table`` with the requested naming columns appended, each holding this file's value on every row."""
    rows = table.num_rows
    for column in columns:
        kind = NAMING_SCHEMA.field(column).type
        table = table.append_column(pa.field(column, kind), constant_array(naming[column], kind, rows))
    return table
