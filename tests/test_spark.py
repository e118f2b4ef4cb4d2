"""The Spark engine against the DuckDB engine: the same SQL over the same ArcticDB store on S3 (moto), in
one local[2] SparkSession. Rows are compared sorted, floats within a tight tolerance (Spark adds them up
in another order)."""

from __future__ import annotations

import datetime
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

import arcticsql
import arcticsql.spark
from arcticsql.cli.main import cli
from arcticsql.demo import generate_demo
from arcticsql.sql.tokens import split_statements
from tests.conftest import minute_bars
from tests.support.moto_server import SECRET

QUERIES = Path(__file__).resolve().parent.parent / "queries"
BIG_ROWS = 300_000           # the symbol read by several tasks
SMALL_PARTITIONS = 100_000   # rows per partition in these tests (the default is 1,000,000)


@pytest.fixture(scope="module")
def demo(moto, tmp_path_factory):
    """The demo store on S3 and its pickles, and a few symbols more: NaN values, a large symbol."""
    folder = tmp_path_factory.mktemp("spark-demo")
    uri = moto.arctic_uri(moto.create_bucket())
    config = {"storage": {"type": "local", "local": {"base_path": str(folder / "pickles")}}}
    duck = arcticsql.connect(uri=uri, config=config)
    summary = generate_demo(duck.session.store.arctic(create=True), str(folder / "pickles"), symbols=4, days=10)
    misc = duck.catalog.library("misc", create=True)
    values = np.arange(20, dtype=float)
    values[[3, 7]] = np.nan
    misc.write("nans", pd.DataFrame({"x": values, "n": np.arange(20), "s": list("ab" * 10)},
                                    index=pd.date_range("2024-01-01", periods=20, freq="D", name="ts")))
    misc.write("big", minute_bars(periods=BIG_ROWS, seed=7))
    yield {"uri": uri, "config": config, "duck": duck, "summary": summary, "folder": folder}
    duck.close()


@pytest.fixture(scope="module")
def log_path(tmp_path_factory):
    return tmp_path_factory.mktemp("spark-log") / "reads.jsonl"


@pytest.fixture(scope="module")
def engine(spark, demo, log_path):
    connection = arcticsql.spark.connect(demo["uri"], demo["config"], spark=spark, read_log=str(log_path))
    connection.engine.rows_per_partition = SMALL_PARTITIONS
    yield connection
    connection.close()


@pytest.fixture
def reads(log_path):
    """The read log of what the next statements ask ArcticDB for (emptied first)."""
    log_path.write_text("")

    def events(kind: str | None = None) -> list[dict]:
        records = [json.loads(line) for line in log_path.read_text().splitlines() if line.strip()]
        return [r for r in records if kind is None or r["event"] == kind]

    return events


def normalised(rows) -> list[tuple]:
    out = []
    for row in rows:
        values = []
        for value in row:
            if isinstance(value, float) and math.isnan(value):
                value = "NaN"
            elif isinstance(value, (list, np.ndarray)):
                value = tuple(value)
            values.append(value)
        out.append(tuple(values))
    return sorted(out, key=lambda r: tuple((v is None, round(v, 6) if isinstance(v, float) else str(v)) for v in r))


def assert_same_rows(duck_rows, spark_rows) -> None:
    left, right = normalised(duck_rows), normalised(spark_rows)
    assert len(left) == len(right), (left[:3], right[:3])
    for a, b in zip(left, right, strict=True):
        assert len(a) == len(b), (a, b)
        for x, y in zip(a, b, strict=True):
            if isinstance(x, float) and isinstance(y, float):
                assert math.isclose(x, y, rel_tol=1e-9, abs_tol=1e-9), (a, b)
            else:
                assert x == y, (a, b)


def both(demo, engine, sql: str, params=None):
    duck = demo["duck"].cursor().execute(sql, params)
    duck_rows, duck_names = duck.fetchall(), [d[0] for d in duck.description]
    spark = engine.cursor().execute(sql, params)
    return duck_rows, spark.fetchall(), duck_names, [d[0] for d in spark.description]


def ticker(demo, position: int = 1) -> str:
    return demo["summary"]["tickers"][position]


def last_day(demo) -> str:
    return str(demo["summary"]["sessions"]["last"])


