"""EXPLAIN with ArcticDB's side: what each ArcticDB table asks of ArcticDB, next to DuckDB's own plan.

``EXPLAIN <query>`` answers DuckDB's rows (``explain_key``, ``explain_value``) and one more row per ArcticDB
table (key ``arcticdb``): the library, symbol (or pattern and members), pinned version, the columns read,
the ``date_range``, the ``QueryBuilder`` sent, the filter applied exactly to what ArcticDB returns, the
conditions DuckDB keeps for itself, and the reads a LIMIT makes. ``EXPLAIN ANALYZE`` runs the query and adds
what was read: calls, rows and segments against the symbols' totals, and the time spent in ArcticDB.
``Cursor.explain(sql)`` returns the same as data (one dict per table), and the shell's ``.explain on`` shows
what each statement read (:func:`describe_reads`).

How the plan is known: DuckDB decides which columns and filters reach each scan while it plans, and says so
only in its plan. So the statement is planned once more with a stand-in per ArcticDB reference that reports
a distinct row estimate (which the plan prints on the scan node) and records the filters it accepts for its
source: each scan node of the plan is then matched to its reference, and the source plans the reads it would
make for those columns and filters (the same code its scan runs).
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from arcticsql.engine.session import Session
from arcticsql.errors import ProgrammingError
from arcticsql.sources.plan import node_key
from arcticsql.sources.protocol import Node, ScanSource
from arcticsql.sources.read_log import ReadRecord
from arcticsql.sources.segments import column_positions, segments
from arcticsql.sources.symbol import ArcticSymbolSource
from arcticsql.sources.union import UnionSource
from arcticsql.sql.references import ParsedStatement, Reference, parse_statement, rewrite
from arcticsql.sql.shape import KeyCondition

_EXPLAIN = re.compile(r"^\s*EXPLAIN(\s+ANALYZE)?\s+", re.IGNORECASE)
#: Row estimates the stand-ins report: this plus the reference's number.
_MARKER = 987_654_321_000_000
#: Members of a wildcard whose segments EXPLAIN ANALYZE counts (each needs its version's index key).
_SEGMENT_MEMBERS = 64


def explain_prefix(text: str) -> tuple[bool, str] | None:
    """``(analyze, the statement after EXPLAIN [ANALYZE])`` when ``text`` is an EXPLAIN, else None."""
    match = _EXPLAIN.match(text)
    if match is None or text[match.end():].lstrip().startswith("("):
        return None  # EXPLAIN (FORMAT ...) is DuckDB's own
    return bool(match.group(1)), text[match.end():]


class _StandIn(ScanSource):
    """One reference's source while DuckDB plans the statement again: a distinct row estimate names its
    scan nodes, and the filters its source accepts are recorded. It is never read."""

    def __init__(self, source, marker: int) -> None:
        super().__init__()
        self.source = source
        self.marker = marker
        self.accepted: dict[tuple, Node] = {}

    def __arrow_c_schema__(self) -> object:
        return self.source.__arrow_c_schema__()

    def rows(self) -> int | None:
        return self.marker

    def accepts(self, predicate: Node) -> bool:
        accepted = self.source.accepts(predicate)
        if accepted:
            self.accepted.setdefault(node_key(predicate), predicate)
        return accepted

    def scan(self, columns, filters):
        raise ProgrammingError("EXPLAIN planned a statement it did not run: nothing to scan")


@dataclass
class _Scan:
    """A scan node of DuckDB's plan: the columns it reads and the condition of a FILTER right above it."""

    columns: list[str] | None
    kept: str | None


@dataclass
class Explained:
    """DuckDB's EXPLAIN rows and one entry per ArcticDB table."""

    duckdb: list[tuple[str, str]]
    tables: list[dict[str, Any]] = field(default_factory=list)

    def rows(self) -> list[tuple[str, str]]:
        """DuckDB's rows, then an ``arcticdb`` row per table."""
        return list(self.duckdb) + [("arcticdb", render(table)) for table in self.tables]


