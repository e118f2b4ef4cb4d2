"""The seed 003 interface on both backends: save, load, exists, list_files, plus stat, list_recursive,
load_many, the factory, and errors that name the path."""

from __future__ import annotations

import os
import threading

import pandas as pd
import pytest

from arcticsql.config import load_settings
from arcticsql.pickles import (
    GoogleCloudStorage,
    LocalStorage,
    StorageError,
    StorageFactory,
    storage_for_location,
    storage_from_settings,
)
from tests.pickles.samples import ohlc_frame, option_chain_frame

LAYOUT = [
    "index/nifty/gbm/20230901_123045_bullish_high_vol.pkl",
    "index/nifty/gbm/20230902_090000_bearish.pkl",
    "index/nifty/heston/20230901_123045_calm.pkl",
    "index/banknifty/gbm/20230905_100000.pkl",
    "option_chain/nifty/black_scholes/20230901_123045_weekly_expiry.pkl",
    "notes.pkl",
]


def fill(store, paths=LAYOUT):
    for position, path in enumerate(paths):
        store.save({"path": path, "n": position}, path)


def test_save_load_roundtrip_keeps_frame_and_attrs(store):
    frame = ohlc_frame(seed=3)
    frame.attrs["version"] = "1.0"
    location = store.save(frame, "index/nifty/gbm/20230901_123045_x.pkl")
    assert location == store.location("index/nifty/gbm/20230901_123045_x.pkl")
    back = store.load("index/nifty/gbm/20230901_123045_x.pkl")
    pd.testing.assert_frame_equal(back, frame)
    assert back.attrs == {"version": "1.0"}


def test_save_replaces_existing_file(store):
    store.save(option_chain_frame(seed=1), "a/b.pkl")
    store.save(option_chain_frame(seed=2), "a/b.pkl")
    pd.testing.assert_frame_equal(store.load("a/b.pkl"), option_chain_frame(seed=2))


def test_exists(store):
    assert not store.exists("x/y.pkl")
    store.save([1, 2], "x/y.pkl")
    assert store.exists("x/y.pkl")
    assert not store.exists("x/y")
    assert not store.exists("x/y.pk")


def test_load_missing_file_names_the_path(store):
    with pytest.raises(StorageError, match="index/nifty/gbm/missing.pkl"):
        store.load("index/nifty/gbm/missing.pkl")
    with pytest.raises(StorageError, match="nope/missing.pkl"):
        store.stat("nope/missing.pkl")


def test_load_garbage_names_the_path(store):
    store.save(b"", "ok.pkl")
    if isinstance(store, LocalStorage):
        with open(os.path.join(store.base_path, "bad.pkl"), "wb") as f:
            f.write(b"not a pickle at all")
    else:
        store.bucket.blob("bad.pkl").upload_from_string(b"not a pickle at all")
    with pytest.raises(StorageError, match=r"bad\.pkl.*cannot unpickle"):
        store.load("bad.pkl")


def test_list_files_matches_with_re_match(store):
    fill(store)
    assert store.list_files("index/nifty/gbm") == [
        "20230901_123045_bullish_high_vol.pkl", "20230902_090000_bearish.pkl"]
    assert store.list_files("index/nifty/gbm/") == store.list_files("index/nifty/gbm")
    # re.match anchors at the start only, as in the seed's example
    assert store.list_files("index/nifty/gbm/", pattern=r".*bullish\.pkl$") == []
    assert store.list_files("index/nifty/gbm/", pattern=r".*bullish") == ["20230901_123045_bullish_high_vol.pkl"]
    assert store.list_files("index/nifty/gbm/", pattern=r"bearish") == []
    assert store.list_files("index/nifty/gbm/", pattern=r"2023090\d_09") == ["20230902_090000_bearish.pkl"]
    # only files directly inside: folders are not files
    assert store.list_files() == ["notes.pkl"]
    assert store.list_files("index") == []
    assert store.list_files("does/not/exist") == []


def test_list_files_rejects_a_bad_pattern(store):
    fill(store)
    with pytest.raises(StorageError, match="invalid pattern"):
        store.list_files("index/nifty/gbm", pattern="(")


