"""Turn the filters DuckDB hands a scan into an ArcticDB read plan that is exact.

Soundness rule: ArcticDB only ever *narrows* a read to a superset of the rows SQL keeps (a ``date_range``
from index bounds, ``QueryBuilder`` clauses whose result contains SQL's); the exact filter is then applied to
the Arrow batches with duckdb's own translator, except for filters the read already answers exactly
(comparisons and equality on the date index). So every accepted filter gives exactly DuckDB's rows.

ArcticDB vs SQL differences handled here (each has a test):
- ``date_range`` is inclusive: ``ts > x`` reads from x + 1ns (stored values are whole nanoseconds).
- ``QueryBuilder`` drops NaN for ``>``/``>=``/``!=`` on floats where SQL keeps it when raw NaN is kept (NaN
  sorts above every number), and its ``notnull`` drops NaN likewise: those are never pushed for floats, nor
  is a NaN constant. (By default NaN reads as NULL, see :mod:`arcticsql.missing`; the exact filter runs on
  the rows as DuckDB sees them, after that conversion, so both settings stay exact.)
- ``isnull`` on a float keeps NaN rows, a superset under either setting: pushed, then filtered exactly.
"""

from __future__ import annotations

import datetime
import math
from dataclasses import dataclass, field

import pandas as pd
import pyarrow as pa

from arcticsql.sources.protocol import Binary, Col, In, Lit, Node, Postfix, Unary, Untranslatable, to_arrow

_ONE_NS = pd.Timedelta(1, "ns")
_FLIP = {"<": ">", "<=": ">=", ">": "<", ">=": "<=", "=": "=", "!=": "!="}


@dataclass(frozen=True)
class ValueClause:
    """One QueryBuilder condition: ``column op value`` (op in = != < <= > >= isin isnull notnull)."""

    column: str        # ArcticDB column name
    op: str
    value: object = None


@dataclass(frozen=True)
class ReadPlan:
    """What to ask ArcticDB for, and what to filter exactly afterwards."""

    start: pd.Timestamp | None = None          # inclusive lower bound on the date index
    end: pd.Timestamp | None = None            # inclusive upper bound on the date index
    empty: bool = False                        # the bounds exclude everything: no read at all
    clauses: tuple[ValueClause, ...] = ()      # pushed to QueryBuilder (each a superset of SQL's rows)
    residual: tuple[Node, ...] = ()            # applied exactly to the Arrow batches
    residual_columns: frozenset[str] = field(default_factory=frozenset)

    @property
    def date_range(self) -> tuple[pd.Timestamp | None, pd.Timestamp | None] | None:
        if self.start is None and self.end is None:
            return None
        return (self.start, self.end)


