"""A query result (Arrow) as the pandas DataFrame ArcticDB stores: the index chosen, types ArcticDB takes."""

from __future__ import annotations

import warnings

import pandas as pd
import pyarrow as pa

from arcticsql.errors import DataError, ProgrammingError

#: Column names taken as the index, in order, when nothing else says which column is the index.
INDEX_NAMES = ("ts", "timestamp", "date", "datetime", "index")


def arrow_to_frame(table: pa.Table, index: str | None = None, existing=None) -> pd.DataFrame:
    """A query result as the DataFrame to store.

    The index is the ``index`` column if given, else the existing symbol's index columns, else a single
    timestamp column named ts/timestamp/date/datetime/index, else a row-number index. Timestamps become
    nanoseconds (a zoned index takes the existing symbol's zone), dates become timestamps, decimals become
    floats, and types
    ArcticDB cannot store are an error naming the column.
    """
    table = _storable(table)
    columns = index_columns(table, index, existing)
    for name in columns:
        if table.column(name).null_count:
            raise DataError(f"the index column {name!r} has NULLs: every row needs an index value "
                            "(filter them out, or choose another INDEX)")
    # The index columns are converted apart from the rest (no set_index copy), and split_blocks keeps
    # numeric columns zero-copy views of the Arrow buffers (ArcticDB only reads them).
    with warnings.catch_warnings():
        # pyarrow builds the split frame from a block manager, which pandas 2.3 deprecates (pyarrow's
        # business, not the user's: the frame is the same)
        warnings.filterwarnings("ignore", "Passing a BlockManager", DeprecationWarning)
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


def index_columns(table: pa.Table, index: str | None, existing) -> list[str]:
    """The columns of a query result that become the stored index (see :func:`arrow_to_frame`)."""
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


def integer_columns_with_nulls(table: pa.Table) -> list[str]:
    """The integer columns of a query result that hold NULLs: stored as DOUBLE, NULL as NaN (pandas' rule,
    since ArcticDB's integer columns have no missing value)."""
    return [field.name for field, column in zip(table.schema, table.columns)
            if pa.types.is_integer(field.type) and column.null_count]


def cast_to_existing(table: pa.Table, existing) -> pa.Table:
    """``table`` with each number or boolean column cast to the type of the same column of the symbol
    ``existing`` describes, where the cast keeps every value (``5`` into BIGINT, ``1`` into DOUBLE); other
    columns as they are (a mismatch that remains is reported by the append's checks)."""
    declared = existing.arrow
    columns = []
    for field, column in zip(table.schema, table.columns):
        target = declared.field(field.name).type if declared.get_field_index(field.name) >= 0 else None
        if target is not None and target != field.type and _numeric(target) and _numeric(field.type):
            try:
                column = column.cast(target, safe=True)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                pass
        columns.append(column)
    return pa.Table.from_arrays(columns, names=table.column_names)


def _numeric(kind: pa.DataType) -> bool:
    return pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_boolean(kind)


def _storable(table: pa.Table) -> pa.Table:
    names = table.column_names
    duplicated = sorted({name for name in names if names.count(name) > 1})
    if duplicated:
        raise DataError(f"the result has more than one column named {', '.join(map(repr, duplicated))}: "
                        "name each column once (SELECT ... AS other_name)")
    arrays, fields = [], []
    for field, column in zip(table.schema, table.columns):
        kind = field.type
        if pa.types.is_dictionary(kind):
            column, kind = column.cast(kind.value_type), kind.value_type
        if pa.types.is_date(kind):
            column, kind = column.cast(pa.timestamp("ns")), pa.timestamp("ns")
        if pa.types.is_string_view(kind) or pa.types.is_large_string(kind):
            column, kind = column.cast(pa.string()), pa.string()
        if pa.types.is_null(kind):
            # an untyped column of NULLs: stored as DOUBLE, NULL as NaN (so it reads back as NULL)
            column, kind = column.cast(pa.float64()), pa.float64()
        if pa.types.is_decimal(kind):
            # SQL literals such as 0.5 are DECIMAL in DuckDB; ArcticDB stores floats.
            column, kind = column.cast(pa.float64()), pa.float64()
        if not _supported(kind):
            raise DataError(f"column {field.name!r} has type {kind}, which ArcticDB cannot store "
                            "(store numbers, booleans, strings or timestamps)")
        if pa.types.is_boolean(kind) and column.null_count:
            raise DataError(f"column {field.name!r} is BOOLEAN with NULLs, which ArcticDB cannot store: write "
                            f"COALESCE({field.name}, false), or CAST it to DOUBLE to keep NULL as NaN")
        arrays.append(column)
        fields.append(pa.field(field.name, kind))
    return pa.Table.from_arrays(arrays, schema=pa.schema(fields))


def _supported(kind: pa.DataType) -> bool:
    return (pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_boolean(kind)
            or pa.types.is_timestamp(kind) or pa.types.is_string(kind) or pa.types.is_null(kind))