@pytest.mark.parametrize(("pattern", "expected"), [
    ("index/nifty/gbm/*.pkl", [0, 1]),
    ("index/**/*.pkl", [3, 0, 1, 2]),
    ("index/nifty/*/*.pkl", [0, 1, 2]),
    ("**/*.pkl", [3, 0, 1, 2, 5, 4]),
    ("*.pkl", [5]),
    ("**/2023090[12]_*.pkl", [0, 1, 2, 4]),
    ("index/nifty/gbm/20230901_123045_bullish_high_vol.pkl", [0]),
    ("index/*/gbm/*_bear*.pkl", [1]),
    ("index/nifty/gbm/?????????????????_bearish.pkl", []),
    ("index/nifty/gbm/???????????????_bearish.pkl", [1]),
    ("option_chain/**", [4]),
    ("nothing/**/*.pkl", []),
])
def test_list_recursive_globs(store, pattern, expected):
    fill(store)
    entries = store.list_recursive(pattern)
    assert [entry.path for entry in entries] == sorted(LAYOUT[i] for i in expected)
    for entry in entries:
        assert entry.size > 0
        assert entry.updated.tzinfo is not None
        assert entry.generation == store.stat(entry.path).generation


def test_stat_generation_changes_when_the_file_changes(store):
    store.save([1], "a.pkl")
    first = store.stat("a.pkl")
    store.save([1, 2, 3], "a.pkl")
    second = store.stat("a.pkl")
    assert second.generation != first.generation
    assert second.size > first.size


def test_saves_within_one_clock_tick_have_different_generations(store):
    """Caches key files by generation: back-to-back saves of the same size must never share one."""
    generations = []
    for value in range(20):
        store.save([value], "same-size.pkl")
        generations.append(store.stat("same-size.pkl").generation)
    assert len(set(generations)) == len(generations)
    assert store.load("same-size.pkl") == [19]


def test_load_many_preserves_order(store):
    paths = [f"series/{i:03d}.pkl" for i in range(24)]
    for i, path in enumerate(paths):
        store.save(pd.Series([i] * (1 + (i * 7919) % 300), name="v"), path)
    shuffled = paths[::-1][::2] + paths[::2]
    loaded = store.load_many(shuffled, max_workers=4)
    assert [int(series.iloc[0]) for series in loaded] == [int(p[7:10]) for p in shuffled]
    # entries from a listing load the same
    entries = store.list_recursive("series/*.pkl")
    assert [int(s.iloc[0]) for s in store.load_many(entries, max_workers=3)] == list(range(24))


def test_load_many_raises_the_first_failure_in_order(store):
    store.save([0], "ok0.pkl")
    store.save([2], "ok2.pkl")
    with pytest.raises(StorageError, match="missing1.pkl"):
        store.load_many(["ok0.pkl", "missing1.pkl", "ok2.pkl", "missing3.pkl"], max_workers=4)


def test_load_many_really_runs_in_parallel(local_store):
    """Four loads that each wait on a barrier for the others can only finish if they run at once."""
    barrier = threading.Barrier(4, timeout=5)

    class Gate(LocalStorage):
        def load(self, filepath, *, allow_unsafe=None):
            barrier.wait()
            return super().load(filepath, allow_unsafe=allow_unsafe)

    gate = Gate(local_store.base_path)
    for i in range(4):
        gate.save([i], f"{i}.pkl")
    assert gate.load_many([f"{i}.pkl" for i in range(4)], max_workers=4) == [[0], [1], [2], [3]]


def test_local_paths_cannot_escape_the_base(local_store):
    with pytest.raises(StorageError, match="outside the storage folder"):
        local_store.save([1], "../escape.pkl")
    with pytest.raises(StorageError, match="outside the storage folder"):
        local_store.load("/etc/passwd")


def test_local_defaults_to_env_then_data(monkeypatch, tmp_path):
    monkeypatch.setenv("LOCAL_STORAGE_PATH", str(tmp_path / "env"))
    assert LocalStorage().base_path == str(tmp_path / "env")
    monkeypatch.delenv("LOCAL_STORAGE_PATH")
    monkeypatch.chdir(tmp_path)
    assert LocalStorage().base_path == str(tmp_path / "data")
    assert not (tmp_path / "data").exists()  # created by the first save, not by reading


def test_gcs_requires_a_bucket(monkeypatch, gcs_client):
    monkeypatch.delenv("GCS_BUCKET_NAME", raising=False)
    with pytest.raises(ValueError, match="bucket name must be provided"):
        GoogleCloudStorage(client=gcs_client)
    monkeypatch.setenv("GCS_BUCKET_NAME", "from-env")
    assert GoogleCloudStorage(client=gcs_client).bucket_name == "from-env"


