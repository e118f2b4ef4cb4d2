"""One arcticsql statement (DuckDB's dialect) as Spark SQL, with its tables replaced by Spark temp views.

sqlglot transpiles the dialect; arcticsql's own parser (:func:`arcticsql.sql.references.parse_statement`)
finds the ArcticDB references (exact, quoted, wildcard, ``AT (...)``) and the ``read_pickle`` /
``pickle_files`` calls, which become views (an unaliased table keeps its symbol as alias, as on DuckDB).
Where sqlglot's Spark output differs from DuckDB's meaning, the tree is rewritten:

- ``time_bucket(INTERVAL n unit, ts[, origin])`` → microsecond arithmetic from DuckDB's origin
  (2000-01-03), of the input's type (Spark's ``DATE_BIN`` does not exist);
- ``first(x ORDER BY k)`` / ``last(x ORDER BY k)`` → ``MIN_BY(x, k)`` / ``MAX_BY(x, k)`` (DESC swaps them);
- ``epoch(ts)``, ``epoch_ms(ts)``, ``epoch_us(ts)`` → seconds (with their fraction), milliseconds and
  microseconds of a timestamp, as DuckDB means them (sqlglot turns ``epoch_ms(ts)`` into its inverse).

A construct Spark cannot run the same way is an error naming it, raised before any table is resolved
(:data:`REFUSED`): ``ASOF JOIN``, other table functions, nanosecond types, ``* REPLACE``, ``hash()``,
``time_bucket`` by months or years, numbered parameters.

Each view then reads only the columns the statement uses (found with sqlglot's qualifier; a statement it
cannot attribute reads every column).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import sqlglot
from sqlglot import exp
from sqlglot.optimizer.qualify import qualify
from sqlglot.optimizer.scope import traverse_scope

from arcticsql.errors import NotSupportedError, ProgrammingError
from arcticsql.sql.references import FunctionReference, ParsedStatement, Reference

#: What the Spark engine refuses, and why (for the README and the errors).
REFUSED = {
    "ASOF JOIN": "Spark has no as-of join",
    "table functions": "only read_pickle() and pickle_files() are arcticsql's",
    "TIMESTAMP_NS / TIMESTAMP_MS / TIMESTAMP_S": "Spark keeps microseconds",
    "SELECT * REPLACE (...)": "Spark has no REPLACE",
    "hash()": "Spark's hash is another function",
    "time_bucket() by months, quarters or years": "DuckDB's calendar buckets have no Spark equivalent",
    "epoch_ns()": "Spark keeps microseconds",
    "$1 numbered parameters": "Spark binds ? and :name",
}

# DuckDB's time_bucket origin for widths without months: 2000-01-03 00:00:00 UTC (a Monday)
_ORIGIN_US = 946857600 * 1_000_000
_UNIT_US = {"MICROSECOND": 1, "MILLISECOND": 1000, "SECOND": 10**6, "MINUTE": 60 * 10**6, "HOUR": 3600 * 10**6,
            "DAY": 86400 * 10**6, "WEEK": 7 * 86400 * 10**6}
_PLURAL = {"MICROSECONDS": "MICROSECOND", "MILLISECONDS": "MILLISECOND", "SECONDS": "SECOND", "MINUTES": "MINUTE",
           "HOURS": "HOUR", "DAYS": "DAY", "WEEKS": "WEEK", "MONTHS": "MONTH", "YEARS": "YEAR",
           "QUARTERS": "QUARTER", "MINS": "MINUTE", "MIN": "MINUTE", "SECS": "SECOND", "SEC": "SECOND"}


@dataclass(frozen=True)
class Table:
    """What one reference reads on Spark: a placeholder name in the SQL, and its columns and Spark types."""

    name: str
    columns: Mapping[str, str]   # declared column -> Spark type name, in order
    shown: str                   # the reference as the user wrote it


@dataclass(frozen=True)
class Translation:
    sql: str                                        # Spark SQL, with each table's placeholder name
    columns: dict[str, tuple[str, ...]]             # placeholder name -> the columns the statement reads


Lookup = Callable[[Reference | FunctionReference], Table]


def spark_tree(parsed: ParsedStatement) -> exp.Expression:
    """The statement's tree for translation: its text (AT clauses blanked) parsed again, so that ``?``
    placeholders stay placeholders; an error naming what Spark cannot run."""
    if parsed.tree is None:
        raise ProgrammingError("this statement cannot be read as SQL for Spark")
    try:
        tree = sqlglot.parse_one(parsed.text, read="duckdb")
    except (sqlglot.errors.ParseError, sqlglot.errors.TokenError):
        raise NotSupportedError("this statement cannot be translated to Spark SQL (run it on the DuckDB engine)")
    refuse(tree)
    return tree


def refuse(tree: exp.Expression) -> None:
    """NotSupportedError naming the first construct Spark cannot run as DuckDB does."""
    def no(what: str) -> NotSupportedError:
        return NotSupportedError(f"{what} is not supported on the Spark engine ({REFUSED.get(what, what)})")

    for join in tree.find_all(exp.Join):
        if "ASOF" in str(join.args.get("kind") or "").upper() or "ASOF" in str(join.args.get("method") or "").upper():
            raise no("ASOF JOIN")
    for table in tree.find_all(exp.Table):
        if isinstance(table.this, (exp.Anonymous, exp.Func)) and not (
                isinstance(table.this, exp.Anonymous) and table.this.name.lower() in ("read_pickle", "pickle_files")):
            raise NotSupportedError(f"table function {table.this.sql('duckdb')} is not supported on the Spark engine "
                                    f"({REFUSED['table functions']})")
    for kind in tree.find_all(exp.DataType):
        if kind.this in (exp.DataType.Type.TIMESTAMP_NS, exp.DataType.Type.TIMESTAMP_MS, exp.DataType.Type.TIMESTAMP_S):
            raise no("TIMESTAMP_NS / TIMESTAMP_MS / TIMESTAMP_S")
    for star in tree.find_all(exp.Star):
        if star.args.get("replace"):
            raise no("SELECT * REPLACE (...)")
    for call in tree.find_all(exp.Anonymous, exp.Func):
        name = (call.name if isinstance(call, exp.Anonymous) else call.sql_name()).lower()
        if name == "hash":
            raise no("hash()")
        if name == "epoch_ns" or (isinstance(call, exp.UnixToTime) and _scale(call) == 9):
            raise no("epoch_ns()")
    for parameter in tree.find_all(exp.Parameter, exp.Placeholder):
        if re.fullmatch(r"\d+", parameter.name or ""):
            raise no("$1 numbered parameters")
    for bucket in tree.find_all(exp.DateBin):
        _interval_us(bucket.this)


def translate(parsed: ParsedStatement, lookup: Lookup) -> Translation:
    """Spark SQL for ``parsed``; ``lookup`` gives the table each ArcticDB reference and table function reads
    (called only once the statement is known to be translatable)."""
    tree = _inline_shared_ctes(spark_tree(parsed))
    by_end = {r.end: r for r in parsed.references}
    by_call = {(f.function, f.argument): f for f in parsed.functions}
    symbols = [r.name.symbol for r in parsed.references]
    tables: dict[str, Table] = {}
    for node in list(tree.find_all(exp.Table)):
        reference = None
        if isinstance(node.this, exp.Anonymous):
            arguments = node.this.expressions
            if len(arguments) == 1 and isinstance(arguments[0], exp.Literal):
                reference = by_call.get((node.this.name.lower(), arguments[0].this))
        else:
            parts = [p for p in node.parts if isinstance(p, exp.Identifier)]
            reference = by_end.get(parts[-1].meta.get("end")) if parts else None
        if reference is None:
            continue
        table = lookup(reference)
        tables[table.name] = table
        new = exp.Table(this=exp.to_identifier(table.name, quoted=True))
        alias = node.args.get("alias")
        if (alias is None and isinstance(reference, Reference) and reference.in_from and not reference.name.is_pattern
                and symbols.count(reference.name.symbol) == 1):
            alias = exp.TableAlias(this=exp.to_identifier(reference.name.symbol, quoted=True))
        if alias is not None:
            new.set("alias", alias)
        node.replace(new)
    types = _column_types(tables)
    tree = tree.transform(lambda n: _qualify(n) if isinstance(n, exp.Select) and n.args.get("qualify") else n)
    tree = tree.transform(lambda n: _time_bucket(n, types) if isinstance(n, exp.DateBin) else n)
    tree = tree.transform(lambda n: _first_last(n) if isinstance(n, (exp.First, exp.Last)) else n)
    tree = tree.transform(lambda n: _epoch(n, types) if isinstance(n, (exp.UnixToTime, exp.TimeToUnix)) else n)
    tree = tree.transform(lambda n: _epoch_call(n, types) if isinstance(n, exp.Anonymous) else n)
    return Translation(tree.sql("spark"), _needed(tree, tables))


def _inline_shared_ctes(tree: exp.Expression) -> exp.Expression:
    """Every CTE named more than once replaced by its query at each use, so that each use reads its own views:
    Spark 4.3 keeps one planned read per Python data source relation, so two scans of one view with different
    pushed filters would both read the rows planned last."""
    while True:
        ctes = {cte.alias_or_name.lower(): cte for cte in tree.find_all(exp.CTE)
                if not (isinstance(cte.parent, exp.With) and cte.parent.args.get("recursive"))}
        uses: dict[str, list[exp.Table]] = {}
        for table in tree.find_all(exp.Table):
            if isinstance(table.this, exp.Identifier) and not table.args.get("db") and table.name.lower() in ctes:
                uses.setdefault(table.name.lower(), []).append(table)
        shared = next((name for name, tables in uses.items() if len(tables) > 1), None)
        if shared is None:
            return tree
        cte = ctes[shared]
        for table in uses[shared]:
            alias = table.alias or cte.alias_or_name
            table.replace(exp.Subquery(this=cte.this.copy(), alias=exp.TableAlias(this=exp.to_identifier(alias))))
        with_ = cte.parent
        cte.pop()
        if isinstance(with_, exp.With) and not with_.expressions:
            with_.pop()


# -- columns each table reads ----------------------------------------------------------------------------------
def _needed(tree: exp.Expression, tables: dict[str, Table]) -> dict[str, tuple[str, ...]]:
    """The columns of each table the statement reads (all of a table when that cannot be told)."""
    every = {name: tuple(table.columns) for name, table in tables.items()}
    if not tables:
        return every
    schema = {name: dict(table.columns) for name, table in tables.items()}
    try:
        qualified = qualify(tree.copy(), schema=schema, dialect="spark", validate_qualify_columns=False,
                            quote_identifiers=False, identify=False)
        scopes = list(traverse_scope(qualified))
    except Exception:  # noqa: BLE001 - sqlglot's optimizer is best effort: read every column
        return every
    used: dict[str, set[str]] = {name.lower(): set() for name in tables}  # Spark's names ignore case
    for scope in scopes:
        for column in scope.columns:
            source, outer = None, scope
            while outer is not None and source is None:  # a correlated column names an outer query's table
                source = outer.sources.get(column.table) if column.table else None
                outer = outer.parent
            if source is None:
                return every  # a column sqlglot could not place
            if isinstance(source, exp.Table) and source.name.lower() in used:
                used[source.name.lower()].add(column.name.lower())
        for star in scope.expression.find_all(exp.Star):
            if isinstance(star.parent, (exp.Select, exp.Column)):
                return every
    out = {}
    for name, table in tables.items():
        kept = tuple(c for c in table.columns if c.lower() in used[name.lower()])
        out[name] = kept or _cheapest(table)
    return out


def _cheapest(table: Table) -> tuple[str, ...]:
    """One column for a table read only for its rows (count(*)): a wildcard's symbol name, else the index."""
    columns = list(table.columns)
    return ("symbol",) if columns[:2] == ["library", "symbol"] else tuple(columns[:1])


