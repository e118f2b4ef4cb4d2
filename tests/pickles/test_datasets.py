"""read_pickle_table and pickle_catalog: typed columns, union by name, pruning before loading."""

from __future__ import annotations

import json
from datetime import datetime

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from arcticsql.pickles import StorageError, pickle_catalog, read_pickle_table
from arcticsql.pickles.arrow import columns_to_arrow, constant_array, frame_columns
from tests.pickles.samples import ohlc_frame, option_chain_frame, seed_store

NAMING = ["file", "data_type", "market_type", "model_type", "timestamp", "params"]


def frame_to_arrow(obj, name):
    return columns_to_arrow(frame_columns(obj, name), name)


def test_index_and_option_chain_frames_become_typed_columns(store):
    seed_store(store)
    table = read_pickle_table(store, "**/*.pkl")
    types = {field.name: field.type for field in table.schema}
    assert types["index"] == pa.timestamp("ns")
    for column in ("Open", "High", "Low", "Close", "Strike", "CallPrice", "PutPrice", "CallIV", "PutIV",
                   "CallDelta", "CallGamma", "PutDelta", "PutGamma"):
        assert types[column] == pa.float64(), column
    assert types["Volume"] == pa.int64()
    assert types["ExpiryDate"] == pa.date32()
    assert [types[c] for c in NAMING] == [pa.string()] * 4 + [pa.timestamp("us"), pa.string()]
    assert table.column_names[-6:] == NAMING  # naming columns last
    assert table.num_rows == 30 + 20 + 10 + 5 + 7

    frame = table.to_pandas()
    chains = frame[frame.data_type == "option_chain"]
    assert chains.Close.isna().all() and chains["index"].isna().all()  # union by name: missing → null
    assert sorted(chains.params.unique()) == ["monthly_expiry", "weekly_expiry"]
    weekly = chains[chains.params == "weekly_expiry"].reset_index(drop=True)
    expected = option_chain_frame(strikes=5, seed=4)
    np.testing.assert_allclose(weekly.CallIV.to_numpy(), expected.CallIV.to_numpy())
    assert list(weekly.ExpiryDate) == list(expected.ExpiryDate)
    index_rows = frame[frame.file == "index/nifty/gbm/20230901_123045_bullish.pkl"]
    np.testing.assert_allclose(index_rows.Close.to_numpy(), ohlc_frame(rows=30, seed=1).Close.to_numpy())
    assert (index_rows.timestamp == pd.Timestamp("2023-09-01 12:30:45")).all()
    assert (index_rows.market_type == "nifty").all() and (index_rows.model_type == "gbm").all()


def test_file_filter_prunes_before_loading(store):
    seed_store(store)
    seen = []

    def only_nifty_gbm(naming):
        seen.append(naming)
        return naming["model_type"] == "gbm" and naming["timestamp"] >= datetime(2023, 9, 2)

    before = store.loads
    table = read_pickle_table(store, "**/*.pkl", file_filter=only_nifty_gbm)
    assert store.loads - before == 1
    assert table.column("file").unique().to_pylist() == ["index/nifty/gbm/20230902_090000_bearish.pkl"]
    assert table.num_rows == 20
    assert {row["file"] for row in seen} == {e.path for e in store.list_recursive("**/*.pkl")}
    assert set(seen[0]) == set(NAMING)


def test_progress_reports_each_file(store):
    seed_store(store)
    calls = []
    read_pickle_table(store, "index/**/*.pkl", progress=lambda done, total: calls.append((done, total)))
    assert calls == [(1, 3), (2, 3), (3, 3)]


def test_rows_keep_file_order_and_frame_order(store):
    for i in range(12):
        store.save(pd.DataFrame({"i": np.arange(i * 100, i * 100 + 100)}), f"d/{i:02d}.pkl")
    table = read_pickle_table(store, "d/*.pkl", max_workers=4)
    assert table.column("i").to_pylist() == list(range(1200))


def test_no_files_gives_the_naming_columns_only(store):
    table = read_pickle_table(store, "nothing/**/*.pkl")
    assert table.num_rows == 0 and table.column_names == NAMING


