"""DuckDB's errors in the user's words: their table names, their statement under the caret, on its own line."""

from __future__ import annotations

import pytest

import arcticsql
from arcticsql.engine.user_errors import in_user_words
from arcticsql.sql.references import parse_statement, rewrite


def _error(cur, sql: str, params=None) -> str:
    with pytest.raises(arcticsql.Error) as caught:
        cur.execute(sql, params).fetchall()
    return str(caught.value)


def _caret(message: str) -> tuple[str, str]:
    """The statement line DuckDB pointed into and the text under the carets."""
    *_, line, carets = message.split("\n")
    assert line.startswith("LINE ")
    label = line[:line.index(": ") + 2]
    start = carets.index("^")
    return line[len(label):], line[start:start + carets.count("^")]


@pytest.mark.parametrize("sql, culprit", [
    ("SELECT clse FROM prices_1min.AAPL", "clse"),                             # misspelled column
    ("SELECT nope(close) FROM prices_1min.AAPL", "nope(close)"),               # misspelled function
    ("SELECT close + 'x' FROM prices_1min.AAPL", "'x'"),                       # type error
    ("SELECT a.clse FROM prices_1min.AAPL a", "a.clse"),
    ('SELECT count(*) FROM "prices_1min/*" WHERE symbol = 1 AND volme > 0', "volme"),
    ("SELECT m.close FROM prices_1min.AAPL AT (VERSION => 0) JOIN prices_1min.MSFT m USING (ts) "
     "WHERE m.close > 'high'", "'high'"),
])
def test_broken_statements_name_the_users_table_with_the_caret_in_place(conn, prices, sql, culprit):
    message = _error(conn.cursor(), sql)
    assert "__arcticsql" not in message
    head, line, carets = message.split("\n")
    assert "LINE" not in head and "^" not in head
    statement, pointed = _caret(message)
    assert statement == sql and pointed == culprit
    assert line == f"LINE 1: {sql}"


def test_a_multi_line_statement_points_into_its_own_line(conn, prices):
    sql = "SELECT ts,\n       clse\nFROM prices_1min.MSFT"
    message = _error(conn.cursor(), sql)
    assert message.split("\n")[1:] == ["LINE 2:        clse", " " * len("LINE 2:        ") + "^^^^"]


def test_names_in_messages_without_a_position_are_the_users(conn, prices):
    cur = conn.cursor()
    message = _error(cur, "DROP VIEW prices_1min.AAPL")
    assert "__arcticsql" not in message and "prices_1min.AAPL" in message


def test_qualified_columns_bind_as_tools_write_them(conn, prices):
    cur = conn.cursor()
    rows = cur.execute('SELECT prices_1min."AAPL".close, "prices_1min/AAPL".ts FROM prices_1min."AAPL" '
                       "WHERE prices_1min.AAPL.volume > 5000 ORDER BY 2 LIMIT 2").fetchall()
    frame = prices["AAPL"][prices["AAPL"].volume > 5000].head(2)
    assert [r[0] for r in rows] == pytest.approx(frame.close.tolist())
    both = cur.execute("SELECT count(*) FROM prices_1min.AAPL JOIN prices_daily.AAPL "
                       "ON prices_1min.AAPL.ts = prices_daily.AAPL.ts").fetchone()[0]
    assert both == len(prices["daily/AAPL"].index.intersection(prices["AAPL"].index))


def test_a_missing_table_suggests_arcticdb_names_not_duckdb_internals(conn, prices):
    message = _error(conn.cursor(), "SELECT * FROM MSFT")
    assert "pg_" not in message and "Did you mean prices_1min.MSFT?" in message.split("\n")[0]
    assert "pg_" not in _error(conn.cursor(), "SELECT * FROM nothing_like_it")


def test_the_mapping_keeps_positions_outside_and_inside_replacements():
    sql = "SELECT x FROM lib.SYM JOIN other.T t ON lib.SYM.k = t.k WHERE y > 1"
    parsed = parse_statement(sql)
    rewritten = rewrite(parsed, [(parsed.references[0], "__arcticsql_7"), (parsed.references[1], "__arcticsql_8")])
    ran = str(rewritten)
    position = ran.index("y > 1")
    duckdb_message = ("Binder Error: no y\nCandidate bindings: \"x\"\n\nLINE 1: " + ran + "\n"
                      + " " * (len("LINE 1: ") + position) + "^")
    message = in_user_words(duckdb_message, sql, rewritten)
    assert message.split("\n") == ['Binder Error: no y Candidate bindings: "x"', f"LINE 1: {sql}",
                                   " " * (len("LINE 1: ") + sql.index("y > 1")) + "^"]
    inside = ran.index('"__arcticsql_8"') + 3
    pointed = in_user_words(f"Catalog Error: x\n\nLINE 1: {ran}\n{' ' * (8 + inside)}^^^", sql, rewritten)
    assert pointed.split("\n")[2] == " " * (8 + sql.index("other.T")) + "^" * len("other.T")
    assert in_user_words('Catalog Error: "__arcticsql_7" is a view', sql, rewritten) == \
        'Catalog Error: "lib.SYM" is a view'


def test_a_long_line_is_shown_around_the_error():
    sql = "SELECT " + ", ".join(f"c{i}" for i in range(100)) + ", clse FROM t"
    position = sql.index("clse")
    message = in_user_words(f"Binder Error: clse\n\nLINE 1: ...{sql[position - 60:position + 60]}...\n"
                            f"{' ' * (8 + 3 + 60)}^^^^", sql)
    _, line, carets = message.split("\n")
    assert len(line) < 140 and line.startswith("LINE 1: ...")
    assert line[carets.index("^"):carets.index("^") + 4] == "clse"