def _column_types(tables: dict[str, Table]) -> dict[str, str]:
    types: dict[str, str] = {}
    for table in tables.values():
        for column, kind in table.columns.items():
            types.setdefault(column.lower(), kind.lower())
    return types


def _type_of(node: exp.Expression, types: dict[str, str]) -> str | None:
    if isinstance(node, exp.Column):
        return types.get(node.name.lower())
    if isinstance(node, exp.Cast):
        return node.to.sql("spark").lower()
    if isinstance(node, exp.Literal):
        return "string" if node.is_string else "number"
    return None


# -- rewrites ----------------------------------------------------------------------------------------------------
def _interval_us(interval: exp.Expression) -> int:
    if not isinstance(interval, exp.Interval):
        raise NotSupportedError("time_bucket() on the Spark engine takes an INTERVAL literal as its width")
    text = interval.this.name if interval.this is not None else ""
    unit = (interval.unit.name if interval.unit is not None else "").upper()
    if not unit:  # INTERVAL '15 minutes'
        match = re.fullmatch(r"\s*(\d+)\s+([a-zA-Z]+)\s*", text)
        if not match:
            raise NotSupportedError(f"time_bucket(): cannot read the interval {interval.sql('duckdb')}")
        text, unit = match.group(1), match.group(2).upper()
    unit = _PLURAL.get(unit, unit)
    if unit in ("MONTH", "YEAR", "QUARTER"):
        raise NotSupportedError("time_bucket() by months, quarters or years is not supported on the Spark engine "
                                f"({REFUSED['time_bucket() by months, quarters or years']}; use date_trunc)")
    if unit not in _UNIT_US or not text.strip().isdigit() or int(text) <= 0:
        raise NotSupportedError(f"time_bucket(): the interval {interval.sql('duckdb')} is not supported on the "
                                "Spark engine")
    return int(text) * _UNIT_US[unit]


