"""Executing a script, statement by statement: the flow every cursor, the REPL and ``arcticsql run`` share.

For each statement: **split** from the script (:mod:`arcticsql.sql.tokens`), **parse** and find its ArcticDB
references (:mod:`arcticsql.sql.references`); a store command (:mod:`arcticsql.sql.commands`) runs its query
and writes (:mod:`arcticsql.writes`); anything else is **resolved**, **registered** and **executed** by the
:class:`~arcticsql.engine.session.Session`. A statement planned with what proves out of date (a symbol's
newer version, a pickle file with more columns) is planned again, at most :data:`MAX_REPLANS` times.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from typing import Any

from sqlglot import exp

from arcticsql.engine.as_of import as_of_command, check_snapshot
from arcticsql.engine.explain import Explained, explain, explain_prefix
from arcticsql.engine.registry import PREFIX
from arcticsql.engine.session import Session, abort_pending
from arcticsql.errors import Error, ProgrammingError, translate
from arcticsql.sql.commands import store_command
from arcticsql.sql.references import parse_statement
from arcticsql.sql.tokens import Statement, split_statements
from arcticsql.writes.arctic import StoreResult
from arcticsql.writes.commands import Changed, run_store_command

#: times one statement is planned again after plans proved out of date (see Session.plan_again)
MAX_REPLANS = 4

_SHOW_TABLES = re.compile(r"^\s*SHOW\s+(ALL\s+)?TABLES\s*$", re.IGNORECASE)

#: What ``SHOW TABLES`` lists: every ArcticDB symbol, then DuckDB's own tables and views (not the names
#: arcticsql registers its scans under).
SHOW_TABLES_SQL = f"""
SELECT library, symbol AS name, 'arcticdb' AS kind, rows FROM arcticsql.symbols
UNION ALL
SELECT schema_name, table_name, 'duckdb table', estimated_size FROM duckdb_tables()
UNION ALL
SELECT schema_name, view_name, 'duckdb view', NULL FROM duckdb_views()
WHERE NOT internal AND NOT starts_with(view_name, '{PREFIX}')
ORDER BY kind, library, name
"""

#: Statements that answer with rows; anything else (DDL, SET, ...) is run to completion at once.
_ROW_STATEMENTS = (exp.Query, exp.Describe, exp.Show, exp.Summarize, exp.Pivot, exp.Pragma, exp.Command,
                   exp.Values, exp.Table)


@dataclass
class Outcome:
    """What executing a script left behind: the DuckDB connection holding the last result, and for store
    commands the rows written and a message."""

    rowcount: int = -1
    message: str | None = None
    has_result: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


def execute(session: Session, duck, script: str, params: Any = None) -> Outcome:
    """Run every statement of ``script`` on ``duck``; the last statement's result stays on ``duck``."""
    statements = split_statements(script)
    if not statements:
        raise ProgrammingError("empty statement")
    bound = bind_parameters(statements, params)
    abort_pending(duck)
    session.cancel_event(duck).clear()  # an interrupt stops the statement it was meant for, not this one
    outcome = Outcome()
    for position, (statement, statement_params) in enumerate(zip(statements, bound)):
        outcome = execute_statement(session, duck, statement, statement_params)
        if outcome.has_result and position + 1 < len(statements):
            duck.complete()  # run it to its end; only the last statement's rows are kept
    return outcome


def execute_statement(session: Session, duck, statement: Statement, params: Any) -> Outcome:
    """Run one statement, planning it again while its plan proves out of date."""
    return _replanning(session, duck, statement.text, lambda: _run(session, duck, statement, params))


def explain_statement(session: Session, duck, text: str, params: Any = None, analyze: bool = False) -> Explained:
    """EXPLAIN [ANALYZE] of one statement (``text`` with or without the keywords), as data."""
    prefix = explain_prefix(text)
    if prefix is not None:
        analyze, text = analyze or prefix[0], prefix[1]

    def run() -> Explained:
        try:
            session.attach_views(duck)
            return explain(session, duck, text, params, analyze)
        except Exception as error:
            raise translate(error, session.store.failure) from error

    return _replanning(session, duck, text, run)


