"""Statement splitting, AT clauses, reference finding and rewriting: pure text in, text out."""

from __future__ import annotations

import pandas as pd
import pytest

from arcticsql.errors import ProgrammingError
from arcticsql.sql.names import TableName, table_name
from arcticsql.sql.references import parse_statement, rewrite
from arcticsql.sql.time_travel import lift_time_travel
from arcticsql.sql.tokens import split_statements


@pytest.mark.parametrize("parts, expected", [
    (["prices_1min", "AAPL"], TableName("prices_1min", "AAPL")),
    (["prices_1min/AAPL"], TableName("prices_1min", "AAPL")),
    (["signals", "momentum/SP500"], TableName("signals", "momentum/SP500")),
    (["signals/momentum/SP500"], TableName("signals", "momentum/SP500")),
    (["news_enriched", "2024-01-15"], TableName("news_enriched", "2024-01-15")),
    (["prices_*/AAPL"], TableName("prices_*", "AAPL")),
    (["t"], None),
    (["/x"], None),
    (["memory", "main", "t"], None),
])
def test_table_names(parts, expected):
    assert table_name(parts) == expected


def test_patterns_are_detected():
    assert TableName("prices_*", "AAPL").is_pattern
    assert TableName("prices_1min", "A?PL").is_pattern
    assert TableName("prices_1min", "[AM]*").is_pattern
    assert not TableName("prices_1min", "AAPL").is_pattern


def test_split_keeps_semicolons_inside_strings_and_comments():
    script = "SELECT 'a;b';\n-- c;\nSELECT 2 ; ;\n\nSELECT $x"
    statements = split_statements(script)
    assert [s.text for s in statements] == ["SELECT 'a;b'", "SELECT 2", "SELECT $x"]
    assert [s.line for s in statements] == [1, 3, 5]
    assert statements[2].named == frozenset({"x"})


def test_split_counts_placeholders():
    (statement,) = split_statements("SELECT * FROM t WHERE a > ? AND b < ?")
    assert statement.placeholders == 2


@pytest.mark.parametrize("clause, as_of", [
    ("AT (VERSION => 3)", 3),
    ("at (snapshot => 'eod')", "eod"),
    ("AT (TIMESTAMP => '2024-06-01 12:00')", pd.Timestamp("2024-06-01 12:00", tz="UTC")),
])
def test_at_clauses_are_lifted_keeping_positions(clause, as_of):
    text = f"SELECT * FROM prices_1min.AAPL {clause} WHERE x = 1"
    blanked, found = lift_time_travel(text)
    assert len(blanked) == len(text)
    assert "AT" not in blanked.upper().replace("DATA", "")
    assert list(found.values()) == [as_of]
    assert blanked.endswith("WHERE x = 1")


@pytest.mark.parametrize("bad", ["AT (VERSION => 'x')", "AT (VERSION => 1.5)", "AT (TIMESTAMP => 'nope')"])
def test_bad_at_clauses_are_clear_errors(bad):
    with pytest.raises(ProgrammingError):
        lift_time_travel(f"SELECT * FROM a.b {bad}")


@pytest.mark.parametrize(("statement", "message"), [
    ("SELECT * FROM read_pickle('index/*.pkl') AT (VERSION => 1)", r"does not apply to read_pickle\(\)"),
    ("WITH c AS (SELECT 1) SELECT * FROM c AT (VERSION => 1)", "not an ArcticDB table"),
    ("SELECT * FROM prices_1min.AAPL p AT (VERSION => 1)", "before any alias"),
])
def test_an_at_clause_that_no_arcticdb_table_takes_is_an_error(statement, message):
    with pytest.raises(ProgrammingError, match=message):
        parse_statement(statement)


def test_an_at_clause_before_an_alias_is_taken():
    (reference,) = parse_statement("SELECT * FROM prices_1min.AAPL AT (VERSION => 1) p").references
    assert reference.as_of == 1 and reference.alias == "p"


def test_references_skip_ctes_duckdb_tables_and_functions():
    parsed = parse_statement(
        "WITH x AS (SELECT 1) SELECT * FROM x, t, main.t2, read_csv('f.csv'), prices_1min.AAPL")
    assert [str(r.name) for r in parsed.references] == ["main/t2", "prices_1min/AAPL"]
    assert all(r.qualified for r in parsed.references)


def test_rewrite_replaces_names_and_keeps_symbol_alias():
    parsed = parse_statement('SELECT AAPL.close FROM prices_1min.AAPL JOIN "prices_1min/MSFT" m USING (ts)',
)
    text = rewrite(parsed, list(zip(parsed.references, ["r0", "r1"])))
    assert text == 'SELECT AAPL.close FROM "r0" AS "AAPL" JOIN "r1" m USING (ts)'


def test_rewrite_does_not_alias_duplicate_symbols():
    parsed = parse_statement("SELECT * FROM prices_1min.AAPL a JOIN prices_daily.AAPL USING (ts)")
    assert rewrite(parsed, list(zip(parsed.references, ["r0", "r1"]))) == 'SELECT * FROM "r0" a JOIN "r1" USING (ts)'


def test_rewrite_with_time_travel_and_explain():
    parsed = parse_statement("EXPLAIN SELECT * FROM prices_1min.AAPL AT (VERSION => 2)")
    assert parsed.references[0].as_of == 2
    assert rewrite(parsed, [(parsed.references[0], "r0")]).split() == ["EXPLAIN", "SELECT", "*", "FROM", '"r0"', "AS", '"AAPL"']


def test_explain_of_a_read_pickle_query_finds_the_call():
    parsed = parse_statement("EXPLAIN ANALYZE SELECT count(*) FROM read_pickle('index/*.pkl') WHERE params = 'x'")
    (call,) = parsed.functions
    assert (call.function, call.argument) == ("read_pickle", "index/*.pkl")
    assert rewrite(parsed, [(call, "r0")]) == """EXPLAIN ANALYZE SELECT count(*) FROM "r0" WHERE params = 'x'"""


def test_describe_reference_gets_no_alias():
    parsed = parse_statement('DESCRIBE "prices_1min/AAPL"')
    assert rewrite(parsed, [(parsed.references[0], "r0")]) == 'DESCRIBE "r0"'


def test_write_targets_are_marked():
    parsed = parse_statement("INSERT INTO prices_1min.AAPL SELECT * FROM prices_1min.MSFT")
    assert [r.is_target for r in parsed.references] == [True, False]


def test_rewrite_qualifies_columns_by_the_tables_alias_or_registered_name():
    parsed = parse_statement('SELECT prices_1min."AAPL".close, "prices_1min/AAPL".ts FROM prices_1min."AAPL"')
    rewritten = rewrite(parsed, [(parsed.references[0], "r0")])
    assert rewritten == 'SELECT "AAPL".close, "AAPL".ts FROM "r0" AS "AAPL"'
    assert [(s.label, s.name) for s in rewritten.spans] == [
        ('prices_1min."AAPL"', ""), ('"prices_1min/AAPL"', ""), ('prices_1min."AAPL"', "r0")]
    two = parse_statement("SELECT a.X.v, b.X.v FROM a.X JOIN b.X ON a.X.k = b.X.k")
    assert rewrite(two, list(zip(two.references, ["r0", "r1"]))) == \
        'SELECT "r0".v, "r1".v FROM "r0" JOIN "r1" ON "r0".k = "r1".k'
    aliased = parse_statement("SELECT t.v, main.t2.v FROM a.X t, main.t2")
    assert rewrite(aliased, [(aliased.references[0], "r0")]) == "SELECT t.v, main.t2.v FROM \"r0\" t, main.t2"
