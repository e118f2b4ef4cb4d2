"""Pickle datasets through SQL: read_pickle(), pickle_files(), COPY TO 'pkl://', and into ArcticDB."""

from __future__ import annotations

import os
import pickle

import numpy as np
import pandas as pd
import pytest

import arcticsql
from arcticsql.pickles.metadata import save_dataset


def _index_frame(seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    close = 100 + np.cumsum(rng.normal(0, 1, 50))
    return pd.DataFrame({"Open": close, "High": close + 1, "Low": close - 1, "Close": close},
                        index=pd.date_range("2024-01-01", periods=50, freq="D", name="ts"))


@pytest.fixture
def pickle_store(tmp_path):
    base = tmp_path / "pickles"
    connection = arcticsql.connect(config={"arctic_storage_path": "mem://",
                                           "storage": {"type": "local", "local": {"base_path": str(base)}}})
    from arcticsql.pickles.backends.local import LocalStorage

    storage = LocalStorage(str(base))
    for i, scenario in enumerate(["bullish", "bearish"]):
        for day in ("20230901_120000", "20230902_120000"):
            save_dataset(storage, _index_frame(i), "index", "nifty", "gbm", scenario, timestamp=day)
    chain = pd.DataFrame({"Strike": [90.0, 100.0, 110.0], "ExpiryDate": pd.to_datetime(["2023-09-08"] * 3),
                          "CallPrice": [11.0, 3.0, 0.5], "PutPrice": [0.4, 2.9, 10.6],
                          "CallIV": [0.25, 0.2, 0.22], "PutIV": [0.25, 0.2, 0.22]})
    save_dataset(storage, chain, "option_chain", "nifty", "black_scholes", "weekly", timestamp="20230901_120000")
    yield connection, storage, base
    connection.close()


def test_read_pickle_unions_files_with_naming_columns(pickle_store):
    connection, _, _ = pickle_store
    rows = connection.cursor().execute(
        "SELECT params, count(*), count(DISTINCT file), min(timestamp) FROM read_pickle('index/nifty/gbm/*.pkl') "
        "GROUP BY ALL ORDER BY ALL").fetchall()
    assert rows == [("bearish", 100, 2, pd.Timestamp("2023-09-01 12:00").to_pydatetime()),
                    ("bullish", 100, 2, pd.Timestamp("2023-09-01 12:00").to_pydatetime())]
    described = dict((name, kind) for name, kind, *_ in connection.cursor().execute(
        "DESCRIBE SELECT * FROM read_pickle('option_chain/*/*/*.pkl')").fetchall())
    assert described["Strike"] == "DOUBLE" and described["ExpiryDate"].startswith("TIMESTAMP")
    assert described["data_type"] == "VARCHAR"


def test_naming_filters_prune_files_before_loading(pickle_store, tmp_path):
    """A file the filter excludes is never loaded: here it could not be (it is refused), yet the query works."""
    connection, _, base = pickle_store
    (base / "index/nifty/gbm/20230903_120000_broken.pkl").write_bytes(pickle.dumps({"not": "a frame"}))
    cursor = connection.cursor()
    assert cursor.execute("SELECT count(*) FROM read_pickle('index/nifty/gbm/*.pkl') WHERE params = 'bullish'"
                          ).fetchone()[0] == 100
    assert cursor.execute("SELECT count(*) FROM read_pickle('index/nifty/gbm/*.pkl') "
                          "WHERE timestamp < '2023-09-03'").fetchone()[0] == 200
    with pytest.raises(arcticsql.Error, match="20230903_120000_broken.pkl"):
        cursor.execute("SELECT count(*) FROM read_pickle('index/nifty/gbm/*.pkl')").fetchall()


def test_a_broken_first_file_that_filters_prune_does_not_fail_the_query(pickle_store):
    """The schema is sampled from a folder's first file that loads; the broken file fails only a scan that
    keeps it, with its own one-line error (not DuckDB's rewording of it with a Python traceback)."""
    connection, _, base = pickle_store
    (base / "index/nifty/gbm/20230801_000000_broken.pkl").write_bytes(pickle.dumps(os.system))
    cursor = connection.cursor()
    assert cursor.execute("SELECT count(*) FROM read_pickle('index/nifty/gbm/*.pkl') "
                          "WHERE timestamp >= '2023-09-01'").fetchone()[0] == 200
    with pytest.raises(arcticsql.OperationalError) as raised:
        cursor.execute("SELECT count(*) FROM read_pickle('index/nifty/gbm/*.pkl')").fetchall()
    message = str(raised.value)
    assert message.startswith(str(base / "index/nifty/gbm/20230801_000000_broken.pkl"))
    assert "refused to unpickle global" in message
    assert "Traceback" not in message and "Detail" not in message and "\n" not in message


def test_a_folder_of_broken_files_fails_with_the_first_files_error(pickle_store):
    connection, _, base = pickle_store
    folder = base / "index/spx/gbm"
    folder.mkdir(parents=True)
    for day in ("20230901", "20230902", "20230903", "20230904"):
        (folder / f"{day}_000000_broken.pkl").write_bytes(pickle.dumps([1, 2]))
    with pytest.raises(arcticsql.OperationalError, match=r"20230901_000000_broken.pkl holds a builtins.list"):
        connection.cursor().execute("SELECT * FROM read_pickle('index/spx/gbm/*.pkl')")


def test_latest_file_matching_a_pattern_in_plain_sql(pickle_store):
    connection, _, _ = pickle_store
    latest = connection.cursor().execute("""
        SELECT file FROM pickle_files('index/nifty/gbm/*bullish*.pkl') ORDER BY timestamp DESC LIMIT 1
    """).fetchone()[0]
    assert latest == "index/nifty/gbm/20230902_120000_bullish.pkl"
    files = connection.cursor().execute("""
        SELECT DISTINCT file FROM read_pickle('index/nifty/gbm/*bullish*.pkl') QUALIFY file = max(file) OVER ()
    """).fetchall()
    assert files == [(latest,)]


def test_pickle_catalog_lists_attrs(pickle_store):
    connection, _, _ = pickle_store
    rows = connection.cursor().execute(
        "SELECT file, version, rows, data_type FROM pickle_files('**/*.pkl') ORDER BY file").fetchall()
    assert len(rows) == 5 and all(r[1] == "1.0" for r in rows)
    assert rows[-1][2] == 3 and rows[-1][3] == "option_chain"


def test_copy_to_pickle_and_pickles_into_arcticdb(pickle_store):
    connection, storage, base = pickle_store
    cursor = connection.cursor()
    cursor.execute("COPY (SELECT * FROM read_pickle('index/nifty/gbm/*bullish*.pkl') WHERE timestamp = "
                   "'2023-09-01 12:00') TO 'arctic://indices/nifty/bullish'")
    assert cursor.rowcount == 50
    stored = connection.catalog.library("indices", create=True).read("nifty/bullish").data
    assert stored.index.name == "ts" and list(stored.columns[:4]) == ["Open", "High", "Low", "Close"]
    cursor.execute("COPY (SELECT ts, Close FROM indices.\"nifty/bullish\") TO "
                   "'pkl://index/nifty/copy/20240101_000000_close.pkl' (METADATA '{\"source\": \"sql\"}')")
    frame = storage.load("index/nifty/copy/20240101_000000_close.pkl")
    assert list(frame.columns) == ["Close"] and frame.index.name == "ts" and len(frame) == 50
    assert frame.attrs["version"] == "1.0" and '"source": "sql"' in frame.attrs["model_params"]


def test_malicious_and_non_tabular_pickles_are_clear_errors(pickle_store, tmp_path):
    connection, _, base = pickle_store
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    (base / "evil").mkdir()
    (base / "evil" / "x.pkl").write_bytes(pickle.dumps(Evil()))
    (base / "list").mkdir()
    (base / "list" / "y.pkl").write_bytes(pickle.dumps([1, 2, 3]))
    with pytest.raises(arcticsql.Error, match="evil/x.pkl"):
        connection.cursor().execute("SELECT * FROM read_pickle('evil/*.pkl')").fetchall()
    assert not marker.exists()
    with pytest.raises(arcticsql.Error, match="list/y.pkl"):
        connection.cursor().execute("SELECT * FROM read_pickle('list/*.pkl')").fetchall()
    with pytest.raises(arcticsql.ProgrammingError, match="no pickle files match"):
        connection.cursor().execute("SELECT * FROM read_pickle('nothing/*.pkl')")


def test_read_pickle_from_gcs(gcs_emulator, gcs_client, bucket_name, tmp_path):
    from arcticsql.pickles.backends.gcs import GoogleCloudStorage

    store = GoogleCloudStorage(bucket_name, client=gcs_client)
    save_dataset(store, _index_frame(1), "index", "spx", "gbm", "bullish", timestamp="20230901_120000")
    save_dataset(store, _index_frame(2), "index", "spx", "gbm", "bearish", timestamp="20230901_120000")
    connection = arcticsql.connect(config={"arctic_storage_path": "mem://",
                                           "storage": {"gcs": {"cache_dir": str(tmp_path / "cache")}}})
    try:
        rows = connection.cursor().execute(
            f"SELECT params, count(*) FROM read_pickle('gs://{bucket_name}/index/spx/gbm/*.pkl') "
            "GROUP BY ALL ORDER BY ALL").fetchall()
    finally:
        connection.close()
    assert rows == [("bearish", 50), ("bullish", 50)]


@pytest.fixture(params=["local", "gcs"])
def evolving_store(request, tmp_path):
    """A folder whose later files gained columns: the schema sample (the first file) has only Close. On a
    local folder and in a bucket of the GCS emulator, as the configured store."""
    from arcticsql.pickles.backends.gcs import GoogleCloudStorage
    from arcticsql.pickles.backends.local import LocalStorage

    if request.param == "local":
        storage = LocalStorage(str(tmp_path / "pickles"))
        configured = {"type": "local", "local": {"base_path": str(tmp_path / "pickles")}}
    else:
        bucket = request.getfixturevalue("bucket_name")
        storage = GoogleCloudStorage(bucket, client=request.getfixturevalue("gcs_client"))
        configured = {"type": "gcs", "gcs": {"bucket_name": bucket, "cache_dir": str(tmp_path / "cache")}}
    frames = {
        "a": pd.DataFrame({"Close": [1.0, 2.0, 3.0]}),
        "b": pd.DataFrame({"Close": [4.0], "Vwap": [4.5]}),
        "c": pd.DataFrame({"Close": [5.0], "Flag": [True]}),
        "d": pd.DataFrame({"Close": [6, 7]}),  # int64: widens to the declared double
    }
    for day, (params, frame) in enumerate(frames.items(), start=1):
        save_dataset(storage, frame, "index", "spx", "gbm", params, timestamp=f"202401{day:02d}_000000")
    connection = arcticsql.connect(config={"arctic_storage_path": "mem://", "storage": configured})
    yield connection, storage
    connection.close()


def test_columns_of_files_the_sample_does_not_describe_are_found_by_the_scan(evolving_store):
    connection, _ = evolving_store
    cursor = connection.cursor()
    rows = cursor.execute("SELECT * EXCLUDE (file, data_type, market_type, model_type, timestamp) "
                          "FROM read_pickle('index/spx/gbm/*.pkl') ORDER BY Close").fetchall()
    assert [d[0] for d in cursor.description] == ["Close", "Vwap", "Flag", "params"]
    assert rows == [(1.0, None, None, "a"), (2.0, None, None, "a"), (3.0, None, None, "a"),
                    (4.0, 4.5, None, "b"), (5.0, None, True, "c"), (6.0, None, None, "d"), (7.0, None, None, "d")]


def test_a_column_only_later_files_have_binds(evolving_store):
    connection, _ = evolving_store
    rows = connection.cursor().execute(
        "SELECT params, Flag FROM read_pickle('index/spx/gbm/*.pkl') WHERE Flag IS NOT NULL").fetchall()
    assert rows == [("c", True)]


def test_a_mistyped_column_is_still_a_binder_error(evolving_store):
    connection, _ = evolving_store
    with pytest.raises(arcticsql.ProgrammingError, match=r'Referenced column "Closee" not found.*"Close"'):
        connection.cursor().execute("SELECT Closee FROM read_pickle('index/spx/gbm/*.pkl')")


def test_a_type_wider_than_the_sample_is_declared_on_the_next_plan(tmp_path):
    from arcticsql.pickles.backends.local import LocalStorage

    storage = LocalStorage(str(tmp_path))
    save_dataset(storage, pd.DataFrame({"Qty": [1, 2]}), "fills", "spx", "sim", "a", timestamp="20240101_000000")
    save_dataset(storage, pd.DataFrame({"Qty": [2.5]}), "fills", "spx", "sim", "b", timestamp="20240102_000000")
    with arcticsql.connect(config={"arctic_storage_path": "mem://",
                                   "storage": {"type": "local", "local": {"base_path": str(tmp_path)}}}) as conn:
        rows = conn.cursor().execute("SELECT Qty, typeof(Qty) FROM read_pickle('fills/*/*/*.pkl') ORDER BY 1").fetchall()
    assert rows == [(1.0, "DOUBLE"), (2.0, "DOUBLE"), (2.5, "DOUBLE")]


@pytest.fixture
def streaming_growth(tmp_path):
    """Six files of 200,000 rows, the last with a column the others lack: a result large enough that
    DuckDB streams it, so that file is met while the rows are fetched."""
    from arcticsql.pickles.backends.local import LocalStorage

    storage = LocalStorage(str(tmp_path))
    big = pd.DataFrame({"Close": np.arange(200_000, dtype=float)})
    for i in range(6):
        frame = big.assign(Vwap=big["Close"]) if i == 5 else big
        save_dataset(storage, frame, "index", "spx", "gbm", f"p{i}", timestamp="20240101_000000")
    with arcticsql.connect(config={"arctic_storage_path": "mem://", "processing": {"loader_processes": 0},
                                   "storage": {"type": "local", "local": {"base_path": str(tmp_path)}}}) as conn:
        yield conn.cursor()


def test_when_rows_had_been_fetched_the_error_says_to_run_again_and_the_next_run_works(streaming_growth):
    cursor = streaming_growth
    cursor.execute("SELECT * FROM read_pickle('index/spx/gbm/*.pkl')")
    assert len(cursor.fetchmany(10)) == 10
    with pytest.raises(arcticsql.OperationalError, match=r"p5\.pkl: columns \['Vwap'\] .* run it again"):
        cursor.fetchall()
    cursor.execute("SELECT count(*), count(Vwap) FROM read_pickle('index/spx/gbm/*.pkl')")
    assert cursor.fetchall() == [(1_200_000, 200_000)]


def test_when_nothing_had_been_fetched_the_cursor_runs_the_query_again(streaming_growth):
    """The cursor, having handed out nothing when the file turned up, runs the query again with the schema
    it has learned."""
    cursor = streaming_growth
    runs = []
    execute = cursor.execute
    cursor.execute = lambda *args: runs.append(args) or execute(*args)
    table = cursor.execute("SELECT * FROM read_pickle('index/spx/gbm/*.pkl')").fetch_arrow()
    assert len(runs) == 2  # the first run failed as its rows streamed
    assert table.num_rows == 1_200_000 and table.column("Vwap").null_count == 1_000_000


def test_a_read_reports_its_files_to_the_running_statements_progress(pickle_store):
    """The source registered by the first statement serves the second: it reports to the second's callback."""
    connection, _, _ = pickle_store
    session, cursor = connection.session, connection.cursor()
    for _ in range(2):
        calls = []
        session.progress = lambda *args, calls=calls: calls.append(args)
        cursor.execute("SELECT count(*) FROM read_pickle('index/nifty/gbm/*.pkl')").fetchall()
        assert calls == [(done, 4, "read_pickle('index/nifty/gbm/*.pkl')", "files") for done in range(1, 5)]
    session.progress = None


def test_a_pickle_copied_through_sql_is_the_same_frame(pickle_store):
    connection, storage, _ = pickle_store
    source = "index/nifty/gbm/20230901_120000_bullish.pkl"
    connection.cursor().execute(f"COPY (SELECT * FROM read_pickle('{source}')) TO "
                                "'pkl://index/nifty/gbm/20240101_000000_copy.pkl'")
    copied, original = storage.load("index/nifty/gbm/20240101_000000_copy.pkl"), storage.load(source)
    pd.testing.assert_frame_equal(copied, original, check_freq=False)
    described = [row[0] for row in connection.cursor().execute(
        "DESCRIBE SELECT * FROM read_pickle('index/nifty/gbm/*.pkl')").fetchall()]
    assert described == ["ts", "Open", "High", "Low", "Close", "file", "data_type", "market_type", "model_type",
                         "timestamp", "params"]


def test_a_repeated_statement_samples_no_file(pickle_store, monkeypatch):
    """The statement's new source finds the registered one by key before sampling: only the first run
    samples the folder's schema."""
    from arcticsql.sources.pickles import PickleDatasetSource

    connection, _, _ = pickle_store
    sampled = []
    sample = PickleDatasetSource._sample_schema
    monkeypatch.setattr(PickleDatasetSource, "_sample_schema", lambda self: sampled.append(self.glob) or sample(self))
    cursor = connection.cursor()
    query = "SELECT count(*) FROM read_pickle('index/nifty/gbm/*.pkl')"
    assert cursor.execute(query).fetchone() == (200,) and len(sampled) == 1
    assert cursor.execute(query).fetchone() == (200,) and len(sampled) == 1


def test_columns_spelled_in_another_case_are_the_same_column(pickle_store):
    """A file whose 'close' is its folder's 'Close' reads into 'Close' (SQL names match whatever their case);
    a file with both spellings is refused, naming them."""
    connection, storage, _ = pickle_store
    lower = _index_frame(7).rename(columns=str.lower)
    save_dataset(storage, lower, "index", "nifty", "gbm", "lower", timestamp="20230903_120000")
    cursor = connection.cursor()
    rows = cursor.execute("SELECT params, count(Close), round(sum(close) - sum(Open), 6) "
                          "FROM read_pickle('index/nifty/gbm/*.pkl') GROUP BY ALL ORDER BY ALL").fetchall()
    assert rows == [("bearish", 100, 0.0), ("bullish", 100, 0.0), ("lower", 50, 0.0)]
    both = _index_frame(8).assign(close=1.0)
    save_dataset(storage, both, "index", "spx", "gbm", "both", timestamp="20230903_120000")
    with pytest.raises(arcticsql.OperationalError, match=r"duplicate column names \['Close', 'close'\]"):
        cursor.execute("SELECT count(*) FROM read_pickle('index/spx/gbm/*.pkl')").fetchall()


@pytest.mark.parametrize("target", ["../outside/x.pkl", "index/../../outside/x.pkl", "/abs/x.pkl"])
def test_pkl_targets_stay_inside_the_store(pickle_store, tmp_path, target):
    connection, _, _ = pickle_store
    with pytest.raises(arcticsql.ProgrammingError, match=rf"^pkl://{target} is outside the pickle store; .*"
                                                         r"pkl://file:///abs/path\.pkl or pkl://gs://bucket/path\.pkl$"):
        connection.cursor().execute(f"COPY (SELECT 1 AS a) TO 'pkl://{target}'")
    assert not (tmp_path / "outside").exists()


def test_a_symbolic_link_out_of_the_store_is_refused_for_writes_and_reads(pickle_store, tmp_path):
    connection, storage, base = pickle_store
    outside = tmp_path / "outside"
    outside.mkdir()
    (base / "link").symlink_to(outside)
    with pytest.raises(arcticsql.OperationalError, match=r"'link/x\.pkl' leads outside the storage folder .*pickles"):
        connection.cursor().execute("COPY (SELECT 1 AS a) TO 'pkl://link/x.pkl'")
    assert list(outside.iterdir()) == []
    (outside / "y.pkl").write_bytes(pickle.dumps(_index_frame(0)))
    with pytest.raises(arcticsql.OperationalError, match=r"'link/y\.pkl' leads outside the storage folder"):
        connection.cursor().execute("SELECT * FROM read_pickle('link/*.pkl')").fetchall()
    with pytest.raises(arcticsql.OperationalError, match="leads outside the storage folder"):
        storage.load("link/y.pkl")


def test_writing_elsewhere_names_the_place(pickle_store, tmp_path, gcs_client, bucket_name):
    connection, _, _ = pickle_store
    cursor = connection.cursor()
    cursor.execute(f"COPY (SELECT 1.5 AS a) TO 'pkl://file://{tmp_path}/elsewhere/x.pkl'")
    assert pd.read_pickle(tmp_path / "elsewhere/x.pkl")["a"].tolist() == [1.5]
    cursor.execute(f"COPY (SELECT 2.5 AS a) TO 'pkl://gs://{bucket_name}/sims/x.pkl'")
    blob = gcs_client.bucket(bucket_name).blob("sims/x.pkl").download_as_bytes()
    assert pickle.loads(blob)["a"].tolist() == [2.5]
    with pytest.raises(arcticsql.ProgrammingError, match="pkl://file://relative/x.pkl is outside the pickle store"):
        cursor.execute("COPY (SELECT 1 AS a) TO 'pkl://file://relative/x.pkl'")
