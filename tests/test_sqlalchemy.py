"""The arcticsql:// SQLAlchemy dialect on a real LMDB store: pandas.read_sql without warnings, reflection of
libraries, symbols and columns, and SQL as SQLAlchemy compiles it."""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import arcticsql

sa = pytest.importorskip("sqlalchemy")
pytest.importorskip("duckdb_engine")

from sqlalchemy import MetaData, Table, create_engine, inspect, select, text  # noqa: E402
from sqlalchemy.dialects import registry  # noqa: E402
from sqlalchemy.exc import NoSuchModuleError  # noqa: E402

from arcticsql.sqlalchemy_dialect import ArcticDialect  # noqa: E402

try:
    registry.load("arcticsql")
except NoSuchModuleError:  # an editable install made before the entry point existed: what it declares
    registry.register("arcticsql", "arcticsql.sqlalchemy_dialect", "ArcticDialect")

pytestmark = pytest.mark.filterwarnings("error")


def bars(periods: int, tz: str | None = None, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    index = pd.date_range("2024-01-02 14:30", periods=periods, freq="min", name="ts", tz=tz)
    return pd.DataFrame({"close": 100 + rng.normal(0, 1, periods).cumsum(),
                         "volume": rng.integers(100, 10_000, periods),
                         "venue": rng.choice(["XNAS", "ARCX"], periods)}, index=index)


@pytest.fixture
def store(tmp_path):
    path = tmp_path / "store"
    with arcticsql.connect(uri=f"lmdb://{path}", config={}) as conn:
        conn.catalog.library("prices_1min", create=True).write("AAPL", bars(300))
        conn.catalog.library("signals", create=True).write("momentum/SP500", bars(50, tz="UTC", seed=1))
    return path


@pytest.fixture
def engine(store):
    # config={} keeps ./config/config.yaml and $ARCTICSQL_CONFIG out of the test
    engine = create_engine(f"arcticsql:///{store}", connect_args={"config": {}})
    yield engine
    engine.dispose()


def dbapi_frame(store, sql: str, params=None) -> pd.DataFrame:
    with arcticsql.connect(uri=f"lmdb://{store}", config={}) as conn:
        return conn.cursor().execute(sql, params).fetch_df()


def test_the_entry_point_names_the_dialect():
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    declared = tomllib.loads((Path(__file__).parent.parent / "pyproject.toml").read_text())
    entry = declared["project"]["entry-points"]["sqlalchemy.dialects"]["arcticsql"]
    module, _, name = entry.partition(":")
    assert getattr(sys.modules[module], name) is ArcticDialect
    assert {"sqlalchemy", "duckdb_engine"} <= {d.split(">")[0] for d in declared["project"]["optional-dependencies"]["sqlalchemy"]}


def test_read_sql_equals_the_dbapi_frame_without_warnings(engine, store):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = pd.read_sql("SELECT * FROM prices_1min.AAPL", engine)
    expected = dbapi_frame(store, "SELECT * FROM prices_1min.AAPL")
    # read_sql builds the frame from Python datetimes (ns); fetch_df keeps DuckDB's microseconds
    assert str(expected.ts.dtype) == "datetime64[us]" and str(got.ts.dtype) == "datetime64[ns]"
    pd.testing.assert_frame_equal(got, expected.astype({"ts": "datetime64[ns]"}))
    with arcticsql.connect(uri=f"lmdb://{store}", config={}) as conn:
        cur = conn.cursor().execute("SELECT * FROM prices_1min.AAPL")
        records = pd.DataFrame.from_records(cur.fetchall(), columns=[d[0] for d in cur.description])
    pd.testing.assert_frame_equal(got, records)  # the cursor's rows, exactly


def test_the_inspector_lists_libraries_symbols_and_columns(engine, store):
    insp = inspect(engine)
    assert insp.get_schema_names() == ["main", "prices_1min", "signals", "arcticsql"]
    assert insp.get_table_names(schema="prices_1min") == ["AAPL"]
    assert insp.get_table_names(schema="signals") == ["momentum/SP500"]
    assert insp.get_table_names(schema="nowhere") == []
    assert "symbols" in insp.get_table_names(schema="arcticsql")
    columns = insp.get_columns("AAPL", schema="prices_1min")
    assert [c["name"] for c in columns] == ["ts", "close", "volume", "venue"]
    kinds = [type(c["type"]) for c in columns]
    assert issubclass(kinds[0], sa.DateTime) and not columns[0]["type"].timezone
    assert issubclass(kinds[1], sa.Float) and issubclass(kinds[2], sa.BigInteger) and issubclass(kinds[3], sa.String)
    utc = insp.get_columns("momentum/SP500", schema="signals")[0]
    assert utc["name"] == "ts" and utc["type"].timezone
    assert insp.has_table("AAPL", schema="prices_1min") and not insp.has_table("NOPE", schema="prices_1min")
    assert not insp.has_table("AAPL", schema="nowhere") and insp.has_table("symbols", schema="arcticsql")
    with pytest.raises(sa.exc.NoSuchTableError):
        insp.get_columns("NOPE", schema="prices_1min")
    with arcticsql.connect(uri=f"lmdb://{store}", config={}) as conn:
        assert sorted(conn.catalog.arctic.list_libraries()) == ["prices_1min", "signals"]  # nothing created


def test_text_parameters(engine, store):
    start = pd.Timestamp("2024-01-02 16:00")
    query = text("SELECT ts, close FROM prices_1min.AAPL WHERE ts >= :start AND volume > :v ORDER BY ts")
    got = pd.read_sql(query, engine, params={"start": start, "v": 5000})
    expected = dbapi_frame(store, "SELECT ts, close FROM prices_1min.AAPL WHERE ts >= ? AND volume > ? ORDER BY ts",
                           [start, 5000])
    assert len(got) == len(expected) > 0
    pd.testing.assert_frame_equal(got, expected.astype({"ts": "datetime64[ns]"}))


def test_a_reflected_table_compiles_to_sql_that_runs(engine):
    signal = Table("momentum/SP500", MetaData(), schema="signals", autoload_with=engine)
    assert [c.name for c in signal.columns] == ["ts", "close", "volume", "venue"]
    query = select(signal.c.ts, signal.c.close).where(signal.c.volume > sa.bindparam("v")).order_by(signal.c.ts)
    sql = str(query.compile(engine))
    assert 'FROM signals."momentum/SP500"' in sql and 'signals."momentum/SP500".close' in sql  # as SQLAlchemy writes it
    with engine.connect() as conn:
        for v in (0, 5000):  # the cached compiled statement runs again with another value
            rows = conn.execute(query, {"v": v}).all()
            assert len(rows) == conn.execute(text('SELECT count(*) FROM "signals/momentum/SP500" '
                                                  "WHERE volume > :v"), {"v": v}).scalar() > 0


def test_tools_path_read_sql_table_and_the_catalog(engine):
    frame = pd.read_sql_table("AAPL", engine, schema="prices_1min")  # reflection + select(), as tools do
    assert len(frame) == 300 and list(frame.columns) == ["ts", "close", "volume", "venue"]
    symbols = Table("symbols", MetaData(), schema="arcticsql", autoload_with=engine)
    with engine.connect() as conn:
        rows = conn.execute(select(symbols.c.library, symbols.c.symbol, symbols.c.rows)
                            .order_by(symbols.c.library)).all()
    assert [tuple(r) for r in rows] == [("prices_1min", "AAPL", 300), ("signals", "momentum/SP500", 50)]


def test_one_symbol_name_in_two_libraries_joins_without_aliases(engine, store):
    with arcticsql.connect(uri=f"lmdb://{store}", config={}) as conn:
        conn.catalog.library("prices_daily", create=True).write("AAPL", bars(300, seed=2))
    minute = Table("AAPL", MetaData(), schema="prices_1min", autoload_with=engine)
    daily = Table("AAPL", MetaData(), schema="prices_daily", autoload_with=engine)
    with engine.connect() as conn:
        rows = conn.execute(select(minute.c.close, daily.c.close)
                            .join_from(minute, daily, minute.c.ts == daily.c.ts)).all()
        m, d = minute.alias("m"), daily.alias("d")
        aliased = conn.execute(select(m.c.close, d.c.close).join_from(m, d, m.c.ts == d.c.ts)).all()
    assert len(rows) == len(aliased) == 300 and rows == aliased and rows[0][0] != rows[0][1]


def test_reflection_of_a_store_not_made_yet_creates_nothing(tmp_path):
    engine = create_engine(f"arcticsql:///{tmp_path / 'none'}", connect_args={"config": {}})
    insp = inspect(engine)
    assert insp.get_schema_names() == ["main", "arcticsql"] and insp.get_table_names(schema="prices_1min") == []
    assert not insp.has_table("AAPL", schema="prices_1min")
    engine.dispose()
    assert not (tmp_path / "none").exists()


def test_url_forms():
    dialect = ArcticDialect()

    def args(url: str) -> dict:
        return dialect.create_connect_args(sa.engine.make_url(url))[1]

    assert args("arcticsql:////data/store?map_size=2GB") == {"uri": "lmdb:///data/store?map_size=2GB"}
    assert args("arcticsql://?uri=mem://") == {"uri": "mem://"}
    assert args("arcticsql://") == {}
    engine = create_engine("arcticsql://?uri=mem://", connect_args={"config": {}})
    assert isinstance(engine.pool, sa.pool.StaticPool)  # one mem:// store for every checkout
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM arcticsql.libraries")).scalar() == 0
    engine.dispose()


def test_a_dotted_library_is_one_quoted_schema():
    symbol = Table("X", MetaData(), sa.Column("close", sa.Float), schema="prices.1min")
    sql = str(select(symbol).compile(dialect=ArcticDialect()))
    assert sql == 'SELECT "prices.1min"."X".close \nFROM "prices.1min"."X"'


def test_duckdb_engine_compile_hooks_apply_to_arcticsql():
    from duckdb_engine.datatypes import UBigInteger

    query = select(sa.try_cast(sa.column("x"), sa.Integer), sa.cast(sa.column("y"), UBigInteger))
    sql = str(query.compile(dialect=ArcticDialect()))
    assert "TRY_CAST(x AS INTEGER)" in sql and "CAST(y AS UBigInt)" in sql
