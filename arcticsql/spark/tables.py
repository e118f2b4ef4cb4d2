"""An ArcticDB table reference as Spark reads it: its symbol versions pinned once, and its declared schema.

The same resolution as the DuckDB engine (:class:`~arcticsql.catalog.Catalog`: exact names first, AT
clauses, wildcards as ``UNION ALL BY NAME`` with ``library`` and ``symbol`` columns first, column names
matched whatever their case), so a table has the same columns and types on both engines. Used on the
driver for SQL, and by the data source itself for ``spark.read.format("arcticdb").load("lib/sym")``.
"""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa
from pyspark.sql.types import StructType

from arcticsql.catalog import Catalog
from arcticsql.catalog.schema import SymbolSchema
from arcticsql.conform import union_schema
from arcticsql.errors import NotSupportedError, ProgrammingError
from arcticsql.spark.plan import KEY_COLUMNS, Member
from arcticsql.spark.types import can_be_null, spark_schema
from arcticsql.sql.names import TableName


@dataclass(frozen=True)
class ArcticTable:
    """The pinned members of one table reference and its declared schema."""

    name: TableName
    members: tuple[Member, ...]
    arrow: pa.Schema          # the DuckDB engine's declared schema
    schema: StructType        # the same as Spark types
    wildcard: bool

    @property
    def label(self) -> str:
        return str(self.name)


def resolve(catalog: Catalog, name: TableName, as_of=None) -> ArcticTable:
    """Pin the symbol versions ``name`` (exact or a pattern) names at ``as_of`` and declare the table."""
    if name.is_pattern:
        schemas = _pinned(catalog, name, list(catalog.wildcard(name, as_of).members))
        spelling: dict[str, str] = {}
        for schema in schemas:  # a column is named as first seen, whatever its case in later members
            for column in schema.names:
                spelling.setdefault(column.lower(), column)
        schemas = [schema.respelled(spelling) for schema in schemas]
        return declare(name, schemas, wildcard=True)
    return declare(name, [catalog.schema(name.library, name.symbol, as_of)], wildcard=False)


def _pinned(catalog: Catalog, name: TableName, found: list[tuple[SymbolSchema, bool]]) -> list[SymbolSchema]:
    """A wildcard's members with every version pinned now: the catalog hands back the latest version it saw
    of a member it knows (the DuckDB engine checks it on reading); those are pinned again, in one batched call
    per library, so every task of the query reads the version the store has now."""
    seen: dict[str, list[str]] = {}
    for schema, only_seen in found:
        if only_seen:
            seen.setdefault(schema.library, []).append(schema.symbol)
    if not seen:
        return [schema for schema, _only_seen in found]
    now = {(s.library, s.symbol): s for library, symbols in seen.items() for s in catalog.schemas(library, symbols)[0]}
    pinned = [now.get((s.library, s.symbol)) if only_seen else s for s, only_seen in found]
    pinned = [schema for schema in pinned if schema is not None]  # deleted since it was listed
    if not pinned:
        raise catalog.no_match(name.library, name.symbol)
    return pinned


def declare(name: TableName, schemas: list[SymbolSchema], *, wildcard: bool) -> ArcticTable:
    """The table made of ``schemas``: one symbol version, or a wildcard's union."""
    for schema in schemas:
        _check_index(schema)
    if not wildcard:
        schema = schemas[0]
        arrow = schema.arrow
        not_null = _never_null(schema)
    else:
        for schema in schemas:
            clash = [column for column in KEY_COLUMNS if column in schema.names]
            if clash:
                raise ProgrammingError(f"{schema.library}/{schema.symbol} has a column named {clash[0]!r}, which a "
                                       "wildcard table uses for the member's name; query it by its exact name")
        values = union_schema((f"{s.library}/{s.symbol}", s.arrow) for s in schemas)
        arrow = pa.schema([pa.field("library", pa.string()), pa.field("symbol", pa.string()), *values])
        not_null = set(KEY_COLUMNS)
        if schemas:
            not_null |= set.intersection(*(_never_null(s) for s in schemas))
    return ArcticTable(name, tuple(Member.of(s) for s in schemas), arrow, spark_schema(arrow, not_null), wildcard)


def _never_null(schema: SymbolSchema) -> set[str]:
    """Columns ArcticDB holds no missing value in: the index, integers and booleans."""
    return {f.name for f in schema.arrow if f.name in schema.index_columns or not can_be_null(f.type)}


def _check_index(schema: SymbolSchema) -> None:
    """A nanosecond index (known when the catalog checks for whole microseconds) is refused at once."""
    if not schema.index_columns:
        return
    first = schema.arrow.field(schema.index_columns[0])
    if pa.types.is_timestamp(first.type) and first.type.unit == "ns":
        raise NotSupportedError(f"{schema.library}/{schema.symbol}: its index {first.name!r} holds timestamps finer "
                                "than a microsecond, which Spark cannot hold; query it on the DuckDB engine")
