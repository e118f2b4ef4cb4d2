"""SQL types across the two engines: the Arrow schema the DuckDB engine declares for a table, as Spark types.

    DuckDB (declared Arrow)           Spark
    TIMESTAMP (timestamp[us])         TIMESTAMP_NTZ   naive wall-clock values, as in DuckDB
    TIMESTAMPTZ (timestamp[us, tz])   TIMESTAMP       the instant (the session time zone is UTC)
    TIMESTAMP_NS                      TIMESTAMP_NTZ / TIMESTAMP, read only if every value is a whole
                                      microsecond (Spark keeps microseconds): otherwise an error
    UTINYINT .. UBIGINT               SMALLINT, INT, BIGINT, DECIMAL(20, 0) (Spark has no unsigned types)
    VARCHAR, BLOB, DATE, DECIMAL ...  STRING, BINARY, DATE, DECIMAL ...

A column is declared ``NOT NULL`` only where ArcticDB cannot hold a missing value in it (an index, an
integer or boolean column present in every symbol read): Spark then knows, as DuckDB's engine learns from
the data, that an integer result column can be stored as an integer.

    >>> import pyarrow as pa
    >>> spark_type(pa.timestamp("us")).simpleString(), spark_type(pa.uint64()).simpleString()
    ('timestamp_ntz', 'decimal(20,0)')
"""

from __future__ import annotations

from collections.abc import Collection

import pyarrow as pa
from pyspark.sql.pandas.types import to_arrow_schema
from pyspark.sql.types import (
    ArrayType,
    BinaryType,
    BooleanType,
    ByteType,
    DataType,
    DateType,
    DecimalType,
    DoubleType,
    FloatType,
    IntegerType,
    LongType,
    NullType,
    ShortType,
    StringType,
    StructField,
    StructType,
    TimestampNTZType,
    TimestampType,
)

from arcticsql.errors import NotSupportedError


def spark_type(kind: pa.DataType) -> DataType:
    """The Spark type holding the values of an Arrow type, as the DuckDB engine declares it."""
    if pa.types.is_dictionary(kind):
        return spark_type(kind.value_type)
    if pa.types.is_timestamp(kind):
        return TimestampType() if kind.tz is not None else TimestampNTZType()
    if pa.types.is_boolean(kind):
        return BooleanType()
    simple = {
        pa.int8(): ByteType(), pa.int16(): ShortType(), pa.int32(): IntegerType(), pa.int64(): LongType(),
        pa.uint8(): ShortType(), pa.uint16(): IntegerType(), pa.uint32(): LongType(),
        pa.uint64(): DecimalType(20, 0), pa.float16(): FloatType(), pa.float32(): FloatType(),
        pa.float64(): DoubleType(), pa.date32(): DateType(), pa.date64(): DateType(), pa.null(): NullType(),
    }
    if kind in simple:
        return simple[kind]
    if pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_string_view(kind):
        return StringType()
    if pa.types.is_binary(kind) or pa.types.is_large_binary(kind) or pa.types.is_binary_view(kind):
        return BinaryType()
    if pa.types.is_decimal(kind) and kind.precision <= 38:
        return DecimalType(kind.precision, kind.scale)
    if pa.types.is_list(kind) or pa.types.is_large_list(kind):
        return ArrayType(spark_type(kind.value_type))
    raise NotSupportedError(f"a column of type {kind} has no Spark type")


def can_be_null(kind: pa.DataType) -> bool:
    """Whether an ArcticDB column of this type can hold a missing value (integers and booleans cannot)."""
    return not (pa.types.is_integer(kind) or pa.types.is_boolean(kind))


def spark_schema(arrow: pa.Schema, not_null: Collection[str] = ()) -> StructType:
    """``arrow`` as a Spark schema; the columns in ``not_null`` are declared NOT NULL."""
    fields = []
    for field in arrow:
        try:
            kind = spark_type(field.type)
        except NotSupportedError:
            raise NotSupportedError(f"column {field.name!r} has type {field.type}, which Spark cannot hold") from None
        fields.append(StructField(field.name, kind, field.name not in not_null))
    return StructType(fields)


def arrow_target(schema: StructType) -> pa.Schema:
    """The Arrow schema Spark checks every batch a Python data source yields against (types and
    nullability exactly: microsecond timestamps, zoned ones in UTC, plain strings)."""
    return to_arrow_schema(schema, timezone="UTC")