QUERIES_SET = [
    # wildcards
    'SELECT symbol, count(*), min(ts), max(ts), avg(close), sum(volume) FROM "prices_1min/*" GROUP BY ALL',
    'SELECT library, symbol, count(*), max(high) FROM "prices_*/{t}" GROUP BY ALL',
    'SELECT * FROM "prices_daily/*" WHERE symbol IN (\'{t}\', \'{t0}\') AND ts >= \'2024-03-20\'',
    # date ranges, strict and inclusive bounds
    "SELECT * FROM prices_1min.{t} WHERE ts BETWEEN '{day} 15:00' AND '{day} 16:00'",
    "SELECT count(*), sum(volume) FROM prices_1min.{t} WHERE ts > '{day} 15:00:00' AND ts <= '{day} 15:30:00'",
    # value filters: integers, strings, doubles (NaN reads as NULL)
    "SELECT ts, volume FROM \"prices_1min/*\" WHERE volume > 20000 AND symbol = '{t}'",
    "SELECT ticker, count(*), avg(sentiment) FROM \"news_enriched/*\" WHERE ticker = '{t}' GROUP BY ALL",
    "SELECT count(x), avg(x), sum(n), count(*) FROM misc.nans",
    "SELECT ts, x, s FROM misc.nans WHERE x < 5 OR x IS NULL",
    "SELECT ts, x FROM misc.nans WHERE x > 4.5 AND s = 'b' AND n IN (5, 9, 11, 13)",
    # joins and window functions
    "SELECT p.ts, p.close, i.close AS spx FROM prices_1min.{t} p JOIN indices.SPX i USING (ts) WHERE p.ts >= '{day}'",
    "SELECT symbol, ts, close, avg(close) OVER (PARTITION BY symbol ORDER BY ts ROWS BETWEEN 4 PRECEDING AND "
    "CURRENT ROW) AS ma FROM \"prices_daily/*\" WHERE ts >= '2024-03-01'",
    "WITH r AS (SELECT symbol, ts, close FROM \"prices_daily/*\") SELECT * FROM r "
    "QUALIFY row_number() OVER (PARTITION BY symbol ORDER BY ts DESC) = 1",
    "SELECT symbol, ts, close FROM \"prices_daily/*\" p WHERE ts >= '2024-03-25' AND EXISTS "
    "(SELECT 1 FROM \"news_enriched/*\" n WHERE n.ticker = p.symbol AND n.sentiment > 0.5)",
    # time_bucket, first/last, strftime
    "SELECT symbol, time_bucket(INTERVAL 15 MINUTE, ts) AS bucket, first(open ORDER BY ts), last(close ORDER BY ts), "
    "sum(volume) FROM \"prices_1min/*\" WHERE ts >= '{day}' GROUP BY ALL",
    "SELECT strftime(ts, '%Y-%m-%d') AS day, count(*) FROM prices_1min.{t} GROUP BY ALL",
    # versions and snapshots
    "SELECT count(*), max(high) FROM prices_daily.{t0} AT (VERSION => 0)",
    "SELECT symbol, count(*), max(high) FROM \"prices_daily/*\" AT (SNAPSHOT => 'demo') GROUP BY ALL",
    # one table read twice with different filters, in one statement and through a CTE used twice
    "SELECT (SELECT count(*) FROM misc.nans WHERE n > 15), (SELECT count(*) FROM misc.nans), "
    "(SELECT sum(n) FROM misc.nans WHERE ts >= '2024-01-10')",
    "WITH b AS (SELECT ts, n FROM misc.nans) SELECT (SELECT count(*) FROM b WHERE n < 3), (SELECT count(*) FROM b)",
    # pickle datasets and the catalog
    "SELECT market_type, model_type, count(*), avg(close) FROM read_pickle('index/*/gbm/*.pkl') "
    "WHERE market_type = 'spx' GROUP BY ALL",
    "SELECT file, rows FROM pickle_files('option_chain/**/*.pkl')",
    "SELECT library, symbol, version, rows FROM arcticsql.symbols WHERE library = 'prices_daily'",
]


def test_queries_return_the_duckdb_engines_rows(demo, engine):
    for template in QUERIES_SET:
        sql = template.format(t=ticker(demo), t0=ticker(demo, 0), day=last_day(demo))
        duck_rows, spark_rows, duck_names, spark_names = both(demo, engine, sql)
        assert duck_rows, sql
        assert_same_rows(duck_rows, spark_rows)
        assert len(duck_names) == len(spark_names)


