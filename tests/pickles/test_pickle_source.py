"""PickleDatasetSource through a real DuckDB connection: pruning by naming columns, exact results."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import datetime

import duckdb
import pyarrow as pa
import pytest

from arcticsql.pickles import read_pickle_table
from arcticsql.sources.pickles import PickleDatasetSource
from arcticsql.sources.protocol import Binary, Col, In, Lit
from tests.pickles.samples import Exploit, ohlc_frame, seed_store

# Each query runs on the source (filters on naming columns pushed down) and on the same rows materialised
# by read_pickle_table and registered as a plain Arrow table (which accepts no filter: DuckDB filters).
QUERIES = [
    ("SELECT count(*), round(sum(Close), 4) FROM p WHERE data_type = 'index'", 3),
    ("SELECT file, count(*) FROM p WHERE model_type IN ('gbm', 'heston') GROUP BY ALL ORDER BY 1", 3),
    ("SELECT count(*) FROM p WHERE timestamp BETWEEN '2023-09-01 12:30:45' AND '2023-09-02 23:00'", 3),
    ("SELECT count(*) FROM p WHERE timestamp > '2023-09-10'", 1),
    ("SELECT count(*) FROM p WHERE params = '' OR market_type = 'banknifty'", 1),
    ("SELECT count(*) FROM p WHERE data_type != 'index' AND params IS NOT NULL", 2),
    ("SELECT count(*) FROM p WHERE NOT (data_type = 'index')", 2),
    ("SELECT max(Strike) FROM p WHERE data_type = 'option_chain' AND Strike > 18100", 2),
    ("SELECT round(avg(Close), 6) FROM p WHERE file = 'index/nifty/gbm/20230902_090000_bearish.pkl'", 1),
    ("SELECT count(*) FROM p WHERE data_type = 'nothing'", 0),
    ("SELECT count(*) FROM p WHERE data_type IS NULL", 0),
]


@pytest.fixture
def seeded(store):
    seed_store(store)
    return store


@pytest.mark.parametrize(("sql", "loads"), QUERIES)
def test_pushdown_prunes_files_and_matches_unpushed(seeded, sql, loads):
    reference = read_pickle_table(seeded, "**/*.pkl")
    # the schema given, so that no file is sampled: every load counted is one the query made
    source = PickleDatasetSource(seeded, "**/*.pkl", schema=reference.schema)
    with duckdb.connect() as con:
        con.register("p", source)
        before = seeded.loads
        pushed = con.sql(sql).fetchall()
        assert seeded.loads - before == loads
        con.unregister("p")
        con.register("p", reference)
        assert con.sql(sql).fetchall() == pushed


OHLC_SCHEMA = pa.schema([("index", pa.timestamp("ns")), ("Open", pa.float64()), ("High", pa.float64()),
                        ("Low", pa.float64()), ("Close", pa.float64()), ("Volume", pa.int64())])


def test_where_data_type_loads_only_index_files(seeded):
    """The option chain files are replaced by objects that fail to load: the query can only succeed if
    pruning kept them from being loaded at all."""
    for entry in seeded.list_recursive("option_chain/**"):
        seeded.save({"not": "a frame"}, entry.path)
    source = PickleDatasetSource(seeded, "**/*.pkl", schema=OHLC_SCHEMA)
    with duckdb.connect() as con:
        con.register("p", source)
        before = seeded.loads
        rows = con.sql("SELECT file, count(*) AS n FROM p WHERE data_type = 'index' GROUP BY ALL ORDER BY 1")
        assert rows.fetchall() == [("index/banknifty/heston/20230903_100000.pkl", 10),
                                   ("index/nifty/gbm/20230901_123045_bullish.pkl", 30),
                                   ("index/nifty/gbm/20230902_090000_bearish.pkl", 20)]
        assert seeded.loads - before == 3
        with pytest.raises(duckdb.Error, match=r"option_chain/.*holds a builtins\.dict"):
            con.sql("SELECT count(*) FROM p").fetchall()


def test_accepts_only_naming_predicates(seeded):
    source = PickleDatasetSource(seeded, "**/*.pkl")
    on_type = Binary("=", Col(("data_type",)), Lit("index", "VARCHAR"))
    on_time = Binary(">=", Col(("timestamp",)), Lit(datetime(2023, 9, 2), "TIMESTAMP"))
    on_close = Binary(">", Col(("Close",)), Lit(18000.0, "DOUBLE"))
    assert source.accepts(on_type)
    assert source.accepts(on_time)
    assert source.accepts(Binary("OR", on_type, on_time))
    assert source.accepts(In(Col(("params",)), [Lit("weekly_expiry", "VARCHAR")]))
    assert not source.accepts(on_close)
    assert not source.accepts(Binary("OR", on_type, on_close))
    assert not source.accepts(Binary("=", Col(("data_type",)), Lit(1, "INTEGER")))  # wrong type: refuse
    with duckdb.connect() as con:
        con.register("p", source)
        assert con.sql("SELECT count(*) FROM p WHERE data_type = 'index' AND Close > 18000").fetchall() == \
            [(sum(1 for frame in (ohlc_frame(30, 1), ohlc_frame(20, 2), ohlc_frame(10, 3))
                  for close in frame.Close if close > 18000),)]


def test_full_scan_equals_read_pickle_table(seeded):
    source = PickleDatasetSource(seeded, "**/*.pkl")
    expected = read_pickle_table(seeded, "**/*.pkl")
    with duckdb.connect() as con:
        con.register("p", source)
        got = con.sql("SELECT * FROM p").arrow()
    got = got.read_all() if hasattr(got, "read_all") else got
    assert got.schema.names == expected.schema.names
    assert got.sort_by([("file", "ascending")]).equals(expected.sort_by([("file", "ascending")]))


def test_projection_narrows_and_filters_on_unprojected_columns(seeded):
    source = PickleDatasetSource(seeded, "**/*.pkl")
    names = source.schema.names
    capsule, narrowed = source.stream([names.index("Close")], [])
    table = pa.RecordBatchReader._import_from_c_capsule(capsule).read_all()
    assert narrowed and table.column_names == ["Close"] and table.num_rows == 72
    chains = Binary("=", Col(("data_type",)), Lit("option_chain", "VARCHAR"))
    capsule, narrowed = source.stream([names.index("Strike"), names.index("Close")], [chains])
    table = pa.RecordBatchReader._import_from_c_capsule(capsule).read_all()
    assert narrowed and table.column_names == ["Strike", "Close"] and table.num_rows == 12
    assert table.column("Close").null_count == 12
    with duckdb.connect() as con:
        con.register("p", source)
        assert con.sql("SELECT Strike FROM p WHERE params = 'weekly_expiry'").fetchall() == \
            [(18000.0 + 50 * i,) for i in range(5)]


def test_concurrent_streams_are_independent(seeded):
    source = PickleDatasetSource(seeded, "**/*.pkl", max_workers=3)

    def run(sql):
        with duckdb.connect() as con:
            con.register("p", source)
            return con.sql(sql).fetchall()

    queries = ["SELECT count(*) FROM p WHERE data_type = 'index'",
               "SELECT count(*) FROM p WHERE data_type = 'option_chain'"] * 4
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(run, queries))
    assert results == [[(60,)], [(12,)]] * 4
    with duckdb.connect() as con:
        con.register("p", source)
        both = con.sql("SELECT (SELECT count(*) FROM p WHERE data_type = 'index'), "
                       "(SELECT count(*) FROM p WHERE data_type = 'option_chain')").fetchall()
    assert both == [(60, 12)]


def test_schema_is_sampled_per_folder_when_first_needed(seeded):
    before = seeded.loads
    source = PickleDatasetSource(seeded, "**/*.pkl")
    assert source.key and seeded.loads == before  # the key, which finds a registered twin, reads nothing
    source.prepare()
    assert seeded.loads - before == 3  # one file per folder
    assert source.schema.names[-6:] == ["file", "data_type", "market_type", "model_type", "timestamp", "params"]
    assert {"Close", "Strike", "index"} <= set(source.schema.names)


def test_the_first_scan_takes_the_sampled_files_and_later_scans_load_them(seeded):
    source = PickleDatasetSource(seeded, "**/*.pkl")
    files = len(source.entries)
    with duckdb.connect() as con:
        con.register("p", source)
        before = seeded.loads
        first = con.sql("SELECT count(*), round(sum(Close), 4) FROM p").fetchall()
        assert seeded.loads - before == files - 3  # the three samples were not loaded again
        assert source._sampled == {}  # nor held by the source once scanned
        before = seeded.loads
        assert con.sql("SELECT count(*), round(sum(Close), 4) FROM p").fetchall() == first
        assert seeded.loads - before == files


def test_given_schema_skips_sampling_and_conforms(seeded):
    schema = OHLC_SCHEMA.set(OHLC_SCHEMA.get_field_index("Volume"), pa.field("Volume", pa.float64()))
    before = seeded.loads
    source = PickleDatasetSource(seeded, "index/nifty/gbm/*.pkl", schema=schema)
    assert seeded.loads == before
    with duckdb.connect() as con:
        con.register("p", source)
        assert con.sql("SELECT typeof(Volume), count(*) FROM p GROUP BY ALL").fetchall() == [("DOUBLE", 50)]


def test_undeclared_column_is_an_error_naming_the_file(seeded):
    source = PickleDatasetSource(seeded, "index/nifty/gbm/*.pkl", schema=pa.schema([("Close", pa.float64())]))
    with duckdb.connect() as con:
        con.register("p", source)
        with pytest.raises(Exception, match=r"20230901_123045_bullish\.pkl.*not in the dataset's given schema"):
            con.sql("SELECT count(*) FROM p").fetchall()


def test_empty_glob_is_an_empty_table(store):
    source = PickleDatasetSource(store, "nothing/*.pkl")
    with duckdb.connect() as con:
        con.register("p", source)
        assert con.sql("SELECT count(*) FROM p").fetchall() == [(0,)]
        assert [d[0] for d in con.sql("SELECT * FROM p").description] == \
            ["file", "data_type", "market_type", "model_type", "timestamp", "params"]


def test_key_changes_when_a_file_changes(local_store):
    local_store.save(ohlc_frame(rows=3), "a/1.pkl")
    first = PickleDatasetSource(local_store, "a/*.pkl").key
    assert PickleDatasetSource(local_store, "a/*.pkl").key == first
    local_store.save(ohlc_frame(rows=4), "a/1.pkl")
    assert PickleDatasetSource(local_store, "a/*.pkl").key != first


def test_malicious_file_fails_the_query(seeded, tmp_path):
    seeded.save(Exploit(tmp_path / "pwned"), "index/nifty/gbm/20230909_000000_evil.pkl")
    source = PickleDatasetSource(seeded, "index/**/*.pkl", schema=OHLC_SCHEMA)
    with duckdb.connect() as con:
        con.register("p", source)
        with pytest.raises(duckdb.Error, match=r"20230909_000000_evil\.pkl: refused to unpickle global"):
            con.sql("SELECT count(*) FROM p").fetchall()
        assert con.sql("SELECT count(*) FROM p WHERE params != 'evil'").fetchall() == [(60,)]
    assert not (tmp_path / "pwned").exists()
