"""The Spark engine's planning, without a Spark session: filters to ArcticDB reads, partitions, the SQL
translation and the error messages."""

from __future__ import annotations

import datetime
import itertools

import pyarrow as pa
import pytest
from pyspark.sql.datasource import (
    EqualTo,
    GreaterThan,
    GreaterThanOrEqual,
    In,
    IsNotNull,
    IsNull,
    LessThan,
    StringStartsWith,
)

import arcticsql
from arcticsql.spark.errors import from_spark, user_message
from arcticsql.spark.plan import Member, MemberPlan, partitions, pieces, push_filters
from arcticsql.spark.translate import Table, translate
from arcticsql.sql.references import parse_statement

DAY = 86_400 * 10**9
START = 1_704_067_200 * 10**9  # 2024-01-01


def member(symbol: str = "AAPL", rows: int = 1_000, *, columns=None, days: int = 100) -> Member:
    kinds = {"ts": "time", "close": "float", "volume": "int", "tag": "string", "ok": "bool"}
    kinds = {k: v for k, v in kinds.items() if columns is None or k in columns or k == "ts"}
    return Member("prices", symbol, 3, rows, {k: k for k in kinds}, kinds, ("ts",), "ts", None, None,
                  START, START + days * DAY)


TYPES = {"library": pa.string(), "symbol": pa.string(), "ts": pa.timestamp("us"), "close": pa.float64(),
         "volume": pa.int64(), "tag": pa.string(), "ok": pa.bool_()}


def test_a_large_symbol_is_split_into_row_ranges_that_cover_it_once():
    big = member(rows=5_000_000)
    parts = partitions([big], [MemberPlan()])
    assert len(parts) == 5
    ranges = [piece.row_range for part in parts for piece in part.pieces]
    assert ranges == [(i * 1_000_000, (i + 1) * 1_000_000) for i in range(5)]


def test_date_bounds_become_disjoint_slices_covering_exactly_the_bounds():
    big = member(rows=5_000_000, days=100)
    low, high = START + 25 * DAY, START + 75 * DAY - 1
    sliced = pieces(big, MemberPlan(start=low, end=high), 1_000_000)
    assert len(sliced) == 3  # about 2.5M rows in the bounds
    assert sliced[0].date_range[0] == low and sliced[-1].date_range[1] == high
    for before, after in itertools.pairwise(sliced):
        assert before.date_range[1] + 1 == after.date_range[0]
    assert pieces(big, MemberPlan(start=START + 200 * DAY), 1_000_000) == []  # after its last value: not read
    assert pieces(big, MemberPlan(empty=True), 1_000_000) == []


def test_small_symbols_share_partitions():
    members = [member(f"S{i:03d}", rows=10_000) for i in range(100)]
    parts = partitions(members, [MemberPlan()] * 100)
    assert [len(part.pieces) for part in parts] == [64, 36]  # at most 64 pieces (1M rows) a partition


def test_index_integer_and_string_filters_are_pushed_exactly():
    filters = [GreaterThanOrEqual(("ts",), datetime.datetime(2024, 1, 10)),
               LessThan(("ts",), datetime.datetime(2024, 1, 11)), IsNotNull(("ts",)), IsNotNull(("volume",)),
               GreaterThan(("volume",), 500), In(("tag",), ["a", "b"]), EqualTo(("ok",), True)]
    pushed = push_filters(filters, [member()], TYPES, wildcard=False, nan_is_null=True)
    assert pushed.kept == filters  # every one answered exactly by the read
    (plan,) = pushed.plans
    assert (plan.start, plan.end) == (START + 9 * DAY, START + 10 * DAY - 1)  # strict bound: 1 ns inside
    assert [(c.column, c.op, c.value) for c in plan.clauses] == [("volume", ">", 500), ("tag", "isin", ("a", "b")),
                                                               ("ok", "=", True)]


def test_doubles_are_pushed_only_when_nan_reads_as_null():
    close = GreaterThan(("close",), 101.5)
    assert push_filters([close], [member()], TYPES, wildcard=False, nan_is_null=True).kept == [close]
    raw = push_filters([close], [member()], TYPES, wildcard=False, nan_is_null=False)
    assert raw.kept == [] and raw.plans[0].clauses == ()  # Spark orders NaN above every number


def test_filters_without_an_exact_read_go_back_to_spark():
    starts = StringStartsWith(("tag",), "a")
    ordered = GreaterThan(("tag",), "a")
    nulls = IsNotNull(("close",))
    pushed = push_filters([starts, ordered, nulls], [member()], TYPES, wildcard=False, nan_is_null=True)
    assert pushed.kept == [] and pushed.plans[0].clauses == ()


def test_wildcard_filters_skip_members():
    members = [member("AAPL"), member("MSFT", columns={"close"}), member("IBM")]
    by_symbol = In(("symbol",), ["AAPL", "MSFT"])
    volume = GreaterThan(("volume",), 10)  # MSFT has no volume: NULL there, so no row of it passes
    pushed = push_filters([by_symbol, volume], members, TYPES, wildcard=True, nan_is_null=True)
    assert pushed.kept == [by_symbol, volume]
    assert [plan.empty for plan in pushed.plans] == [False, True, True]
    missing = push_filters([IsNull(("volume",))], members, TYPES, wildcard=True, nan_is_null=True)
    assert [plan.empty for plan in missing.plans] == [False, False, False]  # only MSFT's rows pass; Spark checks
    assert missing.kept == []


