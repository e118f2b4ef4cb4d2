"""Loaded pickles as Arrow tables: frame conversion, the per-file naming columns, and the union by name.

A DataFrame's index becomes a column when it carries information: a named index keeps its name (each
named MultiIndex level too), an unnamed RangeIndex is dropped, any other unnamed index becomes ``index``
(``level_<i>`` for unnamed MultiIndex levels). A Series becomes one column named after it, or ``value``.
Strings come out as plain ``string``, categoricals as their values, and a data column whose name is one
of the naming columns is renamed ``<name>_1``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import pyarrow as pa

from arcticsql.storage.base import StorageError
from arcticsql.storage.naming import NAMING_FIELDS
from arcticsql.storage.safe_pickle import require_frame

#: The columns every dataset row carries about the file it came from, in this order.
NAMING_SCHEMA = pa.schema([
    pa.field("file", pa.string()),
    pa.field("data_type", pa.string()),
    pa.field("market_type", pa.string()),
    pa.field("model_type", pa.string()),
    pa.field("timestamp", pa.timestamp("us")),
    pa.field("params", pa.string()),
])
NAMING_COLUMNS = tuple(NAMING_SCHEMA.names)
assert NAMING_COLUMNS[1:] == NAMING_FIELDS


def naming_row(path: str) -> dict[str, Any]:
    """The naming columns' values for one file: ``file`` plus :func:`~arcticsql.storage.naming.parse_path`."""
    from arcticsql.storage.naming import parse_path

    return {"file": path, **parse_path(path)}


def naming_table(paths: Sequence[str]) -> pa.Table:
    """One row of naming columns per file."""
    rows = [naming_row(path) for path in paths]
    return pa.Table.from_pylist(rows, schema=NAMING_SCHEMA)


def _plain_type(kind: pa.DataType) -> pa.DataType:
    """The type a column is normalised to: plain strings and binaries, dictionaries decoded."""
    if pa.types.is_dictionary(kind):
        return _plain_type(kind.value_type)
    if pa.types.is_large_string(kind) or pa.types.is_string_view(kind):
        return pa.string()
    if pa.types.is_large_binary(kind) or pa.types.is_binary_view(kind):
        return pa.binary()
    return kind


def _index_names(frame: Any) -> list[str] | None:
    """The column names the index becomes, or None when it is dropped (an unnamed RangeIndex)."""
    import pandas

    index = frame.index
    names = list(index.names)
    if isinstance(index, pandas.RangeIndex) and names == [None]:
        return None
    if len(names) == 1:
        return [names[0] if names[0] is not None else ("index" if "index" not in frame.columns else "level_0")]
    return [name if name is not None else f"level_{position}" for position, name in enumerate(names)]


def frame_to_arrow(obj: Any, name: str) -> pa.Table:
    """A loaded DataFrame or Series as an Arrow table (see the module docstring); StorageError naming the
    file for any other object, duplicate column names, or a column Arrow cannot type."""
    import pandas

    frame = require_frame(obj, name)
    if isinstance(frame, pandas.Series):
        frame = frame.to_frame(name=frame.name if frame.name is not None else "value")
    index_names = _index_names(frame)
    data_names = [str(column) for column in frame.columns]
    names = [*(index_names or []), *data_names]
    duplicated = sorted({column for column in names if names.count(column) > 1})
    if duplicated:
        raise StorageError(f"{name}: duplicate column names {duplicated}")
    try:
        table = pa.Table.from_pandas(frame, preserve_index=index_names is not None)
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, ValueError, TypeError) as error:
        raise StorageError(f"{name}: cannot convert to Arrow: {error}") from error
    # from_pandas puts data columns first and the index last
    table = table.rename_columns(data_names + (index_names or []))
    if index_names:
        table = table.select(index_names + data_names)
    return _normalise(table)


def _normalise(table: pa.Table) -> pa.Table:
    """Plain string/binary types, decoded dictionaries, naming-column clashes renamed, no pandas metadata."""
    fields = []
    columns = []
    taken = set(table.column_names)
    for field, column in zip(table.schema, table.columns, strict=True):
        name = field.name
        if name in NAMING_COLUMNS:
            suffix = 1
            while f"{name}_{suffix}" in taken:
                suffix += 1
            name = f"{name}_{suffix}"
            taken.add(name)
        plain = _plain_type(field.type)
        columns.append(column if plain == field.type else column.cast(plain))
        fields.append(pa.field(name, plain))
    return pa.Table.from_arrays(columns, schema=pa.schema(fields))


def with_naming(table: pa.Table, naming: Mapping[str, Any], columns: Iterable[str] = NAMING_COLUMNS) -> pa.Table:
    """``table`` with the requested naming columns appended, each holding this file's value on every row."""
    rows = table.num_rows
    for column in columns:
        kind = NAMING_SCHEMA.field(column).type
        table = table.append_column(pa.field(column, kind), pa.repeat(pa.scalar(naming[column], kind), rows))
    return table


def union_schema(schemas: Iterable[tuple[str, pa.Schema]]) -> pa.Schema:
    """The union by name of (file, schema) pairs, promoting compatible types (int64 and double → double,
    null and anything → that); StorageError naming both files for a type conflict."""
    merged = pa.schema([])
    origin: dict[str, str] = {}
    for file, schema in schemas:
        try:
            merged = pa.unify_schemas([merged, schema], promote_options="permissive")
        except (pa.ArrowTypeError, pa.ArrowInvalid):
            for field in schema:
                index = merged.get_field_index(field.name)
                if index < 0:
                    continue
                try:
                    pa.unify_schemas([pa.schema([merged.field(index)]), pa.schema([field])],
                                     promote_options="permissive")
                except (pa.ArrowTypeError, pa.ArrowInvalid):
                    raise StorageError(
                        f"column {field.name!r} is {merged.field(index).type} in {origin[field.name]} "
                        f"but {field.type} in {file}") from None
            raise
        for field in schema:
            origin.setdefault(field.name, file)
    return merged


def conform(table: pa.Table, schema: pa.Schema, name: str) -> pa.Table:
    """``table`` with exactly the columns of ``schema``, in order: cast where types differ, null where absent.

    StorageError naming the file for a column outside ``schema`` or a value the cast cannot keep.
    """
    extra = [column for column in table.column_names if schema.get_field_index(column) < 0]
    if extra:
        raise StorageError(f"{name}: columns {extra} are not in the dataset's declared schema")
    columns = []
    for field in schema:
        index = table.schema.get_field_index(field.name)
        if index < 0:
            columns.append(pa.nulls(table.num_rows, field.type))
            continue
        column = table.column(index)
        if column.type != field.type:
            try:
                column = column.cast(field.type)
            except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError) as error:
                raise StorageError(f"{name}: column {field.name!r} ({column.type}) does not fit "
                                   f"{field.type}: {error}") from error
        columns.append(column)
    return pa.Table.from_arrays(columns, schema=schema)