def test_type_conflict_names_both_files(store):
    store.save(pd.DataFrame({"x": [1.5]}), "a/1.pkl")
    store.save(pd.DataFrame({"x": ["text"]}), "a/2.pkl")
    with pytest.raises(StorageError, match=r"column 'x' is double in .*a/1\.pkl but string in .*a/2\.pkl"):
        read_pickle_table(store, "a/*.pkl")


def test_compatible_types_are_promoted(store):
    store.save(pd.DataFrame({"x": [1, 2]}), "a/1.pkl")
    store.save(pd.DataFrame({"x": [0.5]}), "a/2.pkl")
    store.save(pd.DataFrame({"x": [None], "y": ["only here"]}), "a/3.pkl")
    table = read_pickle_table(store, "a/*.pkl")
    assert table.schema.field("x").type == pa.float64()
    assert table.column("x").to_pylist() == [1.0, 2.0, 0.5, None]
    assert table.column("y").to_pylist() == [None, None, None, "only here"]


@pytest.mark.parametrize(("frame", "columns"), [
    (pd.DataFrame({"a": [1, 2]}), ["a"]),                                             # RangeIndex dropped
    (pd.DataFrame({"a": [1, 2]}, index=pd.RangeIndex(2, name="row")), ["row", "a"]),  # named: kept
    (pd.DataFrame({"a": [1, 2]}, index=pd.date_range("2024-01-01", periods=2, name="ts")), ["ts", "a"]),
    (pd.DataFrame({"a": [1, 2]}, index=pd.date_range("2024-01-01", periods=2)), ["index", "a"]),
    (pd.DataFrame({"a": [1, 2]}, index=[5, 7]), ["index", "a"]),
    (pd.DataFrame({"a": [1, 2], "index": [0, 0]}, index=["x", "y"]), ["level_0", "a", "index"]),
    (pd.DataFrame({"a": [1, 2]}, index=pd.MultiIndex.from_tuples([("x", 1), ("y", 2)], names=["s", None])),
     ["s", "level_1", "a"]),
    (pd.Series([1.0, 2.0], name="Close"), ["Close"]),
    (pd.Series([1.0, 2.0]), ["value"]),
    (pd.DataFrame({"timestamp": [1], "file": [2], "file_1": [3]}), ["timestamp_1", "file_2", "file_1"]),
])
def test_index_and_series_rules(frame, columns):
    assert frame_to_arrow(frame, "f.pkl").column_names == columns


def test_strings_are_plain_string_and_categoricals_decoded():
    frame = pd.DataFrame({
        "obj": ["a", None],
        "str": pd.array(["a", None], dtype="string"),
        "pyarrow": pd.array(["a", None], dtype="string[pyarrow]"),
        "cat": pd.Categorical(["x", "y"]),
    })
    table = frame_to_arrow(frame, "f.pkl")
    assert [field.type for field in table.schema] == [pa.string()] * 4
    assert table.column("cat").to_pylist() == ["x", "y"]
    assert table.schema.metadata is None


def test_nan_is_null_as_pandas_means_it_and_other_floats_stay_as_they_are():
    frame = pd.DataFrame({
        "with_nan": [1.5, np.nan, np.inf],
        "f32": np.array([np.nan, 2.0, -np.inf], dtype=np.float32),
        "plain": [0.0, -0.0, 3.25],
        "nullable": pd.array([1.0, None, 3.0], dtype="Float64"),
    })
    table = frame_to_arrow(frame, "f.pkl")
    assert table.column("with_nan").to_pylist() == [1.5, None, float("inf")]
    assert table.column("f32").to_pylist() == [None, 2.0, float("-inf")]
    assert table.schema.field("f32").type == pa.float32()
    plain = table.column("plain")
    assert plain.null_count == 0 and plain.to_pylist() == [0.0, -0.0, 3.25]
    assert str(plain.to_pylist()[1]) == "-0.0"
    assert table.column("nullable").to_pylist() == [1.0, None, 3.0]
    # the same as pyarrow's own pandas conversion, column by column
    assert table.equals(pa.Table.from_pandas(frame, preserve_index=False))


def test_periods_become_their_start_timestamps():
    frame = pd.DataFrame({"p": pd.period_range("2024-01", periods=2, freq="M")},
                         index=pd.period_range("2024-01-01", periods=2, freq="D", name="day"))
    table = frame_to_arrow(frame, "f.pkl")
    assert table.schema.field("p").type == pa.timestamp("ns")
    assert table.column("p").to_pylist() == [datetime(2024, 1, 1), datetime(2024, 2, 1)]
    assert table.column("day").to_pylist() == [datetime(2024, 1, 1), datetime(2024, 1, 2)]