def explain(session: Session, duck, text: str, params: Any = None, analyze: bool = False) -> Explained:
    """EXPLAIN [ANALYZE] of the statement ``text`` (without the keywords), run on ``duck``."""
    parsed = parse_statement(text)
    references = session.arctic_references(duck, parsed)
    rewritten, registered = session.register_sources(duck, parsed, references)
    arctic = [(item, source) for item, _, source in registered
              if isinstance(item, Reference) and isinstance(source, (ArcticSymbolSource, UnionSource))]
    scans = _planned_scans(duck, parsed, registered, arctic, params)
    mark = session.read_log.mark()
    keyword = "EXPLAIN ANALYZE " if analyze else "EXPLAIN "
    plan = duck.execute(keyword + rewritten, params).fetchall() if params is not None else \
        duck.execute(keyword + rewritten).fetchall()
    records = session.read_log.since(mark) if analyze else []
    tables = []
    for number, (reference, source) in enumerate(arctic):
        stand_in, nodes = scans[number]
        entry = _entry(reference, source, stand_in, nodes, records if analyze else None)
        entry["as_of"] = session.as_of_for(reference)
        entry["planned_with"] = _conditions(parsed, reference, session)
        tables.append(entry)
    return Explained([(str(key), str(value)) for key, value in plan], tables)


def _planned_scans(duck, parsed, registered, arctic, params) -> list[tuple[_StandIn, list[_Scan]]]:
    """Plan the statement with a stand-in for each ArcticDB reference: its scan nodes and accepted filters."""
    stand_ins = {id(reference): _StandIn(source, _MARKER + number) for number, (reference, source) in enumerate(arctic)}
    names, pairs = [], []
    for item, name, _source in registered:
        stand_in = stand_ins.get(id(item))
        if stand_in is not None:
            name = f"__arcticsql_explain_{stand_in.marker - _MARKER}"
            duck.register(name, stand_in)
            names.append(name)
        pairs.append((item, name))
    try:
        text = "EXPLAIN (FORMAT JSON) " + rewrite(parsed, pairs)
        result = duck.execute(text, params).fetchall() if params is not None else duck.execute(text).fetchall()
    finally:
        for name in names:
            duck.unregister(name)
    found: dict[int, list[_Scan]] = {}
    for _key, value in result:
        for tree in json.loads(value):
            _walk(tree, None, found)
    return [(stand_ins[id(reference)], found.get(number, [])) for number, (reference, _) in enumerate(arctic)]


def _walk(node: dict, parent: dict | None, found: dict[int, list[_Scan]]) -> None:
    info = node.get("extra_info") or {}
    estimate = str(info.get("Estimated Cardinality", ""))
    if "SCAN" in str(node.get("name", "")) and estimate.isdigit() and int(estimate) >= _MARKER:
        projections = info.get("Projections")
        columns = [projections] if isinstance(projections, str) else list(projections or [])
        kept = None
        if parent is not None and parent.get("name") == "FILTER":
            kept = str((parent.get("extra_info") or {}).get("Expression", "")) or None
        found.setdefault(int(estimate) - _MARKER, []).append(_Scan(columns, kept))
    for child in node.get("children") or []:
        _walk(child, node, found)


def _entry(reference: Reference, source, stand_in: _StandIn, nodes: list[_Scan],
           records: list[ReadRecord] | None) -> dict[str, Any]:
    filters = list(stand_in.accepted.values())
    entry: dict[str, Any] = {"table": _written(reference), "pattern": reference.name.is_pattern,
                             "as_of": reference.as_of, "scans": len(nodes)}
    columns: list[str] | None = None
    if nodes:
        seen = [c for node in nodes for c in (node.columns or [])]
        columns = [n for n in source.arrow.names if n in set(seen)] if isinstance(source, UnionSource) else \
            [n for n in source.schema.names if n in set(seen)]
        entry["duckdb_filter"] = next((node.kept for node in nodes if node.kept), None)
    entry.update(source.explain(columns, filters))
    if records is not None:
        entry.update(_analyzed(source, records))
    return entry


def _conditions(parsed: ParsedStatement, reference: Reference, session: Session) -> list[str]:
    """The statement's conditions that chose a wildcard's members before anything was pinned."""
    if not reference.name.is_pattern or not session.prunes(parsed.text):
        return []
    return [_condition_text(c) for c in parsed.members.get(reference.start, ())]


def _condition_text(condition: KeyCondition) -> str:
    terms = [f"{condition.column} = '{value}'" for value in condition.exact]
    terms += [f"{condition.column} LIKE (glob) '{glob}'" for glob in condition.like]
    return " OR ".join(terms)