def _time_bucket(node: exp.DateBin, types: dict[str, str]) -> exp.Expression:
    width = _interval_us(node.this)
    if node.args.get("zone") is not None:
        raise NotSupportedError("time_bucket() with a time zone is not supported on the Spark engine")
    origin = node.args.get("origin")
    unit = node.args.get("unit")
    if origin is None and unit is not None and not isinstance(unit, exp.Var):
        origin = unit  # sqlglot 30 keeps time_bucket's third argument in `unit`
    value = node.expression
    micros = f"UNIX_MICROS(CAST({value.sql('spark')} AS TIMESTAMP))"
    start = f"UNIX_MICROS(CAST({origin.sql('spark')} AS TIMESTAMP))" if origin is not None else str(_ORIGIN_US)
    bucket = f"TIMESTAMP_MICROS({micros} - PMOD({micros} - {start}, {width}))"
    naive = (_type_of(value, types) or "timestamp_ntz") != "timestamp"
    return sqlglot.parse_one(f"CAST({bucket} AS TIMESTAMP_NTZ)" if naive else bucket, read="spark")


def _qualify(select: exp.Select) -> exp.Expression:
    """``SELECT ... QUALIFY c ORDER BY o LIMIT n`` as ``SELECT * EXCEPT (k) FROM (SELECT ..., c AS k) WHERE k
    ORDER BY o LIMIT n`` (sqlglot's own rewrite for Spark leaves its helper column in ``SELECT *``)."""
    keep = "__arcticsql_qualify"
    inner = select.copy()
    condition = inner.args["qualify"].this
    order, limit, offset = inner.args.get("order"), inner.args.get("limit"), inner.args.get("offset")
    for name in ("qualify", "order", "limit", "offset"):
        inner.set(name, None)
    inner = inner.select(exp.alias_(condition, keep), copy=False)
    outer = exp.select(exp.Star(except_=[exp.column(keep)])).from_(inner.subquery("__arcticsql_qualified"))
    outer = outer.where(exp.column(keep))
    for name, value in (("order", order), ("limit", limit), ("offset", offset)):
        if value is not None:
            outer.set(name, value)
    return outer


