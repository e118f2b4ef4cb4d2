"""What a statement's shape lets the planner know before DuckDB runs it (DuckDB pushes neither of these).

- **Row limits**: ``SELECT ... FROM <one table> [WHERE ...] [ORDER BY <column> [DESC]] LIMIT n [OFFSET m]``
  with no join, aggregate, window, DISTINCT, set-returning function or subquery needs only the first (or,
  ordered descending, the last) ``n + m`` rows that pass its WHERE. The table's source may then read just
  those, but only when DuckDB handed it every WHERE condition (checked at scan time against
  :attr:`RowLimit.where_columns`): each condition here reads one column and compares it with constants, the
  shapes DuckDB offers a scan whenever it offers any of them for that column.
- **Member conditions**: constant conditions on a wildcard table's ``symbol``/``library`` columns in the WHERE
  of the SELECT that reads it (``=``, ``IN``, ``LIKE``, ORs of those) name the members it can keep, so only
  those are resolved and read. DuckDB still applies them exactly.

Positions are those of the table name's first character in the statement text, as
:class:`~arcticsql.sql.references.Reference` has them.

    >>> import sqlglot
    >>> tree = sqlglot.parse_one("SELECT * FROM \\"tiny/*\\" WHERE symbol IN ('a', 'b') ORDER BY ts DESC LIMIT 5",
    ...                          read="duckdb")
    >>> limits, members = analyze(tree, set())
    >>> limits[14]
    RowLimit(rows=5, order='ts', descending=True, where=(('symbol', 'string'),))
    >>> members[14]
    (KeyCondition(column='symbol', exact=('a', 'b'), like=()),)
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass

from sqlglot import exp

#: The columns a wildcard table adds for its members' names.
KEY_COLUMNS = ("library", "symbol")

#: Select arguments that keep a row-limited read exact (anything else, such as GROUP BY, does not).
_PLAIN_SELECT_ARGS = {"expressions", "from_", "from", "where", "order", "limit", "offset", "kind"}
#: Expressions in the select list that change the number of rows or need every row.
_ROW_CHANGING = (exp.AggFunc, exp.Window, exp.Unnest, exp.Explode, exp.Subquery, exp.Select, exp.Exists)
_COMPARISONS = (exp.EQ, exp.NEQ, exp.GT, exp.GTE, exp.LT, exp.LTE)


@dataclass(frozen=True)
class RowLimit:
    """At most ``rows`` rows of the table in index order are needed (the last ones when ``descending``),
    provided every condition in ``where`` reached its scan."""

    rows: int
    order: str | None       # the ORDER BY column (it must be the table's sorted index), None: any rows
    descending: bool
    where: tuple[tuple[str, str], ...]   # (column, kind of constant) per WHERE condition's atoms

    @property
    def where_columns(self) -> frozenset[str]:
        return frozenset(column.lower() for column, _ in self.where)


@dataclass(frozen=True)
class KeyCondition:
    """A WHERE conjunct on a wildcard's ``library`` or ``symbol``: a name passes if it equals one of
    ``exact`` or matches one of the ``like`` globs."""

    column: str
    exact: tuple[str, ...] = ()
    like: tuple[str, ...] = ()   # LIKE patterns as case-sensitive globs

    def admits(self, name: str) -> bool:
        return name in self.exact or any(fnmatch.fnmatchcase(name, glob) for glob in self.like)


def analyze(tree: exp.Expression, placeholders: set[int]) -> tuple[dict[int, RowLimit], dict[int, tuple]]:
    """``(row limits, member conditions)`` by table position; ``placeholders`` are the start positions of
    identifiers that stand for ``?`` parameters."""
    limits: dict[int, RowLimit] = {}
    members: dict[int, tuple[KeyCondition, ...]] = {}
    query = tree.this if isinstance(tree, exp.Subquery) else tree
    if isinstance(query, exp.Select):
        found = _row_limit(query, placeholders)
        if found is not None:
            limits[found[0]] = found[1]
    for select in tree.find_all(exp.Select):
        for position, conditions in _member_conditions(select).items():
            members[position] = conditions
    return limits, members


def _position(table: exp.Table) -> int | None:
    parts = [p for p in table.parts if isinstance(p, exp.Identifier)]
    return parts[0].meta.get("start") if parts else None


def _tables(select: exp.Select) -> list[exp.Expression]:
    """The sources of a SELECT's FROM and JOINs."""
    sources = []
    from_ = select.args.get("from_") or select.args.get("from")
    if from_ is not None:
        sources.append(from_.this)
    sources.extend(join.this for join in select.args.get("joins") or [])
    return sources