def _written(reference: Reference) -> str:
    name = reference.name
    if name.is_pattern:
        return f'"{name.library}/{name.symbol}"'
    return f"{name.library}.{name.symbol}"


def _analyzed(source, records: list[ReadRecord]) -> dict[str, Any]:
    """What the run read for ``source``: calls, rows and segments against the totals, time in ArcticDB."""
    members = source.members if isinstance(source, UnionSource) else [source]
    by_key = {(m.schema.library, m.schema.symbol, m.schema.version): m for m in members}
    mine = [r for r in records if (r.library, r.symbol, r.version) in by_key]
    fetched = [r for r in mine if r.called_arcticdb]
    out: dict[str, Any] = {
        "reads_made": sum(1 for r in mine if r.kind == "read"),
        "served_from_planning_read": sum(1 for r in mine if r.kind == "memory"),
        "served_from_cache": sum(1 for r in mine if r.cached),
        "rows_from_cache": sum(r.rows for r in mine if r.cached),
        "rows_read": sum(r.rows for r in fetched),
        "rows_total": sum(m.schema.row_count for m in members),
        "arcticdb_ms": round(sum(r.seconds for r in fetched) * 1000, 3),
        "segments_read": None, "segments_total": None,
    }
    if len(members) <= _SEGMENT_MEMBERS:
        read = total = 0
        for member in members:
            schema = member.schema
            table = segments(member.library, schema.library, schema.symbol, schema.version)
            total += table.total
            for record in fetched:
                if (record.library, record.symbol, record.version) == (schema.library, schema.symbol, schema.version):
                    read += table.touched(record.row_range, record.date_range, column_positions(schema, record.columns))
        out["segments_read"], out["segments_total"] = read, total
    return out


# -- text ---------------------------------------------------------------------------------------------------
def render(table: dict[str, Any]) -> str:
    """One table's entry as the text of its ``arcticdb`` row."""
    lines = [f"ArcticDB table {table['table']}"]
    as_of = table.get("as_of")
    if as_of is not None:
        lines[0] += f" AT (SNAPSHOT => '{as_of}')" if isinstance(as_of, str) else (
            f" AT (VERSION => {as_of})" if isinstance(as_of, int) else f" AT (TIMESTAMP => '{as_of}')")
    checked = "latest seen, checked on reading" if table.get("version_checked") else "pinned"
    if "members" in table:
        versions = table["versions"]
        shown = ", ".join(f"{lib}/{sym}@{ver}" for lib, sym, ver in versions[:5])
        more = f" and {len(versions) - 5} more" if len(versions) > 5 else ""
        lines.append(f"  members: {table['members']} of {table['of']} ({checked}): {shown}{more}")
        if table.get("planned_with"):
            lines.append(f"  members resolved (before pinning) for: {' AND '.join(table['planned_with'])}")
        if table.get("key_filters"):
            lines.append(f"  members kept by: {' AND '.join(table['key_filters'])}")
    else:
        lines.append(f"  library {table['library']}, symbol {table['symbol']}, version {table['version']} "
                     f"({checked}), {table['rows']:,} rows")
    if not table.get("scans"):
        lines.append("  not scanned (DuckDB's plan reads no rows of it)")
    lines.append(f"  columns read: {_columns(table.get('columns'))}")
    ranges = table.get("date_ranges") if "members" in table else [table.get("date_range")]
    ranges = [r for r in ranges or [] if r is not None]
    if ranges:
        shown = "; ".join(_range(r) for r in ranges[:3]) + (f"; and {len(ranges) - 3} more" if len(ranges) > 3 else "")
        lines.append(f"  date_range: {shown}")
    builders = table.get("query_builders") if "members" in table else [table.get("query_builder")]
    builders = [b for b in builders or [] if b]
    if builders:
        lines.append(f"  QueryBuilder: {' | '.join(builders[:3])}")
    if table.get("filter_after_read"):
        lines.append(f"  filtered exactly after the read: {' AND '.join(table['filter_after_read'])}")
    if table.get("duckdb_filter"):
        lines.append(f"  left for DuckDB: {table['duckdb_filter']}")
    if table.get("limit"):
        lines.append(f"  LIMIT reaches ArcticDB: {table['limit']}" + (
            f" of each of {table['limited_members']} members" if "members" in table else ""))
    lines.extend(_reads_line(table))
    if "rows_read" in table:
        segments_text = ("" if table.get("segments_total") is None
                         else f", {table['segments_read']:,} of {table['segments_total']:,} segments")
        served = table.get("served_from_planning_read")
        cached = table.get("served_from_cache")
        lines.append(f"  analyzed: {table['reads_made']} reads, {table['rows_read']:,} of {table['rows_total']:,} rows"
                     f"{segments_text}, {table['arcticdb_ms']:.1f} ms in ArcticDB"
                     + (f"; {served} served from the planning read" if served else "")
                     + (f"; {table['rows_from_cache']:,} rows served from the session cache" if cached else ""))
    return "\n".join(lines)


