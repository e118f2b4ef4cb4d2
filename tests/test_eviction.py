"""The one eviction policy the caches share: in memory (the scan cache), over a folder (the scan cache's disk
folder, the pickle download cache)."""

from __future__ import annotations

import os
import time

from hypothesis import given
from hypothesis import strategies as st

from arcticsql.eviction import LRU, STALE_TEMP_S, touch, trim_folder
from arcticsql.pickles.backends.cache import DownloadCache


@given(st.lists(st.tuples(st.sampled_from("abcdefgh"), st.integers(0, 60), st.booleans()), max_size=60))
def test_lru_never_exceeds_its_bound_and_evicts_the_least_recently_used(steps):
    lru = LRU(100)
    order: list[str] = []  # a model: keys by last use
    sizes: dict[str, int] = {}
    for key, size, use in steps:
        if use and key in sizes:
            lru.touch(key)
            order.remove(key)
            order.append(key)
            continue
        evicted = lru.add(key, size)
        if key in sizes:
            order.remove(key)
            del sizes[key]
        expected = []
        if size > 100:
            expected = [key]
        else:
            while sum(sizes.values()) + size > 100:
                oldest = order.pop(0)
                expected.append(oldest)
                del sizes[oldest]
            order.append(key)
            sizes[key] = size
        assert evicted == expected
        assert lru.used == sum(sizes.values()) <= 100
        assert [k for k, _ in lru.items()] == order


def test_trim_folder_deletes_the_least_recently_used_files(tmp_path):
    now = time.time()
    for age, name in enumerate(["newest", "middle", "oldest"]):
        path = tmp_path / "sub" / name
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(b"x" * 40)
        os.utime(path, (now - 100 * age, now - 100 * age))
    stale, live = tmp_path / ".1-1.tmp", tmp_path / ".1-2.tmp"
    stale.write_bytes(b"x" * 10)
    live.write_bytes(b"x" * 10)
    os.utime(stale, (now - STALE_TEMP_S - 1, now - STALE_TEMP_S - 1))
    touch(tmp_path / "sub" / "oldest")  # used just now: the middle one is the least recently used
    assert trim_folder(tmp_path, 85) == 50
    assert sorted(p.name for p in (tmp_path / "sub").iterdir()) == ["newest", "oldest"]
    assert not stale.exists() and live.exists()  # a writer's temporary file is its own until it is stale


def test_the_pickle_download_cache_is_bounded_by_the_same_policy(tmp_path):
    cache = DownloadCache(tmp_path, limit_bytes=1000)
    for i in range(30):
        cache.store("bucket", f"f{i}.pkl", 1, b"x" * 100)
        with cache.open("bucket", "f0.pkl", 1) as used:  # kept while it is used
            assert used is not None
    files = [p for p in tmp_path.rglob("*.pkl")]
    assert sum(p.stat().st_size for p in files) <= 1000
    with cache.open("bucket", "f0.pkl", 1) as kept:  # the one used all along is still there
        assert kept.read() == b"x" * 100
    unbounded = DownloadCache(tmp_path / "other")
    for i in range(30):
        unbounded.store("bucket", f"f{i}.pkl", 1, b"x" * 100)
    assert len(list((tmp_path / "other").rglob("*.pkl"))) == 30