def _conjuncts(condition: exp.Expression | None) -> list[exp.Expression]:
    if condition is None:
        return []
    condition = condition.unnest()
    if isinstance(condition, exp.And):
        return _conjuncts(condition.this) + _conjuncts(condition.expression)
    return [condition]


def _names_table(column: exp.Column, table: exp.Table, alone: bool) -> bool:
    """Whether ``column`` reads ``table`` (qualified by its alias or name, or unqualified and alone)."""
    qualifier = column.table
    if not qualifier:
        return alone
    names = {table.alias_or_name.lower()}
    if not table.alias:
        names.add(table.name.lower())
    return qualifier.lower() in names


# -- row limits -------------------------------------------------------------------------------------------
def _row_limit(select: exp.Select, placeholders: set[int]) -> tuple[int, RowLimit] | None:
    if any(value and key not in _PLAIN_SELECT_ARGS for key, value in select.args.items()):
        return None
    sources = _tables(select)
    if len(sources) != 1 or not isinstance(sources[0], exp.Table) or not isinstance(sources[0].this, exp.Identifier):
        return None
    table = sources[0]
    if table.args.get("sample") or table.args.get("joins") or table.args.get("pivots"):
        return None
    position = _position(table)
    limit = _whole_number(select.args.get("limit"))
    offset = _whole_number(select.args.get("offset")) if select.args.get("offset") else 0
    if position is None or limit is None or offset is None:
        return None
    for projection in select.expressions:
        if projection.find(*_ROW_CHANGING) is not None or any(
                isinstance(f, exp.Anonymous) and f.name.lower() in ("unnest", "generate_subscripts")
                for f in projection.find_all(exp.Anonymous)):
            return None
    order, descending = None, False
    ordering = select.args.get("order")
    if ordering is not None:
        keys = ordering.expressions
        if len(keys) != 1 or not isinstance(keys[0].this, exp.Column) or not _names_table(keys[0].this, table, True):
            return None
        order, descending = keys[0].this.name, bool(keys[0].args.get("desc"))
        # DuckDB sorts NULLs last either way; an index has none, so only the direction matters
    where: list[tuple[str, str]] = []
    for conjunct in _conjuncts(select.args.get("where") and select.args["where"].this):
        atoms = _atoms(conjunct, table, placeholders)
        if atoms is None or len({column.lower() for column, _ in atoms}) != 1:
            return None  # a condition DuckDB might keep for itself: the source could not know
        where.extend(atoms)
    return position, RowLimit(limit + offset, order, descending, tuple(where))


def _whole_number(node: exp.Expression | None) -> int | None:
    if node is None:
        return None
    value = node.args.get("expression") if isinstance(node, (exp.Limit, exp.Offset)) else node
    if isinstance(value, exp.Literal) and not value.is_string and value.this.isdigit():
        return int(value.this)
    return None


def _atoms(node: exp.Expression, table: exp.Table, placeholders: set[int]) -> list[tuple[str, str]] | None:
    """``[(column, constant kind), ...]`` when ``node`` is built of comparisons of one column of ``table``
    with constants (comparisons, BETWEEN, IN lists, IS [NOT] NULL, AND, OR, NOT); None otherwise."""
    node = node.unnest()
    if isinstance(node, (exp.And, exp.Or)):
        left = _atoms(node.this, table, placeholders)
        right = _atoms(node.expression, table, placeholders)
        return None if left is None or right is None else left + right
    if isinstance(node, exp.Not):
        return _atoms(node.this, table, placeholders)
    if isinstance(node, exp.Is) and isinstance(node.expression, exp.Null):
        column = _column(node.this, table, placeholders)
        return None if column is None else [(column, "null")]
    if isinstance(node, _COMPARISONS):
        column, other = node.this, node.expression
        if _column(column, table, placeholders) is None:
            column, other = other, column
        name = _column(column, table, placeholders)
        kind = _constant(other, placeholders)
        return None if name is None or kind is None else [(name, kind)]
    if isinstance(node, exp.Between):
        name = _column(node.this, table, placeholders)
        kinds = {_constant(node.args.get("low"), placeholders), _constant(node.args.get("high"), placeholders)}
        if name is None or None in kinds or len(kinds) != 1:
            return None
        return [(name, kinds.pop())]
    if isinstance(node, exp.In) and not node.args.get("query") and not node.args.get("unnest"):
        name = _column(node.this, table, placeholders)
        kinds = {_constant(value, placeholders) for value in node.expressions}
        if name is None or not kinds or None in kinds or len(kinds) != 1:
            return None
        return [(name, kinds.pop())]
    return None