def _reads_line(table: dict[str, Any]) -> list[str]:
    if "members" in table:
        parts = []
        if table.get("from_planning_read"):
            parts.append(f"{table['from_planning_read']} members served from the planning read")
        if table.get("row_ranges"):
            parts.append("row_range " + "; ".join(f"{a}..{b}" for a, b in table["row_ranges"][:3]))
        return [f"  reads: {', '.join(parts)}"] if parts else []
    if table.get("from_planning_read"):
        return ["  reads: served from the planning read"]
    reads = table.get("reads") or []
    if not reads:
        return ["  reads: none (the conditions exclude every row)"] if table.get("scans") else []
    if table.get("cache") == "held":
        return ["  reads: through the session cache, which holds these rows (only columns it lacks are read)"]
    shown = "; ".join(_call(call) for call in reads)
    count = table.get("read_count")
    how_many = "at least 1 (wider windows while too few rows pass)" if count is None else str(count)
    through = ", through the session cache (whole ranges, no QueryBuilder)" if table.get("cache") else ""
    return [f"  reads: {how_many}{through}: {shown}" + (" ..." if count and count > len(reads) else "")]


def _call(call: dict) -> str:
    if call.get("row_range") is not None:
        return f"row_range {call['row_range'][0]}..{call['row_range'][1]}"
    if call.get("date_range") is not None:
        return f"date_range {_range(call['date_range'])}"
    return "whole symbol"


def _columns(columns: Sequence[str] | None) -> str:
    if columns is None:
        return "all"
    return ", ".join(columns) if columns else "index only"


def _range(bounds) -> str:
    start, end = bounds
    return f"{_stamp(start)} .. {_stamp(end)}"


def _stamp(value) -> str:
    return "(open)" if value is None else str(pd.Timestamp(value))


def describe_reads(session: Session, records: list[ReadRecord]) -> str:
    """What a statement read (its read log ``records``), per symbol version: for the shell's ``.explain``."""
    if not records:
        return "ArcticDB: nothing read"
    by_symbol: dict[tuple[str, str, int], list[ReadRecord]] = {}
    for record in records:
        by_symbol.setdefault((record.library, record.symbol, record.version), []).append(record)
    lines = [f"ArcticDB: {len(records)} reads of {len(by_symbol)} symbol versions"]
    for (library, symbol, version), reads in list(by_symbol.items())[:10]:
        fetched = [r for r in reads if r.called_arcticdb]
        first = reads[0]
        what = "; ".join(filter(None, [
            f"columns {_columns(first.columns)}",
            f"date_range {_range(first.date_range)}" if first.date_range is not None else None,
            f"row_range {first.row_range[0]}..{first.row_range[1]}" if first.row_range is not None else None,
            f"QueryBuilder {first.query}" if first.query else None]))
        served = sum(1 for r in reads if r.kind == "memory")
        cached = sum(r.rows for r in reads if r.cached)
        lines.append(f"  {library}/{symbol}@{version}: {len(fetched)} reads ({what}{', ...' if len(reads) > 1 else ''}),"
                     f" {sum(r.rows for r in fetched):,} rows, {sum(r.seconds for r in fetched) * 1000:.1f} ms"
                     + (f"; {served} served from the planning read" if served else "")
                     + (f"; {cached:,} rows from the session cache" if any(r.cached for r in reads) else ""))
    if len(by_symbol) > 10:
        lines.append(f"  and {len(by_symbol) - 10} more symbols")
    return "\n".join(lines)