def test_every_saved_query_spark_can_run_returns_the_same_rows(demo, engine):
    params = {"ticker": ticker(demo), "day": last_day(demo)}
    ran, refused = [], []
    for path in sorted(QUERIES.glob("*.sql")):
        for statement in split_statements(path.read_text()):
            used = {k: v for k, v in params.items() if k in statement.named} or None
            duck_rows = demo["duck"].cursor().execute(statement.text, used).fetchall()
            try:
                spark_rows = engine.cursor().execute(statement.text, used).fetchall()
            except arcticsql.NotSupportedError as error:
                refused.append((path.name, str(error)))
                continue
            assert duck_rows, path.name
            assert_same_rows(duck_rows, spark_rows)
            ran.append(path.name)
    assert refused == [("03_news_sentiment_asof.sql",
                        "ASOF JOIN is not supported on the Spark engine (Spark has no as-of join)")]
    assert len(ran) >= 6


def test_pushdown_date_range_and_query_builder(demo, engine, reads):
    t, day = ticker(demo), last_day(demo)
    sql = (f"SELECT ts, volume FROM \"prices_1min/*\" WHERE symbol = '{t}' AND ts >= '{day} 15:00' "
           f"AND ts < '{day} 16:00' AND volume > 1000")
    duck_rows, spark_rows, *_ = both(demo, engine, sql)
    assert_same_rows(duck_rows, spark_rows)
    filters = reads("filters")[0]["filters"]
    assert any(f.startswith("kept GreaterThanOrEqual(attribute=('ts',)") for f in filters)
    assert any(f.startswith("kept GreaterThan(attribute=('volume',), value=1000)") for f in filters)
    assert any(f.startswith("kept EqualTo(attribute=('symbol',)") for f in filters)
    (planned,) = reads("partitions")
    assert [piece["symbol"] for part in planned["pieces"] for piece in part] == [f"prices_1min/{t}"]
    assert len(planned["skipped"]) == len(demo["summary"]["tickers"]) - 1
    (read,) = reads("read")
    start = pd.Timestamp(f"{day} 15:00")
    assert read["date_range"] == [str(start), str(start + pd.Timedelta(hours=1) - pd.Timedelta(1, "ns"))]
    assert "volume" in read["query_builder"] and "1000" in read["query_builder"]
    assert read["rows"] == len(spark_rows)  # ArcticDB returned exactly the rows kept
    assert read["columns"] == ["volume"]    # only what the query reads (the index comes with any read)