def test_tz_aware_index_keeps_its_zone():
    frame = pd.DataFrame({"a": [1]}, index=pd.DatetimeIndex(["2024-01-01 09:15"], tz="Asia/Kolkata", name="ts"))
    assert frame_to_arrow(frame, "f.pkl").schema.field("ts").type == pa.timestamp("ns", tz="Asia/Kolkata")


def test_duplicate_or_unconvertible_columns_name_the_file():
    with pytest.raises(StorageError, match=r"dup\.pkl: duplicate column names \['a'\]"):
        frame_to_arrow(pd.DataFrame([[1, 2]], columns=["a", "a"]), "dup.pkl")
    with pytest.raises(StorageError, match=r"mixed\.pkl: cannot convert column 'm' to Arrow"):
        frame_to_arrow(pd.DataFrame({"m": [1, "x", 2.5]}), "mixed.pkl")


def test_pickle_catalog(store):
    paths = seed_store(store)
    store.save({"not": "a frame"}, "misc/notes.pkl")
    catalog = pickle_catalog(store, "**/*.pkl").to_pylist()
    assert [row["file"] for row in catalog] == sorted([*paths, "misc/notes.pkl"])
    by_file = {row["file"]: row for row in catalog}
    bullish = by_file["index/nifty/gbm/20230901_123045_bullish.pkl"]
    entry = store.stat(bullish["file"])
    assert bullish["size"] == entry.size and bullish["generation"] == entry.generation
    assert bullish["updated"] == entry.updated
    assert (bullish["data_type"], bullish["market_type"], bullish["model_type"], bullish["params"]) == \
        ("index", "nifty", "gbm", "bullish")
    assert bullish["timestamp"] == datetime(2023, 9, 1, 12, 30, 45)
    assert bullish["version"] == "1.0" and json.loads(bullish["model_params"]) == {"mu": 0.1}
    assert datetime.fromisoformat(bullish["created_at"]) <= datetime.now()
    assert bullish["rows"] == 30
    notes = by_file["misc/notes.pkl"]
    assert notes["data_type"] is None and notes["version"] is None and notes["rows"] is None
    assert bullish["error"] is None  # the dict is refused, as read_pickle refuses it
    assert notes["error"] == f"{store.location('misc/notes.pkl')} holds a builtins.dict, not a pandas DataFrame or Series"


def test_pickle_catalog_lists_a_file_that_does_not_load_with_the_reason(local_store):
    import os
    import pickle

    seed_store(local_store)
    folder = local_store.location("index/nifty/gbm")
    with open(os.path.join(folder, "20230904_000000_evil.pkl"), "wb") as handle:
        handle.write(pickle.dumps(os.system))
    whole = pickle.dumps(pd.DataFrame({"Close": [1.0, 2.0]}))
    with open(os.path.join(folder, "20230905_000000_cut.pkl"), "wb") as handle:
        handle.write(whole[: len(whole) // 2])  # a copy cut short by something other than arcticsql
    rows = {row["file"]: row for row in pickle_catalog(local_store, "index/**/*.pkl").to_pylist()}
    evil, cut = rows["index/nifty/gbm/20230904_000000_evil.pkl"], rows["index/nifty/gbm/20230905_000000_cut.pkl"]
    assert "refused to unpickle global posix.system" in evil["error"]
    assert cut["error"].startswith(os.path.join(folder, "20230905_000000_cut.pkl"))
    assert cut["rows"] is None and cut["version"] is None and cut["params"] == "cut"
    assert rows["index/nifty/gbm/20230901_123045_bullish.pkl"]["error"] is None


@pytest.mark.parametrize("value", ["index/nifty/gbm/20240101_000000_path0001.pkl", "", "é€ ünïcode", None])
@pytest.mark.parametrize("rows", [0, 1, 3, 10_000])
def test_constant_string_column_equals_repeat(value, rows):
    array = constant_array(value, pa.string(), rows)
    array.validate(full=True)
    assert array.equals(pa.repeat(pa.scalar(value, pa.string()), rows))