def _replanning(session: Session, duck, text: str, run):
    replans, tried = 0, set()
    while True:
        try:
            return run()
        except Error as error:
            if replans >= MAX_REPLANS or not session.plan_again(error, text, tried, duck):
                raise
        # A failed DuckDB statement changed nothing, and store commands write only after their query
        # succeeded: plan the statement again and run it.
        replans += 1
        abort_pending(duck)


def _run(session: Session, duck, statement: Statement, params: Any) -> Outcome:
    text = prepared = statement.text
    try:
        session.attach_views(duck)
        text = prepared = SHOW_TABLES_SQL if _SHOW_TABLES.match(statement.text) else statement.text
        setting = as_of_command(text)
        if setting is not None:  # SET / RESET arcticsql.as_of: the session's, not DuckDB's
            if isinstance(setting[1], str):
                check_snapshot(session.catalog, setting[1])
            session.as_of = setting[1]
            return Outcome(rowcount=-1, has_result=False)
        parsed = parse_statement(text)
        references = session.arctic_references(duck, parsed)
        # a store command writes to ArcticDB: its target is never a DuckDB schema's table (main.t)
        command = store_command(replace(parsed, references=tuple(references)), text)
        if command is not None:
            written = run_store_command(command, catalog=session.catalog, settings=session.settings,
                                        run_query=lambda query: session.query_arrow(duck, query, params))
            return _written(duck, written)
        prefix = explain_prefix(text)
        if prefix is not None and parse_statement(prefix[1]).references:
            explained = explain(session, duck, prefix[1], params, prefix[0])
            return _rows(duck, ("explain_key", "explain_value"), explained.rows(), {"explain": explained.tables})
        prepared = session.prepare(duck, parsed, references, text)
        duck.execute(prepared, params) if params is not None else duck.execute(prepared)
        if isinstance(parsed.tree, (exp.Insert, exp.Update, exp.Delete)):
            row = duck.fetchone()  # DuckDB answers DML with one row: the count
            duck.complete()
            return Outcome(rowcount=int(row[0]) if row else -1, has_result=False)
        if parsed.tree is not None and not isinstance(parsed.tree, _ROW_STATEMENTS):
            duck.complete()  # DDL and the like take effect now, as users expect
            return Outcome(rowcount=-1, has_result=False)
        return Outcome(rowcount=-1, has_result=True)
    except Exception as error:
        raise translate(error, session.store.failure, session.words(text, prepared)) from error


def _rows(duck, names: tuple[str, ...], rows: list[tuple], extra: dict) -> Outcome:
    """A result made here: ``rows`` of ``names`` (all text)."""
    values = exp.values([tuple(exp.Placeholder() for _ in names) for _ in rows], alias="result", columns=list(names))
    duck.execute(exp.select("*").from_(values).sql("duckdb"), [value for row in rows for value in row])
    return Outcome(rowcount=-1, has_result=True, extra=extra)


def _written(duck, written) -> Outcome:
    """A store command's answer: one row saying what was written (a DROP or DELETE: the message)."""
    if isinstance(written, Changed):
        return Outcome(rowcount=written.rows, message=str(written), has_result=False)
    if isinstance(written, StoreResult):
        duck.execute("SELECT ? AS library, ? AS symbol, ?::BIGINT AS version, ?::BIGINT AS rows, ? AS mode",
                     [written.library, written.symbol, written.version, written.rows, written.mode])
        return Outcome(rowcount=written.rows, message=str(written), has_result=True, extra={"store": written})
    duck.execute("SELECT ? AS file, ?::BIGINT AS rows", [written.location, written.rows])
    return Outcome(rowcount=written.rows, message=str(written), has_result=True)


def bind_parameters(statements: tuple[Statement, ...], params: Any) -> list[Any]:
    """Split one parameter set across the statements of a script by their placeholders."""
    if params is None:
        return [None] * len(statements)
    if isinstance(params, dict):
        return [{k: v for k, v in params.items() if k in s.named} if s.named else None for s in statements]
    values = list(params)
    if len(statements) == 1:
        return [values]
    out, cursor = [], 0
    for statement in statements:
        if statement.placeholders:
            out.append(values[cursor:cursor + statement.placeholders])
            cursor += statement.placeholders
        else:
            out.append(None)
    if cursor != len(values):
        raise ProgrammingError(f"the statements take {cursor} parameters, {len(values)} were given")
    return out