def _column(node: exp.Expression, table: exp.Table, placeholders: set[int]) -> str | None:
    if not isinstance(node, exp.Column) or not _names_table(node, table, True):
        return None
    if node.this.meta.get("start") in placeholders:
        return None
    return node.name


def _constant(node: exp.Expression | None, placeholders: set[int]) -> str | None:
    """The kind of a constant (``integer``, ``number``, ``string``, ``timestamp``, ``boolean``, ``parameter``),
    or None when ``node`` is not one."""
    if node is None:
        return None
    if isinstance(node, exp.Neg):
        inner = _constant(node.this, placeholders)
        return inner if inner in ("integer", "number") else None
    if isinstance(node, exp.Literal):
        if node.is_string:
            return "string"
        return "integer" if node.this.isdigit() else "number"
    if isinstance(node, exp.Boolean):
        return "boolean"
    if isinstance(node, (exp.Placeholder, exp.Parameter)):
        return "parameter"
    if isinstance(node, exp.Column) and node.this.meta.get("start") in placeholders:
        return "parameter"
    if isinstance(node, exp.Cast) and _constant(node.this, placeholders) == "parameter":
        return "parameter"
    if isinstance(node, exp.Cast) and isinstance(node.this, exp.Literal) and node.this.is_string:
        kind = node.to.this
        if kind in (exp.DataType.Type.TIMESTAMP, exp.DataType.Type.TIMESTAMPNTZ, exp.DataType.Type.TIMESTAMPTZ):
            return "timestamp"
    return None


# -- member conditions ------------------------------------------------------------------------------------
def _member_conditions(select: exp.Select) -> dict[int, tuple[KeyCondition, ...]]:
    """Conditions on ``library``/``symbol`` of each table in a SELECT's FROM and JOINs."""
    sources = [s for s in _tables(select) if isinstance(s, exp.Table) and isinstance(s.this, exp.Identifier)]
    where = select.args.get("where")
    if not sources or where is None:
        return {}
    alone = len(_tables(select)) == 1
    found: dict[int, list[KeyCondition]] = {}
    for conjunct in _conjuncts(where.this):
        for table in sources:
            condition = _key_condition(conjunct, table, alone)
            position = _position(table)
            if condition is not None and position is not None:
                found.setdefault(position, []).append(condition)
    return {position: tuple(conditions) for position, conditions in found.items()}


def _key_condition(node: exp.Expression, table: exp.Table, alone: bool) -> KeyCondition | None:
    node = node.unnest()
    if isinstance(node, exp.Or):
        left = _key_condition(node.this, table, alone)
        right = _key_condition(node.expression, table, alone)
        if left is None or right is None or left.column != right.column:
            return None
        return KeyCondition(left.column, left.exact + right.exact, left.like + right.like)
    if isinstance(node, exp.EQ):
        column, value = node.this, node.expression
        if isinstance(column, exp.Literal):
            column, value = value, column
        name = _key_column(column, table, alone)
        if name is None or not (isinstance(value, exp.Literal) and value.is_string):
            return None
        return KeyCondition(name, exact=(value.this,))
    if isinstance(node, exp.In) and not node.args.get("query") and not node.args.get("unnest"):
        name = _key_column(node.this, table, alone)
        if name is None or not node.expressions or not all(
                isinstance(v, exp.Literal) and v.is_string for v in node.expressions):
            return None
        return KeyCondition(name, exact=tuple(v.this for v in node.expressions))
    if isinstance(node, exp.Like) and not node.args.get("escape"):
        name = _key_column(node.this, table, alone)
        pattern = node.expression
        if name is None or not (isinstance(pattern, exp.Literal) and pattern.is_string):
            return None
        return KeyCondition(name, like=(like_glob(pattern.this),))
    return None


def _key_column(node: exp.Expression, table: exp.Table, alone: bool) -> str | None:
    if isinstance(node, exp.Column) and node.name.lower() in KEY_COLUMNS and _names_table(node, table, alone):
        return node.name.lower()
    return None


def like_glob(pattern: str) -> str:
    """A SQL LIKE pattern as an fnmatch glob (DuckDB's LIKE has no escape character unless ESCAPE is given).

    >>> like_glob("s00%"), like_glob("a_c*")
    ('s00*', 'a?c[*]')
    """
    out = []
    for char in pattern:
        if char == "%":
            out.append("*")
        elif char == "_":
            out.append("?")
        elif char in "*?[":
            out.append(f"[{char}]")
        else:
            out.append(char)
    return "".join(out)