def test_a_large_symbol_is_read_by_several_tasks_and_a_date_filter_prunes_them(demo, engine, reads):
    rows = engine.cursor().execute(
        "SELECT spark_partition_id() AS task, count(*) FROM misc.big GROUP BY ALL").fetchall()
    assert sorted(count for _task, count in rows) == [BIG_ROWS // 3] * 3   # 300,000 rows in 3 tasks
    assert len({task for task, _count in rows}) == 3
    assert reads("partitions")[0]["partitions"] == 3
    reads_before = len(reads("read"))
    last = demo["duck"].cursor().execute("SELECT max(ts) FROM misc.big").fetchone()[0]
    since = last - datetime.timedelta(hours=3)
    sql = f"SELECT count(*), sum(volume) FROM misc.big WHERE ts > '{since}'"
    duck_rows, spark_rows, *_ = both(demo, engine, sql)
    assert_same_rows(duck_rows, spark_rows)
    assert spark_rows[0][0] == 180
    planned = reads("partitions")[-1]
    assert planned["partitions"] == 1
    (piece,), = planned["pieces"]
    assert piece["date_range"][0] == pd.Timestamp(since).value + 1  # strict: one nanosecond after
    assert len(reads("read")) == reads_before + 1


def test_the_data_source_alone(spark, demo):
    uri, t = demo["uri"], ticker(demo)
    frame = spark.read.format("arcticdb").option("uri", uri).load(f"prices_*/{t}")
    described = demo["duck"].cursor().execute(f'SELECT * FROM "prices_*/{t}" LIMIT 0').description
    assert frame.columns == [d[0] for d in described]
    assert frame.count() == demo["duck"].cursor().execute(f'SELECT count(*) FROM "prices_*/{t}"').fetchone()[0]
    t0 = ticker(demo, 0)
    old = spark.read.format("arcticdb").option("uri", uri).option("as_of", "0").load(f"prices_daily.{t0}")
    assert old.agg({"high": "max"}).first()[0] == demo["duck"].cursor().execute(
        f"SELECT max(high) FROM prices_daily.{t0} AT (VERSION => 0)").fetchone()[0]
    with pytest.raises(Exception, match="arcticsql.spark.sql") as raised:  # a write needs the driver's finalize
        old.write.format("arcticdb").option("uri", uri).mode("append").save("features/direct")
    assert SECRET not in str(raised.value)


def test_refused_constructs_are_named_before_anything_is_read(demo, engine, reads):
    refused = {
        'SELECT * FROM "news_enriched/*" n ASOF JOIN "prices_1min/*" p ON n.ticker = p.symbol AND n.ts >= p.ts':
            "ASOF JOIN is not supported on the Spark engine",
        "SELECT hash(close) FROM misc.nans": "hash() is not supported on the Spark engine",
        "SELECT * FROM read_parquet('x.parquet')": "table function READ_PARQUET('x.parquet') is not supported",
        "SELECT time_bucket(INTERVAL 1 MONTH, ts) FROM misc.nans": "time_bucket() by months",
        "SELECT ts::TIMESTAMP_NS FROM misc.nans": "TIMESTAMP_NS",
    }
    for sql, message in refused.items():
        with pytest.raises(arcticsql.NotSupportedError, match=message.replace("(", r"\(").replace(")", r"\)")):
            engine.cursor().execute(sql)
    assert reads() == []


def test_errors_are_one_line_in_the_users_words_without_secrets(demo, engine, capsys):
    cases = {
        "SELECT nope FROM misc.nans": (arcticsql.ProgrammingError, "`nope` cannot be resolved"),
        "SELECT * FROM misc.nothere": (arcticsql.ProgrammingError, "unknown symbol 'nothere' in library 'misc'"),
        "SELECT 1 / 0": (arcticsql.DataError, "Division by zero"),
        "SELECT x FROM misc.nans AT (VERSION => 9)": (arcticsql.ProgrammingError, "misc/nans has no version 9"),
    }
    for sql, (kind, text) in cases.items():
        with pytest.raises(kind) as raised:
            engine.cursor().execute(sql)
        message = str(raised.value)
        assert text in message, message
        for internal in ("\n", "Traceback", "SQLSTATE", "__arcticsql", "spark_catalog", SECRET):
            assert internal not in message, (internal, message)
    capsys.readouterr()
    engine.engine.sql("SELECT * FROM misc.nans WHERE n > 3").explain(extended=True)
    plan = capsys.readouterr().out
    assert SECRET not in plan and "arcticdb" in plan


def test_a_sub_microsecond_value_is_an_error_naming_the_symbol(demo, engine):
    lib = demo["duck"].catalog.library("misc", create=True)
    index = pd.date_range("2024-01-01", periods=3, freq="D", name="ts")
    day = 86_400 * 10**9
    lib.write("nanos", pd.DataFrame({"at": pd.to_datetime([19_723 * day, 19_723 * day + 1, 19_724 * day])},
                                    index=index))
    with pytest.raises(arcticsql.DataError, match="misc/nanos: column 'at'") as raised:
        engine.cursor().execute("SELECT at FROM misc.nanos")
    assert "\n" not in str(raised.value) and SECRET not in str(raised.value)
    lib.write("nano_index", pd.DataFrame({"x": [1.0, 2.0]}, index=pd.DatetimeIndex([0, 1], name="ts")))
    with pytest.raises(arcticsql.DataError, match="misc/nano_index: column 'ts'"):
        engine.cursor().execute("SELECT * FROM misc.nano_index")  # never rounded


# -- writes --------------------------------------------------------------------------------------------------
@pytest.fixture
def fresh(demo):
    """A new DuckDB-engine connection to the store: it sees what Spark wrote (a connection that read a symbol
    remembers its latest version for a while, as ArcticDB does)."""
    connection = arcticsql.connect(uri=demo["uri"], config=demo["config"])
    yield connection
    connection.close()


def _staged(connection, library: str) -> list:
    return connection.catalog.library(library).get_staged_symbols()


def test_copy_writes_in_parallel_with_modes_metadata_and_routing(demo, engine, reads, fresh):
    t, day = ticker(demo), last_day(demo)
    copy = (f"COPY (SELECT ts, close, volume FROM prices_1min.{t} WHERE ts < '{day}') "
            "TO 'arctic://features/spark/copy' (METADATA '{\"model\": \"v2\"}')")
    cursor = engine.cursor().execute(copy)
    assert cursor.message.startswith("write: features/spark/copy version 0 (")
    stages = reads("stage")
    assert len(stages) >= 2 and sum(s["rows"] for s in stages) == cursor.rowcount  # each task staged its part
    duck = fresh.cursor()
    expected = duck.execute(f"SELECT ts, close, volume FROM prices_1min.{t} WHERE ts < '{day}' ORDER BY ts").fetchall()
    assert duck.execute("SELECT * FROM features.\"spark/copy\" ORDER BY ts").fetchall() == expected
    metadata = fresh.catalog.library("features").read_metadata("spark/copy").metadata
    assert metadata["model"] == "v2"
    assert metadata["auto"]["shape"] == [len(expected), 2]
    assert metadata["auto"]["date_range"] == [expected[0][0].isoformat(), expected[-1][0].isoformat()]
    assert metadata["auto"]["index_names"] == ["ts"] and metadata["auto"]["has_nulls"] is False

    append = engine.cursor().execute(
        f"INSERT INTO features.\"spark/copy\" SELECT ts, close, volume FROM prices_1min.{t} WHERE ts >= '{day}'")
    assert append.message.startswith("append: features/spark/copy version 1")
    later = arcticsql.connect(uri=demo["uri"], config=demo["config"])
    everything = later.cursor().execute(f"SELECT ts, close, volume FROM prices_1min.{t} ORDER BY ts").fetchall()
    assert later.cursor().execute("SELECT * FROM features.\"spark/copy\" ORDER BY ts").fetchall() == everything

    with pytest.raises(arcticsql.IntegrityError, match="not after the symbol's last index"):
        engine.cursor().execute(f"INSERT INTO features.\"spark/copy\" SELECT ts, close, volume FROM prices_1min.{t}")
    assert later.catalog.library("features").read_metadata("spark/copy").version == 1
    assert _staged(later, "features") == []
    later.close()

    routed = engine.cursor().execute("COPY (SELECT ts, close FROM misc.big WHERE ts < '2024-01-03') "
                                     "TO 'arctic://prices/5min/SPARKCOPY' (PRUNE true)")
    assert routed.message.startswith("write: prices_5min/SPARKCOPY version 0")


def test_a_failed_task_leaves_the_previous_version(demo, engine, fresh):
    engine.cursor().execute("COPY (SELECT ts, n FROM misc.nans) TO 'arctic://features/spark/fails'")
    before = fresh.cursor().execute("SELECT * FROM features.\"spark/fails\" ORDER BY ts").fetchall()
    with pytest.raises(arcticsql.DataError, match="Division by zero"):
        engine.cursor().execute("COPY (SELECT ts, CASE WHEN volume > 9990 THEN volume / 0 ELSE volume END AS n "
                                "FROM misc.big) TO 'arctic://features/spark/fails'")
    assert fresh.catalog.library("features").read_metadata("spark/fails").version == 0
    assert fresh.cursor().execute("SELECT * FROM features.\"spark/fails\" ORDER BY ts").fetchall() == before
    assert len(before) == 20 and _staged(fresh, "features") == []


def test_writes_keep_the_duckdb_engines_rules(demo, engine, fresh):
    nulls = engine.cursor().execute(
        "COPY (SELECT ts, CASE WHEN n % 2 = 0 THEN n END AS n FROM misc.nans) TO 'arctic://features/spark/nulls'")
    assert "column 'n' stored as DOUBLE" in nulls.message
    stored = fresh.catalog.library("features").read("spark/nulls").data
    assert str(stored["n"].dtype) == "float64" and stored["n"].isna().sum() == 10
    with pytest.raises(arcticsql.DataError, match="BOOLEAN with NULLs"):
        engine.cursor().execute("COPY (SELECT ts, CASE WHEN n > 3 THEN true END AS b FROM misc.nans) "
                                "TO 'arctic://features/spark/bools'")
    engine.cursor().execute("COPY (SELECT ts, x FROM misc.nans) TO 'arctic://features/spark/update'")
    updated = engine.cursor().execute("COPY (SELECT ts, x * 10 AS x FROM misc.nans WHERE n >= 18) "
                                      "TO 'arctic://features/spark/update' (MODE 'update')")
    assert updated.message.startswith("update: features/spark/update version 1")
    rows = arcticsql.connect(uri=demo["uri"], config={}).cursor().execute(
        "SELECT x FROM features.\"spark/update\" ORDER BY ts").fetchall()
    assert [r[0] for r in rows[-3:]] == [17.0, 180.0, 190.0]
    with pytest.raises(arcticsql.ProgrammingError, match="would make features/spark/update empty"):
        engine.cursor().execute("COPY (SELECT ts, x FROM misc.nans WHERE n > 100) TO 'arctic://features/spark/update'")
    saved = engine.cursor().execute(
        "COPY (SELECT ts, x FROM misc.nans) TO 'pkl://sims/spark/test/20240101_000000_spark.pkl'")
    assert saved.rowcount == 20
    assert fresh.cursor().execute(
        "SELECT count(*) FROM read_pickle('sims/spark/test/20240101_000000_spark.pkl')").fetchone() == (20,)


# -- the command line ------------------------------------------------------------------------------------------
def test_run_with_the_spark_engine_prints_what_duckdb_prints(demo, spark, tmp_path):
    config = tmp_path / "config.yaml"
    config.write_text(json.dumps({"storage": demo["config"]["storage"]}))
    query = str(QUERIES / "06_bars_for_ticker.sql")
    common = ["--uri", demo["uri"], "--config", str(config)]
    params = ["--param", f"ticker={ticker(demo)}", "--param", f"day={last_day(demo)}", "--format", "csv"]
    runner = CliRunner()
    duck = runner.invoke(cli, [*common, "run", query, *params])
    on_spark = runner.invoke(cli, [*common, "run", "--engine", "spark", "--spark-master", "local[2]", query, *params])
    assert duck.exit_code == 0 and on_spark.exit_code == 0, on_spark.output
    assert on_spark.output == duck.output and len(duck.output.splitlines()) == 14
    refused = runner.invoke(cli, [*common, "run", "--engine", "spark", str(QUERIES / "03_news_sentiment_asof.sql")])
    assert refused.exit_code == 1
    assert "ASOF JOIN is not supported on the Spark engine" in refused.output and "Traceback" not in refused.output
    copy = runner.invoke(cli, [*common, "query", "--engine", "spark",
                               "COPY (SELECT ts, n FROM misc.nans) TO 'arctic://features/spark/cli'"])
    assert copy.exit_code == 0, copy.output
    cells = [cell.strip() for line in copy.output.splitlines() for cell in line.split("│")]
    assert cells[cells.index("features"):cells.index("features") + 5] == ["features", "spark/cli", "0", "20", "write"]
    assert spark.sparkContext.getConf().get("spark.master") == "local[2]"  # the running session, left running
    assert spark.range(3).count() == 3


def test_insert_by_position_drop_and_delete_run_as_on_duckdb(demo, engine, fresh):
    engine.cursor().execute("CREATE TABLE features.\"spark/dml\" AS SELECT ts, n, x FROM misc.nans")
    appended = engine.cursor().execute("INSERT INTO features.\"spark/dml\" SELECT ts + INTERVAL 30 DAY, n + 100, x "
                                       "FROM misc.nans WHERE n < 2")
    assert appended.message.startswith("append: features/spark/dml version 1 (2 rows)")
    rows = fresh.cursor().execute("SELECT n FROM features.\"spark/dml\" ORDER BY ts").fetchall()
    assert [r[0] for r in rows[-2:]] == [100, 101] and len(rows) == 22
    deleted = engine.cursor().execute("DELETE FROM features.\"spark/dml\" WHERE ts >= '2024-01-31'")
    assert deleted.rowcount == 2
    engine.cursor().execute("DROP TABLE features.\"spark/dml\"")
    assert not arcticsql.connect(uri=demo["uri"], config={}).catalog.library("features").has_symbol("spark/dml")


def test_raw_nan_reads_as_on_duckdb(demo, spark):
    config = {**demo["config"], "processing": {"nan_is_null": False}}
    raw_duck = arcticsql.connect(uri=demo["uri"], config=config)
    with arcticsql.spark.connect(demo["uri"], config, spark=spark) as raw_spark:
        sql = "SELECT count(x), sum(CASE WHEN x > 10 THEN 1 ELSE 0 END), count(*) FROM misc.nans WHERE x > 2"
        duck_rows = raw_duck.cursor().execute(sql).fetchall()
        assert duck_rows == [(17, 11, 17)]  # 15 numbers above 2 and the two NaN (above every number, a value)
        assert raw_spark.cursor().execute(sql).fetchall() == duck_rows
    raw_duck.close()


def test_a_pickle_file_with_more_columns_is_learned_and_the_statement_runs_again(demo, engine, tmp_path):
    folder = tmp_path / "index" / "spx" / "gbm"
    folder.mkdir(parents=True)
    pd.DataFrame({"close": [1.0, 2.0]}).to_pickle(folder / "20240101_000000_a.pkl")
    pd.DataFrame({"close": [3.0], "extra": [9.0]}).to_pickle(folder / "20240102_000000_b.pkl")
    sql = f"SELECT file, close, extra FROM read_pickle('{tmp_path}/index/spx/gbm/*.pkl')"
    rows = sorted(engine.cursor().execute(sql).fetchall())
    assert rows == sorted(demo["duck"].cursor().execute(sql).fetchall())
    assert [r[1:] for r in rows] == [(1.0, None), (2.0, None), (3.0, 9.0)]
    other = tmp_path / "other" / "index" / "spx" / "gbm"  # SELECT *: found by the task that loads the file
    other.mkdir(parents=True)
    pd.DataFrame({"close": [1.0]}).to_pickle(other / "20240101_000000_a.pkl")
    pd.DataFrame({"close": [3.0], "more": ["x"]}).to_pickle(other / "20240102_000000_b.pkl")
    cursor = engine.cursor().execute(f"SELECT * FROM read_pickle('{tmp_path}/other/index/spx/gbm/*.pkl')")
    assert [d[0] for d in cursor.description][:2] == ["close", "more"]
    assert sorted(row[:2] for row in cursor.fetchall()) == [(1.0, None), (3.0, "x")]


def test_sql_gives_a_spark_dataframe(demo, spark):
    frame = arcticsql.spark.sql(spark, "SELECT symbol, count(*) AS n FROM \"prices_daily/*\" GROUP BY ALL",
                                uri=demo["uri"], config=demo["config"])
    assert sorted(frame.columns) == ["n", "symbol"] and frame.count() == len(demo["summary"]["tickers"])
    with pytest.raises(arcticsql.ProgrammingError, match="`nope` cannot be resolved"):
        arcticsql.spark.sql(spark, "SELECT nope FROM misc.nans", uri=demo["uri"], config=demo["config"])


def test_the_session_as_of_pins_every_table_as_on_duckdb(demo, engine, fresh):
    engine.cursor().execute("COPY (SELECT ts, n FROM misc.nans WHERE n < 5) TO 'arctic://features/spark/asof'")
    fresh.catalog.library("features").snapshot("spark_asof_snap")
    engine.cursor().execute("INSERT INTO features.\"spark/asof\" SELECT ts, n FROM misc.nans WHERE n >= 5")
    query = "SELECT count(*) FROM features.\"spark/asof\""
    cursor = engine.cursor()
    assert cursor.execute(query).fetchall() == [(20,)]
    cursor.execute("SET arcticsql.as_of = 'spark_asof_snap'")
    assert cursor.description is None
    assert cursor.execute(query).fetchall() == [(5,)]
    assert cursor.execute(query + " AT (VERSION => 1)").fetchall() == [(20,)]  # a statement's own AT wins
    with pytest.raises(arcticsql.ProgrammingError, match="no library has a snapshot 'nope'; snapshots: .*spark_asof_snap"):
        cursor.execute("SET arcticsql.as_of = 'nope'")
    cursor.execute("RESET arcticsql.as_of")
    assert cursor.execute(query).fetchall() == [(20,)]