def translatable(predicate: Node, schema: pa.Schema) -> bool:
    """Whether ``predicate`` can be evaluated exactly as DuckDB would on rows of ``schema``."""
    try:
        to_arrow(predicate, schema)
    except (Untranslatable, TypeError, ValueError, KeyError, pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return False
    return True


def node_key(node: Node) -> tuple:
    """A hashable key equal for predicates of the same shape, columns and constants (for memos)."""
    if isinstance(node, Col):
        return ("col", node.parts)
    if isinstance(node, Lit):
        return ("lit", node.type, type(node.value).__name__, repr(node.value))
    if isinstance(node, Binary):
        return ("bin", node.op, node_key(node.left), node_key(node.right))
    if isinstance(node, In):
        return ("in", node_key(node.operand), tuple(node_key(v) for v in node.values))
    if isinstance(node, (Unary, Postfix)):
        return (type(node).__name__, node.op, node_key(node.operand))
    return ("node", id(node))  # unknown shapes are never shared


def node_text(node: Node) -> str:
    """A predicate as SQL-like text (for EXPLAIN).

    >>> node_text(Binary("AND", Binary(">", Col(("ts",)), Lit(datetime.datetime(2024, 1, 2), "TIMESTAMP")),
    ...                      In(Col(("s",)), [Lit("a", "VARCHAR"), Lit(None, "VARCHAR")])))
    "((ts > TIMESTAMP '2024-01-02 00:00:00') AND s IN ('a', NULL))"
    """
    if isinstance(node, Col):
        return ".".join(part if part.isidentifier() else '"' + part.replace('"', '""') + '"' for part in node.parts)
    if isinstance(node, Lit):
        value = node.value
        if value is None:
            return "NULL"
        if isinstance(value, str):
            return "'" + value.replace("'", "''") + "'"
        if isinstance(value, datetime.datetime):
            return f"TIMESTAMP '{value}'"
        if node.type == "TIMESTAMP WITH TIME ZONE" and isinstance(value, int):
            return f"TIMESTAMPTZ '{pd.Timestamp(value, unit='us', tz='UTC')}'"
        return repr(value)
    if isinstance(node, Binary):
        return f"({node_text(node.left)} {node.op} {node_text(node.right)})"
    if isinstance(node, In):
        return f"{node_text(node.operand)} IN ({', '.join(node_text(v) for v in node.values)})"
    if isinstance(node, Postfix):
        return f"{node_text(node.operand)} {node.op}"
    if isinstance(node, Unary):
        return f"{node.op} {node_text(node.operand)}"
    return repr(node)


def arrow_filter(predicates: tuple[Node, ...], schema: pa.Schema):
    """The conjunction of ``predicates`` as one pyarrow compute expression (None when there are none)."""
    expression = None
    for predicate in predicates:
        term = to_arrow(predicate, schema)
        expression = term if expression is None else expression & term
    return expression


def columns_of(predicate: Node) -> set[str]:
    """The top-level column names a predicate reads."""
    found: set[str] = set()
    pending = [predicate]
    while pending:
        node = pending.pop()
        if isinstance(node, Col):
            found.add(node.parts[0])
        pending.extend(node._children())
    return found


def _bound_value(literal: Lit, tz: str | None) -> pd.Timestamp | None:
    value = literal.value
    if literal.type == "TIMESTAMP WITH TIME ZONE" and isinstance(value, int):
        return pd.Timestamp(value, unit="us", tz="UTC").tz_convert(tz or "UTC")
    if isinstance(value, datetime.datetime) and value.tzinfo is None:
        return pd.Timestamp(value)
    return None


def _index_comparisons(node: Node, index: str) -> list[tuple[str, Lit]] | None:
    """``[(op, literal), ...]`` when ``node`` is a comparison or an AND of comparisons of the index column."""
    if isinstance(node, Binary) and node.op == "AND":
        left = _index_comparisons(node.left, index)
        right = _index_comparisons(node.right, index)
        return None if left is None or right is None else left + right
    if (isinstance(node, Binary) and node.op in _FLIP and isinstance(node.left, Col)
            and node.left.parts == (index,) and isinstance(node.right, Lit)):
        return [(node.op, node.right)]
    return None


def _value_clause(node: Node, schema: pa.Schema, stored: dict[str, str]) -> ValueClause | None:
    """A QueryBuilder condition keeping a superset of the rows SQL keeps for ``node``, or None."""
    if isinstance(node, Postfix) and isinstance(node.operand, Col) and len(node.operand.parts) == 1:
        name = node.operand.parts[0]
        kind = schema.field(name).type
        if node.op == "IS NULL" and (pa.types.is_floating(kind) or _is_string(kind)):
            return ValueClause(stored[name], "isnull")
        if node.op == "IS NOT NULL" and _is_string(kind):
            return ValueClause(stored[name], "notnull")
        return None
    if isinstance(node, In) and isinstance(node.operand, Col) and len(node.operand.parts) == 1:
        name = node.operand.parts[0]
        kind = schema.field(name).type
        if not (_is_integer(kind) or _is_string(kind) or pa.types.is_floating(kind)):
            return None
        if not all(isinstance(v, Lit) and v.value is not None for v in node.values):
            return None
        values = [v.value for v in node.values]
        if pa.types.is_floating(kind) and not all(isinstance(v, float) and not math.isnan(v) for v in values):
            return None  # ArcticDB never matches NaN, which SQL's raw-NaN rule does
        return ValueClause(stored[name], "isin", tuple(values))
    if (isinstance(node, Binary) and node.op in _FLIP and isinstance(node.left, Col)
            and len(node.left.parts) == 1 and isinstance(node.right, Lit)):
        name = node.left.parts[0]
        kind = schema.field(name).type
        value = node.right.value
        if _is_integer(kind) and isinstance(value, int) and not isinstance(value, bool):
            return ValueClause(stored[name], node.op, value)
        if (pa.types.is_floating(kind) and isinstance(value, float) and not math.isnan(value)
                and node.op in ("<", "<=", "=")):
            return ValueClause(stored[name], node.op, value)
        if _is_string(kind) and isinstance(value, str) and node.op in ("=", "!="):
            return ValueClause(stored[name], node.op, value)
    return None


def _is_integer(kind: pa.DataType) -> bool:
    return pa.types.is_integer(kind)


def _is_string(kind: pa.DataType) -> bool:
    return pa.types.is_string(kind) or pa.types.is_large_string(kind)


def tightened(start, end, op: str, bound, one_ns):
    """The inclusive index bounds ``(start, end)`` (None: open) narrowed by ``index <op> bound``; stored values
    are nanoseconds, so a strict bound is the inclusive bound ``one_ns`` inside. (Both engines' pushdown.)

        >>> tightened(None, 10, ">", 3, 1)
        (4, 10)
    """
    if op in (">", ">=", "="):
        low = bound + one_ns if op == ">" else bound
        start = low if start is None else max(start, low)
    if op in ("<", "<=", "="):
        high = bound - one_ns if op == "<" else bound
        end = high if end is None else min(end, high)
    return start, end


def plan_read(filters, symbol_schema) -> ReadPlan:
    """The read plan for the accepted ``filters`` (each a conjunct) on one symbol."""
    schema: pa.Schema = symbol_schema.arrow
    # rows out of index order cannot be read by date_range (ArcticDB refuses): the filter is applied after
    index = None if symbol_schema.index_unsorted else symbol_schema.date_index
    tz = schema.field(index).type.tz if index else None
    start = end = None
    empty = False
    clauses: list[ValueClause] = []
    residual: list[Node] = []
    value_names = set(symbol_schema.value_columns)
    for predicate in filters:
        comparisons = _index_comparisons(predicate, index) if index else None
        if comparisons is not None:
            exact = True
            for op, literal in comparisons:
                bound = _bound_value(literal, tz)
                if bound is None or op == "!=":
                    exact = False
                    continue
                start, end = tightened(start, end, op, bound, _ONE_NS)
            if not exact:
                residual.append(predicate)
            continue
        names = columns_of(predicate)
        if names <= value_names and symbol_schema.range_index is None:
            clause = _value_clause(predicate, schema, symbol_schema.stored_names)
            if clause is not None:
                clauses.append(clause)
        residual.append(predicate)
    if start is not None and end is not None and start > end:
        empty = True
    residual_columns = frozenset().union(*(columns_of(p) for p in residual)) if residual else frozenset()
    return ReadPlan(start=start, end=end, empty=empty, clauses=tuple(clauses), residual=tuple(residual),
                    residual_columns=residual_columns)


def query_builder(plan: ReadPlan):
    """An ArcticDB QueryBuilder for the plan's value clauses, or None."""
    if not plan.clauses:
        return None
    from arcticdb import QueryBuilder

    q = QueryBuilder()
    condition = None
    for clause in plan.clauses:
        column = q[clause.column]
        if clause.op == "isnull":
            term = column.isnull()
        elif clause.op == "notnull":
            term = column.notnull()
        elif clause.op == "isin":
            term = column.isin(list(clause.value))
        else:
            term = {
                "=": column == clause.value, "!=": column != clause.value,
                "<": column < clause.value, "<=": column <= clause.value,
                ">": column > clause.value, ">=": column >= clause.value,
            }[clause.op]
        condition = term if condition is None else condition & term
    return q[condition]
