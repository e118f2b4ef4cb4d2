"""The GCS download cache: an unchanged object is downloaded once; a rewritten one is fetched again."""

from __future__ import annotations

import pandas as pd

from arcticsql.pickles import GoogleCloudStorage, read_pickle_table
from tests.pickles.samples import ohlc_frame


def test_unchanged_object_is_downloaded_once(gcs_store):
    gcs_store.save(ohlc_frame(seed=1), "a.pkl")
    first = gcs_store.load("a.pkl")
    second = gcs_store.load("a.pkl")
    pd.testing.assert_frame_equal(first, second)
    assert gcs_store.downloads == 1


def test_cache_is_shared_across_instances(gcs_store, gcs_client):
    gcs_store.save(ohlc_frame(seed=1), "a.pkl")
    gcs_store.load("a.pkl")
    again = GoogleCloudStorage(gcs_store.bucket_name, client=gcs_client, cache_dir=gcs_store.cache.root)
    pd.testing.assert_frame_equal(again.load("a.pkl"), ohlc_frame(seed=1))
    assert again.downloads == 0


def test_new_generation_is_downloaded_again(gcs_store, gcs_client):
    gcs_store.save(ohlc_frame(seed=1), "a.pkl")
    gcs_store.load("a.pkl")
    old = gcs_store.stat("a.pkl").generation
    copy = gcs_store.cache.path(gcs_store.bucket_name, "a.pkl")
    assert copy.exists()

    # another writer replaces the object
    GoogleCloudStorage(gcs_store.bucket_name, client=gcs_client).save(ohlc_frame(seed=2), "a.pkl")
    pd.testing.assert_frame_equal(gcs_store.load("a.pkl"), ohlc_frame(seed=2))
    assert gcs_store.downloads == 2
    new = gcs_store.stat("a.pkl").generation
    assert new != old
    assert gcs_store.cache.open(gcs_store.bucket_name, "a.pkl", old) is None  # superseded, not kept
    with gcs_store.cache.open(gcs_store.bucket_name, "a.pkl", new) as cached:
        pd.testing.assert_frame_equal(pd.read_pickle(cached), ohlc_frame(seed=2))
    assert sorted(p.name for p in copy.parent.iterdir()) == [copy.name]  # one file per object, no temp

    gcs_store.load("a.pkl")
    assert gcs_store.downloads == 2


def test_corrupt_or_foreign_cache_file_is_a_miss(gcs_store):
    gcs_store.save([1, 2, 3], "a.pkl")
    gcs_store.load("a.pkl")
    gcs_store.cache.path(gcs_store.bucket_name, "a.pkl").write_bytes(b"garbage")
    assert gcs_store.load("a.pkl") == [1, 2, 3]
    assert gcs_store.downloads == 2


def test_stale_listing_entry_loads_the_current_object(gcs_store, gcs_client):
    """An entry listed before the object was rewritten pins a generation that is gone; the load retries
    with the current generation instead of failing."""
    gcs_store.save(ohlc_frame(seed=1), "a.pkl")
    (entry,) = gcs_store.list_recursive("*.pkl")
    GoogleCloudStorage(gcs_store.bucket_name, client=gcs_client).save(ohlc_frame(seed=2), "a.pkl")
    pd.testing.assert_frame_equal(gcs_store.load(entry), ohlc_frame(seed=2))


def test_without_cache_every_load_downloads(gcs_client, bucket_name):
    store = GoogleCloudStorage(bucket_name, client=gcs_client)
    store.save([1, 2], "a.pkl")
    assert store.load("a.pkl") == [1, 2]
    assert store.load("a.pkl") == [1, 2]
    assert store.downloads == 2


def test_read_pickle_table_twice_downloads_once(gcs_store):
    for i in range(6):
        gcs_store.save(ohlc_frame(rows=10, seed=i), f"index/nifty/gbm/2023090{i}_000000.pkl")
    first = read_pickle_table(gcs_store, "index/**/*.pkl", max_workers=3)
    assert gcs_store.downloads == 6
    second = read_pickle_table(gcs_store, "index/**/*.pkl", max_workers=3)
    assert gcs_store.downloads == 6
    assert first.equals(second)
    assert first.num_rows == 60


def test_a_cache_folder_removed_meanwhile_is_made_again(tmp_path):
    import shutil

    from arcticsql.pickles.backends.cache import DownloadCache

    cache = DownloadCache(tmp_path / "c")
    cache.store("b", "a.pkl", 1, b"x")
    shutil.rmtree(tmp_path / "c")
    cache.store("b", "a.pkl", 2, b"y")
    with cache.open("b", "a.pkl", 2) as written:
        assert written.read() == b"y"