# -- the SQL ---------------------------------------------------------------------------------------------------
def _translate(sql: str):
    names = itertools.count()

    def lookup(reference):
        columns = {"ts": "timestamp_ntz", "close": "double", "volume": "bigint"}
        if getattr(reference, "name", None) is not None and reference.name.is_pattern:
            columns = {"library": "string", "symbol": "string", **columns}
        return Table(f"t{next(names)}", columns, "shown")

    return translate(parse_statement(sql), lookup)


def test_time_bucket_first_last_and_qualify_become_spark_sql():
    translation = _translate('SELECT symbol, time_bucket(INTERVAL 15 MINUTE, ts) AS b, first(close ORDER BY ts), '
                             'last(close ORDER BY ts) FROM "prices/*" GROUP BY ALL '
                             'QUALIFY row_number() OVER (ORDER BY b) = 1')
    sql = translation.sql
    assert "PMOD(UNIX_MICROS(CAST(ts AS TIMESTAMP)) - 946857600000000, 900000000)" in sql
    assert "AS TIMESTAMP_NTZ)" in sql and "MIN_BY(close, ts)" in sql and "MAX_BY(close, ts)" in sql
    assert "SELECT * EXCEPT (__arcticsql_qualify)" in sql
    assert translation.columns == {"t0": ("symbol", "ts", "close")}


def test_a_correlated_subquery_reads_the_outer_tables_columns():
    translation = _translate("SELECT close FROM prices.A a WHERE EXISTS (SELECT 1 FROM prices.B b "
                             "WHERE b.ts = a.ts AND b.volume > a.volume)")
    assert translation.columns == {"t0": ("ts", "close", "volume"), "t1": ("ts", "volume")}


def test_every_place_a_table_is_read_gets_its_own_view():
    translation = _translate("WITH b AS (SELECT * FROM prices.AAPL) "
                             "SELECT (SELECT count(*) FROM b WHERE volume > 5), (SELECT max(close) FROM b)")
    assert set(translation.columns) == {"t0", "t1"}  # the CTE, used twice, is inlined
    assert "WITH" not in translation.sql


@pytest.mark.parametrize("sql, message", [
    ("SELECT * FROM prices.A a ASOF JOIN prices.B b ON a.ts >= b.ts", "ASOF JOIN is not supported"),
    ("SELECT time_bucket(INTERVAL 1 MONTH, ts) FROM prices.A", "time_bucket() by months"),
    ("SELECT epoch_ns(ts) FROM prices.A", "epoch_ns()"),
    ("SELECT * REPLACE (1 AS ts) FROM prices.A", "REPLACE"),
    ("SELECT $1", "numbered parameters"),
])
def test_constructs_spark_cannot_run_are_named(sql, message):
    looked_up = []
    with pytest.raises(arcticsql.NotSupportedError, match=message.replace("(", r"\(").replace(")", r"\)")):
        translate(parse_statement(sql), looked_up.append)
    assert looked_up == []  # refused before any table is resolved


def test_spark_messages_in_the_users_words():
    text = ("[UNRESOLVED_COLUMN.WITH_SUGGESTION] A column with name `nope` cannot be resolved. Did you mean "
            "[`__arcticsql_7`.`close`]. SQLSTATE: 42703; line 1 pos 7;\n'Project ['nope]\n+- SubqueryAlias ...")
    assert user_message(text, {"__arcticsql_7": "prices_1min/AAPL"}) == (
        "A column with name `nope` cannot be resolved. Did you mean [prices_1min/AAPL.`close`]")
    worker = RuntimeError("An exception was thrown from the Python worker:\nTraceback (most recent call last):\n"
                          '  File "x.py", line 1\narcticsql.spark.errors.WorkerError: [arcticsql:DataError] '
                          "s3://h:b?access=a&secret=s3cr3t: bad value\n")
    error = from_spark(worker)
    assert isinstance(error, arcticsql.DataError)
    assert str(error).startswith("s3://h:b?access=***&secret=***") and "s3cr3t" not in str(error)


def test_a_symbol_stored_out_of_order_is_read_without_date_range():
    """ArcticDB refuses a date_range read of rows out of index order: the date filter stays with Spark."""
    import pandas as pd

    connection = arcticsql.connect(uri="mem://", config={})
    index = pd.DatetimeIndex(["2024-01-03", "2024-01-01", "2024-01-02"], name="ts")
    connection.catalog.library("lib", create=True).write("U", pd.DataFrame({"v": range(3)}, index=index),
                                                         validate_index=False)
    unsorted = Member.of(connection.catalog.schema("lib", "U"))
    filters = [GreaterThanOrEqual(("ts",), datetime.datetime(2024, 1, 2))]
    pushed = push_filters(filters, [unsorted], {"ts": pa.timestamp("us"), "v": pa.int64()}, wildcard=False,
                          nan_is_null=True)
    assert pushed.kept == [] and [(plan.start, plan.end) for plan in pushed.plans] == [(None, None)]
    connection.close()