def _first_last(node: exp.Expression) -> exp.Expression:
    """last(x ORDER BY k) -> max_by(x, k); first(x ORDER BY k) -> min_by(x, k); DESC swaps them."""
    inner = node.this
    if not isinstance(inner, exp.Order):
        return node
    keys = inner.expressions
    if len(keys) != 1:
        raise NotSupportedError(f"{node.key}(... ORDER BY several keys) is not supported on the Spark engine")
    descending = bool(keys[0].args.get("desc"))
    name = "MAX_BY" if isinstance(node, exp.Last) != descending else "MIN_BY"
    return exp.Anonymous(this=name, expressions=[inner.this, keys[0].this])


def _scale(node: exp.Expression) -> int | None:
    scale = node.args.get("scale")
    if scale is None:
        return None
    try:
        return int(scale.name)
    except (TypeError, ValueError):
        return None


def _epoch(node: exp.Expression, types: dict[str, str]) -> exp.Expression:
    """sqlglot reads DuckDB's epoch_ms(x) as 'milliseconds to a timestamp', and epoch(ts) as whole seconds;
    for a timestamp argument DuckDB means its milliseconds, and its seconds with their fraction."""
    argument = node.this
    kind = _type_of(argument, types) or ""
    is_time = "timestamp" in kind or kind == "date"
    if isinstance(node, exp.TimeToUnix):  # epoch(ts): seconds, with the fraction
        return sqlglot.parse_one(f"UNIX_MICROS(CAST({argument.sql('spark')} AS TIMESTAMP)) / 1000000D", read="spark")
    if not is_time:
        if kind and any(word in kind for word in ("int", "number", "long", "decimal", "double")):
            return node  # epoch_ms(1700000000000): milliseconds to a timestamp, as sqlglot reads it
        raise NotSupportedError(f"{node.sql('duckdb')}: epoch_ms() of an expression whose type the Spark engine "
                                "cannot tell (cast it: epoch_ms(x::TIMESTAMP))")
    function = {3: "UNIX_MILLIS", 6: "UNIX_MICROS"}.get(_scale(node) or 0)
    if function is None:
        raise NotSupportedError("epoch_ns() is not supported on the Spark engine (Spark keeps microseconds)")
    return exp.Anonymous(this=function, expressions=[exp.cast(argument, "TIMESTAMP")])


def _epoch_call(node: exp.Anonymous, types: dict[str, str]) -> exp.Expression:
    """``epoch_us(ts)`` (sqlglot keeps it as an unknown function)."""
    if node.name.lower() != "epoch_us" or len(node.expressions) != 1:
        return node
    return exp.Anonymous(this="UNIX_MICROS", expressions=[exp.cast(node.expressions[0], "TIMESTAMP")])