def test_gcs_default_client_uses_the_emulator(bucket_name, gcs_emulator):
    # storage.Client() honours STORAGE_EMULATOR_HOST, set by the emulator fixture
    assert os.environ["STORAGE_EMULATOR_HOST"] == gcs_emulator.url
    store = GoogleCloudStorage(bucket_name)
    store.save(option_chain_frame(), "o.pkl")
    pd.testing.assert_frame_equal(store.load("o.pkl"), option_chain_frame())


def test_gcs_missing_bucket_names_the_location(gcs_client):
    store = GoogleCloudStorage("no-such-bucket-here", client=gcs_client)
    with pytest.raises(StorageError, match="gs://no-such-bucket-here/a.pkl"):
        store.save([1], "a.pkl")


def test_factory_and_settings(tmp_path, gcs_client, bucket_name):
    local = StorageFactory.get_storage("LOCAL", base_path=tmp_path)
    assert isinstance(local, LocalStorage) and local.base_path == str(tmp_path)
    gcs = StorageFactory.get_storage("gcs", bucket_name=bucket_name, client=gcs_client)
    assert isinstance(gcs, GoogleCloudStorage) and gcs.cache is None
    with pytest.raises(ValueError, match="Unsupported storage type: s3"):
        StorageFactory.get_storage("s3")

    settings = load_settings({"storage": {"type": "local", "allow_unsafe_pickle": True,
                                          "local": {"base_path": str(tmp_path / "p")}}})
    configured = storage_from_settings(settings)
    assert isinstance(configured, LocalStorage) and configured.allow_unsafe
    assert configured.base_path == str(tmp_path / "p")

    settings = load_settings({"storage": {"type": "gcs", "gcs": {"bucket_name": bucket_name,
                                                                  "cache_dir": str(tmp_path / "c")}}})
    configured = storage_from_settings(settings, client=gcs_client)
    assert isinstance(configured, GoogleCloudStorage) and not configured.allow_unsafe
    assert configured.bucket_name == bucket_name and str(configured.cache.root) == str(tmp_path / "c")


def test_storage_for_location(tmp_path, monkeypatch, gcs_client):
    settings = load_settings({"storage": {"type": "local", "local": {"base_path": str(tmp_path / "conf")},
                                          "gcs": {"cache_dir": str(tmp_path / "cache")}}})
    store, glob = storage_for_location("gs://bkt/index/**/*.pkl", settings, client=gcs_client)
    assert isinstance(store, GoogleCloudStorage) and store.bucket_name == "bkt"
    assert glob == "index/**/*.pkl" and str(store.cache.root) == str(tmp_path / "cache")
    for bucketless in ("gs://", "gs:///index/*.pkl"):
        with pytest.raises(StorageError, match=r"names no bucket: write gs://<bucket>/<glob>"):
            storage_for_location(bucketless, settings)

    deep = tmp_path / "data"
    store, glob = storage_for_location(f"{deep}/index/nifty/gbm/*.pkl", settings)
    assert isinstance(store, LocalStorage) and store.base_path == str(deep)
    assert glob == "index/nifty/gbm/*.pkl"  # the naming folders stay in the relative paths

    store, glob = storage_for_location("/abs/dir/*.pkl", settings)
    assert (store.base_path, glob) == ("/", "abs/dir/*.pkl")

    monkeypatch.chdir(tmp_path)
    store, glob = storage_for_location("./dir/*.pkl", settings)
    assert (store.base_path, glob) == (str(tmp_path), "dir/*.pkl")

    store, glob = storage_for_location("index/nifty/*.pkl", settings)
    assert (store.base_path, glob) == (str(tmp_path / "conf"), "index/nifty/*.pkl")


def test_storage_for_location_reads_a_local_tree(tmp_path):
    root = LocalStorage(tmp_path / "tree")
    root.save(ohlc_frame(rows=3), "index/nifty/gbm/20230901_123045_a.pkl")
    store, glob = storage_for_location(f"{tmp_path}/tree/index/nifty/gbm/*.pkl", load_settings({}))
    assert [e.path for e in store.list_recursive(glob)] == ["index/nifty/gbm/20230901_123045_a.pkl"]


def test_default_workers_per_backend(local_store, gcs_store):
    # unpickling holds the GIL: local loads default to one thread; GCS loads wait on the network
    assert local_store.workers(None) == 1 and gcs_store.workers(None) == 8
    assert local_store.workers(3) == 3 and gcs_store.workers(0) == 1
